"""The lifecycle of a model version: its statuses and allowed moves, its record and validation, the registry's errors.

Pure Python (no boto3): `core.registry` stores these records in DynamoDB and enforces the rules below with
conditional writes, so that two writers cannot break them; this module states them.

Lifecycle:

    candidate ──► released ──► champion ──► retired
        │             │                        │
        ├► rejected   └──────► retired ◄───────┘   retired ──► released (a rollback re-releases an artefact)
        └► not_needed

A new version starts as a candidate. A version can be released only once its gate decision passed and its
artefact (URI and SHA-256) is recorded. A candidate that passed the gate's checks without a reason to replace the
champion is `not_needed` (nothing is released). A model has at most one champion.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from core.layout import validate_model_name

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ModelStatus(StrEnum):
    """Where a model version is in its lifecycle."""

    CANDIDATE = "candidate"
    REJECTED = "rejected"
    NOT_NEEDED = "not_needed"
    RELEASED = "released"
    CHAMPION = "champion"
    RETIRED = "retired"


class Trigger(StrEnum):
    """Why a model version was trained (or, for `rollback`, re-released)."""

    SCHEDULE = "schedule"
    DRIFT = "drift"
    PERFORMANCE = "performance"
    ON_DEMAND = "on_demand"
    INITIAL = "initial"
    ROLLBACK = "rollback"


#: The only status changes the registry performs.
ALLOWED_TRANSITIONS: Final[Mapping[ModelStatus, frozenset[ModelStatus]]] = {
    ModelStatus.CANDIDATE: frozenset({ModelStatus.RELEASED, ModelStatus.REJECTED, ModelStatus.NOT_NEEDED}),
    ModelStatus.RELEASED: frozenset({ModelStatus.CHAMPION, ModelStatus.RETIRED}),
    ModelStatus.CHAMPION: frozenset({ModelStatus.RETIRED}),
    ModelStatus.RETIRED: frozenset({ModelStatus.RELEASED}),
    ModelStatus.REJECTED: frozenset(),
    ModelStatus.NOT_NEEDED: frozenset(),
}


class RegistryError(RuntimeError):
    """A registry operation failed; subclasses say why."""


class VersionExistsError(RegistryError):
    """The version is already registered."""


class VersionNotFoundError(RegistryError):
    """No such model version."""


class IllegalTransitionError(RegistryError):
    """The lifecycle does not allow this status change; nothing was written."""


class ConflictError(RegistryError):
    """The item changed under us (another writer won): the conditional write was refused."""


class ReleaseBlockedError(RegistryError):
    """A version cannot be released: its gate decision did not pass or its artefact is not recorded."""


def check_transition(current: ModelStatus, target: ModelStatus) -> None:
    """Raise `IllegalTransitionError` unless the lifecycle allows `current -> target`."""
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "nothing"
        raise IllegalTransitionError(f"cannot move a {current} version to {target} (allowed: {allowed})")


def validate_version(version: str) -> str:
    """A version is used as a sort key and in S3 keys: letters, digits, `_ . : + -`; 1-128 characters."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"model version {version!r} must match {_VERSION.pattern}")
    return version


def validate_sha256(sha256: str) -> str:
    """An artefact's SHA-256 is 64 lowercase hexadecimal characters; `ValueError` otherwise."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError("sha256 must be 64 lowercase hexadecimal characters")
    return sha256


def require_aware(moment: datetime, name: str) -> None:
    """Raise `ValueError` if `moment` (called `name` in the message) has no time zone."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")


def finite_metrics(values: Mapping[str, float | None], name: str) -> dict[str, float]:
    """Metric name -> float, leaving out metrics that could not be computed (None).

    A non-finite metric is a `ValueError` naming the `name` side (challenger or champion) and the metrics.
    """
    converted = {str(key): float(value) for key, value in values.items() if value is not None}
    bad = sorted(key for key, value in converted.items() if not math.isfinite(value))
    if bad:
        raise ValueError(f"{name} metrics are not finite: {', '.join(bad)}")
    return converted


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One entry of a version's status history."""

    status: ModelStatus
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """Everything the registry knows about one model version.

    Metrics of the challenger (this version) and of the champion it was compared with are on the same holdout.
    `evidence` and `gate_details` are free-form JSON-serialisable mappings (e.g. the window-selection backtest and
    the full gate decision) and so is `shadow`; their integral numbers read back as `int` (1.0 as 1), and integers
    must stay within ±2**53.
    """

    model_name: str
    version: str
    trigger: Trigger
    created_at: datetime
    training_start: datetime
    training_end: datetime
    train_rows: int
    holdout_rows: int
    data_fingerprint: str
    code_version: str
    status: ModelStatus = ModelStatus.CANDIDATE
    history: tuple[StatusChange, ...] = ()
    artifact_uri: str | None = None
    s3_version_id: str | None = None
    sha256: str | None = None
    challenger_metrics: Mapping[str, float] = field(default_factory=dict)
    champion_metrics: Mapping[str, float] = field(default_factory=dict)
    gate_passed: bool | None = None
    gate_reasons: tuple[str, ...] = ()
    gate_details: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    #: A shadow period's record (a released version served in shadow beside the champion): when it started, beside
    #: which champion, and, once decided, the comparison and the promotion decision (`core.registry.record_shadow`).
    shadow: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_model_name(self.model_name)
        validate_version(self.version)
        for name in ("created_at", "training_start", "training_end"):
            require_aware(getattr(self, name), name)
        if self.training_start > self.training_end:
            raise ValueError("training_start is after training_end")
        if self.train_rows < 0 or self.holdout_rows < 0:
            raise ValueError("row counts must be non-negative")
        if self.sha256 is not None:
            validate_sha256(self.sha256)


def new_candidate(record: ModelVersionRecord, reason: str) -> ModelVersionRecord:
    """The record as first registered: it must be a candidate; without a history it gets one entry, at `created_at`."""
    if record.status is not ModelStatus.CANDIDATE:
        raise ValueError(f"a new version must be a candidate, not {record.status}")
    if record.history:
        return record
    return replace(record, history=(StatusChange(ModelStatus.CANDIDATE, record.created_at, reason),))
