"""The drift-check pipeline: champion -> reference profile -> payload window (+ matured labels) -> drift suite ->
trigger policy -> report, result, metrics and events. Adapters come in; nothing here reads the environment or
creates a client.

Windows (`now` is the check's time, normally the schedule's time):
- current: predictions with `now − window_days <= timestamp < now` (one `Query` per UTC day, no scan);
- matured: predictions with `now − label_delay − window_days <= timestamp < now − label_delay` whose label
  arrived by `now` — the performance check's data (a label is only trusted once its delay has passed).

Fewer current rows than the suite's `min_samples` (200) means `insufficient_data`: the drift suite is not run and
the check makes no drift decision (it neither counts as drifting nor resets the streak). Performance has its own
minimum (`performance_min_labels`) and is judged whenever matured labels exist.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from batch_jobs.drift import (
    DriftConfig,
    DriftInputError,
    DriftResult,
    DriftSuite,
    PerformanceResult,
    PerformanceVerdict,
    ReferenceProfile,
)
from batch_jobs.drift._stats import FloatArray
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.model_spec import feature_frame
from batch_jobs.monitoring.adapters import MetricsPublisher, ModelBucket, split_s3_uri
from batch_jobs.monitoring.outputs import (
    DriftCheckResult,
    completed_detail,
    metric_data,
    render_report,
    retrain_detail,
)
from batch_jobs.monitoring.policy import Decision, Observation, TriggerPolicy, Verdict, decide
from batch_jobs.monitoring.state import DriftStateStore, StateConflictError
from batch_jobs.monitoring.window import Rescorer, ScoredWindow, WindowError, matured, scored_window
from core.events import DetailType, EventBus
from core.layout import report_object_key, validate_model_name
from core.payload_store import PayloadStore
from core.registry import ModelVersionRecord, Registry

logger = logging.getLogger(__name__)

RESULT_FILE = "result.json"
#: Attempts at the conditional state write before giving up (each re-reads the state and decides again).
STATE_ATTEMPTS = 3
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class DriftCheckError(RuntimeError):
    """The drift check could not run (a missing profile, unreadable data, a refused write)."""


def run_id_for(now: datetime) -> str:
    """The run id of a check at `now`: its UTC time to the second, so a retried run reuses its id and its paths."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True, slots=True)
class DriftCheckRequest:
    """One check: which model, when, over which windows, under which policy and suite settings."""

    model_name: str
    now: datetime
    window_days: int
    label_delay_days: int
    policy: TriggerPolicy
    drift_config: DriftConfig = field(default_factory=DriftConfig)
    run_id: str = ""

    def __post_init__(self) -> None:
        validate_model_name(self.model_name)
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.window_days < 1 or self.label_delay_days < 0:
            raise ValueError("window_days must be >= 1 and label_delay_days >= 0")
        if not self.run_id:
            object.__setattr__(self, "run_id", run_id_for(self.now))
        if not _RUN_ID.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r} must match {_RUN_ID.pattern}")


@dataclass(frozen=True, slots=True)
class DriftCheckPorts:
    """The adapters the pipeline talks to."""

    registry: Registry
    payloads: PayloadStore
    model_bucket: ModelBucket
    model_bucket_name: str
    metrics: MetricsPublisher
    events: EventBus
    state: DriftStateStore


@dataclass(frozen=True, slots=True)
class DriftCheckOutcome:
    """What the run did: `result` is None when there was no champion to check."""

    result: DriftCheckResult | None
    message: str
    events: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """The suite's findings on both windows."""

    current: ScoredWindow
    labelled: ScoredWindow
    verdict: Verdict
    drift: DriftResult | None
    performance: PerformanceResult | None
    performance_decay: bool | None


class _LazyRescorer:
    """Loads and verifies the champion model the first time a row served by another version needs a score."""

    def __init__(self, bucket: ModelBucket, champion: ModelVersionRecord, location: tuple[str, str]) -> None:
        self._bucket = bucket
        self._champion = champion
        self._location = location
        self._scorer: Rescorer | None = None

    def __call__(self) -> Rescorer:
        if self._scorer is None:
            loaded = self._bucket.load_model(*self._location, self._champion.sha256)
            schema = loaded.manifest.input_schema
            estimator = loaded.estimator

            def score(raw: pd.DataFrame) -> FloatArray:
                frame = raw.reindex(columns=list(schema.names))
                for spec in schema.features:
                    if spec.kind == "numeric":
                        frame[spec.name] = pd.to_numeric(frame[spec.name], errors="coerce")
                with threadpool_limits(1):
                    probabilities = estimator.predict_proba(feature_frame(frame, schema))
                return np.asarray(probabilities[:, 1], dtype=np.float64)

            self._scorer = score
        return self._scorer


