"""The demo's drift impact: per check the impact verdict, the expected AUC and the tracking of the label-free estimate
in summary.json; in the report, estimated vs realised AUC over time, the tracking share per phase, the champion's
sensitivity profile and harmless drift read as no trigger. Checks are fabricated as the runner collects them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.demo.report import HARMLESS_TEXT, SECTIONS, checks_table, estimate_plot, render_report
from autoretrain.demo.runner import DemoConfig, DemoLog
from autoretrain.demo.scenario import EventKind, Scenario
from autoretrain.demo.summary import build_summary, phase_of, terminal_summary, tracking_by_phase
from autoretrain.synthetic import FEATURES
from batch_jobs.drift.sensitivity import SensitivityPoint, SensitivityProfile
from batch_jobs.monitoring.policy import Outcome
from core.records import format_timestamp

START = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
DELAY = 7
HOSTILE = "<img onerror=x>&"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.scaled(start=START, days=36, seed=7, daily_volume=480, label_delay_days=DELAY)


def _sensitivity(feature: str) -> dict[str, Any]:
    points = tuple(
        SensitivityPoint((feature,), "shift", sign * level, level, -level / 5, level / 10, 0.0)
        for level in (0.01, 0.05, 0.10)
        for sign in (-1.0, 1.0)
    )
    baseline = {"auc": 0.8, "log_loss": 0.45, "positive_rate": 0.3}
    return SensitivityProfile(n_rows=400, seconds=0.1, baseline=baseline, points=points).to_json()


def _check(
    day: int,
    *,
    verdict: str = "drift",
    impact: str | None = "harmless",
    within: bool | None = True,
    outcome: str = Outcome.HARMLESS,
    drifted: tuple[str, ...] = ("monthly_charges",),
    sensitivity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A drift check at 03:00 of `day` as the runner logs it: its one-day window and matured window, the drift's
    impact (None: a result written before impact existed) and the tracking (`within` None: none)."""
    at = START + day * DAY + timedelta(hours=3)
    matured_end = at - DELAY * DAY
    estimate = {
        "n_rows": 400,
        "confidence_level": 0.95,
        "n_bootstrap": 200,
        "assumption": "no concept shift",
        "metrics": [
            {"name": "auc", "value": 0.8, "ci_low": 0.78, "ci_high": 0.82, "realised_low": 0.75, "realised_high": 0.85}
        ],
    }
    result: dict[str, Any] = {
        "champion_version": "v1",
        "drifted_features": list(drifted),
        "performance_decay": False,
        "window": {"start": format_timestamp(at - DAY), "end": format_timestamp(at)},
        "matured_window": {"start": format_timestamp(matured_end - DAY), "end": format_timestamp(matured_end)},
        "decision": {"outcome": outcome, "retrain_requested": False},
        "drift": {
            "features": [],
            "impact": None
            if impact is None
            else {
                "verdict": impact,
                "current_expected": 0.8,
                "reference_expected": 0.805,
                "drop": 0.005,
                "drop_upper": 0.007,
                "margin": 0.008,
                "confidence_level": 0.95,
                "estimate": estimate,
                "sensitivity": sensitivity,
            },
        },
        "performance": {"metrics": [{"name": "auc", "value": 0.79, "ci_low": 0.75, "ci_high": 0.83, "baseline": 0.8}]},
        "tracking": None
        if within is None
        else {
            "n_rows": 300,
            "confidence_level": 0.95,
            "assumption": "no concept shift",
            "metrics": [
                {
                    "name": "auc",
                    "estimated": 0.8,
                    "realised_low": 0.76,
                    "realised_high": 0.84,
                    "realised": 0.8 if within else 0.7,
                    "within": within,
                }
            ],
        },
    }
    return {"at": at.isoformat(), "verdict": verdict, "retrain_requested": False, "result": result}


def _served(scenario: Scenario, moment: datetime) -> int:
    """The day of the check whose matured window holds the rows served on the day of `moment`."""
    return (moment - scenario.start).days + DELAY + 1


