"""Pure extraction: object bytes -> segment items and quarantined lines, without AWS."""

from __future__ import annotations

import gzip
import json
import random
import string
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoretrain.contracts import RecordKind, format_timestamp
from autoretrain.tables import (
    SEGMENT_MAX_BYTES,
    decode_segment_body,
    label_window_pk,
    segment_pk,
    segment_sk,
    window_pk,
    window_sk,
)
from lambdas.payload_etl.extract import (
    MAX_QUARANTINED_RAW_CHARS,
    MAX_RECORD_CHARS,
    ObjectFormatError,
    Tally,
    decode_object,
    extract,
    object_batches,
)
from lambdas.payload_etl.models import ObjectRef

BUCKET = "payload-bucket"
ETAG = "0123456789abcdef0123456789abcdef"
PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/a.jsonl"
#: DynamoDB's item size limit (attribute names and values), and its key size limits.
DYNAMODB_ITEM_LIMIT = 400 * 1024
DYNAMODB_PARTITION_KEY_LIMIT = 2048
DYNAMODB_SORT_KEY_LIMIT = 1024


def payload(request_id: str = "r-1", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3, "charges": 10.5},
        "prediction": {"score": 0.31, "label": 1},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def label(request_id: str = "r-1", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": "churn",
        "label": 1,
        "observed_at": "2026-12-20T00:00:00Z",
    }
    document.update(changes)
    return document


def jsonl(*documents: object) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def source(key: str = PAYLOAD_KEY, etag: str = ETAG, size: int = 0) -> ObjectRef:
    return ObjectRef(BUCKET, key, etag, size)


def run(body: bytes, key: str = PAYLOAD_KEY, kind: RecordKind = RecordKind.PAYLOAD, etag: str = ETAG) -> Any:
    return extract(body, source=source(key, etag, len(body)), kind=kind, retention_days=90)


def lines_of(items: list[Any]) -> list[str]:
    """Every stored line, segment after segment."""
    return [line for item in items for line in decode_segment_body(item["body"]["S"])]


def documents_of(items: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(items)]


def request_ids_of(items: list[Any]) -> list[str]:
    return [document["request_id"] for document in documents_of(items)]


