"""Object bytes -> segment items and quarantined lines, through the real `process_object` over in-memory ports."""

from __future__ import annotations

import gzip
import json
import math
import random
import string
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.record_limits import (
    MAX_FEATURE_NAME_CHARS,
    MAX_INTEGER,
    MAX_NESTING,
    MAX_RECORD_CHARS,
    MAX_STRING_VALUE_CHARS,
    PREVIEW_CHARS,
)
from core.records import PAYLOAD_FIELDS, RecordKind, format_timestamp
from core.segments import (
    BODY_BYTES_PER_RECORD,
    LABELS_FORMAT,
    PREDICTIONS_FORMAT,
    LabelColumns,
    PredictionColumns,
    PredictionRow,
)
from core.tables import (
    SEGMENT_MAX_BYTES,
    label_window_pk,
    segment_pk,
    segment_sk,
    window_pk,
    window_sk,
)
from lambdas.payload_etl.extract import MAX_QUARANTINED_RAW_CHARS, screen_object
from lambdas.payload_etl.limits import MIN_MEMORY_MB, EtlLimits
from tests.payload_etl_fakes import Loaded, load_object

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


def run(body: bytes, key: str = PAYLOAD_KEY, etag: str = ETAG) -> Loaded:
    """The object processed as the handler processes it (the key's prefix gives its kind)."""
    return load_object(body, key=key, etag=etag, bucket=BUCKET)


def record_count(item: dict[str, Any]) -> int:
    return int(item["record_count"]["N"])


def is_label_segment(item: dict[str, Any]) -> bool:
    return str(item["gsi1pk"]["S"]).startswith("churn#LABEL#")


def predictions_of(item: dict[str, Any]) -> PredictionColumns:
    """A prediction segment's columns, decoded as a window read decodes them."""
    assert not is_label_segment(item)
    return PredictionColumns.decode(item["body"]["S"], model_name="churn", record_count=record_count(item))


def labels_of(item: dict[str, Any]) -> LabelColumns:
    assert is_label_segment(item)
    return LabelColumns.decode(item["body"]["S"], record_count=record_count(item))


