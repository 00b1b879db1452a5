"""The retrain trigger policy: when a drift check turns into a `RetrainRequested` event. Pure, no I/O.

A retrain is requested when either signal fires and neither brake holds:

- **drift**: the last `consecutive_checks` *completed* checks of the current champion all found drift that
  matters. Drift whose estimated impact is below its margin (`impactful` False: the champion's expected AUC is
  significantly less than the margin below its reference, `batch_jobs.drift.impact`) is reported as harmless and
  breaks the streak like a check without drift: it is never a trigger. Drift of unknown impact (a model released
  without an impact basis) counts, as before. A check with
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

**Recovery**: decay starts a recovery of `recovery_days` (7). Its first request goes out at once (neither brake
holds it: a champion failing on ground truth is the one thing that must not wait), and every later check of the
recovery requests again, at most once a day (`RECOVERY_INTERVAL`), outside the cap: each day adds matured labels of
the new regime, so the retrain can learn more of it. Every recovery request names the regime start the check
estimated when the decay was found (`batch_jobs.monitoring.regime`), so the retrain trains and judges on the rows
served since then, and replaces a champion it already trained on that regime only when better beyond noise
(`batch_jobs.training.pipeline`). Decay after a recovery ends starts a new one.

Brakes (the cooldown counts every request this policy made; the cap, those made outside a recovery):

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
#: A recovery requests at most once in this span (the daily check's period).
RECOVERY_INTERVAL = timedelta(hours=20)


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
    HARMLESS = "harmless_drift"


@dataclass(frozen=True, slots=True)
class TriggerPolicy:
    """Hyper-parameters of the policy (defaults in `core.settings.DriftCheckSettings`)."""

    consecutive_checks: int = 2
    cooldown: timedelta = timedelta(days=3)
    max_requests: int = 2
    period: timedelta = timedelta(days=14)
    label_delay: timedelta = timedelta(days=7)
    adapt_days: timedelta = timedelta(days=ADAPT_DAYS)
    recovery_days: timedelta = timedelta(days=7)

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
        if self.label_delay < timedelta(0) or self.adapt_days < timedelta(0) or self.recovery_days < timedelta(0):
            problems.append("label_delay, adapt_days and recovery_days must not be negative")
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
            "recovery_days": self.recovery_days / timedelta(days=1),
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
    #: Made by a recovery (outside the cap).
    recovery: bool = False


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
    #: The current or last recovery: when the decay that started it was found, and the regime start it trains on.
    recovery_since: datetime | None = None
    regime_start: datetime | None = None

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
    #: For a recovery's request: the regime start the retrain trains on.
    regime_start: datetime | None = None

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
            "regime_start": None if self.regime_start is None else self.regime_start.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check found, as the policy sees it."""

    run_id: str
    at: datetime
    champion_version: str
    verdict: Verdict
    performance_decay: bool | None
    #: Where the decay began, as the check estimated it (with decay only).
    regime_start: datetime | None = None
    #: The drift's estimated impact: False when harmless, None when unknown (counted as impactful).
    impactful: bool | None = None

    @property
    def matters(self) -> bool:
        """A drifting check whose drift is not known to be harmless."""
        return self.verdict == "drift" and self.impactful is not False


def _streak(state: PolicyState, observation: Observation) -> tuple[int, str]:
    base = state.streak if state.champion_version == observation.champion_version else 0
    note = "" if state.champion_version in (None, observation.champion_version) else " (new champion: streak reset)"
    if observation.matters:
        return base + 1, note
    if observation.verdict in ("no_drift", "drift"):
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
        """The episode once this check is counted: drift that matters starts or extends it; a clean check, or drift
        estimated harmless, ends it (harmless drift must not count towards the labels a retrain waits for)."""
        if observation.verdict == "no_drift" or (observation.verdict == "drift" and not observation.matters):
            return cls(None, (), None)
        if observation.verdict != "drift":
            return cls(state.drift_since, state.drift_versions, state.drift_requested_by)
        versions = state.drift_versions
        if observation.champion_version not in versions:
            versions = (*versions, observation.champion_version)
        return cls(state.drift_since or observation.at, versions, state.drift_requested_by)


