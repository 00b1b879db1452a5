"""One alerting run: find the champion, read its baseline and the recent window, judge every signal, and send
what the alert states call for. Pure orchestration over the ports below (no boto3, no environment, no clock).

Alert state machine, per signal (state item `ALERT#<model>#<signal>` / `STATE` in the payload table):

    verdict firing, no state or resolved  -> send FIRING,        state firing (since = now)
    verdict firing, firing, cooldown over -> send STILL FIRING,  state firing (since kept, last_sent_at = now)
    verdict firing, firing, in cooldown   -> nothing
    verdict ok, firing                    -> send RESOLVED once, state resolved
    verdict ok, no state or resolved      -> nothing
    insufficient data                     -> nothing (no verdict is not a recovery either)

The state is written *before* sending, conditional on the revision read: of two overlapping runs only one wins
the write and sends. If the message then cannot be sent, the state is put back (so the next run tries again)
and the run reports the failure. If the message went out but the `AlertRaised` event did not, the state stays
(the person was told) and the run reports the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from core.aggregates import Aggregate, bucket_start
from core.baseline import BaselineError, MonitoringBaseline
from core.events import DetailType, EventPublishError
from core.layout import BASELINE_FILE, MODEL_FILE, parse_s3_uri, version_file_key
from lambdas.alerting.messages import NoticeKind, render
from lambdas.alerting.models import (
    Action,
    AlertingResult,
    AlertPolicy,
    AlertState,
    AlertStatus,
    Outcome,
    Signal,
    SignalOutcome,
    SignalResult,
    Verdict,
)
from lambdas.alerting.signals import evaluate

logger = logging.getLogger(__name__)


class AlertingError(RuntimeError):
    """The run could not judge the model (e.g. its baseline is missing or malformed)."""


class DeliveryError(RuntimeError):
    """A message or event could not be sent (SNS or EventBridge failed); raised by adapters."""


class Champion(Protocol):
    """The registry's record of the champion (`core.registry.ModelVersionRecord`)."""

    @property
    def version(self) -> str: ...

    @property
    def artifact_uri(self) -> str | None: ...


class ChampionSource(Protocol):
    """The model registry."""

    def champion(self, model_name: str) -> Champion | None:
        """The model's champion, or None."""
        ...


class ObjectReader(Protocol):
    """Reads small objects by `s3://bucket/key` URI."""

    def read(self, uri: str) -> bytes:
        """The object's bytes; raises `AlertingError` if it cannot be read."""
        ...


class Buckets(Protocol):
    """The alerting aggregates the payload-ETL writes (`core.payload_store.PayloadStore`)."""

    def aggregates(self, model_name: str, start: datetime, end: datetime) -> Iterable[tuple[datetime, Aggregate]]:
        """The aggregates of the buckets in [start, end), newest bucket first (a bucket's items together)."""
        ...

    def count(self, model_name: str, start: datetime, end: datetime) -> int:
        """The predictions in the buckets of [start, end)."""
        ...


class StateStore(Protocol):
    """Alert states, with conditional writes."""

    def get_many(self, model_name: str, signals: Sequence[Signal]) -> dict[Signal, AlertState]:
        """The existing states among these signals (strongly consistent)."""
        ...

    def put(self, model_name: str, signal: Signal, state: AlertState, *, expected_revision: int | None) -> bool:
        """Write `state` if the stored revision is still `expected_revision` (None: no item); False if not."""
        ...

    def restore(self, model_name: str, signal: Signal, previous: AlertState | None, *, written_revision: int) -> None:
        """Undo our write of `written_revision` (put `previous` back, or a state that acts as none)."""
        ...


class Notifier(Protocol):
    """The alert topic."""

    def publish(self, subject: str, message: str) -> str:
        """Send one message; return its id; raise `DeliveryError` on failure."""
        ...


