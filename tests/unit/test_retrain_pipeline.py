"""The retrain pipeline over in-memory fakes of its ports: governance, data quality, the gate's two outcomes,
retries, and what reaches the registry, the release publisher and the bus.

The data are small synthetic churn sets (`generate_churn`, 1,500 customers) under quality and gate minimums scaled
down to match. The emulator tests (`tests/integration/test_retrain_job.py`) run the job through the real adapters;
the release itself (upload, release zip, `ModelReleased`) is the publisher's and is tested there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import FEATURES, TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.gate import GateConfig
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.retrain import build_parser
from batch_jobs.training import fitting
from batch_jobs.training.frames import HoldoutSplit, initial_fingerprint, initial_frame
from batch_jobs.training.job import Outcome, RetrainConfig, RetrainRequest, RetrainResult
from batch_jobs.training.lineage import REGIME_START as REGIME_START_KEY
from batch_jobs.training.pipeline import champion_failing, identical_to, regime_wait, run_retrain
from batch_jobs.training.ports import RetrainDeps
from batch_jobs.training.quality import QualityConfig
from core.artifacts import ArtifactIntegrityError, write_artifact
from core.events import DetailType
from core.layout import MANIFEST_FILE, MODEL_FILE, SAMPLE_FILE, VERSION_FILES, model_version_prefix, training_prefix
from core.model_lifecycle import (
    ConflictError,
    ModelStatus,
    ModelVersionRecord,
    StatusChange,
    Trigger,
    VersionExistsError,
    VersionNotFoundError,
    check_transition,
    finite_metrics,
    new_candidate,
)
from core.records import format_timestamp
from core.segments import LabelledPrediction, LabelRow, PredictionRow
from tests.columns import labelled_frame

MODEL = "churn"
BUCKET = "models"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
#: Minimums for 1,500 rows (a 300-row holdout); 200 bootstrap replicates keep the gate fast.
SMALL = RetrainConfig(
    quality=QualityConfig(min_rows=300, min_class_rows=20),
    gate=GateConfig(min_holdout_rows=120, min_class_rows=15, n_bootstrap=200),
)
NO_WINDOW = WindowFrame.empty(labelled=True)
#: A 300-row holdout cannot show two models of the same data within 0.01 AUC: a margin that it can.
LOOSE = replace(SMALL, gate=replace(SMALL.gate, margin=0.05))


# --- fakes of the ports ------------------------------------------------------------------------------------------


class FakeRegistry:
    """The registry rules the pipeline relies on: unique versions, candidate-only updates, lifecycle moves."""

    def __init__(self) -> None:
        self.records: dict[str, ModelVersionRecord] = {}
        self.writes: list[str] = []

    def add(self, record: ModelVersionRecord) -> None:
        self.records[record.version] = record

    def list_versions(self, model_name: str) -> list[ModelVersionRecord]:
        return [self.records[version] for version in sorted(self.records) if model_name == MODEL]

    def champion(self, model_name: str) -> ModelVersionRecord | None:
        champions = [record for record in self.list_versions(model_name) if record.status is ModelStatus.CHAMPION]
        return champions[0] if champions else None

    def get(self, model_name: str, version: str) -> ModelVersionRecord:
        if model_name != MODEL or version not in self.records:
            raise VersionNotFoundError(f"{model_name} {version} is not registered")
        return self.records[version]

    def register_candidate(self, record: ModelVersionRecord, reason: str = "registered") -> ModelVersionRecord:
        if record.version in self.records:
            raise VersionExistsError(f"{record.version} is already registered")
        self.writes.append(f"register {record.version}")
        self.records[record.version] = new_candidate(record, reason)
        return self.records[record.version]

    def record_metrics(
        self,
        model_name: str,
        version: str,
        *,
        challenger: Mapping[str, float | None],
        champion: Mapping[str, float | None],
    ) -> ModelVersionRecord:
        return self._update(
            model_name,
            version,
            challenger_metrics=finite_metrics(challenger, "challenger"),
            champion_metrics=finite_metrics(champion, "champion"),
        )

    def record_gate_decision(
        self,
        model_name: str,
        version: str,
        *,
        passed: bool,
        reasons: Sequence[str],
        details: Mapping[str, Any] | None = None,
    ) -> ModelVersionRecord:
        current = self.get(model_name, version)
        if current.gate_passed is not None and current.gate_passed != passed:
            raise ConflictError(f"{version} already has the opposite verdict")
        return self._update(
            model_name, version, gate_passed=passed, gate_reasons=tuple(reasons), gate_details=dict(details or {})
        )

    def transition(
        self,
        model_name: str,
        version: str,
        to_status: ModelStatus,
        reason: str,
        *,
        expected_from: ModelStatus | None = None,
    ) -> ModelVersionRecord:
        current = self.get(model_name, version)
        if current.status is to_status:
            return current
        if expected_from is not None and current.status is not expected_from:
            raise ConflictError(f"{version} is {current.status}, not {expected_from}")
        check_transition(current.status, to_status)
        self.writes.append(f"{version} -> {to_status}")
        change = StatusChange(to_status, NOW, reason)
        self.records[version] = replace(current, status=to_status, history=(*current.history, change))
        return self.records[version]

    def _update(self, model_name: str, version: str, **changes: Any) -> ModelVersionRecord:
        current = self.get(model_name, version)
        if current.status is not ModelStatus.CANDIDATE:
            raise ConflictError(f"{version} is {current.status}; only a candidate can be updated")
        self.writes.append(f"update {version}: {', '.join(sorted(changes))}")
        self.records[version] = replace(current, **changes)
        return self.records[version]


class FakeModelObjects:
    """A versioned bucket: every put adds a version (ids "1", "2", ... per key)."""

    def __init__(self) -> None:
        self.objects: dict[str, list[bytes]] = {}

    def put(self, key: str, body: bytes) -> str:
        versions = self.objects.setdefault(key, [])
        versions.append(body)
        return str(len(versions))

    def get(self, key: str, version_id: str | None = None) -> bytes:
        versions = self.objects[key]
        return versions[-1] if version_id is None else versions[int(version_id) - 1]


@dataclass(frozen=True)
class StoredRelease:
    uri: str
    version_id: str | None


@dataclass(frozen=True)
class Released:
    release: StoredRelease


class FakePublisher:
    """Records what it was asked to release; like the real publisher it stores the version's files, records the
    artefact and moves a candidate to `released` (and only re-publishes a released one)."""

    def __init__(self, registry: FakeRegistry, models: FakeModelObjects) -> None:
        self.registry = registry
        self.models = models
        self.calls: list[tuple[ModelVersionRecord, dict[str, bytes]]] = []

    def release(self, record: ModelVersionRecord, directory: Path) -> Released:
        files = {name: (directory / name).read_bytes() for name in sorted(path.name for path in directory.iterdir())}
        self.calls.append((record, files))
        if record.status is ModelStatus.CANDIDATE:
            assert record.gate_passed, "only a version that passed the gate is released"
            prefix = model_version_prefix(MODEL, record.version)
            version_ids = [self.models.put(prefix + name, files[name]) for name in VERSION_FILES]
            manifest = json.loads(files[MANIFEST_FILE])
            self.registry.records[record.version] = replace(
                record,
                artifact_uri=f"s3://{BUCKET}/{prefix}{MODEL_FILE}",
                sha256=manifest["artifact_sha256"],
                s3_version_id=version_ids[-1],
            )
            self.registry.transition(MODEL, record.version, ModelStatus.RELEASED, "gate passed")
        release_version = self.models.put(f"release/{MODEL}.zip", record.version.encode())
        return Released(StoredRelease(f"s3://{BUCKET}/release/{MODEL}.zip", release_version))


class FakeBus:
    def __init__(self) -> None:
        self.events: list[tuple[DetailType, dict[str, Any]]] = []

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any]) -> str:
        self.events.append((detail_type, dict(detail)))
        return f"event-{len(self.events)}"


class FakeTrainingSets:
    def __init__(self, frame: pd.DataFrame | None) -> None:
        self.frame = frame
        self.reads: list[str] = []

    def read(self, prefix: str) -> pd.DataFrame | None:
        self.reads.append(prefix)
        return None if self.frame is None else self.frame.copy()


class FakeWindows:
    def __init__(self, window: WindowFrame = NO_WINDOW) -> None:
        self.window = window
        self.calls: list[tuple[str, datetime, datetime, datetime]] = []

    def labelled_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        self.calls.append((model_name, start, end, labels_until))
        return self.window


@dataclass
class World:
    """The pipeline's surroundings: each `run` gets a fresh work directory, as each job run does."""

    root: Path
    training_sets: FakeTrainingSets
    payloads: FakeWindows = field(default_factory=FakeWindows)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    models: FakeModelObjects = field(default_factory=FakeModelObjects)
    bus: FakeBus = field(default_factory=FakeBus)
    runs: int = 0

    def __post_init__(self) -> None:
        self.publisher = FakePublisher(self.registry, self.models)

    def run(
        self,
        now: datetime = NOW,
        trigger: Trigger = Trigger.SCHEDULE,
        config: RetrainConfig = SMALL,
        regime_start: datetime | None = None,
    ) -> RetrainResult:
        self.runs += 1
        deps = RetrainDeps(
            model_name=MODEL,
            registry=self.registry,
            payloads=self.payloads,
            training_sets=self.training_sets,
            models=self.models,
            publisher=self.publisher,
            bus=self.bus,
            code_version="v1-test",
            workdir=self.root / f"run-{self.runs}",
        )
        return run_retrain(RetrainRequest(trigger, "test", now, regime_start), deps, config)

    def workdir(self, run: int) -> Path:
        return self.root / f"run-{run}"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, FakeTrainingSets(generate_churn(1500, seed=1)))


