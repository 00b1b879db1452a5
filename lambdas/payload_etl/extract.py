"""Object bytes -> lake rows, alerting aggregates and quarantined lines, streamed. Pure: no AWS, no environment, no
clock.

An object is JSON Lines, optionally gzip-compressed (detected by the magic bytes `1f 8b`, whatever the key's
suffix: Firehose writes GZIP objects). Every non-blank line is one record; its kind (payload or label) comes from
the key's prefix and its model must match the key's `model=<m>` partition and its time must lie within
`PARTITION_TOLERANCE` of the key's `dt=<day>` partition, if it names one (Firehose's `dt=` is its arrival day). A line
that is not UTF-8, not JSON, too long (`MAX_RECORD_CHARS`), nested too deep (`MAX_NESTING`) or violates the contract
(`core.records`, whose limits are `core.record_limits`, the same the serving Lambda checks) is quarantined with every
reason found and its 1-based line number; the object's other records still load. Nothing is dropped silently: blank
lines are the only thing skipped, and they are counted.

Memory and work per object are bounded (`lambdas.payload_etl.limits.EtlLimits`, from the function's memory):
- the object streams through in pieces (`read_bytes`), decompressed piece by piece: neither the object nor its
  decompressed text is ever held whole, and a line longer than any record can be (`MAX_LINE_BYTES`) is counted
  and quarantined without being held;
- an object that is too large, decompresses to too much (a gzip bomb), has too many lines or is a corrupt gzip
  stream is quarantined as a whole, before anything of it is written: `screen_object` reads it once for that
  (only objects that can pass a limit need it, `needs_screening`: gzip objects, and plain objects with more bytes
  than lines allowed; see `lambdas.payload_etl.limits` for what the second read costs);
- the quarantine lists its first entries in full (`max_quarantine_entries`, `max_quarantine_bytes`) and counts
  the rest by reason (`QuarantineLog`);
- the lake's rows wait in chunks written as they fill (`LakeRows`), and the alerting aggregates take one
  `core.aggregates.Aggregate` per 5-minute bucket the records touch (`ObjectAggregates`).

Every loaded record becomes a row of the lake (`LakeRows`, given by the caller): one Parquet file per object, UTC
day and chunk, written as its chunk fills, so the lake's memory is one chunk (`EtlLimits.lake_chunk_*`), never the
object; and, a prediction, a count in its bucket's aggregate (`ObjectAggregates`).

Within one object a repeated `request_id` is loaded once: the first occurrence wins; a later line identical to it
(character for character) is counted as a duplicate, a later line with other content is quarantined (a conflict:
which one is true is unknown, and neither may silently replace the other).
"""

from __future__ import annotations

import codecs
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from json.scanner import make_scanner
from typing import TYPE_CHECKING, Any

from core.aggregates import BUCKET_SECONDS, Aggregate, Judge, aggregate_pk, aggregate_sk
from core.lake import (
    BASE_COLUMNS,
    LakeTable,
    feature_column,
    part_file_key,
    sample_key,
    source_digest,
)
from core.layout import day_partition_of, is_model_name, model_partition_of
from core.quarantine import MAX_NON_FINITE_FEATURES, non_finite_features
from core.record_limits import (
    EARLIEST_EPOCH,
    LATEST_EPOCH,
    MAX_INTEGER,
    MAX_RECORD_CHARS,
    partition_bounds,
    partition_problem,
    preview,
    record_length_problem,
)
from core.records import (
    ContractViolationError,
    PayloadOptions,
    RecordKind,
    label_reviewed,
    payload_options,
    validate_label,
    validate_payload,
)
from lambdas.payload_etl.limits import DEFAULT_LIMITS, EtlLimits
from lambdas.payload_etl.models import LakeChunk, LakeOutput, ObjectRef

if TYPE_CHECKING:
    from core.payload_store import Item


GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_BOM = b"\xef\xbb\xbf"
#: A line longer than this (in bytes) cannot be a record of `MAX_RECORD_CHARS`: it is not held, only measured.
MAX_LINE_BYTES = 4 * MAX_RECORD_CHARS + 1
#: How much of a bad line the quarantine keeps.
MAX_QUARANTINED_RAW_CHARS = 8 * 1024
#: Distinct reasons the quarantine counts one by one (the rest are counted together), and their length.
MAX_REASON_KEYS = 100
MAX_REASON_KEY_CHARS = 200
_SECONDS_PER_DAY = 86_400
#: The C scanner behind `json.loads`, called directly: `json.loads` adds two regex matches and three Python calls
#: per line. A line the scanner does not consume exactly goes through `json.loads` itself.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
#: A JSON error's position ("line 1 column 5 (char 4)"): dropped when reasons are counted.
_JSON_POSITION = re.compile(r": line \d+ column \d+ \(char \d+\)$")


