"""The demo summary attributes a detection to an injected event only when the detector could have seen it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from autoretrain.demo.runner import DemoLog
from autoretrain.demo.scenario import EventKind, Scenario
from autoretrain.demo.summary import detections

START = datetime(2026, 3, 2, tzinfo=UTC)


def _check(at: datetime, *, decay: bool) -> dict[str, Any]:
    return {"at": at.isoformat(), "verdict": "no_drift", "result": {"performance_decay": decay}}


def test_a_performance_decay_before_the_shifted_predictions_matured_is_not_the_concept_shift() -> None:
    scenario = Scenario.scaled(start=START, days=36, seed=7, daily_volume=480, label_delay_days=7)
    shift = scenario.day(scenario.concept_day)
    log = DemoLog()
    log.drift_checks = [
        _check(shift + timedelta(days=1, hours=3), decay=False),
        _check(shift + timedelta(days=4, hours=3), decay=True),  # its matured window ends before the shift
        _check(shift + timedelta(days=8, hours=3), decay=True),
    ]

    (concept,) = [entry for entry in detections(scenario, log) if entry["kind"] == EventKind.CONCEPT_SHIFT]

    assert concept["detected"] is True
    assert concept["detected_at"] == (shift + timedelta(days=8, hours=3)).isoformat()
    assert concept["decays_before_labels_matured"] == 1


def test_no_decay_after_the_labels_matured_is_no_detection() -> None:
    scenario = Scenario.scaled(start=START, days=36, seed=7, daily_volume=480, label_delay_days=7)
    shift = scenario.day(scenario.concept_day)
    log = DemoLog()
    log.drift_checks = [_check(shift + timedelta(days=2), decay=True)]

    (concept,) = [entry for entry in detections(scenario, log) if entry["kind"] == EventKind.CONCEPT_SHIFT]

    assert concept["detected"] is False
    assert concept["decays_before_labels_matured"] == 1
