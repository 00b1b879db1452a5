"""The drift-check pipeline: champion -> reference profile -> payload window (+ matured labels) -> drift suite ->
trigger policy -> report, result, metrics and events. `run_drift_check` is a short orchestration over the ports in
`batch_jobs.monitoring.ports`; nothing here reads the environment or creates a client.

Windows (`now` is the check's time, normally the schedule's time):
- current: predictions with `now − window_days <= timestamp < now` (one `Query` per UTC month, no scan);
- matured: predictions with `now − label_delay − window_days <= timestamp < now − label_delay` whose label
  arrived by `now` — the performance check's data (a label is only trusted once its delay has passed).

Fewer current rows than the suite's `min_samples` (200) means `insufficient_data`: the drift suite is not run and
the check makes no drift decision (it neither counts as drifting nor resets the streak). Performance has its own
minimum (`performance_min_labels`) and is judged whenever matured labels exist.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray
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
from batch_jobs.drift.impact import EstimateTracking, track_estimate
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.model_spec import feature_frame
from batch_jobs.monitoring.outputs import (
    DriftCheckResult,
    ReviewedEvaluation,
    completed_detail,
    impact_text,
    metric_data,
    render_report,
    retrain_detail,
)
from batch_jobs.monitoring.policy import Decision, Observation, TriggerPolicy, Verdict, decide
from batch_jobs.monitoring.ports import (
    Champion,
    ChampionFiles,
    DriftCheckPorts,
    PolicyStateStore,
    PredictionWindows,
    ReviewedWindows,
)
from batch_jobs.monitoring.regime import RegimeEstimate, estimate_regime
from batch_jobs.monitoring.review import ReviewDesign, estimate_reviewed, reviewed_decay
from batch_jobs.monitoring.state import StateConflictError
from batch_jobs.monitoring.window import Rescorer, ScoredWindow, WindowError, matured, scored_window
from core.artifacts import LoadedModel
from core.events import DetailType
from core.layout import (
    parse_s3_uri,
    report_object_key,
    result_object_key,
    s3_uri,
    validate_model_name,
    version_file_key,
)
from core.records import format_timestamp

logger = logging.getLogger(__name__)

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
    #: The review design of the stack's review sample (None: no reviewed labels are judged).
    review: ReviewDesign | None = None

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
class DriftCheckOutcome:
    """What the run did: `result` is None when there was no champion to check."""

    result: DriftCheckResult | None
    message: str
    events: tuple[str, ...] = ()


class ModelLocation(NamedTuple):
    """Where the champion's files are: `s3://bucket/prefix<file>`."""

    bucket: str
    prefix: str


