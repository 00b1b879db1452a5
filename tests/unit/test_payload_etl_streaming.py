"""The ETL's streaming parser and its per-object caps, in memory: pieces of bytes in; lake rows, alerting aggregates
and quarantine out."""

from __future__ import annotations

import functools
import gzip
import json
import random
import tracemalloc
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates import Judge, bucket_start
from core.layout import MAX_KEY_BYTES, quarantine_object_key
from core.record_limits import MAX_RECORD_CHARS
from core.records import RecordKind, format_timestamp
from core.settings import InvalidSettingError
from lambdas.payload_etl.extract import (
    MAX_LINE_BYTES,
    MAX_QUARANTINED_RAW_CHARS,
    MAX_REASON_KEYS,
    LakeRows,
    LongLine,
    ObjectAggregates,
    ObjectFormatError,
    ObjectLines,
    QuarantineLog,
    Tally,
    inflate,
    load_object,
    load_payloads,
    needs_screening,
    screen_object,
    stored_size_refusal,
)
from lambdas.payload_etl.limits import (
    DEFAULT_LIMITS,
    DEFAULT_MEMORY_MB,
    LAKE_CHUNK_MB,
    MEMORY_SIZE_VARIABLE,
    MIN_MEMORY_MB,
    RUNTIME_RESERVE_MB,
    EtlLimits,
)
from lambdas.payload_etl.models import LakeChunk, LakeOutput, ObjectRef
from tests.baselines import BASELINE
from tests.payload_etl_fakes import Loaded, MemoryLake, lake_rows
from tests.payload_etl_fakes import load_object as process

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


@dataclass(frozen=True)
class Streamed:
    """What `load_object` made of an object: its lake files (in the order written), its aggregate items, its tally."""

    lake: MemoryLake
    items: list[dict[str, Any]]
    tally: Tally

    @property
    def request_ids(self) -> list[str]:
        return [str(row["request_id"]) for row in lake_rows(self.lake)]


