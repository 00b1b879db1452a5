"""Object bytes -> lake rows (what was stored), alerting aggregate items (what alerting sees) and quarantined lines,
through the real `process_object` over in-memory ports."""

from __future__ import annotations

import gzip
import json
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates import MAX_LISTED, OTHER, Aggregate, Judge, aggregate_pk, aggregate_sk, bucket_start
from core.baseline import MonitoringBaseline
from core.lake import OPTION_NAMES, source_digest
from core.record_limits import (
    MAX_FEATURE_NAME_CHARS,
    MAX_INTEGER,
    MAX_NESTING,
    MAX_RECORD_CHARS,
    MAX_STRING_VALUE_CHARS,
    PREVIEW_CHARS,
)
from core.records import PAYLOAD_FIELDS, format_timestamp, parse_timestamp
from lambdas.payload_etl.extract import MAX_QUARANTINED_RAW_CHARS, screen_object
from lambdas.payload_etl.limits import MIN_MEMORY_MB, EtlLimits
from tests.baselines import baseline_of, categorical, numeric
from tests.payload_etl_fakes import Loaded, features_of, load_object

BUCKET = "payload-bucket"
ETAG = "0123456789abcdef0123456789abcdef"
PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/a.jsonl"
#: DynamoDB's item size limit (attribute names and values), and its key size limits.
DYNAMODB_ITEM_LIMIT = 400 * 1024
DYNAMODB_PARTITION_KEY_LIMIT = 2048
DYNAMODB_SORT_KEY_LIMIT = 1024
#: The baseline of version v1 (what `payload()` logs): `plan` categorical, `tenure` and `charges` numeric.
BASELINE = baseline_of([categorical("plan", "pro"), numeric("tenure"), numeric("charges")])
BASELINES = {("churn", "v1"): BASELINE}


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


def run(body: bytes, key: str = PAYLOAD_KEY, etag: str = ETAG, arrival_epoch: int | None = None) -> Loaded:
    """The object processed as the handler processes it (the key's prefix gives its kind; v1 has a baseline)."""
    return load_object(body, key=key, etag=etag, bucket=BUCKET, baselines=BASELINES, arrival_epoch=arrival_epoch)


def at(moment: datetime) -> str:
    return format_timestamp(moment)


def millis(timestamp: str) -> int:
    """A lake `timestamp` column's value: epoch milliseconds (UTC)."""
    moment = parse_timestamp(timestamp)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def stored(result: Loaded) -> list[tuple[str, dict[str, Any]]]:
    """Every stored prediction's request id and features, as the lake holds them."""
    return [(str(row["request_id"]), features_of(row)) for row in result.predictions]


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (a number at most its digits)."""
    size = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        size += len(name.encode())
        size += len(content) if kind == "B" else len(str(content).encode())
    return size


@dataclass(frozen=True)
class Row:
    """A logged prediction, as `lambdas.alerting.signals.Row` and `Aggregate.add` read it."""

    model_version: str
    score: float
    predicted_label: int
    latency_ms: float | None
    features: Mapping[str, Any]


def expected(documents: list[dict[str, Any]], judges: Mapping[str, Judge | None]) -> dict[datetime, Aggregate]:
    """The aggregates of valid payload documents computed from the raw records: per bucket of their UTC times,
    each record judged against its version's judge (None: no baseline)."""
    buckets: dict[datetime, Aggregate] = {}
    for document in documents:
        start = bucket_start(parse_timestamp(document["timestamp"]))
        latency = document.get("latency_ms")
        buckets.setdefault(start, Aggregate()).add(
            document["model_version"],
            float(document["prediction"]["score"]),
            int(document["prediction"]["label"]),
            None if latency is None else float(latency),
            document["features"],
            judges.get(document["model_version"]),
        )
    return dict(sorted(buckets.items()))


