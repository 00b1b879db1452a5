"""The retrain trigger policy: when a drift check turns into a `RetrainRequested` event. Pure, no I/O.

A retrain is requested when either signal fires and neither brake holds:

- **drift**: the last `consecutive_checks` *completed* checks of the current champion all drifted. A check with
  too little data (`insufficient_data`) makes no decision: it neither counts as drifting nor resets the streak.
  A new champion starts a new streak (the old one's drift says nothing about it). Drift is acted on only when a
  retrain can learn it: once labels of `adapt_days` of drifted traffic have matured (the drift episode's first
  drifting check plus `label_delay` plus `adapt_days`); until then the check says it waits for labels. A drift
  episode (drifting checks, whichever champion, until a check without drift) leads to one drift request per
  champion: when drift persists after the champion that request produced is released, it is reported as
  persisting, with the versions, and is no fresh reason to retrain (performance decay still is).
- **performance**: the check found performance decay on matured labels (the suite's verdict: the bootstrap
  interval of current − baseline lies beyond the metric's margin). One such check is enough: decay is measured
  on ground truth, not inferred from inputs. Performance is the named trigger when both fire.

Brakes (they count every request this policy made, whatever its trigger):

- **cooldown**: no request within `cooldown` of the previous one (a retrain takes time to land; asking again
  meanwhile only queues duplicates).
- **cap**: at most `max_requests` requests in any `period` (a drifting world must not turn into a retrain loop).

A blocked request does not reset the streak, so sustained drift asks again once the cooldown has passed.

The state (`PolicyState`) is small, bounded and versioned; `decide` returns the decision and the next state,
which the caller writes back with a condition on the version so that two concurrent runs cannot both request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

Verdict = Literal["drift", "no_drift", "insufficient_data"]
VERDICTS: tuple[Verdict, ...] = ("drift", "no_drift", "insufficient_data")
#: Matured days of drifted traffic a retrain needs to learn a drift (the retrain's holdout is its newest week).
ADAPT_DAYS = 7
#: Check verdicts kept in the state, newest last (for the result and for people reading the item).
RECENT_CHECKS = 20


class RetrainTrigger(StrEnum):
    """Why this policy requested a retrain (values as in the `RetrainRequested` event's `trigger`)."""

    DRIFT = "drift"
    PERFORMANCE = "performance"


class Outcome(StrEnum):
    """What the policy decided for one check."""

    REQUESTED = "requested"
    NO_SIGNAL = "no_signal"
    NO_DECISION = "no_decision"
    COOLDOWN = "cooldown"
    CAP = "cap"
    WAITING_FOR_LABELS = "waiting_for_labels"
    PERSISTING = "persisting"


@dataclass(frozen=True, slots=True)
class TriggerPolicy:
    """Hyper-parameters of the policy (defaults in `core.settings.DriftCheckSettings`)."""

    consecutive_checks: int = 2
    cooldown: timedelta = timedelta(days=3)
    max_requests: int = 2
    period: timedelta = timedelta(days=14)
    label_delay: timedelta = timedelta(days=7)
    adapt_days: timedelta = timedelta(days=ADAPT_DAYS)

    def __post_init__(self) -> None:
        problems = []
        if self.consecutive_checks < 1:
            problems.append("consecutive_checks must be at least 1")
        if self.max_requests < 1:
            problems.append("max_requests must be at least 1")
        if self.cooldown < timedelta(0):
            problems.append("cooldown must not be negative")
        if self.period <= timedelta(0):
            problems.append("period must be positive")
        if self.label_delay < timedelta(0) or self.adapt_days < timedelta(0):
            problems.append("label_delay and adapt_days must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """The policy as JSON (stated in every result)."""
        return {
            "consecutive_checks": self.consecutive_checks,
            "cooldown_days": self.cooldown / timedelta(days=1),
            "max_requests": self.max_requests,
            "period_days": self.period / timedelta(days=1),
            "label_delay_days": self.label_delay / timedelta(days=1),
            "adapt_days": self.adapt_days / timedelta(days=1),
        }


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One completed check as the state remembers it."""

    run_id: str
    at: datetime
    champion_version: str
    verdict: Verdict
    performance_decay: bool | None
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One retrain request this policy made."""

    run_id: str
    at: datetime
    trigger: RetrainTrigger


@dataclass(frozen=True, slots=True)
class PolicyState:
    """What the policy remembers between runs; `version` counts writes (0: never written)."""

    version: int = 0
    champion_version: str | None = None
    streak: int = 0
    checks: tuple[CheckRecord, ...] = ()
    requests: tuple[RequestRecord, ...] = ()
    #: The current drift episode: its first drifting check, the champions it was seen under (in order), and the
    #: champion under which it led to a drift request (None: not yet).
    drift_since: datetime | None = None
    drift_versions: tuple[str, ...] = ()
    drift_requested_by: str | None = None

    def check(self, run_id: str) -> CheckRecord | None:
        """The recorded check of a run, if this run was already decided."""
        return next((check for check in self.checks if check.run_id == run_id), None)

    def request(self, run_id: str) -> RequestRecord | None:
        """The request a run made, if any."""
        return next((request for request in self.requests if request.run_id == run_id), None)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's answer for one check, with the numbers it rests on."""

    retrain_requested: bool
    outcome: Outcome
    trigger: RetrainTrigger | None
    reason: str
    streak: int
    requests_in_period: int
    last_request_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """The decision as JSON (in the result and the `DriftCheckCompleted` event)."""
        return {
            "retrain_requested": self.retrain_requested,
            "outcome": self.outcome.value,
            "trigger": None if self.trigger is None else self.trigger.value,
            "reason": self.reason,
            "drift_streak": self.streak,
            "requests_in_period": self.requests_in_period,
            "last_request_at": None if self.last_request_at is None else self.last_request_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check found, as the policy sees it."""

    run_id: str
    at: datetime
    champion_version: str
    verdict: Verdict
    performance_decay: bool | None


def _streak(state: PolicyState, observation: Observation) -> tuple[int, str]:
    base = state.streak if state.champion_version == observation.champion_version else 0
    note = "" if state.champion_version in (None, observation.champion_version) else " (new champion: streak reset)"
    if observation.verdict == "drift":
        return base + 1, note
    if observation.verdict == "no_drift":
        return 0, note
    return base, note  # insufficient data: no decision either way


@dataclass(frozen=True, slots=True)
class Episode:
    """The drift episode as of this check (`PolicyState.drift_since` and the rest)."""

    since: datetime | None
    versions: tuple[str, ...]
    requested_by: str | None

    @classmethod
    def after(cls, state: PolicyState, observation: Observation) -> Episode:
        """The episode once this check is counted: a drifting check starts or extends it, a clean one ends it."""
        if observation.verdict == "no_drift":
            return cls(None, (), None)
        if observation.verdict != "drift":
            return cls(state.drift_since, state.drift_versions, state.drift_requested_by)
        versions = state.drift_versions
        if observation.champion_version not in versions:
            versions = (*versions, observation.champion_version)
        return cls(state.drift_since or observation.at, versions, state.drift_requested_by)


def _signal(
    observation: Observation, streak: int, episode: Episode, policy: TriggerPolicy
) -> tuple[RetrainTrigger | None, Outcome | None, str]:
    """The trigger that fires (if any), or the outcome that holds drift back, and why."""
    drifting = observation.verdict == "drift" and streak >= policy.consecutive_checks
    streak_text = f"{streak} consecutive drifting check(s), {policy.consecutive_checks} needed"
    if observation.performance_decay:
        extra = f"; also {streak_text}" if drifting else ""
        return RetrainTrigger.PERFORMANCE, None, f"performance decayed beyond its margin on matured labels{extra}"
    if drifting and episode.since is not None:
        since = episode.since.isoformat()
        if episode.requested_by not in (None, observation.champion_version):
            versions = " -> ".join(episode.versions)
            return (
                None,
                Outcome.PERSISTING,
                f"{streak_text}: drift persisting since {since} across versions {versions}; the release its retrain "
                "produced did not clear it, so it is no fresh reason to retrain (performance decay still is)",
            )
        learnable = episode.since + policy.label_delay + policy.adapt_days
        if observation.at < learnable:
            return (
                None,
                Outcome.WAITING_FOR_LABELS,
                f"{streak_text}: drift since {since}; a retrain waits until labels of "
                f"{policy.adapt_days.days} drifted days have matured, from {learnable.isoformat()}",
            )
        return RetrainTrigger.DRIFT, None, f"{streak_text}, drift since {since}"
    if observation.verdict == "insufficient_data":
        return None, None, f"insufficient data: no decision (the streak stays at {streak})"
    return None, None, f"no retrain signal: {streak_text}, no performance decay"


def decide(state: PolicyState, observation: Observation, policy: TriggerPolicy) -> tuple[Decision, PolicyState]:
    """The decision for one check and the state to store after it.

    A run already recorded in `state` (a retried job with the same run id) gets its recorded decision back and
    the state unchanged, so a retry never counts a check twice nor requests twice.
    """
    if observation.at.tzinfo is None:
        raise ValueError("the observation time must be timezone-aware")
    keep_from = observation.at - max(policy.period, policy.cooldown)
    recent_requests = tuple(request for request in state.requests if request.at > keep_from)
    in_period = [request for request in recent_requests if observation.at - policy.period < request.at]
    last = max((request.at for request in state.requests), default=None)
    if (previous := state.check(observation.run_id)) is not None:
        made = state.request(observation.run_id)
        return (
            Decision(
                retrain_requested=made is not None,
                outcome=previous.outcome,
                trigger=None if made is None else made.trigger,
                reason=f"run {previous.run_id} was already decided; its decision stands",
                streak=state.streak,
                requests_in_period=len(in_period),
                last_request_at=last,
            ),
            state,
        )

    streak, note = _streak(state, observation)
    episode = Episode.after(state, observation)
    trigger, held, reason = _signal(observation, streak, episode, policy)
    outcome = held or (Outcome.NO_DECISION if observation.verdict == "insufficient_data" else Outcome.NO_SIGNAL)
    requests = recent_requests
    if trigger is not None:
        if last is not None and observation.at - last < policy.cooldown:
            outcome = Outcome.COOLDOWN
            reason += f"; blocked: cooldown of {policy.cooldown} since the last request at {last.isoformat()}"
        elif len(in_period) >= policy.max_requests:
            outcome = Outcome.CAP
            reason += f"; blocked: cap of {policy.max_requests} request(s) per {policy.period} reached"
        else:
            outcome = Outcome.REQUESTED
            requests = (*recent_requests, RequestRecord(observation.run_id, observation.at, trigger))
    requested = outcome is Outcome.REQUESTED
    record = CheckRecord(
        observation.run_id,
        observation.at,
        observation.champion_version,
        observation.verdict,
        observation.performance_decay,
        outcome,
    )
    next_state = replace(
        state,
        version=state.version + 1,
        champion_version=observation.champion_version,
        streak=streak,
        checks=(*state.checks, record)[-RECENT_CHECKS:],
        requests=requests,
        drift_since=episode.since,
        drift_versions=episode.versions,
        drift_requested_by=(
            observation.champion_version
            if outcome is Outcome.REQUESTED and trigger is RetrainTrigger.DRIFT
            else episode.requested_by
        ),
    )
    decision = Decision(
        retrain_requested=requested,
        outcome=outcome,
        trigger=trigger if requested else None,
        reason=reason + note,
        streak=streak,
        requests_in_period=len(in_period) + (1 if requested else 0),
        last_request_at=observation.at if requested else last,
    )
    return decision, next_state
