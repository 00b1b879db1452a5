"""The lake bench at a tiny size, so that it cannot rot: its lake is what `core.lake` reads, and every side runs.

No timing is asserted (shared machines): only that each figure is measured and each target is evaluated.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from bench import lake
from core.lake import LakeTable, feature_column, partition_prefix, sample_key

ROWS = 20_000
FEATURES = 3


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> lake.Config:
    return lake.Config(
        data=tmp_path_factory.mktemp("lake-data"),
        sizes=(ROWS,),
        feature_counts=(FEATURES,),
        headline_features=FEATURES,
        sample_rows=5_000,
        current_rows=600,
        repeats=1,
        files_per_day=2,
    )


def test_the_synthetic_lake_has_the_contracts_layout_types_and_sample_keys(config: lake.Config) -> None:
    spec = lake.LakeSpec(lake.Job.DRIFT, FEATURES, ROWS, config.files_per_day)
    with duckdb.connect() as connection:
        assert lake.ensure_lake(config.data, spec, connection) > 0
        assert lake.ensure_lake(config.data, spec, connection) == 0.0  # cached: same parameters
    day = spec.start.strftime("%Y-%m-%d")
    files = sorted((config.data / partition_prefix(LakeTable.PREDICTIONS, spec.model_name, day)).glob("*.parquet"))
    assert len(files) == config.files_per_day
    table = pq.read_table(files, partitioning=None)
    assert table.schema.equals(lake.table_schema(LakeTable.PREDICTIONS, FEATURES))
    assert str(table.schema.field("ts").type) == "timestamp[ms]"
    assert feature_column("x0") in table.column_names
    assert table.column("unparsed_features").null_count == table.num_rows
    ids, keys = table.column("request_id").to_pylist(), table.column("sample_key").to_pylist()
    assert keys == [sample_key(request_id) for request_id in ids]
    total = sum(
        pq.read_metadata(path).num_rows
        for path in (config.data / "lake" / "predictions" / f"model={spec.model_name}").rglob("*.parquet")
    )
    assert total == ROWS


def test_the_entry_measures_every_side_and_evaluates_every_target(
    config: lake.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = lake.run_with(config)
    printed = capsys.readouterr().out
    assert "| drift check (14 days), N=3 |" in printed
    assert "| retrain (90 days), N=3 |" in printed
    by_name = {metric.name: metric for metric in metrics}
    assert all(math.isfinite(metric.value) for metric in metrics)
    for job in ("drift", "retrain"):
        label = f"{job} 20k n={FEATURES}"
        assert by_name[f"{label}: lake rows/s"].value > 0
        assert by_name[f"{label}: lake peak / min(rows, cap)"].passed is not None
        assert by_name[f"{label}: lake / current rows/s"].passed is not None
        assert by_name[f"{label}: lake time / floor time"].passed is not None
    assert by_name[f"current n={FEATURES}: rows/s"].value > 0
    assert by_name["DuckDB threads"].value >= 1


def test_the_results_path_is_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "bench/results/" in ignored
    assert lake.DATA.is_relative_to(Path(__file__).resolve().parents[2] / "bench" / "results")


def _result(job: lake.Job, rows: int, peak: float, features: int = 10) -> lake.WindowResult:
    lake_run = {"seconds": 2.0, "peak_kib": peak / 1024, "baseline_kib": 0, "steps": {}, "rows_read": {"x": 1000}}
    side = lake.Measurement.of([{"seconds": 1.0, "peak_kib": 1024, "baseline_kib": 0}])
    return lake.WindowResult(
        lake.LakeSpec(job, features, rows), 200_000, lake.Measurement.of([lake_run]), side, side, 1_000
    )


def test_peak_constancy_compares_the_largest_window_with_the_smallest_above_the_cap() -> None:
    results = [
        _result(lake.Job.DRIFT, 100_000, 1e6),  # below the cap: memory may still grow with the window
        _result(lake.Job.DRIFT, 1_000_000, 40e6),
        _result(lake.Job.DRIFT, 10_000_000, 70e6),
        _result(lake.Job.RETRAIN, 1_000_000, 50e6),
    ]
    assert lake.constancy(results) == {(lake.Job.DRIFT, 10): pytest.approx(1.75)}
    config = lake.Config(sizes=(100_000, 1_000_000, 10_000_000), feature_counts=(10,))
    by_name = {
        metric.name: metric for metric in lake.metrics(results, config, 0.0, {"threads": 2, "memory_limit": "1GB"})
    }
    assert by_name["drift n=10: peak largest / smallest window"].passed is False
    assert by_name["drift 10M n=10: lake peak / min(rows, cap)"].value == pytest.approx(350.0)
    assert by_name["drift 1M n=10: lake peak / min(rows, cap)"].passed is True
    assert by_name["drift 10M n=10: lake / current rows/s"].value == pytest.approx(5_000.0)
    assert by_name["drift 10M n=10: lake time / floor time"].value == pytest.approx(2.0)
    table = lake.markdown_table(results)
    assert "| drift check (14 days), N=10 | 10,000,000 |" in table
    assert "FAIL 350" in table
    assert results[1].held_bytes_per_row == pytest.approx(40_000.0)  # 40e6 over the 1,000 rows read
    assert "| 1,000 | 40,000 |" in table
