"""The retrain pipeline: governance, data, quality, window, fit, gate, and then a release or a recorded rejection.
Orchestration over the ports of `batch_jobs.training.ports` (no boto3, no environment, no clock: `now` comes in the
request); `batch_jobs.retrain` is the entry point that wires the real adapters.

1. Governance (`batch_jobs.governance`): the registry's versions are the history of retrains; a refused retrain
   is logged with its reason and the job exits 0 without writing anything.
2. Data: the initial training set (`s3://<payload bucket>/training/<m>/`, Parquet or CSV) plus production
   predictions whose labels have matured (served more than the label delay ago) from the lake. No production row
   matured since the champion's own retrain read its data: refused, saying so (`no_new_data`).
3. Quality (`batch_jobs.training.quality`): on failure a `rejected` version is recorded with the reasons (no
   model is trained) and `ModelRejected` is emitted.
4. Out-of-time holdout: the newest matured production days (for the first model: the newest slice of the
   initial set); the challenger never sees it. A recovery after performance decay (the request names the regime
   start the drift check estimated) keeps only the rows served since then, holds out their newest share, and waits
   (refused, saying so) until both sides have enough labelled rows.
5. Window (`batch_jobs.training.window`): fixed, expanding or backtested (a recovery: the whole regime); the
   choice and each candidate's AUC go into the version's evidence.
6. Fit from the model spec, or (config `incremental`) update the champion's final estimator. The decision
   threshold is the spec's, or (the default) the one that labels the training prevalence positive on
   out-of-fold scores (`fitting.choose_threshold`); it goes into the manifest, baseline and reference profile.
7. Gate (`batch_jobs.gate`): challenger and champion (loaded only after its SHA-256 matches the registry) on the
   same holdout, with why the champion is known to be failing if it is (`champion_failing`: the trigger, or its
   age beyond `max_champion_age`). Registered with lineage, metrics and the full decision.
8. Release: reference profile, monitoring baseline and smoke-test sample are built and the release publisher
   (`batch_jobs.release`) publishes the version. Refused: `rejected` with the gate's reasons and `ModelRejected`.
   Safe but without a reason to replace the champion, or byte-identical to it: `not_needed` with the reasons,
   and nothing is released.

Every decided outcome (refused, rejected, not needed, released) is a `RetrainResult`; errors of the ports
propagate, so the job fails and Batch retries it. A retry with the same `now` and data produces the same version
and finishes whatever the failed run left undone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from batch_jobs import model_spec
from batch_jobs.gate import GateDecision, evaluate_gate
from batch_jobs.governance import RetrainPermission, may_retrain
from batch_jobs.training import fitting
from batch_jobs.training.frames import (
    EVENT_TIME,
    PRODUCTION,
    SOURCE,
    HoldoutSplit,
    TrainingData,
    TrainingDataError,
    assemble,
    initial_fingerprint,
    initial_frame,
    regime_shortfall,
    split_holdout,
    split_regime,
)
from batch_jobs.training.job import Challenger, Outcome, RetrainConfig, RetrainRequest, RetrainResult
from batch_jobs.training.lineage import INITIAL_FINGERPRINT, REGIME_START, candidate_record, quality_record
from batch_jobs.training.ports import Release, RetrainDeps, VersionRegistry
from batch_jobs.training.quality import QualityReport, check_quality
from batch_jobs.training.release_files import write_release_files
from batch_jobs.training.window import CandidateWindow, WindowChoice, final_weights, select_window, window_rows
from core.artifacts import LoadedModel, base_rate_heuristic, load_verified_model, write_artifact
from core.events import DetailType
from core.features import InputSchema
from core.layout import MANIFEST_FILE, MODEL_FILE, parse_s3_uri, training_prefix, version_file_key
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger, VersionExistsError
from core.records import format_timestamp

#: A recovery's window: every production row the regime split left for training (no initial set).
REGIME_WINDOW = CandidateWindow(None, include_initial=False)
#: The entry point's logger: the job's log lines keep one name whichever module of the job writes them.
LOGGER = logging.getLogger("batch_jobs.retrain")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision and the challenger's holdout scores it was made on (the baseline and sample reuse them)."""

    decision: GateDecision
    challenger_scores: NDArray[np.float64]


