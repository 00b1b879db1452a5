"""Retrain governance: a cooldown after each retrain and a cap on retrains per rolling period. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.model_lifecycle import Trigger


@dataclass(frozen=True, slots=True)
class GovernanceConfig:
    """Limits on how often the model may be retrained.

    - `cooldown` (24 h): a retrain needs this long after the previous one, so one incident (a drift alarm that
      keeps firing, a performance dip) leads to one retrain, whose effect can be observed before the next.
    - `max_per_period` (3) retrains in any rolling `period` (7 days): a hard cap that bounds cost and churn of
      the serving model even if triggers keep firing; it applies to every trigger, on-demand included.
    - `on_demand_bypasses_cooldown` (False): an operator's explicit request may skip the cooldown only when
      this is set; it never skips the cap.
    """

    cooldown: timedelta = timedelta(hours=24)
    period: timedelta = timedelta(days=7)
    max_per_period: int = 3
    on_demand_bypasses_cooldown: bool = False

    def __post_init__(self) -> None:
        if self.cooldown < timedelta(0):
            raise ValueError("cooldown must not be negative")
        if self.period <= timedelta(0):
            raise ValueError("period must be positive")
        if self.max_per_period < 1:
            raise ValueError("max_per_period must be at least 1")


@dataclass(frozen=True, slots=True)
class RetrainPermission:
    """Whether a retrain may start now, and why."""

    allowed: bool
    reason: str


def _duration(span: timedelta) -> str:
    """`2d 3h 5m` (seconds dropped; `0m` for less than a minute); negative spans keep their sign."""
    sign, minutes = ("-", -span // timedelta(minutes=1)) if span < timedelta(0) else ("", span // timedelta(minutes=1))
    days, rest = divmod(minutes, 24 * 60)
    parts = [f"{value}{unit}" for value, unit in ((days, "d"), (rest // 60, "h"), (rest % 60, "m")) if value]
    return sign + (" ".join(parts) or "0m")


def may_retrain(
    now: datetime, trigger: Trigger, history_of_retrains: Sequence[datetime], config: GovernanceConfig
) -> RetrainPermission:
    """Whether a retrain for `trigger` may start at `now`, given when earlier retrains started.

    Times must be timezone-aware. A retrain recorded in the future (clock skew) counts as the latest one, so skew
    never opens the gate early. `rollback` is not a retrain (it re-releases an artefact) and is always allowed.
    """
    trigger = Trigger(trigger)
    if now.tzinfo is None or any(moment.tzinfo is None for moment in history_of_retrains):
        raise ValueError("now and every retrain time must be timezone-aware")
    if trigger is Trigger.ROLLBACK:
        return RetrainPermission(True, "a rollback re-releases an existing artefact; no retrain limits apply")
    in_period = [moment for moment in history_of_retrains if moment > now - config.period]
    if len(in_period) >= config.max_per_period:
        next_slot = sorted(in_period)[-config.max_per_period] + config.period
        return RetrainPermission(
            False,
            f"cap reached: {len(in_period)} retrains in the last {_duration(config.period)} "
            f"(at most {config.max_per_period}); "
            f"next allowed at {next_slot.isoformat()}",
        )
    if history_of_retrains:
        latest = max(history_of_retrains)
        since = now - latest
        if since < config.cooldown:
            if trigger is Trigger.ON_DEMAND and config.on_demand_bypasses_cooldown:
                return RetrainPermission(
                    True, f"on-demand retrain bypasses the cooldown (last retrain {_duration(since)} ago)"
                )
            return RetrainPermission(
                False,
                f"cooldown: last retrain {_duration(since)} ago, {_duration(config.cooldown)} required; "
                f"next allowed at {(latest + config.cooldown).isoformat()}",
            )
    return RetrainPermission(
        True,
        f"{trigger} retrain allowed: {len(in_period)} of {config.max_per_period} retrains used in the last "
        f"{_duration(config.period)}",
    )
