"""Object bytes -> payload-table items and quarantined lines. Pure: no AWS, no environment, no clock.

An object is JSON Lines, optionally gzip-compressed (detected by the magic bytes `1f 8b`, whatever the key's
suffix). Every non-blank line is one record; its kind (payload or label) comes from the key's prefix and its
model must match the key's `model=<m>` partition. A line that is not UTF-8, not JSON, too long, nested too deep
(`MAX_NESTING`) or violates the contract is quarantined with every reason found and its 1-based line number; the
object's other records still load. An empty object or a corrupt gzip stream is quarantined as a whole (line
`None`). Nothing is dropped silently: blank lines are the only thing skipped, and they are counted.

Within one object a repeated `request_id` is loaded once: the first occurrence wins and the others are counted
as duplicates. The valid lines are stored verbatim (no re-serialisation, unknown members kept) with their
canonical times in segments (`core.segments`), one per UTC hour of their timestamps and size chunk
(`core.tables`); segment keys are deterministic (the object's bucket, key and ETag, the hour and the
chunk number), so reprocessing re-puts the same items instead of adding new ones. This path runs at more than
half the speed of a bare `json.loads` loop over the same lines (`python -m bench --only etl`).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from json.scanner import make_scanner
from typing import TYPE_CHECKING, Any

from core.layout import model_partition_of, validate_model_name
from core.records import ContractViolationError, RecordKind, validate_label, validate_payload
from core.segments import BODY_BYTES_PER_RECORD, LABELS_FORMAT, PREDICTIONS_FORMAT, encode_segment
from core.tables import (
    SEGMENT_MAX_BYTES,
    label_window_pk,
    segment_pk,
    segment_sk,
    window_pk,
    window_sk,
)
from lambdas.payload_etl.models import ObjectRef

if TYPE_CHECKING:
    from core.payload_store import Item


GZIP_MAGIC = b"\x1f\x8b"
#: A record is stored whole in one item (DynamoDB's item limit is 400 KB; 4 bytes per character at worst).
MAX_RECORD_CHARS = 64 * 1024
#: A decompressed object larger than this is refused as a whole (a gzip bomb must not exhaust the Lambda).
MAX_DECOMPRESSED_BYTES = 256 * 1024 * 1024
#: Deepest nesting of objects and arrays a record may have (unknown members may nest): a reader decodes the record
#: inside its segment's body, two levels deeper and further down the stack than here, so a record `json.loads` took
#: near its recursion limit here could not be read back. Deeper records are quarantined.
MAX_NESTING = 500
#: How much of a bad line the quarantine keeps.
MAX_QUARANTINED_RAW_CHARS = 8 * 1024
_SECONDS_PER_DAY = 86_400
#: The C scanner behind `json.loads`, called directly: `json.loads` adds two regex matches and three Python calls
#: per line. A line the scanner does not consume exactly goes through `json.loads` itself.
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


class ObjectFormatError(ValueError):
    """The object as a whole cannot be read as JSON Lines (empty, corrupt gzip, too large)."""


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A record that was not loaded, why, and (bounded) what it was. `line` is None for the whole object."""

    line: int | None
    reasons: tuple[str, ...]
    raw: str = ""
    raw_chars: int = 0


@dataclass(slots=True)
class Tally:
    """Counts accumulated while an object streams through (a mutable accumulator, not a result)."""

    records: int = 0
    loaded: int = 0
    duplicates: int = 0
    blank_lines: int = 0
    quarantined: list[QuarantinedLine] = field(default_factory=list)

    def add(self, *, records: int, loaded: int, duplicates: int, blank_lines: int) -> None:
        """Add one pass's counts."""
        self.records += records
        self.loaded += loaded
        self.duplicates += duplicates
        self.blank_lines += blank_lines


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one object yields: items to put, lines to quarantine and counts."""

    items: list[Item] = field(default_factory=list)
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    records: int = 0
    duplicates: int = 0
    blank_lines: int = 0


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress every gzip member in `data`, refusing output larger than `limit` bytes."""
    out = bytearray()
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error as error:
            raise ObjectFormatError(f"corrupt gzip stream: {error}") from error
        if len(out) > limit:
            raise ObjectFormatError(f"object decompresses to more than {limit} bytes")
        if not decompressor.eof:
            raise ObjectFormatError("corrupt gzip stream: truncated (no end of stream)")
        data = decompressor.unused_data
    return bytes(out)


