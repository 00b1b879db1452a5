"""The payload-ETL handler against moto's server: real objects in; real lake files, alerting aggregates, ledger
marks and quarantine objects out."""

from __future__ import annotations

import gzip
import json
import random
import socket
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from autoretrain.emulator import LocalResources
from core.aggregates import Aggregate
from core.baseline import MonitoringBaseline
from core.lake import LakeTable
from core.layout import MAX_KEY_BYTES, quarantine_object_key
from core.payload_store import TransientStoreError
from core.records import format_timestamp
from core.tables import object_pk
from lambdas.payload_etl import handler, reset_cold_start
from lambdas.payload_etl.limits import MEMORY_SIZE_VARIABLE, MIN_MEMORY_MB, EtlLimits
from tests.baselines import baseline_of, categorical, numeric
from tests.integration.etl_support import (
    EVENTS,
    aggregate_items,
    clear_ledger,
    etag_of,
    features_of,
    jsonl,
    lake_request_ids,
    lake_rows,
    put_baseline,
    put_object,
    store,
    table_items,
    window,
)

pytestmark = pytest.mark.integration

MODEL = "churn"
VERSION = "20261120T030000Z-ab12cd"
PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/0001.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/0001.jsonl"
DAY_START = datetime(2026, 11, 23, tzinfo=UTC)
DAY_END = datetime(2026, 11, 24, tzinfo=UTC)
#: The baseline of `VERSION`: what the records below are judged against.
BASELINE = baseline_of(
    [categorical("plan", "pro"), numeric("tenure"), numeric("charges"), categorical("autopay")],
    model_name=MODEL,
    model_version=VERSION,
)


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a new Lambda container: settings and clients are read on its first invocation."""
    reset_cold_start()
    yield
    reset_cold_start()


@pytest.fixture
def baseline(aws_session: boto3.Session, resources: LocalResources) -> MonitoringBaseline:
    """`VERSION`'s baseline, uploaded to the model bucket."""
    put_baseline(aws_session, resources, BASELINE)
    return BASELINE


def payload(request_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": VERSION,
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True},
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def label(request_id: str, value: int = 1, observed_at: str = "2026-12-20T00:00:00Z") -> dict[str, Any]:
    return {"request_id": request_id, "model_name": MODEL, "label": value, "observed_at": observed_at}


def quarantine_lines(session: boto3.Session, bucket: str, key: str, etag: str) -> list[dict[str, Any]]:
    body = session.client("s3").get_object(Bucket=bucket, Key=quarantine_object_key(key, etag))["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def quarantine_entries(session: boto3.Session, bucket: str, key: str, etag: str) -> list[dict[str, Any]]:
    """The refused records a quarantine object lists, after its summary line (always its first)."""
    summary, *entries = quarantine_lines(session, bucket, key, etag)
    assert (summary["summary"], summary["listed"]) == (True, len(entries))
    return entries


def day_aggregate(session: boto3.Session, resources: LocalResources, days: int = 1) -> Aggregate:
    """Every aggregate of the test's days, merged, as alerting reads them."""
    total = Aggregate()
    for aggregate in window(session, resources, MODEL, DAY_START, DAY_START + timedelta(days=days)).values():
        total.merge(aggregate)
    return total


def test_payloads_load_into_the_lake_and_the_aggregates_of_their_buckets(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str], baseline: MonitoringBaseline
) -> None:
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2")))
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"], result["objects"][0]["status"]) == (2, 0, "loaded")
    rows = lake_rows(aws_session, resources.payload_bucket)
    assert [row["request_id"] for row in rows] == ["r-1", "r-2"]
    assert features_of(rows[0]) == {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True}
    assert (rows[0]["score"], rows[0]["predicted_label"], rows[0]["latency_ms"]) == (0.31, 0, 12.5)
    buckets = window(aws_session, resources, MODEL, DAY_START, DAY_END)
    assert list(buckets) == [datetime(2026, 11, 23, 10, tzinfo=UTC)]
    (aggregate,) = buckets.values()
    assert (aggregate.rows, aggregate.judged, aggregate.positives, aggregate.versions) == (
        2,
        2,
        0,
        Counter({VERSION: 2}),
    )
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 2