class ObjectFormatError(ValueError):
    """The object as a whole cannot be read as JSON Lines (empty, corrupt gzip, too large)."""


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line too long to be a record (more than `MAX_LINE_BYTES`): its first bytes and its length, not its text.

    `chars` counts its characters (its bytes from the first invalid one on, if it is not UTF-8).
    """

    head: bytes
    chars: int
    utf8: bool
    blank: bool

    def isspace(self) -> bool:
        """Whether the line is only whitespace (then it is a blank line, however long)."""
        return self.blank


#: One line of an object: text where UTF-8, the raw bytes of a line that is not, or a line too long to hold.
Line = str | bytes | LongLine


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A record that was not loaded, why, and (bounded) what it was. `line` is None for the whole object."""

    line: int | None
    reasons: tuple[str, ...]
    raw: str = ""
    raw_chars: int = 0


def _reason_key(reason: str) -> str:
    """What a reason is counted under: without a JSON error's position, at most `MAX_REASON_KEY_CHARS` long."""
    return _JSON_POSITION.sub("", reason)[:MAX_REASON_KEY_CHARS]


@dataclass(slots=True)
class QuarantineLog:
    """An object's refused lines: the first ones in full, up to the caps; every one counted by reason and, if a
    feature was not finite, by feature (the summary of `core.quarantine`)."""

    max_entries: int
    max_bytes: int
    entries: list[QuarantinedLine] = field(default_factory=list)
    #: Every refused line (or whole object), listed or not.
    count: int = 0
    #: The listed entries' size as rendered (JSON, UTF-8), besides the source's bucket, key and ETag.
    listed_bytes: int = 0
    #: Whether listing has stopped (a cap was reached): the entries are the first refused lines, in order.
    full: bool = False
    #: Refused lines by reason (a line with two reasons counts under both); at most `MAX_REASON_KEYS` reasons.
    reason_counts: dict[str, int] = field(default_factory=dict)
    #: Reasons of refused lines that did not fit `reason_counts`.
    other_reasons: int = 0
    #: Refused lines with at least one non-finite feature, listed or not.
    non_finite_records: int = 0
    #: Those lines by feature (a line counts under each); at most `MAX_NON_FINITE_FEATURES` names.
    non_finite_by_feature: dict[str, int] = field(default_factory=dict)
    #: Non-finite features of refused lines that did not fit `non_finite_by_feature`.
    other_non_finite_features: int = 0
    _keys: dict[str, str] = field(default_factory=dict, repr=False, compare=False)  # reason -> its count key

    @classmethod
    def for_limits(cls, limits: EtlLimits) -> QuarantineLog:
        """An empty log with the limits' caps."""
        return cls(max_entries=limits.max_quarantine_entries, max_bytes=limits.max_quarantine_bytes)

    @property
    def omitted(self) -> int:
        """Refused lines counted but not listed."""
        return self.count - len(self.entries)

    def add(self, number: int | None, line: Line, reasons: Sequence[str]) -> None:
        """Count a refused line (`number` None: the whole object) and list it while the caps allow."""
        self.count += 1
        counts, keys = self.reason_counts, self._keys
        for reason in reasons:
            key = keys.get(reason)
            if key is None:
                key = _reason_key(reason)
                if len(keys) < 4 * MAX_REASON_KEYS:
                    keys[reason] = key
            if key in counts:
                counts[key] += 1
            elif len(counts) < MAX_REASON_KEYS:
                counts[key] = 1
            else:
                self.other_reasons += 1
        if names := non_finite_features(reasons):
            self._count_non_finite(names)
        if self.full:
            return
        entry = _entry(number, line, reasons)
        size = len(json.dumps([entry.line, entry.reasons, entry.raw], ensure_ascii=False).encode("utf-8", "replace"))
        if len(self.entries) >= self.max_entries or self.listed_bytes + size > self.max_bytes:
            self.full = True
            return
        self.entries.append(entry)
        self.listed_bytes += size

    def refuse_object(self, reason: str) -> None:
        """Quarantine the object as a whole."""
        self.add(None, "", (reason,))

    def _count_non_finite(self, names: Iterable[str]) -> None:
        self.non_finite_records += 1
        by_feature = self.non_finite_by_feature
        for name in names:
            if name in by_feature:
                by_feature[name] += 1
            elif len(by_feature) < MAX_NON_FINITE_FEATURES:
                by_feature[name] = 1
            else:
                self.other_non_finite_features += 1