def decode_object(body: bytes, *, limit: int = MAX_DECOMPRESSED_BYTES) -> list[str | bytes]:
    """The object's lines: `str` where UTF-8, the raw `bytes` of a line that is not. Raises `ObjectFormatError`."""
    if body[:2] == GZIP_MAGIC:
        body = _gunzip(body, limit)
        if not body:
            raise ObjectFormatError("object is empty (gzip stream with no content)")
    if not body:
        raise ObjectFormatError("object is empty (0 bytes)")
    if body.isspace():
        raise ObjectFormatError("object holds only blank lines")
    lines: list[str | bytes]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        lines = [_decode_line(line) for line in body.split(b"\n")]
    else:
        if text.startswith("\ufeff"):
            text = text[1:]
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")  # type: ignore[assignment]  # list[str] is a list[str | bytes] here
    if lines and not lines[-1]:
        lines.pop()  # the newline that ends the last line does not start a blank one
    return lines


def _decode_line(line: bytes) -> str | bytes:
    try:
        return line.removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return line


def _bad(number: int, line: str | bytes, reasons: tuple[str, ...] | list[str]) -> QuarantinedLine:
    raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else line
    return QuarantinedLine(number, tuple(reasons), raw[:MAX_QUARANTINED_RAW_CHARS], len(raw))


def _refuse(number: int, line: str | bytes) -> QuarantinedLine:
    """The quarantine entry of a line that is not UTF-8 (kept as bytes) or too long to store."""
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            return _bad(number, line, [f"line is not valid UTF-8: {error}"])
    return _bad(number, line, [f"record is {len(line)} characters long; the limit is {MAX_RECORD_CHARS}"])


def _too_deep(line: str, document: object) -> bool:
    """Whether the record has more than `MAX_NESTING` objects and arrays inside one another (the record counts).

    Only a line with more opening brackets than that can, so only such a line is walked.
    """
    if line.count("[") + line.count("{") <= MAX_NESTING:
        return False
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Iterable[object] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_NESTING:
            return True
        pending += [(child, depth + 1) for child in children]
    return False


def _nesting_problem() -> list[str]:
    return [f"nested more than {MAX_NESTING} levels deep (objects and arrays): too deep to store"]


