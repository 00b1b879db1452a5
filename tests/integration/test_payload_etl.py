"""The payload-ETL handler against moto's server: real objects in, real segments and quarantine objects out."""

from __future__ import annotations

import gzip
import json
import random
import socket
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest

from autoretrain.emulator import LocalResources
from core.layout import MAX_KEY_BYTES, quarantine_object_key
from core.payload_store import PayloadStore, TransientStoreError
from core.records import format_timestamp
from core.segments import LabelRow, PredictionColumns
from core.tables import SEGMENT_MAX_BYTES, object_pk, segment_pk, segment_sk
from lambdas.payload_etl import handler, reset_cold_start
from lambdas.payload_etl.limits import MEMORY_SIZE_VARIABLE, MIN_MEMORY_MB, EtlLimits
from tests.payload_etl_fakes import load_object

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).parents[1] / "events"
MODEL = "churn"
PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/0001.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/0001.jsonl"
DAY_START = datetime(2026, 11, 23, tzinfo=UTC)
DAY_END = datetime(2026, 11, 24, tzinfo=UTC)
#: When the labelled windows below are read: after every label of these tests was observed.
LABELS_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a new Lambda container: settings and clients are read on its first invocation."""
    reset_cold_start()
    yield
    reset_cold_start()


def payload(request_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "20261120T030000Z-ab12cd",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True},
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def label(request_id: str, value: int = 1, observed_at: str = "2026-12-20T00:00:00Z") -> dict[str, Any]:
    return {"request_id": request_id, "model_name": MODEL, "label": value, "observed_at": observed_at}


def jsonl(*documents: object) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def put_object(session: boto3.Session, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """Put a real object and return the S3 notification S3 would send for it (key URL-encoded)."""
    etag = session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    event: dict[str, Any] = json.loads((EVENTS / "s3_object_created.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["object"].update(key=quote_plus(key, safe="/"), eTag=etag.strip('"'), size=len(body))
    return event


def table_items(session: boto3.Session, table: str) -> list[dict[str, Any]]:
    pages = session.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def segment_items(session: boto3.Session, table: str) -> list[dict[str, Any]]:
    return [item for item in table_items(session, table) if item["pk"]["S"].startswith("SEG#")]


def stored_predictions(item: dict[str, Any]) -> PredictionColumns:
    """A prediction segment's columns, as a window read decodes them."""
    return PredictionColumns.decode(item["body"]["S"], model_name=MODEL, record_count=int(item["record_count"]["N"]))


def stored_records(session: boto3.Session, table: str) -> list[dict[str, Any]]:
    """Every prediction stored in any segment, decoded from its body (as logged), sorted by request id."""
    records = [record for item in segment_items(session, table) for record in json.loads(item["body"]["S"])["records"]]
    return sorted(records, key=lambda record: str(record["request_id"]))


def stored_request_ids(session: boto3.Session, table: str) -> list[str]:
    """The request ids of every record stored in any segment, as a window read decodes them, sorted."""
    return sorted(
        request_id for item in segment_items(session, table) for request_id in stored_predictions(item).request_id
    )


def stored_bodies(session: boto3.Session, table: str) -> list[str]:
    return [item["body"]["S"] for item in segment_items(session, table)]


def store(session: boto3.Session, resources: LocalResources) -> PayloadStore:
    return PayloadStore(session.client("dynamodb"), resources.payload_table)


