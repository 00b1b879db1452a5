"""The lake's compaction against moto's S3: part files written as the ETL writes them (`lambdas.payload_etl.lake`)
become compacted files with the union of their rows, duplicates dropped and inputs deleted; a second run does
nothing; files newer than the settle time wait; a crash between writing and deleting converges on the next run."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoretrain.emulator import LocalResources
from batch_jobs.compact_lake import main
from batch_jobs.lake.compaction import (
    CompactionConfig,
    Manifest,
    S3CompactionFiles,
    compact_lake,
    input_digest,
)
from core.lake import (
    BASE_COLUMNS,
    LakeTable,
    compacted_file_key,
    compaction_manifest_prefix,
    part_file_key,
    sample_key,
    table_prefix,
)
from lambdas.payload_etl.lake import GlueFeatureColumns, S3Lake
from lambdas.payload_etl.models import LakeChunk

pytestmark = pytest.mark.integration

MODEL = "churn"
DAY = "2026-11-23"
T0 = int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp() * 1000)
#: When a run sees every file written by the test as settled (and any manifest as stale).
LATER = timedelta(hours=3)


def prediction(request_id: str, ts_ms: int = T0, score: float = 0.5, **features: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_version": "v1",
        "ts": ts_ms,
        "score": score,
        "predicted_label": 1,
        "latency_ms": None,
        "sample_key": sample_key(request_id),
        "unparsed_features": None,
        **{f"f_{name}": value for name, value in features.items()},
    }


def write_part(
    session: boto3.Session, bucket: str, table: LakeTable, source: str, rows: Sequence[Mapping[str, Any]]
) -> str:
    """One part file of `rows` (all with the same columns), written by the ETL's writer."""
    key = part_file_key(table, MODEL, DAY, source, 0)
    types = {column.name: column.glue_type for column in BASE_COLUMNS[table]}
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    glue_types = {name: types.get(name, "string" if isinstance(rows[0][name], str) else "double") for name in columns}
    lake = S3Lake(session, GlueFeatureColumns(session.client("glue"), "unused"))
    lake.write(LakeChunk(bucket, key, columns, glue_types, len(rows)))
    return key


def keys_of(session: boto3.Session, bucket: str, prefix: str) -> list[str]:
    listed = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", []))


def read(session: boto3.Session, bucket: str, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()))


def rows_of(session: boto3.Session, bucket: str, table: LakeTable) -> list[dict[str, Any]]:
    return [
        row for key in keys_of(session, bucket, table_prefix(table)) for row in read(session, bucket, key).to_pylist()
    ]


def later() -> datetime:
    return datetime.now(UTC) + LATER


@pytest.fixture
def files(aws_session: boto3.Session, resources: LocalResources) -> S3CompactionFiles:
    return S3CompactionFiles(aws_session, resources.payload_bucket)


def test_a_days_part_files_become_one_compacted_file_with_the_union_of_their_rows(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    inputs = [
        write_part(
            aws_session, bucket, LakeTable.PREDICTIONS, "a", [prediction("r-1", age=1.0), prediction("r-2", age=2.0)]
        ),
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, "b", [prediction("r-3", plan="pro")]),
        # r-1 logged again later: the earliest record wins.
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, "c", [prediction("r-1", T0 + 5_000, 0.9, age=9.0)]),
    ]
    result = compact_lake(files, MODEL, later())
    key = compacted_file_key(LakeTable.PREDICTIONS, MODEL, DAY, input_digest(inputs), 0)
    assert keys_of(aws_session, bucket, table_prefix(LakeTable.PREDICTIONS)) == [key]
    assert result.to_json()["files_in"] == 3
    assert result.to_json()["duplicates_dropped"] == 1
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
        "f_age": "double",
        "f_plan": "string",
    }
    by_id = {row["request_id"]: row for row in table.to_pylist()}
    assert sorted(by_id) == ["r-1", "r-2", "r-3"]
    assert (by_id["r-1"]["score"], by_id["r-1"]["f_age"]) == (0.5, 1.0)
    assert (by_id["r-3"]["f_plan"], by_id["r-3"]["f_age"]) == ("pro", None)
    assert [row["sample_key"] for row in table.to_pylist()] == sorted(sample_key(rid) for rid in by_id)
    head = aws_session.client("s3").head_object(Bucket=bucket, Key=key)
    assert head["Metadata"] == {"rows": "3", "full": "false"}
    assert keys_of(aws_session, bucket, compaction_manifest_prefix(LakeTable.PREDICTIONS, MODEL)) == []


def test_a_second_run_changes_nothing(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    for source in ("a", "b"):
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, source, [prediction(f"r-{source}")])
    compact_lake(files, MODEL, later())
    keys = keys_of(aws_session, bucket, "lake/")
    again = compact_lake(files, MODEL, later())
    assert again.days == ()
    assert keys_of(aws_session, bucket, "lake/") == keys