def assert_same(actual: Aggregate, wanted: Aggregate) -> None:
    """Equal counts and counters; the score's moments equal up to rounding."""
    assert math.isclose(actual.scores.mean, wanted.scores.mean, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(actual.scores.m2, wanted.scores.m2, rel_tol=1e-7, abs_tol=1e-9)
    assert (actual.scores.count, actual.scores.low, actual.scores.high) == (
        wanted.scores.count,
        wanted.scores.low,
        wanted.scores.high,
    )
    actual_json, wanted_json = actual.to_json(), wanted.to_json()
    del actual_json["scores"], wanted_json["scores"]
    assert actual_json == wanted_json


# --- what a record becomes ---------------------------------------------------------------------------------


def test_a_valid_payload_becomes_one_lake_row_and_one_aggregate_item_with_the_documented_keys() -> None:
    result = run(jsonl(payload()))
    assert result.predictions == [
        {
            "request_id": "r-1",
            "model_version": "v1",
            "ts": millis("2026-11-23T10:00:00.123Z"),
            "score": 0.31,
            "predicted_label": 1,
            "latency_ms": 12.5,
            "sample_key": result.predictions[0]["sample_key"],
            "unparsed_features": json.dumps(payload()["features"], separators=(",", ":")),
        }
        | dict.fromkeys(OPTION_NAMES)
    ]
    (item,) = result.items
    bucket = datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert item["pk"] == {"S": aggregate_pk("churn", "2026-11-23")} == {"S": "AGG#churn#2026-11-23"}
    assert item["sk"] == {"S": aggregate_sk(bucket, source_digest(BUCKET, PAYLOAD_KEY, ETAG))}
    assert item["sk"]["S"].startswith("10:00#")
    assert item["rows"] == {"N": "1"}
    assert item["expires_at"] == {"N": str(int(bucket.timestamp()) + 90 * 86_400)}
    aggregate = Aggregate.loads(item["body"]["S"])
    assert (aggregate.rows, aggregate.positives, aggregate.judged, aggregate.versions) == (1, 1, 1, Counter(v1=1))
    assert (aggregate.scores.count, aggregate.scores.mean, aggregate.latency_rows) == (1, 0.31, 1)
    assert (aggregate.schema_rows, aggregate.unseen_rows, aggregate.refused) == (0, 0, 0)
    assert aggregate.present == Counter(plan=1, tenure=1, charges=1)
    assert result.result.write_calls == 1


def test_a_record_with_unknown_keys_and_non_canonical_forms_loads_its_canonical_values() -> None:
    # Spaces, key order, an escape, a non-canonical time and number forms, unknown members: all accepted.
    line = '{"request_id":"r-1","session":"s-9",  "model_name":"churn","model_version":"v1",' + (
        '"timestamp":"2026-11-23T12:00:00.5+02:00","features":{"x":1,"y":null,"z":"\\u00e9"},'
        '"prediction":{"score":1,"label":0,"explanation":{"x":0.4}},"latency_ms":3,"tags":["a",{"b":[]}]}'
    )
    result = run((line + "\n").encode())
    assert result.quarantined == []
    (row,) = result.predictions
    assert (row["request_id"], row["model_version"], row["ts"]) == ("r-1", "v1", millis("2026-11-23T10:00:00.500Z"))
    assert (row["score"], row["predicted_label"], row["latency_ms"]) == (1.0, 0, 3.0)
    assert (type(row["score"]), type(row["predicted_label"]), type(row["latency_ms"])) == (float, int, float)
    assert features_of(row) == {"x": 1, "y": None, "z": "é"}
    assert "session" not in row  # unknown members stay in the raw object, not the lake
    (bucket,) = result.aggregates
    assert bucket == datetime(2026, 11, 23, 10, tzinfo=UTC)  # the UTC time's bucket, not the local one


def test_a_null_or_missing_latency_is_stored_missing_and_left_out_of_the_latency_histogram() -> None:
    without_latency = payload("r-1")
    del without_latency["latency_ms"]
    result = run(jsonl(without_latency, payload("r-2", latency_ms=None), payload("r-3")))
    assert [row["latency_ms"] for row in result.predictions] == [None, None, 12.5]
    assert (result.aggregate.rows, result.aggregate.latency_rows) == (3, 1)


def test_a_label_becomes_a_label_row_at_its_canonical_observation_time_and_no_aggregate() -> None:
    result = run(jsonl(label()), key=LABEL_KEY)
    (row,) = result.labels
    assert (row["request_id"], row["label"], row["observed_at"]) == ("r-1", 1, millis("2026-12-20T00:00:00.000Z"))
    assert (result.predictions, result.items, result.result.write_calls) == ([], [], 0)
    assert result.baselines.asked == []


def test_a_labels_observation_time_with_an_offset_is_stored_canonical() -> None:
    line = json.dumps(label(observed_at="2026-12-20T09:30:00+09:30", source="crm", batch={"id": 7}))
    (row,) = run((line + "\n").encode(), key=LABEL_KEY).labels
    assert row["observed_at"] == millis("2026-12-20T00:00:00.000Z")


def test_a_label_written_as_a_float_is_stored_as_an_integer() -> None:
    (row,) = run(jsonl(label(label=1.0)), key=LABEL_KEY).labels
    assert (row["label"], type(row["label"])) == (1, int)


def test_a_tiny_score_and_a_huge_latency_are_stored_and_aggregated() -> None:
    result = run(jsonl(payload(prediction={"score": 1e-200, "label": 0}, latency_ms=1e200)))
    assert result.quarantined == []
    (row,) = result.predictions
    assert (row["score"], row["latency_ms"]) == (1e-200, 1e200)
    aggregate = result.aggregate
    assert (aggregate.scores.mean, aggregate.latency_rows) == (1e-200, 1)
    assert aggregate.latency_quantile(0.99) >= 1e200


# --- quarantine ----------------------------------------------------------------------------------------------


def test_a_malformed_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "r-2", \n' + jsonl(payload("r-3"))
    result = run(body)
    assert result.request_ids == ["r-1", "r-3"]
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
    assert (result.request_ids, result.items) == ([], [])
    (bad,) = result.quarantined
    assert (bad.line, bad.reasons) == (None, ("object is empty (0 bytes)",))


def test_an_object_of_blank_lines_is_quarantined_as_a_whole() -> None:
    (bad,) = run(b"\n  \n\n").quarantined
    assert bad.reasons == ("object holds only blank lines",)


def test_a_model_that_differs_from_the_key_partition_is_quarantined() -> None:
    result = run(jsonl(payload("r-1"), payload("r-2", model_name="fraud")))
    assert result.request_ids == ["r-1"]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons == ("model_name 'fraud' does not match the object key's partition model=churn",)


def test_records_of_a_key_without_a_model_partition_are_quarantined() -> None:
    result = run(jsonl(payload()), key="payloads/2026-11-23/a.jsonl")
    assert (result.request_ids, result.items) == ([], [])
    assert "no valid model=<name> partition" in result.quarantined[0].reasons[0]


def test_records_of_a_key_with_an_invalid_model_partition_are_quarantined() -> None:
    result = run(jsonl(payload(model_name="bad#name")), key="payloads/model=bad#name/a.jsonl")
    assert (result.request_ids, result.items) == ([], [])
    assert "no valid model=<name> partition" in result.quarantined[0].reasons[0]


def test_a_line_that_is_not_utf8_is_quarantined_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "\xff\xfe"}\n' + jsonl(payload("r-3"))
    result = run(body)
    assert result.request_ids == ["r-1", "r-3"]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons[0].startswith("line is not valid UTF-8")
    assert "\\xff" in bad.raw


