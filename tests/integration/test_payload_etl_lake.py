"""The payload-ETL writes the lake (`core.lake`) against moto's S3 and Glue: real objects in, Parquet files out, read
back with pyarrow; the catalog's predictions table (with its feature columns) created from `core.lake`'s definition."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoretrain.emulator import LocalResources
from core.lake import (
    LakeTable,
    feature_column,
    feature_columns,
    glue_table_input,
    part_file_key,
    partition_prefix,
    sample_key,
    source_digest,
    table_prefix,
)
from core.payload_store import PayloadStore
from core.settings import EnvVar
from core.tables import object_pk
from lambdas.payload_etl import handler, reset_cold_start
from lambdas.payload_etl.adapters import S3Baselines, S3ObjectStore
from lambdas.payload_etl.lake import COLUMNS_TTL_S, MISSING_TTL_S, GlueFeatureColumns, LakeError, S3Lake
from lambdas.payload_etl.limits import DEFAULT_LIMITS
from lambdas.payload_etl.logic import process_object
from lambdas.payload_etl.models import ObjectRef
from tests.integration.etl_support import jsonl, put_object

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).parents[1] / "events"
MODEL = "churn"
DAY = "2026-11-23"
PAYLOAD_KEY = f"payloads/model=churn/dt={DAY}/0001.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/0001.jsonl"
#: The predictions table's features: `plan` categorical, the others numeric (`autopay` has no column).
FEATURES = (("plan", "categorical"), ("tenure", "numeric"), ("charges", "numeric"))


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a new Lambda container: settings, clients and cached columns are read on its first invocation."""
    reset_cold_start()
    yield
    reset_cold_start()