def test_a_malformed_line_is_quarantined_and_the_valid_records_of_the_object_still_load(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1")) + b'{"request_id": "r-2",\n' + jsonl(payload("r-3"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["quarantined"]) == (2, 1)
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["r-1", "r-3"]
    aggregate = day_aggregate(aws_session, resources)
    assert (aggregate.rows, aggregate.refused) == (2, 1)  # the refusal in the arrival's bucket (10:05)
    (entry,) = quarantine_entries(aws_session, resources.payload_bucket, PAYLOAD_KEY, etag_of(event))
    assert entry["source_bucket"] == resources.payload_bucket
    assert entry["source_key"] == PAYLOAD_KEY
    assert entry["line"] == 2
    assert entry["raw"] == '{"request_id": "r-2",'
    assert entry["reasons"][0].startswith("not valid JSON")


def test_a_record_is_stored_with_its_canonical_values_and_judged_against_its_versions_baseline(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str], baseline: MonitoringBaseline
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
    rows = lake_rows(aws_session, resources.payload_bucket)
    assert [features_of(row) for row in rows] == [{"plan": "pro", "region": None, "city": "Zürich"}, {"plan": "basic"}]
    assert [(row["request_id"], row["ts"], row["latency_ms"]) for row in rows] == [
        ("r-1", datetime(2026, 11, 23, 10, 30), None),
        ("r-2", datetime(2026, 11, 23, 10, 45), None),
    ]
    assert (rows[0]["score"], rows[0]["predicted_label"]) == (1.0, 1)
    assert type(rows[0]["score"]) is float
    buckets = window(aws_session, resources, MODEL, DAY_START, DAY_END)
    assert list(buckets) == [datetime(2026, 11, 23, 10, 30, tzinfo=UTC), datetime(2026, 11, 23, 10, 45, tzinfo=UTC)]
    first, second = buckets.values()
    assert (first.extra, first.absent, first.latency_rows) == (
        Counter(region=1, city=1),
        Counter(tenure=1, charges=1, autopay=1),
        0,
    )
    assert (second.unseen_values, second.unseen_rows) == ({"plan": Counter(basic=1)}, 1)


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
    assert lake_rows(aws_session, resources.payload_bucket) == []
    assert [
        (item["rows"]["N"], Aggregate.loads(item["body"]["S"]).refused)
        for item in aggregate_items(aws_session, resources.payload_table)
    ] == [("0", 1)]


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
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["r-1", "r-2"]


def test_a_redelivered_object_writes_nothing_the_second_time(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    dynamodb = aws_session.client("dynamodb")
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2")))
    assert handler(event, None)["loaded"] == 2
    count_after_first = len(table_items(aws_session, resources.payload_table))
    # Mark the aggregate: a second write of the object would put the original item back, without the mark.
    (item,) = aggregate_items(aws_session, resources.payload_table)
    key = {"pk": item["pk"], "sk": item["sk"]}
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
    assert dynamodb.get_item(TableName=resources.payload_table, Key=key)["Item"]["marker"] == {"S": "marker"}
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 2


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
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["r-1", "r-2"]  # the first version's stay
    assert len(aggregate_items(aws_session, resources.payload_table)) == 2  # one per version: other sort keys
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 2


def test_a_retry_after_a_crash_before_the_ledger_mark_rewrites_the_same_items(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    body = jsonl(payload("r-1"), payload("r-2", timestamp="2026-11-23T15:00:00.000Z"))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    assert handler(event, None)["objects"][0]["status"] == "loaded"
    first = aggregate_items(aws_session, resources.payload_table)
    # As if the first invocation had died after its aggregates, before its ledger mark: Lambda retries the event.
    clear_ledger(aws_session, resources, PAYLOAD_KEY, etag_of(event))
    reset_cold_start()
    assert handler(event, None)["objects"][0]["status"] == "loaded"
    assert aggregate_items(aws_session, resources.payload_table) == first
    assert len(first) == 2
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 2
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["r-1", "r-2"]  # the same files, overwritten


def test_an_object_is_aggregated_in_one_item_per_bucket_and_read_newest_first(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    times = [
        "2026-11-23T10:40:00.000Z",
        "2026-11-23T10:05:00.000Z",
        "2026-11-23T10:44:59.999Z",
        "2026-11-23T23:59:59.999Z",
        "2026-11-24T00:00:01.000Z",
    ]
    body = jsonl(*(payload(f"r-{index}", timestamp=time) for index, time in enumerate(times)))
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    assert (result["loaded"], result["objects"][0]["write_calls"]) == (5, 1)
    read = list(store(aws_session, resources).aggregates(MODEL, DAY_START, DAY_END + timedelta(days=1)))
    assert [(f"{bucket:%Y-%m-%dT%H:%M}", aggregate.rows) for bucket, aggregate in read] == [
        ("2026-11-24T00:00", 1),
        ("2026-11-23T23:55", 1),
        ("2026-11-23T10:40", 2),
        ("2026-11-23T10:05", 1),
    ]
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 4


def test_a_large_object_loads_every_record_and_a_window_counts_its_buckets(
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
    rows = lake_rows(aws_session, resources.payload_bucket)
    assert [row["request_id"] for row in rows] == [f"r-{index:04d}" for index in range(700)]
    assert features_of(rows[123]) == {"notes": "123 " * 300, "tenure": 123}
    items = aggregate_items(aws_session, resources.payload_table)
    assert [int(item["rows"]["N"]) for item in items] == [60] * 11 + [40]  # a record every 5 s, 12 buckets
    payloads = store(aws_session, resources)
    middle_start, middle_end = start + timedelta(minutes=15), start + timedelta(minutes=40)
    assert payloads.count(MODEL, middle_start, middle_end) == 300
    assert sum(aggregate.rows for _, aggregate in payloads.aggregates(MODEL, middle_start, middle_end)) == 300


def test_an_event_for_a_superseded_version_is_skipped(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    stale = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1")))
    put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-2")))
    result = handler(stale, None)
    assert result["objects"][0]["status"] == "skipped"
    assert "overwritten" in result["objects"][0]["reason"]
    assert (
        lake_rows(aws_session, resources.payload_bucket),
        aggregate_items(aws_session, resources.payload_table),
    ) == (
        [],
        [],
    )


def test_duplicate_request_ids_in_one_object_are_loaded_once_and_a_conflicting_one_is_quarantined(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    first = payload("r-1", model_version="first")
    body = jsonl(first, payload("r-1", model_version="second"), first)
    result = handler(put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, body), None)
    assert (result["loaded"], result["duplicates"], result["quarantined"]) == (1, 1, 1)
    (row,) = lake_rows(aws_session, resources.payload_bucket)
    assert row["model_version"] == "first"
    assert day_aggregate(aws_session, resources).versions == Counter(first=1)


def test_a_label_is_stored_in_the_lake_at_its_canonical_observation_time(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    written = label("r-1", 1, "2026-12-20T09:30:00+09:30") | {"source": "crm", "confidence": 0.9}
    handler(put_object(aws_session, resources.payload_bucket, LABEL_KEY, jsonl(written)), None)
    (row,) = lake_rows(aws_session, resources.payload_bucket, LakeTable.LABELS)
    assert (row["request_id"], row["label"], row["observed_at"]) == ("r-1", 1, datetime(2026, 12, 20))


def test_labels_are_not_counted_as_predictions(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    observed = "2026-11-23T10:00:00.000Z"  # the same day as the prediction window
    key = LABEL_KEY.replace("dt=2026-12-20", "dt=2026-11-23")
    result = handler(put_object(aws_session, resources.payload_bucket, key, jsonl(label("r-1", 1, observed))), None)
    assert (result["loaded"], result["objects"][0]["write_calls"]) == (1, 0)
    assert aggregate_items(aws_session, resources.payload_table) == []
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END) == 0
    assert lake_rows(aws_session, resources.payload_bucket) == []
    assert lake_request_ids(aws_session, resources.payload_bucket, LakeTable.LABELS) == ["r-1"]


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
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["r-1", "r-2"]
    aggregate = day_aggregate(aws_session, resources)
    assert (aggregate.rows, aggregate.refused) == (2, bad_lines)  # every refusal, listed or not
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
    assert lake_rows(aws_session, resources.payload_bucket) == []
    assert day_aggregate(aws_session, resources).refused == 1  # the object, refused as a whole
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


def test_an_object_of_many_buckets_is_rewritten_identically_when_retried_with_another_memory_size(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MEMORY_SIZE_VARIABLE, str(MIN_MEMORY_MB))
    # 48 hours of records, a few in every bucket: 576 aggregate items, written in batches of 25.
    documents = [
        payload(f"r-{index:05d}", timestamp=format_timestamp(DAY_START + timedelta(seconds=61 * index)))
        | {"features": {"notes": "n" * 300, "tenure": index}}
        for index in range(2_830)
    ]
    event = put_object(aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(*documents))
    assert handler(event, None)["loaded"] == 2_830
    first = aggregate_items(aws_session, resources.payload_table)
    assert len(first) == 576
    # A failure before the ledger mark: Lambda retries the event, in a container with more memory.
    clear_ledger(aws_session, resources, PAYLOAD_KEY, etag_of(event))
    monkeypatch.setenv(MEMORY_SIZE_VARIABLE, "3008")
    reset_cold_start()
    assert handler(event, None)["loaded"] == 2_830
    assert aggregate_items(aws_session, resources.payload_table) == first
    assert store(aws_session, resources).count(MODEL, DAY_START, DAY_END + timedelta(days=1)) == 2_830


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
    assert lake_request_ids(aws_session, resources.payload_bucket) == ["ok-1", "ok-2"]
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
    aggregate = day_aggregate(aws_session, resources)
    assert (aggregate.rows, aggregate.refused, aggregate.non_finite, aggregate.non_finite_by_feature) == (
        2,
        7,
        1,
        Counter(tenure=1),
    )
