"""The `StackSource` adapter: a deployed stack (or the emulator's), read-only.

It reads the registry table through `core.registry.Registry` (`Query` on the model's partition), the drift checks'
`result.json` objects under the model bucket's `reports/<model>/` (`core.layout.result_object_key`), and the last
days of labelled predictions through the jobs' own lake reader (`batch_jobs.lake.windows.open_lake`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
import pandas as pd

from autoretrain.dashboard.sources import (
    PREDICTION_COLUMNS,
    Operations,
    Section,
    check_from_result,
    check_rows,
    records_frame,
    shift_rows,
)
from batch_jobs.lake.windows import open_lake
from core.layout import RESULT_FILE
from core.model_lifecycle import ModelStatus, ModelVersionRecord
from core.registry import Registry
from core.settings import EnvVar, LakeSettings, require_env


@dataclass(frozen=True, slots=True)
class StackSettings:
    """Which stack to read: the deployment contract's variables (`core.settings.EnvVar`), as the jobs read them.

    `lake` is None when the stack's lake variables are not set (the performance page then has no predictions);
    `days` is how far back predictions are read for the calibration curves. The lake is read with DuckDB from S3
    (its files and their Glue definitions), never with Athena.
    """

    model_name: str
    model_bucket: str
    registry_table: str
    lake: LakeSettings | None = None
    days: int = 28

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackSettings:
        """Read the settings from `environ` (default: the process environment)."""
        source = os.environ if environ is None else environ
        has_lake = bool(source.get(EnvVar.LAKE_DATABASE.value)) and bool(source.get(EnvVar.PAYLOAD_BUCKET.value))
        return cls(
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            model_bucket=require_env(EnvVar.MODEL_BUCKET, environ),
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            # DuckDB straight from S3, whatever the jobs use: an Athena query writes its results with the caller's
            # permissions, and the dashboard's policy (`infra.dashboard_access`) is read-only.
            lake=replace(LakeSettings.from_env(environ), engine="duckdb", workgroup="") if has_lake else None,
        )


#: How long a read is reused: the app keeps one source per stack and draws a page on every interaction.
REFRESH_SECONDS: Final = 300.0


class StackSource:
    """A deployed stack (or the emulator's), read-only: `Query`/`GetItem` on the registry, `ListObjectsV2`/
    `GetObject` under the model bucket's `reports/<model>/`, and the lake's labelled window. Each read is reused
    for `REFRESH_SECONDS`."""

    def __init__(
        self, session: boto3.Session, settings: StackSettings, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._session = session
        self._settings = settings
        self._clock = clock if clock is not None else _utc_now
        self._registry = Registry(session.client("dynamodb"), settings.registry_table)
        self._s3 = session.client("s3")
        self._reads: dict[str, tuple[float, Any]] = {}

    def _reused(self, name: str, read: Callable[[], Any]) -> Any:
        """`read()`, or its value from less than `REFRESH_SECONDS` ago."""
        now = time.monotonic()
        cached = self._reads.get(name)
        if cached is None or now - cached[0] > REFRESH_SECONDS:
            cached = (now, read())
            self._reads[name] = cached
        return cached[1]

    def _versions(self) -> list[ModelVersionRecord]:
        versions: list[ModelVersionRecord] = self._reused(
            "versions", lambda: self._registry.list_versions(self._settings.model_name)
        )
        return versions

    @property
    def label(self) -> str:
        """The model and its registry table."""
        return f"stack: model {self._settings.model_name}, registry {self._settings.registry_table}"

    def section(self, section: Section) -> Mapping[str, Any] | None:
        """The shadow comparison of the latest version served in shadow (the registry's `shadow` record); None for
        the other sections, which a stack keeps nowhere this dashboard reads yet."""
        if section is not Section.SHADOW:
            return None
        shadowed = [record for record in self._versions() if record.shadow]
        if not shadowed:
            return None
        latest = max(shadowed, key=lambda record: record.created_at)
        decided = latest.shadow.get("decision")
        if isinstance(decided, Mapping):  # the period as the live evaluation recorded its end
            return dict(decided)
        started = latest.shadow.get("started_at")
        return {"challenger": latest.version, "champion": latest.shadow.get("champion"), "started": started}

    def _results(self) -> list[dict[str, Any]]:
        """Every drift check's result document, in key order."""
        results: list[dict[str, Any]] = self._reused("results", self._read_results)
        return results

    def _read_results(self) -> list[dict[str, Any]]:
        prefix = f"reports/{self._settings.model_name}/"
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._settings.model_bucket, Prefix=prefix
        ):
            keys.extend(
                item["Key"]
                for item in page.get("Contents", [])
                if item["Key"].endswith(f"/{RESULT_FILE}") and not item["Key"].startswith(f"{prefix}live/")
            )
        documents = []
        for key in sorted(keys):
            body = self._s3.get_object(Bucket=self._settings.model_bucket, Key=key)["Body"].read()
            documents.append(check_from_result(json.loads(body)))
        return documents

    def drift_checks(self) -> pd.DataFrame:
        """From every `result.json` under `reports/<model>/`."""
        return check_rows(self._results())

    def feature_shift(self) -> pd.DataFrame:
        """Each result's per-feature effect sizes and drift flags."""
        return shift_rows(self._results())

    def predictions(self) -> pd.DataFrame:
        """The last `days` of labelled predictions from the lake (the jobs' own sampled read); empty without a lake."""
        predictions: pd.DataFrame = self._reused("predictions", self._read_predictions)
        return predictions

    def _read_predictions(self) -> pd.DataFrame:
        lake = self._settings.lake
        if lake is None:
            return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        now = self._clock()
        window = open_lake(lake, self._session).labelled_frame(
            self._settings.model_name, now - timedelta(days=self._settings.days), now, labels_until=now
        )
        return pd.DataFrame(
            {
                "time": pd.DatetimeIndex(window.time).tz_convert(UTC) if len(window) else pd.DatetimeIndex([], tz=UTC),
                "score": window.score,
                "label": pd.array(window.label if window.label is not None else [], dtype="Int8"),
                "model_version": pd.Series(window.model_version, dtype=str).to_numpy(),
            }
        )

    def operations(self) -> Operations:
        """Every version in the registry: its retrain, gate decision and status changes (one `Query`)."""
        return registry_operations(self._versions())


_RELEASE_STATUSES: Final = (ModelStatus.RELEASED, ModelStatus.CHAMPION, ModelStatus.RETIRED)
#: How `batch_jobs.release.ReleasePublisher.rollback` starts the reason of the status change it records.
_ROLLBACK_REASON: Final = "rollback from "


def registry_operations(versions: Sequence[ModelVersionRecord]) -> Operations:
    """Retrains, gate decisions, releases (status changes to released, champion, retired) and rollbacks from the
    registry's records of a model's versions."""
    retrains, gates, releases, rollbacks = [], [], [], []
    for record in versions:
        reasons = "; ".join(record.gate_reasons)
        retrains.append(
            {
                "at": record.created_at,
                "trigger": record.trigger.value,
                "outcome": record.status.value,
                "version": record.version,
                "reasons": reasons,
            }
        )
        if record.gate_passed is not None:
            gates.append(
                {
                    "at": record.created_at,
                    "version": record.version,
                    "trigger": record.trigger.value,
                    "status": record.status.value,
                    "passed": record.gate_passed,
                    "challenger_auc": record.challenger_metrics.get("auc"),
                    "champion_auc": record.champion_metrics.get("auc"),
                    "reasons": reasons,
                }
            )
        for change in record.history:
            if change.reason.startswith(_ROLLBACK_REASON):
                from_version = change.reason.removeprefix(_ROLLBACK_REASON).split(":", 1)[0]
                rollbacks.append(
                    {
                        "at": change.at,
                        "from_version": from_version,
                        "to_version": record.version,
                        "reason": change.reason,
                    }
                )
            if change.status in _RELEASE_STATUSES:
                releases.append(
                    {"at": change.at, "version": record.version, "status": change.status.value, "reason": change.reason}
                )
    return Operations(
        retrains=records_frame(retrains, ("at", "trigger", "outcome", "version", "reasons")),
        gate_decisions=records_frame(
            gates, ("at", "version", "trigger", "status", "passed", "challenger_auc", "champion_auc", "reasons")
        ),
        releases=records_frame(releases, ("at", "version", "status", "reason")),
        rollbacks=records_frame(rollbacks, ("at", "from_version", "to_version", "reason")),
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)
