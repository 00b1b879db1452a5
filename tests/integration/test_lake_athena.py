"""The Athena path's orchestration against moto, which runs no SQL: moto answers each query with a result seeded
here (as Athena would have computed it) and writes it, as Athena does, to the workgroup's result location. What is
tested is ours: the transpiled text, the database, the workgroup and its enforced encrypted result location, the
typed result read back into a window, and the result files deleted once read."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from autoretrain.emulator import Emulator, LocalResources
from batch_jobs.lake.engine import AthenaEngine, LakeQueryError, Scope
from batch_jobs.lake.queries import Window, daily_counts, for_athena, reviewed_counts, reviewed_sample
from batch_jobs.lake.windows import GlueFeatureCatalog, LakeWindows
from core.lake import OPTION_COLUMNS, LakeTable
from tests.lake_files import MODEL, add_feature_columns

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)
#: The option columns as Athena types them.
OPTION_TYPES = [
    (column.name, {"string": "varchar", "int": "integer"}.get(column.glue_type, column.glue_type))
    for column in OPTION_COLUMNS
]


def seed(emulator: Emulator, *results: tuple[Sequence[tuple[str, str]], Sequence[Sequence[str | None]]]) -> None:
    """Queue Athena results `(columns (name, type), rows)` in moto, answered in order to the next queries."""
    body = {
        "region": "us-east-1",
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": name} for name, _ in columns]}]
                + [{"Data": [{} if value is None else {"VarCharValue": value} for value in row]} for row in rows],
                "column_info": [
                    {"Name": name, "Label": name, "Type": kind, "Nullable": "NULLABLE", "CatalogName": "hive"}
                    for name, kind in columns
                ],
            }
            for columns, rows in results
        ],
    }
    request = urllib.request.Request(  # the emulator's own loopback endpoint
        f"{emulator.endpoint_url}/moto-api/static/athena/query-results",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 201


@pytest.fixture
def workgroup(aws_session: boto3.Session) -> tuple[str, str]:
    """A workgroup as infra makes it: enforced, results in their own bucket, encrypted; returns (name, bucket)."""
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    aws_session.client("s3").create_bucket(Bucket=bucket)
    name = f"wg-{uuid.uuid4().hex[:8]}"
    aws_session.client("athena").create_work_group(
        Name=name,
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": f"s3://{bucket}/athena/",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            },
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 10_000_000_000,
        },
    )
    return name, bucket


def executions(session: boto3.Session, workgroup: str) -> list[dict[str, Any]]:
    athena = session.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [dict(athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]) for i in ids]


def test_a_query_runs_transpiled_in_the_workgroup_on_the_lake_database_and_its_result_files_are_removed(
    emulator: Emulator, aws_session: boto3.Session, resources: LocalResources, workgroup: tuple[str, str]
) -> None:
    name, bucket = workgroup
    engine = AthenaEngine(resources.lake_database, name, aws_session)
    window = Window(MODEL, T0, T0 + timedelta(days=2))
    seed(emulator, ([("day", "varchar"), ("n", "bigint")], [["2026-03-10", "700"], ["2026-03-11", "1200"]]))

    result = engine.query(daily_counts(window), Scope(MODEL, {LakeTable.PREDICTIONS: window.days}))

    assert result["day"].tolist() == ["2026-03-10", "2026-03-11"]
    assert result["n"].tolist() == [700, 1200]
    (execution,) = executions(aws_session, name)
    assert execution["Query"] == for_athena(daily_counts(window))
    assert execution["QueryExecutionContext"]["Database"] == resources.lake_database
    assert execution["WorkGroup"] == name
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location.startswith(f"s3://{bucket}/athena/")
    assert execution["ResultConfiguration"]["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    left = aws_session.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    assert left == []  # read, then deleted: no query result outlives its job


def test_a_window_read_through_athena_counts_first_then_reads_typed_rows(
    emulator: Emulator, aws_session: boto3.Session, resources: LocalResources, workgroup: tuple[str, str]
) -> None:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = AthenaEngine(resources.lake_database, workgroup[0], aws_session)
    lake = LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database))
    columns = [
        ("model_version", "varchar"),
        ("ts", "timestamp"),
        ("score", "double"),
        ("predicted_label", "integer"),
        ("sample_key", "bigint"),
        ("unparsed_features", "varchar"),
        ("f_age", "double"),
        ("duplicate_of", "varchar"),
        ("label", "integer"),
    ]
    rows = [
        ["v2", "2026-03-10 12:00:01.500", "0.75", "1", "7", None, None, None, "0"],
        ["v1", "2026-03-10 12:00:00.000", "0.25", "0", "9", None, "41.0", None, "1"],
    ]  # in no order (the query sorts nothing); no JSON in `unparsed_features`: moto's CSV does not escape quotes
    seed(emulator, ([("day", "varchar"), ("n", "bigint")], [["2026-03-10", "2"]]), (columns, rows))

    frame = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=T0 + timedelta(days=8))

    assert frame.records == 2
    assert frame.score.tolist() == [0.25, 0.75]
    assert list(frame.model_version) == ["v1", "v2"]
    assert frame.features["age"].iloc[0] == 41.0
    assert frame.features["age"].isna().tolist() == [False, True]
    assert frame.label is not None
    assert frame.label.tolist() == [1, 0]
    assert frame.time[1] == T0 + timedelta(seconds=1.5)
    queries = [execution["Query"] for execution in executions(aws_session, workgroup[0])]
    assert len(queries) == 2
    assert all("model = 'churn'" in query for query in queries)
    assert "CAST('2026-03-10 12:00:00.000' AS TIMESTAMP)" in queries[1]


def test_a_query_athena_refuses_is_a_lake_query_error(aws_session: boto3.Session, resources: LocalResources) -> None:
    engine = AthenaEngine(resources.lake_database, "no-such-workgroup", aws_session)
    window = Window(MODEL, T0, T0 + timedelta(days=1))
    with pytest.raises(LakeQueryError, match="Athena failed"):
        engine.query(daily_counts(window), Scope(MODEL, {}))


def test_the_reviewed_read_through_athena_counts_reviewed_rows_then_reads_their_keys_and_options(
    emulator: Emulator, aws_session: boto3.Session, resources: LocalResources, workgroup: tuple[str, str]
) -> None:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = AthenaEngine(resources.lake_database, workgroup[0], aws_session)
    lake = LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database))
    columns = [
        ("request_id", "varchar"),
        ("model_version", "varchar"),
        ("ts", "timestamp"),
        ("score", "double"),
        ("predicted_label", "integer"),
        ("sample_key", "bigint"),
        ("unparsed_features", "varchar"),
        ("f_age", "double"),
        *[(name, kind) for name, kind in OPTION_TYPES],
        ("duplicate_of", "varchar"),
        ("label", "integer"),
    ]
    rows = [
        [
            "b",
            "v1",
            "2026-03-10 12:00:02.000",
            "0.6",
            "1",
            "11",
            None,
            "2.0",
            "control",
            "0.1",
            "0",
            None,
            None,
            None,
            None,
            "client-b",
            None,
            "1",
        ],
        [
            "a",
            "v1",
            "2026-03-10 12:00:01.000",
            "0.4",
            "0",
            "10",
            None,
            "1.0",
            "model",
            None,
            None,
            "v2",
            "0.7",
            "1",
            "3.5",
            "client-a",
            None,
            "0",
        ],
    ]
    seed(emulator, ([("day", "varchar"), ("n", "bigint")], [["2026-03-10", "2"]]), (columns, rows))
    until = T0 + timedelta(days=3)

    frame = lake.reviewed_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=until)

    assert frame.keys is not None
    assert frame.options is not None
    assert frame.keys.request_id.tolist() == ["a", "b"]
    assert frame.keys.sample_key.tolist() == [10, 11]
    assert list(frame.options.arm) == ["model", "control"]
    assert frame.options.shadow_label.tolist() == [1, -1]
    assert frame.options.heuristic_label.tolist() == [-1, 0]
    assert list(frame.options.client_id) == ["client-a", "client-b"]
    assert frame.label is not None
    assert frame.label.tolist() == [0, 1]
    queries = [execution["Query"] for execution in executions(aws_session, workgroup[0])]
    assert queries == [
        for_athena(reviewed_counts(Window(MODEL, T0, T0 + timedelta(hours=1)), labels_until=until)),
        for_athena(reviewed_sample(Window(MODEL, T0, T0 + timedelta(hours=1)), ["f_age"], None, labels_until=until)),
    ]
