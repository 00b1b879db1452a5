"""The demo's history: read from a lake with the jobs' DuckDB engine (on disk here; the demo reads its S3 lake the same
way), written as `history.parquet` and read back by `autoretrain backtest`'s own reader — one row per request, the
repaired label from its first arrival, the serving columns kept but never features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoretrain.backtest import BacktestSettings
from autoretrain.backtest.cli import main as backtest_main
from autoretrain.backtest.data import feature_names, prepare_history
from autoretrain.backtest.io import load_history
from autoretrain.backtest.streams import stream
from autoretrain.demo.history import HISTORY_FILE, read_history, write_history
from batch_jobs.lake.engine import DuckDBEngine, LocalLakeFiles
from core.lake import Column, LakeTable, feature_column, partition_prefix, sample_key

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, tzinfo=UTC)
CATALOG = (
    ("tenure_months", Column(feature_column("tenure_months"), "double", "tenure_months")),
    ("contract", Column(feature_column("contract"), "string", "contract")),
)


def _write(root: Path, table: LakeTable, day: str, frame: pd.DataFrame, part: str = "part-0") -> None:
    folder = root / partition_prefix(table, "churn", day)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / f"{part}.parquet")


def _ms(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.replace(tzinfo=None), "ms")


def _predictions(requests: list[tuple[str, datetime, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [request for request, *_ in requests],
            "model_version": [version for _, _, version, _ in requests],
            "ts": pd.Series([_ms(at) for _, at, _, _ in requests], dtype="datetime64[ms]"),
            "score": [score for *_, score in requests],
            "predicted_label": pa.array([int(score >= 0.3) for *_, score in requests], pa.int32()),
            "latency_ms": 1.0,
            "sample_key": [sample_key(request) for request, *_ in requests],
            "unparsed_features": pa.array([None] * len(requests), pa.string()),
            feature_column("tenure_months"): [float(index) for index in range(len(requests))],
            feature_column("contract"): ["monthly", "yearly", None, "monthly"][: len(requests)],
        }
    )


def _labels(records: list[tuple[str, int, datetime]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "request_id": [request for request, _, _ in records],
            "label": pa.array([label for _, label, _ in records], pa.int32()),
            "observed_at": pd.Series([_ms(at) for _, _, at in records], dtype="datetime64[ms]"),
            "sample_key": [sample_key(request) for request, _, _ in records],
        }
    )


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Four requests on three days, one logged twice; r1 labelled once, r2 labelled, flipped by a faulty backfill and
    repaired, r3 and r4 never labelled."""
    root = tmp_path / "lake-root"
    first, second = START + timedelta(hours=5), START + timedelta(days=1, hours=7)
    _write(
        root, LakeTable.PREDICTIONS, "2026-03-02", _predictions([("r1", first, "v1", 0.8), ("r2", first, "v1", 0.2)])
    )
    _write(root, LakeTable.PREDICTIONS, "2026-03-03", _predictions([("r3", second, "v2", 0.4)]))
    _write(root, LakeTable.PREDICTIONS, "2026-03-04", _predictions([("r4", second + timedelta(days=1), "v2", 0.1)]))
    duplicate = _predictions([("r1", first + timedelta(seconds=1), "v1", 0.9)])  # the same request, logged again
    _write(root, LakeTable.PREDICTIONS, "2026-03-02", duplicate, part="part-1")
    arrival = START + timedelta(days=8)
    backfill, repair = START + timedelta(days=20), START + timedelta(days=22)
    _write(root, LakeTable.LABELS, "2026-03-10", _labels([("r1", 1, arrival), ("r2", 0, arrival)]))
    _write(root, LakeTable.LABELS, "2026-03-22", _labels([("r2", 1, backfill)]))
    _write(root, LakeTable.LABELS, "2026-03-24", _labels([("r2", 0, repair)]))
    return root


def test_the_history_round_trips_through_the_backtest_reader_with_repaired_labels_from_their_first_arrival(
    lake: Path, tmp_path: Path
) -> None:
    engine = DuckDBEngine(LocalLakeFiles(lake), threads=1)
    try:
        history = read_history(engine, CATALOG, "churn", START, START + timedelta(days=30))
    finally:
        engine.close()
    path = write_history(history, tmp_path / "out" / HISTORY_FILE)

    read = load_history(path, BacktestSettings()).set_index("request_id")

    assert sorted(read.index) == ["r1", "r2", "r3", "r4"]  # r1 once
    assert feature_names(read.reset_index(), BacktestSettings()) == ["tenure_months", "contract"]
    assert read.loc["r1", "score"] == pytest.approx(0.8)  # the earliest record of a request logged twice
    assert read.loc["r3", "model_version"] == "v2"
    assert str(read["churned"].dtype) == "Int8"  # a label or none, never a float
    assert read.loc["r1", "churned"] == 1
    assert read.loc["r2", "churned"] == 0  # repaired, not the backfill's flipped label
    assert pd.isna(read.loc["r3", "churned"])
    arrived = pd.to_datetime(read["label_arrived_at"], utc=True)
    observed = pd.to_datetime(read["label_observed_at"], utc=True)
    assert arrived["r2"] == pd.Timestamp(START + timedelta(days=8))  # its value first arrived with the original label
    assert observed["r2"] == pd.Timestamp(START + timedelta(days=22))  # the repair is the latest record
    assert pd.isna(arrived["r3"])
    assert pd.to_datetime(read["timestamp"], utc=True)["r3"] == pd.Timestamp(START + timedelta(days=1, hours=7))
    data = prepare_history(read.reset_index(), BacktestSettings(initial_days=1))
    assert list(data.schema.names) == ["tenure_months", "contract"]
    assert np.isnan(data.label).sum() == 2


def test_served_columns_are_never_features(tmp_path: Path) -> None:
    history = stream("quiet", days=3, per_day=20)
    history["request_id"] = [f"r{index}" for index in range(len(history))]
    history["model_version"] = "v1"
    history["score"] = 0.5
    history["predicted_label"] = 1
    history["label_observed_at"] = history["label_arrived_at"]

    names = feature_names(history, BacktestSettings())

    assert not {"request_id", "model_version", "score", "predicted_label", "label_observed_at"} & set(names)
    assert "tenure_months" in names


def test_the_backtest_command_runs_on_a_plain_csv_with_served_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = stream("concept_shift", days=20, per_day=150, change_day=13, label_delay_days=3)
    history["request_id"] = [f"r{index}" for index in range(len(history))]
    history["score"] = 0.5
    path = tmp_path / "history.csv"
    history.to_csv(path, index=False)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "initial_days = 10\nlabel_delay_days = 3\nwindow_days = 3\nholdout_days = 3\nworkers = 1\n"
        "[drift]\nmultivariate = false\n[trigger]\nadapt_days = 3\n"
    )

    code = backtest_main([str(path), "--policy", str(policy), "--out", str(tmp_path / "out")])

    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "backtest.json").exists()
    assert "score" not in (tmp_path / "out" / "backtest.json").read_text().split('"features"')[1].split("]")[0]
