"""The retrain pipeline's ports: everything it reads and writes goes through these Protocols.

The concrete adapters satisfy them structurally (`batch_jobs.retrain.build_deps` wires them):

| port                  | adapter                                        |
|-----------------------|------------------------------------------------|
| `InitialTrainingSets` | `batch_jobs.training.adapters.TrainingSetReader` |
| `LabelledWindows`     | `batch_jobs.lake.windows.LakeWindows`          |
| `ModelObjects`        | `batch_jobs.training.adapters.ObjectStore`     |
| `VersionRegistry`     | `core.registry.Registry`                       |
| `ReleasePublisher`    | `batch_jobs.release.Publisher`                 |
| `EventPublisher`      | `core.events.EventBus`                         |
| `LakeCatalog`         | `batch_jobs.lake.catalog.GlueLakeCatalog`      |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from batch_jobs.lake.frame import WindowFrame
from core.events import DetailType
from core.features import InputSchema
from core.model_lifecycle import ModelStatus, ModelVersionRecord


class InitialTrainingSets(Protocol):
    """The initial training set (`training/<m>/` in the payload bucket)."""

    def read(self, prefix: str) -> pd.DataFrame | None:
        """Every training-set object under `prefix`, concatenated; None if there is none."""
        ...


class LabelledWindows(Protocol):
    """Production predictions with the labels joined to them (the lake: `batch_jobs.lake.windows.LakeWindows`)."""

    def labelled_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        """Predictions with start <= timestamp < end that have a label observed by `labels_until` (their latest),
        a sample stratified by day when the look-back holds more than the job reads."""
        ...


class ModelObjects(Protocol):
    """The model bucket's objects (the champion's stored artefact)."""

    def get(self, key: str, version_id: str | None = None) -> bytes:
        """An object's bytes (a given version if `version_id`)."""
        ...


class VersionRegistry(Protocol):
    """The model registry: the history of retrains and each version's record and status."""

    def list_versions(self, model_name: str) -> Sequence[ModelVersionRecord]:
        """Every version of the model."""
        ...

    def champion(self, model_name: str) -> ModelVersionRecord | None:
        """The model's champion, or None."""
        ...

    def get(self, model_name: str, version: str) -> ModelVersionRecord:
        """One version's record (raises if it is not registered)."""
        ...

    def register_candidate(self, record: ModelVersionRecord, reason: str = "registered") -> ModelVersionRecord:
        """Store a new candidate; `core.registry.VersionExistsError` if the version is already registered."""
        ...

    def record_metrics(
        self,
        model_name: str,
        version: str,
        *,
        challenger: Mapping[str, float | None],
        champion: Mapping[str, float | None],
    ) -> ModelVersionRecord:
        """Store the challenger's and the champion's metrics on the same holdout."""
        ...

    def record_gate_decision(
        self,
        model_name: str,
        version: str,
        *,
        passed: bool,
        reasons: Sequence[str],
        details: Mapping[str, Any] | None = None,
    ) -> ModelVersionRecord:
        """Store the gate's verdict, its reasons and the full decision."""
        ...

    def transition(
        self,
        model_name: str,
        version: str,
        to_status: ModelStatus,
        reason: str,
        *,
        expected_from: ModelStatus | None = None,
    ) -> ModelVersionRecord:
        """Move a version to `to_status` (conditional on `expected_from` when given)."""
        ...


class ReleasedObject(Protocol):
    """Where a release object went."""

    @property
    def uri(self) -> str:
        """`s3://bucket/key` of the release object."""
        ...

    @property
    def version_id(self) -> str | None:
        """The release object's S3 version id."""
        ...


class Release(Protocol):
    """The outcome of publishing a version."""

    @property
    def release(self) -> ReleasedObject:
        """The release object the deploy pipeline starts from."""
        ...


class ReleasePublisher(Protocol):
    """Publishes a version that passed the gate: its files, registry status, release object and `ModelReleased`."""

    def release(self, record: ModelVersionRecord, directory: Path) -> Release:
        """Publish `record`'s version from the files in `directory` (or finish a release a previous run started)."""
        ...


class EventPublisher(Protocol):
    """The event bus."""

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any]) -> str:
        """Put one event; returns its id."""
        ...


class LakeCatalog(Protocol):
    """The lake's catalog, whose predictions table types the features of the records the ETL loads."""

    def ensure_feature_columns(self, schema: InputSchema) -> Sequence[str]:
        """Add the typed columns of `schema`'s features the predictions table lacks; the columns added."""
        ...


@dataclass(frozen=True, slots=True)
class RetrainDeps:
    """The ports the retrain pipeline talks to the world through, and where it may write local files."""

    model_name: str
    registry: VersionRegistry
    payloads: LabelledWindows
    training_sets: InitialTrainingSets
    models: ModelObjects
    publisher: ReleasePublisher
    bus: EventPublisher
    code_version: str
    workdir: Path
    #: None where there is no lake catalog to keep up (tests over in-memory ports).
    lake_catalog: LakeCatalog | None = None
