"""The retrain job (`python -m batch_jobs.retrain`, `autoretrain retrain`): governance, data, quality, window,
fit, gate, and then a release or a recorded rejection.

    python -m batch_jobs.retrain --trigger {schedule,drift,performance,on_demand,initial} [--reason TEXT] [--now ISO]

1. Governance (`batch_jobs.governance`): the registry's versions are the history of retrains; a refused retrain
   is logged with its reason and the job exits 0 without writing anything.
2. Data: the initial training set (`s3://<payload bucket>/training/<m>/`, Parquet or CSV) plus production
   predictions whose labels have matured (served more than the label delay ago) from the payload table.
3. Quality (`batch_jobs.training.quality`): on failure a `rejected` version is recorded with the reasons (no
   model is trained) and `ModelRejected` is emitted.
4. Out-of-time holdout: the newest matured production days (for the first model: the newest slice of the
   initial set); the challenger never sees it.
5. Window (`batch_jobs.training.window`): fixed, expanding or backtested; the choice and each candidate's AUC go
   into the version's evidence.
6. Fit from the model spec, or (config `incremental`) update the champion's final estimator. The decision
   threshold is the spec's, or (the default) the one that labels the training prevalence positive on
   out-of-fold scores (`fitting.choose_threshold`); it goes into the manifest, baseline and reference profile.
7. Gate (`batch_jobs.gate`): challenger and champion (loaded only after its SHA-256 matches the registry) on the
   same holdout. Registered with lineage, metrics and the full decision.
8. Pass: reference profile, monitoring baseline and smoke-test sample are built and `batch_jobs.release`
   publishes the version. Fail: `rejected` with the gate's reasons and `ModelRejected`.

Exit code 0 for every decided outcome (refused, rejected, released), printed as one JSON line on stdout;
non-zero when the job itself failed (AWS errors, bad settings), so Batch retries it. A retry with the same
`--now` and data produces the same version and finishes whatever the failed run left undone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from batch_jobs import model_spec
from batch_jobs.baseline import build_monitoring_baseline
from batch_jobs.drift import ReferenceProfiler
from batch_jobs.gate import GateConfig, GateDecision, evaluate_gate
from batch_jobs.governance import GovernanceConfig, may_retrain
from batch_jobs.release import BASELINE_FILE, REFERENCE_FILE, Publisher
from batch_jobs.training import fitting
from batch_jobs.training.adapters import ObjectStore, TrainingSetReader, parse_s3_uri
from batch_jobs.training.frames import (
    INITIAL,
    PRODUCTION,
    SOURCE,
    TrainingDataError,
    combine,
    feature_columns,
    fingerprint,
    initial_frame,
    production_frame,
    split_holdout,
    time_span,
)
from batch_jobs.training.quality import QualityConfig, QualityReport, check_quality
from batch_jobs.training.window import WindowChoice, WindowConfig, select_window, window_rows
from core.artifacts import (
    MANIFEST_FILE,
    MODEL_FILE,
    LoadedModel,
    load_verified_model,
    make_model_version,
    write_artifact,
)
from core.aws import shared_session
from core.events import DetailType, EventBus
from core.features import InputSchema
from core.layout import training_prefix
from core.payload_store import PayloadStore
from core.records import parse_timestamp
from core.registry import (
    ModelStatus,
    ModelVersionRecord,
    Registry,
    Trigger,
    VersionExistsError,
)
from core.release_bundle import SAMPLE_FILE
from core.settings import RetrainSettings

if TYPE_CHECKING:
    from core.settings import RetrainSettings

LOGGER = logging.getLogger(__name__)
RETRAIN_TRIGGERS = (Trigger.SCHEDULE, Trigger.DRIFT, Trigger.PERFORMANCE, Trigger.ON_DEMAND, Trigger.INITIAL)


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    """Everything the job's decisions depend on (defaults in each part's docstring).

    - `label_delay` (7 days): a prediction is training data once it is this old (its label has matured).
    - `lookback` (120 days): how far back production predictions are read.
    - `holdout_days` (7): the newest matured production days form the gate's holdout; with no production data
      yet, the newest `initial_holdout_fraction` (20 %) of the initial set does.
    - `incremental` (False): update the champion's final estimator (partial_fit / warm_start) instead of a refit,
      when it supports that.
    - `sample_rows` (50): reference rows shipped in the release for the pipeline's smoke test.
    """

    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    spec: model_spec.ModelSpec = model_spec.DEFAULT_SPEC
    label_delay: timedelta = timedelta(days=7)
    lookback: timedelta = timedelta(days=120)
    holdout_days: int = 7
    initial_holdout_fraction: float = 0.2
    incremental: bool = False
    sample_rows: int = 50


@dataclass(frozen=True, slots=True)
class RetrainRequest:
    """Why and when a retrain was asked for."""

    trigger: Trigger
    reason: str
    now: datetime


class Outcome(StrEnum):
    """How a retrain ended."""

    REFUSED = "refused"
    REJECTED = "rejected"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """The job's outcome, printed as JSON."""

    outcome: Outcome
    model_name: str
    version: str | None
    reasons: tuple[str, ...]
    release_uri: str | None = None
    release_s3_version_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {
            "outcome": self.outcome.value,
            "model_name": self.model_name,
            "version": self.version,
            "reasons": list(self.reasons),
            "release_uri": self.release_uri,
            "release_s3_version_id": self.release_s3_version_id,
        }


