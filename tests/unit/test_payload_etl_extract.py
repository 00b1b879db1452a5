"""Pure extraction: object bytes -> items and quarantined lines, without AWS."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from autoretrain.contracts import RecordKind
from autoretrain.tables import LABEL_SK, PREDICTION_SK, request_pk, window_pk, window_sk
from lambdas.payload_etl.extract import (
    MAX_QUARANTINED_RAW_CHARS,
    MAX_RECORD_CHARS,
    ObjectFormatError,
    Tally,
    decode_object,
    extract,
    object_batches,
)

PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/a.jsonl"


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


def jsonl(*documents: object) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def run(body: bytes, key: str = PAYLOAD_KEY, kind: RecordKind = RecordKind.PAYLOAD) -> Any:
    return extract(body, key=key, kind=kind, retention_days=90)


def test_a_valid_payload_becomes_a_prediction_item_with_the_documented_keys() -> None:
    line = json.dumps(payload())
    (item,) = run((line + "\n").encode()).items
    assert item["pk"] == {"S": request_pk("churn", "r-1")}
    assert item["sk"] == {"S": PREDICTION_SK}
    assert item["gsi1pk"] == {"S": window_pk("churn", "2026-11-23")}
    assert item["gsi1sk"] == {"S": window_sk("2026-11-23T10:00:00.123Z", "r-1")}
    assert item["expires_at"] == {"N": str(1795428000 + 90 * 86400)}
    assert (item["model_version"], item["timestamp"], item["label"]) == (
        {"S": "v1"},
        {"S": "2026-11-23T10:00:00.123Z"},
        {"N": "1"},
    )
    assert float(item["score"]["N"]) == 0.31
    assert float(item["latency_ms"]["N"]) == 12.5
    assert item["record"] == {"S": line}


def test_the_stored_record_keeps_unknown_keys() -> None:
    (item,) = run(jsonl(payload(session="s-9"))).items
    assert json.loads(item["record"]["S"])["session"] == "s-9"


def test_a_malformed_line_is_quarantined_with_its_line_number_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "r-2", \n' + jsonl(payload("r-3"))
    result = run(body)
    assert [item["pk"]["S"] for item in result.items] == [request_pk("churn", "r-1"), request_pk("churn", "r-3")]
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons[0].startswith("not valid JSON: ")
    assert bad.raw == '{"request_id": "r-2", '


def test_a_wrong_type_is_quarantined_with_the_field_named() -> None:
    (bad,) = run(jsonl(payload(latency_ms="fast"))).quarantined
    assert bad.reasons == ("'latency_ms' must be a non-negative finite number, got 'fast'",)


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


def test_a_gzip_object_is_detected_by_its_magic_bytes_not_its_suffix() -> None:
    result = run(gzip.compress(jsonl(payload("r-1"), payload("r-2"))), key=PAYLOAD_KEY)
    assert len(result.items) == 2
    assert result.quarantined == []


def test_a_multi_member_gzip_object_loads_every_member() -> None:
    body = gzip.compress(jsonl(payload("r-1"))) + gzip.compress(jsonl(payload("r-2")))
    assert len(run(body).items) == 2


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
    assert (len(result.items), result.blank_lines, result.records, result.quarantined) == (2, 2, 2, [])


def test_a_duplicate_request_id_in_one_object_is_loaded_once_first_wins() -> None:
    result = run(jsonl(payload("r-1", model_version="first"), payload("r-1", model_version="second")))
    (item,) = result.items
    assert item["model_version"] == {"S": "first"}
    assert result.duplicates == 1


def test_a_model_that_differs_from_the_key_partition_is_quarantined() -> None:
    result = run(jsonl(payload("r-1"), payload("r-2", model_name="fraud")))
    assert len(result.items) == 1
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons == ("model_name 'fraud' does not match the object key's partition model=churn",)


def test_records_of_a_key_without_a_model_partition_are_quarantined() -> None:
    result = run(jsonl(payload()), key="payloads/2026-11-23/a.jsonl")
    assert result.items == []
    assert "no valid model=<name> partition" in result.quarantined[0].reasons[0]


def test_a_line_that_is_not_utf8_is_quarantined_and_the_rest_loads() -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "\xff\xfe"}\n' + jsonl(payload("r-3"))
    result = run(body)
    assert len(result.items) == 2
    (bad,) = result.quarantined
    assert bad.line == 2
    assert bad.reasons[0].startswith("line is not valid UTF-8")
    assert "\\xff" in bad.raw


def test_a_record_too_long_to_store_is_quarantined_with_a_bounded_raw_copy() -> None:
    result = run(jsonl(payload(features={"blob": "x" * MAX_RECORD_CHARS})))
    (bad,) = result.quarantined
    assert bad.reasons[0].startswith("record is ")
    assert len(bad.raw) == MAX_QUARANTINED_RAW_CHARS
    assert bad.raw_chars > MAX_RECORD_CHARS


def test_windows_line_endings_and_a_byte_order_mark_are_tolerated() -> None:
    body = (
        b"\xef\xbb\xbf" + jsonl(payload("r-1")).replace(b"\n", b"\r\n") + jsonl(payload("r-2")).replace(b"\n", b"\r\n")
    )
    result = run(body)
    assert len(result.items) == 2
    assert not result.items[0]["record"]["S"].endswith("\r")


def test_a_line_with_surrounding_whitespace_still_loads() -> None:
    assert len(run(b"  " + jsonl(payload()).rstrip() + b"  \n").items) == 1


def test_trailing_data_after_a_record_is_quarantined() -> None:
    (bad,) = run(jsonl(payload()).rstrip() + b" {}\n").quarantined
    assert bad.reasons[0].startswith("not valid JSON: Extra data")


def test_deeply_nested_json_is_quarantined_not_raised() -> None:
    (bad,) = run(b"[" * 60_000 + b"\n").quarantined
    assert bad.reasons[0].startswith("not valid JSON")


def test_a_score_below_dynamodb_number_range_is_stored_as_zero() -> None:
    (item,) = run(jsonl(payload(prediction={"score": 1e-200, "label": 0}))).items
    assert item["score"] == {"N": "0"}


def test_a_latency_above_dynamodb_number_range_is_quarantined() -> None:
    (bad,) = run(jsonl(payload(latency_ms=1e200))).quarantined
    assert "too large to store" in bad.reasons[0]


def test_a_label_becomes_its_own_label_item() -> None:
    line = json.dumps({"request_id": "r-1", "model_name": "churn", "label": 1, "observed_at": "2026-12-20T00:00:00Z"})
    (item,) = run((line + "\n").encode(), key=LABEL_KEY, kind=RecordKind.LABEL).items
    assert item["pk"] == {"S": request_pk("churn", "r-1")}
    assert item["sk"] == {"S": LABEL_SK}
    assert (item["label"], item["observed_at"]) == ({"N": "1"}, {"S": "2026-12-20T00:00:00.000Z"})
    assert "gsi1pk" not in item  # labels stay out of the time index


def test_a_payload_under_labels_is_quarantined_as_a_label_violation() -> None:
    (bad,) = run(jsonl(payload()), key=LABEL_KEY, kind=RecordKind.LABEL).quarantined
    assert bad.reasons == ("missing field 'label'", "missing field 'observed_at'")


def test_batches_hold_at_most_25_items() -> None:
    tally = Tally()
    body = jsonl(*(payload(f"r-{index}") for index in range(60)))
    sizes = [
        len(batch)
        for batch in object_batches(body, key=PAYLOAD_KEY, kind=RecordKind.PAYLOAD, retention_days=1, tally=tally)
    ]
    assert sizes == [25, 25, 10]
    assert (tally.records, tally.loaded) == (60, 60)