@pytest.fixture
def lake_database(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """A Glue database with the lake's two tables, the predictions table with `FEATURES`, named to the ETL."""
    database = f"{resources.lake_database}_features"
    glue = aws_session.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    columns = feature_columns(FEATURES)
    for table in LakeTable:
        glue.create_table(DatabaseName=database, TableInput=glue_table_input(resources.payload_bucket, table, columns))  # type: ignore[arg-type]
    monkeypatch.setenv(EnvVar.LAKE_DATABASE.value, database)
    return database


def payload(request_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "20261120T030000Z-ab12cd",
        "timestamp": f"{DAY}T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3, "charges": 10.5},
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def label(request_id: str, value: int = 1, observed_at: str = "2026-12-20T08:30:00.250Z") -> dict[str, Any]:
    return {"request_id": request_id, "model_name": MODEL, "label": value, "observed_at": observed_at}


def etag_of(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["s3"]["object"]["eTag"])


def lake_keys(session: boto3.Session, bucket: str, table: LakeTable) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=table_prefix(table))
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def read(session: boto3.Session, bucket: str, key: str) -> pa.Table:
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return pq.read_table(io.BytesIO(body))


def read_all(session: boto3.Session, bucket: str, table: LakeTable) -> list[dict[str, Any]]:
    return [row for key in lake_keys(session, bucket, table) for row in read(session, bucket, key).to_pylist()]


def clear_ledger(session: boto3.Session, resources: LocalResources, key: str, etag: str) -> None:
    """Forget that an object was loaded, as if the ledger mark had never been written."""
    session.client("dynamodb").delete_item(
        TableName=resources.payload_table,
        Key={"pk": {"S": object_pk(resources.payload_bucket, key)}, "sk": {"S": etag}},
    )


def test_a_payload_object_lands_as_parquet_with_typed_columns(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    body = jsonl(payload("r-1"), payload("r-2", latency_ms=None, timestamp=f"{DAY}T10:00:01Z"))
    event = put_object(aws_session, bucket, PAYLOAD_KEY, body)
    result = handler(event, None)
    key = part_file_key(LakeTable.PREDICTIONS, MODEL, DAY, source_digest(bucket, PAYLOAD_KEY, etag_of(event)), 0)
    assert lake_keys(aws_session, bucket, LakeTable.PREDICTIONS) == [key]
    assert result["objects"][0]["lake_files"] == 1
    table = read(aws_session, bucket, key)
    assert {field.name: str(field.type) for field in table.schema} == {
        "request_id": "string",
        "model_version": "string",
        "ts": "timestamp[ms]",
        "score": "double",
        "predicted_label": "int32",
        "latency_ms": "double",
        "sample_key": "int64",
        "unparsed_features": "string",
        "arm": "string",
        "heuristic_score": "double",
        "heuristic_label": "int32",
        "shadow_version": "string",
        "shadow_score": "double",
        "shadow_label": "int32",
        "shadow_latency_ms": "double",
        "client_id": "string",
        feature_column("plan"): "string",
        feature_column("tenure"): "double",
        feature_column("charges"): "double",
    }
    first, second = table.to_pylist()
    assert first["ts"].isoformat() == f"{DAY}T10:00:00.123000"  # naive UTC, milliseconds
    assert (first["request_id"], first["model_version"], first["score"], first["predicted_label"]) == (
        "r-1",
        "20261120T030000Z-ab12cd",
        0.31,
        0,
    )
    assert (first["latency_ms"], second["latency_ms"]) == (12.5, None)
    assert (first["sample_key"], second["sample_key"]) == (sample_key("r-1"), sample_key("r-2"))
    assert (first["f_plan"], first["f_tenure"], first["f_charges"], first["unparsed_features"]) == (
        "pro",
        3.0,
        10.5,
        None,
    )


def test_a_label_object_lands_in_the_labels_table_on_its_observation_day(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    event = put_object(aws_session, bucket, LABEL_KEY, jsonl(label("r-1"), label("r-2", 0, "2026-12-20T09:00:00Z")))
    handler(event, None)
    key = part_file_key(LakeTable.LABELS, MODEL, "2026-12-20", source_digest(bucket, LABEL_KEY, etag_of(event)), 0)
    assert lake_keys(aws_session, bucket, LakeTable.LABELS) == [key]
    table = read(aws_session, bucket, key)
    assert {field.name: str(field.type) for field in table.schema} == {
        "request_id": "string",
        "label": "int32",
        "observed_at": "timestamp[ms]",
        "sample_key": "int64",
        "reviewed": "bool",
    }
    rows = [(row["request_id"], row["label"], row["observed_at"].isoformat()) for row in table.to_pylist()]
    assert rows == [("r-1", 1, "2026-12-20T08:30:00.250000"), ("r-2", 0, "2026-12-20T09:00:00")]


def test_a_redelivered_object_rewrites_its_own_files_and_adds_no_rows(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    event = put_object(aws_session, bucket, PAYLOAD_KEY, jsonl(payload("r-1"), payload("r-2")))
    handler(event, None)
    keys = lake_keys(aws_session, bucket, LakeTable.PREDICTIONS)
    clear_ledger(aws_session, resources, PAYLOAD_KEY, etag_of(event))  # a crash before the mark, then a retry
    reset_cold_start()
    assert handler(event, None)["objects"][0]["status"] == "loaded"
    assert lake_keys(aws_session, bucket, LakeTable.PREDICTIONS) == keys
    assert sorted(row["request_id"] for row in read_all(aws_session, bucket, LakeTable.PREDICTIONS)) == ["r-1", "r-2"]


def test_a_feature_without_a_column_and_a_value_of_another_type_are_kept_in_unparsed_features(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    features = {"plan": 3, "tenure": "three", "charges": True, "autopay": True, "region": None}
    event = put_object(
        aws_session, resources.payload_bucket, PAYLOAD_KEY, jsonl(payload("r-1", features=features), payload("r-2"))
    )
    handler(event, None)
    first, second = read_all(aws_session, resources.payload_bucket, LakeTable.PREDICTIONS)
    assert (first["f_plan"], first["f_tenure"], first["f_charges"]) == (None, None, None)
    assert json.loads(first["unparsed_features"]) == {
        "plan": 3,
        "tenure": "three",
        "charges": True,
        "autopay": True,
        "region": None,
    }
    assert (second["f_plan"], second["unparsed_features"]) == ("pro", None)


def test_records_of_two_days_land_in_two_partitions(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    late, early = payload("r-1", timestamp=f"{DAY}T23:59:59.999Z"), payload("r-2", timestamp="2026-11-24T00:00:00Z")
    event = put_object(aws_session, bucket, PAYLOAD_KEY, jsonl(late, early))
    handler(event, None)
    source = source_digest(bucket, PAYLOAD_KEY, etag_of(event))
    assert lake_keys(aws_session, bucket, LakeTable.PREDICTIONS) == [
        part_file_key(LakeTable.PREDICTIONS, MODEL, DAY, source, 0),
        part_file_key(LakeTable.PREDICTIONS, MODEL, "2026-11-24", source, 0),
    ]
    day_rows = read_all(aws_session, bucket, LakeTable.PREDICTIONS)
    assert [row["request_id"] for row in day_rows] == ["r-1", "r-2"]


def test_an_object_is_written_in_chunks_of_bounded_rows(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    documents = [payload(f"r-{index}", timestamp=f"{DAY}T10:00:{index:02d}.000Z") for index in range(5)]
    event = put_object(aws_session, bucket, PAYLOAD_KEY, jsonl(*documents))
    record = event["Records"][0]["s3"]
    ref = ObjectRef(bucket, PAYLOAD_KEY, etag_of(event), record["object"]["size"])
    lake = S3Lake(aws_session, GlueFeatureColumns(aws_session.client("glue"), lake_database))
    result = process_object(
        ref,
        objects=S3ObjectStore(aws_session.client("s3")),
        store=PayloadStore(aws_session.client("dynamodb"), resources.payload_table),
        lake=lake,
        baselines=S3Baselines(aws_session.client("s3"), resources.model_bucket),
        retention_days=30,
        limits=replace(DEFAULT_LIMITS, lake_chunk_rows=2),
    )
    source = source_digest(bucket, PAYLOAD_KEY, etag_of(event))
    keys = [part_file_key(LakeTable.PREDICTIONS, MODEL, DAY, source, chunk) for chunk in range(3)]
    assert (result.loaded, result.lake_files) == (5, 3)
    assert lake_keys(aws_session, bucket, LakeTable.PREDICTIONS) == keys
    assert [read(aws_session, bucket, key).num_rows for key in keys] == [2, 2, 1]
    assert [row["request_id"] for row in read_all(aws_session, bucket, LakeTable.PREDICTIONS)] == [
        f"r-{index}" for index in range(5)
    ]


def test_quarantined_records_do_not_reach_the_lake(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    bad_score = payload("r-2", prediction={"score": 7, "label": 0})
    conflict = payload("r-1", prediction={"score": 0.9, "label": 1})
    other_model = payload("r-3", model_name="other")
    body = jsonl(payload("r-1"), bad_score, conflict, other_model) + b"not json\n"
    result = handler(put_object(aws_session, bucket, PAYLOAD_KEY, body), None)
    assert (result["loaded"], result["quarantined"]) == (1, 4)
    assert [row["request_id"] for row in read_all(aws_session, bucket, LakeTable.PREDICTIONS)] == ["r-1"]
    refused_whole = put_object(aws_session, bucket, f"payloads/model=churn/dt={DAY}/empty.jsonl", b"\n\n")
    assert handler(refused_whole, None)["objects"][0]["lake_files"] == 0
    assert len(lake_keys(aws_session, bucket, LakeTable.PREDICTIONS)) == 1


def test_a_lake_failure_fails_the_invocation_before_the_ledger_mark_and_the_retry_writes_the_files(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    bucket = resources.payload_bucket
    glue = aws_session.client("glue")
    glue.delete_table(DatabaseName=lake_database, Name=LakeTable.PREDICTIONS.value)
    event = put_object(aws_session, bucket, PAYLOAD_KEY, jsonl(payload("r-1")))
    with pytest.raises(LakeError, match="GetTable"):
        handler(event, None)
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    assert not store.is_loaded(bucket, PAYLOAD_KEY, etag_of(event))
    table = glue_table_input(bucket, LakeTable.PREDICTIONS, feature_columns(FEATURES))
    glue.create_table(DatabaseName=lake_database, TableInput=table)  # type: ignore[arg-type]
    reset_cold_start()
    assert handler(event, None)["loaded"] == 1
    assert store.is_loaded(bucket, PAYLOAD_KEY, etag_of(event))
    assert [row["f_plan"] for row in read_all(aws_session, bucket, LakeTable.PREDICTIONS)] == ["pro"]


def add_column(session: boto3.Session, database: str, name: str, glue_type: str) -> None:
    glue = session.client("glue")
    table = glue.get_table(DatabaseName=database, Name=LakeTable.PREDICTIONS.value)["Table"]
    table["StorageDescriptor"]["Columns"].append({"Name": name, "Type": glue_type})
    table_input = {name: table[name] for name in ("Name", "StorageDescriptor", "PartitionKeys", "TableType")}
    glue.update_table(DatabaseName=database, TableInput=table_input)  # type: ignore[arg-type]


def test_the_feature_columns_are_read_again_once_their_ttl_has_passed(
    aws_session: boto3.Session, lake_database: str
) -> None:
    now = [0.0]
    columns = GlueFeatureColumns(aws_session.client("glue"), lake_database, clock=lambda: now[0])
    assert columns.get() == {"f_plan": "string", "f_tenure": "double", "f_charges": "double"}
    add_column(aws_session, lake_database, "f_region", "string")
    now[0] = COLUMNS_TTL_S - 1
    assert "f_region" not in columns.get()
    now[0] = COLUMNS_TTL_S
    assert columns.get()["f_region"] == "string"


def test_the_feature_columns_are_read_again_sooner_after_a_record_had_a_feature_without_one(
    aws_session: boto3.Session, lake_database: str
) -> None:
    now = [0.0]
    columns = GlueFeatureColumns(aws_session.client("glue"), lake_database, clock=lambda: now[0])
    columns.get()
    add_column(aws_session, lake_database, "f_region", "string")
    columns.expire_soon()
    now[0] = MISSING_TTL_S - 1
    assert "f_region" not in columns.get()
    now[0] = MISSING_TTL_S
    assert columns.get()["f_region"] == "string"


def test_a_label_object_needs_no_catalog(
    aws_session: boto3.Session, resources: LocalResources, lake_database: str
) -> None:
    aws_session.client("glue").delete_table(DatabaseName=lake_database, Name=LakeTable.PREDICTIONS.value)
    event = put_object(aws_session, resources.payload_bucket, LABEL_KEY, jsonl(label("r-1")))
    assert handler(event, None)["loaded"] == 1
    prefix = partition_prefix(LakeTable.LABELS, MODEL, "2026-12-20")
    assert [key.startswith(prefix) for key in lake_keys(aws_session, resources.payload_bucket, LakeTable.LABELS)] == [
        True
    ]