class EventSink(Protocol):
    """The event bus (`core.events.EventBus`)."""

    def publish(self, detail_type: DetailType, detail: dict[str, object], *, time: datetime | None = None) -> str:
        """Put one event; raise `EventPublishError` on failure."""
        ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything a run talks to."""

    registry: ChampionSource
    objects: ObjectReader
    buckets: Buckets
    states: StateStore
    notifier: Notifier
    events: EventSink


def baseline_uri(artifact_uri: str) -> str:
    """`s3://b/models/<m>/<v>/model.pkl` -> `s3://b/models/<m>/<v>/baseline.json` (the files sit side by side)."""
    malformed = f"champion artifact URI {artifact_uri!r} is not s3://.../{MODEL_FILE}"
    try:
        parse_s3_uri(artifact_uri)
    except ValueError as error:
        raise AlertingError(malformed) from error
    if not artifact_uri.endswith(f"/{MODEL_FILE}"):
        raise AlertingError(malformed)
    return version_file_key(artifact_uri, BASELINE_FILE)


def next_notice(verdict: Verdict, state: AlertState | None, now: datetime, cooldown: timedelta) -> NoticeKind | None:
    """Which message (if any) a verdict calls for, given the alert's state (see the module docstring)."""
    if verdict is Verdict.FIRING:
        if state is None or state.status is AlertStatus.RESOLVED:
            return NoticeKind.FIRING
        return NoticeKind.REMINDER if now - state.last_sent_at >= cooldown else None
    if verdict is Verdict.OK and state is not None and state.status is AlertStatus.FIRING:
        return NoticeKind.RESOLVED
    return None


def next_state(
    kind: NoticeKind, state: AlertState | None, now: datetime, result: SignalResult, version: str
) -> AlertState:
    """The state to write before sending `kind`."""
    revision = 1 if state is None else state.revision + 1
    if kind is NoticeKind.REMINDER and state is not None:
        return replace(state, last_sent_at=now, revision=revision, summary=result.headline)
    status = AlertStatus.RESOLVED if kind is NoticeKind.RESOLVED else AlertStatus.FIRING
    return AlertState(
        status, since=now, last_sent_at=now, revision=revision, model_version=version, summary=result.headline
    )


_ACTIONS = {
    NoticeKind.FIRING: Action.SENT_FIRING,
    NoticeKind.REMINDER: Action.SENT_REMINDER,
    NoticeKind.RESOLVED: Action.SENT_RESOLVED,
}


@dataclass(frozen=True, slots=True)
class Window:
    """The window a run judges: its bounds, its merged aggregate, and whether it holds `min_rows` predictions."""

    start: datetime
    end: datetime
    summary: Aggregate
    enough: bool

    def text(self, policy: AlertPolicy, checked_at: datetime) -> str:
        """How an alert names the window, and why it is as long as it is."""
        minutes = round((self.end - self.start).total_seconds() / 60)
        lag = round((checked_at - self.end).total_seconds() / 60)
        shortest = round(policy.window.total_seconds() / 60)
        if minutes == shortest:
            why = "the shortest window"
        elif self.enough:
            why = f"the shortest window holding {policy.min_rows} predictions: the traffic is low"
        else:
            why = f"the longest window; it holds fewer than {policy.min_rows} predictions"
        return (
            f"in the {minutes} minutes from {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC ({why}; "
            f"it ends {lag} minutes before the check, for ingest)"
        )


def choose_window(buckets: Iterable[tuple[datetime, Aggregate]], end: datetime, policy: AlertPolicy) -> Window:
    """The shortest window of `policy.window_ladder()` ending at `end` that holds `policy.min_rows` predictions (the
    longest if none does), from `buckets` newest first; stops reading once the chosen window is complete."""
    ladder = policy.window_ladder()
    summary = Aggregate()
    step = 0
    for moment, aggregate in buckets:
        while moment < end - ladder[step]:  # every bucket of window `step` is read
            if summary.rows >= policy.min_rows:
                return Window(end - ladder[step], end, summary, enough=True)
            step += 1
        summary.merge(aggregate)
    if summary.rows < policy.min_rows:  # every bucket up to the longest window was read
        return Window(end - ladder[-1], end, summary, enough=False)
    return Window(end - ladder[step], end, summary, enough=True)