def at(moment: datetime) -> str:
    return format_timestamp(moment)


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (a number at most its digits)."""
    size = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        size += len(name.encode())
        size += len(content) if kind == "B" else len(str(content).encode())
    return size


# --- what a record becomes ---------------------------------------------------------------------------------


def test_a_valid_payload_becomes_a_segment_with_the_documented_keys() -> None:
    line = json.dumps(payload())
    (item,) = run((line + "\n").encode()).items
    pk, sk = segment_pk(BUCKET, PAYLOAD_KEY), segment_sk(ETAG, "2026-11-23T10", 0)
    assert item["pk"] == {"S": pk}
    assert item["sk"] == {"S": sk}
    assert item["gsi1pk"] == {"S": window_pk("churn", "2026-11-23")}
    assert item["gsi1sk"] == {"S": window_sk("2026-11-23T10:00:00.123Z", pk, sk)}
    assert item["last_ts"] == {"S": "2026-11-23T10:00:00.123Z"}
    assert item["record_count"] == {"N": "1"}
    assert item["expires_at"] == {"N": str(1795428000 + 90 * 86400)}
    assert decode_segment_body(item["body"]["S"]) == [line]


def test_the_stored_record_is_the_source_line_verbatim_with_unknown_keys() -> None:
    line = '{"request_id":"r-1","session":"s-9",  "model_name":"churn","model_version":"v1",' + (
        '"timestamp":"2026-11-23T10:00:00.123Z","features":{"x":1},"prediction":{"score":0.5,"label":0}}'
    )
    assert lines_of(run((line + "\n").encode()).items) == [line]


def test_a_label_becomes_a_label_segment_indexed_by_its_observation_time() -> None:
    line = json.dumps(label())
    (item,) = run((line + "\n").encode(), key=LABEL_KEY, kind=RecordKind.LABEL).items
    pk, sk = segment_pk(BUCKET, LABEL_KEY), segment_sk(ETAG, "2026-12-20T00", 0)
    assert (item["pk"], item["sk"]) == ({"S": pk}, {"S": sk})
    assert item["gsi1pk"] == {"S": label_window_pk("churn", "2026-12-20")}
    assert item["gsi1sk"] == {"S": window_sk("2026-12-20T00:00:00.000Z", pk, sk)}  # canonical, not as written
    assert item["last_ts"] == {"S": "2026-12-20T00:00:00.000Z"}
    assert decode_segment_body(item["body"]["S"]) == [line]


def test_a_tiny_score_and_a_huge_latency_are_stored_as_written() -> None:
    # Records are stored as text, not DynamoDB numbers: no number range applies.
    line = json.dumps(payload(prediction={"score": 1e-200, "label": 0}, latency_ms=1e200))
    result = run((line + "\n").encode())
    assert result.quarantined == []
    (document,) = documents_of(result.items)
    assert (document["prediction"]["score"], document["latency_ms"]) == (1e-200, 1e200)


# --- quarantine ----------------------------------------------------------------------------------------------


def test_a_malformed_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "r-2", \n' + jsonl(payload("r-3"))
    result = run(body)
    assert request_ids_of(result.items) == ["r-1", "r-3"]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons[0].startswith("not valid JSON: ")
    assert bad.raw == '{"request_id": "r-2", '


def test_a_wrong_type_is_quarantined_with_the_field_named() -> None:
    (bad,) = run(jsonl(payload(latency_ms="fast"))).quarantined
    assert bad.reasons == ("'latency_ms' must be a non-negative finite number, got 'fast'",)


def test_every_problem_of_a_record_is_listed() -> None:
    (bad,) = run(jsonl(payload(latency_ms=-1, prediction={"score": 2.0, "label": 3}))).quarantined
    assert bad.reasons == (
        "'prediction.score' must be a finite number in [0, 1], got 2.0",
        "'prediction.label' must be 0 or 1, got 3",
        "'latency_ms' must be a non-negative finite number, got -1",
    )


def test_a_missing_field_is_quarantined_with_the_field_named() -> None:
    document = payload()
    del document["timestamp"]
    (bad,) = run(jsonl(document)).quarantined
    assert bad.reasons == ("missing field 'timestamp'",)


def test_a_json_value_that_is_not_an_object_is_quarantined() -> None:
    (bad,) = run(b"[1, 2]\n").quarantined
    assert bad.reasons == ("a payload record must be a JSON object, got list",)


def test_an_empty_object_is_quarantined_as_a_whole() -> None:
    result = run(b"")
    assert result.items == []
    (bad,) = result.quarantined
    assert (bad.line, bad.reasons) == (None, ("object is empty (0 bytes)",))


def test_an_object_of_blank_lines_is_quarantined_as_a_whole() -> None:
    (bad,) = run(b"\n  \n\n").quarantined
    assert bad.reasons == ("object holds only blank lines",)


def test_a_model_that_differs_from_the_key_partition_is_quarantined() -> None:
    result = run(jsonl(payload("r-1"), payload("r-2", model_name="fraud")))
    assert request_ids_of(result.items) == ["r-1"]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons == ("model_name 'fraud' does not match the object key's partition model=churn",)


def test_records_of_a_key_without_a_model_partition_are_quarantined() -> None:
    result = run(jsonl(payload()), key="payloads/2026-11-23/a.jsonl")
    assert result.items == []
    assert "no valid model=<name> partition" in result.quarantined[0].reasons[0]


def test_records_of_a_key_with_an_invalid_model_partition_are_quarantined() -> None:
    result = run(jsonl(payload(model_name="bad#name")), key="payloads/model=bad#name/a.jsonl")
    assert result.items == []
    assert "no valid model=<name> partition" in result.quarantined[0].reasons[0]


def test_a_line_that_is_not_utf8_is_quarantined_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "\xff\xfe"}\n' + jsonl(payload("r-3"))
    result = run(body)
    assert request_ids_of(result.items) == ["r-1", "r-3"]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons[0].startswith("line is not valid UTF-8")
    assert "\\xff" in bad.raw


def test_a_record_too_long_to_store_is_quarantined_with_a_bounded_raw_copy() -> None:
    result = run(jsonl(payload(features={"blob": "x" * MAX_RECORD_CHARS})))
    assert result.items == []
    (bad,) = result.quarantined
    assert bad.reasons[0].startswith("record is ")
    assert len(bad.raw) == MAX_QUARANTINED_RAW_CHARS
    assert bad.raw_chars > MAX_RECORD_CHARS


def test_trailing_data_after_a_record_is_quarantined() -> None:
    (bad,) = run(jsonl(payload()).rstrip() + b" {}\n").quarantined
    assert bad.reasons[0].startswith("not valid JSON: Extra data")


def test_deeply_nested_json_is_quarantined_not_raised() -> None:
    (bad,) = run(b"[" * 60_000 + b"\n").quarantined
    assert bad.reasons[0].startswith("not valid JSON")


def test_a_payload_under_labels_is_quarantined_as_a_label_violation() -> None:
    (bad,) = run(jsonl(payload()), key=LABEL_KEY, kind=RecordKind.LABEL).quarantined
    assert bad.reasons == ("missing field 'label'", "missing field 'observed_at'")


def test_a_bad_label_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(label("r-1")) + b"not json\n" + jsonl(label("r-3", label=2), label("r-4"))
    result = run(body, key=LABEL_KEY, kind=RecordKind.LABEL)
    assert request_ids_of(result.items) == ["r-1", "r-4"]
    assert [(bad.line, bad.reasons[0][:14]) for bad in result.quarantined] == [
        (2, "not valid JSON"),
        (3, "'label' must b"),
    ]


# --- object format -------------------------------------------------------------------------------------------


def test_a_gzip_object_is_detected_by_its_magic_bytes_not_its_suffix() -> None:
    result = run(gzip.compress(jsonl(payload("r-1"), payload("r-2"))), key=PAYLOAD_KEY)
    assert request_ids_of(result.items) == ["r-1", "r-2"]
    assert result.quarantined == []


def test_a_multi_member_gzip_object_loads_every_member() -> None:
    body = gzip.compress(jsonl(payload("r-1"))) + gzip.compress(jsonl(payload("r-2")))
    assert request_ids_of(run(body).items) == ["r-1", "r-2"]


def test_a_corrupt_gzip_object_is_quarantined_as_a_whole() -> None:
    body = gzip.compress(jsonl(payload()))[:-12]
    result = run(body)
    assert result.items == []
    (bad,) = result.quarantined
    assert bad.line is None
    assert bad.reasons[0].startswith("corrupt gzip stream")


def test_a_gzip_bomb_is_refused_as_a_whole() -> None:
    body = gzip.compress(b"x" * 10_000)
    with pytest.raises(ObjectFormatError, match="decompresses to more than 1000 bytes"):
        decode_object(body, limit=1000)


def test_blank_lines_are_skipped_and_counted() -> None:
    result = run(b"\n" + jsonl(payload("r-1")) + b"   \n" + jsonl(payload("r-2")))
    assert (request_ids_of(result.items), result.blank_lines, result.records, result.quarantined) == (
        ["r-1", "r-2"],
        2,
        2,
        [],
    )
    assert sum(int(item["record_count"]["N"]) for item in result.items) == 2


def test_blank_lines_among_labels_are_skipped_and_counted() -> None:
    result = run(b"\n" + jsonl(label("r-1")) + b"\t\n", key=LABEL_KEY, kind=RecordKind.LABEL)
    assert (request_ids_of(result.items), result.blank_lines, result.records) == (["r-1"], 2, 1)


def test_a_blank_line_keeps_the_line_numbers_of_the_lines_after_it() -> None:
    (bad,) = run(b"\n\n" + jsonl(payload("r-1")) + b"{\n").quarantined
    assert bad.line == 4


def test_windows_line_endings_and_a_byte_order_mark_are_tolerated() -> None:
    body = (
        b"\xef\xbb\xbf" + jsonl(payload("r-1")).replace(b"\n", b"\r\n") + jsonl(payload("r-2")).replace(b"\n", b"\r\n")
    )
    result = run(body)
    assert request_ids_of(result.items) == ["r-1", "r-2"]
    assert not any(line.endswith("\r") or line.startswith("\ufeff") for line in lines_of(result.items))


def test_a_line_with_surrounding_whitespace_still_loads() -> None:
    assert request_ids_of(run(b"  " + jsonl(payload()).rstrip() + b"  \n").items) == ["r-1"]


# --- duplicates ----------------------------------------------------------------------------------------------


def test_a_duplicate_request_id_in_one_object_is_loaded_once_first_wins() -> None:
    result = run(jsonl(payload("r-1", model_version="first"), payload("r-1", model_version="second")))
    (document,) = documents_of(result.items)
    assert document["model_version"] == "first"
    assert (result.records, result.duplicates) == (2, 1)


def test_a_duplicate_in_another_hour_is_still_a_duplicate() -> None:
    body = jsonl(payload("r-1"), payload("r-1", timestamp="2026-11-23T15:00:00.000Z"))
    result = run(body)
    assert [item["sk"]["S"] for item in result.items] == [segment_sk(ETAG, "2026-11-23T10", 0)]
    assert result.duplicates == 1


def test_a_duplicate_label_in_one_object_is_loaded_once_first_wins() -> None:
    body = jsonl(label("r-1", label=0), label("r-1", label=1, observed_at="2026-12-20T05:00:00Z"))
    result = run(body, key=LABEL_KEY, kind=RecordKind.LABEL)
    assert [document["label"] for document in documents_of(result.items)] == [0]
    assert result.duplicates == 1


def test_a_quarantined_record_does_not_make_a_later_valid_one_a_duplicate() -> None:
    result = run(jsonl(payload("r-1", latency_ms=-1), payload("r-1")))
    assert (request_ids_of(result.items), result.duplicates, len(result.quarantined)) == (["r-1"], 0, 1)


# --- segments ------------------------------------------------------------------------------------------------


def test_records_are_split_into_one_segment_per_utc_hour() -> None:
    times = [
        "2026-11-23T10:59:59.999Z",
        "2026-11-23T10:00:00.000Z",
        "2026-11-23T11:00:00.000Z",
        "2026-11-23T23:59:59.999Z",
        "2026-11-24T00:00:00.000Z",
        "2026-11-23T10:30:00.000Z",
    ]
    result = run(jsonl(*(payload(f"r-{index}", timestamp=time) for index, time in enumerate(times))))
    segments = [
        (item["sk"]["S"], item["gsi1pk"]["S"], item["record_count"]["N"], request_ids_of([item]))
        for item in result.items
    ]
    assert segments == [
        (segment_sk(ETAG, "2026-11-23T10", 0), window_pk("churn", "2026-11-23"), "3", ["r-0", "r-1", "r-5"]),
        (segment_sk(ETAG, "2026-11-23T11", 0), window_pk("churn", "2026-11-23"), "1", ["r-2"]),
        (segment_sk(ETAG, "2026-11-23T23", 0), window_pk("churn", "2026-11-23"), "1", ["r-3"]),
        (segment_sk(ETAG, "2026-11-24T00", 0), window_pk("churn", "2026-11-24"), "1", ["r-4"]),
    ]


def test_a_timestamp_with_an_offset_is_segmented_by_its_utc_hour_and_day() -> None:
    (item,) = run(jsonl(payload(timestamp="2026-11-24T01:30:00+02:00"))).items
    assert item["sk"]["S"] == segment_sk(ETAG, "2026-11-23T23", 0)
    assert item["gsi1pk"]["S"] == window_pk("churn", "2026-11-23")
    assert item["last_ts"]["S"] == "2026-11-23T23:30:00.000Z"


def test_labels_are_split_by_the_utc_hour_of_their_observation() -> None:
    body = jsonl(
        label("r-1", observed_at="2026-12-20T00:10:00Z"),
        label("r-2", observed_at="2026-12-19T23:50:00Z"),
        label("r-3", observed_at="2026-12-20T00:20:00Z"),
    )
    items = run(body, key=LABEL_KEY, kind=RecordKind.LABEL).items
    assert [(item["gsi1pk"]["S"], request_ids_of([item])) for item in items] == [
        (label_window_pk("churn", "2026-12-19"), ["r-2"]),
        (label_window_pk("churn", "2026-12-20"), ["r-1", "r-3"]),
    ]


def test_a_segment_spans_its_earliest_to_its_latest_record_whatever_their_order_in_the_object() -> None:
    times = ["2026-11-23T10:30:00.000Z", "2026-11-23T10:05:00.000Z", "2026-11-23T10:55:00.000Z", "2026-11-23T10:20:00Z"]
    (item,) = run(jsonl(*(payload(f"r-{index}", timestamp=time) for index, time in enumerate(times)))).items
    assert item["gsi1sk"]["S"] == window_sk("2026-11-23T10:05:00.000Z", item["pk"]["S"], item["sk"]["S"])
    assert item["last_ts"]["S"] == "2026-11-23T10:55:00.000Z"
    assert request_ids_of([item]) == ["r-0", "r-1", "r-2", "r-3"]  # object order kept


def test_a_segment_expires_its_retention_after_its_newest_record() -> None:
    body = jsonl(payload("r-1", timestamp="2026-11-23T10:59:59.999Z"), payload("r-2", timestamp="2026-11-23T10:00:00Z"))
    (item,) = run(body).items
    newest = int(datetime(2026, 11, 23, 10, 59, 59, tzinfo=UTC).timestamp())
    assert item["expires_at"] == {"N": str(newest + 90 * 86_400)}


def long_payloads(count: int, *, blob_chars: int, start: datetime, step: timedelta, seed: int = 1) -> list[str]:
    """Payload lines with a random printable blob each (compresses poorly, like the worst real records)."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + string.punctuation.replace('"', "").replace("\\", "")
    return [
        json.dumps(
            payload(
                f"r-{index:05d}",
                timestamp=at(start + index * step),
                features={"blob": "".join(rng.choices(alphabet, k=blob_chars))},
            )
        )
        for index in range(count)
    ]


