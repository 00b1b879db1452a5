"""Event routes: what reaches the retrain job and what reaches the people on the alert topic."""

from __future__ import annotations

from typing import Any

import pytest

from batch_jobs.monitoring.policy import RetrainTrigger
from core.events import EVENT_SOURCE, DetailType
from core.routing import MONITORING_TRIGGERS, Target, event_targets


def event(detail_type: DetailType, **detail: Any) -> dict[str, Any]:
    """An event as EventBridge delivers it to a rule."""
    return {"source": EVENT_SOURCE, "detail-type": detail_type.value, "detail": {"model_name": "churn", **detail}}


def drift_check(*, dataset_drift: bool) -> dict[str, Any]:
    return event(
        DetailType.DRIFT_CHECK_COMPLETED,
        verdict="drift" if dataset_drift else "no_drift",
        dataset_drift=dataset_drift,
        performance_decay=False,
        decision={"outcome": "no_signal", "retrain_requested": False},
    )


def retrain_request(trigger: str) -> dict[str, Any]:
    return event(
        DetailType.RETRAIN_REQUESTED, trigger=trigger, reason="drift check r1", requested_at="2026-11-01T03:00:00Z"
    )


@pytest.mark.parametrize("dataset_drift", [True, False])
def test_a_single_drift_check_pages_nobody(dataset_drift: bool) -> None:
    assert Target.ALERT_TOPIC not in event_targets(drift_check(dataset_drift=dataset_drift))


@pytest.mark.parametrize("trigger", ["drift", "performance"])
def test_a_retrain_the_drift_check_requested_runs_the_job_and_reaches_the_topic(trigger: str) -> None:
    assert event_targets(retrain_request(trigger)) == [Target.RETRAIN_JOB, Target.ALERT_TOPIC]


@pytest.mark.parametrize("trigger", ["schedule", "on_demand"])
def test_a_retrain_request_from_elsewhere_runs_the_job_without_a_notification(trigger: str) -> None:
    assert event_targets(retrain_request(trigger)) == [Target.RETRAIN_JOB]


def test_the_notified_triggers_are_those_the_drift_checks_trigger_policy_publishes() -> None:
    assert set(MONITORING_TRIGGERS) == {trigger.value for trigger in RetrainTrigger}


def test_rejections_and_deploys_still_reach_the_topic() -> None:
    for detail_type in (DetailType.MODEL_REJECTED, DetailType.MODEL_DEPLOYED, DetailType.MODEL_ROLLED_BACK):
        assert event_targets(event(detail_type)) == [Target.ALERT_TOPIC]
