"""The ETL's streaming parser and its per-object caps, in memory: pieces of bytes in, segments and quarantine out."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.layout import MAX_KEY_BYTES, quarantine_object_key
from core.record_limits import MAX_RECORD_CHARS
from core.records import RecordKind, format_timestamp
from core.settings import InvalidSettingError
from core.tables import segment_sk
from lambdas.payload_etl.extract import (
    CHUNKS_PER_GENERATION,
    MAX_LINE_BYTES,
    MAX_QUARANTINED_RAW_CHARS,
    MAX_REASON_KEYS,
    LongLine,
    ObjectFormatError,
    ObjectLines,
    QuarantineLog,
    Tally,
    inflate,
    needs_screening,
    object_batches,
    payload_batches,
    screen_object,
    stored_size_refusal,
)
from lambdas.payload_etl.limits import (
    DEFAULT_LIMITS,
    DEFAULT_MEMORY_MB,
    LAKE_CHUNK_MB,
    MEMORY_SIZE_VARIABLE,
    MIN_MEMORY_MB,
    OPEN_SEGMENT_BYTES,
    RUNTIME_RESERVE_MB,
    EtlLimits,
)
from lambdas.payload_etl.models import ObjectRef
from tests.payload_etl_fakes import load_object

BUCKET = "payload-bucket"
ETAG = "0123456789abcdef0123456789abcdef"
KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
SOURCE = ObjectRef(BUCKET, KEY, ETAG, 0)
START = datetime(2026, 11, 23, tzinfo=UTC)
#: The limits of the smallest function the ETL runs in: small enough to pass in a test.
SMALL = EtlLimits.for_memory(MIN_MEMORY_MB)


def payload(request_id: str, moment: datetime = START, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": format_timestamp(moment),
        "features": {"plan": "pro", "tenure": 3},
        "prediction": {"score": 0.31, "label": 1},
    }
    document.update(changes)
    return document


def line_of(document: object) -> str:
    return json.dumps(document)


def body_of(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[start : start + size] for start in range(0, len(data), size))


def load(
    chunks: Iterable[bytes], limits: EtlLimits = DEFAULT_LIMITS, kind: RecordKind = RecordKind.PAYLOAD
) -> tuple[list[list[dict[str, Any]]], Tally]:
    """Every batch `object_batches` yields, and its tally."""
    tally = Tally.for_limits(limits)
    batches = list(object_batches(chunks, source=SOURCE, kind=kind, retention_days=30, tally=tally, limits=limits))
    return batches, tally


def stored_request_ids(batches: list[list[dict[str, Any]]]) -> list[str]:
    return [
        record["request_id"]
        for batch in batches
        for item in batch
        for record in json.loads(item["body"]["S"])["records"]
    ]


def quarantine_of(tally: Tally) -> list[tuple[int | None, tuple[str, ...], str, int]]:
    return [(entry.line, entry.reasons, entry.raw, entry.raw_chars) for entry in tally.quarantine.entries]


# --- streaming: the pieces an object arrives in change nothing -------------------------------------------------

line_kinds = st.lists(
    st.tuples(
        st.sampled_from(["valid", "valid", "valid", "not json", "contract", "blank", "not utf8", "crlf", "dup"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=40,
)


def mixed_object(kinds: list[tuple[str, int]]) -> bytes:
    """An object of these kinds of lines (the integer picks the hour of a valid record)."""
    out = bytearray()
    for index, (kind, hour) in enumerate(kinds):
        record = line_of(payload(f"r-{index}", START + timedelta(hours=hour), features={"note": "é" * hour}))
        match kind:
            case "valid":
                out += record.encode() + b"\n"
            case "dup":
                out += line_of(payload("r-0", START + timedelta(hours=hour))).encode() + b"\n"
            case "not json":
                out += b'{"request_id": "r",\n'
            case "contract":
                out += line_of(payload(f"r-{index}", prediction={"score": 2.0, "label": 0})).encode() + b"\n"
            case "blank":
                out += b"  \n"
            case "not utf8":
                out += b'{"request_id": "\xff"}\n'
            case _:
                out += record.encode() + b"\r\n"
    return bytes(out)


@settings(max_examples=60, deadline=None)
@given(kinds=line_kinds, size=st.integers(1, 300), compressed=st.booleans(), bom=st.booleans())
def test_any_split_into_pieces_gives_the_items_and_quarantine_of_the_whole_object(
    kinds: list[tuple[str, int]], size: int, compressed: bool, bom: bool
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + mixed_object(kinds)
    if compressed:
        cut = len(data) // 2  # two gzip members, the second starting mid-line
        data = gzip.compress(data[:cut]) + gzip.compress(data[cut:])
    whole_batches, whole = load([data])
    limits = replace(DEFAULT_LIMITS, read_bytes=max(1, size // 3))  # decompressed pieces that small too
    split_batches, split = load(pieces(data, size), limits)
    assert [item for batch in split_batches for item in batch] == [item for batch in whole_batches for item in batch]
    assert quarantine_of(split) == quarantine_of(whole)
    assert (split.records, split.loaded, split.duplicates, split.blank_lines) == (
        whole.records,
        whole.loaded,
        whole.duplicates,
        whole.blank_lines,
    )


def test_a_crlf_split_between_two_pieces_ends_its_line() -> None:
    record = line_of(payload("r-1"))
    data = record.encode() + b"\r\n" + line_of(payload("r-2")).encode() + b"\r\n"
    cut = len(record) + 1  # "\r" ends the first piece, "\n" starts the second
    batches, tally = load([data[:cut], data[cut:]])
    assert stored_request_ids(batches) == ["r-1", "r-2"]
    assert tally.quarantine.entries == []
    assert json.loads(batches[0][0]["body"]["S"])["records"][0] == payload("r-1")


def test_a_byte_order_mark_split_across_pieces_is_dropped() -> None:
    data = b"\xef\xbb\xbf" + body_of(line_of(payload("r-1")))
    batches, tally = load([data[:1], data[1:2], data[2:]])
    assert stored_request_ids(batches) == ["r-1"]
    assert tally.quarantine.entries == []


def test_a_last_line_without_a_newline_is_a_line() -> None:
    data = body_of(line_of(payload("r-1"))) + line_of(payload("r-2")).encode()
    batches, _ = load(pieces(data, 10))
    assert stored_request_ids(batches) == ["r-1", "r-2"]


def test_segments_are_written_while_the_object_is_still_being_read() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        for index in range(3000):
            consumed += 1
            # ~330 bytes each, one hour: a segment fills about every thousand lines.
            yield line_of(payload(f"r-{index:05d}", features={"blob": "x" * 200}))

    limits = replace(DEFAULT_LIMITS, write_batch_bytes=1)  # every closed segment is a batch of its own
    batches = payload_batches(
        lines(), model_name="churn", source=SOURCE, retention_days=30, tally=Tally(), limits=limits
    )
    first = next(batches)
    assert consumed < 3000 // 2
    assert len(first) == 1
    assert first[0]["sk"]["S"] == segment_sk(ETAG, "2026-11-23T00", 0)


# --- lines too long to hold --------------------------------------------------------------------------------------


def test_a_line_longer_than_any_record_is_measured_not_held_and_the_next_lines_load() -> None:
    long_line = line_of(payload("r-long", features={"blob": "é" * MAX_LINE_BYTES}))
    data = body_of(line_of(payload("r-1")), long_line, line_of(payload("r-2")))
    limits = replace(DEFAULT_LIMITS, read_bytes=4096)
    seen = list(ObjectLines(pieces(data, 4096), limits.read_bytes))
    assert [type(line) for line in seen] == [str, LongLine, str]
    held = seen[1]
    assert isinstance(held, LongLine)
    assert held.chars == len(long_line)
    assert len(held.head) <= 4 * MAX_QUARANTINED_RAW_CHARS
    batches, tally = load(pieces(data, 4096), limits)
    assert stored_request_ids(batches) == ["r-1", "r-2"]
    ((line, reasons, raw, raw_chars),) = quarantine_of(tally)
    assert (line, reasons) == (2, (f"record is {len(long_line)} characters long; the limit is {MAX_RECORD_CHARS}",))
    assert (raw, raw_chars) == (long_line[:MAX_QUARANTINED_RAW_CHARS], len(long_line))
    # The same entry as when the line fits one piece.
    _, whole = load([data])
    assert quarantine_of(whole) == quarantine_of(tally)


def test_a_long_line_that_is_not_utf8_is_quarantined_as_such() -> None:
    data = (
        body_of(line_of(payload("r-1"))) + b"\xff" * (MAX_LINE_BYTES + 5000) + b"\n" + body_of(line_of(payload("r-2")))
    )
    batches, tally = load(pieces(data, 1000), replace(DEFAULT_LIMITS, read_bytes=1000))
    assert stored_request_ids(batches) == ["r-1", "r-2"]
    ((line, reasons, raw, _),) = quarantine_of(tally)
    assert (line, reasons) == (2, ("line is not valid UTF-8",))
    assert raw.startswith("\\xff\\xff")


def test_a_long_blank_line_is_a_blank_line() -> None:
    data = body_of(line_of(payload("r-1"))) + b" " * (MAX_LINE_BYTES + 5000) + b"\n"
    batches, tally = load(pieces(data, 1000), replace(DEFAULT_LIMITS, read_bytes=1000))
    assert (stored_request_ids(batches), tally.blank_lines, tally.quarantine.entries) == (["r-1"], 1, [])


# --- gzip --------------------------------------------------------------------------------------------------------


def test_inflate_hands_out_bounded_pieces_of_a_bomb() -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    sizes = [len(piece) for piece in inflate(pieces(bomb, 512), 65_536)]
    assert max(sizes) <= 65_536
    assert sum(sizes) == 10_000_000


def test_inflate_reads_every_member_and_refuses_a_truncated_stream() -> None:
    data = gzip.compress(b"one\n") + gzip.compress(b"two\n")
    assert b"".join(inflate(pieces(data, 3), 2)) == b"one\ntwo\n"
    with pytest.raises(ObjectFormatError, match="truncated"):
        b"".join(inflate([data[:-5]], 1024))
    with pytest.raises(ObjectFormatError, match="corrupt gzip stream"):
        b"".join(inflate([data + b"trailing garbage"], 1024))


# --- screening: objects quarantined as a whole ------------------------------------------------------------------


def test_gzip_objects_and_plain_objects_with_more_bytes_than_lines_allowed_are_screened() -> None:
    assert needs_screening(gzip.compress(b"x")[:2], 30, SMALL)
    assert not needs_screening(b"{}", SMALL.max_object_lines, SMALL)
    assert needs_screening(b"{}", SMALL.max_object_lines + 1, SMALL)


def test_an_object_stored_larger_than_the_limit_is_refused_unread() -> None:
    assert stored_size_refusal(SMALL.max_object_bytes, SMALL) is None
    assert stored_size_refusal(SMALL.max_object_bytes + 1, SMALL) == (
        f"object is {SMALL.max_object_bytes + 1:,} bytes; the limit is {SMALL.max_object_bytes:,} bytes"
    )


def test_screening_refuses_a_bomb_too_many_lines_and_a_corrupt_stream_and_passes_the_rest() -> None:
    bomb = gzip.compress(b"x" * (SMALL.max_object_bytes + 1))
    assert screen_object(pieces(bomb, 1024), limits=SMALL) == (
        f"object decompresses to more than {SMALL.max_object_bytes:,} bytes"
    )
    few_lines = replace(SMALL, max_object_lines=3)
    assert screen_object([b"a\nb\nc"], limits=few_lines) is None
    assert screen_object([b"a\nb\nc\nd"], limits=few_lines) == "object has more than 3 lines"
    assert screen_object([gzip.compress(b"a\nb\nc\nd\n")], limits=few_lines) == "object has more than 3 lines"
    assert str(screen_object([gzip.compress(b"a\n")[:-3]], limits=SMALL)).startswith("corrupt gzip stream")
    assert screen_object(pieces(gzip.compress(body_of(line_of(payload("r-1")))), 7), limits=SMALL) is None


def test_a_gzip_bomb_with_valid_lines_first_is_quarantined_whole_and_nothing_loads() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = compressor.compress(body_of(line_of(payload("r-1"))))
    bomb += compressor.compress(b" " * (SMALL.max_object_bytes + 1)) + compressor.flush()
    result = load_object(bomb, key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30, limits=SMALL)
    assert (result.items, result.reads) == ([], 1)  # screened, never loaded
    assert [(entry.line, entry.reasons) for entry in result.quarantined] == [
        (None, (f"object decompresses to more than {SMALL.max_object_bytes:,} bytes",))
    ]


# --- the quarantine's caps ---------------------------------------------------------------------------------------


def test_the_quarantine_lists_its_first_entries_and_counts_every_refused_line_by_reason() -> None:
    limits = replace(DEFAULT_LIMITS, max_quarantine_entries=3)
    bad_json = [f"not json {index}" for index in range(6)]
    bad_score = [line_of(payload(f"s-{index}", prediction={"score": 2.0, "label": 0})) for index in range(4)]
    lines = [line_of(payload("r-1")), *bad_json, *bad_score, line_of(payload("r-2"))]
    batches, tally = load([body_of(*lines)], limits)
    assert stored_request_ids(batches) == ["r-1", "r-2"]
    log = tally.quarantine
    assert [entry.line for entry in log.entries] == [2, 3, 4]
    assert (log.count, log.omitted) == (10, 7)
    assert log.reason_counts == {
        "not valid JSON: Expecting value": 6,
        "'prediction.score' must be a finite number in [0, 1], got 2.0": 4,
    }


def test_the_quarantine_stops_listing_at_its_byte_cap() -> None:
    limits = replace(DEFAULT_LIMITS, max_quarantine_bytes=30_000)
    lines = [f"not json {'x' * 10_000} {index}" for index in range(10)]
    _, tally = load([body_of(*lines)], limits)
    log = tally.quarantine
    assert [entry.line for entry in log.entries] == [1, 2, 3]  # raw lines are cut at 8 Ki characters: ~8.3 KB each
    assert log.listed_bytes <= 30_000
    assert log.count == 10


def test_reasons_beyond_the_counted_ones_are_counted_together() -> None:
    log = QuarantineLog(max_entries=0, max_bytes=0)
    for index in range(MAX_REASON_KEYS + 5):
        log.add(index + 1, "x", (f"missing field 'f{index}'",))
    assert len(log.reason_counts) == MAX_REASON_KEYS
    assert log.other_reasons == 5
    assert (log.count, log.entries) == (MAX_REASON_KEYS + 5, [])


def test_a_json_error_is_counted_without_its_position_and_a_long_reason_is_cut() -> None:
    log = QuarantineLog(max_entries=10, max_bytes=10_000)
    log.add(1, "{", ("not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",))
    log.add(2, "{ ", ("not valid JSON: Expecting property name enclosed in double quotes: line 1 column 3 (char 2)",))
    log.add(3, "x", ("y" * 1000,))
    assert log.reason_counts == {"not valid JSON: Expecting property name enclosed in double quotes": 2, "y" * 200: 1}
    assert log.entries[0].reasons == (
        "not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
    )


def test_the_quarantine_object_of_a_poisoned_object_is_bounded_and_starts_with_its_summary() -> None:
    poisoned = gzip.compress(body_of(line_of(payload("r-1"))) + b"x\n" * 500_000 + body_of(line_of(payload("r-2"))))
    assert len(poisoned) < 2048
    result = load_object(poisoned, key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30, limits=SMALL)
    assert sorted(stored_request_ids([result.items])) == ["r-1", "r-2"]
    rendered = result.quarantine_object  # as process_object wrote it
    assert len(rendered) <= 2 * SMALL.max_quarantine_bytes
    summary, *entries = [json.loads(line) for line in rendered.decode().splitlines()]
    assert len(entries) == SMALL.max_quarantine_entries
    assert [entry["line"] for entry in entries] == list(range(2, 2 + SMALL.max_quarantine_entries))
    assert "summary" not in entries[0]
    assert summary == {
        "source_bucket": BUCKET,
        "source_key": KEY,
        "source_etag": ETAG,
        "record_kind": "payload",
        "line": None,
        "summary": True,
        "quarantined": 500_000,
        "listed": SMALL.max_quarantine_entries,
        "omitted": 500_000 - SMALL.max_quarantine_entries,
        "non_finite_records": 0,
        "non_finite_by_feature": {},
        "other_non_finite_features": 0,
        "reason_counts": {"not valid JSON: Expecting value": 500_000},
        "other_reasons": 0,
    }


def test_a_quarantine_within_its_caps_also_starts_with_its_summary() -> None:
    result = load_object(body_of("nope"), key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30)
    summary, entry = [json.loads(line) for line in result.quarantine_object.splitlines()]
    assert (summary["summary"], summary["quarantined"], summary["omitted"]) == (True, 1, 0)
    assert (entry["line"], "summary" in entry) == (1, False)


# --- segments: bounded open memory, bounded batches, bounded count ----------------------------------------------


def test_open_segments_past_their_budget_are_written_early_and_every_record_is_stored_once() -> None:
    limits = replace(DEFAULT_LIMITS, open_segment_bytes=60_000, write_batch_bytes=50_000)
    documents = [payload(f"r-{index:04d}", START + timedelta(hours=index % 48)) for index in range(2000)]
    batches, tally = load([body_of(*map(line_of, documents))], limits)
    assert sorted(stored_request_ids(batches)) == [document["request_id"] for document in documents]
    assert tally.loaded == 2000
    items = [item for batch in batches for item in batch]
    keys = [item["sk"]["S"] for item in items]
    assert len(set(keys)) == len(keys)
    chunks = {int(key.rsplit("#", 1)[1]) for key in keys}
    assert min(chunks) == 0
    assert max(chunks) >= CHUNKS_PER_GENERATION  # segments were written early, then new ones opened
    for item in items:
        hours = {time[:13] for time in json.loads(item["body"]["S"])["timestamp"]}
        assert hours == {item["sk"]["S"].split("#")[1]}
    for batch in batches:
        assert len(batch) <= 25
        assert len(batch) == 1 or sum(len(item["body"]["S"]) for item in batch) <= 50_000
    again, _ = load([body_of(*map(line_of, documents))], limits)
    assert again == batches  # deterministic: a retry re-puts the same items


def test_an_object_written_early_is_written_identically_with_any_memory_setting() -> None:
    # 48 hours of records, no hour's segment full: the open segments pass their budget and are written early.
    documents = [
        payload(f"r-{index:05d}", START + timedelta(hours=index % 48), features={"notes": "n" * 300})
        for index in range(24_000)
    ]
    body = body_of(*map(line_of, documents))
    small, large = EtlLimits.for_memory(MIN_MEMORY_MB), EtlLimits.for_memory(3008)
    assert small.open_segment_bytes < len(body) < small.max_object_bytes
    first = load_object(body, key=KEY, retention_days=30, limits=small)
    again = load_object(body, key=KEY, retention_days=30, limits=large)  # a retry after the memory was raised
    assert max(int(item["sk"]["S"].rsplit("#", 1)[1]) for item in first.items) >= CHUNKS_PER_GENERATION
    assert again.items == first.items
    assert first.result.loaded == again.result.loaded == len(documents)


def test_records_that_would_start_a_segment_past_the_limit_are_quarantined() -> None:
    limits = replace(DEFAULT_LIMITS, max_segments=3)
    hours = [0, 1, 2, 3, 0, 4]
    lines = [line_of(payload(f"r-{index}", START + timedelta(hours=hour))) for index, hour in enumerate(hours)]
    batches, tally = load([body_of(*lines)], limits)
    assert sorted(stored_request_ids(batches)) == ["r-0", "r-1", "r-2", "r-4"]  # r-4 joins hour 0's segment
    assert [entry.line for entry in tally.quarantine.entries] == [4, 6]
    assert tally.quarantine.entries[0].reasons[0].startswith("the object's records need more than 3 segments")
    assert (tally.loaded, tally.records) == (4, 6)


# --- limits from memory ------------------------------------------------------------------------------------------


def test_every_limit_grows_with_the_functions_memory() -> None:
    small, large = EtlLimits.for_memory(MIN_MEMORY_MB), EtlLimits.for_memory(1024)
    for name in ("max_object_bytes", "max_object_lines", "write_batch_bytes"):
        assert 0 < getattr(small, name) < getattr(large, name)
    assert small.open_segment_bytes == large.open_segment_bytes == OPEN_SEGMENT_BYTES  # segment keys depend on it
    assert 0 < small.max_quarantine_entries < large.max_quarantine_entries
    assert small.read_bytes <= large.read_bytes
    assert (small.lake_chunk_rows, small.lake_chunk_bytes) == (large.lake_chunk_rows, large.lake_chunk_bytes)
    with pytest.raises(ValueError, match=f"at least {MIN_MEMORY_MB} MB"):
        EtlLimits.for_memory(MIN_MEMORY_MB - 1)


@pytest.mark.parametrize("memory_mb", [MIN_MEMORY_MB, 768, 1769, 10_240])
def test_the_worst_case_state_of_an_object_fits_the_working_memory(memory_mb: int) -> None:
    limits = EtlLimits.for_memory(memory_mb)
    working = (memory_mb - RUNTIME_RESERVE_MB - LAKE_CHUNK_MB) * 1024 * 1024
    request_ids = limits.max_object_bytes * 1.2  # ~100 bytes of set per ~80-byte label, the smallest record
    state = request_ids + limits.open_segment_bytes + 4 * limits.write_batch_bytes + 3 * limits.max_quarantine_bytes
    assert state + 32 * limits.read_bytes < working


def test_the_memory_size_is_read_from_the_lambda_runtime_and_defaults_to_infras() -> None:
    assert EtlLimits.from_env({}) == EtlLimits.for_memory(DEFAULT_MEMORY_MB) == DEFAULT_LIMITS
    assert EtlLimits.from_env({MEMORY_SIZE_VARIABLE: "1024"}) == EtlLimits.for_memory(1024)
    with pytest.raises(InvalidSettingError, match=MEMORY_SIZE_VARIABLE):
        EtlLimits.from_env({MEMORY_SIZE_VARIABLE: "lots"})


# --- the quarantine key ------------------------------------------------------------------------------------------


def test_a_short_source_key_keeps_its_quarantine_key_as_documented() -> None:
    assert quarantine_object_key(KEY, f'"{ETAG}"') == f"quarantine/{KEY}.{ETAG}.errors.jsonl"


@pytest.mark.parametrize("filler", ["x", "é", "€", "😀"])
def test_a_source_key_near_s3s_limit_gets_a_valid_quarantine_key(filler: str) -> None:
    prefix = "payloads/model=churn/dt=2026-11-23/"
    key = prefix + filler * ((MAX_KEY_BYTES - len(prefix)) // len(filler.encode()))
    assert len(key.encode()) > MAX_KEY_BYTES - len(filler.encode())
    quarantine_key = quarantine_object_key(key, ETAG + "-12")
    assert len(quarantine_key.encode()) <= MAX_KEY_BYTES
    assert quarantine_key.startswith("quarantine/" + prefix)
    assert quarantine_key.endswith(".errors.jsonl")
    assert quarantine_object_key(key, ETAG + "-12") == quarantine_key
    assert quarantine_object_key(key, ETAG + "-13") != quarantine_key
    assert quarantine_object_key(key[:-1] + "y", ETAG + "-12") != quarantine_key


def test_random_long_keys_always_get_distinct_valid_quarantine_keys() -> None:
    rng = random.Random(7)
    alphabet = "abc/=-_.é€😀"
    keys = {"payloads/model=churn/" + "".join(rng.choices(alphabet, k=rng.randrange(900, 1000))) for _ in range(200)}
    keys = {key for key in keys if len(key.encode()) <= MAX_KEY_BYTES}
    quarantine_keys = {quarantine_object_key(key, ETAG) for key in keys}
    assert len(quarantine_keys) == len(keys)
    assert all(len(key.encode()) <= MAX_KEY_BYTES for key in quarantine_keys)