def test_a_record_too_long_to_store_is_quarantined_with_a_bounded_raw_copy() -> None:
    result = run(jsonl(payload(features={"blob": "x" * MAX_RECORD_CHARS})))
    assert (result.request_ids, result.items) == ([], [])
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
    assert result.request_ids == ["r-1", "r-2", "r-3"]
    assert result.aggregate.rows == 3
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
    assert result.request_ids == ["r-2", "r-0"]
    (bad,) = result.quarantined
    assert bad.line == 1
    assert bad.reasons[0].startswith(f"nested more than {MAX_NESTING} levels deep")


def test_many_brackets_without_depth_are_not_too_deep() -> None:
    wide = payload("r-1", trace=[[[index]] for index in range(MAX_NESTING)])
    result = run(jsonl(wide))
    assert result.quarantined == []
    assert stored(result) == [("r-1", wide["features"])]


def test_nan_and_infinity_in_an_unknown_member_do_not_refuse_the_record() -> None:
    # `json.loads` accepts them and the contract does not look at unknown members: the record loads.
    line = json.dumps(payload("r-1"))[:-1] + ', "debug": {"ratio": NaN, "cap": Infinity, "low": -Infinity}}'
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert result.quarantined == []
    assert stored(result) == [("r-1", payload()["features"]), ("r-2", payload()["features"])]
    assert (result.aggregate.rows, result.aggregate.non_finite, result.aggregate.refused) == (2, 0, 0)


def test_a_nan_feature_is_still_quarantined_by_the_contract() -> None:
    line = json.dumps(payload("r-1")).replace('"charges": 10.5', '"charges": NaN')
    assert "NaN" in line
    result = run((line + "\n").encode())
    assert (result.request_ids, result.items) == ([], [])
    (bad,) = result.quarantined
    assert bad.reasons == ("feature 'charges' is not finite (nan)",)


def test_lone_surrogate_escapes_are_quarantined_with_every_place_named() -> None:
    # Valid JSON and a valid string to Python, but no UTF-8 text, Parquet column or log line can hold it.
    line = json.dumps(payload("r-\ud800", features={"plan": "pro\udfff", "\udc00": 1}, note="\udbff"))
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert result.request_ids == ["r-2"]
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
    assert result.request_ids == ["r-2"]
    (bad,) = result.quarantined
    assert bad.reasons == ("'request_id' holds a lone surrogate, which UTF-8 cannot encode",)


def test_a_payload_under_labels_is_quarantined_as_a_label_violation() -> None:
    (bad,) = run(jsonl(payload()), key=LABEL_KEY).quarantined
    assert bad.reasons == ("missing field 'label'", "missing field 'observed_at'")