def body_of(item: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(item["body"]["S"])
    return body


def records_of(items: list[Any]) -> list[Any]:
    """Every stored record, segment after segment, decoded from its body: as the client logged it."""
    return [record for item in items for record in body_of(item)["records"]]


def times_of(items: list[Any]) -> list[str]:
    """Every stored record's canonical time (the body's `timestamp` or `observed_at`), segment after segment."""
    member = "observed_at" if items and is_label_segment(items[0]) else "timestamp"
    return [time for item in items for time in body_of(item)[member]]


def assert_stored_verbatim(items: list[Any], lines: list[str]) -> None:
    """The items' records are exactly these lines, in this order, as written (not decoded and encoded again)."""
    start = 0
    for item in items:
        count = record_count(item)
        assert count > 0
        body = item["body"]["S"]
        assert body.endswith('"records":[' + ",".join(lines[start : start + count]) + "]}")
        assert all(line in body for line in lines[start : start + count])
        start += count
    assert start == len(lines)


def body_bytes(item: dict[str, Any]) -> int:
    """The size the segment limit is about: the body's UTF-8 bytes."""
    return len(item["body"]["S"].encode("utf-8"))


def by_request_id(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(documents, key=lambda document: str(document["request_id"]))


def request_ids_of(items: list[Any]) -> list[str]:
    """The request ids a window read decodes, segment after segment."""
    return [
        request_id
        for item in items
        for request_id in (labels_of(item) if is_label_segment(item) else predictions_of(item)).request_id
    ]


def envelope_bytes(kind: RecordKind = RecordKind.PAYLOAD) -> int:
    """A body's bytes besides its records' lines and `BODY_BYTES_PER_RECORD` each, measured on one record."""
    line = json.dumps(payload() if kind is RecordKind.PAYLOAD else label())
    key = PAYLOAD_KEY if kind is RecordKind.PAYLOAD else LABEL_KEY
    (item,) = run((line + "\n").encode(), key=key).items
    return body_bytes(item) - len(line) - BODY_BYTES_PER_RECORD


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
    assert body_of(item) == {
        "format": PREDICTIONS_FORMAT,
        "timestamp": ["2026-11-23T10:00:00.123Z"],
        "records": [payload()],
    }
    assert_stored_verbatim([item], [line])
    assert list(predictions_of(item)) == [
        PredictionRow("r-1", "churn", "v1", "2026-11-23T10:00:00.123Z", 0.31, 1, 12.5, payload()["features"])
    ]


def test_the_stored_record_is_the_source_line_verbatim_with_unknown_keys() -> None:
    # Spaces, key order, an escape, a non-canonical time and number forms: all kept as the client wrote them.
    line = '{"request_id":"r-1","session":"s-9",  "model_name":"churn","model_version":"v1",' + (
        '"timestamp":"2026-11-23T12:00:00.5+02:00","features":{"x":1,"y":null,"z":"\\u00e9"},'
        '"prediction":{"score":1,"label":0,"explanation":{"x":0.4}},"latency_ms":3,"tags":["a",{"b":[]}]}'
    )
    (item,) = run((line + "\n").encode()).items
    assert_stored_verbatim([item], [line])
    assert '"session":"s-9",  "model_name"' in item["body"]["S"]
    assert '"z":"\\u00e9"' in item["body"]["S"]
    assert records_of([item]) == [json.loads(line)]
    assert list(records_of([item])[0]) == list(json.loads(line))  # the original key order
    assert times_of([item]) == ["2026-11-23T10:00:00.500Z"]  # the canonical time beside it
    assert item["gsi1sk"]["S"].startswith("2026-11-23T10:00:00.500Z#")


def test_a_stored_record_reads_back_with_the_contracts_canonical_values() -> None:
    line = json.dumps(
        payload(
            timestamp="2026-11-23T12:00:00.5+02:00",
            prediction={"score": 1, "label": 0, "explanation": {"x": 0.4}},
            latency_ms=3,
            features={"x": 1, "y": None, "z": "é"},
            session="s-9",
        )
    )
    (item,) = run((line + "\n").encode()).items
    (row,) = predictions_of(item)
    assert row == PredictionRow(
        "r-1", "churn", "v1", "2026-11-23T10:00:00.500Z", 1.0, 0, 3.0, {"x": 1, "y": None, "z": "é"}
    )
    assert (type(row.score), type(row.predicted_label), type(row.latency_ms)) == (float, int, float)


def test_a_null_or_missing_latency_reads_back_missing() -> None:
    without_latency = payload("r-1")
    del without_latency["latency_ms"]
    documents = [without_latency, payload("r-2", latency_ms=None), payload("r-3")]
    items = run(jsonl(*documents)).items
    assert records_of(items) == documents  # the null stored as written
    assert_stored_verbatim(items, [json.dumps(document) for document in documents])
    (item,) = items
    assert predictions_of(item).latency_ms == [None, None, 12.5]


def test_a_label_becomes_a_label_segment_indexed_by_its_observation_time() -> None:
    line = json.dumps(label())
    (item,) = run((line + "\n").encode(), key=LABEL_KEY).items
    pk, sk = segment_pk(BUCKET, LABEL_KEY), segment_sk(ETAG, "2026-12-20T00", 0)
    assert (item["pk"], item["sk"]) == ({"S": pk}, {"S": sk})
    assert item["gsi1pk"] == {"S": label_window_pk("churn", "2026-12-20")}
    assert item["gsi1sk"] == {"S": window_sk("2026-12-20T00:00:00.000Z", pk, sk)}  # canonical, not as written
    assert item["last_ts"] == {"S": "2026-12-20T00:00:00.000Z"}
    assert body_of(item) == {
        "format": LABELS_FORMAT,
        "observed_at": ["2026-12-20T00:00:00.000Z"],
        "records": [label()],  # "2026-12-20T00:00:00Z", as written
    }
    assert_stored_verbatim([item], [line])
    columns = labels_of(item)
    assert (columns.request_id, columns.label, columns.observed_at) == (["r-1"], [1], ["2026-12-20T00:00:00.000Z"])


def test_a_labels_observation_time_with_an_offset_is_stored_canonical_beside_its_verbatim_record() -> None:
    line = json.dumps(label(observed_at="2026-12-20T09:30:00+09:30", source="crm", batch={"id": 7}))
    (item,) = run((line + "\n").encode(), key=LABEL_KEY).items
    assert body_of(item)["observed_at"] == ["2026-12-20T00:00:00.000Z"]
    assert records_of([item]) == [json.loads(line)]
    assert records_of([item])[0]["observed_at"] == "2026-12-20T09:30:00+09:30"
    assert_stored_verbatim([item], [line])
    assert labels_of(item).observed_at == ["2026-12-20T00:00:00.000Z"]


def test_a_label_written_as_a_float_reads_back_as_an_integer() -> None:
    line = json.dumps(label(label=1.0))
    (item,) = run((line + "\n").encode(), key=LABEL_KEY).items
    assert '"label": 1.0' in item["body"]["S"]
    assert labels_of(item).label == [1]
    assert type(labels_of(item).label[0]) is int


def test_a_tiny_score_and_a_huge_latency_are_stored_as_written() -> None:
    # Records are stored as JSON text, not DynamoDB numbers: no number range applies.
    line = json.dumps(payload(prediction={"score": 1e-200, "label": 0}, latency_ms=1e200))
    result = run((line + "\n").encode())
    assert result.quarantined == []
    assert_stored_verbatim(result.items, [line])
    (item,) = result.items
    columns = predictions_of(item)
    assert (columns.score, columns.latency_ms) == ([1e-200], [1e200])


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


def nested(depth: int) -> Any:
    """A value of `depth` arrays inside one another."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_record_nested_deeper_than_the_limit_is_quarantined_and_the_rest_loads() -> None:
    # The record itself is one level: an unknown member of MAX_NESTING arrays makes it one too many.
    deepest = payload("r-1", trace=nested(MAX_NESTING - 1))
    documents = [deepest, payload("r-2", trace=nested(MAX_NESTING)), payload("r-2"), payload("r-3")]
    result = run(jsonl(*documents))
    assert records_of(result.items) == [deepest, payload("r-2"), payload("r-3")]
    assert_stored_verbatim(result.items, [json.dumps(document) for document in (deepest, *documents[2:])])
    # A reader decodes the deepest record two levels further down, inside the body: it still can.
    assert request_ids_of(result.items) == ["r-1", "r-2", "r-3"]
    (bad,) = result.quarantined
    assert (bad.line, bad.reasons) == (
        2,
        (f"nested more than {MAX_NESTING} levels deep (objects and arrays): too deep to store",),
    )
    assert result.duplicates == 0  # the quarantined record does not make the later r-2 a duplicate


def test_a_label_nested_deeper_than_the_limit_is_quarantined() -> None:
    deepest = label("r-0", trace={"a": nested(MAX_NESTING - 2)})
    body = jsonl(label("r-1", trace={"a": nested(MAX_NESTING - 1)}), label("r-2"), deepest)
    result = run(body, key=LABEL_KEY)
    assert [record["request_id"] for record in records_of(result.items)] == ["r-2", "r-0"]
    assert request_ids_of(result.items) == ["r-2", "r-0"]
    (bad,) = result.quarantined
    assert bad.line == 1
    assert bad.reasons[0].startswith(f"nested more than {MAX_NESTING} levels deep")


def test_many_brackets_without_depth_are_not_too_deep() -> None:
    wide = payload("r-1", trace=[[[index]] for index in range(MAX_NESTING)])
    result = run(jsonl(wide))
    assert result.quarantined == []
    assert records_of(result.items) == [wide]
    assert request_ids_of(result.items) == ["r-1"]


def test_nan_and_infinity_in_an_unknown_member_are_stored_verbatim_and_read_back() -> None:
    # `json.loads` accepts them and the contract does not look at unknown members: the record loads as logged.
    line = json.dumps(payload("r-1"))[:-1] + ', "debug": {"ratio": NaN, "cap": Infinity, "low": -Infinity}}'
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert result.quarantined == []
    assert_stored_verbatim(result.items, [line, json.dumps(payload("r-2"))])
    first, second = records_of(result.items)
    debug = first.pop("debug")
    assert math.isnan(debug["ratio"])
    assert (debug["cap"], debug["low"]) == (math.inf, -math.inf)
    assert (first, second) == (payload("r-1"), payload("r-2"))
    (item,) = result.items
    columns = predictions_of(item)
    assert columns.request_id == ["r-1", "r-2"]
    assert [row.features for row in columns] == [payload()["features"]] * 2


def test_a_nan_feature_is_still_quarantined_by_the_contract() -> None:
    line = json.dumps(payload("r-1")).replace('"charges": 10.5', '"charges": NaN')
    assert "NaN" in line
    result = run((line + "\n").encode())
    assert result.items == []
    (bad,) = result.quarantined
    assert bad.reasons == ("feature 'charges' is not finite (nan)",)


def test_lone_surrogate_escapes_are_quarantined_with_every_place_named() -> None:
    # Valid JSON and a valid string to Python, but no UTF-8 text, Parquet column or log line can hold it.
    line = json.dumps(payload("r-\ud800", features={"plan": "pro\udfff", "\udc00": 1}, note="\udbff"))
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert request_ids_of(result.items) == ["r-2"]
    (bad,) = result.quarantined
    assert bad.reasons == (
        "'request_id' holds a lone surrogate, which UTF-8 cannot encode",
        "feature 'plan' holds a lone surrogate, which UTF-8 cannot encode",
        "feature name '\\udc00' holds a lone surrogate, which UTF-8 cannot encode",
        "member 'note' holds a lone surrogate, which UTF-8 cannot encode",
    )


def test_a_label_with_a_lone_surrogate_is_quarantined_and_nan_in_an_unknown_member_is_kept() -> None:
    refused = json.dumps(label("r-\udc00"))
    kept = json.dumps(label("r-2"))[:-1] + ', "confidence": NaN}'
    result = run(f"{refused}\n{kept}\n".encode(), key=LABEL_KEY)
    (item,) = result.items
    assert_stored_verbatim([item], [kept])
    (record,) = records_of([item])
    assert math.isnan(record.pop("confidence"))
    (bad,) = result.quarantined
    assert bad.reasons == ("'request_id' holds a lone surrogate, which UTF-8 cannot encode",)


def test_a_payload_under_labels_is_quarantined_as_a_label_violation() -> None:
    (bad,) = run(jsonl(payload()), key=LABEL_KEY).quarantined
    assert bad.reasons == ("missing field 'label'", "missing field 'observed_at'")


def test_a_bad_label_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(label("r-1")) + b"not json\n" + jsonl(label("r-3", label=2), label("r-4"))
    result = run(body, key=LABEL_KEY)
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
    limits = EtlLimits.for_memory(MIN_MEMORY_MB)
    body = gzip.compress(b"x" * (limits.max_object_bytes + 1))
    assert len(body) < 100_000
    assert screen_object([body], limits=limits) == (
        f"object decompresses to more than {limits.max_object_bytes:,} bytes"
    )
    result = load_object(body, key=PAYLOAD_KEY, limits=limits)
    assert (result.items, result.reads) == ([], 1)  # screened, never loaded
    assert [(bad.line, bad.reasons) for bad in result.quarantined] == [
        (None, (f"object decompresses to more than {limits.max_object_bytes:,} bytes",))
    ]


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
    result = run(b"\n" + jsonl(label("r-1")) + b"\t\n", key=LABEL_KEY)
    assert (request_ids_of(result.items), result.blank_lines, result.records) == (["r-1"], 2, 1)


def test_a_blank_line_keeps_the_line_numbers_of_the_lines_after_it() -> None:
    (bad,) = run(b"\n\n" + jsonl(payload("r-1")) + b"{\n").quarantined
    assert bad.line == 4


def test_windows_line_endings_and_a_byte_order_mark_are_tolerated() -> None:
    body = (
        b"\xef\xbb\xbf" + jsonl(payload("r-1")).replace(b"\n", b"\r\n") + jsonl(payload("r-2")).replace(b"\n", b"\r\n")
    )
    result = run(body)
    assert records_of(result.items) == [payload("r-1"), payload("r-2")]
    # The line is what ends at the line break: neither the byte order mark nor the carriage return is stored.
    assert_stored_verbatim(result.items, [json.dumps(payload("r-1")), json.dumps(payload("r-2"))])
    assert result.quarantined == []


def test_a_line_with_surrounding_whitespace_still_loads_and_is_stored_as_written() -> None:
    line = "  " + json.dumps(payload()) + " \t"
    items = run((line + "\n").encode()).items
    assert request_ids_of(items) == ["r-1"]
    assert_stored_verbatim(items, [line])


# --- duplicates ----------------------------------------------------------------------------------------------


def test_an_identical_duplicate_request_id_in_one_object_is_loaded_once() -> None:
    result = run(jsonl(payload("r-1"), payload("r-2"), payload("r-1")))
    assert request_ids_of(result.items) == ["r-1", "r-2"]
    assert (result.records, result.duplicates, result.quarantined) == (3, 1, [])


def conflict(request_id: str) -> str:
    return (
        f"'request_id' '{request_id}' repeats an earlier record of this object with different content: "
        "the earlier one is kept"
    )


def test_a_conflicting_duplicate_request_id_is_quarantined_and_the_first_wins() -> None:
    body = jsonl(payload("r-1", model_version="first"), payload("r-1", model_version="second"), payload("r-1"))
    result = run(body)
    (document,) = records_of(result.items)
    assert document == payload("r-1", model_version="first")
    assert predictions_of(result.items[0]).model_version == ["first"]
    assert [(bad.line, bad.reasons) for bad in result.quarantined] == [(2, (conflict("r-1"),)), (3, (conflict("r-1"),))]
    assert (result.records, result.duplicates) == (3, 0)


def test_a_conflicting_duplicate_in_another_hour_is_quarantined_not_loaded() -> None:
    body = jsonl(payload("r-1"), payload("r-1", timestamp="2026-11-23T15:00:00.000Z"))
    result = run(body)
    assert [item["sk"]["S"] for item in result.items] == [segment_sk(ETAG, "2026-11-23T10", 0)]
    assert [bad.reasons for bad in result.quarantined] == [(conflict("r-1"),)]


def test_a_conflicting_duplicate_label_in_one_object_is_quarantined_and_the_first_wins() -> None:
    body = jsonl(
        label("r-1", label=0), label("r-1", label=1, observed_at="2026-12-20T05:00:00Z"), label("r-1", label=0)
    )
    result = run(body, key=LABEL_KEY)
    assert records_of(result.items) == [label("r-1", label=0)]
    assert labels_of(result.items[0]).label == [0]
    assert [bad.line for bad in result.quarantined] == [2]
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
    items = run(body, key=LABEL_KEY).items
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
                blob="".join(rng.choices(alphabet, k=blob_chars)),
            )
        )
        for index in range(count)
    ]


def assert_each_stored_verbatim_once(items: list[Any], lines: list[str]) -> None:
    """Each line is stored once, as written, in some item (in object order within it); nothing else is stored."""
    line_of = {json.loads(line)["request_id"]: line for line in lines}
    assert len(line_of) == len(lines)
    stored = [record["request_id"] for record in records_of(items)]
    assert Counter(stored) == Counter(list(line_of))
    for item in items:
        own = [line_of[record["request_id"]] for record in body_of(item)["records"]]
        assert_stored_verbatim([item], own)
        assert [lines.index(line) for line in own] == sorted(lines.index(line) for line in own)


def chunked(lines: list[str], items: list[Any]) -> list[list[str]]:
    """`lines` cut into the items' records, by their record counts."""
    chunks, start = [], 0
    for item in items:
        chunks.append(lines[start : start + record_count(item)])
        start += record_count(item)
    assert start == len(lines)
    return chunks


def expected_body_bytes(lines: list[str], kind: RecordKind = RecordKind.PAYLOAD) -> int:
    """A segment's body size, as the ETL counts it while adding these lines."""
    return envelope_bytes(kind) + sum(len(line.encode()) + BODY_BYTES_PER_RECORD for line in lines)


def test_a_segment_closes_before_its_body_would_exceed_the_size_limit() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(100, blob_chars=10_000, start=start, step=timedelta(seconds=30))
    items = run(("\n".join(lines) + "\n").encode()).items
    assert [item["sk"]["S"] for item in items] == [segment_sk(ETAG, "2026-11-23T10", chunk) for chunk in range(4)]
    assert_stored_verbatim(items, lines)  # every record, once, in object order, as written
    chunks = chunked(lines, items)
    assert [body_bytes(item) for item in items] == [expected_body_bytes(chunk) for chunk in chunks]
    assert max(body_bytes(item) for item in items) <= SEGMENT_MAX_BYTES
    # A chunk closes only when the next record would take its body over the limit.
    for item, following in zip(items, chunks[1:], strict=False):
        assert body_bytes(item) + len(following[0].encode()) + BODY_BYTES_PER_RECORD > SEGMENT_MAX_BYTES


@pytest.mark.parametrize("kind", [RecordKind.PAYLOAD, RecordKind.LABEL])
@pytest.mark.parametrize("over", [0, 1], ids=["exactly the limit", "one byte over"])
def test_a_body_of_exactly_the_limit_is_one_segment_and_one_byte_more_closes_it_first(
    kind: RecordKind, over: int
) -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)

    def line(index: int, blob: str) -> str:
        moment = at(start + timedelta(seconds=index))
        if kind is RecordKind.PAYLOAD:
            return json.dumps(payload(f"r-{index}", timestamp=moment, blob=blob), ensure_ascii=False)
        return json.dumps(label(f"r-{index}", observed_at=moment, note=blob), ensure_ascii=False)

    # Nine records of ~30 KB (UTF-8: three bytes a character), then one sized to end the body at the limit (+ over).
    lines = [line(index, "€" * 10_000 + "x" * index) for index in range(9)]
    used = expected_body_bytes(lines, kind)
    last_bytes = SEGMENT_MAX_BYTES + over - used - BODY_BYTES_PER_RECORD
    wide, narrow = divmod(last_bytes - len(line(9, "").encode()), 3)
    lines.append(line(9, "€" * wide + "x" * narrow))
    assert len(lines[-1].encode()) == last_bytes
    key = PAYLOAD_KEY if kind is RecordKind.PAYLOAD else "labels/model=churn/dt=2026-11-23/a.jsonl"
    items = run(("\n".join(lines) + "\n").encode(), key=key).items
    assert_stored_verbatim(items, lines)
    if over:
        assert [record_count(item) for item in items] == [9, 1]
        assert [body_bytes(item) for item in items] == [used, expected_body_bytes(lines[-1:], kind)]
    else:
        assert [record_count(item) for item in items] == [10]
        assert [body_bytes(item) for item in items] == [SEGMENT_MAX_BYTES]
    assert request_ids_of(items) == [f"r-{index}" for index in range(10)]


def test_chunks_of_one_hour_each_span_their_own_records() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(80, blob_chars=10_000, start=start, step=timedelta(seconds=40))
    random.Random(3).shuffle(lines)
    items = run(("\n".join(lines) + "\n").encode()).items
    assert len(items) > 1
    for item in items:
        times = sorted(predictions_of(item).timestamp)
        assert item["gsi1sk"]["S"] == window_sk(times[0], item["pk"]["S"], item["sk"]["S"])
        assert item["last_ts"]["S"] == times[-1]
    assert_stored_verbatim(items, lines)  # one hour: its chunks in object order


def test_a_segment_is_limited_by_its_utf8_bytes_not_its_characters() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    # 20,000 three-byte characters a line: 60 KB each, 20 of them ~1.2 MB, ~400 KB of characters.
    lines = [
        json.dumps(payload(f"r-{index}", timestamp=at(start), blob="€" * 20_000), ensure_ascii=False)
        for index in range(20)
    ]
    items = run(("\n".join(lines) + "\n").encode()).items
    assert len(items) == 4  # five records each: 100,000 characters, 300 KB
    for item in items:
        assert body_bytes(item) <= SEGMENT_MAX_BYTES
        assert "€" * 20_000 in item["body"]["S"]  # stored as characters, not six-byte escapes
    assert_stored_verbatim(items, lines)
    assert records_of(items) == [json.loads(line) for line in lines]


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
                blob="".join(chr(rng.randrange(0x10000, 0x110000)) for _ in range(MAX_RECORD_CHARS - 500)),
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
    assert max(body_bytes(item) for item in result.items) <= SEGMENT_MAX_BYTES
    assert_each_stored_verbatim_once(result.items, ascii_lines + wide_lines)


def test_records_each_with_another_feature_name_fit_the_limit_and_read_back_absent_where_they_lack_one() -> None:
    # One feature name per record: every record lacks every other record's feature.
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    documents = [
        payload(
            f"r-{index:04d}",
            timestamp=at(start + timedelta(hours=index % 2, seconds=index)),
            features={f"feature_{index:04d}_" + "n" * 200: index},
        )
        for index in range(2000)
    ]
    hours = ["2026-11-23T10", "2026-11-23T11"]
    body = jsonl(*documents)
    items = run(body).items
    assert run(body).items == items  # deterministic
    assert len(items) > len(hours)  # several chunks an hour
    assert max(body_bytes(item) for item in items) <= SEGMENT_MAX_BYTES
    assert max(item_bytes(item) for item in items) < DYNAMODB_ITEM_LIMIT
    for hour in hours:
        chunks = [item["sk"]["S"] for item in items if item["sk"]["S"].split("#")[1] == hour]
        assert chunks == [segment_sk(ETAG, hour, chunk) for chunk in range(len(chunks))]
    # Every record once, each hour in object order.
    assert_stored_verbatim(items, [json.dumps(document) for hour in (0, 1) for document in documents[hour::2]])
    for item in items:
        columns = predictions_of(item)
        assert record_count(item) == len(columns)
        names = list(columns.features)
        assert len(names) == len(columns)  # a part has the names of its own records only
        for row, name in enumerate(names):
            assert columns.row_features(row) == {name: int(columns.request_id[row][2:])}
            assert columns.absent[name] == set(range(len(columns))) - {row}
        assert item["gsi1sk"]["S"] == window_sk(min(columns.timestamp), item["pk"]["S"], item["sk"]["S"])
        assert item["last_ts"]["S"] == max(columns.timestamp)


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


def test_processing_the_same_object_twice_gives_identical_items() -> None:
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
    documents = [
        payload(f"r-{index}", timestamp=at(start + timedelta(milliseconds=offset)), blob="y" * padding)
        for index, (offset, padding) in enumerate(records)
    ]
    lines = [json.dumps(document) for document in documents]
    line_of = dict(zip((document["request_id"] for document in documents), lines, strict=True))
    items = run(jsonl(*documents)).items
    assert_each_stored_verbatim_once(items, lines)
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in items]
    assert len(set(keys)) == len(keys)
    chunks: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        columns = predictions_of(item)
        own = [line_of[request_id] for request_id in columns.request_id]
        assert columns.timestamp == [json.loads(line)["timestamp"] for line in own] == body_of(item)["timestamp"]
        times = sorted(columns.timestamp)
        _, hour, chunk = item["sk"]["S"].split("#")
        assert int(chunk) == len(chunks.setdefault(hour, []))  # items come in hour and chunk order
        chunks[hour].append(item)
        assert {time[:13] for time in times} == {hour}
        assert item["gsi1pk"]["S"] == window_pk("churn", hour[:10])
        assert item["gsi1sk"]["S"].startswith(times[0] + "#")
        assert item["last_ts"]["S"] == times[-1]
        assert record_count(item) == len(columns)
        assert body_bytes(item) == expected_body_bytes(own) <= SEGMENT_MAX_BYTES
    for hour_items in chunks.values():  # a chunk closed only for a record that did not fit
        for item, following in pairwise(hour_items):
            first = line_of[body_of(following)["records"][0]["request_id"]]
            assert body_bytes(item) + len(first.encode()) + BODY_BYTES_PER_RECORD > SEGMENT_MAX_BYTES