# --- builders ----------------------------------------------------------------------------------------------------


def earlier_retrain(created_at: datetime) -> ModelVersionRecord:
    """A version registered at `created_at` (what governance counts)."""
    return ModelVersionRecord(
        model_name=MODEL,
        version=f"{created_at:%Y%m%dT%H%M%SZ}-000000",
        trigger=Trigger.SCHEDULE,
        created_at=created_at,
        training_start=created_at,
        training_end=created_at,
        train_rows=0,
        holdout_rows=0,
        data_fingerprint="0" * 64,
        code_version="v0",
        status=ModelStatus.REJECTED,
    )


def add_champion(world: World, frame: pd.DataFrame, created_at: datetime) -> ModelVersionRecord:
    """A champion fitted on all of `frame`, stored in the model bucket and registered as the registry does."""
    rows = initial_frame(frame, TARGET)
    schema = model_spec.infer_input_schema(rows[[*FEATURES, TARGET]], target=TARGET, all_nullable=True)
    directory = world.root / "champion-build"
    manifest = write_artifact(
        directory,
        fitting.fit_model(rows, schema, model_spec.DEFAULT_SPEC),
        model_name=MODEL,
        input_schema=schema,
        decision_threshold=0.3,
        created_at=created_at,
    )
    prefix = model_version_prefix(MODEL, manifest.model_version)
    version_id = world.models.put(prefix + MODEL_FILE, (directory / MODEL_FILE).read_bytes())
    world.models.put(prefix + MANIFEST_FILE, (directory / MANIFEST_FILE).read_bytes())
    record = replace(
        earlier_retrain(created_at),
        version=manifest.model_version,
        status=ModelStatus.CHAMPION,
        artifact_uri=f"s3://{BUCKET}/{prefix}{MODEL_FILE}",
        sha256=manifest.artifact_sha256,
        s3_version_id=version_id,
        gate_passed=True,
        evidence={"label_rate": float(rows[TARGET].mean()), "initial_fingerprint": initial_fingerprint(rows, TARGET)},
    )
    world.registry.add(record)
    return record