def test_a_window_is_in_the_concept_shift_once_any_row_is_and_in_the_covariate_shift_once_any_row_moved(
    scenario: Scenario,
) -> None:
    covariate, concept = scenario.day(scenario.covariate_day), scenario.day(scenario.concept_day)
    second = timedelta(seconds=1)
    assert phase_of(scenario, covariate - 7 * DAY, covariate) == "other"  # the quiet period
    assert phase_of(scenario, covariate - DAY, covariate + second) == EventKind.COVARIATE_SHIFT
    assert phase_of(scenario, scenario.incident_start, scenario.incident_start + DAY) == EventKind.COVARIATE_SHIFT
    assert phase_of(scenario, concept - 7 * DAY, concept) == EventKind.COVARIATE_SHIFT
    # A window reaching one second into the concept shift holds rows whose outcome moved: the estimate cannot see it.
    assert phase_of(scenario, concept - 7 * DAY, concept + second) == EventKind.CONCEPT_SHIFT
    assert phase_of(scenario, scenario.backfill_at - DAY, scenario.backfill_at) == EventKind.CONCEPT_SHIFT
    assert phase_of(scenario, scenario.backfill_at, scenario.backfill_at + DAY) == "other"


def test_the_tracking_share_per_phase_counts_checks_by_when_their_matured_rows_were_served(
    scenario: Scenario,
) -> None:
    covariate = _served(scenario, scenario.day(scenario.covariate_day))
    concept = _served(scenario, scenario.day(scenario.concept_day))
    checks = [
        _check(covariate - 3, within=True),  # rows served in the quiet period
        _check(covariate, within=True),
        _check(covariate + 1, within=True),
        _check(covariate + 2, within=False),
        _check(covariate + 3, within=None),  # no tracking: not counted
        _check(concept, within=False),
        _check(concept + 1, within=False),
        _check(concept + 2, within=True),
    ]

    by_phase = tracking_by_phase(scenario, checks)

    assert by_phase == {
        EventKind.COVARIATE_SHIFT: {"days": 3, "within": 2, "share": 0.667},
        EventKind.CONCEPT_SHIFT: {"days": 3, "within": 1, "share": 0.333},
        "other": {"days": 1, "within": 1, "share": 1.0},
    }


def _log(checks: list[dict[str, Any]], scenario: Scenario) -> DemoLog:
    rng = np.random.default_rng(0)
    served = pd.date_range(scenario.start, scenario.end, freq="3h", inclusive="left", tz="UTC")
    scores = rng.random(len(served))
    log = DemoLog()
    log.predictions = pd.DataFrame(
        {
            "served_at": served,
            "score": scores,
            "predicted": (scores >= 0.3).astype(int),
            "label": (rng.random(len(served)) < scores).astype(int),
        }
    )
    log.drift_checks = checks
    return log


def _summary(scenario: Scenario, log: DemoLog) -> dict[str, Any]:
    config = DemoConfig(days=scenario.days, label_delay_days=DELAY)
    return build_summary(config, scenario, log, wall_seconds=1.0)


def test_the_summary_counts_drifting_checks_by_impact_and_gives_each_check_its_impact_and_tracking(
    scenario: Scenario,
) -> None:
    checks = [
        _check(10, impact="impactful", outcome="no_signal"),
        _check(11),
        _check(12),
        _check(13, impact=None, within=None, outcome="no_signal"),  # a result written before impact existed
        _check(14, verdict="no_drift", impact="impactful", outcome="no_signal"),  # not drift: not counted
    ]
    summary = _summary(scenario, _log(checks, scenario))

    assert {key: summary["impact"][key] for key in ("checks_impactful", "checks_harmless", "checks_unknown")} == {
        "checks_impactful": 1,
        "checks_harmless": 2,
        "checks_unknown": 1,
    }
    assert set(summary["impact"]["tracking"]["by_phase"]) == {
        EventKind.COVARIATE_SHIFT,
        EventKind.CONCEPT_SHIFT,
        "other",
    }
    first, _, _, old, _ = summary["drift_checks"]
    assert {"at", "verdict", "drifted_features", "matured_auc", "champion_version"} <= set(first)
    assert first["outcome"] == "no_signal"
    assert first["impact"]["verdict"] == "impactful"
    assert (first["impact"]["expected_auc"], first["impact"]["expected_auc_low"]) == (0.8, 0.78)
    assert (first["impact"]["drop"], first["impact"]["drop_upper"]) == (0.005, 0.007)
    assert first["tracking"] == {
        "estimated": 0.8,
        "realised": 0.8,
        "realised_low": 0.76,
        "realised_high": 0.84,
        "within": True,
        "n_rows": 300,
    }
    assert (old["impact"], old["tracking"]) == (None, None)
    assert "drift impact: 1 drifting checks impactful, 2 harmless (not a trigger)" in terminal_summary(summary, "r")