def load(
    chunks: Iterable[bytes], limits: EtlLimits = DEFAULT_LIMITS, kind: RecordKind = RecordKind.PAYLOAD
) -> Streamed:
    """`extract.load_object` over these pieces: the lake files and aggregate items it made, and its tally."""
    tally = Tally.for_limits(limits)
    lake = MemoryLake()
    rows = LakeRows(SOURCE, kind, LakeOutput({}, lake.write), limits)
    aggregates = ObjectAggregates(lambda version: None)
    load_object(chunks, source=SOURCE, kind=kind, tally=tally, limits=limits, lake=rows, aggregates=aggregates)
    return Streamed(lake, aggregates.items("churn", "digest", 30), tally)


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
def test_any_split_into_pieces_gives_the_lake_rows_aggregates_and_quarantine_of_the_whole_object(
    kinds: list[tuple[str, int]], size: int, compressed: bool, bom: bool
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + mixed_object(kinds)
    if compressed:
        cut = len(data) // 2  # two gzip members, the second starting mid-line
        data = gzip.compress(data[:cut]) + gzip.compress(data[cut:])
    whole_object = load([data])
    limits = replace(DEFAULT_LIMITS, read_bytes=max(1, size // 3))  # decompressed pieces that small too
    split_object = load(pieces(data, size), limits)
    assert split_object.lake.files == whole_object.lake.files
    assert split_object.items == whole_object.items
    split, whole = split_object.tally, whole_object.tally
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
    streamed = load([data[:cut], data[cut:]])
    assert streamed.request_ids == ["r-1", "r-2"]
    assert streamed.tally.quarantine.entries == []


def test_a_byte_order_mark_split_across_pieces_is_dropped() -> None:
    data = b"\xef\xbb\xbf" + body_of(line_of(payload("r-1")))
    streamed = load([data[:1], data[1:2], data[2:]])
    assert streamed.request_ids == ["r-1"]
    assert streamed.tally.quarantine.entries == []


def test_a_last_line_without_a_newline_is_a_line() -> None:
    data = body_of(line_of(payload("r-1"))) + line_of(payload("r-2")).encode()
    assert load(pieces(data, 10)).request_ids == ["r-1", "r-2"]


def test_lake_files_are_written_while_the_object_is_still_being_read() -> None:
    consumed = 0
    written: list[tuple[int, LakeChunk]] = []

    def lines() -> Iterator[str]:
        nonlocal consumed
        for index in range(3000):
            consumed += 1
            yield line_of(payload(f"r-{index:05d}", features={"blob": "x" * 200}))

    limits = replace(DEFAULT_LIMITS, lake_chunk_rows=1000)
    output = LakeOutput({}, lambda chunk: written.append((consumed, chunk)))
    rows = LakeRows(SOURCE, RecordKind.PAYLOAD, output, limits)
    load_payloads(lines(), model_name="churn", source=SOURCE, tally=Tally(), lake=rows)
    assert [(at, chunk.rows) for at, chunk in written] == [(1000, 1000), (2000, 1000), (3000, 1000)]


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
    streamed = load(pieces(data, 4096), limits)
    assert streamed.request_ids == ["r-1", "r-2"]
    ((line, reasons, raw, raw_chars),) = quarantine_of(streamed.tally)
    assert (line, reasons) == (2, (f"record is {len(long_line)} characters long; the limit is {MAX_RECORD_CHARS}",))
    assert (raw, raw_chars) == (long_line[:MAX_QUARANTINED_RAW_CHARS], len(long_line))
    # The same entry as when the line fits one piece.
    assert quarantine_of(load([data]).tally) == quarantine_of(streamed.tally)


def test_a_long_line_that_is_not_utf8_is_quarantined_as_such() -> None:
    data = (
        body_of(line_of(payload("r-1"))) + b"\xff" * (MAX_LINE_BYTES + 5000) + b"\n" + body_of(line_of(payload("r-2")))
    )
    streamed = load(pieces(data, 1000), replace(DEFAULT_LIMITS, read_bytes=1000))
    assert streamed.request_ids == ["r-1", "r-2"]
    ((line, reasons, raw, _),) = quarantine_of(streamed.tally)
    assert (line, reasons) == (2, ("line is not valid UTF-8",))
    assert raw.startswith("\\xff\\xff")


def test_a_long_blank_line_is_a_blank_line() -> None:
    data = body_of(line_of(payload("r-1"))) + b" " * (MAX_LINE_BYTES + 5000) + b"\n"
    streamed = load(pieces(data, 1000), replace(DEFAULT_LIMITS, read_bytes=1000))
    assert (streamed.request_ids, streamed.tally.blank_lines, streamed.tally.quarantine.entries) == (["r-1"], 1, [])


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
    result = process(bomb, key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30, limits=SMALL)
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
    streamed = load([body_of(*lines)], limits)
    assert streamed.request_ids == ["r-1", "r-2"]
    log = streamed.tally.quarantine
    assert [entry.line for entry in log.entries] == [2, 3, 4]
    assert (log.count, log.omitted) == (10, 7)
    assert log.reason_counts == {
        "not valid JSON: Expecting value": 6,
        "'prediction.score' must be a finite number in [0, 1], got 2.0": 4,
    }


def test_the_quarantine_stops_listing_at_its_byte_cap() -> None:
    limits = replace(DEFAULT_LIMITS, max_quarantine_bytes=30_000)
    lines = [f"not json {'x' * 10_000} {index}" for index in range(10)]
    log = load([body_of(*lines)], limits).tally.quarantine
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
    result = process(poisoned, key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30, limits=SMALL)
    assert sorted(result.request_ids) == ["r-1", "r-2"]
    assert result.aggregate.refused == 500_000  # no arrival time: counted in the newest records' bucket
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
    result = process(body_of("nope"), key=KEY, bucket=BUCKET, etag=ETAG, retention_days=30)
    summary, entry = [json.loads(line) for line in result.quarantine_object.splitlines()]
    assert (summary["summary"], summary["quarantined"], summary["omitted"]) == (True, 1, 0)
    assert (entry["line"], "summary" in entry) == (1, False)


# --- aggregates: memory bounded per bucket, keys independent of memory ------------------------------------------


def test_an_objects_aggregates_are_one_per_bucket_whatever_its_record_count_and_every_record_is_counted_once() -> None:
    moments = [START + timedelta(seconds=67 * index) for index in range(2000)]  # ~37 hours, ~4.5 records a bucket
    streamed = load([body_of(*(line_of(payload(f"r-{index:04d}", moment)) for index, moment in enumerate(moments)))])
    assert len(streamed.items) == len({bucket_start(moment) for moment in moments})
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in streamed.items]
    assert len(set(keys)) == len(keys)
    assert sum(int(item["rows"]["N"]) for item in streamed.items) == streamed.tally.loaded == 2000


def test_an_aggregate_takes_memory_per_bucket_not_per_record() -> None:
    # One bucket: 2,000 records whose names and values a bucket could list are all distinct. What the aggregate
    # keeps of them must not grow with the records (the limits give it "a few KB" a bucket: limits.py).
    documents = [
        payload(f"r-{index}", START, features={"plan": f"plan-{index:05d}" + "p" * 90, f"x-{index:05d}" + "n" * 90: 1})
        for index in range(2000)
    ]
    aggregates = ObjectAggregates(lambda version: Judge.of(BASELINE))
    lines = list(map(line_of, documents))
    tracemalloc.start()
    try:
        load_payloads(lines, model_name="churn", source=SOURCE, tally=Tally(), aggregates=aggregates)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert aggregates.buckets == 1
    assert held < 128 * 1024, f"one bucket's aggregate holds {held:,} bytes after 2,000 records"


def test_an_object_is_aggregated_identically_with_any_memory_setting() -> None:
    # 48 hours of records: a retry after the function's memory was changed must rewrite the same keys and bodies.
    documents = [
        payload(f"r-{index:05d}", START + timedelta(hours=index % 48), features={"notes": "n" * 300})
        for index in range(6_000)
    ]
    body = body_of(*map(line_of, documents))
    small, large = EtlLimits.for_memory(MIN_MEMORY_MB), EtlLimits.for_memory(3008)
    first: Loaded = process(body, key=KEY, retention_days=30, limits=small, arrival_epoch=1_795_500_000)
    again: Loaded = process(body, key=KEY, retention_days=30, limits=large, arrival_epoch=1_795_500_000)
    assert len(first.items) == 48
    assert again.items == first.items
    assert again.lake.files == first.lake.files
    assert first.result.loaded == again.result.loaded == len(documents)


# --- limits from memory ------------------------------------------------------------------------------------------


def test_every_limit_grows_with_the_functions_memory() -> None:
    small, large = EtlLimits.for_memory(MIN_MEMORY_MB), EtlLimits.for_memory(1024)
    for name in ("max_object_bytes", "max_object_lines"):
        assert 0 < getattr(small, name) < getattr(large, name)
    assert 0 < small.max_quarantine_entries < large.max_quarantine_entries
    assert small.read_bytes <= large.read_bytes
    assert (small.lake_chunk_rows, small.lake_chunk_bytes) == (large.lake_chunk_rows, large.lake_chunk_bytes)
    with pytest.raises(ValueError, match=f"at least {MIN_MEMORY_MB} MB"):
        EtlLimits.for_memory(MIN_MEMORY_MB - 1)


@functools.cache
def bucket_memory() -> float:
    """The memory one bucket's aggregate holds, measured over 2,000 buckets of records of the two-feature baseline's
    model."""
    buckets = 2_000
    aggregates = ObjectAggregates(lambda version: Judge.of(BASELINE))
    epoch = int(START.timestamp())
    tracemalloc.start()
    try:
        for index in range(buckets):
            features = {"tenure": index, "plan": None if index % 2 else "pro"}
            aggregates.add("v1", epoch + 300 * index, 0.5, index % 2, 10.0 + index % 7, features)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert aggregates.buckets == buckets
    return held / buckets


@pytest.mark.parametrize("memory_mb", [MIN_MEMORY_MB, 768, 1769, 10_240])
def test_the_worst_case_state_of_an_object_fits_the_working_memory(memory_mb: int) -> None:
    limits = EtlLimits.for_memory(memory_mb)
    working = (memory_mb - RUNTIME_RESERVE_MB - LAKE_CHUNK_MB) * 1024 * 1024
    request_ids = limits.max_object_bytes * 1.2  # ~100 bytes of set per ~80-byte label, the smallest record
    aggregates = bucket_memory() * limits.max_lake_days * 288  # every bucket of the object's days
    state = request_ids + aggregates + 3 * limits.max_quarantine_bytes
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