def served(frame: pd.DataFrame, first: datetime, per_day: int, labelled: Sequence[bool]) -> WindowFrame:
    """`frame` served `per_day` rows a day from `first`, each labelled a day later where `labelled` says so."""
    features = frame[list(FEATURES)].astype(object).where(frame[list(FEATURES)].notna(), None).to_dict("records")
    rows = []
    for row, (values, label, has_label) in enumerate(zip(features, frame[TARGET], labelled, strict=True)):
        moment = first + timedelta(days=row // per_day, minutes=row % per_day)
        prediction = PredictionRow(f"req-{row}", MODEL, "v0", format_timestamp(moment), 0.5, 1, None, values)
        truth = LabelRow(f"req-{row}", int(label), format_timestamp(moment + timedelta(days=1)))
        rows.append(LabelledPrediction(prediction, truth if has_label else None))
    return labelled_frame(rows, model_name=MODEL)


def events_of(world: World, detail_type: DetailType) -> list[dict[str, Any]]:
    return [detail for kind, detail in world.bus.events if kind is detail_type]


# --- a release ---------------------------------------------------------------------------------------------------


def test_a_passing_first_model_is_registered_with_its_lineage_and_handed_to_the_publisher(world: World) -> None:
    result = world.run(trigger=Trigger.INITIAL)

    record = world.registry.get(MODEL, str(result.version))
    ((published, files),) = world.publisher.calls
    assert result.outcome is Outcome.RELEASED
    assert (result.release_uri, result.release_s3_version_id) == (f"s3://{BUCKET}/release/{MODEL}.zip", "1")
    assert published.version == record.version
    assert published.gate_passed is True
    assert (record.status, record.trigger, record.code_version) == (ModelStatus.RELEASED, Trigger.INITIAL, "v1-test")
    assert (record.train_rows, record.holdout_rows) == (1200, 300)
    assert record.challenger_metrics["auc"] > 0.7
    assert record.champion_metrics == {}
    assert record.evidence["fit"] == "refit"
    assert record.evidence["rows"] == {"initial": 1500, "production": 0, "train": 1200}
    assert record.gate_reasons == result.reasons
    assert set(files) == set(VERSION_FILES)
    assert json.loads(files[SAMPLE_FILE])["model_version"] == record.version
    assert world.bus.events == []  # ModelReleased is the publisher's


def test_the_job_reads_the_initial_set_and_the_matured_window(world: World) -> None:
    production = generate_churn(600, seed=7)
    labelled = [row % 12 != 0 for row in range(600)]  # 50 rows still without a label
    world.payloads = FakeWindows(served(production, NOW - timedelta(days=37), 20, labelled))

    result = world.run(config=replace(SMALL, lookback=timedelta(days=40)))

    record = world.registry.get(MODEL, str(result.version))
    assert world.training_sets.reads == [training_prefix(MODEL)]
    assert world.payloads.calls == [(MODEL, NOW - timedelta(days=40), NOW - timedelta(days=7), NOW)]
    assert record.evidence["rows"]["initial"] == 1500
    assert record.evidence["rows"]["production"] == 550
    assert record.evidence["rows"]["window_records"] == 600  # every prediction of the look-back, counted
    assert record.evidence["holdout"]["basis"] == "production rows of the newest 7 days"


# --- a rejection by the gate -------------------------------------------------------------------------------------


def test_a_challenger_worse_than_the_champion_is_rejected_with_reasons_and_model_rejected(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    noisy = generate_churn(1500, seed=2)
    trained_on = noisy.index < 1200  # the newest 300 rows are the holdout and keep their true labels
    noisy.loc[trained_on, TARGET] = np.random.default_rng(0).permutation(noisy.loc[trained_on, TARGET].to_numpy())
    world.training_sets = FakeTrainingSets(noisy)

    result = world.run(trigger=Trigger.DRIFT)

    record = world.registry.get(MODEL, str(result.version))
    assert result.outcome is Outcome.REJECTED
    assert record.status is ModelStatus.REJECTED
    assert record.gate_passed is False
    assert any(reason.startswith("non_inferiority") for reason in record.gate_reasons)
    assert record.champion_metrics["auc"] > record.challenger_metrics["auc"] + 0.05
    assert events_of(world, DetailType.MODEL_REJECTED) == [
        {"model_name": MODEL, "version": record.version, "trigger": "drift", "reasons": list(record.gate_reasons)}
    ]
    assert world.publisher.calls == []
    assert world.registry.champion(MODEL) == champion


def test_a_champion_whose_stored_artefact_does_not_match_the_registry_is_not_loaded(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    world.registry.add(replace(champion, sha256="0" * 64))

    with pytest.raises(ArtifactIntegrityError):
        world.run()

    assert world.training_sets.reads == []
    assert world.registry.writes == []


# --- data that fails the quality checks ----------------------------------------------------------------------------


def test_data_failing_the_quality_checks_is_rejected_before_anything_is_fitted(world: World) -> None:
    corrupted = generate_churn(1500, seed=4)
    corrupted.loc[corrupted.index[:1200], "usage_hours"] = np.nan
    world.training_sets = FakeTrainingSets(corrupted)

    result = world.run()

    record = world.registry.get(MODEL, str(result.version))
    assert result.outcome is Outcome.REJECTED
    assert (record.status, record.gate_passed, record.sha256) == (ModelStatus.REJECTED, False, None)
    assert [reason for reason in record.gate_reasons if "usage_hours" in reason] == [
        "quality: missing: feature 'usage_hours' is missing in 81.1% of rows (at most 50% allowed): "
        "corrupted upstream data?"
    ]
    assert record.evidence["stage"] == "quality"
    assert record.train_rows == 1500
    assert not (world.workdir(1) / "challenger").exists()
    assert world.publisher.calls == []
    assert [kind for kind, _ in world.bus.events] == [DetailType.MODEL_REJECTED]


def test_no_data_at_all_is_a_recorded_rejection(world: World) -> None:
    world.training_sets = FakeTrainingSets(None)

    result = world.run()

    assert result.outcome is Outcome.REJECTED
    assert result.reasons == (
        "quality: data: there is no training data: no initial training set and no matured production rows",
    )
    assert world.registry.get(MODEL, str(result.version)).train_rows == 0
    assert events_of(world, DetailType.MODEL_REJECTED)[0]["reasons"] == list(result.reasons)


# --- governance ----------------------------------------------------------------------------------------------------


def test_a_retrain_within_the_cooldown_is_refused_and_nothing_is_read_or_written(world: World) -> None:
    world.registry.add(earlier_retrain(NOW - timedelta(hours=3)))

    result = world.run()

    assert result.outcome is Outcome.REFUSED
    assert result.version is None
    assert result.reasons[0].startswith("cooldown: last retrain 3h ago")
    assert world.training_sets.reads == []
    assert world.registry.writes == []
    assert world.bus.events == []


def test_a_retrain_beyond_the_cap_is_refused(world: World) -> None:
    for days in (1, 3, 5):
        world.registry.add(earlier_retrain(NOW - timedelta(days=days)))

    result = world.run(trigger=Trigger.ON_DEMAND)

    assert result.outcome is Outcome.REFUSED
    assert result.reasons[0].startswith("cap reached: 3 retrains in the last 7d")
    assert world.training_sets.reads == []
    assert world.registry.writes == []


# --- retries -------------------------------------------------------------------------------------------------------


def test_a_retried_rejection_is_not_refused_by_its_own_attempt_and_rejects_the_same_version_again(
    world: World,
) -> None:
    world.training_sets = FakeTrainingSets(generate_churn(100, seed=5))  # too few rows
    first = world.run()
    writes = list(world.registry.writes)

    second = world.run()

    assert (first.outcome, second.outcome) == (Outcome.REJECTED, Outcome.REJECTED)
    assert second.version == first.version
    assert second.reasons == first.reasons
    assert world.registry.writes == writes
    assert len(events_of(world, DetailType.MODEL_REJECTED)) == 2


def test_a_retried_release_finishes_through_the_publisher_without_a_second_version(world: World) -> None:
    first = world.run()

    second = world.run()

    assert second.outcome is Outcome.RELEASED
    assert second.version == first.version
    assert len(world.registry.records) == 1
    assert [(record.version, record.status) for record, _ in world.publisher.calls] == [
        (first.version, ModelStatus.CANDIDATE),
        (first.version, ModelStatus.RELEASED),
    ]


# --- a reason to retrain and to deploy ----------------------------------------------------------------------------


def test_without_new_matured_data_since_the_champion_no_retrain_runs(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=3))
    writes = len(world.registry.writes)

    result = world.run()

    assert result.outcome is Outcome.REFUSED
    (reason,) = result.reasons
    assert reason.startswith(f"no new matured data since the champion {champion.version} was trained")
    assert "the newest matured production row now: none" in reason
    assert len(world.registry.writes) == writes
    assert world.publisher.calls == []


def test_a_new_initial_set_or_newly_matured_rows_let_the_retrain_run(world: World) -> None:
    add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=3))
    # One day of production served after the champion's data cut-off (NOW - 3 days - the 7-day label delay).
    world.payloads = FakeWindows(served(generate_churn(40, seed=8), NOW - timedelta(days=9), 40, [True] * 40))

    assert world.run().outcome is not Outcome.REFUSED

    fresh = World(world.root / "other", FakeTrainingSets(generate_churn(1500, seed=2)))
    add_champion(fresh, generate_churn(1500, seed=1), NOW - timedelta(days=3))
    assert fresh.run().outcome is not Outcome.REFUSED


