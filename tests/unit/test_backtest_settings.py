"""The backtest's settings: the project's defaults, the policy file, and the history's columns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoretrain.backtest.data import HistoryError, prepare_history
from autoretrain.backtest.io import load_history, load_policy_file
from autoretrain.backtest.settings import BacktestSettings, HistoryColumns, SettingsError, settings_from_mapping
from batch_jobs.drift import DriftConfig
from batch_jobs.gate import GateConfig
from batch_jobs.governance import GovernanceConfig
from batch_jobs.monitoring.policy import TriggerPolicy
from batch_jobs.training.quality import QualityConfig


def test_the_defaults_are_the_projects_own() -> None:
    settings = BacktestSettings()

    assert settings.drift == DriftConfig()
    assert settings.gate == GateConfig()
    assert settings.governance == GovernanceConfig()
    assert settings.quality == QualityConfig()
    assert settings.trigger == TriggerPolicy(label_delay=timedelta(days=7))
    assert settings.window.strategy == "fixed"  # the job's fixed window: the settings module says why
    assert settings.window.fixed.name == "28d+initial"


def test_a_toml_policy_file_sets_every_part(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        "label_delay_days = 3\ncost_per_deploy = 0.5\nschedule_days = 14\n"
        "[drift]\nalpha = 0.01\nmultivariate = false\n"
        "[trigger]\nconsecutive_checks = 3\ncooldown_days = 1\nadapt_days = 2\n"
        "[governance]\ncooldown_hours = 12\nmax_per_period = 5\n"
        "[gate]\nmargin = 0.02\n"
        '[window]\nstrategy = "backtest"\ncandidates = [{days = 14}, {include_initial = true}]\n'
        '[columns]\nlabel = "y"\nignore = ["score"]\n'
        '[model]\nkind = "hist_gradient_boosting"\n'
    )

    settings = load_policy_file(policy)

    assert settings.label_delay_days == 3
    assert settings.trigger.label_delay == timedelta(days=3)  # one label delay for the policy and the data
    assert settings.trigger.consecutive_checks == 3
    assert settings.trigger.adapt_days == timedelta(days=2)
    assert settings.drift.alpha == 0.01
    assert not settings.drift.multivariate
    assert settings.governance.cooldown == timedelta(hours=12)
    assert settings.governance.max_per_period == 5
    assert settings.gate.margin == 0.02
    assert [window.name for window in settings.window.candidates] == ["14d", "all+initial"]
    assert settings.spec.target == "y"
    assert settings.spec.kind == "hist_gradient_boosting"
    assert settings.columns.ignore == ("score",)


def test_a_json_policy_file_is_read_too(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"metric": "brier", "gate": {"primary_metric": "brier", "margin": 0.005}}')

    settings = load_policy_file(policy)

    assert settings.metric == "brier"
    assert settings.gate.margin == 0.005


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"label_dealy_days": 3}, "label_dealy_days"),
        ({"drift": {"alpah": 0.1}}, "alpah"),
        ({"trigger": {"cooldown": 2}}, "cooldown"),
        ({"drift": {"alpha": 2.0}}, "alpha"),
        ({"metric": "accuracy"}, "metric"),
        ({"window": "fixed"}, "window"),
    ],
)
def test_a_bad_policy_setting_is_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings_from_mapping(document)


def _history(days: int, per_day: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    offsets = np.sort(rng.uniform(0, days * 86_400, days * per_day))
    return pd.DataFrame(
        {
            "timestamp": (start + pd.to_timedelta(offsets, unit="s")).astype(str),
            "x": rng.normal(size=days * per_day),
            "plan": rng.choice(["a", "b"], size=days * per_day),
            "churned": rng.integers(0, 2, days * per_day),
        }
    )


def test_the_history_is_put_in_time_order_with_its_days_and_default_arrivals() -> None:
    history = _history(20).sample(frac=1.0, random_state=1)

    data = prepare_history(history, BacktestSettings(initial_days=5))

    assert (np.diff(data.time) >= 0).all()
    assert data.n_days == 20
    assert list(data.replay_days) == list(range(5, 20))
    assert (data.arrival - data.time == 7 * 86_400 * 10**9).all()
    assert list(data.schema.names) == ["x", "plan"]
    assert data.rows_of_days(3, 3) == slice(int(data.bounds[3]), int(data.bounds[4]))


def test_history_columns_are_configurable() -> None:
    history = _history(20).rename(columns={"timestamp": "served_at", "churned": "y"})
    history["score"] = 0.5
    settings = BacktestSettings(
        initial_days=5, columns=HistoryColumns(timestamp="served_at", label="y", ignore=("score",))
    )

    data = prepare_history(history, settings)

    assert data.target == "y"
    assert settings.spec.target == "y"
    assert list(data.schema.names) == ["x", "plan"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda frame: frame.drop(columns=["churned"]), "churned"),
        (lambda frame: frame.assign(churned=2), "0/1"),
        (lambda frame: frame.assign(timestamp="yesterday"), "not times"),
        (lambda frame: frame.head(30), "spans 2 day"),
    ],
)
def test_a_history_that_cannot_be_replayed_says_why(
    change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(HistoryError, match=message):
        prepare_history(change(_history(20)), BacktestSettings(initial_days=5))


def test_an_unsupported_history_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "history.xlsx"
    path.write_text("x")

    with pytest.raises(HistoryError, match="unsupported"):
        load_history(path, BacktestSettings())
