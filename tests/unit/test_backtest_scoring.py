"""The backtest's hindsight scoring and its reading of the gate, on hand-made numbers (no model is trained)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd
import pytest

from autoretrain.backtest.candidates import Candidate
from autoretrain.backtest.data import ReplayData, prepare_history
from autoretrain.backtest.evaluate import Scoreboard, deploys, detected_changes, recoveries
from autoretrain.backtest.monitor import Check
from autoretrain.backtest.replay import _policy_deploys
from autoretrain.backtest.settings import BacktestSettings
from batch_jobs.gate import GateDecision
from batch_jobs.monitoring.policy import Verdict

INITIAL_DAYS = 2
SETTINGS = BacktestSettings(initial_days=INITIAL_DAYS, harm_days=2)


@pytest.mark.parametrize(
    ("decision", "deploys"),
    [
        (SimpleNamespace(passed=True), True),  # a gate without outcomes: passing is releasing
        (SimpleNamespace(passed=False), False),
        (SimpleNamespace(passed=True, outcome="release"), True),
        (SimpleNamespace(passed=True, outcome="not_needed"), False),  # safe, but no reason to replace the champion
        (SimpleNamespace(passed=False, outcome="reject"), False),
    ],
)
def test_the_policy_deploys_only_what_the_gate_releases(decision: SimpleNamespace, deploys: bool) -> None:
    assert _policy_deploys(cast(GateDecision, decision)) is deploys


def _check(day: int, verdict: Verdict, decay: bool | None = None) -> Check:
    return Check(day, "champion", verdict, decay)


def test_a_change_is_detected_where_a_flagged_episode_starts() -> None:
    checks = [
        _check(2, "no_drift"),
        _check(3, "drift"),
        _check(4, "drift"),
        _check(5, "no_drift", decay=True),
        _check(6, "no_drift"),
        _check(7, "insufficient_data", decay=True),
    ]

    assert detected_changes(checks) == [3, 7]


def _data(n_days: int) -> ReplayData:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    times = [start + pd.Timedelta(days=day, hours=hour) for day in range(n_days) for hour in (1, 2, 3, 4)]
    labels = [0, 1, 0, 1] * n_days
    return prepare_history(pd.DataFrame({"timestamp": times, "x": np.arange(len(times)), "churned": labels}), SETTINGS)


def test_recovery_counts_the_days_until_the_served_model_keeps_up_with_the_oracles() -> None:
    data = _data(8)
    # Replayed days 2..7; the first champion decays from day 4, and the oracle's model is good again from day 5.
    oracle = np.array([0.8, 0.8, 0.6, 0.79, 0.8, 0.8])
    never = np.array([0.8, 0.8, 0.6, 0.6, 0.6, 0.6])
    deployed_late = np.array([0.8, 0.8, 0.6, 0.6, 0.79, 0.8])
    noisy = np.array([0.8, 0.8, 0.6, 0.6, 0.79, 0.77])  # keeps up on day 6, falls behind again on day 7

    def days(utility: np.ndarray[tuple[int], np.dtype[np.float64]], changes: list[int]) -> list[int | None]:
        return [item.days for item in recoveries(data, SETTINGS, utility, oracle, changes)]

    assert days(deployed_late, [3]) == [2]  # detected at the end of day 3; keeps up from day 6 on
    assert days(oracle, [3]) == [0]
    assert days(never, [3]) == [None]
    assert days(noisy, [3]) == [None]
    assert days(noisy, [3, 6]) == [2, None]  # each change is judged until the next one is detected


def test_a_deploy_is_worse_when_it_scores_below_the_model_it_replaced_on_the_next_days() -> None:
    data = _data(6)
    rows = data.n_rows
    good = SimpleNamespace(day=1, name="good", scores=np.tile([0.1, 0.9, 0.2, 0.8], rows // 4))
    bad = SimpleNamespace(day=3, name="bad", scores=np.tile([0.9, 0.1, 0.8, 0.2], rows // 4))
    board = Scoreboard(
        candidates=(cast(Candidate, good), cast(Candidate, bad)),
        utility=np.zeros((2, 4)),
        available_from=np.array([0, 2], dtype=np.int64),
        index={(1, None): 0, (3, None): 1},
    )

    found = deploys(data, SETTINGS, board, [(1, None), (1, None), (3, None), (3, None)])

    assert len(found) == 1
    assert found[0].day == 4
    assert found[0].replaced == "good"
    assert found[0].deployed == "bad"
    assert found[0].worse is True
    assert found[0].deployed_metric == pytest.approx(0.0)
    assert found[0].replaced_metric == pytest.approx(1.0)