def _entry(number: int | None, line: Line, reasons: Sequence[str]) -> QuarantinedLine:
    if isinstance(line, LongLine):
        raw = line.head.decode("utf-8", "backslashreplace")[:MAX_QUARANTINED_RAW_CHARS]
        return QuarantinedLine(number, tuple(reasons), raw, line.chars)
    raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line
    return QuarantinedLine(number, tuple(reasons), raw[:MAX_QUARANTINED_RAW_CHARS], len(raw))


@dataclass(slots=True)
class Tally:
    """Counts accumulated while an object streams through (a mutable accumulator, not a result)."""

    records: int = 0
    loaded: int = 0
    duplicates: int = 0
    blank_lines: int = 0
    quarantine: QuarantineLog = field(default_factory=lambda: QuarantineLog.for_limits(DEFAULT_LIMITS))

    @classmethod
    def for_limits(cls, limits: EtlLimits) -> Tally:
        """A tally whose quarantine has the limits' caps."""
        return cls(quarantine=QuarantineLog.for_limits(limits))

    def add(self, *, records: int, loaded: int, duplicates: int, blank_lines: int) -> None:
        """Add one pass's counts."""
        self.records += records
        self.loaded += loaded
        self.duplicates += duplicates
        self.blank_lines += blank_lines


# --- reading: pieces of bytes -> lines ---------------------------------------------------------------------------


def peek(chunks: Iterable[bytes], count: int) -> tuple[bytes, Iterator[bytes]]:
    """The first `count` bytes of a stream (fewer if it is shorter), and the whole stream, those bytes included."""
    iterator = iter(chunks)
    taken: list[bytes] = []
    size = 0
    while size < count:
        chunk = next(iterator, None)
        if chunk is None:
            break
        taken.append(chunk)
        size += len(chunk)
    return b"".join(taken)[:count], chain(taken, iterator)


def inflate(chunks: Iterable[bytes], piece_bytes: int) -> Iterator[bytes]:
    """The decompressed bytes of a gzip stream of one or more members, at most `piece_bytes` at a time.

    Raises `ObjectFormatError` for a corrupt or truncated stream (after yielding what came before).
    """
    decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
    started = False  # the current member has had input and has not ended
    for chunk in chunks:
        data, pending = chunk, False
        while data or pending:
            started = started or bool(data)
            try:
                piece = decompressor.decompress(data, piece_bytes)
            except zlib.error as error:
                raise ObjectFormatError(f"corrupt gzip stream: {error}") from error
            if piece:
                yield piece
            if decompressor.eof:
                data, pending, started = decompressor.unused_data, False, False
                decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
            else:
                # Output capped at `piece_bytes` may still be waiting even once the input is consumed.
                data, pending = decompressor.unconsumed_tail, len(piece) == piece_bytes
    if started:
        raise ObjectFormatError("corrupt gzip stream: truncated (no end of stream)")


def stored_size_refusal(size: int, limits: EtlLimits) -> str | None:
    """Why an object of `size` stored bytes is quarantined as a whole without being read, if it is."""
    if size > limits.max_object_bytes:
        return f"object is {size:,} bytes; the limit is {limits.max_object_bytes:,} bytes"
    return None


def needs_screening(head: bytes, size: int, limits: EtlLimits) -> bool:
    """Whether an object must be read once by `screen_object` before it is loaded: a gzip object (its size once
    decompressed is unknown), or a plain one with more bytes than an object may have lines."""
    return head[: len(GZIP_MAGIC)] == GZIP_MAGIC or size > limits.max_object_lines


def screen_object(chunks: Iterable[bytes], *, limits: EtlLimits) -> str | None:
    """Why the object must be quarantined as a whole (too large once decompressed, too many lines, corrupt gzip),
    or None. Reads the stream once, one piece at a time; stops at the first limit passed."""
    head, stream = peek(chunks, len(GZIP_MAGIC))
    compressed = head == GZIP_MAGIC
    pieces = inflate(stream, limits.read_bytes) if compressed else stream
    size = newlines = 0
    last = b"\n"
    try:
        for piece in pieces:
            if not piece:
                continue
            size += len(piece)
            newlines += piece.count(b"\n")
            last = piece[-1:]
            if size > limits.max_object_bytes:
                return f"object decompresses to more than {limits.max_object_bytes:,} bytes"
            if newlines > limits.max_object_lines:
                break
    except ObjectFormatError as error:
        return str(error)
    lines = newlines + (last != b"\n")
    if lines > limits.max_object_lines:
        return f"object has more than {limits.max_object_lines:,} lines"
    return None


