"""The replays: the policy and three of the baselines, day by day over the history. Pure.

Each replayed day d: the champion serves day d's predictions (a model deployed at the end of day d − 1 serves from
day d); at the end of day d the replay may check the champion, retrain and deploy. A retrain at the end of day d
always produces the candidate of day d (`candidates`), so every replay deploys the same models.

- `policy`: the project's loop. The daily check (`monitor`) feeds the trigger policy
  (`batch_jobs.monitoring.policy.decide`: learnable drift or performance decay, with its cooldown and cap, and the
  recovery decay starts, whose retrains train on the estimated regime: `candidates.train_candidate` with a regime
  start); the weekly scheduled retrain runs too when `policy_schedule`. A retrain then goes the retrain job's way
  (`batch_jobs.training.pipeline.run_retrain`): governance (`batch_jobs.governance.may_retrain`: cooldown and cap,
  over the retrains that were registered), no retrain without production rows matured since the champion's own
  retrain (`no_new_data`), the quality checks (`batch_jobs.training.quality`), the gate
  (`batch_jobs.gate.evaluate_gate`: challenger vs champion on the challenger's out-of-time holdout, told why the
  champion is failing when the trigger was decay or drift, or the champion is older than `max_champion_age_days`),
  `not_needed` for a model identical to the champion; the challenger is deployed only when the gate releases it
  (`_policy_deploys`).
- `never`: the first champion serves throughout.
- `scheduled`: a retrain every `schedule_days` replayed days, always deployed (no governance, quality or gate).
- `drift_always`: the daily check of its own champion; every check that finds drift or performance decay retrains,
  and the challenger is always deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from autoretrain.backtest.candidates import Candidate, CandidateFailure, CandidateKey, Trained
from autoretrain.backtest.data import DAY_NS, HistoryError, ReplayData
from autoretrain.backtest.monitor import Check, Checks
from autoretrain.backtest.settings import BacktestSettings
from batch_jobs.gate import GateDecision, evaluate_gate
from batch_jobs.governance import may_retrain
from batch_jobs.monitoring.policy import Observation, PolicyState, decide
from batch_jobs.training.quality import check_quality
from core.model_lifecycle import Trigger


class ReplayName(StrEnum):
    """The replays of a backtest, in the order they are reported."""

    POLICY = "policy"
    NEVER = "never"
    SCHEDULED = "scheduled"
    DRIFT_ALWAYS = "drift_always"
    ORACLE = "oracle"


#: What each replay is, for the table and the report.
DESCRIPTIONS: Mapping[ReplayName, str] = {
    ReplayName.POLICY: "the policy: daily check + trigger policy (+ schedule), governance, quality, gate",
    ReplayName.NEVER: "never retrain: the first champion serves throughout",
    ReplayName.SCHEDULED: "retrain on a fixed schedule and always deploy",
    ReplayName.DRIFT_ALWAYS: "retrain on every drift or decay verdict of the daily check and always deploy",
    ReplayName.ORACLE: "hindsight oracle: the best schedule of deploys over the daily candidates",
}


class Outcome(StrEnum):
    """How one retrain ended."""

    DEPLOYED = "deployed"
    NOT_NEEDED = "not_needed"
    REJECTED = "rejected"
    QUALITY_REFUSED = "quality_refused"
    NO_CANDIDATE = "no_candidate"
    GOVERNANCE_REFUSED = "governance_refused"
    NO_NEW_DATA = "no_new_data"
    WAITING_FOR_LABELS = "waiting_for_labels"


#: Outcomes of retrains that never trained (nothing is registered, so governance does not count them).
NOT_TRAINED = frozenset({Outcome.GOVERNANCE_REFUSED, Outcome.NO_NEW_DATA, Outcome.WAITING_FOR_LABELS})


@dataclass(frozen=True, slots=True)
class Retrain:
    """One retrain of a replay, at the end of `day`."""

    day: int
    trigger: str
    candidate: str | None
    outcome: Outcome
    reasons: tuple[str, ...] = ()
    gate: dict[str, Any] | None = None

    @property
    def trained(self) -> bool:
        """Whether the retrain ran (and so was registered): it was neither refused by governance nor for no new data."""
        return self.outcome not in NOT_TRAINED

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "day": self.day,
            "trigger": self.trigger,
            "candidate": self.candidate,
            "outcome": self.outcome.value,
            "reasons": list(self.reasons),
            "gate": self.gate,
        }


@dataclass(frozen=True, slots=True)
class ReplayTrace:
    """What one replay did: the candidate (by its training day) serving each replayed day, its retrains and checks."""

    name: ReplayName
    served: tuple[CandidateKey, ...]
    retrains: tuple[Retrain, ...] = ()
    checks: tuple[Check, ...] = ()

    @property
    def retrain_count(self) -> int:
        """Retrains that ran."""
        return sum(1 for retrain in self.retrains if retrain.trained)


# -- the gate -------------------------------------------------------------------------------------------------------


def _policy_deploys(decision: GateDecision) -> bool:
    """Whether the policy deploys the challenger the gate judged: the gate's `outcome` is `release` (the gate with
    outcomes: `release`, `not_needed`, `reject`), or — a gate without outcomes — it `passed`."""
    outcome = getattr(decision, "outcome", None)
    if outcome is not None:
        return bool(outcome == "release")
    return bool(decision.passed)


def _gate_outcome(decision: GateDecision) -> Outcome:
    if _policy_deploys(decision):
        return Outcome.DEPLOYED
    return Outcome.NOT_NEEDED if getattr(decision, "outcome", None) == "not_needed" else Outcome.REJECTED


def judge(
    data: ReplayData,
    settings: BacktestSettings,
    champion: Candidate,
    challenger: Candidate,
    *,
    champion_failing: str | None = None,
) -> GateDecision:
    """The gate: both models' scores on the challenger's holdout, with why the champion is known to be failing."""
    rows = challenger.holdout_rows
    return evaluate_gate(
        settings.gate,
        data.label[rows].astype(np.int64),
        champion.scores[rows],
        challenger.scores[rows],
        challenger_schema=challenger.schema.features,
        serving_schema=champion.schema.features,
        champion_threshold=champion.threshold,
        challenger_threshold=challenger.threshold,
        champion_failing=champion_failing,
    )


def _gate_summary(decision: GateDecision) -> dict[str, Any]:
    interval = decision.difference
    return {
        "passed": decision.passed,
        "outcome": str(decision.outcome),
        "challenger_auc": decision.challenger.auc,
        "champion_auc": None if decision.champion is None else decision.champion.auc,
        "difference": None if interval is None else [interval.lower, interval.difference, interval.upper],
        "failed_checks": [str(check.name) for check in decision.checks if check.evaluated and not check.passed],
        "holdout_rows": decision.holdout_rows,
    }


# -- the replays ----------------------------------------------------------------------------------------------------


def is_scheduled(data: ReplayData, settings: BacktestSettings, day: int) -> bool:
    """Whether the scheduled retrain runs at the end of `day`: every `schedule_days` replayed days."""
    return (day - data.initial_days + 1) % settings.schedule_days == 0


def first_champion(candidates: Mapping[int, Trained], data: ReplayData) -> Candidate:
    """The model trained on the initial set; `HistoryError` when it could not be trained."""
    first = candidates[data.initial_days - 1]
    if isinstance(first, CandidateFailure):
        raise HistoryError(f"no first champion can be trained on the {data.initial_days} initial days: {first.reason}")
    return first


@dataclass
class _Run:
    """One replay in progress."""

    name: ReplayName
    champion: Candidate
    served: list[CandidateKey] = field(default_factory=list)
    retrains: list[Retrain] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def trace(self) -> ReplayTrace:
        return ReplayTrace(self.name, tuple(self.served), tuple(self.retrains), tuple(self.checks))


#: A replay that checks every day, as a generator: it yields the check it needs next — (champion, day) — is sent the
#: check, and returns its trace. Whoever drives it decides where checks are computed and shares them (`run_steps`,
#: or the engine's parallel driver).
ReplaySteps = Generator[tuple[Candidate, int], Check, ReplayTrace]


def run_steps(steps: ReplaySteps, checks: Checks) -> ReplayTrace:
    """Drive a replay with checks computed in this process."""
    try:
        request = next(steps)
        while True:
            request = steps.send(checks.of(*request))
    except StopIteration as stop:
        trace: ReplayTrace = stop.value
        return trace


#: Trains (or finds) a recovery's candidate: the day it is trained at the end of, and the regime start (ns).
Recover = Callable[[int, int], Trained]


def policy_steps(
    data: ReplayData, settings: BacktestSettings, candidates: Mapping[int, Trained], recover: Recover
) -> ReplaySteps:
    """The project's loop (module docstring), as steps; a recovery's retrain trains its candidate with `recover`."""
    run = _Run(ReplayName.POLICY, first_champion(candidates, data))
    state = PolicyState()
    # The registry's versions are governance's history of retrains: the first champion's is the first.
    history: list[datetime] = [data.timestamp(data.initial_days).to_pydatetime()]
    for day in data.replay_days:
        run.served.append(run.champion.key)
        if day == data.n_days - 1:
            break
        now = data.timestamp(day + 1).to_pydatetime()
        check = yield run.champion, day
        run.checks.append(check)
        regime = None if check.regime_start is None else pd.Timestamp(check.regime_start, tz=UTC).to_pydatetime()
        observation = Observation(
            f"day-{day}",
            now,
            run.champion.name,
            check.verdict,
            check.performance_decay,
            regime_start=regime,
            impactful=check.impactful if settings.impact_aware else None,
        )
        decision, state = decide(state, observation, settings.trigger)
        if decision.retrain_requested and decision.trigger is not None:
            trigger = Trigger(decision.trigger.value)
        elif settings.policy_schedule and is_scheduled(data, settings, day):
            trigger = Trigger.SCHEDULE
        else:
            continue
        permission = may_retrain(now, trigger, history, settings.governance)
        if not permission.allowed:
            run.retrains.append(Retrain(day, trigger, None, Outcome.GOVERNANCE_REFUSED, (permission.reason,)))
            continue
        regime_start = None if decision.regime_start is None else int(pd.Timestamp(decision.regime_start).value)
        trained = candidates[day] if regime_start is None else recover(day, regime_start)
        retrain = _gated_retrain(data, settings, run, trained=trained, day=day, trigger=trigger)
        if retrain.trained:
            history.append(now)
        run.retrains.append(retrain)
    return run.trace()


def no_new_data(data: ReplayData, settings: BacktestSettings, champion: Candidate, challenger: Candidate) -> str | None:
    """Why a retrain would learn nothing new (`pipeline.no_new_data`): no production row among the challenger's matured
    rows was served after what the champion's retrain read (its end of day less the label delay)."""
    seen_until = data.day_start(champion.day + 1) - settings.label_delay_days * DAY_NS
    production = challenger.matured_rows[challenger.matured_rows >= data.bounds[data.initial_days]]
    if production.size and data.time[production].max() >= seen_until:
        return None
    return f"no new matured data since the champion {champion.name} was trained"


