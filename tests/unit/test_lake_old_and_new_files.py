"""Lake files written before the option and `reviewed` columns existed, beside files that have them: the embedded
engine's views read a column a file lacks as a typed null (and a column no file has too), and the compaction step
merges both kinds into one schema, keeping a reviewed copy of an otherwise identical label."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_jobs.lake.compaction import conform, deduplicate
from batch_jobs.lake.engine import DuckDBEngine, LocalLakeFiles, Scope
from core.lake import OPTION_NAMES, REVIEWED, LakeTable, partition_prefix, sample_key

MODEL = "churn"
DAY = "2026-03-10"
TS = datetime(2026, 3, 10, 12)


def _predictions(ids: list[str], *, arm: list[str | None] | None = None) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(ids),
        "model_version": pa.array(["v1"] * len(ids)),
        "ts": pa.array([TS] * len(ids), pa.timestamp("ms")),
        "score": pa.array([0.5] * len(ids)),
        "predicted_label": pa.array([1] * len(ids), pa.int32()),
        "latency_ms": pa.array([1.0] * len(ids)),
        "sample_key": pa.array([sample_key(i) for i in ids], pa.int64()),
        "unparsed_features": pa.nulls(len(ids), pa.string()),
    }
    if arm is not None:
        columns["arm"] = pa.array(arm, pa.string())
        columns["shadow_score"] = pa.array([0.25] * len(ids))
    return pa.table(columns)


def _labels(ids: list[str], *, reviewed: list[bool] | None = None) -> pa.Table:
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(ids),
        "label": pa.array([1] * len(ids), pa.int32()),
        "observed_at": pa.array([TS] * len(ids), pa.timestamp("ms")),
        "sample_key": pa.array([sample_key(i) for i in ids], pa.int64()),
    }
    if reviewed is not None:
        columns[REVIEWED] = pa.array(reviewed, pa.bool_())
    return pa.table(columns)


def _write(root: Path, table: LakeTable, name: str, rows: pa.Table) -> None:
    folder = root / partition_prefix(table, MODEL, DAY)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, folder / f"part-{name}-00000.parquet")


@pytest.fixture
def engine(tmp_path: Path) -> DuckDBEngine:
    return DuckDBEngine(LocalLakeFiles(tmp_path), threads=1, memory_limit="256MB")


SCOPE = Scope(MODEL, {LakeTable.PREDICTIONS: (DAY,), LakeTable.LABELS: (DAY,)})


def test_a_view_over_old_and_new_files_reads_the_old_rows_option_columns_as_null(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    _write(tmp_path, LakeTable.PREDICTIONS, "old", _predictions(["o1", "o2"]))
    _write(tmp_path, LakeTable.PREDICTIONS, "new", _predictions(["n1"], arm=["control"]))
    rows = engine.query(
        f"SELECT request_id, {', '.join(OPTION_NAMES)} FROM predictions ORDER BY request_id",
        Scope(MODEL, {LakeTable.PREDICTIONS: (DAY,)}),
    )
    assert rows["request_id"].tolist() == ["n1", "o1", "o2"]
    assert [value if isinstance(value, str) else None for value in rows["arm"]] == ["control", None, None]
    assert rows["shadow_score"].isna().tolist() == [False, True, True]
    assert rows["shadow_version"].isna().all()  # no file has it: a typed null
    assert rows["heuristic_label"].isna().all()


def test_a_view_over_old_and_new_label_files_reads_old_labels_as_not_reviewed(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    _write(tmp_path, LakeTable.LABELS, "old", _labels(["o1"]))
    _write(tmp_path, LakeTable.LABELS, "new", _labels(["n1", "n2"], reviewed=[True, False]))
    rows = engine.query(
        "SELECT request_id, reviewed, COALESCE(reviewed, false) AS counted FROM labels ORDER BY request_id",
        Scope(MODEL, {LakeTable.LABELS: (DAY,)}),
    )
    assert rows["counted"].tolist() == [True, False, False]
    assert rows["reviewed"].isna().tolist() == [False, False, True]
    only_old = engine.query("SELECT COUNT(*) AS n FROM labels WHERE reviewed", SCOPE)
    assert only_old["n"].tolist() == [1]


def test_a_view_where_no_file_has_the_reviewed_column_filters_on_a_typed_null(
    engine: DuckDBEngine, tmp_path: Path
) -> None:
    _write(tmp_path, LakeTable.LABELS, "old", _labels(["o1", "o2"]))
    rows = engine.query("SELECT COUNT(*) AS n FROM labels WHERE reviewed", Scope(MODEL, {LakeTable.LABELS: (DAY,)}))
    assert rows["n"].tolist() == [0]


def test_compaction_merges_old_and_new_label_files_and_keeps_the_reviewed_copy() -> None:
    merged = deduplicate(
        LakeTable.LABELS,
        conform(LakeTable.LABELS, [_labels(["a", "b"]), _labels(["a", "c"], reviewed=[True, False])]),
    )
    assert merged.column_names == ["request_id", "label", "observed_at", "sample_key", REVIEWED]
    assert dict(zip(merged["request_id"].to_pylist(), merged[REVIEWED].to_pylist(), strict=True)) == {
        "a": True,  # the same label at the same time, once reviewed: the reviewed copy is kept
        "b": None,
        "c": False,
    }


def test_compaction_of_old_files_alone_needs_no_new_column() -> None:
    merged = deduplicate(LakeTable.LABELS, conform(LakeTable.LABELS, [_labels(["a"]), _labels(["a", "b"])]))
    assert merged.column_names == ["request_id", "label", "observed_at", "sample_key"]
    assert merged.num_rows == 2


def test_compaction_merges_old_and_new_prediction_files_into_the_union_of_their_columns() -> None:
    merged = conform(LakeTable.PREDICTIONS, [_predictions(["o1"]), _predictions(["n1"], arm=["model"])])
    assert merged.column_names[-2:] == ["arm", "shadow_score"]
    assert merged["arm"].to_pylist() == [None, "model"]
    assert merged.schema.field("arm").type == pa.string()