class _LongLineReader:
    """Measures a line too long to hold, piece by piece."""

    def __init__(self, first: bytes) -> None:
        self._head = first[: 4 * MAX_QUARANTINED_RAW_CHARS]
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._chars = 0
        self._utf8 = True
        self._blank = True
        self.feed(first)

    def feed(self, data: bytes) -> None:
        """Measure the next bytes of the line."""
        self._blank = self._blank and data.isspace()
        if self._utf8:
            try:
                self._chars += len(self._decoder.decode(data))
                return
            except UnicodeDecodeError:
                self._utf8 = False
        self._chars += len(data)

    def done(self) -> LongLine:
        """The measured line."""
        return LongLine(self._head, self._chars, self._utf8, self._blank)


class ObjectLines:
    """An object's lines, streamed from its stored bytes: decompressed if gzip, a UTF-8 byte order mark dropped, a
    line ending `\\r\\n` or `\\n` (the newline that ends the last line does not start a blank one).

    Iterate once. Afterwards `compressed` says whether it was gzip and `size` counts its decompressed bytes.
    """

    def __init__(self, chunks: Iterable[bytes], piece_bytes: int) -> None:
        self._chunks = chunks
        self._piece_bytes = piece_bytes
        self.compressed = False
        self.size = 0

    def __iter__(self) -> Iterator[Line]:
        return chain.from_iterable(self._batches())

    def _pieces(self) -> Iterator[bytes]:
        head, stream = peek(self._chunks, len(GZIP_MAGIC))
        self.compressed = head == GZIP_MAGIC
        for piece in inflate(stream, self._piece_bytes) if self.compressed else stream:
            self.size += len(piece)
            yield piece

    def _batches(self) -> Iterator[list[Line]]:
        carry = b""  # the start of a line whose end has not come yet
        long_line: _LongLineReader | None = None  # the line being measured, when too long to hold
        at_start = True
        for piece in self._pieces():
            data = carry + piece if carry else piece
            if long_line is not None:
                end = data.find(b"\n")
                if end < 0:
                    long_line.feed(data)
                    continue
                long_line.feed(data[:end].removesuffix(b"\r"))
                yield [long_line.done()]
                long_line, data = None, data[end + 1 :]
            if at_start:
                if len(data) < len(_BOM) and b"\n" not in data:
                    carry = data
                    continue
                data, at_start = data.removeprefix(_BOM), False
            end = data.rfind(b"\n")
            if end < 0:
                carry = data
            else:
                carry = data[end + 1 :]
                yield _decode_lines(data[: end + 1])
            if len(carry) > MAX_LINE_BYTES:
                long_line, carry = _LongLineReader(carry), b""
        if long_line is not None:
            yield [long_line.done()]
        elif carry:
            yield _decode_lines(carry + b"\n")


def _decode_lines(data: bytes) -> list[Line]:
    """Lines ending in `\\n` -> their text (without line endings), line by line where the whole is not UTF-8."""
    lines: list[Line]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines = [_decode_line(line) for line in data.split(b"\n")]
    else:
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")  # type: ignore[assignment]  # list[str] is a list[Line] here
    lines.pop()  # after the last newline
    return lines


def _decode_line(line: bytes) -> str | bytes:
    try:
        return line.removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return line


# --- records -----------------------------------------------------------------------------------------------------


def _refusal(line: Line) -> list[str]:
    """Why a line that is not UTF-8 (kept as bytes), too long to store or too long to hold is refused."""
    if isinstance(line, LongLine):
        if not line.utf8:
            return ["line is not valid UTF-8"]
        return [record_length_problem(line.chars)]
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            return [f"line is not valid UTF-8: {error}"]
    return [record_length_problem(len(line))]


@dataclass(frozen=True, slots=True)
class _TimeWindow:
    """The epoch seconds [start, end) the records of an object may have: the key's `dt=<day>` partition widened by
    `PARTITION_TOLERANCE`, else (no `dt=`, or one that is not a date) the contract's plausible range, which
    validation has checked already."""

    start: int
    end: int
    day: str

    @classmethod
    def of(cls, key: str) -> _TimeWindow:
        day = day_partition_of(key)
        try:
            start, end = partition_bounds(day or "")
        except ValueError:
            return cls(EARLIEST_EPOCH, LATEST_EPOCH, "")
        return cls(start, end, day or "")

    def refusal(self, member: str, canonical: str) -> list[str]:
        """Why a record whose time is outside the window is refused."""
        return [partition_problem(member, canonical, self.day)]


def _conflict(request_id: str) -> list[str]:
    return [
        f"'request_id' {preview(request_id)} repeats an earlier record of this object with different content: "
        "the earlier one is kept"
    ]


