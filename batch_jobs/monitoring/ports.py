"""What the drift-check pipeline talks to, as typed ports. Each is satisfied structurally by an existing adapter
(named in its docstring), which the entry point `batch_jobs.drift_check` wires in; tests use in-memory fakes.

Errors are the adapters' own: a port raises what its adapter raises (`RegistryError`, `ModelBucketError`,
`LakeQueryError`, `MetricsError`, `EventPublishError`, `StateStoreError`); the pipeline lets them propagate,
except `StateConflictError` from `PolicyStateStore.save`, which it answers by reading the state and deciding again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from batch_jobs.drift import ReferenceProfile
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.monitoring.policy import PolicyState
from batch_jobs.monitoring.review import ReviewDesign
from core.artifacts import LoadedModel
from core.events import DetailType


class Champion(Protocol):
    """The registry's record of the champion (`core.registry.ModelVersionRecord`)."""

    @property
    def version(self) -> str: ...

    @property
    def artifact_uri(self) -> str | None: ...

    @property
    def sha256(self) -> str | None: ...


class ChampionRegistry(Protocol):
    """The model registry (`core.registry.Registry`)."""

    def champion(self, model_name: str) -> Champion | None:
        """The model's champion, or None if it has none."""
        ...


class ChampionFiles(Protocol):
    """The files stored beside the champion's model (`batch_jobs.monitoring.adapters.ModelBucket`)."""

    def reference_profile(self, bucket: str, prefix: str) -> ReferenceProfile:
        """The reference profile under `s3://bucket/prefix`; `MissingObjectError` if it is not there."""
        ...

    def load_model(self, bucket: str, prefix: str, expected_sha256: str | None) -> LoadedModel:
        """The model under `s3://bucket/prefix`, verified against its manifest and `expected_sha256`."""
        ...


class PredictionWindows(Protocol):
    """Stored predictions and labels by time window (`batch_jobs.lake.windows.LakeWindows`)."""

    def prediction_frame(self, model_name: str, start: datetime, end: datetime) -> WindowFrame:
        """Predictions with `start <= timestamp < end`, one per request id (a bounded sample of a large window)."""
        ...

    def labelled_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        """The window's predictions that have a label observed by `labels_until`, with their latest labels."""
        ...


class ReviewedWindows(Protocol):
    """Reviewed labels and the counts the review design needs (`batch_jobs.lake.windows.LakeWindows`)."""

    def reviewed_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        """The window's predictions that have a reviewed label observed by `labels_until`, with that label."""
        ...

    def stratum_counts(
        self, model_name: str, start: datetime, end: datetime, design: ReviewDesign
    ) -> dict[tuple[str, int], int]:
        """The window's predictions per UTC day (`YYYY-MM-DD`) and stratum of the review design."""
        ...


class ReportWriter(Protocol):
    """Where the report and the result go (`batch_jobs.monitoring.adapters.ModelBucket`)."""

    def put_text(self, bucket: str, key: str, text: str, content_type: str) -> str:
        """Write one object; return its URI."""
        ...


class MetricsSink(Protocol):
    """CloudWatch metrics (`batch_jobs.monitoring.adapters.MetricsPublisher`)."""

    def publish(self, data: list[dict[str, Any]]) -> int:
        """Put every datum; return the number of calls made."""
        ...


class EventSink(Protocol):
    """The event bus (`core.events.EventBus`)."""

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any], *, time: datetime | None = None) -> str:
        """Put one event; return its id."""
        ...


class PolicyStateStore(Protocol):
    """The trigger policy's state, with conditional writes (`batch_jobs.monitoring.state.DriftStateStore`)."""

    def load(self, model_name: str) -> PolicyState:
        """The stored state (strongly consistent), or an empty state at version 0."""
        ...

    def save(self, model_name: str, state: PolicyState, *, expected_version: int, now: datetime) -> None:
        """Write `state` if the stored version is still `expected_version`; else `StateConflictError`."""
        ...


@dataclass(frozen=True, slots=True)
class DriftCheckPorts:
    """Everything one check talks to; reports and results are written to `report_bucket` through `reports`."""

    registry: ChampionRegistry
    champion_files: ChampionFiles
    payloads: PredictionWindows
    reports: ReportWriter
    report_bucket: str
    metrics: MetricsSink
    events: EventSink
    state: PolicyStateStore
    #: Whether the per-feature metrics are published too (`core.settings.DriftCheckSettings.feature_metrics`).
    feature_metrics: bool = False
    #: Where reviewed labels are read, when the stack reviews a sample of predictions (None: no review sample).
    reviews: ReviewedWindows | None = None