def test_the_report_shows_estimate_against_realised_tracking_and_the_champions_sensitivity(
    scenario: Scenario,
) -> None:
    checks = [_check(day, within=day % 4 != 0) for day in range(9, 30)]
    checks[-1] = _check(30, sensitivity=_sensitivity(HOSTILE))
    log = _log(checks, scenario)

    html = render_report(scenario, _summary(scenario, log), log, FEATURES)

    for anchor in ("impact", "estimate-tracking", "sensitivity"):
        assert f'<section id="{anchor}">' in html
        assert any(name == anchor for name, _ in SECTIONS)
    assert re.search(r'<svg[^>]*id="plot-estimate"', html)
    assert re.search(r'<svg[^>]*id="plot-estimate-tracking"', html)
    sensitivity = html.split('<section id="sensitivity">')[1].split('<section id="alerts">')[0]
    assert sensitivity.count('class="sensitivity-plot"') == 1
    assert escape(HOSTILE) in sensitivity
    assert HOSTILE not in html
    assert "assumes no concept shift" in html.split('<section id="estimate-tracking">')[1]
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []


def test_harmless_drift_reads_as_no_trigger_in_the_checks_table_and_the_decisions(scenario: Scenario) -> None:
    log = _log([_check(12), _check(13, impact="impactful", outcome="requested")], scenario)

    html = render_report(scenario, _summary(scenario, log), log, FEATURES)

    table = checks_table(log.drift_checks)
    harmless, impactful = table.split("<tbody>")[1].split("<tr>")[1:3]
    assert f"<td>{HARMLESS_TEXT}</td>" in harmless
    assert "<td>harmless</td>" in harmless
    assert "<td>requested</td>" in impactful
    retrains = html.split('<section id="retrains">')[1].split("</section>")[0]
    assert "drift without impact" in retrains
    assert retrains.count(HARMLESS_TEXT) == 1  # one marker, for the harmless check only


def test_realised_auc_is_coloured_by_whether_it_fell_in_the_estimates_interval(scenario: Scenario) -> None:
    plot = estimate_plot(scenario, [_check(12, within=True), _check(13, within=False), _check(14, within=None)])

    assert plot.count('r="3" fill="#27ae60"') == 1  # within
    assert plot.count('r="3" fill="#c0392b"') == 1  # outside
    assert plot.count('r="3" fill="#999"') == 1  # no tracking: the matured AUC alone
    assert plot.count("<polygon") == 1  # one band over consecutive days


def test_checks_without_impact_or_tracking_still_render(scenario: Scenario) -> None:
    log = _log([_check(day, impact=None, within=None, outcome="no_signal") for day in range(9, 20)], scenario)

    html = render_report(scenario, _summary(scenario, log), log, FEATURES)

    assert "Not available: no drift check carried the champion" in html
    assert "no covariate shift check had a realised AUC" in html
    assert checks_table(log.drift_checks).count("<td>–</td>") >= 4 * len(log.drift_checks)


def test_the_checks_table_escapes_feature_names(scenario: Scenario) -> None:
    table = checks_table([_check(12, drifted=(HOSTILE,))])
    assert escape(HOSTILE) in table
    assert HOSTILE not in table