def _json_error(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "not valid JSON: nested too deeply"
    return f"not valid JSON: {error}"


#: A segment body's format and time member, by the kind of its records.
class ObjectAggregates:
    """An object's accepted predictions summarised per bucket of their timestamps (`core.aggregates`), each judged
    against the baseline of the model version that served it, and its refused payload records counted in the bucket
    of its arrival: the alerting aggregates, one item per bucket.

    `judge_of(version)` gives a version's judge (None when its baseline cannot be read: the rows are then counted
    with their scores only); it is asked once per version an object holds. Memory: one aggregate per bucket, and an
    object's records span at most `EtlLimits.max_lake_days` days.
    """

    def __init__(self, judge_of: Callable[[str], Judge | None]) -> None:
        self._judge_of = judge_of
        self._judges: dict[str, Judge | None] = {}
        self._buckets: dict[int, Aggregate] = {}

    def add(  # noqa: PLR0917  # a record's fields: the hot path
        self,
        version: str,
        epoch: int,
        score: float,
        label: int,
        latency_ms: float | None,
        features: dict[str, Any],
    ) -> None:
        """Take one accepted prediction into account."""
        if version in self._judges:
            judge = self._judges[version]
        else:
            judge = self._judges[version] = self._judge_of(version)
        start = epoch - epoch % BUCKET_SECONDS
        aggregate = self._buckets.get(start)
        if aggregate is None:
            aggregate = self._buckets[start] = Aggregate()
        aggregate.add(version, score, label, latency_ms, features, judge)

    def add_refused(self, log: QuarantineLog, arrival_epoch: int | None) -> None:
        """Count the object's refused records (every one, listed or not) in its arrival's bucket (without an arrival
        time, in its newest records' bucket; with neither, nowhere: the quarantine object still holds them)."""
        if not log.count or (arrival_epoch is None and not self._buckets):
            return
        start = max(self._buckets) if arrival_epoch is None else arrival_epoch - arrival_epoch % BUCKET_SECONDS
        aggregate = self._buckets.setdefault(start, Aggregate())
        aggregate.add_refused(log.count, log.non_finite_records, log.non_finite_by_feature)

    @property
    def buckets(self) -> int:
        """Buckets summarised so far."""
        return len(self._buckets)

    def items(self, model_name: str, source: str, retention_days: int) -> list[Item]:
        """One item per bucket (`core.aggregates`: keys from the bucket and the source object's digest, so a retry
        rewrites the same items), expiring `retention_days` after its bucket."""
        items: list[Item] = []
        for start, aggregate in sorted(self._buckets.items()):
            moment = datetime.fromtimestamp(start, UTC)
            items.append(
                {
                    "pk": {"S": aggregate_pk(model_name, f"{moment:%Y-%m-%d}")},
                    "sk": {"S": aggregate_sk(moment, source)},
                    "rows": {"N": str(aggregate.rows)},
                    "body": {"S": aggregate.dumps()},
                    "expires_at": {"N": str(start + retention_days * _SECONDS_PER_DAY)},
                }
            )
        return items


# --- the lake: accepted records -> Parquet files, in chunks ------------------------------------------------------

#: Feature names whose column `LakeRows` remembers (a hostile object may carry any number of distinct names).
_MAX_REMEMBERED_FEATURES = 10_000
#: The lake column types a feature value can be typed as; a feature column of another type gets no values.
_DOUBLE = "double"
_STRING = "string"
_FEATURE_TYPES = frozenset({_DOUBLE, _STRING})
#: A feature with no typed column (its values go to `unparsed_features`), and a value that does not fit its column.
_NO_COLUMN = (-1, "")
_NO_VALUE = object()
#: What a row's memory is estimated at besides its record's characters (`LakeRows`): per row, per feature.
_ROW_WEIGHT = 256
_FEATURE_WEIGHT = 64
#: `unparsed_features` as compact JSON (a bound encoder: `json.dumps` adds a call and its keyword handling per row).
_ENCODE_UNPARSED = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class _DayRows:
    """One day's rows waiting for their chunk to be written: the base columns' values row by row, each feature
    column's values (filled with nulls up to a row only once the column has a value in it: a table's many columns a
    record lacks take no memory), and the rows' estimated memory."""

    __slots__ = ("base", "chunk", "day", "features", "weight")

    def __init__(self, day: str, features: int) -> None:
        self.day = day
        self.chunk = 0
        self.base: list[tuple[Any, ...]] = []
        self.features: list[list[Any]] = [[] for _ in range(features)]
        self.weight = 0


class LakeRows:
    """An object's accepted records as the lake's rows (`core.lake`), written one file per day and chunk as they fill.

    A record goes to the `dt` partition of its time's UTC day, in file `core.lake.part_file_key(table, model, day,
    source_digest(bucket, key, etag), n)`. A day's chunks are numbered 0, 1, ... in the order they fill; a chunk is
    written when its day holds `EtlLimits.lake_chunk_rows` rows, and every open chunk when together they weigh
    `lake_chunk_bytes`: a row's weight estimates its memory from its record alone (the line's characters, its
    features, a constant), never from the table's columns, and the limits are the same at every memory size, so a
    retry writes the same keys with the same rows, overwriting instead of adding. An object's records may span at
    most `max_lake_days` days (`admits`): each open day is a file to write at every flush.

    A feature becomes its typed column (`core.lake.feature_column`) of `LakeOutput.feature_types` when the value fits
    the column's type: a finite number in a `double` column, a string in a `string` column, or null. Any other value,
    and every value of a feature without a column, goes into `unparsed_features` as a JSON object `{name: value}`
    (null when the record has none): nothing the ETL accepted is lost. A file has the base columns and the feature
    columns with a value in it (a column a file lacks reads as null). A prediction's optional members (experiment
    arm, heuristic and shadow answers: `core.records.payload_options`) are its `core.lake.OPTION_COLUMNS`, null where
    it has none; a label's review flag is its `reviewed` column, false when absent.
    """

    def __init__(self, source: ObjectRef, kind: RecordKind, output: LakeOutput, limits: EtlLimits) -> None:
        self._bucket = source.bucket
        self._source = source_digest(source.bucket, source.key, source.etag)
        self._table = LakeTable.PREDICTIONS if kind is RecordKind.PAYLOAD else LakeTable.LABELS
        self._model = model_partition_of(source.key) or ""
        self._write = output.write
        base = BASE_COLUMNS[self._table]
        features = (
            [(name, glue_type) for name, glue_type in output.feature_types.items() if glue_type in _FEATURE_TYPES]
            if self._table is LakeTable.PREDICTIONS
            else []
        )
        self._base_names = [column.name for column in base]
        self._feature_names = [name for name, _ in features]
        self._glue_types = {column.name: column.glue_type for column in base} | dict(features)
        self._feature_slots = {name: (index, glue_type) for index, (name, glue_type) in enumerate(features)}
        self._slots: dict[str, tuple[int, str]] = {}  # feature name -> (feature column index, type) or _NO_COLUMN
        self._versions: dict[str, str] = {}  # model versions, one string object each
        self._days: dict[str, _DayRows] = {}
        self._open_weight = 0
        self._max_rows = limits.lake_chunk_rows
        self._max_weight = limits.lake_chunk_bytes
        self._max_days = limits.max_lake_days
        #: Files written, records with a value in `unparsed_features`, and whether a feature had no column at all.
        self.files = 0
        self.unparsed_records = 0
        self.unknown_features = False

    def admits(self, timestamp: str) -> bool:
        """Whether a record of this (canonical) time may be added: its day is one of the object's first
        `max_lake_days` days."""
        return timestamp[:10] in self._days or len(self._days) < self._max_days

    def too_many_days(self) -> list[str]:
        """The refusal of a record `admits` refused."""
        return [f"the object's records span more than {self._max_days} UTC days (one lake file each): not loaded"]

    def _rows_of(self, day: str) -> _DayRows:
        rows = self._days.get(day)
        if rows is None:
            rows = self._days[day] = _DayRows(day, len(self._feature_names))
        return rows

    def add_prediction(  # noqa: PLR0912, PLR0917  # a record's fields, checked inline: the hot path
        self,
        request_id: str,
        model_version: str,
        timestamp: str,
        epoch: int,
        score: float,
        label: int,
        latency_ms: float | None,
        features: dict[str, Any],
        options: PayloadOptions,
        chars: int,
    ) -> None:
        """Add one accepted payload (its canonical fields, its features as decoded, its optional members as
        `core.records.payload_options` reads them, its line's characters)."""
        rows = self._rows_of(timestamp[:10])
        row = len(rows.base)
        columns = rows.features
        unparsed: dict[str, Any] | None = None
        slots = self._slots
        # A Python loop per record: records arrive one JSON line at a time, and this runs once per accepted record.
        for name, value in features.items():
            slot = slots.get(name)
            if slot is None:
                slot = self._slot(name)
            index, kind = slot
            if index >= 0:
                if value is None:
                    continue
                value_type = type(value)
                if kind == _DOUBLE:
                    if value_type is float and math.isfinite(value):
                        typed = value
                    elif value_type is int and -MAX_INTEGER <= value <= MAX_INTEGER:
                        typed = float(value)
                    else:
                        typed = _NO_VALUE
                else:
                    typed = value if value_type is str else _NO_VALUE
                if typed is not _NO_VALUE:
                    column = columns[index]
                    if len(column) < row:
                        column.extend([None] * (row - len(column)))
                    column.append(typed)
                    continue
            else:
                self.unknown_features = True
            if unparsed is None:
                unparsed = {}
            unparsed[name] = value
        version = self._versions.get(model_version)
        if version is None:
            version = self._versions[model_version] = model_version
        if unparsed is not None:
            self.unparsed_records += 1
        rows.base.append(
            (
                request_id,
                version,
                epoch * 1000 + int(timestamp[20:23]),
                score,
                label,
                latency_ms,
                sample_key(request_id),
                None if unparsed is None else _ENCODE_UNPARSED(unparsed),
                *options,
            )
        )
        self._added(rows, chars + _ROW_WEIGHT + _FEATURE_WEIGHT * len(features))

    def add_label(  # noqa: PLR0917  # a record's fields
        self, request_id: str, label: int, observed_at: str, epoch: int, reviewed: bool, chars: int
    ) -> None:
        """Add one accepted label (its canonical fields, whether a reviewer gave it, its line's characters)."""
        rows = self._rows_of(observed_at[:10])
        rows.base.append((request_id, label, epoch * 1000 + int(observed_at[20:23]), sample_key(request_id), reviewed))
        self._added(rows, chars + _ROW_WEIGHT)

    def _slot(self, name: str) -> tuple[int, str]:
        slot = self._feature_slots.get(feature_column(name), _NO_COLUMN)
        if len(self._slots) < _MAX_REMEMBERED_FEATURES:
            self._slots[name] = slot
        return slot

    def _added(self, rows: _DayRows, weight: int) -> None:
        rows.weight += weight
        self._open_weight += weight
        if len(rows.base) >= self._max_rows:
            self._flush(rows)
        elif self._open_weight >= self._max_weight:
            self.flush()

    def flush(self) -> None:
        """Write every open chunk, in day order (at the object's end, or when the open chunks hold too much)."""
        for day in sorted(self._days):
            self._flush(self._days[day])

    def _flush(self, rows: _DayRows) -> None:
        count = len(rows.base)
        if not count:
            return
        columns: dict[str, Sequence[Any]] = dict(zip(self._base_names, zip(*rows.base, strict=True), strict=True))
        for name, values in zip(self._feature_names, rows.features, strict=True):
            if values:
                values.extend([None] * (count - len(values)))
                columns[name] = values
        types = {name: self._glue_types[name] for name in columns}
        key = part_file_key(self._table, self._model, rows.day, self._source, rows.chunk)
        rows.base, rows.features = [], [[] for _ in self._feature_names]  # the columns hold the values now
        self._write(LakeChunk(self._bucket, key, columns, types, count))
        self.files += 1
        self._open_weight -= rows.weight
        rows.chunk += 1
        rows.weight = 0


def _model_mismatch(model: str, expected: str | None) -> str:
    if expected is None:
        return "the object key has no valid model=<name> partition, so no record in it can be attributed to a model"
    return f"model_name {model!r} does not match the object key's partition model={expected}"


def load_payloads(  # noqa: PLR0912, PLR0915  # one inlined loop: this is the hot path
    lines: Iterable[Line],
    *,
    model_name: str | None,
    source: ObjectRef,
    tally: Tally,
    lake: LakeRows | None = None,
    aggregates: ObjectAggregates | None = None,
) -> None:
    """Payload lines -> lake rows and alerting aggregates (first occurrence of a request id wins; a later one with
    other content is quarantined)."""
    seen: dict[str, int] = {}  # request id -> hash of its first line: memory per record, not per line's length
    number = duplicates = blank = 0
    window = _TimeWindow.of(source.key)
    earliest, latest = window.start, window.end
    loads = json.loads
    scan = _SCAN_ONCE
    validate = validate_payload
    options = payload_options
    setdefault = seen.setdefault
    quarantine = tally.quarantine.add
    try:
        for number, line in enumerate(lines, 1):  # `number` is read after the loop
            if type(line) is not str or len(line) > MAX_RECORD_CHARS or not line:
                if not line or line.isspace():
                    blank += 1
                else:
                    quarantine(number, line, _refusal(line))
                continue
            try:
                document, end = scan(line, 0)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end != len(line):
                # Surrounding whitespace, extra data, an error or a blank line: json.loads decides and words it.
                if line.isspace():
                    blank += 1
                    continue
                try:
                    document = loads(line)
                except (ValueError, RecursionError) as error:
                    quarantine(number, line, (_json_error(error),))
                    continue
            try:
                request_id, model, version, timestamp, epoch, score, label, latency = validate(document, line)
            except ContractViolationError as error:
                quarantine(number, line, error.problems)
                continue
            if model != model_name:
                quarantine(number, line, (_model_mismatch(model, model_name),))
                continue
            if not earliest <= epoch < latest:
                quarantine(number, line, window.refusal("timestamp", timestamp))
                continue
            if lake is not None and not lake.admits(timestamp):
                quarantine(number, line, lake.too_many_days())
                continue
            digest = hash(line)
            first = setdefault(request_id, digest)
            if first is not digest:  # one lookup: the id was there before
                if first == digest:
                    duplicates += 1
                else:
                    quarantine(number, line, _conflict(request_id))
                continue
            features = document["features"]
            if lake is not None:
                lake.add_prediction(
                    request_id, version, timestamp, epoch, score, label, latency, features, options(document), len(line)
                )
            if aggregates is not None:
                aggregates.add(version, epoch, score, label, latency, features)
    finally:
        tally.add(records=number - blank, loaded=len(seen), duplicates=duplicates, blank_lines=blank)
    if lake is not None:
        lake.flush()


def load_labels(  # noqa: PLR0912  # one inlined loop, as load_payloads
    lines: Iterable[Line],
    *,
    model_name: str | None,
    source: ObjectRef,
    tally: Tally,
    lake: LakeRows | None = None,
) -> None:
    """Label lines -> lake rows (first occurrence of a request id wins; a later one with other content is
    quarantined)."""
    seen: dict[str, int] = {}  # request id -> hash of its first line
    records = duplicates = blank = 0
    window = _TimeWindow.of(source.key)
    quarantine = tally.quarantine.add
    try:
        for number, line in enumerate(lines, 1):
            if not line or line.isspace():
                blank += 1
                continue
            records += 1
            if type(line) is not str or len(line) > MAX_RECORD_CHARS:
                quarantine(number, line, _refusal(line))
                continue
            try:
                document = json.loads(line)
                request_id, model, label, observed_at, epoch = validate_label(document, line)
            except (ValueError, RecursionError) as error:
                problems = error.problems if isinstance(error, ContractViolationError) else (_json_error(error),)
                quarantine(number, line, problems)
                continue
            if model != model_name:
                quarantine(number, line, (_model_mismatch(model, model_name),))
                continue
            if not window.start <= epoch < window.end:
                quarantine(number, line, window.refusal("observed_at", observed_at))
                continue
            if lake is not None and not lake.admits(observed_at):
                quarantine(number, line, lake.too_many_days())
                continue
            digest = hash(line)
            first = seen.setdefault(request_id, digest)
            if first is not digest:
                if first == digest:
                    duplicates += 1
                else:
                    quarantine(number, line, _conflict(request_id))
                continue
            if lake is not None:
                lake.add_label(request_id, label, observed_at, epoch, label_reviewed(document), len(line))
    finally:
        tally.add(records=records, loaded=len(seen), duplicates=duplicates, blank_lines=blank)
    if lake is not None:
        lake.flush()


def load_object(
    chunks: Iterable[bytes],
    *,
    source: ObjectRef,
    kind: RecordKind,
    tally: Tally,
    limits: EtlLimits = DEFAULT_LIMITS,
    lake: LakeRows | None = None,
    aggregates: ObjectAggregates | None = None,
) -> None:
    """Load one object streamed in `chunks` of its stored bytes: every accepted record goes to `lake` (and, a
    prediction, to `aggregates`), if given; counts and the quarantine accumulate in `tally`.

    Never raises for bad content: that is what the quarantine is for. An object that is empty, holds only blank
    lines or is a corrupt gzip stream is quarantined as a whole. The caller screens an object first
    (`needs_screening`, `screen_object`): this pass does not stop at the object limits.
    """
    lines = ObjectLines(chunks, limits.read_bytes)
    model_name = model_partition_of(source.key)
    if model_name is not None and not is_model_name(model_name):
        model_name = None  # such a name must not reach a table key: every record is refused instead
    try:
        if kind is RecordKind.PAYLOAD:
            load_payloads(lines, model_name=model_name, source=source, tally=tally, lake=lake, aggregates=aggregates)
        else:
            load_labels(lines, model_name=model_name, source=source, tally=tally, lake=lake)
    except ObjectFormatError as error:  # only an unscreened object: what came before its corruption was loaded
        tally.quarantine.refuse_object(str(error))
        return
    if tally.records == 0 and not tally.quarantine.count:
        if lines.size == 0:
            detail = "gzip stream with no content" if lines.compressed else "0 bytes"
            tally.quarantine.refuse_object(f"object is empty ({detail})")
        else:
            tally.quarantine.refuse_object("object holds only blank lines")
