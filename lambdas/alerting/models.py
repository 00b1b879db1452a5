"""Typed inputs and results of the alerting Lambda: the scheduled event, the alert policy (thresholds), each
signal's verdict and the invocation's result. (The champion's monitoring baseline is `core.baseline`.) Standard
library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.aggregates import BUCKET
from core.records import format_timestamp, parse_timestamp


class InvalidEventError(ValueError):
    """The invocation's input is not `{"scheduled_time": "<ISO 8601 with offset>"}`."""


class Signal(StrEnum):
    """The catastrophic signals; each has its own alert state and runbook section."""

    VOLUME = "volume"
    CONSTANT_PREDICTIONS = "constant_predictions"
    POSITIVE_RATE = "positive_rate"
    MISSING_FEATURES = "missing_features"
    NON_FINITE_FEATURES = "non_finite_features"
    UNSEEN_CATEGORIES = "unseen_categories"
    SCHEMA_VIOLATIONS = "schema_violations"
    LATENCY = "latency"


#: The `##` heading of each signal's section in docs/runbook.md, as GitHub slugs it (tested against the file).
RUNBOOK_ANCHORS: Mapping[Signal, str] = {
    Signal.VOLUME: "volume-collapse-or-spike",
    Signal.CONSTANT_PREDICTIONS: "constant-predictions",
    Signal.POSITIVE_RATE: "positive-rate-out-of-band",
    Signal.MISSING_FEATURES: "missing-features",
    Signal.NON_FINITE_FEATURES: "non-finite-features",
    Signal.UNSEEN_CATEGORIES: "unseen-categories",
    Signal.SCHEMA_VIOLATIONS: "schema-violations",
    Signal.LATENCY: "latency-over-budget",
}

#: How urgent each signal is: "critical" means the model's output is unusable or absent.
SEVERITIES: Mapping[Signal, str] = {
    Signal.VOLUME: "critical",
    Signal.CONSTANT_PREDICTIONS: "critical",
    Signal.POSITIVE_RATE: "critical",
    Signal.MISSING_FEATURES: "warning",
    Signal.NON_FINITE_FEATURES: "critical",
    Signal.UNSEEN_CATEGORIES: "warning",
    Signal.SCHEMA_VIOLATIONS: "critical",
    Signal.LATENCY: "warning",
}


class Verdict(StrEnum):
    """What one check concluded about the window."""

    FIRING = "firing"
    OK = "ok"
    INSUFFICIENT_DATA = "insufficient_data"