def test_a_segment_over_the_size_limit_is_split_into_chunks() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(100, blob_chars=10_000, start=start, step=timedelta(seconds=30))
    items = run(("\n".join(lines) + "\n").encode()).items
    assert [item["sk"]["S"] for item in items] == [segment_sk(ETAG, "2026-11-23T10", chunk) for chunk in range(4)]
    chunks = [decode_segment_body(item["body"]["S"]) for item in items]
    assert [line for chunk in chunks for line in chunk] == lines  # every record, once, in object order
    assert [int(item["record_count"]["N"]) for item in items] == [len(chunk) for chunk in chunks]
    sizes = [sum(len(line.encode()) + 1 for line in chunk) for chunk in chunks]
    assert max(sizes) <= SEGMENT_MAX_BYTES
    # A chunk is closed only when the next line does not fit.
    for size, following in zip(sizes, chunks[1:], strict=False):
        assert size + len(following[0].encode()) + 1 > SEGMENT_MAX_BYTES


def test_chunks_of_one_hour_each_span_their_own_records() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(80, blob_chars=10_000, start=start, step=timedelta(seconds=40))
    random.Random(3).shuffle(lines)
    items = run(("\n".join(lines) + "\n").encode()).items
    assert len(items) > 1
    for item in items:
        times = sorted(json.loads(line)["timestamp"] for line in decode_segment_body(item["body"]["S"]))
        assert item["gsi1sk"]["S"] == window_sk(times[0], item["pk"]["S"], item["sk"]["S"])
        assert item["last_ts"]["S"] == times[-1]