feature_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "c", "é", "d e", ""]), feature_values, min_size=1),
        min_size=1,
        max_size=30,
    ),
    st.lists(
        st.one_of(st.none(), st.dictionaries(st.sampled_from(["note", "tags"]), st.text(max_size=4))), max_size=30
    ),
)
def test_any_mix_of_feature_names_and_unknown_members_reads_back_as_logged(
    features: list[dict[str, Any]], extras: list[dict[str, str] | None]
) -> None:
    unknown = [*extras, *[None] * len(features)][: len(features)]
    documents = [payload(f"r-{index}", features=row) | (unknown[index] or {}) for index, row in enumerate(features)]
    (item,) = run(jsonl(*documents)).items
    assert records_of([item]) == documents
    assert_stored_verbatim([item], [json.dumps(document) for document in documents])
    columns = predictions_of(item)
    assert [dict(row.features) for row in columns] == features
    for name, column in columns.features.items():
        missing = {row for row, logged in enumerate(features) if name not in logged}
        assert columns.absent.get(name, set()) == missing
        assert all(column[row] is None for row in missing)


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(
    unknown=st.dictionaries(st.text(max_size=6).filter(lambda name: name not in PAYLOAD_FIELDS), json_values),
    milliseconds=st.integers(0, 3_600_000 - 1),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
    ensure_ascii=st.booleans(),
    separators=st.sampled_from([(", ", ": "), (",", ":"), (" ,\t", " :  ")]),
    order=st.randoms(use_true_random=False),
)
def test_any_line_the_contract_accepts_is_stored_verbatim_beside_its_canonical_time_and_reads_back(
    *,
    unknown: dict[str, Any],
    milliseconds: int,
    offset_minutes: int,
    ensure_ascii: bool,
    separators: tuple[str, str],
    order: random.Random,
) -> None:
    moment = datetime(2026, 11, 23, 10, tzinfo=UTC) + timedelta(milliseconds=milliseconds)
    written = moment.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    members = list((payload(timestamp=written) | unknown).items())
    order.shuffle(members)
    line = json.dumps(dict(members), ensure_ascii=ensure_ascii, separators=separators)
    result = run((line + "\n").encode())
    assert result.quarantined == []
    (item,) = result.items
    assert_stored_verbatim([item], [line])
    (record,) = records_of([item])
    assert json.dumps(record) == json.dumps(json.loads(line))  # NaN is not equal to itself: compare the text
    assert list(record) == [name for name, _ in members]
    assert times_of([item]) == [at(moment)]
    (row,) = predictions_of(item)
    assert row == PredictionRow("r-1", "churn", "v1", at(moment), 0.31, 1, 12.5, payload()["features"])


