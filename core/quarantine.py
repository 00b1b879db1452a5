"""The quarantine document: what the payload-ETL writes about the records it refuses, and what alerting reads.

One JSON Lines object per source object version (`core.layout.quarantine_object_key`), every line carrying its
source (bucket, key, ETag) and record kind:
- first, the summary (`QuarantineTotals`, `"summary": true`): exact counts of every refused record, listed or not
  (`quarantined` = `listed` + `omitted`), of those refused for a non-finite feature (`non_finite_records`, and per
  feature `non_finite_by_feature`), and of every reason (`reason_counts`, at most the ETL's cap of distinct reasons;
  the rest in `other_reasons`). A reader of the object's first bytes has them all;
- then one line per refused record listed in full (`QuarantineEntry`), the first ones, up to the ETL's caps.

Objects written by older code have a summary only when the caps left records out, and without the non-finite
counts: it reads as a `QuarantineTotals` whose `non_finite_records` is None.

Pure and standard-library only (both zip Lambdas ship this module). Reading never trusts a line: `parse_line` raises
`QuarantineFormatError`, `read_lines` skips what does not parse (a line cut by a byte range, say).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from core.record_limits import NOT_FINITE
from core.records import RecordKind

_T = TypeVar("_T")

#: Distinct feature names a summary counts one by one (the rest are counted together).
MAX_NON_FINITE_FEATURES = 1000

# `core.record_limits.scalar_problems`: "feature <preview> is not finite (nan)" or "...: an integer of N bits ...",
# where a preview is the name quoted, cut at `PREVIEW_CHARS` and then followed by "…(<length> characters)".
_NON_FINITE = re.compile(
    rf"feature '(?P<name>.*)'(?P<cut>…\(\d+ characters\))? {re.escape(NOT_FINITE)}(?: \(|: )", re.DOTALL
)


# Characters JSON leaves unescaped that `str.splitlines` (and some JSON Lines readers) take for line breaks.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class Field(StrEnum):
    """The names of a quarantine line's members."""

    SOURCE_BUCKET = "source_bucket"
    SOURCE_KEY = "source_key"
    SOURCE_ETAG = "source_etag"
    RECORD_KIND = "record_kind"
    LINE = "line"
    REASONS = "reasons"
    RAW = "raw"
    RAW_CHARS = "raw_chars"
    RAW_TRUNCATED = "raw_truncated"
    SUMMARY = "summary"
    QUARANTINED = "quarantined"
    LISTED = "listed"
    OMITTED = "omitted"
    NON_FINITE_RECORDS = "non_finite_records"
    NON_FINITE_BY_FEATURE = "non_finite_by_feature"
    OTHER_NON_FINITE_FEATURES = "other_non_finite_features"
    REASON_COUNTS = "reason_counts"
    OTHER_REASONS = "other_reasons"


class QuarantineFormatError(ValueError):
    """A line that is not a quarantine line (not JSON, a member missing or of the wrong type)."""