def test_a_bad_label_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(label("r-1")) + b"not json\n" + jsonl(label("r-3", label=2), label("r-4"))
    result = run(body, key=LABEL_KEY)
    assert result.request_ids == ["r-1", "r-4"]
    assert [(bad.line, bad.reasons[0][:14]) for bad in result.quarantined] == [
        (2, "not valid JSON"),
        (3, "'label' must b"),
    ]


# --- object format -------------------------------------------------------------------------------------------


def test_a_gzip_object_is_detected_by_its_magic_bytes_not_its_suffix() -> None:
    result = run(gzip.compress(jsonl(payload("r-1"), payload("r-2"))), key=PAYLOAD_KEY)
    assert result.request_ids == ["r-1", "r-2"]
    assert result.quarantined == []


def test_a_multi_member_gzip_object_loads_every_member() -> None:
    body = gzip.compress(jsonl(payload("r-1"))) + gzip.compress(jsonl(payload("r-2")))
    assert run(body).request_ids == ["r-1", "r-2"]


def test_a_corrupt_gzip_object_is_quarantined_as_a_whole() -> None:
    body = gzip.compress(jsonl(payload()))[:-12]
    result = run(body)
    assert (result.request_ids, result.items) == ([], [])
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
    assert (result.request_ids, result.blank_lines, result.records, result.quarantined) == (
        ["r-1", "r-2"],
        2,
        2,
        [],
    )
    assert sum(int(item["rows"]["N"]) for item in result.items) == 2


def test_blank_lines_among_labels_are_skipped_and_counted() -> None:
    result = run(b"\n" + jsonl(label("r-1")) + b"\t\n", key=LABEL_KEY)
    assert (result.request_ids, result.blank_lines, result.records) == (["r-1"], 2, 1)


def test_a_blank_line_keeps_the_line_numbers_of_the_lines_after_it() -> None:
    (bad,) = run(b"\n\n" + jsonl(payload("r-1")) + b"{\n").quarantined
    assert bad.line == 4


def test_windows_line_endings_and_a_byte_order_mark_are_tolerated() -> None:
    body = (
        b"\xef\xbb\xbf" + jsonl(payload("r-1")).replace(b"\n", b"\r\n") + jsonl(payload("r-2")).replace(b"\n", b"\r\n")
    )
    result = run(body)
    assert stored(result) == [("r-1", payload()["features"]), ("r-2", payload()["features"])]
    assert result.quarantined == []


def test_a_line_with_surrounding_whitespace_still_loads() -> None:
    line = "  " + json.dumps(payload()) + " \t"
    result = run((line + "\n").encode())
    assert (result.request_ids, result.quarantined) == (["r-1"], [])


# --- duplicates ----------------------------------------------------------------------------------------------


def test_an_identical_duplicate_request_id_in_one_object_is_loaded_once() -> None:
    result = run(jsonl(payload("r-1"), payload("r-2"), payload("r-1")))
    assert result.request_ids == ["r-1", "r-2"]
    assert (result.records, result.duplicates, result.quarantined) == (3, 1, [])


def conflict(request_id: str) -> str:
    return (
        f"'request_id' '{request_id}' repeats an earlier record of this object with different content: "
        "the earlier one is kept"
    )


def test_a_conflicting_duplicate_request_id_is_quarantined_and_the_first_wins() -> None:
    body = jsonl(payload("r-1", model_version="first"), payload("r-1", model_version="second"), payload("r-1"))
    result = run(body)
    assert [row["model_version"] for row in result.predictions] == ["first"]
    assert result.aggregate.versions == Counter(first=1)
    assert [(bad.line, bad.reasons) for bad in result.quarantined] == [(2, (conflict("r-1"),)), (3, (conflict("r-1"),))]
    assert (result.records, result.duplicates) == (3, 0)


def test_a_conflicting_duplicate_in_another_bucket_is_quarantined_not_aggregated() -> None:
    body = jsonl(payload("r-1"), payload("r-1", timestamp="2026-11-23T15:00:00.000Z"))
    result = run(body)
    assert [item["sk"]["S"][:5] for item in result.items] == ["10:00"]  # its refusal counted in the newest bucket
    assert [(aggregate.rows, aggregate.refused) for aggregate in result.aggregates.values()] == [(1, 1)]
    assert [bad.reasons for bad in result.quarantined] == [(conflict("r-1"),)]


def test_a_conflicting_duplicate_label_in_one_object_is_quarantined_and_the_first_wins() -> None:
    body = jsonl(
        label("r-1", label=0), label("r-1", label=1, observed_at="2026-12-20T05:00:00Z"), label("r-1", label=0)
    )
    result = run(body, key=LABEL_KEY)
    assert [(row["request_id"], row["label"]) for row in result.labels] == [("r-1", 0)]
    assert [bad.line for bad in result.quarantined] == [2]
    assert result.duplicates == 1