@dataclass(frozen=True, slots=True)
class RetrainDeps:
    """The adapters the job talks to AWS through, and where it may write local files."""

    model_name: str
    registry: Registry
    payloads: PayloadStore
    training_sets: TrainingSetReader
    models: ObjectStore
    bus: EventBus
    code_version: str
    workdir: Path


@dataclass(frozen=True, slots=True)
class _Data:
    frame: pd.DataFrame
    schema: InputSchema
    counts: dict[str, int]


def run_retrain(request: RetrainRequest, deps: RetrainDeps, config: RetrainConfig) -> RetrainResult:
    """Run one retrain end to end (see the module docstring)."""
    model_name, registry = deps.model_name, deps.registry
    # A retried run (same --now) must not be refused because of its own first attempt.
    history = [record.created_at for record in registry.list_versions(model_name) if record.created_at != request.now]
    permission = may_retrain(request.now, request.trigger, history, config.governance)
    if not permission.allowed:
        LOGGER.warning("retrain refused by governance: %s", permission.reason, extra={"trigger": request.trigger})
        return RetrainResult(Outcome.REFUSED, model_name, None, (permission.reason,))
    LOGGER.info("retrain allowed: %s", permission.reason)
    champion_record = registry.champion(model_name)
    champion = _load_champion(champion_record, deps) if champion_record else None
    target = config.spec.target
    try:
        data = _assemble(request, deps, config, champion)
    except TrainingDataError as error:
        return _reject_data(request, deps, None, QualityReport(False, (f"data: {error}",), {}))
    reference_rate = None if champion_record is None else champion_record.evidence.get("label_rate")
    quality = check_quality(
        data.frame,
        schema=data.schema,
        target=target,
        config=config.quality,
        reference_label_rate=float(reference_rate) if isinstance(reference_rate, int | float) else None,
    )
    if not quality.passed:
        return _reject_data(request, deps, data, quality)

    split = split_holdout(
        data.frame, holdout_days=config.holdout_days, holdout_fraction=config.initial_holdout_fraction
    )
    with threadpool_limits(1):
        choice = select_window(
            split.train,
            target=target,
            config=config.window,
            fit=lambda rows: fitting.fit_model(rows, data.schema, config.spec),
            score=lambda model, rows: fitting.score(model, rows, data.schema),
        )
        train = window_rows(split.train, choice.window)
        incremental = bool(config.incremental and champion and fitting.supports_incremental(champion.estimator))
        fit_challenger: Callable[[pd.DataFrame], Any]
        if champion is not None and incremental:
            schema = champion.manifest.input_schema
            fit_challenger = partial(fitting.update_incrementally, champion.estimator, schema=schema, target=target)
        else:
            schema = model_spec.infer_input_schema(
                model_spec.feature_frame(train, data.schema), target=target, all_nullable=True
            )
            fit_challenger = partial(fitting.fit_model, schema=schema, spec=config.spec)
        challenger = fit_challenger(train)
        threshold = fitting.choose_threshold(
            config.spec, train, fit=fit_challenger, score=partial(fitting.score, schema=schema)
        )
        directory = deps.workdir / "challenger"
        manifest = write_artifact(
            directory,
            challenger,
            model_name=model_name,
            input_schema=schema,
            decision_threshold=threshold.value,
            created_at=request.now,
        )
        y_holdout = fitting.labels_of(split.holdout, target)
        challenger_scores = fitting.score(challenger, split.holdout, schema)
        champion_scores = (
            None
            if champion is None
            else fitting.score(champion.estimator, split.holdout, champion.manifest.input_schema)
        )
        decision = evaluate_gate(
            config.gate,
            y_holdout,
            champion_scores,
            challenger_scores,
            challenger_schema=schema.features,
            serving_schema=data.schema.features,
            champion_threshold=0.5 if champion is None else champion.manifest.decision_threshold,
            challenger_threshold=manifest.decision_threshold,
        )
        if decision.passed:
            _write_release_files(
                directory,
                version=manifest.model_version,
                model=challenger,
                schema=schema,
                train=train,
                holdout=split.holdout,
                holdout_scores=challenger_scores,
                decision=decision,
                config=config,
            )
    start, end = time_span(train, request.now)
    record = ModelVersionRecord(
        model_name=model_name,
        version=manifest.model_version,
        trigger=request.trigger,
        created_at=request.now,
        training_start=start,
        training_end=end,
        train_rows=len(train),
        holdout_rows=len(split.holdout),
        data_fingerprint=fingerprint(train, [*schema.names, target]),
        code_version=deps.code_version,
        evidence=_evidence(
            request,
            data=data,
            train=train,
            holdout=split.holdout,
            holdout_basis=split.basis,
            choice=choice,
            quality=quality,
            incremental=incremental,
            target=target,
            threshold=threshold,
        ),
    )
    record = _register(registry, record, f"{request.trigger} retrain: {request.reason}")
    if record.status is not ModelStatus.CANDIDATE:
        return _resume(request, deps, record, directory)
    registry.record_metrics(
        model_name,
        record.version,
        challenger=decision.challenger.as_mapping(),
        champion={} if decision.champion is None else decision.champion.as_mapping(),
    )
    registry.record_gate_decision(
        model_name, record.version, passed=decision.passed, reasons=decision.reasons, details=decision.to_json()
    )
    if not decision.passed:
        return _reject(request, deps, record.version, decision.reasons)
    publisher = Publisher(deps.models, registry, deps.bus, model_name)
    outcome = publisher.release(registry.get(model_name, record.version), directory)
    LOGGER.info("released %s %s", model_name, record.version)
    return RetrainResult(
        Outcome.RELEASED,
        model_name,
        record.version,
        decision.reasons,
        release_uri=outcome.release.uri,
        release_s3_version_id=outcome.release.version_id,
    )