@dataclass(frozen=True, slots=True)
class WindowBounds:
    """The check's two windows (module docstring): current `[start, end)`, matured `[matured_start, matured_end)`."""

    start: datetime
    end: datetime
    matured_start: datetime
    matured_end: datetime

    @classmethod
    def of(cls, request: DriftCheckRequest) -> WindowBounds:
        """The windows of a check at `request.now`."""
        end = request.now
        matured_end = end - timedelta(days=request.label_delay_days)
        window = timedelta(days=request.window_days)
        return cls(start=end - window, end=end, matured_start=matured_end - window, matured_end=matured_end)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The suite's findings on both windows."""

    current: ScoredWindow
    labelled: ScoredWindow
    verdict: Verdict
    drift: DriftResult | None
    performance: PerformanceResult | None
    performance_decay: bool | None
    regime: RegimeEstimate | None = None
    #: The label-free estimate on the matured rows beside their realised metrics.
    tracking: EstimateTracking | None = None
    #: Performance on the current window's reviewed labels and its decay verdict.
    reviewed: ReviewedEvaluation | None = None

    @property
    def impactful(self) -> bool | None:
        """The drift's estimated impact as the policy sees it (None: unknown or the suite did not run)."""
        return None if self.drift is None or self.drift.impact is None else self.drift.impact.impactful


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_drift_check(
    request: DriftCheckRequest, ports: DriftCheckPorts, *, clock: Callable[[], datetime] = _utc_now
) -> DriftCheckOutcome:
    """Check the champion of `request.model_name` at `request.now` (`clock` only stamps the state's writes)."""
    champion = ports.registry.champion(request.model_name)
    if champion is None:
        message = f"{request.model_name} has no champion in the registry: nothing to check, no event sent"
        logger.info(message)
        return DriftCheckOutcome(result=None, message=message)
    location = champion_location(request.model_name, champion)
    profile = ports.champion_files.reference_profile(*location)
    logger.info(
        "checking %s champion %s at %s (run %s)",
        request.model_name,
        champion.version,
        request.now.isoformat(),
        request.run_id,
    )
    rescore = lazy_rescorer(ports.champion_files, location, champion.sha256)
    current, labelled = read_windows(ports.payloads, request, profile, champion.version, rescore)
    evaluation = evaluate(request.drift_config, champion.version, profile, current, labelled)
    if request.review is not None and ports.reviews is not None:
        judged = judge_reviewed(ports.reviews, request, request.review, profile, (champion.version, rescore))
        evaluation = with_reviewed(evaluation, judged)
    decision = record_decision(ports.state, request, champion.version, evaluation, clock)
    result = build_result(request, champion.version, evaluation, decision, ports.report_bucket)
    events = write_outputs(ports, result)
    logger.info("%s report: %s", result.summary, result.report_uri)
    return DriftCheckOutcome(result=result, message=result.summary, events=events)


def champion_location(model_name: str, champion: Champion) -> ModelLocation:
    """The folder of the champion's model, where its profile and manifest sit too."""
    if champion.artifact_uri is None:
        raise DriftCheckError(f"champion {champion.version} of {model_name} has no artifact URI")
    try:
        bucket, model_key = parse_s3_uri(champion.artifact_uri)
    except ValueError as error:
        raise DriftCheckError(str(error)) from error
    return ModelLocation(bucket, version_file_key(model_key, ""))


def champion_rescorer(loaded: LoadedModel) -> Rescorer:
    """Scores raw feature records with a loaded model, coerced to its input schema, on one BLAS thread."""
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

    return score


def lazy_rescorer(files: ChampionFiles, location: ModelLocation, sha256: str | None) -> Callable[[], Rescorer]:
    """Loads and verifies the champion's model the first time a row served by another version needs a score."""

    @functools.cache
    def load() -> Rescorer:
        return champion_rescorer(files.load_model(location.bucket, location.prefix, sha256))

    return load


def read_windows(
    payloads: PredictionWindows,
    request: DriftCheckRequest,
    profile: ReferenceProfile,
    version: str,
    rescore: Callable[[], Rescorer],
) -> tuple[ScoredWindow, ScoredWindow]:
    """The current window and the matured (labelled) window, as the suite's inputs scored by the champion."""
    bounds = WindowBounds.of(request)
    rows = payloads.prediction_frame(request.model_name, bounds.start, bounds.end)
    labelled_rows = payloads.labelled_frame(
        request.model_name, bounds.matured_start, bounds.matured_end, labels_until=bounds.end
    )
    try:
        matured_rows, labels = matured(labelled_rows)
        current = scored_window(
            rows, start=bounds.start, end=bounds.end, profile=profile, champion_version=version, rescore=rescore
        )
        labelled = scored_window(
            matured_rows,
            start=bounds.matured_start,
            end=bounds.matured_end,
            profile=profile,
            champion_version=version,
            rescore=rescore,
            labels=labels,
        )
    except WindowError as error:
        raise DriftCheckError(str(error)) from error
    _log_windows(bounds, current, labelled)
    return current, labelled


def _log_windows(bounds: WindowBounds, current: ScoredWindow, labelled: ScoredWindow) -> None:
    logger.info(
        "window %s..%s: %d predictions (%d rescored); matured window %s..%s: %d labelled",
        bounds.start.isoformat(),
        bounds.end.isoformat(),
        current.n_rows,
        current.n_rescored,
        bounds.matured_start.isoformat(),
        bounds.matured_end.isoformat(),
        labelled.n_rows,
    )
    for name, count in current.type_mismatches.items():
        logger.warning("feature %s: %d value(s) of the wrong type were treated as missing", name, count)