def test_a_quarantined_record_does_not_make_a_later_valid_one_a_duplicate() -> None:
    result = run(jsonl(payload("r-1", latency_ms=-1), payload("r-1")))
    assert (result.request_ids, result.duplicates, len(result.quarantined)) == (["r-1"], 0, 1)


# --- aggregates: one item per bucket of the object's records ---------------------------------------------------


def test_records_are_aggregated_in_one_item_per_five_minute_bucket_of_their_utc_time() -> None:
    times = [
        "2026-11-23T10:04:59.999Z",
        "2026-11-23T10:00:00.000Z",
        "2026-11-23T10:05:00.000Z",
        "2026-11-23T23:59:59.999Z",
        "2026-11-24T00:00:00.000Z",
        "2026-11-23T10:02:30.000Z",
    ]
    result = run(jsonl(*(payload(f"r-{index}", timestamp=time) for index, time in enumerate(times))))
    digest = source_digest(BUCKET, PAYLOAD_KEY, ETAG)
    assert [(item["pk"]["S"], item["sk"]["S"], item["rows"]["N"]) for item in result.items] == [
        ("AGG#churn#2026-11-23", f"10:00#{digest}", "3"),
        ("AGG#churn#2026-11-23", f"10:05#{digest}", "1"),
        ("AGG#churn#2026-11-23", f"23:55#{digest}", "1"),
        ("AGG#churn#2026-11-24", f"00:00#{digest}", "1"),
    ]
    assert result.request_ids == ["r-0", "r-1", "r-2", "r-3", "r-5", "r-4"]  # the lake: by day, in object order


def test_a_timestamp_with_an_offset_is_aggregated_in_its_utc_bucket_and_day() -> None:
    (item,) = run(jsonl(payload(timestamp="2026-11-24T01:32:00+02:00"))).items
    assert (item["pk"]["S"], item["sk"]["S"][:6]) == ("AGG#churn#2026-11-23", "23:30#")


def test_an_aggregate_expires_its_retention_after_its_bucket_starts() -> None:
    body = jsonl(payload("r-1", timestamp="2026-11-23T10:04:59.999Z"), payload("r-2", timestamp="2026-11-23T10:00:00Z"))
    (item,) = load_object(body, key=PAYLOAD_KEY, retention_days=7).items
    start = int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp())
    assert item["expires_at"] == {"N": str(start + 7 * 86_400)}


def test_each_record_is_judged_against_the_baseline_of_the_version_that_served_it() -> None:
    other = {"name": "other", "kind": "numeric", "nullable": True, "missing_rate": 0.0, "categories": []}
    v2 = MonitoringBaseline.from_json(BASELINE.to_json() | {"model_version": "v2", "features": [other]})
    documents = [payload("r-1"), payload("r-2", model_version="v2"), payload("r-3", model_version="v3")]
    result = load_object(jsonl(*documents), key=PAYLOAD_KEY, baselines=BASELINES | {("churn", "v2"): v2})
    aggregate = result.aggregate
    assert (aggregate.rows, aggregate.judged, aggregate.versions) == (3, 2, Counter(v1=1, v2=1, v3=1))
    assert aggregate.extra == Counter(plan=1, tenure=1, charges=1)  # v2's baseline knows none of them
    assert aggregate.absent == Counter(other=1)
    assert aggregate.schema_rows == 1
    assert sorted(set(result.baselines.asked)) == [("churn", "v1"), ("churn", "v2"), ("churn", "v3")]


def test_a_baseline_is_asked_for_once_per_version_an_object_holds() -> None:
    documents = [payload(f"r-{index}", model_version=f"v{index % 2}") for index in range(50)]
    result = run(jsonl(*documents))
    assert sorted(result.baselines.asked) == [("churn", "v0"), ("churn", "v1")]


def test_a_version_without_a_readable_baseline_is_counted_in_rows_but_not_judged() -> None:
    result = run(jsonl(payload("r-1", model_version="unknown", features={"anything": "goes"}), payload("r-2")))
    (aggregate,) = result.aggregates.values()
    assert (aggregate.rows, aggregate.judged, aggregate.scores.count) == (2, 1, 2)
    assert (aggregate.extra, aggregate.schema_rows) == (Counter(), 0)
    assert aggregate.versions == Counter(unknown=1, v1=1)


