"""The backtest on synthetic streams whose right decision is known (`autoretrain.backtest.streams`), on a compressed
timeline (10 initial days, labels after 3 days, 3-day windows and holdouts, no domain classifier) so each replay
takes seconds: a harmless drift needs few or no deploys, a harmful covariate shift and a concept shift need
retraining, and a corrupted label backfill must be refused by the gate."""

from __future__ import annotations

import dataclasses
import functools
from datetime import timedelta

import pytest

from autoretrain.backtest import BacktestResult, BacktestSettings, run_backtest
from autoretrain.backtest.replay import Outcome, ReplayName
from autoretrain.backtest.streams import StreamName, stream
from batch_jobs.drift import DriftConfig
from batch_jobs.monitoring.policy import TriggerPolicy

FAST = BacktestSettings(
    initial_days=10,
    label_delay_days=3,
    window_days=3,
    holdout_days=3,
    drift=DriftConfig(multivariate=False),
    trigger=TriggerPolicy(adapt_days=timedelta(days=3)),
)
DAYS, PER_DAY, CHANGE_DAY = 36, 300, 20
#: The backfill lands at the end of a scheduled retrain day: (30 − 10 + 1) is a multiple of 7.
BACKFILL_DAY = 30


@functools.cache
def backtest(name: StreamName, days: int = DAYS, workers: int | None = None) -> BacktestResult:
    change = BACKFILL_DAY if name == "label_corruption" else CHANGE_DAY
    history = stream(
        name, days=days, per_day=PER_DAY, change_day=change, label_delay_days=3, holdout_days=3, corrupted_days=7
    )
    return run_backtest(history, dataclasses.replace(FAST, workers=workers))


@pytest.mark.parametrize("name", ["harmless_drift", "harmful_covariate_shift", "concept_shift", "label_corruption"])
def test_no_replay_beats_the_oracles_objective(name: StreamName) -> None:
    result = backtest(name)
    oracle = result.summary(ReplayName.ORACLE)

    assert oracle.regret == pytest.approx(0.0)
    for summary in result.summaries:
        assert summary.net is not None
        assert oracle.net is not None
        assert summary.net <= oracle.net + 1e-9, summary.name


def test_a_harmless_drift_is_detected_but_needs_few_deploys() -> None:
    result = backtest("harmless_drift")
    policy, never = result.summary(ReplayName.POLICY), result.summary(ReplayName.NEVER)
    drift_always = result.summary(ReplayName.DRIFT_ALWAYS)

    assert result.detected_changes, "the shifted features are drift"
    assert policy.deploys <= 2
    assert drift_always.deploys > 3 * max(policy.deploys, 1)
    assert policy.mean_metric is not None
    assert never.mean_metric is not None
    assert policy.mean_metric == pytest.approx(never.mean_metric, abs=0.005)  # nothing to gain, nothing lost
    assert result.summary(ReplayName.ORACLE).deploys <= 1


def test_a_harmful_covariate_shift_is_repaired_by_retraining() -> None:
    result = backtest("harmful_covariate_shift")
    policy, never = result.summary(ReplayName.POLICY), result.summary(ReplayName.NEVER)

    assert policy.deploys >= 1
    assert policy.mean_metric is not None
    assert never.mean_metric is not None
    assert policy.mean_metric > never.mean_metric + 0.05
    assert never.unrecovered == len(result.detected_changes) >= 1


def test_a_concept_shift_is_found_on_matured_labels_and_retraining_helps() -> None:
    result = backtest("concept_shift")
    policy, never = result.summary(ReplayName.POLICY), result.summary(ReplayName.NEVER)
    checks = result.detail(ReplayName.POLICY).checks

    assert any(check.performance_decay for check in checks if check.day > CHANGE_DAY)
    assert not any(check.verdict == "drift" for check in checks)  # P(x) did not change
    assert policy.mean_metric is not None
    assert never.mean_metric is not None
    assert policy.mean_metric > never.mean_metric + 0.01
    assert policy.net is not None
    assert never.net is not None
    assert policy.net > never.net


def test_the_gate_refuses_a_challenger_trained_on_a_corrupted_label_backfill() -> None:
    result = backtest("label_corruption")
    retrains = {retrain.day: retrain for retrain in result.detail(ReplayName.POLICY).retrains}
    scheduled = result.detail(ReplayName.SCHEDULED)
    backfilled = f"c{result.days[BACKFILL_DAY - FAST.initial_days]}"

    refused = retrains[BACKFILL_DAY]
    assert refused.outcome is Outcome.REJECTED
    assert refused.gate is not None
    assert refused.gate["failed_checks"]
    assert not [day for day, retrain in retrains.items() if day >= BACKFILL_DAY and retrain.outcome is Outcome.DEPLOYED]
    deploy = next(deploy for deploy in scheduled.deploys if deploy.deployed == backfilled)
    assert deploy.worse  # always deploying shipped it, and it scored below the model it replaced


def test_the_result_does_not_depend_on_the_number_of_workers() -> None:
    one, two = backtest("harmless_drift", 22, workers=1).to_json(), backtest("harmless_drift", 22, workers=2).to_json()

    assert {**one, "timings_seconds": None} == {**two, "timings_seconds": None}
