"""`autoretrain backtest` end to end: a small CSV history through the `autoretrain` command (table, JSON, HTML), a
lake directory read with the jobs' DuckDB engine, and bad input refused with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autoretrain.backtest import BacktestSettings
from autoretrain.backtest.cli import main
from autoretrain.backtest.data import prepare_history
from autoretrain.backtest.io import load_history
from autoretrain.backtest.result import COLUMNS
from autoretrain.backtest.streams import stream
from autoretrain.cli import main as autoretrain_command
from core.lake import LAKE_PREFIX, LakeTable, feature_column, partition_prefix, sample_key

pytestmark = pytest.mark.integration

REPLAYS = ("policy", "never", "scheduled", "drift_always", "oracle")
POLICY = """
initial_days = 10
label_delay_days = 3
window_days = 3
holdout_days = 3
[drift]
multivariate = false
[trigger]
adapt_days = 3
"""


def test_the_command_prints_every_replay_and_column_and_writes_json_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    stream("concept_shift", days=24, per_day=200, change_day=16, label_delay_days=3).to_csv(history, index=False)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    out = tmp_path / "out"

    code = autoretrain_command(["backtest", str(history), "--policy", str(policy), "--out", str(out)])

    printed = capsys.readouterr()
    assert code == 0, printed.err
    header, _rule, *rows = printed.out.strip().splitlines()
    for _, title in COLUMNS:
        assert title.format(metric="auc") in header
    assert [row.split()[0] for row in rows] == list(REPLAYS)
    assert all(len(row.split()) >= len(COLUMNS) for row in rows)
    document = json.loads((out / "backtest.json").read_text())
    assert [summary["name"] for summary in document["summaries"]] == list(REPLAYS)
    assert {
        "mean_metric",
        "regret",
        "net_per_day",
        "retrains",
        "deploys",
        "worse_deploys",
        "mean_recovery_days",
    } <= set(document["summaries"][0])
    assert len(document["replays"][0]["daily_metric"]) == len(document["days"]) == 14
    assert document["settings"]["label_delay_days"] == 3
    page = (out / "backtest.html").read_text()
    assert page.count("<svg") == 2
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert "<script" not in page
    assert "<link" not in page


def test_a_missing_history_is_refused_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_bad_policy_file_is_refused_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[drift]\nalpah = 0.1\n")

    assert main([str(tmp_path / "history.csv"), "--policy", str(policy)]) == 2
    assert "alpah" in capsys.readouterr().err


def _write(root: Path, table: LakeTable, day: str, frame: pd.DataFrame) -> None:
    folder = root / partition_prefix(table, "churn", day)
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-0.parquet")


def test_a_lake_directory_is_read_as_a_history_with_its_latest_labels(tmp_path: Path) -> None:
    history = stream("quiet", days=4, per_day=30)
    history["request_id"] = [f"r{i}" for i in range(len(history))]
    history["day"] = history["timestamp"].dt.strftime("%Y-%m-%d")
    all_labels = []
    for day, rows in history.groupby("day"):
        predictions = pd.DataFrame(
            {
                "request_id": rows["request_id"],
                "model_version": "v1",
                "ts": rows["timestamp"].dt.tz_localize(None).astype("datetime64[ms]"),
                "score": 0.5,
                "predicted_label": pa.array([0] * len(rows), pa.int32()),
                "latency_ms": 1.0,
                "sample_key": [sample_key(request) for request in rows["request_id"]],
                "unparsed_features": pa.array([None] * len(rows), pa.string()),
                feature_column("tenure_months"): rows["tenure_months"],
                feature_column("contract"): rows["contract"].astype(object),
            }
        )
        _write(tmp_path, LakeTable.PREDICTIONS, str(day), predictions)
        labels = pd.DataFrame(
            {
                "request_id": rows["request_id"],
                "label": pa.array(1 - rows["churned"].to_numpy(), pa.int32()),  # a first, wrong label...
                "observed_at": (rows["timestamp"].dt.tz_localize(None) + pd.Timedelta(days=1)).astype("datetime64[ms]"),
                "sample_key": [sample_key(request) for request in rows["request_id"]],
            }
        )
        corrected = labels.assign(
            label=pa.array(rows["churned"].to_numpy(), pa.int32()),  # ...corrected a day later: the latest wins
            observed_at=labels["observed_at"] + pd.Timedelta(days=1),
        )
        all_labels += [labels, corrected]
    observed = pd.concat(all_labels, ignore_index=True)
    for day, rows in observed.groupby(observed["observed_at"].dt.strftime("%Y-%m-%d")):  # a label's own day
        _write(tmp_path, LakeTable.LABELS, str(day), rows)

    read = load_history(tmp_path / LAKE_PREFIX, BacktestSettings())

    assert len(read) == len(history)
    assert set(read.columns) == {"timestamp", "tenure_months", "contract", "churned"}
    merged = read.sort_values("timestamp").reset_index(drop=True)
    assert merged["churned"].tolist() == history["churned"].tolist()
    assert merged["contract"].tolist() == history["contract"].tolist()
    data = prepare_history(read, BacktestSettings(initial_days=1))
    assert data.n_days == 4
    assert list(data.schema.names) == ["tenure_months", "contract"]