def test_a_records_feature_checks_count_nulls_absences_wrong_types_extras_and_unseen_categories() -> None:
    documents = [
        payload("r-1", features={"plan": "pro", "tenure": 3, "charges": 1.0}),
        payload("r-2", features={"plan": None, "tenure": None, "charges": 2}),
        payload("r-3", features={"plan": "", "tenure": "3", "charges": True}),
        payload("r-4", features={"plan": "gold", "tenure": 1}),
        payload("r-5", features={"plan": 7, "tenure": 1, "charges": 1, "new": 1}),
    ]
    aggregate = run(jsonl(*documents)).aggregate
    assert aggregate.present == Counter(plan=5, tenure=5, charges=4)
    assert aggregate.nulls == Counter(plan=2, tenure=1)  # "" is a null for a category it is not one of
    assert aggregate.absent == Counter(charges=1)
    assert aggregate.wrong_type == Counter(tenure=1, charges=1, plan=1)
    assert aggregate.extra == Counter(new=1)
    assert aggregate.unseen_values == {"plan": Counter(gold=1)}
    assert (aggregate.schema_rows, aggregate.unseen_rows) == (3, 1)


def test_refused_records_are_counted_in_the_bucket_of_the_objects_arrival() -> None:
    arrival = int(datetime(2026, 11, 23, 12, 7, 30, tzinfo=UTC).timestamp())
    nan_line = json.dumps(payload("r-2")).replace('"charges": 10.5', '"charges": NaN')
    body = jsonl(payload("r-1")) + b"not json\n" + (nan_line + "\n").encode()
    result = run(body, arrival_epoch=arrival)
    assert list(result.aggregates) == [
        datetime(2026, 11, 23, 10, tzinfo=UTC),
        datetime(2026, 11, 23, 12, 5, tzinfo=UTC),
    ]
    accepted, refused = result.aggregates.values()
    assert (accepted.rows, accepted.refused) == (1, 0)
    assert (refused.rows, refused.refused, refused.non_finite, refused.non_finite_by_feature) == (
        0,
        2,
        1,
        Counter(charges=1),
    )
    assert [item["rows"]["N"] for item in result.items] == ["1", "0"]


def test_without_an_arrival_time_refused_records_are_counted_in_the_newest_bucket() -> None:
    body = jsonl(payload("r-1"), payload("r-2", timestamp="2026-11-23T11:00:00Z")) + b"nope\n"
    result = run(body)
    assert [(aggregate.rows, aggregate.refused) for aggregate in result.aggregates.values()] == [(1, 0), (1, 1)]


def test_every_refused_record_is_counted_even_past_the_quarantines_listed_entries() -> None:
    limits = EtlLimits.for_memory(MIN_MEMORY_MB)
    count = limits.max_quarantine_entries + 50
    body = jsonl(payload("r-1")) + b"nope\n" * count
    result = load_object(body, key=PAYLOAD_KEY, limits=limits, baselines=BASELINES, arrival_epoch=1_795_428_000)
    assert len(result.quarantined) == limits.max_quarantine_entries
    assert result.aggregate.refused == count


def test_a_wholly_refused_object_counts_one_refusal_at_its_arrival_and_nothing_without_one() -> None:
    arrival = int(datetime(2026, 11, 23, 10, 1, tzinfo=UTC).timestamp())
    counted = run(b"", arrival_epoch=arrival)
    assert [(item["sk"]["S"][:5], item["rows"]["N"]) for item in counted.items] == [("10:00", "0")]
    assert counted.aggregate.refused == 1
    assert run(b"").items == []


def test_a_label_objects_refusals_write_no_aggregate() -> None:
    result = run(b"nope\n", key=LABEL_KEY, arrival_epoch=1_795_428_000)
    assert (len(result.quarantined), result.items) == (1, [])


def test_aggregate_keys_fit_dynamodbs_key_limits_for_the_longest_s3_key() -> None:
    key = "payloads/model=churn/dt=2026-11-23/" + "é" * 200
    key += "x" * (1024 - len(key))  # 1,024 characters (more UTF-8 bytes than S3 allows)
    (item,) = load_object(jsonl(payload()), key=key, etag="a" * 32 + "-10000").items
    assert len(item["sk"]["S"].encode()) < DYNAMODB_SORT_KEY_LIMIT
    assert len(item["pk"]["S"].encode()) < DYNAMODB_PARTITION_KEY_LIMIT


def test_every_aggregate_item_fits_dynamodbs_item_limit_however_hostile_its_records() -> None:
    # Every record: the longest feature names and category values, a new long version, all of them distinct.
    documents = [
        payload(
            f"r-{index}",
            model_version=f"v{index}-" + "v" * 200,
            features={
                "plan": f"{index}-" + "p" * (MAX_STRING_VALUE_CHARS - 10),
                f"{index}-" + "n" * (MAX_FEATURE_NAME_CHARS - 10): 1,
            },
        )
        for index in range(200)
    ]
    baselines = {("churn", document["model_version"]): BASELINE for document in documents}
    result = load_object(jsonl(*documents), key=PAYLOAD_KEY, baselines=baselines, arrival_epoch=1_795_428_000)
    (item,) = result.items
    assert item_bytes(item) < 40 * 1024  # a tenth of DynamoDB's limit
    aggregate = result.aggregate
    assert (len(aggregate.extra), len(aggregate.unseen_values["plan"]), len(aggregate.versions)) == (
        MAX_LISTED + 1,
        MAX_LISTED + 1,
        MAX_LISTED + 1,
    )
    assert aggregate.extra.total() == aggregate.unseen_values["plan"].total() == aggregate.versions.total() == 200
    assert aggregate.versions[OTHER] == 200 - MAX_LISTED
    assert max(len(name) for name in aggregate.extra) <= 100