def run_retrain(request: RetrainRequest, deps: RetrainDeps, config: RetrainConfig) -> RetrainResult:
    """Run one retrain end to end (see the module docstring)."""
    permission = governance(request, deps.registry, deps.model_name, config)
    if not permission.allowed:
        LOGGER.warning("retrain refused by governance: %s", permission.reason, extra={"trigger": request.trigger})
        return RetrainResult(Outcome.REFUSED, deps.model_name, None, (permission.reason,))
    LOGGER.info("retrain allowed: %s", permission.reason)
    champion_record = deps.registry.champion(deps.model_name)
    champion = None if champion_record is None else load_champion(champion_record, deps)
    try:
        data = read_training_data(request, deps, config, champion)
    except TrainingDataError as error:
        return reject_data(request, deps, None, QualityReport(False, (f"data: {error}",), {}))
    split = holdout_split(request, data.frame, config)
    refusal = no_new_data(data, champion_record, config) or regime_wait(request, split, config)
    if refusal is not None:
        LOGGER.warning("retrain refused: %s", refusal, extra={"trigger": request.trigger})
        return RetrainResult(Outcome.REFUSED, deps.model_name, None, (refusal,))
    quality = check_data_quality(data, champion_record, config)
    if not quality.passed:
        return reject_data(request, deps, data, quality)
    failing = champion_failing(request, champion_record, config)
    with threadpool_limits(1):
        challenger = train_challenger(request, deps, config, rows=split.train, serving=data.schema, champion=champion)
        verdict = judge(challenger, champion, split.holdout, data.schema, config, champion_failing=failing)
        identical = identical_to(challenger, champion_record)
        if verdict.decision.releases and identical is None:
            add_release_files(challenger, split, verdict, config)
    candidate = candidate_record(
        request,
        model_name=deps.model_name,
        code_version=deps.code_version,
        data=data,
        split=split,
        challenger=challenger,
        quality=quality,
        target=config.spec.target,
    )
    record = register(deps.registry, candidate, f"{request.trigger} retrain: {request.reason}")
    if record.status is not ModelStatus.CANDIDATE:
        return resume(request, deps, record, challenger.directory)
    record_decision(deps.registry, record, verdict.decision)
    return conclude(request, deps, record.version, verdict.decision, challenger=challenger, identical=identical)


def conclude(
    request: RetrainRequest,
    deps: RetrainDeps,
    version: str,
    decision: GateDecision,
    *,
    challenger: Challenger,
    identical: str | None,
) -> RetrainResult:
    """Act on the recorded gate decision: reject, keep the champion (`not_needed`) or release."""
    if not decision.passed:
        return reject(request, deps, version, decision.reasons)
    if identical is not None:
        return not_needed(deps, version, (identical,))
    if not decision.releases:
        return not_needed(deps, version, decision.reasons)
    add_lake_columns(deps, challenger.schema)
    return release(deps, version, challenger.directory, decision.reasons)


# -- the steps ------------------------------------------------------------------------------------------------------


def governance(
    request: RetrainRequest, registry: VersionRegistry, model_name: str, config: RetrainConfig
) -> RetrainPermission:
    """Whether the request may retrain now, given the registry's versions as the history of retrains."""
    # A retried run (same --now) must not be refused because of its own first attempt.
    history = [record.created_at for record in registry.list_versions(model_name) if record.created_at != request.now]
    return may_retrain(request.now, request.trigger, history, config.governance)