# --- batches -------------------------------------------------------------------------------------------------


def test_batches_hold_at_most_25_items() -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)  # 60 hours within a day of the key's dt=2026-11-23
    body = jsonl(*(payload(f"r-{index}", timestamp=at(start + timedelta(hours=index))) for index in range(60)))
    result = run(body)
    assert [len(batch) for batch in result.batches] == [25, 25, 10]  # one segment an hour, 60 hours
    assert (result.records, result.result.loaded, result.result.write_calls) == (60, 60, 3)


def test_a_batch_has_distinct_keys() -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    lines = long_payloads(300, blob_chars=3_000, start=start, step=timedelta(seconds=30))
    result = run(("\n".join(lines) + "\n").encode())
    for batch in result.batches:
        keys = [(item["pk"]["S"], item["sk"]["S"]) for item in batch]
        assert len(set(keys)) == len(keys)
    assert result.result.loaded == 300


def test_a_bad_object_yields_no_batches_and_one_quarantine_entry() -> None:
    result = run(b"")
    assert result.batches == []
    assert [entry.line for entry in result.quarantined] == [None]


# --- hostile input: the record contract's limits (core.record_limits) -------------------------------------------


def refused(result: Loaded) -> list[tuple[int | None, tuple[str, ...]]]:
    return [(bad.line, bad.reasons) for bad in result.quarantined]


