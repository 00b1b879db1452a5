"""The measured usage profile: what each stage of the loop asked of AWS, per invocation, per unit and per run.

A stage's usage is a flat mapping of metric -> amount: `<service>:<operation>:<what>` for the emulator's counts
(`requests`, `request_bytes`, `response_bytes` and the billing units `autoretrain.emulator.OperationCount` reads:
DynamoDB's `write_units`/`read_units`/`item_bytes_written`, Firehose's `records`/`record_bytes`/`billed_bytes`,
EventBridge's `entries`), plus `cpu_seconds` (the handler's own thread), `wall_seconds`, `log_bytes` (what it
logged) and `aws_calls` (its requests to AWS). `StageProfile` holds a linear model of one stage's usage in its
driver (`fixed + per_unit * n`: a serving invocation in its instances, an ETL invocation in the records of its
object, an alerting run in the rows it read), fitted by least squares over the replay's invocations. Pure; the
profile round-trips through JSON so a measurement can be reused (`autoretrain cost --profile FILE`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

Usage = dict[str, float]

CPU_SECONDS = "cpu_seconds"
WALL_SECONDS = "wall_seconds"
LOG_BYTES = "log_bytes"
#: The part of `LOG_BYTES` logged at WARNING or above: what a function whose application log level is WARN keeps.
WARN_LOG_BYTES = "warn_log_bytes"
AWS_CALLS = "aws_calls"
PROFILE_VERSION = 2  # 2: log bytes at WARNING and above measured apart


def metric(service: str, operation: str, what: str) -> str:
    """The name of one emulator count in a usage mapping."""
    return f"{service}:{operation}:{what}"


def split_metric(name: str) -> tuple[str, str, str] | None:
    """(service, operation, what) of an emulator count's name; None for the stage's own metrics."""
    parts = name.split(":")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def add(*usages: Mapping[str, float], scale: float = 1.0) -> Usage:
    """The sum of usages, times `scale`."""
    total: Usage = {}
    for usage in usages:
        for name, value in usage.items():
            total[name] = total.get(name, 0.0) + scale * value
    return total


def scaled(usage: Mapping[str, float], factor: float) -> Usage:
    """A usage times a factor."""
    return {name: value * factor for name, value in usage.items()}


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured invocation or run: its driver `n` and what it used."""

    n: float
    usage: Usage


@dataclass(frozen=True, slots=True)
class StageProfile:
    """A stage's usage as `fixed + per_unit * n` (`driver` names n), from `samples` observations."""

    name: str
    driver: str
    fixed: Usage
    per_unit: Usage
    samples: int
    mean_n: float

    def at(self, n: float) -> Usage:
        """The usage of one invocation whose driver is `n` (never negative)."""
        names = set(self.fixed) | set(self.per_unit)
        return {name: max(0.0, self.fixed.get(name, 0.0) + self.per_unit.get(name, 0.0) * n) for name in names}


def fit_stage(name: str, driver: str, observations: Sequence[Observation]) -> StageProfile:
    """Least squares of every metric on the driver (`fixed + per_unit * n`); with one distinct n (or none) the mean
    is all fixed. A negative intercept or slope (noise in a metric that hardly depends on n) is refitted as the
    other term alone, so no usage is ever negative."""
    if not observations:
        return StageProfile(name, driver, {}, {}, 0, 0.0)
    ns = np.array([observation.n for observation in observations], dtype=np.float64)
    names = sorted({metric_name for observation in observations for metric_name in observation.usage})
    fixed: Usage = {}
    per_unit: Usage = {}
    varied = len(set(ns.tolist())) > 1
    for metric_name in names:
        ys = np.array([observation.usage.get(metric_name, 0.0) for observation in observations], dtype=np.float64)
        if not varied:
            fixed[metric_name] = float(ys.mean())
            continue
        slope, intercept = np.polyfit(ns, ys, 1)
        if intercept < 0:
            slope, intercept = float(ys.sum() / ns.sum()) if ns.sum() else 0.0, 0.0
        elif slope < 0:
            slope, intercept = 0.0, float(ys.mean())
        negligible = 1e-9 * max(1.0, float(np.abs(ys).max()))
        if abs(intercept) > negligible:
            fixed[metric_name] = float(intercept)
        if abs(slope) * float(ns.max()) > negligible:
            per_unit[metric_name] = float(slope)
    return StageProfile(name, driver, fixed, per_unit, len(observations), float(ns.mean()))


@dataclass(frozen=True, slots=True)
class Storage:
    """Bytes stored per prediction and per label, as the replay left them in the payload bucket and the table."""

    raw_payload_bytes_per_prediction: float  # the objects as written (moto: uncompressed JSON Lines)
    raw_payload_gzip_bytes_per_prediction: float  # the same objects gzip-compressed, as Firehose stores them
    lake_bytes_per_prediction: float  # lake/predictions Parquet after the compaction
    raw_label_bytes_per_label: float
    lake_bytes_per_label: float
    table_bytes_per_prediction: float  # DynamoDB item bytes the ETL wrote, per prediction


@dataclass(frozen=True, slots=True)
class LakeScan:
    """What a job's lake queries read: per query, S3 GET bytes per prediction in the job's window (DuckDB's reads
    standing in for Athena's bytes scanned), and the S3 GETs each query made."""

    queries: int
    bytes_per_prediction: tuple[float, ...]
    get_requests_per_query: float
    window_predictions: int


@dataclass(frozen=True, slots=True)
class UsageProfile:
    """Everything `autoretrain cost` takes from a measurement (module docstring)."""

    measured_at: str
    replay: dict[str, Any]
    payload_writer: str  # "firehose" (serving calls PutRecordBatch) or "s3" (one PutObject per invocation)
    stages: dict[str, StageProfile]
    storage: Storage
    scans: dict[str, LakeScan]
    custom_metrics: int
    firehose_buffer_seconds: int
    firehose_buffer_mb: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready document."""
        return {"version": PROFILE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> UsageProfile:
        """Read a document `to_json` wrote."""
        if document.get("version") != PROFILE_VERSION:
            raise ValueError(f"profile version {document.get('version')!r}, expected {PROFILE_VERSION}")
        return cls(
            measured_at=str(document["measured_at"]),
            replay=dict(document["replay"]),
            payload_writer=str(document["payload_writer"]),
            stages={name: StageProfile(**stage) for name, stage in document["stages"].items()},
            storage=Storage(**document["storage"]),
            scans={
                name: LakeScan(**{**scan, "bytes_per_prediction": tuple(scan["bytes_per_prediction"])})
                for name, scan in document["scans"].items()
            },
            custom_metrics=int(document["custom_metrics"]),
            firehose_buffer_seconds=int(document["firehose_buffer_seconds"]),
            firehose_buffer_mb=int(document["firehose_buffer_mb"]),
            notes=tuple(document.get("notes", ())),
        )

    def save(self, path: Path) -> None:
        """Write the profile as JSON."""
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> UsageProfile:
        """Read a profile `save` wrote."""
        document: dict[str, Any] = json.loads(path.read_text())
        return cls.from_json(document)


def operations(usage: Mapping[str, float]) -> Iterable[tuple[str, str, str, float]]:
    """(service, operation, what, amount) of a usage's emulator counts."""
    for name, value in usage.items():
        parts = split_metric(name)
        if parts is not None:
            yield (*parts, value)