def load_champion(record: ModelVersionRecord, deps: RetrainDeps) -> LoadedModel:
    """The champion's model, downloaded at the recorded S3 version and loaded only if its SHA-256 matches."""
    if not record.artifact_uri or not record.sha256:
        raise TrainingDataError(f"champion {record.version} has no recorded artefact")
    _, key = parse_s3_uri(record.artifact_uri)
    directory = deps.workdir / "champion"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(deps.models.get(key, record.s3_version_id))
    (directory / MANIFEST_FILE).write_bytes(deps.models.get(version_file_key(key, MANIFEST_FILE)))
    return load_verified_model(directory, expected_sha256=record.sha256)


def read_training_data(
    request: RetrainRequest, deps: RetrainDeps, config: RetrainConfig, champion: LoadedModel | None
) -> TrainingData:
    """The initial training set plus the production rows whose labels matured within the look-back."""
    target = config.spec.target
    raw = deps.training_sets.read(training_prefix(deps.model_name))
    initial = None if raw is None else initial_frame(raw, target)
    matured_before = request.now - config.label_delay
    window = deps.payloads.labelled_frame(
        deps.model_name, request.now - config.lookback, matured_before, labels_until=request.now
    )
    return assemble(
        initial,
        window,
        target=target,
        matured_before=matured_before,
        champion_schema=None if champion is None else champion.manifest.input_schema,
    )


def no_new_data(data: TrainingData, champion: ModelVersionRecord | None, config: RetrainConfig) -> str | None:
    """Why a retrain would learn nothing new: the same initial training set as the champion's retrain read and no
    production row matured since that retrain read its data (its creation less the label delay). None when there
    is something new, or no champion."""
    if champion is None:
        return None
    recorded = champion.evidence.get(INITIAL_FINGERPRINT)
    if recorded is not None and recorded != initial_fingerprint(data.frame, config.spec.target):
        return None
    seen_until = champion.created_at - config.label_delay
    production = data.frame[SOURCE] == PRODUCTION
    newest = data.frame.loc[production, EVENT_TIME].max() if production.any() else None
    if newest is not None and newest >= seen_until:
        return None
    found = "none" if newest is None else f"from {format_timestamp(newest.to_pydatetime())}"
    return (
        f"no new matured data since the champion {champion.version} was trained: the same initial training set, "
        f"and its retrain read rows matured before {format_timestamp(seen_until)}; the newest matured production "
        f"row now: {found}"
    )


def holdout_split(request: RetrainRequest, frame: pd.DataFrame, config: RetrainConfig) -> HoldoutSplit:
    """The out-of-time holdout: of the regime's rows for a recovery (`frames.split_regime`), else the newest matured
    days (`frames.split_holdout`)."""
    if request.regime_start is not None:
        return split_regime(frame, regime_start=request.regime_start, holdout_fraction=config.regime_holdout_fraction)
    return split_holdout(frame, holdout_days=config.holdout_days, holdout_fraction=config.initial_holdout_fraction)


def regime_wait(request: RetrainRequest, split: HoldoutSplit, config: RetrainConfig) -> str | None:
    """Why a recovery retrain waits for more labels: too few matured rows of the new regime to train on and to judge
    on (`RetrainConfig.min_regime_rows`, `min_regime_class_rows`). None when it can go ahead, or for any other
    retrain."""
    if request.regime_start is None:
        return None
    short = regime_shortfall(split, target=config.spec.target, **regime_minimums(config))
    if short is None:
        return None
    return f"waiting for labels of the new regime (served since {format_timestamp(request.regime_start)}): {short}"


def regime_minimums(config: RetrainConfig) -> dict[str, tuple[int, int]]:
    """A recovery's minimum (rows, rows of each class): to train on (`min_regime_rows`, `min_regime_class_rows`) and
    to judge on (the gate's own `min_holdout_rows`, `min_class_rows`)."""
    return {
        "min_train": (config.min_regime_rows, config.min_regime_class_rows),
        "min_holdout": (config.gate.min_holdout_rows, config.gate.min_class_rows),
    }