def _load_champion(record: ModelVersionRecord, deps: RetrainDeps) -> LoadedModel:
    """The champion's model, downloaded at the recorded S3 version and loaded only if its SHA-256 matches."""
    if not record.artifact_uri or not record.sha256:
        raise TrainingDataError(f"champion {record.version} has no recorded artefact")
    _, key = parse_s3_uri(record.artifact_uri)
    directory = deps.workdir / "champion"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MODEL_FILE).write_bytes(deps.models.get(key, record.s3_version_id))
    (directory / MANIFEST_FILE).write_bytes(deps.models.get(key.rsplit("/", 1)[0] + "/" + MANIFEST_FILE))
    return load_verified_model(directory, expected_sha256=record.sha256)


def _assemble(request: RetrainRequest, deps: RetrainDeps, config: RetrainConfig, champion: LoadedModel | None) -> _Data:
    target = config.spec.target
    raw = deps.training_sets.read(training_prefix(deps.model_name))
    initial = None if raw is None else initial_frame(raw, target)
    matured_before = request.now - config.label_delay
    rows = deps.payloads.labelled_window(
        deps.model_name, request.now - config.lookback, matured_before, labels_until=request.now
    )
    production = production_frame(rows, target, matured_before) if rows else None
    frame = combine(initial, production)
    if champion is not None:
        schema = champion.manifest.input_schema
    elif initial is not None:
        schema = model_spec.infer_input_schema(
            initial[[*feature_columns(initial, target), target]], target=target, all_nullable=True
        )
    else:
        raise TrainingDataError("there is neither a champion nor an initial training set to take the schema from")
    counts = {
        INITIAL: int((frame[SOURCE] == INITIAL).sum()),
        PRODUCTION: int((frame[SOURCE] == PRODUCTION).sum()),
        "unlabelled_or_immature": len(rows) - int((frame[SOURCE] == PRODUCTION).sum()),
    }
    return _Data(frame, schema, counts)