def _performance_decay(result: PerformanceResult | None) -> bool | None:
    """The performance verdict as the policy and the event see it: None unless it could be judged."""
    if result is None or result.verdict not in (PerformanceVerdict.DECAY, PerformanceVerdict.NO_DECAY):
        return None
    return bool(result.decay)


def _summary(
    verdict: Verdict, window: ScoredWindow, min_rows: int, drifted: tuple[str, ...], decision: Decision
) -> str:
    if verdict == "insufficient_data":
        head = (
            f"Insufficient data: {window.n_rows} prediction(s) in the window, at least {min_rows} needed; "
            "no drift decision was made."
        )
    elif verdict == "drift":
        named = ", ".join(drifted) if drifted else "the prediction or the joint distribution"
        head = f"Drift found in {named} over {window.n_rows:,} predictions."
    else:
        head = f"No drift over {window.n_rows:,} predictions."
    tail = "Retrain requested" if decision.retrain_requested else "No retrain requested"
    return f"{head} {tail}: {decision.reason}."


class DriftCheck:
    """Runs one drift check through the given adapters (see the module docstring)."""

    def __init__(self, ports: DriftCheckPorts, clock: Callable[[], datetime] | None = None) -> None:
        self._ports = ports
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))

    def run(self, request: DriftCheckRequest) -> DriftCheckOutcome:
        """Check the champion of `request.model_name` at `request.now`."""
        ports = self._ports
        champion = ports.registry.champion(request.model_name)
        if champion is None:
            message = f"{request.model_name} has no champion in the registry: nothing to check, no event sent"
            logger.info(message)
            return DriftCheckOutcome(result=None, message=message)
        if champion.artifact_uri is None:
            raise DriftCheckError(f"champion {champion.version} of {request.model_name} has no artifact URI")
        try:
            bucket, model_key = split_s3_uri(champion.artifact_uri)
        except ValueError as error:
            raise DriftCheckError(str(error)) from error
        location = (bucket, model_key.rsplit("/", 1)[0] + "/")
        profile = ports.model_bucket.reference_profile(*location)
        rescorer = _LazyRescorer(ports.model_bucket, champion, location)
        logger.info(
            "checking %s champion %s at %s (run %s)",
            request.model_name,
            champion.version,
            request.now.isoformat(),
            request.run_id,
        )

        current, labelled = self._windows(request, profile, champion.version, rescorer)
        evaluation = self._evaluate(request, champion.version, profile, current, labelled)
        decision = self._decide(request, champion.version, evaluation.verdict, evaluation.performance_decay)
        return self._publish(request, champion.version, evaluation, decision)

    def _windows(
        self, request: DriftCheckRequest, profile: ReferenceProfile, version: str, rescorer: _LazyRescorer
    ) -> tuple[ScoredWindow, ScoredWindow]:
        end = request.now
        start = end - timedelta(days=request.window_days)
        matured_end = end - timedelta(days=request.label_delay_days)
        matured_start = matured_end - timedelta(days=request.window_days)
        payloads = self._ports.payloads
        rows = payloads.query_window(request.model_name, start, end)
        matured_rows, labels = matured(
            payloads.labelled_window(request.model_name, matured_start, matured_end, labels_until=end), end
        )
        try:
            current = scored_window(
                rows, start=start, end=end, profile=profile, champion_version=version, rescore=rescorer
            )
            labelled = scored_window(
                matured_rows,
                start=matured_start,
                end=matured_end,
                profile=profile,
                champion_version=version,
                rescore=rescorer,
                labels=labels,
            )
        except WindowError as error:
            raise DriftCheckError(str(error)) from error
        logger.info(
            "window %s..%s: %d predictions (%d rescored); matured window %s..%s: %d labelled",
            start.isoformat(),
            end.isoformat(),
            current.n_rows,
            current.n_rescored,
            matured_start.isoformat(),
            matured_end.isoformat(),
            labelled.n_rows,
        )
        for name, count in current.type_mismatches.items():
            logger.warning("feature %s: %d value(s) of the wrong type were treated as missing", name, count)
        return current, labelled

    def _evaluate(
        self,
        request: DriftCheckRequest,
        version: str,
        profile: ReferenceProfile,
        current: ScoredWindow,
        labelled: ScoredWindow,
    ) -> _Evaluation:
        config = request.drift_config
        performance = None
        if labelled.n_rows and labelled.labels is not None:
            with threadpool_limits(1):
                performance = evaluate_performance(labelled.labels, labelled.scores, profile.holdout_metrics, config)
        drift = None
        verdict: Verdict = "insufficient_data"
        if current.n_rows >= config.min_samples:
            try:
                with threadpool_limits(1):  # a Batch job's few vCPUs: BLAS thread pools only contend
                    drift = DriftSuite(config).run(profile, current.features, current.scores)
            except DriftInputError as error:
                raise DriftCheckError(
                    f"the window of {version} cannot be compared with its profile: {error}"
                ) from error
            drift = replace(drift, performance=performance, performance_decay=_performance_decay(performance))
            verdict = "drift" if drift.dataset_drift else "no_drift"
        else:
            logger.warning(
                "insufficient data: %d predictions in the window, %d needed; no drift decision",
                current.n_rows,
                config.min_samples,
            )
        return _Evaluation(current, labelled, verdict, drift, performance, _performance_decay(performance))

    def _decide(
        self, request: DriftCheckRequest, version: str, verdict: Verdict, performance_decay: bool | None
    ) -> Decision:
        observation = Observation(request.run_id, request.now, version, verdict, performance_decay)
        store = self._ports.state
        for attempt in range(1, STATE_ATTEMPTS + 1):
            state = store.load(request.model_name)
            decision, next_state = decide(state, observation, request.policy)
            if next_state is state:
                return decision  # this run was already decided (a retry)
            try:
                store.save(request.model_name, next_state, expected_version=state.version, now=self._clock())
            except StateConflictError:
                logger.warning("the drift state changed concurrently (attempt %d); deciding again", attempt)
                continue
            return decision
        raise DriftCheckError(f"the drift state of {request.model_name} kept changing; no decision was recorded")

    def _publish(
        self,
        request: DriftCheckRequest,
        version: str,
        evaluation: _Evaluation,
        decision: Decision,
    ) -> DriftCheckOutcome:
        ports = self._ports
        report_key = report_object_key(request.model_name, request.run_id)
        result_key = report_key.rsplit("/", 1)[0] + "/" + RESULT_FILE
        bucket = ports.model_bucket_name
        current, verdict, drift = evaluation.current, evaluation.verdict, evaluation.drift
        matured_summary = evaluation.labelled.summary()
        matured_summary["label_delay_days"] = request.label_delay_days
        result = DriftCheckResult(
            model_name=request.model_name,
            run_id=request.run_id,
            champion_version=version,
            checked_at=request.now,
            verdict=verdict,
            summary=_summary(
                verdict, current, request.drift_config.min_samples, drift.drifted_features if drift else (), decision
            ),
            window=current.summary(),
            matured_window=matured_summary,
            min_rows=request.drift_config.min_samples,
            drift=drift,
            performance=evaluation.performance,
            performance_decay=evaluation.performance_decay,
            decision=decision,
            policy=request.policy,
            report_uri=f"s3://{bucket}/{report_key}",
            result_uri=f"s3://{bucket}/{result_key}",
        )
        ports.model_bucket.put_text(bucket, report_key, render_report(result), "text/html; charset=utf-8")
        ports.model_bucket.put_text(
            bucket, result_key, json.dumps(result.to_json(), indent=2, allow_nan=False), "application/json"
        )
        ports.metrics.publish(metric_data(result))
        event_ids = [ports.events.publish(DetailType.DRIFT_CHECK_COMPLETED, completed_detail(result), time=request.now)]
        if decision.retrain_requested:
            event_ids.append(
                ports.events.publish(DetailType.RETRAIN_REQUESTED, retrain_detail(result), time=request.now)
            )
        logger.info("%s report: %s", result.summary, result.report_uri)
        return DriftCheckOutcome(result=result, message=result.summary, events=tuple(event_ids))