class AlertStatus(StrEnum):
    """The state an alert is in between invocations."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Action(StrEnum):
    """What an invocation did about one signal."""

    SENT_FIRING = "sent_firing"
    SENT_REMINDER = "sent_reminder"
    SENT_RESOLVED = "sent_resolved"
    SUPPRESSED = "suppressed"  # still firing, inside the cooldown: nothing sent
    LOST_RACE = "lost_race"  # an overlapping invocation changed the state first and sent instead
    DELIVERY_FAILED = "delivery_failed"
    NONE = "none"


class Outcome(StrEnum):
    """The invocation as a whole."""

    CHECKED = "checked"
    NO_CHAMPION = "no_champion"


@dataclass(frozen=True, slots=True)
class ScheduledInvocation:
    """The input EventBridge Scheduler sends: `{"scheduled_time": "<aws.scheduler.scheduled-time>"}`."""

    scheduled_time: datetime

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ScheduledInvocation:
        """Parse the event; `InvalidEventError` when the time is missing or has no UTC offset."""
        value = event.get("scheduled_time") if isinstance(event, Mapping) else None
        if not isinstance(value, str):
            raise InvalidEventError(
                'the alerting Lambda expects {"scheduled_time": "<ISO 8601 time with offset>"}, '
                f"got {json.dumps(event, default=str)[:200]}"
            )
        try:
            return cls(parse_timestamp(value))
        except ValueError as error:
            raise InvalidEventError(f"scheduled_time {value!r} is not an ISO 8601 time with offset: {error}") from error


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds of the checks (all configurable; defaults chosen to flag only catastrophes).

    The window adapts to volume: it ends `ingest_lag` before the run (on a `core.aggregates.BUCKET` boundary) and
    is the shortest of `window`, 2 x `window`, 4 x `window`, ... up to `max_window` that holds `min_rows`
    predictions (`window_ladder`). Every check first needs enough data (`min_rows`, `min_latency_rows`,
    `volume_min_history_windows`, `volume_min_expected`); below that it gives no verdict. Where a baseline rate
    exists, a signal fires only when the observation is outside an exact band at `alpha` (significance) *and* past
    an effect-size floor, so large windows do not flag trivia and small ones do not flag noise.
    """

    window: timedelta = timedelta(minutes=10)
    max_window: timedelta = timedelta(hours=24)
    ingest_lag: timedelta = timedelta(minutes=3)
    history_days: int = 7
    cooldown: timedelta = timedelta(minutes=240)
    alpha: float = 1e-4
    min_rows: int = 50
    volume_min_history_windows: int = 3
    volume_min_expected: float = 10.0
    volume_collapse_ratio: float = 0.5
    volume_spike_ratio: float = 3.0
    constant_std_ratio: float = 0.05
    constant_std_floor: float = 1e-6
    positive_rate_odds_ratio: float = 3.0
    missing_rate_increase: float = 0.2
    unseen_share_floor: float = 0.05
    schema_share_floor: float = 0.01
    non_finite_share_floor: float = 0.01
    latency_budget_ms: float = 1000.0
    min_latency_rows: int = 100

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError("alpha must be in (0, 0.5)")
        if self.window <= timedelta(0) or self.cooldown <= timedelta(0):
            raise ValueError("window and cooldown must be positive")
        if self.window % BUCKET or self.max_window % BUCKET or self.max_window < self.window:
            raise ValueError(f"window and max_window must be multiples of {BUCKET} with window <= max_window")
        if self.ingest_lag < timedelta(0):
            raise ValueError("ingest_lag must not be negative")
        if not 0.0 < self.volume_collapse_ratio < 1.0 < self.volume_spike_ratio:
            raise ValueError("volume ratios must satisfy 0 < collapse < 1 < spike")
        if self.positive_rate_odds_ratio <= 1.0:
            raise ValueError("positive_rate_odds_ratio must be above 1")

    def window_ladder(self) -> tuple[timedelta, ...]:
        """The windows a run may judge, shortest first: `window` doubled until `max_window`, which ends it."""
        ladder = [self.window]
        while ladder[-1] * 2 < self.max_window:
            ladder.append(ladder[-1] * 2)
        if ladder[-1] != self.max_window:
            ladder.append(self.max_window)
        return tuple(ladder)


@dataclass(frozen=True, slots=True)
class Band:
    """The normal range of a figure; `None` means unbounded on that side."""

    low: float | None
    high: float | None
    typical: float | None = None

    def contains(self, value: float) -> bool:
        """Whether `value` lies inside the band (bounds included)."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def to_json(self) -> dict[str, float | None]:
        """`{"low", "high", "typical"}`."""
        return {"low": self.low, "high": self.high, "typical": self.typical}


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One check's verdict, with the numbers a person needs to judge it.

    `headline` says what happened in one sentence; `normal` says what normal is (band and how it was derived);
    `details` are extra lines (e.g. the worst features); `reason` explains an insufficient-data verdict; `window`
    names the window judged and why it is that long.
    """

    signal: Signal
    verdict: Verdict
    title: str
    sample_size: int
    observed: float | None = None
    expected: Band | None = None
    unit: str = ""
    headline: str = ""
    normal: str = ""
    details: tuple[str, ...] = ()
    reason: str = ""
    window: str = ""


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert's state between invocations (payload table item `ALERT#<model>#<signal>` / `STATE`).

    `revision` increases with each write; writes are conditional on the revision read, so two overlapping
    invocations cannot both act on the same state.
    """

    status: AlertStatus
    since: datetime
    last_sent_at: datetime
    revision: int
    model_version: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One message for a person (SNS) and its machine-readable twin (the `AlertRaised` event's detail)."""

    subject: str
    message: str
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """What happened to one signal in one invocation."""

    signal: Signal
    verdict: Verdict
    action: Action
    observed: float | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "signal": self.signal.value,
            "verdict": self.verdict.value,
            "action": self.action.value,
            "observed": self.observed,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AlertingResult:
    """The invocation's result (the Lambda's return value)."""

    outcome: Outcome
    model_name: str
    checked_at: datetime
    champion_version: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    rows: int = 0
    signals: tuple[SignalOutcome, ...] = ()
    message: str = ""
    failures: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "outcome": self.outcome.value,
            "model_name": self.model_name,
            "checked_at": format_timestamp(self.checked_at),
            "champion_version": self.champion_version,
            "window_start": None if self.window_start is None else format_timestamp(self.window_start),
            "window_end": None if self.window_end is None else format_timestamp(self.window_end),
            "rows": self.rows,
            "signals": [outcome.to_json() for outcome in self.signals],
            "message": self.message,
            "failures": list(self.failures),
        }