def champion_failing(request: RetrainRequest, champion: ModelVersionRecord | None, config: RetrainConfig) -> str | None:
    """Why the champion is known to be failing, which makes a challenger that is not worse reason enough to replace
    it: the trigger (decay on matured labels, the drift the policy acted on) or its age; None otherwise. A champion
    a recovery already trained on the same regime is not failing for that recovery's later retrains: they replace it
    only when better beyond noise."""
    if champion is None:
        return None
    if request.trigger is Trigger.PERFORMANCE:
        regime = None if request.regime_start is None else format_timestamp(request.regime_start)
        if regime is not None and champion.evidence.get(REGIME_START) == regime:
            return None
        return f"performance decay on matured labels: {request.reason}"
    if request.trigger is Trigger.DRIFT:
        return f"drift the trigger policy acted on: {request.reason}"
    if config.max_champion_age is not None:
        since = max((change.at for change in champion.history if change.status is ModelStatus.CHAMPION), default=None)
        age = request.now - (since or champion.created_at)
        if age > config.max_champion_age:
            return f"champion for {age.days} days, more than the {config.max_champion_age.days} allowed"
    return None


def identical_to(challenger: Challenger, champion: ModelVersionRecord | None) -> str | None:
    """Why the challenger is no new model: its artefact is byte-identical to the champion's (same SHA-256)."""
    if champion is None or champion.sha256 != challenger.manifest.artifact_sha256:
        return None
    return (
        f"not needed: the challenger's artefact is byte-identical to the champion {champion.version}'s "
        f"(SHA-256 {champion.sha256})"
    )


def check_data_quality(
    data: TrainingData, champion_record: ModelVersionRecord | None, config: RetrainConfig
) -> QualityReport:
    """The quality checks, with the champion's training label rate (if recorded) as the reference."""
    reference_rate = None if champion_record is None else champion_record.evidence.get("label_rate")
    return check_quality(
        data.frame,
        schema=data.schema,
        target=config.spec.target,
        config=config.quality,
        reference_label_rate=float(reference_rate) if isinstance(reference_rate, int | float) else None,
    )


def train_challenger(
    request: RetrainRequest,
    deps: RetrainDeps,
    config: RetrainConfig,
    *,
    rows: pd.DataFrame,
    serving: InputSchema,
    champion: LoadedModel | None,
) -> Challenger:
    """Choose the window among `rows` (a recovery takes every row of its regime), fit the challenger on it, choose
    its threshold and write its artefact."""
    if request.regime_start is not None:
        choice = WindowChoice(
            REGIME_WINDOW,
            "regime",
            {"regime_start": format_timestamp(request.regime_start), "reason": "recovery after performance decay"},
        )
    else:
        choice = select_window(
            rows,
            target=config.spec.target,
            config=config.window,
            schema=serving,
            fit=lambda window, weights: fitting.fit_model(window, serving, config.spec, sample_weight=weights),
            score=lambda model, window: fitting.score(model, window, serving),
        )
    train = window_rows(rows, choice.window)
    choice, weights = final_weights(rows, choice, schema=serving, config=config.window)
    incremental = bool(config.incremental and champion and fitting.supports_incremental(champion.estimator))
    schema, unweighted_fit = challenger_fit(train, serving, champion if incremental else None, config.spec)
    fit = fitting.weighted(unweighted_fit, train, weights)
    model = fit(train)
    threshold = fitting.choose_threshold(config.spec, train, fit=fit, score=partial(fitting.score, schema=schema))
    directory = deps.workdir / "challenger"
    manifest = write_artifact(
        directory,
        model,
        model_name=deps.model_name,
        input_schema=schema,
        decision_threshold=threshold.value,
        created_at=request.now,
        heuristic=base_rate_heuristic(float(train[config.spec.target].mean())),
    )
    return Challenger(model, schema, manifest, directory, train, choice, threshold, incremental)