def test_a_challenger_no_better_than_a_healthy_champion_is_not_needed_and_nothing_is_released(world: World) -> None:
    add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    world.training_sets = FakeTrainingSets(generate_churn(1500, seed=9))  # new data, same process

    result = world.run(trigger=Trigger.SCHEDULE, config=LOOSE)

    record = world.registry.get(MODEL, str(result.version))
    assert result.outcome is Outcome.NOT_NEEDED, result.reasons
    assert record.status is ModelStatus.NOT_NEEDED
    assert record.gate_passed is True
    assert result.reasons[0].startswith("not needed: the challenger is not better beyond noise")
    assert record.history[-1].reason == "; ".join(result.reasons)
    assert world.publisher.calls == []
    assert events_of(world, DetailType.MODEL_REJECTED) == []


def test_the_same_challenger_replaces_a_champion_known_to_be_failing(world: World) -> None:
    add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    world.training_sets = FakeTrainingSets(generate_churn(1500, seed=9))

    result = world.run(trigger=Trigger.PERFORMANCE, config=LOOSE)

    assert result.outcome is Outcome.RELEASED, result.reasons
    assert "the champion is failing (performance decay on matured labels" in result.reasons[0]
    assert len(world.publisher.calls) == 1


def test_an_old_champion_counts_as_failing_only_with_a_maximum_age(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    request = RetrainRequest(Trigger.SCHEDULE, "weekly", NOW)

    assert champion_failing(request, champion, SMALL) is None
    aged = champion_failing(request, champion, replace(SMALL, max_champion_age=timedelta(days=28)))
    assert aged == "champion for 30 days, more than the 28 allowed"
    assert champion_failing(replace(request, trigger=Trigger.DRIFT), champion, SMALL) is not None


def test_a_byte_identical_challenger_is_named_as_such(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    same = SimpleNamespace(manifest=SimpleNamespace(artifact_sha256=champion.sha256))
    other = SimpleNamespace(manifest=SimpleNamespace(artifact_sha256="1" * 64))

    assert identical_to(same, champion) == (  # type: ignore[arg-type]
        f"not needed: the challenger's artefact is byte-identical to the champion {champion.version}'s "
        f"(SHA-256 {champion.sha256})"
    )
    assert identical_to(other, champion) is None  # type: ignore[arg-type]
    assert identical_to(same, None) is None  # type: ignore[arg-type]


# --- recovery after performance decay: the rows of the new regime ------------------------------------------------

#: 1,600 production rows, 100 a day from `FIRST` (all matured by NOW); the regime starts with row 600.
FIRST = NOW - timedelta(days=25)
REGIME_START = FIRST + timedelta(days=6)
PRODUCTION = generate_churn(1600, seed=31)
#: A recovery's holdout: the newest 30 % of the regime's rows (stated, whatever the default).
RECOVERY = replace(LOOSE, regime_holdout_fraction=0.3)


def recovering(world: World, *, regime_evidence: datetime | None = None) -> ModelVersionRecord:
    """A 30-day-old champion (its evidence naming the regime it was trained on, if any) and the production rows."""
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    if regime_evidence is not None:
        evidence = {**champion.evidence, REGIME_START_KEY: format_timestamp(regime_evidence)}
        champion = replace(champion, evidence=evidence)
        world.registry.add(champion)
    world.payloads = FakeWindows(served(PRODUCTION, FIRST, 100, [True] * len(PRODUCTION)))
    return champion


def test_a_recovery_with_too_few_rows_of_the_new_regime_waits_and_registers_nothing(world: World) -> None:
    recovering(world)
    late = FIRST + timedelta(days=13)  # 300 regime rows: 210 to train on (300 needed), a holdout of 90 (120 needed)

    result = world.run(trigger=Trigger.PERFORMANCE, config=RECOVERY, regime_start=late)

    assert result.outcome is Outcome.REFUSED
    assert result.version is None
    (reason,) = result.reasons
    assert reason.startswith(f"waiting for labels of the new regime (served since {format_timestamp(late)}): ")
    assert "training 210 rows" in reason
    assert "holdout 90 rows" in reason
    assert world.registry.writes == []
    assert world.publisher.calls == []
    assert world.bus.events == []


def test_a_recovery_trains_on_the_regime_s_rows_and_holds_out_their_newest_30_percent(world: World) -> None:
    recovering(world)

    result = world.run(trigger=Trigger.PERFORMANCE, config=RECOVERY, regime_start=REGIME_START)

    assert result.outcome is not Outcome.REFUSED, result.reasons
    record = world.registry.get(MODEL, str(result.version))
    assert (record.train_rows, record.holdout_rows) == (700, 300)  # rows 600-1299 and 1300-1599; no initial row
    assert record.training_start == REGIME_START  # none older
    assert record.training_end == FIRST + timedelta(days=12, minutes=99)  # row 1299
    assert record.evidence["rows"]["train"] == 700
    assert record.evidence["holdout"]["rows"] == 300
    assert record.evidence["holdout"]["positives"] == int(PRODUCTION[TARGET].iloc[1300:].sum())
    assert record.evidence["holdout"]["basis"].startswith("newest 30% of the production rows served since")
    assert record.evidence[REGIME_START_KEY] == format_timestamp(REGIME_START)
    assert record.evidence["window"]["strategy"] == "regime"


def test_a_retrain_without_a_regime_records_none_and_chooses_its_window_as_before(world: World) -> None:
    recovering(world)

    result = world.run(trigger=Trigger.PERFORMANCE, config=RECOVERY)

    record = world.registry.get(MODEL, str(result.version))
    assert record.evidence[REGIME_START_KEY] is None
    assert record.evidence["window"]["strategy"] != "regime"
    assert record.train_rows > 1500  # the initial set and production rows


def test_a_champion_trained_on_the_same_regime_is_replaced_only_by_a_better_challenger(world: World) -> None:
    recovering(world, regime_evidence=REGIME_START)

    result = world.run(trigger=Trigger.PERFORMANCE, config=RECOVERY, regime_start=REGIME_START)

    assert result.outcome is Outcome.NOT_NEEDED, result.reasons
    assert result.reasons[0].startswith("not needed: the challenger is not better beyond noise")
    assert world.publisher.calls == []


def test_the_same_recovery_challenger_replaces_a_champion_of_the_old_regime(world: World) -> None:
    recovering(world)

    result = world.run(trigger=Trigger.PERFORMANCE, config=RECOVERY, regime_start=REGIME_START)

    assert result.outcome is Outcome.RELEASED, result.reasons
    assert "the champion is failing (performance decay on matured labels" in result.reasons[0]


def test_only_a_champion_of_the_request_s_own_regime_is_not_failing(world: World) -> None:
    champion = add_champion(world, generate_churn(1500, seed=1), NOW - timedelta(days=30))
    of_the_regime = replace(champion, evidence={**champion.evidence, REGIME_START_KEY: format_timestamp(REGIME_START)})
    recovery = RetrainRequest(Trigger.PERFORMANCE, "decay", NOW, REGIME_START)

    assert champion_failing(recovery, champion, SMALL) is not None  # no regime evidence
    assert champion_failing(recovery, of_the_regime, SMALL) is None
    assert champion_failing(replace(recovery, regime_start=REGIME_START + timedelta(days=1)), of_the_regime, SMALL)
    assert champion_failing(replace(recovery, regime_start=None), of_the_regime, SMALL) is not None
    drift = RetrainRequest(Trigger.DRIFT, "drift", NOW)
    assert champion_failing(drift, of_the_regime, SMALL) == "drift the trigger policy acted on: drift"


def regime_split(train: tuple[int, int] = (300, 20), holdout: tuple[int, int] = (120, 15)) -> HoldoutSplit:
    """A regime split of (rows, positives) on each side; by default just what `SMALL` needs."""
    train_rows, holdout_rows = (
        pd.DataFrame({TARGET: (np.arange(rows) < positives).astype(np.int64)}) for rows, positives in (train, holdout)
    )
    return HoldoutSplit(train_rows, holdout_rows, None, "test")


def test_a_recovery_waits_for_enough_rows_and_of_each_class_on_each_side() -> None:
    recovery = RetrainRequest(Trigger.PERFORMANCE, "decay", NOW, REGIME_START)
    assert (SMALL.min_regime_rows, SMALL.min_regime_class_rows) == (300, 20)
    assert (SMALL.gate.min_holdout_rows, SMALL.gate.min_class_rows) == (120, 15)

    assert regime_wait(recovery, regime_split(), SMALL) is None
    assert regime_wait(recovery, regime_split(train=(300, 280), holdout=(120, 105)), SMALL) is None
    short = {
        "training 299 rows": regime_split(train=(299, 150)),
        "training 300 rows (19 positive)": regime_split(train=(300, 19)),
        "training 300 rows (281 positive)": regime_split(train=(300, 281)),  # 19 negative
        "holdout 119 rows": regime_split(holdout=(119, 60)),
        "holdout 120 rows (14 positive)": regime_split(holdout=(120, 14)),
    }
    for named, split in short.items():
        reason = regime_wait(recovery, split, SMALL)
        assert reason is not None, named
        assert reason.startswith("waiting for labels of the new regime")
        assert named in reason
    assert regime_wait(replace(recovery, regime_start=None), regime_split(train=(0, 0)), SMALL) is None


# --- the command line -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["none", "", "None"])
def test_no_regime_start_on_the_command_line_is_no_recovery(text: str) -> None:
    assert build_parser().parse_args(["--regime-start", text]).regime_start is None
    assert build_parser().parse_args([]).regime_start is None


def test_a_regime_start_on_the_command_line_is_an_aware_time() -> None:
    arguments = build_parser().parse_args(["--regime-start", "2026-10-20T06:30:00+02:00"])

    assert arguments.regime_start == datetime(2026, 10, 20, 4, 30, tzinfo=UTC)
