"""The demo's use of the backtest: the decay target's figure on the run (per check the champion's matured-label AUC
against the best candidate available, on the labels the check saw), the issue's targets, and the report's section
comparing every replay on every column."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from autoretrain.backtest import BacktestResult, BacktestSettings, run_backtest
from autoretrain.backtest.result import COLUMNS, CandidateScores
from autoretrain.backtest.streams import stream
from autoretrain.demo.history import backtest_section, column_aucs, decay_response, flips_at, targets
from autoretrain.demo.report import SECTIONS, backtest_html, decay_html

START = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
REPLAYS = ("policy", "never", "scheduled", "drift_always", "oracle")


def test_column_aucs_match_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(300) < 0.3).astype(np.float64)
    scores = np.column_stack([np.round(rng.random(300), 1), labels * 0.5 + rng.random(300)])

    aucs = column_aucs(labels, scores)

    assert aucs == pytest.approx([roc_auc_score(labels, scores[:, i]) for i in range(2)])
    assert np.isnan(column_aucs(np.ones(3), np.ones((3, 1)))).all()


def _backfill(at: datetime, *, flipped: bool, span: tuple[datetime, datetime]) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "kind": "label_backfill",
        "detail": {"flipped": flipped, "span": [moment.isoformat() for moment in span]},
    }


def _ns(moments: Sequence[datetime]) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.array([pd.Timestamp(moment).value for moment in moments], dtype=np.int64)


def test_labels_are_flipped_only_between_a_faulty_backfill_and_its_repair() -> None:
    span = (START, START + 2 * DAY)
    events = [
        _backfill(START + 10 * DAY, flipped=True, span=span),
        _backfill(START + 12 * DAY, flipped=False, span=span),
    ]
    times = _ns([START + timedelta(hours=5), START + 3 * DAY])  # inside the span, outside it

    assert flips_at(events, times, pd.Timestamp(START + 9 * DAY).value).tolist() == [False, False]
    assert flips_at(events, times, pd.Timestamp(START + 11 * DAY).value).tolist() == [True, False]
    assert flips_at(events, times, pd.Timestamp(START + 12 * DAY).value).tolist() == [False, False]


def _result(scores: dict[str, np.ndarray[Any, Any]], trained_at: dict[str, datetime], n_rows: int) -> BacktestResult:
    return BacktestResult(
        metric="auc",
        days=(),
        summaries=(),
        details=(),
        best_daily_metric=(),
        detected_changes=(),
        candidates=(),
        history={},
        settings={},
        definitions={},
        timings={},
        candidate_scores=CandidateScores(
            history_rows=np.arange(n_rows, dtype=np.int64),
            time=np.zeros(n_rows, dtype=np.int64),
            scores=scores,
            trained_at={name: pd.Timestamp(moment).value for name, moment in trained_at.items()},
        ),
    )


def _check(at: datetime, auc: float, *, decay: bool, version: str = "v1") -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "result": {
            "performance_decay": decay,
            "champion_version": version,
            "performance": {"metrics": [{"name": "auc", "value": auc}]},
        },
    }


@pytest.fixture
def history() -> pd.DataFrame:
    """20 days of 50 predictions a day, each labelled 7 days later."""
    rng = np.random.default_rng(0)
    times = [START + timedelta(days=day, minutes=20 * row) for day in range(20) for row in range(50)]
    label = (rng.random(len(times)) < 0.4).astype(np.int8)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(times, utc=True),
            "churned": pd.array(label, dtype="Int8"),
            "label_arrived_at": pd.to_datetime(times, utc=True) + pd.Timedelta(days=7, hours=1),
        }
    )


def _candidates(history: pd.DataFrame) -> BacktestResult:
    label = history["churned"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(1)
    return _result(
        {"c-good": label + 0.1 * rng.random(len(label)), "c-random": rng.random(len(label))},
        {"c-good": START + 2 * DAY, "c-random": START + 2 * DAY},
        len(label),
    )


def test_a_lagging_champion_replaced_after_one_more_check_meets_the_target(history: pd.DataFrame) -> None:
    checks = [
        _check(START + 15 * DAY, 0.9, decay=False),
        _check(START + 16 * DAY, 0.6, decay=True),  # the detection
        _check(START + 17 * DAY, 0.6, decay=True),  # still lagging
        _check(START + 18 * DAY, 0.98, decay=False, version="v2"),
    ]

    figure = decay_response(history, _candidates(history), checks, [], label_delay_days=7)

    (detection,) = figure["detections"]
    assert detection["detected_at"] == checks[1]["at"]
    assert detection["gap_at_detection"] == pytest.approx(0.4, abs=0.01)
    assert detection["lagging_checks"] == {"v1": 2}
    assert detection["survived_checks"] == 1
    assert detection["meets_target"] is True
    assert detection["lagging_when_the_run_ended"] is False
    assert figure["checks"][1]["best_candidate"] == "c-good"
    assert figure["checks"][1]["rows"] == 7 * 50  # the matured window: 7 days whose labels had arrived


def test_a_champion_lagging_for_three_more_checks_fails_the_target(history: pd.DataFrame) -> None:
    checks = [_check(START + (15 + day) * DAY, 0.6, decay=True) for day in range(5)]

    figure = decay_response(history, _candidates(history), checks, [], label_delay_days=7)

    assert figure["detections"][0]["survived_checks"] == 4
    assert figure["detections"][0]["lagging_when_the_run_ended"] is True
    assert figure["meets_target"] is False


def test_a_champion_that_starts_lagging_after_the_detection_is_counted(history: pd.DataFrame) -> None:
    checks = [
        _check(START + 15 * DAY, 0.97, decay=True),  # detected, not lagging yet
        *(_check(START + (16 + day) * DAY, 0.6, decay=True) for day in range(3)),  # then lagging three times
        _check(START + 19 * DAY, 0.97, decay=False, version="v2"),
    ]

    figure = decay_response(history, _candidates(history), checks, [], label_delay_days=7)

    assert figure["detections"][0]["lagging_checks"] == {"v1": 3}
    assert figure["detections"][0]["survived_checks"] == 2
    assert figure["meets_target"] is True


def test_candidates_are_scored_on_the_labels_the_check_saw(history: pd.DataFrame) -> None:
    at = START + 16 * DAY
    span = (START, START + 20 * DAY)
    events = [_backfill(at - DAY, flipped=True, span=span), _backfill(at + DAY, flipped=False, span=span)]

    figure = decay_response(history, _candidates(history), [_check(at, 0.5, decay=True)], events, label_delay_days=7)

    assert figure["checks"][0]["best_candidate"] == "c-random"  # the good one is perfectly wrong on flipped labels


def test_no_candidate_trained_after_the_check_is_available(history: pd.DataFrame) -> None:
    label = history["churned"].to_numpy(dtype=np.float64)
    late = _result({"c-late": label}, {"c-late": START + 30 * DAY}, len(label))

    figure = decay_response(history, late, [_check(START + 16 * DAY, 0.6, decay=True)], [], label_delay_days=7)

    assert figure["checks"][0]["best_candidate"] is None
    assert figure["detections"][0]["lagging_checks"] == {}


@pytest.fixture(scope="module")
def backtest() -> BacktestResult:
    history = stream("concept_shift", days=20, per_day=150, change_day=13, label_delay_days=3)
    settings = BacktestSettings(
        initial_days=10,
        label_delay_days=3,
        window_days=3,
        holdout_days=3,
        workers=1,
        drift=BacktestSettings().drift.__class__(multivariate=False),
    )
    return run_backtest(history, settings)


def test_the_targets_compare_the_policy_with_never_and_the_scheduled_baseline(backtest: BacktestResult) -> None:
    aims = targets(backtest)
    policy, never = backtest.summary("policy"), backtest.summary("never")

    assert policy.regret is not None
    assert never.regret is not None
    if never.regret > 0:
        assert aims["regret_vs_never"] == pytest.approx(policy.regret / never.regret, abs=1e-4)
    assert aims["deploys"] == {"policy": policy.deploys, "scheduled": backtest.summary("scheduled").deploys}


def test_the_report_section_compares_every_replay_on_every_column_with_curves(backtest: BacktestResult) -> None:
    section = backtest_section(backtest, wall_seconds=1.0, files={"json": "backtest.json"})

    page = backtest_html(backtest, section)

    for name in REPLAYS:
        assert f"{name}</td>" in page
    for _, header in COLUMNS:
        assert f"<th>{header.format(metric='auc')}</th>" in page
    assert 'id="plot-backtest-daily"' in page
    assert 'id="plot-backtest-rolling"' in page
    assert "regret at most 25 %" in page
    assert "repaired labels" in page  # what the figures assume
    assert any(anchor == "backtest" for anchor, _ in SECTIONS)


def test_the_report_says_when_the_backtest_did_not_run() -> None:
    assert "Not available" in backtest_html(None, {"error": "the history spans 3 day(s)"})
    assert "Not available" in decay_html(None, 0)


def test_checks_as_summary_json_lists_them_give_the_same_figure(history: pd.DataFrame) -> None:
    logged = [_check(START + (15 + day) * DAY, 0.6, decay=True) for day in range(3)]
    listed = [
        {
            "at": check["at"],
            "performance_decay": True,
            "champion_version": "v1",
            "matured_auc": {"value": 0.6},
        }
        for check in logged
    ]

    first = decay_response(history, _candidates(history), logged, [], label_delay_days=7)
    second = decay_response(history, _candidates(history), listed, [], label_delay_days=7)

    assert first["detections"] == second["detections"]


def test_recovery_candidates_are_left_out_of_the_daily_only_figure(history: pd.DataFrame) -> None:
    label = history["churned"].to_numpy(dtype=np.float64)
    rng = np.random.default_rng(2)
    result = dataclasses.replace(
        _result(
            {"r-good": label, "c-random": rng.random(len(label))},
            {"r-good": START + 2 * DAY, "c-random": START + 2 * DAY},
            len(label),
        ),
        candidates=({"name": "r-good", "regime_start": START.isoformat()}, {"name": "c-random", "regime_start": None}),
    )
    checks = [_check(START + (15 + day) * DAY, 0.6, decay=True) for day in range(4)]

    figure = decay_response(history, result, checks, [], label_delay_days=7)

    assert figure["checks"][0]["best_candidate"] == "r-good"
    assert figure["checks"][0]["best_candidate_daily"] == "c-random"
    assert figure["meets_target"] is False
    assert figure["meets_target_daily_candidates_only"] is True


def test_the_report_states_the_decay_figure_and_its_definition(history: pd.DataFrame) -> None:
    checks = [_check(START + (15 + day) * DAY, 0.6, decay=True) for day in range(5)]
    figure = decay_response(history, _candidates(history), checks, [], label_delay_days=7)
    figure["demo_deploys"] = {"deploys": 3, "deploys_after_first": 2}

    page = decay_html(figure, 3)

    assert "NOT met" in page
    assert "still lagging at the end" in page
    assert "best candidate available is the highest AUC" in page
    assert "3 deploys in this run" in page