def challenger_fit(
    train: pd.DataFrame, serving: InputSchema, incremental_from: LoadedModel | None, spec: model_spec.ModelSpec
) -> tuple[InputSchema, Callable[[pd.DataFrame], Any]]:
    """The challenger's input schema and how it is fitted: an update of `incremental_from`'s final estimator on the
    champion's schema, or (None) a refit from the spec on the schema of the window's rows."""
    if incremental_from is not None:
        schema = incremental_from.manifest.input_schema
        estimator = incremental_from.estimator
        return schema, partial(fitting.update_incrementally, estimator, schema=schema, target=spec.target)
    schema = model_spec.infer_input_schema(
        model_spec.feature_frame(train, serving), target=spec.target, all_nullable=True
    )
    return schema, partial(fitting.fit_model, schema=schema, spec=spec)


def judge(
    challenger: Challenger,
    champion: LoadedModel | None,
    holdout: pd.DataFrame,
    serving: InputSchema,
    config: RetrainConfig,
    *,
    champion_failing: str | None = None,
) -> Verdict:
    """The gate: challenger and champion (if any) scored on the same out-of-time holdout; `champion_failing` is why
    the champion is known to be failing, if it is."""
    challenger_scores = fitting.score(challenger.model, holdout, challenger.schema)
    champion_scores = (
        None if champion is None else fitting.score(champion.estimator, holdout, champion.manifest.input_schema)
    )
    decision = evaluate_gate(
        config.gate,
        fitting.labels_of(holdout, config.spec.target),
        champion_scores,
        challenger_scores,
        challenger_schema=challenger.schema.features,
        serving_schema=serving.features,
        champion_threshold=0.5 if champion is None else champion.manifest.decision_threshold,
        challenger_threshold=challenger.manifest.decision_threshold,
        champion_failing=champion_failing,
    )
    return Verdict(decision, challenger_scores)


def add_release_files(challenger: Challenger, split: HoldoutSplit, verdict: Verdict, config: RetrainConfig) -> None:
    """The reference profile, monitoring baseline and smoke-test sample beside the challenger's artefact."""
    write_release_files(
        challenger.directory,
        model_name=challenger.manifest.model_name,
        version=challenger.manifest.model_version,
        model=challenger.model,
        schema=challenger.schema,
        target=config.spec.target,
        train=challenger.train,
        holdout=split.holdout,
        holdout_scores=verdict.challenger_scores,
        decision=verdict.decision,
        sample_rows=config.sample_rows,
    )


def register(registry: VersionRegistry, record: ModelVersionRecord, reason: str) -> ModelVersionRecord:
    """Register the candidate; a retry of the same run finds it already there and carries on with it."""
    try:
        return registry.register_candidate(record, reason)
    except VersionExistsError:
        LOGGER.info("version %s already registered (a retried run): continuing", record.version)
        return registry.get(record.model_name, record.version)


def record_decision(registry: VersionRegistry, record: ModelVersionRecord, decision: GateDecision) -> None:
    """Store both models' holdout metrics and the gate's verdict, reasons and full decision."""
    registry.record_metrics(
        record.model_name,
        record.version,
        challenger=decision.challenger.as_mapping(),
        champion={} if decision.champion is None else decision.champion.as_mapping(),
    )
    registry.record_gate_decision(
        record.model_name,
        record.version,
        passed=decision.passed,
        reasons=decision.reasons,
        details=decision.to_json(),
    )


def add_lake_columns(deps: RetrainDeps, schema: InputSchema) -> None:
    """Give the lake's predictions table the typed columns of the version's features before it is published: the
    model is deployed, and its records carry them, only after its release."""
    if deps.lake_catalog is not None:
        added = deps.lake_catalog.ensure_feature_columns(schema)
        LOGGER.info("lake columns added for %s: %s", deps.model_name, list(added))


