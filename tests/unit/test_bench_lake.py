"""The lake bench at a tiny size, so that it cannot rot: its lake is what `core.lake` reads, and both sides (the lake
and the floor) run.

No timing is asserted (shared machines): only that each figure is measured and each target is evaluated.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
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


def test_the_entry_measures_both_sides_in_subprocesses_and_evaluates_every_target(
    config: lake.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    # One job through the subprocesses (each imports the jobs' libraries: seconds); the retrain's side runs in
    # process below.
    metrics = lake.run_with(replace(config, jobs=(lake.Job.DRIFT,)))
    printed = capsys.readouterr().out
    assert "| drift check (14 days), N=3 |" in printed
    by_name = {metric.name: metric for metric in metrics}
    assert all(math.isfinite(metric.value) for metric in metrics)
    label = f"drift 20k n={FEATURES}"
    assert by_name[f"{label}: lake rows/s"].value > 0
    assert by_name[f"{label}: floor time"].value > 0
    assert by_name[f"{label}: lake peak / min(rows, cap)"].passed is not None
    assert by_name[f"{label}: lake time / floor time"].passed is not None
    assert by_name["DuckDB threads"].value >= 1
    assert not [name for name in by_name if "current" in name]  # the DynamoDB-segment path is gone (issue #15)


def test_the_retrain_side_reads_its_whole_window_and_assembles_the_training_set(
    config: lake.Config, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = lake.LakeSpec(lake.Job.RETRAIN, FEATURES, ROWS, config.files_per_day)
    with duckdb.connect() as connection:
        lake.ensure_lake(config.data, spec, connection)
    common = ["--job", "retrain", "--features", str(FEATURES), "--rows", str(ROWS), "--root", str(config.data)]
    capsys.readouterr()

    assert lake.worker_main(["lake", *common, "--sample-rows", str(config.sample_rows)]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert lake.worker_main(["floor", *common]) == 0
    floor = json.loads(capsys.readouterr().out)

    assert measured["records"] == {"labelled_frame": ROWS}
    assert set(measured["steps"]) == {"labelled_frame", "assemble"}
    assert 0 < measured["rows_read"]["labelled_frame"] <= config.sample_rows * 1.05
    assert (floor["rows"], floor["files"] > 0) == (ROWS, True)
    assert floor["label_rows"] >= ROWS * lake.LABELLED_SHARE * 0.9


def test_the_results_path_is_ignored_by_git() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "bench/results/" in ignored
    assert lake.DATA.is_relative_to(Path(__file__).resolve().parents[2] / "bench" / "results")


def _result(job: lake.Job, rows: int, peak: float, features: int = 10) -> lake.WindowResult:
    lake_run = {"seconds": 2.0, "peak_kib": peak / 1024, "baseline_kib": 0, "steps": {}, "rows_read": {"x": 1000}}
    floor = lake.Measurement.of([{"seconds": 1.0, "peak_kib": 1024, "baseline_kib": 0}])
    return lake.WindowResult(lake.LakeSpec(job, features, rows), 200_000, lake.Measurement.of([lake_run]), floor)


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
    assert by_name["drift 10M n=10: lake time / floor time"].value == pytest.approx(2.0)
    table = lake.markdown_table(results)
    assert "| drift check (14 days), N=10 | 10,000,000 |" in table
    assert "FAIL 350" in table
    assert "current" not in table
    assert results[1].held_bytes_per_row == pytest.approx(40_000.0)  # 40e6 over the 1,000 rows read
    assert "| 1,000 | 40,000 |" in table