def test_an_objects_aggregates_are_put_together_with_distinct_keys() -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)  # 60 hours within a day of the key's dt=2026-11-23
    body = jsonl(*(payload(f"r-{index}", timestamp=at(start + timedelta(hours=index))) for index in range(60)))
    result = run(body)
    (batch,) = result.batches
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in batch]
    assert len(set(keys)) == len(keys) == 60
    assert (result.records, result.result.loaded, result.result.write_calls) == (60, 60, 3)  # 25 items a call
    assert sum(int(item["rows"]["N"]) for item in batch) == len(result.predictions) == 60


def test_an_objects_aggregates_are_written_after_its_lake_files_then_its_quarantine_then_its_ledger_mark() -> None:
    start = datetime(2026, 11, 22, 23, tzinfo=UTC)
    body = jsonl(*(payload(f"r-{index}", timestamp=at(start + timedelta(hours=index))) for index in range(3))) + b"x\n"
    result = run(body, arrival_epoch=1_795_428_000)
    assert result.journal == ["lake", "lake", "aggregates", "quarantine", "ledger"]  # two days: two lake files


def test_a_bad_object_writes_no_lake_rows_and_one_quarantine_entry() -> None:
    result = run(b"")
    assert (result.batches, result.lake.files) == ([], {})
    assert [entry.line for entry in result.quarantined] == [None]


def test_processing_the_same_object_twice_gives_identical_items_and_lake_files() -> None:
    start = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    documents = [payload(f"r-{index}", timestamp=at(start + timedelta(minutes=index))) for index in range(120)]
    random.Random(9).shuffle(documents)
    body = jsonl(*documents)
    first, second = run(body, arrival_epoch=1_795_428_000), run(body, arrival_epoch=1_795_428_000)
    assert len(first.items) == 24
    assert first.items == second.items
    assert first.lake.files == second.lake.files


def test_a_new_version_of_an_object_gets_other_sort_keys_in_the_same_partition() -> None:
    body = jsonl(payload())
    (old,), (new,) = run(body, etag="etag-1").items, run(body, etag="etag-2").items
    assert old["pk"] == new["pk"]
    assert old["sk"] != new["sk"]
    assert old["sk"]["S"][:6] == new["sk"]["S"][:6] == "10:00#"


def test_another_object_with_the_same_records_gets_other_keys() -> None:
    body = jsonl(payload())
    (one,), (other,) = run(body).items, run(body, key=PAYLOAD_KEY.replace("a.jsonl", "b.jsonl")).items
    assert one["pk"] == other["pk"]
    assert one["sk"] != other["sk"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * 86_400_000 - 1), st.sampled_from(["v1", "v2", "v3"]), st.floats(0, 1)),
        min_size=1,
        max_size=60,
    )
)
def test_aggregates_count_every_valid_record_once_in_the_bucket_of_its_time(
    records: list[tuple[int, str, float]],
) -> None:
    start = datetime(2026, 11, 22, tzinfo=UTC)
    documents = [
        payload(
            f"r-{index}",
            timestamp=at(start + timedelta(milliseconds=offset)),
            model_version=version,
            prediction={"score": score, "label": int(score >= 0.5)},
        )
        for index, (offset, version, score) in enumerate(records)
    ]
    result = run(jsonl(*documents))
    assert sorted(result.request_ids) == sorted(document["request_id"] for document in documents)
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in result.items]
    assert len(set(keys)) == len(keys)
    assert sum(int(item["rows"]["N"]) for item in result.items) == len(documents)
    wanted = expected(documents, {"v1": Judge.of(BASELINE)})
    assert list(result.aggregates) == list(wanted)
    for bucket, aggregate in result.aggregates.items():
        assert_same(aggregate, wanted[bucket])