def test_a_segment_is_limited_by_its_utf8_bytes_not_its_characters() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    # 20,000 three-byte characters a line: 60 KB each, 20 of them ~1.2 MB, ~400 KB of characters.
    lines = [
        json.dumps(payload(f"r-{index}", timestamp=at(start), features={"blob": "€" * 20_000}), ensure_ascii=False)
        for index in range(20)
    ]
    items = run(("\n".join(lines) + "\n").encode()).items
    assert len(items) == 4
    for item in items:
        assert len("\n".join(decode_segment_body(item["body"]["S"])).encode()) <= SEGMENT_MAX_BYTES
    assert lines_of(items) == lines


def test_every_segment_item_fits_dynamodbs_item_limit_even_for_incompressible_records() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    ascii_lines = long_payloads(150, blob_chars=9_000, start=start, step=timedelta(seconds=20))
    rng = random.Random(5)
    # Random characters from all of Unicode but surrogates: four-byte UTF-8, barely compressible.
    wide_lines = [
        json.dumps(
            payload(
                f"w-{index}",
                timestamp=at(start + timedelta(minutes=index)),
                features={
                    "blob": "".join(chr(rng.randrange(0x10000, 0x110000)) for _ in range(MAX_RECORD_CHARS - 500))
                },
            ),
            ensure_ascii=False,
        )
        for index in range(6)
    ]
    key = "payloads/model=churn/" + "k" * (1024 - len("payloads/model=churn/"))
    result = run(("\n".join(ascii_lines + wide_lines) + "\n").encode(), key=key, etag="f" * 32 + "-10000")
    assert result.quarantined == []
    assert len(result.items) > 4
    assert max(item_bytes(item) for item in result.items) < DYNAMODB_ITEM_LIMIT
    assert Counter(lines_of(result.items)) == Counter(ascii_lines + wide_lines)


