"""Schema evolution of the lake's catalog against moto's Glue: a released schema's new features get typed columns,
nothing else changes, and files written before a column existed still read (the column null) through DuckDB; the
retrain job adds its released version's columns."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.local_runner import s3_object_created_event
from autoretrain.synthetic import FEATURES, generate_churn
from batch_jobs import retrain
from batch_jobs.lake.catalog import GlueLakeCatalog, ensure_feature_columns
from batch_jobs.lake.engine import DuckDBEngine, S3LakeFiles, Scope
from core.features import FeatureSpec, InputSchema
from core.lake import OPTION_COLUMNS, Column, LakeTable, feature_column, glue_table_input
from lambdas.payload_etl import handler, reset_cold_start

pytestmark = pytest.mark.integration

MODEL = "churn"
DAY = "2026-11-23"
AGE = FeatureSpec("age", "numeric", nullable=False)
PLAN = FeatureSpec("plan", "categorical", nullable=False, categories=("basic", "pro"))


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    reset_cold_start()
    yield
    reset_cold_start()


def table_columns(session: boto3.Session, database: str) -> list[dict[str, str]]:
    table = session.client("glue").get_table(DatabaseName=database, Name=LakeTable.PREDICTIONS.value)["Table"]
    return [{name: str(value) for name, value in column.items()} for column in table["StorageDescriptor"]["Columns"]]


def feature_columns_of(session: boto3.Session, database: str) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table_columns(session, database) if c["Name"].startswith("f_")}


def load(session: boto3.Session, bucket: str, name: str, *documents: dict[str, Any]) -> None:
    """One payload object through the real ETL handler."""
    key = f"payloads/model={MODEL}/dt={DAY}/{name}.jsonl"
    body = "".join(json.dumps(document) + "\n" for document in documents).encode()
    etag = session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    event = s3_object_created_event(bucket, key, size=len(body), etag=etag, event_time=datetime.now(UTC))
    assert handler(event, None)["loaded"] == len(documents)
    reset_cold_start()  # the next object in a new container: it reads the catalog again


def payload(request_id: str, features: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "v1",
        "timestamp": f"{DAY}T10:00:00.000Z",
        "features": features,
        "prediction": {"score": 0.5, "label": 1},
    }


def test_a_schema_that_gained_a_feature_gets_its_typed_column(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    database = resources.lake_database
    assert ensure_feature_columns(database, InputSchema((AGE,)), aws_session) == (feature_column("age"),)
    added = ensure_feature_columns(database, InputSchema((AGE, PLAN)), aws_session)
    assert added == (feature_column("plan"),)
    assert feature_columns_of(aws_session, database) == {"f_age": "double", "f_plan": "string"}
    by_name = {column["Name"]: column for column in table_columns(aws_session, database)}
    assert by_name["f_plan"]["Comment"] == "plan"
    names = [column["Name"] for column in table_columns(aws_session, database)]
    assert names[:8] == ["request_id", "model_version", "ts", "score", "predicted_label", "latency_ms", "sample_key",
                         "unparsed_features"]  # fmt: skip


def test_running_it_again_adds_nothing(aws_session: boto3.Session, resources: LocalResources) -> None:
    schema = InputSchema((AGE, PLAN))
    ensure_feature_columns(resources.lake_database, schema, aws_session)
    before = aws_session.client("glue").get_table(DatabaseName=resources.lake_database, Name="predictions")["Table"]
    assert ensure_feature_columns(resources.lake_database, schema, aws_session) == ()
    after = aws_session.client("glue").get_table(DatabaseName=resources.lake_database, Name="predictions")["Table"]
    assert after["StorageDescriptor"]["Columns"] == before["StorageDescriptor"]["Columns"]
    assert after.get("VersionId") == before.get("VersionId")


def test_a_feature_that_changed_kind_keeps_its_column_and_its_new_values_go_to_unparsed_features(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = resources.lake_database
    ensure_feature_columns(database, InputSchema((AGE,)), aws_session)
    with caplog.at_level(logging.WARNING, logger="batch_jobs.lake.catalog"):
        added = ensure_feature_columns(
            database, InputSchema((FeatureSpec("age", "categorical", nullable=False),)), aws_session
        )
    assert added == ()
    assert feature_columns_of(aws_session, database) == {"f_age": "double"}
    assert "changed kind" in caplog.text
    load(aws_session, resources.payload_bucket, "a", payload("r-1", {"age": "young"}))
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    scope = Scope(MODEL, {LakeTable.PREDICTIONS: [DAY]}, (Column("f_age", "double"),))
    frame = engine.query("SELECT f_age, unparsed_features FROM predictions", scope)
    assert frame["f_age"].isna().all()
    assert json.loads(frame["unparsed_features"][0]) == {"age": "young"}


def test_files_written_before_a_column_existed_read_it_as_null(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    database = resources.lake_database
    ensure_feature_columns(database, InputSchema((AGE,)), aws_session)
    load(aws_session, resources.payload_bucket, "before", payload("r-1", {"age": 30, "plan": "pro"}))
    ensure_feature_columns(database, InputSchema((AGE, PLAN)), aws_session)
    load(aws_session, resources.payload_bucket, "after", payload("r-2", {"age": 40, "plan": "basic"}))
    catalog = GlueLakeCatalog(aws_session.client("glue"), database)
    columns = tuple(column for _, column in catalog.feature_columns())
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    frame = engine.query(
        "SELECT request_id, f_age, f_plan, unparsed_features FROM predictions ORDER BY request_id",
        Scope(MODEL, {LakeTable.PREDICTIONS: [DAY]}, columns),
    )
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert rows == [
        {"request_id": "r-1", "f_age": 30.0, "f_plan": None, "unparsed_features": '{"plan":"pro"}'},
        {"request_id": "r-2", "f_age": 40.0, "f_plan": "basic", "unparsed_features": None},
    ]


def test_the_retrain_job_adds_the_released_versions_feature_columns(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    frame = generate_churn(3000, seed=1)
    aws_session.client("s3").put_object(
        Bucket=resources.payload_bucket, Key=f"training/{MODEL}/initial.csv", Body=frame.to_csv(index=False).encode()
    )
    now = datetime(2026, 11, 1, 3, tzinfo=UTC)
    config = retrain.RetrainConfig(lookback=timedelta(days=14))
    assert retrain.main(["--trigger", "initial", "--now", now.isoformat()], config=config) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outcome"] == "released"
    assert set(feature_columns_of(aws_session, resources.lake_database)) == {feature_column(name) for name in FEATURES}


def test_a_table_of_an_older_release_gains_the_option_columns_with_the_next_features(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    glue = aws_session.client("glue")
    database = f"{resources.lake_database}_older"
    glue.create_database(DatabaseInput={"Name": database})
    table_input = glue_table_input(resources.payload_bucket, LakeTable.PREDICTIONS)
    option_names = {column.name for column in OPTION_COLUMNS}
    storage = table_input["StorageDescriptor"]
    storage["Columns"] = [column for column in storage["Columns"] if column["Name"] not in option_names]
    glue.create_table(DatabaseName=database, TableInput=table_input)  # type: ignore[arg-type]
    added = ensure_feature_columns(database, InputSchema((AGE,)), aws_session)
    assert added == (*(column.name for column in OPTION_COLUMNS), feature_column("age"))
    types = {column["Name"]: column["Type"] for column in table_columns(aws_session, database)}
    assert {name: types[name] for name in option_names} == {c.name: c.glue_type for c in OPTION_COLUMNS}
    assert ensure_feature_columns(database, InputSchema((AGE,)), aws_session) == ()