def champion_failing(
    settings: BacktestSettings, champion: Candidate, trigger: Trigger, day: int, challenger_regime: int | None = None
) -> str | None:
    """Why the champion is known to be failing (`pipeline.champion_failing`): the trigger, or its age; a champion a
    recovery trained on the challenger's regime is not failing for it."""
    if trigger is Trigger.PERFORMANCE and challenger_regime is not None and champion.regime_start == challenger_regime:
        return None
    if trigger is Trigger.PERFORMANCE:
        return "performance decay on matured labels"
    if trigger is Trigger.DRIFT:
        return "drift the trigger policy acted on"
    age = day - champion.day
    if settings.max_champion_age_days is not None and age > settings.max_champion_age_days:
        return f"champion for {age} days, more than the {settings.max_champion_age_days} allowed"
    return None


def _gated_retrain(
    data: ReplayData, settings: BacktestSettings, run: _Run, *, trained: Trained, day: int, trigger: Trigger
) -> Retrain:
    """One retrain of the policy, from the data to the gate's outcome (deploying the challenger it releases)."""
    if isinstance(trained, CandidateFailure):
        outcome = Outcome.WAITING_FOR_LABELS if trained.waiting else Outcome.NO_CANDIDATE
        return Retrain(day, trigger, trained.name, outcome, (trained.reason,))
    champion = run.champion
    stale = no_new_data(data, settings, champion, trained)
    if stale is not None:
        return Retrain(day, trigger, trained.name, Outcome.NO_NEW_DATA, (stale,))
    quality = check_quality(
        data.training_frame(trained.matured_rows),
        schema=champion.schema,
        target=data.target,
        config=settings.quality,
        reference_label_rate=champion.label_rate,
    )
    if not quality.passed:
        return Retrain(day, trigger, trained.name, Outcome.QUALITY_REFUSED, quality.reasons)
    failing = champion_failing(settings, champion, trigger, day, trained.regime_start)
    decision = judge(data, settings, champion, trained, champion_failing=failing)
    outcome, reasons = _gate_outcome(decision), decision.reasons
    if outcome is Outcome.DEPLOYED and np.array_equal(champion.scores, trained.scores):
        outcome, reasons = (
            Outcome.NOT_NEEDED,
            (f"not needed: the challenger is identical to the champion {champion.name}",),
        )
    if outcome is Outcome.DEPLOYED:
        run.champion = trained
    return Retrain(day, trigger, trained.name, outcome, reasons, _gate_summary(decision))