def test_index_and_table_keys_fit_dynamodbs_key_limits_for_the_longest_s3_key() -> None:
    key = "payloads/model=churn/dt=2026-11-23/" + "é" * 200
    key += "x" * (1024 - len(key))  # 1,024 characters (more UTF-8 bytes than S3 allows)
    assert len(key) == 1024
    (item,) = run(jsonl(payload()), key=key, etag="a" * 32 + "-10000").items
    assert len(item["gsi1sk"]["S"].encode()) < DYNAMODB_SORT_KEY_LIMIT
    assert len(item["gsi1pk"]["S"].encode()) < DYNAMODB_PARTITION_KEY_LIMIT
    assert len(item["sk"]["S"].encode()) < DYNAMODB_SORT_KEY_LIMIT
    assert len(item["pk"]["S"].encode()) < DYNAMODB_PARTITION_KEY_LIMIT


def test_window_sk_stays_under_the_index_sort_key_limit_for_a_1024_character_key() -> None:
    key = "payloads/model=churn/" + "k" * (1024 - len("payloads/model=churn/"))
    sk = window_sk("2026-11-23T10:00:00.000Z", segment_pk("a" * 63, key), segment_sk("b" * 40, "2026-11-23T10", 9999))
    assert len(sk.encode()) < DYNAMODB_SORT_KEY_LIMIT
    assert sk.startswith("2026-11-23T10:00:00.000Z#")