def non_finite_features(reasons: Iterable[str]) -> frozenset[str]:
    """The features a record was refused for because their value was not finite, as its reasons name them (a name
    cut in the reason ends with "…")."""
    names = set()
    for reason in reasons:
        if NOT_FINITE in reason and (match := _NON_FINITE.match(reason)):
            names.add(match["name"] + ("…" if match["cut"] else ""))
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class QuarantineSource:
    """The source object version a quarantine line is about, and what it holds (None: its kind is unknown)."""

    bucket: str
    key: str
    etag: str
    record_kind: RecordKind | None

    def to_json(self) -> dict[str, Any]:
        """The source's members of a quarantine line."""
        return {
            Field.SOURCE_BUCKET: self.bucket,
            Field.SOURCE_KEY: self.key,
            Field.SOURCE_ETAG: self.etag,
            Field.RECORD_KIND: None if self.record_kind is None else self.record_kind.value,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> QuarantineSource:
        """The source named by a quarantine line's members; `QuarantineFormatError` if they are not one."""
        kind = document.get(Field.RECORD_KIND)
        if kind is not None and kind not in tuple(RecordKind):
            raise QuarantineFormatError(f"unknown {Field.RECORD_KIND} {kind!r}")
        return cls(
            _member(document, Field.SOURCE_BUCKET, str),
            _member(document, Field.SOURCE_KEY, str),
            _member(document, Field.SOURCE_ETAG, str),
            None if kind is None else RecordKind(kind),
        )


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One refused record listed in full: its 1-based line (None: the whole object), every reason, and its text
    (at most the ETL's cap of characters; `raw_chars` counts them all)."""

    source: QuarantineSource
    line: int | None
    reasons: tuple[str, ...]
    raw: str = ""
    raw_chars: int = 0

    @property
    def raw_truncated(self) -> bool:
        """Whether `raw` is only the start of the record."""
        return self.raw_chars > len(self.raw)

    def to_json(self) -> str:
        """The entry as one JSON line (without its newline)."""
        return _dumps(
            self.source.to_json()
            | {
                Field.LINE: self.line,
                Field.REASONS: list(self.reasons),
                Field.RAW: self.raw,
                Field.RAW_CHARS: self.raw_chars,
                Field.RAW_TRUNCATED: self.raw_truncated,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> QuarantineEntry:
        """The entry a JSON line holds; `QuarantineFormatError` if it holds none."""
        line = parse_line(text)
        if not isinstance(line, QuarantineEntry):
            raise QuarantineFormatError("a quarantine summary, not an entry")
        return line

    @classmethod
    def _from_document(cls, document: Mapping[str, Any]) -> QuarantineEntry:
        reasons = _member(document, Field.REASONS, list)
        if not all(isinstance(reason, str) for reason in reasons):
            raise QuarantineFormatError(f"{Field.REASONS} must be strings")
        return cls(
            QuarantineSource.from_json(document),
            _optional_count(document, Field.LINE),
            tuple(reasons),
            _member(document, Field.RAW, str),
            _count(document, Field.RAW_CHARS),
        )


@dataclass(frozen=True, slots=True)
class QuarantineTotals:
    """A quarantine object's summary line: every refused record counted, listed or not.

    `non_finite_records` counts the records refused for at least one non-finite feature, `non_finite_by_feature`
    them per feature (a record with two such features counts under both; at most `MAX_NON_FINITE_FEATURES` names,
    the rest summed in `other_non_finite_features`). They are None and empty in a summary written by older code.
    """

    source: QuarantineSource
    quarantined: int
    listed: int
    omitted: int
    reason_counts: Mapping[str, int] = field(default_factory=dict)
    other_reasons: int = 0
    non_finite_records: int | None = None
    non_finite_by_feature: Mapping[str, int] = field(default_factory=dict)
    other_non_finite_features: int = 0

    def to_json(self) -> str:
        """The summary as one JSON line (without its newline)."""
        return _dumps(
            self.source.to_json()
            | {
                Field.LINE: None,
                Field.SUMMARY: True,
                Field.QUARANTINED: self.quarantined,
                Field.LISTED: self.listed,
                Field.OMITTED: self.omitted,
                Field.NON_FINITE_RECORDS: self.non_finite_records,
                Field.NON_FINITE_BY_FEATURE: dict(self.non_finite_by_feature),
                Field.OTHER_NON_FINITE_FEATURES: self.other_non_finite_features,
                Field.REASON_COUNTS: dict(self.reason_counts),
                Field.OTHER_REASONS: self.other_reasons,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> QuarantineTotals:
        """The summary a JSON line holds; `QuarantineFormatError` if it holds none."""
        line = parse_line(text)
        if not isinstance(line, QuarantineTotals):
            raise QuarantineFormatError("a quarantine entry, not a summary")
        return line

    @classmethod
    def _from_document(cls, document: Mapping[str, Any]) -> QuarantineTotals:
        return cls(
            QuarantineSource.from_json(document),
            _count(document, Field.QUARANTINED),
            _count(document, Field.LISTED),
            _count(document, Field.OMITTED),
            _counts(document, Field.REASON_COUNTS),
            _count(document, Field.OTHER_REASONS, default=0),
            _optional_count(document, Field.NON_FINITE_RECORDS),
            _counts(document, Field.NON_FINITE_BY_FEATURE, default={}),
            _count(document, Field.OTHER_NON_FINITE_FEATURES, default=0),
        )


#: A line of a quarantine object.
QuarantineLine = QuarantineEntry | QuarantineTotals


def parse_line(text: str | bytes) -> QuarantineLine:
    """The summary or entry a JSON line holds; `QuarantineFormatError` if it holds neither."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise QuarantineFormatError(f"not a JSON line: {error}") from error
    if not isinstance(document, dict):
        raise QuarantineFormatError("not a JSON object")
    if document.get(Field.SUMMARY) is True:
        return QuarantineTotals._from_document(document)
    return QuarantineEntry._from_document(document)


def read_lines(body: bytes) -> Iterator[QuarantineLine]:
    """The lines of a quarantine object (or of its first bytes) that parse; the others, such as a line cut by a
    byte range, are skipped."""
    for text in body.splitlines():
        try:
            yield parse_line(text)
        except QuarantineFormatError:
            continue


def _dumps(document: Mapping[str, Any]) -> str:
    """One JSON line: UTF-8 text as is, but no character any reader could take for a line break."""
    return json.dumps(document, ensure_ascii=False).translate(_LINE_BREAKS)


def _member(document: Mapping[str, Any], name: Field, kind: type[_T]) -> _T:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise QuarantineFormatError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _count(document: Mapping[str, Any], name: Field, *, default: int | None = None) -> int:
    if default is not None and name not in document:
        return default
    value = _member(document, name, int)
    if value < 0:
        raise QuarantineFormatError(f"{name} must not be negative, got {value}")
    return value


def _optional_count(document: Mapping[str, Any], name: Field) -> int | None:
    return None if document.get(name) is None else _count(document, name)


def _counts(document: Mapping[str, Any], name: Field, *, default: dict[str, int] | None = None) -> dict[str, int]:
    if default is not None and name not in document:
        return default
    counts = _member(document, name, dict)
    if not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in counts.values()):
        raise QuarantineFormatError(f"{name} must map reasons to counts")
    return counts