def _json_error(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "not valid JSON: nested too deeply"
    return f"not valid JSON: {error}"


#: A segment body's format and time member, by the kind of its records.
_BODY_FORMATS = {
    RecordKind.PAYLOAD: (PREDICTIONS_FORMAT, "timestamp"),
    RecordKind.LABEL: (LABELS_FORMAT, "observed_at"),
}


class _Segments:
    """Valid lines grouped into segments (one UTC hour, at most `SEGMENT_MAX_BYTES` of body each), built into items.

    A segment's body is its lines, verbatim, and their canonical times (`core.segments.encode_segment`).
    """

    def __init__(self, source: ObjectRef, kind: RecordKind, retention_s: int) -> None:
        self._source = source
        self._kind = kind
        self._retention_s = retention_s
        self._open: dict[str, _OpenSegment] = {}
        self._closed: list[_OpenSegment] = []
        # The body's bytes besides `BODY_BYTES_PER_RECORD` and the line of each record (of which the last has no
        # commas): what a segment's size starts at, so that it is its body's size.
        body_format, time_member = _BODY_FORMATS[kind]
        self._envelope = len(encode_segment(body_format, time_member, [], [])) - 2

    def add(self, line: str, timestamp: str, epoch: int) -> None:
        """Add one valid line with its canonical timestamp and epoch seconds."""
        hour = timestamp[:13]
        size = (len(line) if line.isascii() else len(line.encode("utf-8"))) + BODY_BYTES_PER_RECORD
        segment = self._open.get(hour)
        if segment is None or segment.size + size > SEGMENT_MAX_BYTES:
            chunk = 0 if segment is None else segment.chunk + 1
            if segment is not None:
                self._closed.append(segment)
            segment = self._open[hour] = _OpenSegment(hour, chunk, timestamp, timestamp, epoch, size=self._envelope)
        segment.lines.append(line)
        segment.times.append(timestamp)
        segment.size += size
        if timestamp < segment.first:
            segment.first = timestamp
        elif timestamp > segment.last:
            segment.last = timestamp
        segment.newest_epoch = max(segment.newest_epoch, epoch)

    def items(self, model_name: str) -> list[Item]:
        """Every segment's item, in hour and chunk order."""
        segments = sorted([*self._closed, *self._open.values()], key=lambda segment: (segment.hour, segment.chunk))
        pk = segment_pk(self._source.bucket, self._source.key)
        window = window_pk if self._kind is RecordKind.PAYLOAD else label_window_pk
        body_format, time_member = _BODY_FORMATS[self._kind]
        items: list[Item] = []
        for segment in segments:
            sk = segment_sk(self._source.etag, segment.hour, segment.chunk)
            items.append(
                {
                    "pk": {"S": pk},
                    "sk": {"S": sk},
                    "gsi1pk": {"S": window(model_name, segment.hour)},
                    "gsi1sk": {"S": window_sk(segment.first, pk, sk)},
                    "last_ts": {"S": segment.last},
                    "record_count": {"N": str(len(segment.lines))},
                    "body": {"S": encode_segment(body_format, time_member, segment.times, segment.lines)},
                    "expires_at": {"N": str(segment.newest_epoch + self._retention_s)},
                }
            )
        return items


@dataclass(slots=True)
class _OpenSegment:
    hour: str
    chunk: int
    first: str
    last: str
    newest_epoch: int
    lines: list[str] = field(default_factory=list)
    times: list[str] = field(default_factory=list)
    size: int = 0


def _batched(items: list[Item], batch_size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def payload_batches(  # noqa: PLR0912, PLR0915  # one inlined loop: this is the hot path
    lines: Sequence[str | bytes],
    *,
    model_name: str | None,
    source: ObjectRef,
    retention_days: int,
    tally: Tally,
    batch_size: int = 25,
) -> Iterator[list[Item]]:
    """Payload lines -> prediction segment items, `batch_size` at a time (first occurrence of a request id wins).

    Segments are built once every line was read: a segment may gather lines from anywhere in the object.
    """
    seen: set[str] = set()
    number = duplicates = blank = 0
    segments = _Segments(source, RecordKind.PAYLOAD, retention_days * _SECONDS_PER_DAY)
    add = segments.add
    walk_from = 2 * MAX_NESTING  # a shorter line cannot nest deeper than MAX_NESTING
    loads = json.loads
    scan = _SCAN_ONCE
    validate = validate_payload
    quarantine = tally.quarantined.append
    try:
        for number, line in enumerate(lines, 1):  # `number` is read after the loop
            if type(line) is not str or len(line) > MAX_RECORD_CHARS or not line:
                if line.isspace() or not line:
                    blank += 1
                else:
                    quarantine(_refuse(number, line))
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
                    quarantine(_bad(number, line, [_json_error(error)]))
                    continue
            try:
                request_id, model, _, timestamp, epoch, _, _, _ = validate(document)
            except ContractViolationError as error:
                quarantine(_bad(number, line, error.problems))
                continue
            if model != model_name:
                quarantine(_bad(number, line, [_model_mismatch(model, model_name)]))
                continue
            if len(line) > walk_from and _too_deep(line, document):
                quarantine(_bad(number, line, _nesting_problem()))
                continue
            seen_before = len(seen)
            seen.add(request_id)
            if len(seen) == seen_before:  # one hash lookup instead of `in` then `add`
                duplicates += 1
                continue
            add(line, timestamp, epoch)
    finally:
        tally.add(records=number - blank, loaded=len(seen), duplicates=duplicates, blank_lines=blank)
    if model_name is not None:
        yield from _batched(segments.items(model_name), batch_size)


def label_batches(
    lines: Sequence[str | bytes],
    *,
    model_name: str | None,
    source: ObjectRef,
    retention_days: int,
    tally: Tally,
    batch_size: int = 25,
) -> Iterator[list[Item]]:
    """Label lines -> label segment items, `batch_size` at a time (first occurrence of a request id wins)."""
    seen: set[str] = set()
    records = duplicates = blank = 0
    segments = _Segments(source, RecordKind.LABEL, retention_days * _SECONDS_PER_DAY)
    quarantine = tally.quarantined.append
    try:
        for number, line in enumerate(lines, 1):
            if not line or line.isspace():
                blank += 1
                continue
            records += 1
            if type(line) is not str or len(line) > MAX_RECORD_CHARS:
                quarantine(_refuse(number, line))
                continue
            try:
                document = json.loads(line)
                request_id, model, _, observed_at, epoch = validate_label(document)
            except (ValueError, RecursionError) as error:
                problems = error.problems if isinstance(error, ContractViolationError) else (_json_error(error),)
                quarantine(_bad(number, line, problems))
                continue
            if model != model_name:
                quarantine(_bad(number, line, [_model_mismatch(model, model_name)]))
                continue
            if len(line) > 2 * MAX_NESTING and _too_deep(line, document):
                quarantine(_bad(number, line, _nesting_problem()))
                continue
            if request_id in seen:
                duplicates += 1
                continue
            seen.add(request_id)
            segments.add(line, observed_at, epoch)
    finally:
        tally.add(records=records, loaded=len(seen), duplicates=duplicates, blank_lines=blank)
    if model_name is not None:
        yield from _batched(segments.items(model_name), batch_size)


def _model_mismatch(model: str, expected: str | None) -> str:
    if expected is None:
        return "the object key has no valid model=<name> partition, so no record in it can be attributed to a model"
    return f"model_name {model!r} does not match the object key's partition model={expected}"


def _is_valid_model_name(name: str) -> bool:
    try:
        validate_model_name(name)
    except ValueError:
        return False
    return True


def object_batches(
    body: bytes, *, source: ObjectRef, kind: RecordKind, retention_days: int, tally: Tally, batch_size: int = 25
) -> Iterator[list[Item]]:
    """The items one object yields, in batches; counts and quarantined lines accumulate in `tally`.

    Never raises for bad content: that is what the quarantine is for.
    """
    try:
        lines = decode_object(body)
    except ObjectFormatError as error:
        tally.quarantined.append(QuarantinedLine(None, (str(error),)))
        return iter(())
    model_name = model_partition_of(source.key)
    if model_name is not None and not _is_valid_model_name(model_name):
        model_name = None  # such a name must not reach a table key: every record is refused instead
    batches = payload_batches if kind is RecordKind.PAYLOAD else label_batches
    return batches(
        lines, model_name=model_name, source=source, retention_days=retention_days, tally=tally, batch_size=batch_size
    )


def extract(body: bytes, *, source: ObjectRef, kind: RecordKind, retention_days: int) -> Extraction:
    """Everything one object yields, at once (for callers that want a value rather than a stream)."""
    tally = Tally()
    items = [
        item
        for batch in object_batches(body, source=source, kind=kind, retention_days=retention_days, tally=tally)
        for item in batch
    ]
    return Extraction(items, list(tally.quarantined), tally.records, tally.duplicates, tally.blank_lines)