def run_checks(
    scheduled_time: datetime, *, model_name: str, policy: AlertPolicy, runbook_url: str, ports: Ports
) -> AlertingResult:
    """Judge every signal on the window ending at `scheduled_time` and act on each alert's state."""
    champion = ports.registry.champion(model_name)
    if champion is None:
        message = f"model {model_name} has no champion in the registry: nothing to monitor yet"
        logger.info(message, extra={"model_name": model_name, "outcome": Outcome.NO_CHAMPION.value})
        return AlertingResult(Outcome.NO_CHAMPION, model_name, scheduled_time, message=message)
    if not champion.artifact_uri:
        raise AlertingError(f"champion {model_name} {champion.version} has no artifact URI in the registry")
    uri = baseline_uri(champion.artifact_uri)
    try:
        baseline = MonitoringBaseline.loads(ports.objects.read(uri))
    except BaselineError as error:
        raise AlertingError(f"baseline {uri} is malformed: {error}") from error
    if baseline.model_version != champion.version:
        logger.warning("baseline %s names version %s, not the champion's", uri, baseline.model_version)

    end = bucket_start(scheduled_time - policy.ingest_lag)
    window = choose_window(ports.buckets.aggregates(model_name, end - policy.max_window, end), end, policy)
    start, summary = window.start, window.summary
    history = [
        ports.buckets.count(model_name, start - timedelta(days=day), end - timedelta(days=day))
        for day in range(1, policy.history_days + 1)
    ]
    results = evaluate(
        summary,
        history=history,
        baseline=baseline,
        policy=policy,
        window_text=window.text(policy, scheduled_time),
    )
    states = ports.states.get_many(model_name, [result.signal for result in results])
    outcomes: list[SignalOutcome] = []
    failures: list[str] = []
    for result in results:
        action = _act(
            result,
            states.get(result.signal),
            model_name=model_name,
            version=champion.version,
            now=scheduled_time,
            policy=policy,
            runbook_url=runbook_url,
            ports=ports,
            failures=failures,
        )
        outcomes.append(SignalOutcome(result.signal, result.verdict, action, result.observed, result.reason))
    logger.info(
        "checked %s %s on %d rows: %s",
        model_name,
        champion.version,
        summary.rows,
        ", ".join(f"{o.signal.value}={o.verdict.value}/{o.action.value}" for o in outcomes),
        extra={"model_name": model_name, "rows": summary.rows},
    )
    return AlertingResult(
        Outcome.CHECKED,
        model_name,
        scheduled_time,
        champion_version=champion.version,
        window_start=start,
        window_end=end,
        rows=summary.rows,
        signals=tuple(outcomes),
        failures=tuple(failures),
    )


def _act(
    result: SignalResult,
    state: AlertState | None,
    *,
    model_name: str,
    version: str,
    now: datetime,
    policy: AlertPolicy,
    runbook_url: str,
    ports: Ports,
    failures: list[str],
) -> Action:
    """Apply the state machine to one signal; append to `failures` what could not be delivered."""
    kind = next_notice(result.verdict, state, now, policy.cooldown)
    if kind is None:
        firing = result.verdict is Verdict.FIRING
        return Action.SUPPRESSED if firing else Action.NONE
    new = next_state(kind, state, now, result, version)
    if not ports.states.put(
        model_name, result.signal, new, expected_revision=None if state is None else state.revision
    ):
        logger.info("%s %s: another run changed the alert state first; it sends", model_name, result.signal.value)
        return Action.LOST_RACE
    notice = render(
        kind,
        result,
        model_name=model_name,
        model_version=version,
        since=state.since if kind is NoticeKind.RESOLVED and state is not None else new.since,
        checked_at=now,
        runbook_url=runbook_url,
    )
    try:
        ports.notifier.publish(notice.subject, notice.message)
    except DeliveryError as error:
        ports.states.restore(model_name, result.signal, state, written_revision=new.revision)
        failures.append(f"{result.signal.value}: {error}")
        logger.error("%s %s: message not sent, state restored: %s", model_name, result.signal.value, error)
        return Action.DELIVERY_FAILED
    try:
        ports.events.publish(DetailType.ALERT_RAISED, dict(notice.detail), time=now)
    except EventPublishError as error:
        failures.append(f"{result.signal.value}: AlertRaised not published: {error}")
        logger.error("%s %s: message sent but event not published: %s", model_name, result.signal.value, error)
    logger.warning(
        "%s %s: sent %s",
        model_name,
        result.signal.value,
        kind.value,
        extra={"model_name": model_name, "signal": result.signal.value, "notice": kind.value},
    )
    return _ACTIONS[kind]