def test_window_sk_differs_for_segments_that_start_at_the_same_time() -> None:
    first = "2026-11-23T10:00:00.000Z"
    assert window_sk(first, segment_pk("b", "k1"), segment_sk("e", "2026-11-23T10", 0)) != window_sk(
        first, segment_pk("b", "k2"), segment_sk("e", "2026-11-23T10", 0)
    )


def test_extracting_the_same_object_twice_gives_identical_items() -> None:
    start = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    lines = long_payloads(120, blob_chars=5_000, start=start, step=timedelta(minutes=1))
    random.Random(9).shuffle(lines)
    body = ("\n".join(lines) + "\n").encode()
    first, second = run(body).items, run(body).items
    assert len(first) > 2
    assert first == second


def test_a_new_version_of_an_object_gets_new_sort_keys_under_the_same_partition() -> None:
    body = jsonl(payload())
    (old,), (new,) = run(body, etag="etag-1").items, run(body, etag="etag-2").items
    assert old["pk"] == new["pk"]
    assert old["sk"] != new["sk"]
    assert old["gsi1sk"] != new["gsi1sk"]


def test_another_object_with_the_same_records_gets_other_keys() -> None:
    body = jsonl(payload())
    (one,), (other,) = run(body).items, run(body, key=PAYLOAD_KEY.replace("a.jsonl", "b.jsonl")).items
    assert one["pk"] != other["pk"]
    assert one["gsi1sk"] != other["gsi1sk"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * 86_400_000 - 1), st.integers(0, 40_000)),
        min_size=1,
        max_size=60,
    )
)
def test_segments_hold_every_valid_record_once_grouped_by_hour(records: list[tuple[int, int]]) -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)
    lines = [
        json.dumps(
            payload(
                f"r-{index}", timestamp=at(start + timedelta(milliseconds=offset)), features={"blob": "y" * padding}
            )
        )
        for index, (offset, padding) in enumerate(records)
    ]
    items = run(("\n".join(lines) + "\n").encode()).items
    assert sorted(lines_of(items)) == sorted(lines)
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in items]
    assert len(set(keys)) == len(keys)
    for item in items:
        stored = decode_segment_body(item["body"]["S"])
        times = sorted(json.loads(line)["timestamp"] for line in stored)
        hour = item["sk"]["S"].split("#")[1]
        assert {time[:13] for time in times} == {hour}
        assert item["gsi1pk"]["S"] == window_pk("churn", hour[:10])
        assert item["gsi1sk"]["S"].startswith(times[0] + "#")
        assert item["last_ts"]["S"] == times[-1]
        assert int(item["record_count"]["N"]) == len(stored)
        assert len("\n".join(stored).encode()) < SEGMENT_MAX_BYTES