def test_files_newer_than_the_settle_time_wait_for_a_later_run(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    settle = CompactionConfig().settle
    old = [write_part(aws_session, bucket, LakeTable.PREDICTIONS, s, [prediction(f"r-{s}")]) for s in ("a", "b")]
    time.sleep(1.1)  # S3 times are in whole seconds
    cut = datetime.now(UTC)
    time.sleep(1.1)
    new = write_part(aws_session, bucket, LakeTable.PREDICTIONS, "c", [prediction("r-c")])
    assert compact_lake(files, MODEL, datetime.now(UTC)).days == ()  # nothing settled yet
    result = compact_lake(files, MODEL, cut + settle)
    assert [day.inputs for day in result.days] == [2]
    remaining = keys_of(aws_session, bucket, table_prefix(LakeTable.PREDICTIONS))
    assert new in remaining
    assert not set(old) & set(remaining)


def test_labels_keep_every_distinct_observation_of_a_request(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket

    def label(value: int, at: int) -> dict[str, Any]:
        return {"request_id": "r-1", "label": value, "observed_at": at, "sample_key": sample_key("r-1")}

    write_part(aws_session, bucket, LakeTable.LABELS, "a", [label(0, T0)])
    write_part(aws_session, bucket, LakeTable.LABELS, "b", [label(0, T0), label(1, T0 + 60_000)])
    compact_lake(files, MODEL, later())
    rows = rows_of(aws_session, bucket, LakeTable.LABELS)
    assert sorted((row["label"], row["observed_at"].isoformat()) for row in rows) == [
        (0, "2026-11-23T10:00:00"),
        (1, "2026-11-23T10:01:00"),
    ]


def test_a_day_larger_than_a_file_is_split_and_only_the_last_file_is_merged_again(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    bucket = resources.payload_bucket
    files = S3CompactionFiles(aws_session, bucket)
    config = CompactionConfig(target_rows=3, batch_files=1)  # one input file read at a time
    for index in range(7):
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, f"s{index}", [prediction(f"r-{index}")])
    compact_lake(files, MODEL, later(), config)
    compacted = keys_of(aws_session, bucket, table_prefix(LakeTable.PREDICTIONS))
    sizes = [read(aws_session, bucket, key).num_rows for key in compacted]
    assert sorted(sizes) == [1, 3, 3]
    write_part(aws_session, bucket, LakeTable.PREDICTIONS, "new", [prediction("r-new")])
    result = compact_lake(files, MODEL, later(), config)
    assert [(day.inputs, day.rows_out) for day in result.days] == [(2, 2)]  # the 1-row file and the new part
    assert sorted(row["request_id"] for row in rows_of(aws_session, bucket, LakeTable.PREDICTIONS)) == sorted(
        [f"r-{index}" for index in range(7)] + ["r-new"]
    )


class _CrashOnDelete(S3CompactionFiles):
    """The real adapter, but the run dies at its first deletion: it wrote its outputs and did nothing more."""

    def delete(self, keys: Sequence[str]) -> None:
        raise RuntimeError("crashed before deleting")


class _CrashAfterOneOutput(S3CompactionFiles):
    """The real adapter, but the run dies right after writing its first output file."""

    def write(self, key: str, rows: pa.Table, *, full: bool) -> None:
        super().write(key, rows, full=full)
        raise RuntimeError("crashed while writing")


def test_a_crash_between_writing_and_deleting_leaves_duplicates_the_next_run_removes(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    inputs = [write_part(aws_session, bucket, LakeTable.PREDICTIONS, s, [prediction(f"r-{s}")]) for s in "abc"]
    with pytest.raises(RuntimeError, match="before deleting"):
        compact_lake(_CrashOnDelete(aws_session, bucket), MODEL, datetime.now(UTC) + CompactionConfig().settle * 2)
    assert len(rows_of(aws_session, bucket, LakeTable.PREDICTIONS)) == 6  # the inputs and their copy
    (manifest_key,) = keys_of(aws_session, bucket, compaction_manifest_prefix(LakeTable.PREDICTIONS, MODEL))
    manifest = files.get_manifest(manifest_key)
    assert manifest is not None
    assert manifest.complete
    result = compact_lake(files, MODEL, later())
    assert result.rolled_forward == 1
    assert keys_of(aws_session, bucket, "lake/") == [
        compacted_file_key(LakeTable.PREDICTIONS, MODEL, DAY, input_digest(inputs), 0)
    ]
    assert sorted(row["request_id"] for row in rows_of(aws_session, bucket, LakeTable.PREDICTIONS)) == [
        "r-a",
        "r-b",
        "r-c",
    ]


def test_a_crash_while_writing_is_rolled_back_and_the_day_compacted_again(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    bucket = resources.payload_bucket
    config = CompactionConfig(target_rows=1)
    for source in "abc":
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, source, [prediction(f"r-{source}")])
    with pytest.raises(RuntimeError, match="while writing"):
        compact_lake(_CrashAfterOneOutput(aws_session, bucket), MODEL, datetime.now(UTC) + config.settle * 2, config)
    result = compact_lake(S3CompactionFiles(aws_session, bucket), MODEL, later(), config)
    assert (result.rolled_back, len(result.days)) == (1, 1)
    assert sorted(row["request_id"] for row in rows_of(aws_session, bucket, LakeTable.PREDICTIONS)) == [
        "r-a",
        "r-b",
        "r-c",
    ]
    assert keys_of(aws_session, bucket, "lake/_compaction/") == []


def test_a_young_manifest_is_a_run_under_way_and_its_day_is_left_alone(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    inputs = [write_part(aws_session, bucket, LakeTable.PREDICTIONS, s, [prediction(f"r-{s}")]) for s in "ab"]
    digest = input_digest(inputs)
    key = f"{compaction_manifest_prefix(LakeTable.PREDICTIONS, MODEL)}dt={DAY}/{digest}.json"
    files.put_manifest(key, Manifest(LakeTable.PREDICTIONS, DAY, digest, tuple(inputs)))
    result = compact_lake(files, MODEL, datetime.now(UTC) + CompactionConfig().settle * 2)
    assert (result.days, result.rolled_back) == ((), 0)
    assert set(inputs) <= set(keys_of(aws_session, bucket, "lake/"))


def _two_part_files(aws_session: boto3.Session, bucket: str) -> None:
    for source in "ab":
        write_part(aws_session, bucket, LakeTable.PREDICTIONS, source, [prediction(f"r-{source}")])


def test_the_job_compacts_the_configured_model_and_prints_its_summary(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _two_part_files(aws_session, resources.payload_bucket)
    assert main(["--now", later().isoformat()]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["model_name"], summary["files_in"], summary["files_out"]) == (MODEL, 2, 1)


def test_the_job_merges_fresh_files_only_when_told_no_writer_runs_meanwhile(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _two_part_files(aws_session, resources.payload_bucket)
    time.sleep(1.1)  # S3 times are in whole seconds: both files are now strictly older than `now`
    now = datetime.now(UTC).isoformat()
    assert main(["--now", now]) == 0
    assert json.loads(capsys.readouterr().out)["files_in"] == 0  # younger than the default 15 minutes
    assert main(["--now", now, "--settle-seconds", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["files_in"] == 2
    with pytest.raises(SystemExit):
        main(["--now", now, "--settle-seconds", "-1"])


def test_old_and_new_label_files_compact_into_one_schema_with_the_review_flag_kept(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket

    def label(request_id: str, at: int, **members: Any) -> dict[str, Any]:
        return {"request_id": request_id, "label": 1, "observed_at": at, "sample_key": sample_key(request_id)} | members

    write_part(aws_session, bucket, LakeTable.LABELS, "old", [label("r-1", T0), label("r-2", T0)])  # before `reviewed`
    write_part(
        aws_session,
        bucket,
        LakeTable.LABELS,
        "new",
        [label("r-1", T0, reviewed=True), label("r-3", T0, reviewed=False)],
    )
    compact_lake(files, MODEL, later())
    (key,) = keys_of(aws_session, bucket, table_prefix(LakeTable.LABELS))
    assert read(aws_session, bucket, key).schema.field("reviewed").type == pa.bool_()
    rows = rows_of(aws_session, bucket, LakeTable.LABELS)
    assert {row["request_id"]: row["reviewed"] for row in rows} == {"r-1": True, "r-2": None, "r-3": False}


def test_old_and_new_prediction_files_compact_with_the_option_columns_typed(
    aws_session: boto3.Session, resources: LocalResources, files: S3CompactionFiles
) -> None:
    bucket = resources.payload_bucket
    options = {"arm": "control", "heuristic_score": 0.2, "heuristic_label": 0, "shadow_version": None}
    write_part(aws_session, bucket, LakeTable.PREDICTIONS, "old", [prediction("r-1")])
    write_part(aws_session, bucket, LakeTable.PREDICTIONS, "new", [prediction("r-2") | options])
    compact_lake(files, MODEL, later())
    (key,) = keys_of(aws_session, bucket, table_prefix(LakeTable.PREDICTIONS))
    schema = read(aws_session, bucket, key).schema
    assert (schema.field("arm").type, schema.field("heuristic_label").type) == (pa.string(), pa.int32())
    rows = {row["request_id"]: row for row in rows_of(aws_session, bucket, LakeTable.PREDICTIONS)}
    assert (rows["r-1"]["arm"], rows["r-2"]["arm"], rows["r-2"]["heuristic_label"]) == (None, "control", 0)