def release(deps: RetrainDeps, version: str, directory: Path, reasons: tuple[str, ...]) -> RetrainResult:
    """Publish the version that passed the gate (its record as the registry holds it now)."""
    outcome = deps.publisher.release(deps.registry.get(deps.model_name, version), directory)
    LOGGER.info("released %s %s", deps.model_name, version)
    return _released(deps, version, reasons, outcome)


def resume(request: RetrainRequest, deps: RetrainDeps, record: ModelVersionRecord, directory: Path) -> RetrainResult:
    """Finish what an earlier run of the same request left undone (its version was decided already)."""
    if record.status is ModelStatus.REJECTED:
        return reject(request, deps, record.version, record.gate_reasons)
    if record.status is ModelStatus.NOT_NEEDED:
        return not_needed(deps, record.version, record.gate_reasons)
    if record.status is ModelStatus.RELEASED:
        return _released(deps, record.version, record.gate_reasons, deps.publisher.release(record, directory))
    return RetrainResult(Outcome.RELEASED, deps.model_name, record.version, record.gate_reasons)


def reject(request: RetrainRequest, deps: RetrainDeps, version: str, reasons: Sequence[str]) -> RetrainResult:
    """Mark the version `rejected` (unless a previous run did) and emit `ModelRejected` with the reasons."""
    current = deps.registry.get(deps.model_name, version)
    if current.status is ModelStatus.CANDIDATE:
        deps.registry.transition(
            deps.model_name, version, ModelStatus.REJECTED, "; ".join(reasons), expected_from=ModelStatus.CANDIDATE
        )
    detail = {
        "model_name": deps.model_name,
        "version": version,
        "trigger": request.trigger.value,
        "reasons": list(reasons),
    }
    deps.bus.publish(DetailType.MODEL_REJECTED, detail)
    LOGGER.warning("rejected %s %s: %s", deps.model_name, version, "; ".join(reasons))
    return RetrainResult(Outcome.REJECTED, deps.model_name, version, tuple(reasons))


def not_needed(deps: RetrainDeps, version: str, reasons: Sequence[str]) -> RetrainResult:
    """Mark the version `not_needed` (unless a previous run did): it passed the gate's checks but gives no reason to
    replace the champion, so nothing is released."""
    current = deps.registry.get(deps.model_name, version)
    if current.status is ModelStatus.CANDIDATE:
        deps.registry.transition(
            deps.model_name, version, ModelStatus.NOT_NEEDED, "; ".join(reasons), expected_from=ModelStatus.CANDIDATE
        )
    LOGGER.info("not needed %s %s: %s", deps.model_name, version, "; ".join(reasons))
    return RetrainResult(Outcome.NOT_NEEDED, deps.model_name, version, tuple(reasons))


def reject_data(
    request: RetrainRequest, deps: RetrainDeps, data: TrainingData | None, quality: QualityReport
) -> RetrainResult:
    """Record a version that was never trained because its data failed the quality checks, and reject it."""
    record = quality_record(
        request, model_name=deps.model_name, code_version=deps.code_version, data=data, quality=quality
    )
    record = register(deps.registry, record, f"{request.trigger} retrain: {request.reason}")
    reasons = tuple(f"quality: {reason}" for reason in quality.reasons)
    if record.status is not ModelStatus.CANDIDATE:
        return reject(request, deps, record.version, record.gate_reasons or reasons)
    deps.registry.record_gate_decision(
        deps.model_name,
        record.version,
        passed=False,
        reasons=reasons,
        details={"stage": "quality", "quality": quality.details},
    )
    return reject(request, deps, record.version, reasons)


def _released(deps: RetrainDeps, version: str, reasons: tuple[str, ...], outcome: Release) -> RetrainResult:
    return RetrainResult(
        Outcome.RELEASED,
        deps.model_name,
        version,
        reasons,
        release_uri=outcome.release.uri,
        release_s3_version_id=outcome.release.version_id,
    )