def judge_performance(
    config: DriftConfig, profile: ReferenceProfile, labelled: ScoredWindow
) -> PerformanceResult | None:
    """Performance on the matured labels against the champion's holdout baseline; None without labelled rows."""
    if not labelled.n_rows or labelled.labels is None:
        return None
    with threadpool_limits(1):
        return evaluate_performance(labelled.labels, labelled.scores, profile.holdout_metrics, config)


def performance_decay(result: PerformanceResult | None) -> bool | None:
    """The performance verdict as the policy and the event see it: None unless it could be judged."""
    if result is None or result.verdict not in (PerformanceVerdict.DECAY, PerformanceVerdict.NO_DECAY):
        return None
    return bool(result.decay)


def judge_drift(
    config: DriftConfig, version: str, profile: ReferenceProfile, current: ScoredWindow
) -> DriftResult | None:
    """The drift suite on the current window; None (no decision) below `config.min_samples` rows."""
    if current.n_rows < config.min_samples:
        logger.warning(
            "insufficient data: %d predictions in the window, %d needed; no drift decision",
            current.n_rows,
            config.min_samples,
        )
        return None
    try:
        with threadpool_limits(1):  # a Batch job's few vCPUs: BLAS thread pools only contend
            return DriftSuite(config).run(profile, current.features, current.scores)
    except DriftInputError as error:
        raise DriftCheckError(f"the window of {version} cannot be compared with its profile: {error}") from error


def evaluate(
    config: DriftConfig, version: str, profile: ReferenceProfile, current: ScoredWindow, labelled: ScoredWindow
) -> Evaluation:
    """Both judgements, the verdict the policy sees (`insufficient_data` when the suite did not run) and, with decay,
    where it began."""
    performance = judge_performance(config, profile, labelled)
    decay = performance_decay(performance)
    regime = None
    if decay and labelled.times is not None and labelled.labels is not None:
        regime = estimate_regime(labelled.times, labelled.labels, labelled.scores, window_start=labelled.start)
    drift = judge_drift(config, version, profile, current)
    verdict: Verdict = "insufficient_data"
    if drift is not None:
        drift = replace(drift, performance=performance, performance_decay=decay)
        verdict = "drift" if drift.dataset_drift else "no_drift"
    tracking = None
    if labelled.labels is not None and labelled.n_rows:
        with threadpool_limits(1):
            tracking = track_estimate(profile, config, labelled.labels, labelled.scores)
    return Evaluation(current, labelled, verdict, drift, performance, decay, regime, tracking)


def judge_reviewed(
    reviews: ReviewedWindows,
    request: DriftCheckRequest,
    design: ReviewDesign,
    profile: ReferenceProfile,
    champion: tuple[str, Callable[[], Rescorer]],
) -> ReviewedEvaluation:
    """Design-based performance of the champion on the current window's reviewed labels
    (`batch_jobs.monitoring.review`) and the decay rule on it: the champion's holdout AUC as the baseline, the
    suite's AUC margin and confidence. A row's stratum is the one the design chose it in (by the score it was served
    with); its score is the champion's (`champion`: its version and rescorer), so a champion just deployed is judged
    on its own answers to the window, not on its predecessor's."""
    bounds = WindowBounds.of(request)
    frame = reviews.reviewed_frame(request.model_name, bounds.start, bounds.end, labels_until=bounds.end)
    population = reviews.stratum_counts(request.model_name, bounds.start, bounds.end, design)
    config = request.drift_config
    version, rescore = champion
    try:
        window = scored_window(
            frame, start=bounds.start, end=bounds.end, profile=profile, champion_version=version, rescore=rescore
        )
    except WindowError as error:
        raise DriftCheckError(str(error)) from error
    served = np.asarray(frame.score, dtype=np.float64)
    scores = np.asarray(window.scores, dtype=np.float64)
    labels = np.zeros(0) if frame.label is None else np.asarray(frame.label, dtype=np.float64)
    known = np.isfinite(served) & np.isfinite(scores) & np.isfinite(labels) if labels.size else np.zeros(0, dtype=bool)
    cells, cell_of_row = reviewed_cells(frame.time[known], design.stratum_of(served[known]), population)
    with threadpool_limits(1):
        performance = estimate_reviewed(
            scores[known],
            labels[known],
            cell_of_row,
            [population[cell] for cell in cells] or [0],  # no reviewed day yet: nothing to estimate
            confidence_level=config.confidence_level,
            random_state=config.random_state,
        )
    decay = reviewed_decay(performance, profile.holdout_metrics.get("auc"), margin=config.auc_margin)
    regime = None
    if decay.decay:
        regime = estimate_regime(frame.time[known], labels[known], scores[known], window_start=bounds.start)
    return ReviewedEvaluation(performance, decay, format_timestamp(bounds.start), format_timestamp(bounds.end), regime)