def quarantine_lines(session: boto3.Session, bucket: str, key: str, etag: str) -> list[dict[str, Any]]:
    body = session.client("s3").get_object(Bucket=bucket, Key=quarantine_object_key(key, etag))["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def quarantine_entries(session: boto3.Session, bucket: str, key: str, etag: str) -> list[dict[str, Any]]:
    """The refused records a quarantine object lists, after its summary line (always its first)."""
    summary, *entries = quarantine_lines(session, bucket, key, etag)
    assert (summary["summary"], summary["listed"]) == (True, len(entries))
    return entries


def etag_of(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["s3"]["object"]["eTag"])


def test_payloads_load_into_the_time_window(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2")))
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"], result["objects"][0]["status"]) == (2, 0, "loaded")
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert sorted(row.request_id for row in rows) == ["r-1", "r-2"]
    assert rows[0].features == {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True}
    assert (rows[0].score, rows[0].predicted_label, rows[0].latency_ms) == (0.31, 0, 12.5)


def test_a_malformed_line_is_quarantined_and_the_valid_records_of_the_object_still_load(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "r-2",\n' + jsonl(payload("r-3"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"]) == (2, 1)
    assert stored_request_ids(aws_session, resources.payload_table) == ["r-1", "r-3"]
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert entry["source_bucket"] == resources.payload_bucket
    assert entry["source_key"] == PAYLOAD_KEY
    assert entry["line"] == 2
    assert entry["raw"] == '{"request_id": "r-2",'
    assert entry["reasons"][0].startswith("not valid JSON")


def test_a_record_is_stored_verbatim_and_reads_back_from_the_table_canonical(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    logged = payload(
        "r-1",
        timestamp="2026-11-23T11:30:00+01:00",
        prediction={"score": 1, "label": 1, "explanation": {"tenure": -0.3}},
        session={"id": "s-9", "tags": ["a", None]},
        features={"plan": "pro", "region": None, "city": "Zürich"},
    )
    del logged["latency_ms"]
    sparse = payload("r-2", features={"plan": "basic"}, latency_ms=None, timestamp="2026-11-23T10:45:00.000Z")
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(logged, sparse))
    assert handler(event, None)["loaded"] == 2
    (body,) = stored_bodies(aws_session, resources.payload_table)  # one hour: both in one segment
    assert body.endswith('"records":[' + json.dumps(logged) + "," + json.dumps(sparse) + "]}")  # the lines verbatim
    assert stored_records(aws_session, resources.payload_table) == [logged, sparse]  # unknown members, null kept
    assert json.loads(body)["timestamp"] == ["2026-11-23T10:30:00.000Z", "2026-11-23T10:45:00.000Z"]
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert [dict(row.features) for row in rows] == [
        {"plan": "pro", "region": None, "city": "Zürich"},
        {"plan": "basic"},
    ]
    assert [(row.request_id, row.timestamp, row.latency_ms) for row in rows] == [
        ("r-1", "2026-11-23T10:30:00.000Z", None),
        ("r-2", "2026-11-23T10:45:00.000Z", None),
    ]
    assert (rows[0].score, rows[0].predicted_label) == (1.0, 1)
    assert type(rows[0].score) is float


def test_a_wrong_type_is_quarantined_with_its_reason(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    event = put_object(
        aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1", prediction={"score": "high"}))
    )
    assert handler(event, None)["quarantined"] == 1
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert "'prediction.score' must be a finite number in [0, 1], got 'high'" in entry["reasons"]


def test_a_missing_field_is_quarantined_with_its_reason(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    document = payload("r-1")
    del document["model_version"]
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(document))
    assert handler(event, None)["quarantined"] == 1
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert entry["reasons"] == ["missing field 'model_version'"]
    assert segment_items(aws_session, resources.payload_table) == []


def test_an_empty_object_is_quarantined_with_a_clear_reason(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, b"")
    assert handler(event, None)["quarantined"] == 1
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert (entry["line"], entry["reasons"]) == (None, ["object is empty (0 bytes)"])


def test_a_gzip_object_without_a_gz_suffix_loads(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = gzip.compress(jsonl(payload("r-1"), payload("r-2")))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    assert handler(event, None)["loaded"] == 2
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert sorted(row.request_id for row in rows) == ["r-1", "r-2"]


def test_a_redelivered_object_writes_nothing_the_second_time(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    dynamodb = aws_session.client("dynamodb")
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2")))
    assert handler(event, None)["loaded"] == 2
    count_after_first = len(table_items(aws_session, resources.payload_table))
    # Mark the segment: a second write of the object would put the original item back, without the mark.
    key = {
        "pk": {"S": segment_pk(resources.payload_bucket, PAYLOAD_KEY)},
        "sk": {"S": segment_sk(etag_of(event), "2026-11-23T10", 0)},
    }
    dynamodb.update_item(
        TableName=resources.payload_table,
        Key=key,
        UpdateExpression="SET marker = :marker",
        ExpressionAttributeValues={":marker": {"S": "marker"}},
    )
    second = handler(event, None)
    assert second["objects"][0]["status"] == "already_loaded"
    assert second["objects"][0]["write_calls"] == 0
    assert len(table_items(aws_session, resources.payload_table)) == count_after_first
    item = dynamodb.get_item(TableName=resources.payload_table, Key=key)["Item"]
    assert item["marker"] == {"S": "marker"}
    assert len(store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)) == 2


def test_the_ledger_records_the_loaded_object_version_with_its_counts(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1"), payload("r-1"), payload("r-2", model_name="fraud"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    handler(event, None)
    ledger = aws_session.client("dynamodb").get_item(
        TableName=resources.payload_table,
        Key={"pk": {"S": object_pk(resources.payload_bucket, PAYLOAD_KEY)}, "sk": {"S": etag_of(event)}},
    )["Item"]
    assert {name: ledger[name]["N"] for name in ("records", "loaded", "duplicates", "quarantined")} == {
        "records": "3",
        "loaded": "1",
        "duplicates": "1",
        "quarantined": "1",
    }


def test_a_new_version_of_the_same_key_is_loaded_again(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"))), None)
    second = handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-2"))), None)
    assert (second["objects"][0]["status"], second["loaded"]) == ("loaded", 1)
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert sorted(row.request_id for row in rows) == ["r-1", "r-2"]  # the first version's segments stay


def test_a_retry_after_a_partial_load_stores_each_record_once(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1"), payload("r-2", timestamp="2026-11-23T15:00:00.000Z"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    # A first invocation put the segments, then died before marking the object loaded.
    segments = load_object(body, key=PAYLOAD_KEY, bucket=resources.payload_bucket, etag=etag_of(event)).items
    store(aws_session, resources).put_items(segments)
    assert handler(event, None)["objects"][0]["status"] == "loaded"
    assert len(segment_items(aws_session, resources.payload_table)) == len(segments) == 2
    payloads = store(aws_session, resources)
    assert payloads.count_window(MODEL, DAY_START, DAY_END) == len(payloads.query_window(MODEL, DAY_START, DAY_END))
    assert payloads.count_window(MODEL, DAY_START, DAY_END) == 2


def test_an_object_is_stored_as_one_segment_per_utc_hour(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    times = [
        "2026-11-23T10:40:00.000Z",
        "2026-11-23T10:05:00.000Z",
        "2026-11-23T11:00:00.000Z",
        "2026-11-23T23:59:59.999Z",
        "2026-11-24T00:00:01.000Z",
    ]
    body = jsonl(*(payload(f"r-{index}", timestamp=time) for index, time in enumerate(times)))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["objects"][0]["write_calls"]) == (5, 1)
    hours = sorted(item["sk"]["S"].split("#")[1] for item in segment_items(aws_session, resources.payload_table))
    assert hours == ["2026-11-23T10", "2026-11-23T11", "2026-11-23T23", "2026-11-24T00"]
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END + timedelta(days=1))
    assert [row.timestamp for row in rows] == sorted(times)


def test_a_large_object_loads_in_chunks_and_every_record_reads_back(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    documents = [
        payload(f"r-{index:04d}", timestamp=format_timestamp(start + index * timedelta(seconds=5)))
        | {"features": {"notes": f"{index} " * 300, "tenure": index}}
        for index in range(700)  # ~58 minutes, ~1 MB
    ]
    random.Random(2).shuffle(documents)
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, gzip.compress(jsonl(*documents)))
    assert handler(event, None)["loaded"] == 700
    items = segment_items(aws_session, resources.payload_table)
    assert len(items) >= 3  # one hour, several chunks
    assert {item["sk"]["S"].split("#")[1] for item in items} == {"2026-11-23T10"}
    for item in items:
        assert len(item["body"]["S"].encode()) <= SEGMENT_MAX_BYTES
    assert stored_records(aws_session, resources.payload_table) == sorted(
        documents, key=lambda document: str(document["request_id"])
    )
    bodies = stored_bodies(aws_session, resources.payload_table)
    assert all(sum(json.dumps(document) in body for body in bodies) == 1 for document in documents)  # verbatim, once
    payloads = store(aws_session, resources)
    everything = payloads.query_window(MODEL, DAY_START, DAY_END)
    assert [row.request_id for row in everything] == [f"r-{index:04d}" for index in range(700)]
    assert everything[123].features == {"notes": "123 " * 300, "tenure": 123}
    middle_start, middle_end = start + timedelta(minutes=17, seconds=2), start + timedelta(minutes=41, seconds=30)
    middle = payloads.query_window(MODEL, middle_start, middle_end)
    assert [row.request_id for row in middle] == [f"r-{index:04d}" for index in range(205, 498)]
    assert payloads.count_window(MODEL, middle_start, middle_end) == len(middle)


def test_an_event_for_a_superseded_version_is_skipped(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    stale = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1")))
    put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-2")))
    result = handler(stale, None)
    assert result["objects"][0]["status"] == "skipped"
    assert "overwritten" in result["objects"][0]["reason"]
    assert segment_items(aws_session, resources.payload_table) == []


def test_duplicate_request_ids_in_one_object_are_loaded_once_and_a_conflicting_one_is_quarantined(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    first = payload("r-1", model_version="first")
    body = jsonl(first, payload("r-1", model_version="second"), first)
    result = handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body), None)
    assert (result["loaded"], result["duplicates"], result["quarantined"]) == (1, 1, 1)
    (row,) = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert row.model_version == "first"


def test_a_label_that_arrives_before_its_prediction_is_joined_later(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    handler(put_object(aws_session, resources.payload_bucket, LABEL_KEY, jsonl(label("r-1", 1))), None)
    handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2"))), None)
    rows = {
        row.prediction.request_id: row
        for row in store(aws_session, resources).labelled_window(MODEL, DAY_START, DAY_END, labels_until=LABELS_UNTIL)
    }
    assert rows["r-1"].label is not None
    assert (rows["r-1"].label.label, rows["r-1"].label.observed_at) == (1, "2026-12-20T00:00:00.000Z")
    assert rows["r-2"].label is None


@pytest.mark.parametrize("order", ["in order", "correction first"])
def test_a_later_label_replaces_an_earlier_one_whatever_the_load_order(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str], order: str
) -> None:
    handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"))), None)
    first = (LABEL_KEY, jsonl(label("r-1", 0, "2026-12-20T00:00:00Z")))
    correction = (LABEL_KEY.replace("0001", "0002"), jsonl(label("r-1", 1, "2026-12-21T08:00:00Z")))
    for key, body in [first, correction] if order == "in order" else [correction, first]:
        handler(put_object(aws_session, resources.payload_bucket, key, body), None)
    (row,) = store(aws_session, resources).labelled_window(MODEL, DAY_START, DAY_END, labels_until=LABELS_UNTIL)
    assert row.label is not None
    assert (row.label.label, row.label.observed_at) == (1, "2026-12-21T08:00:00.000Z")


def test_a_label_is_stored_verbatim_and_joined_by_its_canonical_observation_time(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    written = label("r-1", 1, "2026-12-20T09:30:00+09:30") | {"source": "crm", "confidence": 0.9}
    line = json.dumps(written)
    handler(put_object(aws_session, resources.payload_bucket, LABEL_KEY, (line + "\n").encode()), None)
    handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"))), None)
    (item,) = [
        item
        for item in segment_items(aws_session, resources.payload_table)
        if item["gsi1pk"]["S"].startswith(f"{MODEL}#LABEL#")
    ]
    assert item["body"]["S"].endswith('"records":[' + line + "]}")
    assert json.loads(item["body"]["S"])["records"] == [written]
    assert json.loads(item["body"]["S"])["observed_at"] == ["2026-12-20T00:00:00.000Z"]
    (row,) = store(aws_session, resources).labelled_window(MODEL, DAY_START, DAY_END, labels_until=LABELS_UNTIL)
    assert row.label == LabelRow("r-1", 1, "2026-12-20T00:00:00.000Z")


def test_labels_are_not_read_as_predictions(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    observed = "2026-11-23T10:00:00.000Z"  # the same day as the prediction window
    key = LABEL_KEY.replace("dt=2026-12-20", "dt=2026-11-23")
    handler(put_object(aws_session, resources.payload_bucket, key, jsonl(label("r-1", 1, observed))), None)
    payloads = store(aws_session, resources)
    assert list(payloads.query_window(MODEL, DAY_START, DAY_END)) == []
    assert payloads.count_window(MODEL, DAY_START, DAY_END) == 0
    assert payloads.labels_between(MODEL, DAY_START, DAY_END)["r-1"].observed_at == observed


def test_a_redelivered_payload_does_not_overwrite_its_label(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    payload_event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1")))
    handler(payload_event, None)
    handler(put_object(aws_session, resources.payload_bucket, LABEL_KEY, jsonl(label("r-1", 1))), None)
    # The same payload again under a new key (a replay): its items are re-put, the label stays.
    replay = put_object(
        aws_session, resources.payload_bucket, PAYLOAD_KEY.replace("0001", "0002"), jsonl(payload("r-1"))
    )
    handler(replay, None)
    (row,) = store(aws_session, resources).labelled_window(MODEL, DAY_START, DAY_END, labels_until=LABELS_UNTIL)
    assert row.label is not None
    assert row.label.label == 1  # and the replayed request is read once


def test_an_url_encoded_key_is_decoded_before_reading(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    key = "payloads/model=churn/dt=2026-11-23/batch 1+retry.jsonl"
    event = put_object(aws_session, resources.payload_bucket, key, jsonl(payload("r-1")))
    assert event["Records"][0]["s3"]["object"]["key"] == "payloads/model%3Dchurn/dt%3D2026-11-23/batch+1%2Bretry.jsonl"
    result = handler(event, None)
    assert (result["objects"][0]["key"], result["loaded"]) == (key, 1)


def test_the_s3_test_event_is_ignored(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    event = json.loads((EVENTS / "s3_test_event.json").read_text())
    event["Bucket"] = resources.payload_bucket
    assert handler(event, None) == {
        "test_event": True,
        "objects": [],
        "loaded": 0,
        "duplicates": 0,
        "quarantined": 0,
        "skipped_objects": 0,
    }
    assert table_items(aws_session, resources.payload_table) == []


def test_a_record_for_another_model_than_the_key_is_quarantined(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1"), payload("r-2", model_name="fraud"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"]) == (1, 1)
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert entry["reasons"] == ["model_name 'fraud' does not match the object key's partition model=churn"]


def test_an_object_outside_the_etl_prefixes_is_skipped_not_quarantined(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    key = "quarantine/payloads/model=churn/x.errors.jsonl"
    result = handler(put_object(aws_session, resources.payload_bucket, key, b"{}\n"), None)
    assert result["objects"][0]["status"] == "skipped"
    listed = aws_session.client("s3").list_objects_v2(Bucket=resources.payload_bucket, Prefix="quarantine/")
    assert [entry["Key"] for entry in listed["Contents"]] == [key]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_transient_table_error_fails_the_invocation_and_a_retry_loads(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1")))
    # DynamoDB unreachable (a closed port), S3 still reachable: the standard per-service endpoint variable.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(TransientStoreError):
        handler(event, None)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    reset_cold_start()  # Lambda retries the event, possibly in a new container
    assert handler(event, None)["loaded"] == 1


# --- hostile objects: bounded memory and work, quarantined, never retried --------------------------------------


def quarantine_keys(session: boto3.Session, bucket: str) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=bucket, Prefix="quarantine/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_a_poisoned_gzip_object_starts_with_one_bounded_quarantine_summary_and_its_valid_lines_loaded(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MEMORY_SIZE_VARIABLE, str(MIN_MEMORY_MB))
    limits = EtlLimits.for_memory(MIN_MEMORY_MB)
    bad_lines = 524_288  # 1 MiB of "x\n"
    body = gzip.compress(jsonl(payload("r-1")) + b"x\n" * bad_lines + jsonl(payload("r-2")), 9)
    assert len(body) < 2048
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["objects"][0]["status"], result["loaded"], result["quarantined"]) == ("loaded", 2, bad_lines)
    assert stored_request_ids(aws_session, resources.payload_table) == ["r-1", "r-2"]
    (key,) = quarantine_keys(aws_session, resources.payload_bucket)
    assert key == quarantine_object_key(PAYLOAD_KEY, etag_of(event))
    stored = aws_session.client("s3").head_object(Bucket=resources.payload_bucket, Key=key)["ContentLength"]
    assert stored <= 2 * limits.max_quarantine_bytes
    summary, *listed = quarantine_lines(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert [entry["line"] for entry in listed] == list(range(2, 2 + limits.max_quarantine_entries))
    assert listed[0]["reasons"] == ["not valid JSON: Expecting value: line 1 column 1 (char 0)"]
    assert {name: summary[name] for name in ("summary", "quarantined", "listed", "omitted", "reason_counts")} == {
        "summary": True,
        "quarantined": bad_lines,
        "listed": limits.max_quarantine_entries,
        "omitted": bad_lines - limits.max_quarantine_entries,
        "reason_counts": {"not valid JSON: Expecting value": bad_lines},
    }
    ledger = aws_session.client("dynamodb").get_item(
        TableName=resources.payload_table,
        Key={"pk": {"S": object_pk(resources.payload_bucket, PAYLOAD_KEY)}, "sk": {"S": etag_of(event)}},
    )["Item"]
    assert (ledger["loaded"]["N"], ledger["quarantined"]["N"]) == ("2", str(bad_lines))


def test_a_gzip_bomb_is_quarantined_whole_and_nothing_of_it_is_loaded(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MEMORY_SIZE_VARIABLE, str(MIN_MEMORY_MB))
    limits = EtlLimits.for_memory(MIN_MEMORY_MB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = compressor.compress(jsonl(payload("r-1")))  # a valid line first: it must not load either
    zeros = b"\0" * (1 << 20)
    for _ in range(3 * limits.max_object_bytes // len(zeros)):
        body += compressor.compress(zeros)
    body += compressor.flush()
    assert len(body) < 100_000
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["objects"][0]["status"], result["loaded"], result["quarantined"]) == ("loaded", 0, 1)
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert (entry["line"], entry["reasons"]) == (
        None,
        [f"object decompresses to more than {limits.max_object_bytes:,} bytes"],
    )
    assert segment_items(aws_session, resources.payload_table) == []
    assert handler(event, None)["objects"][0]["status"] == "already_loaded"  # marked: never retried


def test_a_source_key_near_s3s_length_limit_still_gets_a_quarantine_object(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    prefix = "payloads/model=churn/dt=2026-11-23/"
    key = prefix + "é" * ((1000 - len(prefix)) // 2) + ".jsonl"
    assert 990 < len(key.encode()) <= MAX_KEY_BYTES
    event = put_object(aws_session, resources.payload_bucket, key, jsonl(payload("r-1")) + b"not json\n")
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"]) == (1, 1)
    (quarantine_key,) = quarantine_keys(aws_session, resources.payload_bucket)
    assert len(quarantine_key.encode()) <= MAX_KEY_BYTES
    assert quarantine_key.startswith("quarantine/" + prefix)
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, key, etag_of(event))
    assert (entry["source_key"], entry["line"], entry["raw"]) == (key, 2, "not json")


def test_an_object_whose_segments_were_written_early_is_written_identically_when_retried(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MEMORY_SIZE_VARIABLE, str(MIN_MEMORY_MB))
    limits = EtlLimits.for_memory(MIN_MEMORY_MB)
    # 48 hours of records, each hour short of a full segment: the open ones pass their budget and are written early.
    documents = [
        payload(
            f"r-{index:05d}", timestamp=format_timestamp(DAY_START + timedelta(hours=index % 48, seconds=index % 3600))
        )
        | {"features": {"notes": "n" * 300, "tenure": index}}
        for index in range(20_000)
    ]
    body = jsonl(*documents)
    assert limits.open_segment_bytes < len(body) < limits.max_object_bytes
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    assert handler(event, None)["loaded"] == 20_000
    first = {(item["pk"]["S"], item["sk"]["S"]): item for item in segment_items(aws_session, resources.payload_table)}
    assert any(int(sk.rsplit("#", 1)[1]) > 0 for _, sk in first)  # some hours have a segment written early
    # A failure before the ledger mark: Lambda retries the event and the object is loaded again.
    aws_session.client("dynamodb").delete_item(
        TableName=resources.payload_table,
        Key={"pk": {"S": object_pk(resources.payload_bucket, PAYLOAD_KEY)}, "sk": {"S": etag_of(event)}},
    )
    reset_cold_start()
    assert handler(event, None)["loaded"] == 20_000
    again = {(item["pk"]["S"], item["sk"]["S"]): item for item in segment_items(aws_session, resources.payload_table)}
    assert again == first
    payloads = store(aws_session, resources)
    end = DAY_END + timedelta(days=1)
    assert payloads.count_window(MODEL, DAY_START, end) == len(payloads.query_window(MODEL, DAY_START, end)) == 20_000


def test_a_hostile_object_loads_its_valid_records_and_quarantines_each_hostile_one_with_its_reason(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    lines = [
        json.dumps(payload("ok-1")),
        json.dumps(payload("r-surrogate", features={"plan": "pro\udc00"})),
        json.dumps(payload("r-name", features={"\ud800": 1})),
        json.dumps(payload("r-int", features={"tenure": 10**400})),
        json.dumps(payload("r-far", timestamp="2026-12-25T10:00:00Z")),
        json.dumps(payload("r-year", timestamp="9999-12-31T23:59:59Z")),
        json.dumps(payload("r-precise", timestamp="2026-11-23T10:00:00." + "9" * 1000 + "Z")),
        json.dumps(payload("ok-1", model_version="other")),
        json.dumps(payload("ok-1")),
        json.dumps(payload("ok-2", features={"tenure": 2**53 + 1})),
    ]
    body = "".join(f"{line}\n" for line in lines).encode()
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"]) == (2, 7)
    assert stored_request_ids(aws_session, resources.payload_table) == ["ok-1", "ok-2"]
    entries = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert [(entry["line"], entry["reasons"]) for entry in entries] == [
        (2, ["feature 'plan' holds a lone surrogate, which UTF-8 cannot encode"]),
        (3, ["feature name '\\ud800' holds a lone surrogate, which UTF-8 cannot encode"]),
        (4, ["feature 'tenure' is not finite: an integer of 1329 bits is beyond the largest double"]),
        (
            5,
            [
                "'timestamp' 2026-12-25T10:00:00.000Z is more than 1 day outside "
                "the object key's dt=2026-11-23 partition"
            ],
        ),
        (
            6,
            [
                "'timestamp' 9999-12-31T23:59:59.000Z is outside the plausible range "
                "[2000-01-01, 2100-01-01) of a record's time"
            ],
        ),
        (7, ["'timestamp' has 1000 fractional digits; the limit is 9"]),
        (
            8,
            [
                "'request_id' 'ok-1' repeats an earlier record of this object with different content: "
                "the earlier one is kept"
            ],
        ),
    ]
    rows = store(aws_session, resources).query_window(MODEL, DAY_START, DAY_END)
    assert sorted(row.request_id for row in rows) == ["ok-1", "ok-2"]