def replay_never(data: ReplayData, candidates: Mapping[int, Trained]) -> ReplayTrace:
    """The first champion throughout."""
    champion = first_champion(candidates, data)
    return ReplayTrace(ReplayName.NEVER, tuple(champion.key for _ in data.replay_days))


def _deploy_always(run: _Run, trained: Trained, day: int, trigger: Trigger) -> None:
    if isinstance(trained, CandidateFailure):
        run.retrains.append(Retrain(day, trigger, trained.name, Outcome.NO_CANDIDATE, (trained.reason,)))
        return
    run.champion = trained
    run.retrains.append(Retrain(day, trigger, trained.name, Outcome.DEPLOYED))


def replay_scheduled(data: ReplayData, settings: BacktestSettings, candidates: Mapping[int, Trained]) -> ReplayTrace:
    """A retrain every `schedule_days` replayed days, always deployed."""
    run = _Run(ReplayName.SCHEDULED, first_champion(candidates, data))
    for day in data.replay_days:
        run.served.append(run.champion.key)
        if day < data.n_days - 1 and is_scheduled(data, settings, day):
            _deploy_always(run, candidates[day], day, Trigger.SCHEDULE)
    return run.trace()


def drift_always_steps(data: ReplayData, candidates: Mapping[int, Trained]) -> ReplaySteps:
    """A retrain, always deployed, after every check that finds drift or performance decay, as steps."""
    run = _Run(ReplayName.DRIFT_ALWAYS, first_champion(candidates, data))
    for day in data.replay_days:
        run.served.append(run.champion.key)
        if day == data.n_days - 1:
            break
        check = yield run.champion, day
        run.checks.append(check)
        if check.flagged:
            trigger = Trigger.DRIFT if check.verdict == "drift" else Trigger.PERFORMANCE
            _deploy_always(run, candidates[day], day, trigger)
    return run.trace()