def test_an_integer_beyond_the_largest_double_is_quarantined() -> None:
    line = json.dumps(payload("r-1", features={"tenure": 10**400}))
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert request_ids_of(result.items) == ["r-2"]
    assert refused(result) == [
        (1, ("feature 'tenure' is not finite: an integer of 1329 bits is beyond the largest double",))
    ]


def test_an_integer_beyond_2_to_the_53_within_a_double_is_stored_verbatim() -> None:
    line = json.dumps(payload("r-1", features={"tenure": 2**53 + 1, "big": MAX_INTEGER}))
    result = run((line + "\n").encode())
    assert_stored_verbatim(result.items, [line])
    assert result.quarantined == []


def test_long_feature_names_and_values_are_quarantined_each_with_its_limit() -> None:
    name = "n" * (MAX_FEATURE_NAME_CHARS + 1)
    body = jsonl(
        payload("r-1", features={"plan": "p" * (MAX_STRING_VALUE_CHARS + 1)}),
        payload("r-2", features={name: 1}),
        payload("r-3", features={"plan": "p" * MAX_STRING_VALUE_CHARS, "n" * MAX_FEATURE_NAME_CHARS: 1}),
    )
    result = run(body)
    assert request_ids_of(result.items) == ["r-3"]
    assert refused(result) == [
        (
            1,
            (f"feature 'plan' is {MAX_STRING_VALUE_CHARS + 1} characters long; the limit is {MAX_STRING_VALUE_CHARS}",),
        ),
        (
            2,
            (
                f"feature name '{'n' * PREVIEW_CHARS}'…({MAX_FEATURE_NAME_CHARS + 1} characters) is "
                f"{MAX_FEATURE_NAME_CHARS + 1} characters long; the limit is {MAX_FEATURE_NAME_CHARS}",
            ),
        ),
    ]


