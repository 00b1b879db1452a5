"""Which schedule or event reaches which target: data defined once, used by infra and by the local runner.

Infra turns each `ScheduleRoute` into an EventBridge Scheduler schedule and each `EventRoute` into a rule on
the custom bus; the local runner (demo) fires the same schedules on its simulated clock and delivers each
published event to the targets whose pattern matches it, with `matches`, which implements the subset of
EventBridge's pattern language the routes use (exact values and lists of alternatives, nested in `detail`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.events import EVENT_SOURCE, DetailType


class Target(StrEnum):
    """Where a schedule or an event goes."""

    ALERTING_FUNCTION = "alerting-function"
    DRIFT_CHECK_JOB = "drift-check-job"
    RETRAIN_JOB = "retrain-job"
    LIVE_EVALUATION_JOB = "live-evaluation-job"
    ALERT_TOPIC = "alert-topic"


@dataclass(frozen=True, slots=True)
class ScheduleRoute:
    """A recurring trigger; `config_key` names the stack setting that may override the expression."""

    name: str
    default_expression: str
    config_key: str
    target: Target
    payload: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventRoute:
    """A rule on the custom bus: events of these detail types (and detail values) go to the target."""

    name: str
    detail_types: tuple[DetailType, ...]
    target: Target
    detail: Mapping[str, list[Any]] = field(default_factory=dict)

    def pattern(self) -> dict[str, Any]:
        """The EventBridge event pattern for this route."""
        pattern: dict[str, Any] = {"source": [EVENT_SOURCE], "detail-type": [t.value for t in self.detail_types]}
        if self.detail:
            pattern["detail"] = {key: list(values) for key, values in self.detail.items()}
        return pattern


SCHEDULES: tuple[ScheduleRoute, ...] = (
    ScheduleRoute("alerting", "rate(10 minutes)", "alertingSchedule", Target.ALERTING_FUNCTION),
    ScheduleRoute("drift-check", "cron(0 3 * * ? *)", "driftCheckSchedule", Target.DRIFT_CHECK_JOB),
    ScheduleRoute(
        "proactive-retrain", "cron(0 4 ? * SUN *)", "retrainSchedule", Target.RETRAIN_JOB, {"trigger": "schedule"}
    ),
    # Before the drift check: yesterday's review sample is exported, and a shadow's promotion decided, first.
    ScheduleRoute("live-evaluation", "cron(30 2 * * ? *)", "liveEvaluationSchedule", Target.LIVE_EVALUATION_JOB),
)

#: The `signal` of the `AlertRaised` events the live evaluation publishes (the alerting Lambda sends its own alerts
#: to the topic itself; these go there through the bus).
LIVE_EVALUATION_SIGNALS: tuple[str, ...] = ("business_impact",)

#: The `trigger` values of the `RetrainRequested` events the drift check publishes (its trigger policy's
#: `RetrainTrigger`): persistent drift and performance decay.
MONITORING_TRIGGERS: tuple[str, ...] = ("drift", "performance")

EVENT_ROUTES: tuple[EventRoute, ...] = (
    EventRoute("retrain-requested", (DetailType.RETRAIN_REQUESTED,), Target.RETRAIN_JOB),
    # AlertRaised is not routed to the topic: the alerting Lambda already sends each alert as a readable message.
    EventRoute("notify-rejections", (DetailType.MODEL_REJECTED,), Target.ALERT_TOPIC),
    # People hear of drift when the trigger policy acts on it (2 consecutive drifting checks, or performance decay
    # on matured labels, within the cooldown and cap), not of every drifting check: one drifting day is as likely a
    # false alarm as a change. Each DriftCheckCompleted still reaches the bus, the report and the metrics.
    EventRoute(
        "notify-retrain-requests",
        (DetailType.RETRAIN_REQUESTED,),
        Target.ALERT_TOPIC,
        {"trigger": list(MONITORING_TRIGGERS)},
    ),
    EventRoute(
        "notify-live-evaluation-alerts",
        (DetailType.ALERT_RAISED,),
        Target.ALERT_TOPIC,
        {"signal": list(LIVE_EVALUATION_SIGNALS)},
    ),
    EventRoute(
        "notify-releases",
        (DetailType.MODEL_DEPLOYED, DetailType.MODEL_ROLLED_BACK),
        Target.ALERT_TOPIC,
    ),
)

_RATE = re.compile(r"^rate\((?P<value>[1-9]\d*) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_CRON_FIELDS = 6


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge Scheduler would reject."""


def validate_schedule_expression(expression: str) -> str:
    """Accept `rate(N unit)` (singular unit only for 1) or a six-field `cron(...)` with `?` in day-of-month
    or day-of-week, as EventBridge Scheduler requires; raise `ScheduleExpressionError` otherwise."""
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate["value"]), rate["unit"]
        if (value == 1) != (not unit.endswith("s")):
            raise ScheduleExpressionError(f"{expression!r}: use a singular unit for 1 and a plural one otherwise")
        return expression
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != _CRON_FIELDS:
            raise ScheduleExpressionError(f"{expression!r}: cron needs 6 fields (min hour dom month dow year)")
        day_of_month, day_of_week = fields[2], fields[4]
        if (day_of_month == "?") == (day_of_week == "?"):
            raise ScheduleExpressionError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
        return expression
    raise ScheduleExpressionError(f"{expression!r} is neither rate(...) nor cron(...)")


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether an event (as EventBridge delivers it: source, detail-type, detail) matches a pattern."""
    for key, expected in pattern.items():
        if key not in event:
            return False
        actual = event[key]
        if isinstance(expected, Mapping):
            if not isinstance(actual, Mapping) or not matches(expected, actual):
                return False
        elif actual not in expected:
            return False
    return True


def event_targets(event: Mapping[str, Any]) -> list[Target]:
    """Targets of every route whose pattern matches the event, in route order."""
    return [route.target for route in EVENT_ROUTES if matches(route.pattern(), event)]