def reviewed_cells(
    times: pd.DatetimeIndex, strata: NDArray[np.int64], population: Mapping[tuple[str, int], int]
) -> tuple[list[tuple[str, int]], NDArray[np.int64]]:
    """The estimate's strata: (UTC day, score stratum) cells of the days that have reviews, and each reviewed row's
    cell. A day without reviews (not yet exported or returned, or whose export failed) is left out of the population
    rather than assumed like the reviewed days, and a day's own rate (a capped read samples days unequally) is in
    its cells' weights."""
    days = np.asarray(times.strftime("%Y-%m-%d"), dtype=object)
    reviewed_days = sorted(set(days.tolist()))
    cells = [(day, stratum) for (day, stratum) in sorted(population) if day in reviewed_days]
    index = {cell: position for position, cell in enumerate(cells)}
    rows = np.array([index.get((day, int(stratum)), -1) for day, stratum in zip(days, strata, strict=True)])
    if (rows < 0).any():
        raise DriftCheckError("reviewed rows fall outside the window's counted predictions")
    return cells, rows.astype(np.int64)


def combined_decay(matured_decay: bool | None, reviewed: ReviewedEvaluation | None) -> bool | None:
    """The decay the policy sees: decay on either the matured or the reviewed labels; no decay when one judged and
    neither found it; None when neither could judge."""
    reviewed_verdict = None
    if reviewed is not None and reviewed.decay.verdict in (PerformanceVerdict.DECAY, PerformanceVerdict.NO_DECAY):
        reviewed_verdict = reviewed.decay.decay
    verdicts = [verdict for verdict in (matured_decay, reviewed_verdict) if verdict is not None]
    return any(verdicts) if verdicts else None


def with_reviewed(evaluation: Evaluation, reviewed: ReviewedEvaluation) -> Evaluation:
    """The evaluation with its reviewed labels' judgement, which joins the decay the policy sees; a decay only the
    reviewed labels show takes its regime from them (the recovery then trains on the regime they date)."""
    return replace(
        evaluation,
        reviewed=reviewed,
        performance_decay=combined_decay(evaluation.performance_decay, reviewed),
        regime=evaluation.regime or reviewed.regime,
    )


def record_decision(
    store: PolicyStateStore,
    request: DriftCheckRequest,
    version: str,
    evaluation: Evaluation,
    clock: Callable[[], datetime],
) -> Decision:
    """The policy's decision, written to its state conditionally (a conflict re-reads and decides again).

    A run already in the state (a retry of the same run id) gets its recorded decision and writes nothing.
    """
    observation = Observation(
        request.run_id,
        request.now,
        version,
        evaluation.verdict,
        evaluation.performance_decay,
        None if evaluation.regime is None else evaluation.regime.start,
        impactful=evaluation.impactful,
    )
    for attempt in range(1, STATE_ATTEMPTS + 1):
        state = store.load(request.model_name)
        decision, next_state = decide(state, observation, request.policy)
        if next_state is state:
            return decision
        try:
            store.save(request.model_name, next_state, expected_version=state.version, now=clock())
        except StateConflictError:
            logger.warning("the drift state changed concurrently (attempt %d); deciding again", attempt)
            continue
        return decision
    raise DriftCheckError(f"the drift state of {request.model_name} kept changing; no decision was recorded")