def test_a_lone_surrogate_in_an_unknown_nested_member_is_quarantined() -> None:
    line = json.dumps(payload("r-1", trace={"spans": [{"name": "ok"}, {"\udfff": "x"}]}))
    (bad,) = run((line + "\n").encode()).quarantined
    assert bad.reasons == ("member 'trace.spans[1].\\udfff' holds a lone surrogate, which UTF-8 cannot encode",)


def test_a_valid_surrogate_pair_escape_is_loaded() -> None:
    line = json.dumps(payload("r-\U0001f600", features={"plan": "\U0001f600"}))
    assert "\\ud83d\\ude00" in line
    result = run((line + "\n").encode())
    assert result.quarantined == []
    assert request_ids_of(result.items) == ["r-\U0001f600"]


@pytest.mark.parametrize(
    ("timestamp", "loaded"),
    [
        ("2026-11-22T00:00:00.000Z", True),  # a day before the key's day starts
        ("2026-11-24T23:59:59.999Z", True),  # a day after it ends, less a millisecond
        ("2026-11-21T23:59:59.999Z", False),
        ("2026-11-25T00:00:00.000Z", False),
        ("2026-11-30T10:00:00.000+05:00", False),
    ],
)
def test_a_timestamp_must_lie_within_a_day_of_the_keys_partition(timestamp: str, loaded: bool) -> None:
    result = run(jsonl(payload("r-1", timestamp=timestamp)))
    assert (len(result.items) == 1) is loaded
    if not loaded:
        (bad,) = result.quarantined
        canonical = format_timestamp(datetime.fromisoformat(timestamp))
        assert bad.reasons == (
            f"'timestamp' {canonical} is more than 1 day outside the object key's dt=2026-11-23 partition",
        )


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("0001-01-01T00:00:00Z", "'timestamp' 0001-01-01T00:00:00.000Z is outside the plausible range"),
        ("9999-12-31T23:59:59.999Z", "'timestamp' 9999-12-31T23:59:59.999Z is outside the plausible range"),
        ("0001-01-01T00:00:00+01:00", "'timestamp' is not an ISO 8601 timestamp with offset"),
        ("9999-12-31T23:59:59-01:00", "'timestamp' is not an ISO 8601 timestamp with offset"),
        ("2026-11-23T10:00:00.1234567890Z", "'timestamp' has 10 fractional digits; the limit is 9"),
        ("2026-11-23T10:00:00." + "1" * 60_000 + "Z", "'timestamp' has 60000 fractional digits; the limit is 9"),
    ],
)
@pytest.mark.parametrize("key", [PAYLOAD_KEY, "payloads/model=churn/a.jsonl"], ids=["dt=", "no dt="])
def test_an_implausible_timestamp_is_quarantined_with_a_bounded_reason(timestamp: str, reason: str, key: str) -> None:
    result = run(jsonl(payload("r-1", timestamp=timestamp), payload("r-2")), key=key)
    assert request_ids_of(result.items) == ["r-2"]
    (bad,) = result.quarantined
    assert bad.reasons[0].startswith(reason)
    assert len(bad.reasons[0]) < 200