@dataclass(frozen=True, slots=True)
class Recovery:
    """The recovery as of this check (`PolicyState.recovery_since` and `regime_start`)."""

    since: datetime | None
    regime_start: datetime | None
    active: bool
    new: bool

    @classmethod
    def after(cls, state: PolicyState, observation: Observation, policy: TriggerPolicy) -> Recovery:
        """A decay outside a recovery starts one; a recovery is active until `recovery_days` after it started."""
        at = observation.at
        if state.recovery_since is not None and at < state.recovery_since + policy.recovery_days:
            return cls(state.recovery_since, state.regime_start, active=True, new=False)
        if observation.performance_decay:
            regime = observation.regime_start or at - policy.label_delay
            return cls(at, regime, active=True, new=True)
        return cls(state.recovery_since, state.regime_start, active=False, new=False)

    def reason(self, observation: Observation, policy: TriggerPolicy) -> str:
        """Why this check requests (or would request) a recovery retrain."""
        if self.since is None or self.regime_start is None:
            raise ValueError("no recovery is under way")
        until = (self.since + policy.recovery_days).isoformat()
        regime = self.regime_start.isoformat()
        if self.new:
            return (
                f"performance decayed beyond its margin on matured labels; recovery until {until}: daily retrains on "
                f"the rows served since the estimated regime start {regime}"
            )
        decay = "decay still found" if observation.performance_decay else "no decay found on this check"
        return (
            f"recovering from the decay found at {self.since.isoformat()} ({decay}): a daily retrain on the rows "
            f"served since {regime}, until {until}"
        )


def _signal(
    observation: Observation, streak: int, episode: Episode, policy: TriggerPolicy
) -> tuple[RetrainTrigger | None, Outcome | None, str]:
    """The trigger that fires (if any), or the outcome that holds drift back, and why."""
    drifting = observation.matters and streak >= policy.consecutive_checks
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
    return _no_signal(observation, streak, streak_text)


def _no_signal(observation: Observation, streak: int, streak_text: str) -> tuple[None, Outcome | None, str]:
    """Why a check without a trigger has none."""
    if observation.verdict == "insufficient_data":
        return None, None, f"insufficient data: no decision (the streak stays at {streak})"
    if observation.verdict == "drift" and not observation.matters:
        return (
            None,
            Outcome.HARMLESS,
            "drift without impact: the champion's expected AUC is significantly less than the impact margin below "
            "its reference; reported, not a reason to retrain",
        )
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
    in_period = [
        request for request in recent_requests if observation.at - policy.period < request.at and not request.recovery
    ]
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
                regime_start=state.regime_start if made is not None and made.recovery else None,
            ),
            state,
        )

    streak, note = _streak(state, observation)
    episode = Episode.after(state, observation)
    recovery = Recovery.after(state, observation, policy)
    trigger: RetrainTrigger | None
    if recovery.active:
        trigger, held, reason = RetrainTrigger.PERFORMANCE, None, recovery.reason(observation, policy)
    else:
        trigger, held, reason = _signal(observation, streak, episode, policy)
    outcome = held or (Outcome.NO_DECISION if observation.verdict == "insufficient_data" else Outcome.NO_SIGNAL)
    requests = recent_requests
    if recovery.active:
        if not recovery.new and last is not None and observation.at - last < RECOVERY_INTERVAL:
            outcome = Outcome.COOLDOWN
            reason += f"; already requested at {last.isoformat()} (at most one a day)"
        else:
            outcome = Outcome.REQUESTED
            requests = (
                *recent_requests,
                RequestRecord(observation.run_id, observation.at, RetrainTrigger.PERFORMANCE, recovery=True),
            )
    elif trigger is not None:
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
        recovery_since=recovery.since,
        regime_start=recovery.regime_start,
    )
    decision = Decision(
        retrain_requested=requested,
        outcome=outcome,
        trigger=trigger if requested else None,
        reason=reason + note,
        streak=streak,
        requests_in_period=len(in_period) + (1 if requested and not recovery.active else 0),
        last_request_at=observation.at if requested else last,
        regime_start=recovery.regime_start if requested and recovery.active else None,
    )
    return decision, next_state