def _summary(
    verdict: Verdict, window: ScoredWindow, min_rows: int, drift: DriftResult | None, decision: Decision
) -> str:
    if verdict == "insufficient_data":
        head = (
            f"Insufficient data: {window.n_rows} prediction(s) in the window, at least {min_rows} needed; "
            "no drift decision was made."
        )
    elif verdict == "drift" and drift is not None:
        named = ", ".join(drift.drifted_features) or "the prediction or the joint distribution"
        head = f"Drift found in {named} over {window.n_rows:,} predictions{_sampled(window)}. {impact_text(drift)}"
    else:
        head = f"No drift over {window.n_rows:,} predictions{_sampled(window)}."
    tail = "Retrain requested" if decision.retrain_requested else "No retrain requested"
    return f"{head} {tail}: {decision.reason}."


def _sampled(window: ScoredWindow) -> str:
    records = window.window_records
    return "" if records is None or records <= window.n_rows else f" (a day-stratified sample of {records:,} records)"


def output_keys(model_name: str, run_id: str) -> tuple[str, str]:
    """The keys of a run's HTML report and of its result JSON, side by side (a retry overwrites its own)."""
    return report_object_key(model_name, run_id), result_object_key(model_name, run_id)


def build_result(
    request: DriftCheckRequest, version: str, evaluation: Evaluation, decision: Decision, bucket: str
) -> DriftCheckResult:
    """The check's result, naming where its report and result JSON go (`reports/<m>/<run-id>/` in `bucket`)."""
    report_key, result_key = output_keys(request.model_name, request.run_id)
    current, verdict, drift = evaluation.current, evaluation.verdict, evaluation.drift
    min_rows = request.drift_config.min_samples
    matured_summary = evaluation.labelled.summary()
    matured_summary["label_delay_days"] = request.label_delay_days
    return DriftCheckResult(
        model_name=request.model_name,
        run_id=request.run_id,
        champion_version=version,
        checked_at=request.now,
        verdict=verdict,
        summary=_summary(verdict, current, min_rows, drift, decision),
        window=current.summary(),
        matured_window=matured_summary,
        min_rows=min_rows,
        drift=drift,
        performance=evaluation.performance,
        performance_decay=evaluation.performance_decay,
        decision=decision,
        policy=request.policy,
        report_uri=s3_uri(bucket, report_key),
        result_uri=s3_uri(bucket, result_key),
        regime=evaluation.regime,
        tracking=evaluation.tracking,
        reviewed=evaluation.reviewed,
    )


def write_outputs(ports: DriftCheckPorts, result: DriftCheckResult) -> tuple[str, ...]:
    """Write the report and the result JSON, publish the metrics, then the events; return the events' ids.

    `DriftCheckCompleted` always; `RetrainRequested` when the decision requested one (again on a retried run, whose
    earlier attempt may have failed before sending it).
    """
    bucket = ports.report_bucket
    report_key, result_key = output_keys(result.model_name, result.run_id)
    ports.reports.put_text(bucket, report_key, render_report(result), "text/html; charset=utf-8")
    document = json.dumps(result.to_json(), indent=2, allow_nan=False)
    ports.reports.put_text(bucket, result_key, document, "application/json")
    ports.metrics.publish(metric_data(result, per_feature=ports.feature_metrics))
    at = result.checked_at
    event_ids = [ports.events.publish(DetailType.DRIFT_CHECK_COMPLETED, completed_detail(result), time=at)]
    if result.decision.retrain_requested:
        event_ids.append(ports.events.publish(DetailType.RETRAIN_REQUESTED, retrain_detail(result), time=at))
    return tuple(event_ids)