# --- batches -------------------------------------------------------------------------------------------------


def test_batches_hold_at_most_25_items() -> None:
    tally = Tally()
    start = datetime(2026, 11, 23, tzinfo=UTC)
    body = jsonl(*(payload(f"r-{index}", timestamp=at(start + timedelta(hours=index))) for index in range(60)))
    sizes = [
        len(batch)
        for batch in object_batches(body, source=source(), kind=RecordKind.PAYLOAD, retention_days=1, tally=tally)
    ]
    assert sizes == [25, 25, 10]  # one segment an hour, 60 hours
    assert (tally.records, tally.loaded) == (60, 60)


def test_a_batch_has_distinct_keys() -> None:
    tally = Tally()
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(300, blob_chars=3_000, start=start, step=timedelta(seconds=30))
    body = ("\n".join(lines) + "\n").encode()
    for batch in object_batches(body, source=source(), kind=RecordKind.PAYLOAD, retention_days=1, tally=tally):
        keys = [(item["pk"]["S"], item["sk"]["S"]) for item in batch]
        assert len(set(keys)) == len(keys)
    assert tally.loaded == 300


def test_a_bad_object_yields_no_batches_and_one_quarantine_entry() -> None:
    tally = Tally()
    batches = list(object_batches(b"", source=source(), kind=RecordKind.PAYLOAD, retention_days=1, tally=tally))
    assert batches == []
    assert [entry.line for entry in tally.quarantined] == [None]