def _write_release_files(
    directory: Path,
    *,
    version: str,
    model: Any,
    schema: InputSchema,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    holdout_scores: np.ndarray[Any, np.dtype[np.float64]],
    decision: GateDecision,
    config: RetrainConfig,
) -> None:
    """reference.parquet, baseline.json and sample.json beside the artefact."""
    features = model_spec.feature_frame(train, schema)
    metrics = {name: value for name, value in decision.challenger.as_mapping().items() if value is not None}
    threshold = decision.challenger.threshold
    profiler = ReferenceProfiler(decision_threshold=threshold).fit(
        features,
        scores=fitting.score(model, train, schema),
        target=fitting.labels_of(train, config.spec.target),
        holdout_metrics=metrics,
        schema={spec.name: spec.kind for spec in schema.features},
    )
    profiler.profile_.to_parquet(directory / REFERENCE_FILE)
    baseline = build_monitoring_baseline(
        model_name=_manifest_name(directory),
        model_version=version,
        decision_threshold=threshold,
        schema=schema,
        training_features=features,
        reference_scores=holdout_scores,
    )
    (directory / BASELINE_FILE).write_text(baseline.dumps())
    sample = model_spec.feature_frame(holdout.head(config.sample_rows), schema)
    records = sample.astype(object).where(sample.notna(), None).to_dict("records")
    document = {
        "model_version": version,
        "input_schema": schema.to_json(),
        "instances": [{"features": row} for row in records],
        "expected_scores": [float(value) for value in holdout_scores[: len(records)]],
    }
    (directory / SAMPLE_FILE).write_text(json.dumps(document, allow_nan=False) + "\n")


def _manifest_name(directory: Path) -> str:
    return str(json.loads((directory / MANIFEST_FILE).read_text())["model_name"])


def _evidence(
    request: RetrainRequest,
    *,
    data: _Data,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    holdout_basis: str,
    choice: WindowChoice,
    quality: QualityReport,
    incremental: bool,
    target: str,
    threshold: fitting.ThresholdChoice,
) -> dict[str, Any]:
    labels = fitting.labels_of(train, target)
    return {
        "request_reason": request.reason,
        "window": {"name": choice.window.name, "strategy": choice.strategy, **choice.evidence},
        "holdout": {"basis": holdout_basis, "rows": len(holdout), "positives": int(holdout[target].sum())},
        "rows": {**data.counts, "train": len(train)},
        "label_rate": float(labels.mean()) if labels.size else None,
        "fit": "incremental" if incremental else "refit",
        "decision_threshold": threshold.to_json(),
        "quality": quality.details,
    }


def _register(registry: Registry, record: ModelVersionRecord, reason: str) -> ModelVersionRecord:
    """Register the candidate; a retry of the same run finds it already there and carries on with it."""
    try:
        return registry.register_candidate(record, reason)
    except VersionExistsError:
        LOGGER.info("version %s already registered (a retried run): continuing", record.version)
        return registry.get(record.model_name, record.version)


def _resume(request: RetrainRequest, deps: RetrainDeps, record: ModelVersionRecord, directory: Path) -> RetrainResult:
    """Finish what an earlier run of the same request left undone (its version was decided already)."""
    if record.status is ModelStatus.REJECTED:
        return _reject(request, deps, record.version, record.gate_reasons)
    if record.status is ModelStatus.RELEASED:
        outcome = Publisher(deps.models, deps.registry, deps.bus, deps.model_name).release(record, directory)
        return RetrainResult(
            Outcome.RELEASED,
            deps.model_name,
            record.version,
            record.gate_reasons,
            release_uri=outcome.release.uri,
            release_s3_version_id=outcome.release.version_id,
        )
    return RetrainResult(Outcome.RELEASED, deps.model_name, record.version, record.gate_reasons)