feature_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["pro", ""]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["plan", "tenure", "charges", "é", "d e", ""]), feature_values, min_size=1),
        min_size=1,
        max_size=30,
    ),
    st.lists(
        st.one_of(st.none(), st.dictionaries(st.sampled_from(["note", "tags"]), st.text(max_size=4))), max_size=30
    ),
)
def test_any_mix_of_features_and_unknown_members_is_stored_as_logged_and_aggregated_as_the_raw_records_are(
    features: list[dict[str, Any]], extras: list[dict[str, str] | None]
) -> None:
    unknown = [*extras, *[None] * len(features)][: len(features)]
    documents = [payload(f"r-{index}", features=row) | (unknown[index] or {}) for index, row in enumerate(features)]
    result = run(jsonl(*documents))
    assert stored(result) == [(document["request_id"], document["features"]) for document in documents]
    (aggregate,) = result.aggregates.values()
    (wanted,) = expected(documents, {"v1": Judge.of(BASELINE)}).values()
    assert_same(aggregate, wanted)
    assert (
        aggregate.absent
        == Counter({name: sum(name not in row for row in features) for name in ("plan", "tenure", "charges")})
        - Counter()
    )


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
def test_any_line_the_contract_accepts_is_stored_with_its_canonical_values_in_the_bucket_of_its_utc_time(
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
    (row,) = result.predictions
    assert (row["request_id"], row["ts"], row["score"], row["predicted_label"], row["latency_ms"]) == (
        "r-1",
        millis(at(moment)),
        0.31,
        1,
        12.5,
    )
    assert features_of(row) == payload()["features"]
    (item,) = result.items
    assert item["sk"]["S"][:5] == f"{bucket_start(moment):%H:%M}"


# --- hostile input: the record contract's limits (core.record_limits) -------------------------------------------


def refused(result: Loaded) -> list[tuple[int | None, tuple[str, ...]]]:
    return [(bad.line, bad.reasons) for bad in result.quarantined]


def test_an_integer_beyond_the_largest_double_is_quarantined() -> None:
    line = json.dumps(payload("r-1", features={"tenure": 10**400}))
    result = run((line + "\n").encode() + jsonl(payload("r-2")))
    assert result.request_ids == ["r-2"]
    assert refused(result) == [
        (1, ("feature 'tenure' is not finite: an integer of 1329 bits is beyond the largest double",))
    ]


def test_an_integer_beyond_2_to_the_53_within_a_double_is_stored_exactly() -> None:
    line = json.dumps(payload("r-1", features={"tenure": 2**53 + 1, "big": MAX_INTEGER}))
    result = run((line + "\n").encode())
    assert stored(result) == [("r-1", {"tenure": 2**53 + 1, "big": MAX_INTEGER})]
    assert result.quarantined == []
    assert (result.aggregate.wrong_type, result.aggregate.extra) == (Counter(), Counter(big=1))


def test_long_feature_names_and_values_are_quarantined_each_with_its_limit() -> None:
    name = "n" * (MAX_FEATURE_NAME_CHARS + 1)
    body = jsonl(
        payload("r-1", features={"plan": "p" * (MAX_STRING_VALUE_CHARS + 1)}),
        payload("r-2", features={name: 1}),
        payload("r-3", features={"plan": "p" * MAX_STRING_VALUE_CHARS, "n" * MAX_FEATURE_NAME_CHARS: 1}),
    )
    result = run(body)
    assert result.request_ids == ["r-3"]
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
    assert result.request_ids == ["r-\U0001f600"]


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
    assert (len(result.predictions) == len(result.items) == 1) is loaded
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
    assert result.request_ids == ["r-2"]
    (bad,) = result.quarantined
    assert bad.reasons[0].startswith(reason)
    assert len(bad.reasons[0]) < 200


def test_nanoseconds_are_accepted_and_read_as_milliseconds() -> None:
    result = run(jsonl(payload("r-1", timestamp="2026-11-23T10:00:00.123456789Z")))
    assert result.quarantined == []
    assert [row["ts"] for row in result.predictions] == [millis("2026-11-23T10:00:00.123Z")]


def test_without_a_dt_partition_any_plausible_time_loads() -> None:
    result = run(jsonl(payload("r-1", timestamp="2031-01-01T00:00:00Z")), key="payloads/model=churn/a.jsonl")
    assert (result.quarantined, result.request_ids) == ([], ["r-1"])


@pytest.mark.parametrize("day", ["2026-13-45", "x", "2026-W48-1"])
def test_a_dt_partition_that_is_not_a_date_holds_records_to_the_plausible_range_only(day: str) -> None:
    body = jsonl(payload("r-1", timestamp="2031-01-01T00:00:00Z"), payload("r-2", timestamp="1999-12-31T23:59:59Z"))
    result = run(body, key=f"payloads/model=churn/dt={day}/a.jsonl")
    assert result.request_ids == ["r-1"]
    assert [bad.line for bad in result.quarantined] == [2]


def test_a_label_far_from_its_keys_partition_is_quarantined() -> None:
    body = jsonl(label("r-1", observed_at="2027-06-01T00:00:00Z"), label("r-2"))
    result = run(body, key=LABEL_KEY)
    assert result.request_ids == ["r-2"]
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