def test_nanoseconds_are_accepted_and_read_as_milliseconds() -> None:
    result = run(jsonl(payload("r-1", timestamp="2026-11-23T10:00:00.123456789Z")))
    assert result.quarantined == []
    assert predictions_of(result.items[0]).timestamp == ["2026-11-23T10:00:00.123Z"]


def test_without_a_dt_partition_any_plausible_time_loads() -> None:
    result = run(jsonl(payload("r-1", timestamp="2031-01-01T00:00:00Z")), key="payloads/model=churn/a.jsonl")
    assert (result.quarantined, request_ids_of(result.items)) == ([], ["r-1"])


@pytest.mark.parametrize("day", ["2026-13-45", "x", "2026-W48-1"])
def test_a_dt_partition_that_is_not_a_date_holds_records_to_the_plausible_range_only(day: str) -> None:
    body = jsonl(payload("r-1", timestamp="2031-01-01T00:00:00Z"), payload("r-2", timestamp="1999-12-31T23:59:59Z"))
    result = run(body, key=f"payloads/model=churn/dt={day}/a.jsonl")
    assert request_ids_of(result.items) == ["r-1"]
    assert [bad.line for bad in result.quarantined] == [2]


def test_a_label_far_from_its_keys_partition_is_quarantined() -> None:
    body = jsonl(label("r-1", observed_at="2027-06-01T00:00:00Z"), label("r-2"))
    result = run(body, key=LABEL_KEY)
    assert request_ids_of(result.items) == ["r-2"]
    assert refused(result) == [
        (
            1,
            (
                "'observed_at' 2027-06-01T00:00:00.000Z is more than 1 day outside "
                "the object key's dt=2026-12-20 partition",
            ),
        )
    ]


def test_every_quarantine_reason_is_encodable_and_bounded() -> None:
    hostile = [
        payload("\udc00" * 300, model_version="v" * 10_000, features={"\ud800" * 5000: "\udfff" * 9000}),
        payload("r-2", prediction={"score": "s" * 20_000, "label": "l" * 20_000}, latency_ms="x" * 20_000),
        payload("r-3", timestamp="\udc00" * 20_000),
    ]
    result = run(jsonl(*hostile))
    assert len(result.quarantined) == 3
    for bad in result.quarantined:
        for reason in bad.reasons:
            reason.encode("utf-8")
            assert len(reason) < 300