def _reject(request: RetrainRequest, deps: RetrainDeps, version: str, reasons: Sequence[str]) -> RetrainResult:
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


def _reject_data(
    request: RetrainRequest, deps: RetrainDeps, data: _Data | None, quality: QualityReport
) -> RetrainResult:
    """Record a version that was never trained because its data failed the quality checks."""
    frame = None if data is None else data.frame
    columns = [] if frame is None else [str(name) for name in frame.columns]
    digest = fingerprint(frame, columns) if frame is not None else fingerprint(pd.DataFrame(), [])
    start, end = (request.now, request.now) if frame is None else time_span(frame, request.now)
    record = ModelVersionRecord(
        model_name=deps.model_name,
        version=make_model_version(request.now, digest),
        trigger=request.trigger,
        created_at=request.now,
        training_start=start,
        training_end=end,
        train_rows=0 if frame is None else len(frame),
        holdout_rows=0,
        data_fingerprint=digest,
        code_version=deps.code_version,
        evidence={
            "request_reason": request.reason,
            "stage": "quality",
            "rows": {} if data is None else data.counts,
            "quality": quality.details,
        },
    )
    record = _register(deps.registry, record, f"{request.trigger} retrain: {request.reason}")
    reasons = tuple(f"quality: {reason}" for reason in quality.reasons)
    if record.status is not ModelStatus.CANDIDATE:
        return _reject(request, deps, record.version, record.gate_reasons or reasons)
    deps.registry.record_gate_decision(
        deps.model_name,
        record.version,
        passed=False,
        reasons=reasons,
        details={"stage": "quality", "quality": quality.details},
    )
    return _reject(request, deps, record.version, reasons)


# -- entry point ---------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain retrain", description="Retrain, gate and release the model.")
    parser.add_argument("--trigger", choices=[trigger.value for trigger in RETRAIN_TRIGGERS], default="on_demand")
    parser.add_argument("--reason", default="", help="why the retrain was requested (recorded in the registry)")
    parser.add_argument("--now", type=parse_timestamp, default=None, help="ISO 8601 time with offset (default: now)")
    parser.add_argument(
        "--incremental", action="store_true", help="update the champion incrementally when its estimator allows"
    )
    return parser


def code_version(configured: str) -> str:
    """The configured code version, else `git describe`, else `unknown`."""
    if configured:
        return configured
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607  # git from PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"


def build_deps(settings: RetrainSettings, workdir: Path) -> RetrainDeps:
    """The job's adapters over one boto3 session."""
    session = shared_session()
    s3 = session.client("s3")
    return RetrainDeps(
        model_name=settings.model_name,
        registry=Registry(session.client("dynamodb"), settings.registry_table),
        payloads=PayloadStore(session.client("dynamodb"), settings.payload_table),
        training_sets=TrainingSetReader(s3, settings.payload_bucket),
        models=ObjectStore(s3, settings.model_bucket),
        bus=EventBus(session.client("events"), settings.event_bus),
        code_version=code_version(settings.code_version),
        workdir=workdir,
    )


def main(argv: Sequence[str] | None = None, config: RetrainConfig | None = None) -> int:
    """Parse arguments, read settings, run the retrain, print the result as JSON; 0 for any decided outcome."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = RetrainSettings.from_env()
    base = config or RetrainConfig()
    config = dataclasses.replace(
        base,
        label_delay=timedelta(days=settings.label_delay_days),
        incremental=base.incremental or arguments.incremental,
    )
    request = RetrainRequest(
        trigger=Trigger(arguments.trigger),
        reason=arguments.reason or f"{arguments.trigger} retrain",
        now=arguments.now or datetime.now(UTC),
    )
    with tempfile.TemporaryDirectory(prefix="autoretrain-") as workdir:
        result = run_retrain(request, build_deps(settings, Path(workdir)), config)
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
