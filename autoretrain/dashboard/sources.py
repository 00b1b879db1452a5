"""Where the dashboard's numbers come from: one port (`TrackingSource`) and two read-only adapters.

- `DemoSource(dir)` reads a demo's output directory (`summary.json`, `history.parquet`, `backtest.json`), no AWS.
- `StackSource(session, settings)` reads a deployed stack: the registry table (`core.registry.Registry`), the drift
  checks' `result.json` objects in the model bucket (`core.layout.result_object_key`), and the lake's labelled
  predictions (`batch_jobs.lake.windows`).

Both hand the pages the same shapes: pandas frames whose columns are named below, and the JSON documents of the
sections a run may or may not have (`Section`). A drift check reads the same from the demo's summary as from a
stored result, so the per-check columns are built in one place (`check_from_result`, `check_rows`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

import boto3
import pandas as pd
import pyarrow.parquet as pq

#: The demo's output files (written by `autoretrain.demo.cli` and `autoretrain.demo.history`).
SUMMARY_FILE: Final = "summary.json"
HISTORY_FILE: Final = "history.parquet"
BACKTEST_FILE: Final = "backtest.json"
#: The label column of the demo's history (`autoretrain.synthetic.TARGET`), then the lake's own name for it.
HISTORY_LABELS: Final = ("churned", "label")

#: `drift_checks()` columns: one row per check.
CHECK_COLUMNS: Final = (
    "at",
    "champion_version",
    "verdict",
    "outcome",
    "retrain_requested",
    "drifted_features",
    "impact_verdict",
    "expected_auc",
    "expected_auc_low",
    "expected_auc_high",
    "expected_auc_drop",
    "realised_auc",
    "realised_auc_low",
    "realised_auc_high",
    "baseline_auc",
    "estimated_auc",
)
#: `feature_shift()` columns: one row per feature per check (`effect_size` NaN where the source has none).
SHIFT_COLUMNS: Final = ("at", "feature", "effect_size", "drifted")
#: `predictions()` columns: served predictions, `label` empty until it arrived.
PREDICTION_COLUMNS: Final = ("time", "score", "label", "model_version")


class Section(StrEnum):
    """Sections a run may or may not have; each is a JSON document in the shape the demo's summary gives it."""

    BUSINESS_IMPACT = "business_impact"
    REVIEW = "review"
    SHADOW = "shadow"
    BACKTEST = "backtest"


@dataclass(frozen=True, slots=True)
class Operations:
    """What the loop did, one frame each; every frame has an `at` column (UTC) and is sorted by it."""

    retrains: pd.DataFrame
    gate_decisions: pd.DataFrame
    releases: pd.DataFrame
    rollbacks: pd.DataFrame
    alerts: pd.DataFrame | None = None


class TrackingSource(Protocol):
    """The dashboard's one port: everything a page shows, read-only."""

    @property
    def label(self) -> str:
        """What is being shown, for the page header."""
        ...

    def section(self, section: Section) -> Mapping[str, Any] | None:
        """The section's document, or None when this run or stack does not have it."""
        ...

    def drift_checks(self) -> pd.DataFrame:
        """One row per drift check (`CHECK_COLUMNS`), by time."""
        ...

    def feature_shift(self) -> pd.DataFrame:
        """One row per feature per drift check that ran the suite (`SHIFT_COLUMNS`), by time."""
        ...

    def predictions(self) -> pd.DataFrame:
        """Served predictions with their labels where known (`PREDICTION_COLUMNS`)."""
        ...

    def operations(self) -> Operations:
        """Retrains, gate decisions, releases, rollbacks and alerts."""
        ...


class SourceError(RuntimeError):
    """The source cannot be read (a missing file, an unreadable document)."""


# -- the drift checks, from either shape ------------------------------------------------------------------------


def _auc_item(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    return next((item for item in items if item.get("name") == "auc"), {})


def check_from_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A drift check's `result.json` (`batch_jobs.monitoring.outputs.DriftCheckResult.to_json`) in the shape the
    demo's summary lists checks in, plus `features` (name, effect size, drifted) for the per-feature view."""
    drift = result.get("drift") or {}
    impact = drift.get("impact") or {}
    estimate = _auc_item((impact.get("estimate") or {}).get("metrics", []))
    matured = _auc_item((result.get("performance") or {}).get("metrics", []))
    tracking = _auc_item((result.get("tracking") or {}).get("metrics", []))
    decision = result.get("decision") or {}
    return {
        "at": result.get("checked_at"),
        "champion_version": result.get("champion_version"),
        "verdict": result.get("verdict"),
        "outcome": decision.get("outcome"),
        "retrain_requested": bool(decision.get("retrain_requested", False)),
        "drifted_features": list(result.get("drifted_features") or []),
        "impact": None
        if not impact
        else {
            "verdict": impact.get("verdict"),
            "expected_auc": impact.get("current_expected"),
            "expected_auc_low": estimate.get("ci_low"),
            "expected_auc_high": estimate.get("ci_high"),
            "drop": impact.get("drop"),
        },
        "matured_auc": None
        if matured.get("value") is None
        else {key: matured.get(key) for key in ("value", "ci_low", "ci_high", "baseline")},
        "tracking": None if not tracking else {"estimated": tracking.get("estimated")},
        "features": [
            {
                "name": feature.get("name"),
                "effect_size": (feature.get("distribution") or {}).get("effect_size"),
                "drift": bool(feature.get("drift")),
            }
            for feature in drift.get("features", [])
        ],
    }


def check_rows(checks: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """`CHECK_COLUMNS` from checks in the summary's shape."""
    rows = []
    for check in checks:
        impact = check.get("impact") or {}
        matured = check.get("matured_auc") or {}
        tracking = check.get("tracking") or {}
        rows.append(
            {
                "at": check.get("at"),
                "champion_version": check.get("champion_version"),
                "verdict": check.get("verdict"),
                "outcome": check.get("outcome"),
                "retrain_requested": bool(check.get("retrain_requested", False)),
                "drifted_features": ", ".join(check.get("drifted_features") or []),
                "impact_verdict": impact.get("verdict"),
                "expected_auc": impact.get("expected_auc"),
                "expected_auc_low": impact.get("expected_auc_low"),
                "expected_auc_high": impact.get("expected_auc_high"),
                "expected_auc_drop": impact.get("drop"),
                "realised_auc": matured.get("value"),
                "realised_auc_low": matured.get("ci_low"),
                "realised_auc_high": matured.get("ci_high"),
                "baseline_auc": matured.get("baseline"),
                "estimated_auc": tracking.get("estimated"),
            }
        )
    frame = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    numeric = [name for name in CHECK_COLUMNS if "auc" in name]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    return _by_time(frame)


def shift_rows(checks: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """`SHIFT_COLUMNS` from checks in the summary's shape: each check's `features` where it lists them, else its
    drifted features alone (flagged, without an effect size)."""
    rows: list[dict[str, Any]] = []
    for check in checks:
        features = check.get("features")
        if features:
            rows.extend(
                {
                    "at": check.get("at"),
                    "feature": f["name"],
                    "effect_size": f.get("effect_size"),
                    "drifted": f["drift"],
                }
                for f in features
            )
        else:
            rows.extend(
                {"at": check.get("at"), "feature": name, "effect_size": None, "drifted": True}
                for name in check.get("drifted_features") or []
            )
    frame = pd.DataFrame(rows, columns=list(SHIFT_COLUMNS))
    frame["effect_size"] = pd.to_numeric(frame["effect_size"], errors="coerce")
    frame["drifted"] = frame["drifted"].astype(bool)
    return _by_time(frame)


def _by_time(frame: pd.DataFrame, column: str = "at") -> pd.DataFrame:
    frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame.sort_values(column, kind="stable").reset_index(drop=True)


def records_frame(
    records: Sequence[Mapping[str, Any]], columns: Sequence[str], time_column: str = "at"
) -> pd.DataFrame:
    """The records' `columns` (lists joined into text), sorted by `time_column` renamed `at`."""
    frame = pd.DataFrame([{name: record.get(name) for name in columns} for record in records], columns=list(columns))
    for name in columns:
        if frame[name].map(lambda value: isinstance(value, list)).any():
            frame[name] = frame[name].map(
                lambda value: "; ".join(map(str, value)) if isinstance(value, list) else value
            )
    return _by_time(frame.rename(columns={time_column: "at"}))


# -- the demo's output directory ----------------------------------------------------------------------------------


@dataclass
class DemoSource:
    """A demo's output directory, read from disk; nothing else is touched."""

    directory: Path
    _summary: dict[str, Any] | None = field(default=None, init=False, repr=False)

    @property
    def label(self) -> str:
        """The directory and the run's span."""
        run = self.summary.get("run") or {}
        span = f" ({run.get('start', '?')[:10]} – {run.get('end', '?')[:10]})" if run else ""
        return f"demo output {self.directory}{span}"

    @property
    def summary(self) -> dict[str, Any]:
        """`summary.json`, read once."""
        if self._summary is None:
            self._summary = _read_json(self.directory / SUMMARY_FILE)
        return self._summary

    def section(self, section: Section) -> Mapping[str, Any] | None:
        """The summary's section; the backtest from `backtest.json` (with its daily series) where it is there."""
        if section is Section.BACKTEST and (self.directory / BACKTEST_FILE).is_file():
            return _read_json(self.directory / BACKTEST_FILE)
        document = self.summary.get(section.value)
        return document if isinstance(document, Mapping) and document else None

    def drift_checks(self) -> pd.DataFrame:
        """The summary's `drift_checks`."""
        return check_rows(self.summary.get("drift_checks") or [])

    def feature_shift(self) -> pd.DataFrame:
        """The summary's per-feature effects where its checks list them, else their drifted features."""
        return shift_rows(self.summary.get("drift_checks") or [])

    def predictions(self) -> pd.DataFrame:
        """`history.parquet`'s time, score, label and serving version (those columns alone are read)."""
        path = self.directory / HISTORY_FILE
        if not path.is_file():
            return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
        names = set(pq.read_schema(path).names)
        label = next((name for name in HISTORY_LABELS if name in names), None)
        columns = ["timestamp", "score", "model_version", *([label] if label else [])]
        table = pd.read_parquet(path, columns=columns)
        return pd.DataFrame(
            {
                "time": pd.to_datetime(table["timestamp"], utc=True),
                "score": table["score"].astype(float),
                "label": table[label].astype("Int8") if label else pd.array([pd.NA] * len(table), dtype="Int8"),
                "model_version": table["model_version"].astype(str),
            }
        )

    def operations(self) -> Operations:
        """The summary's retrains, gate decisions, releases, rollbacks and alerts."""
        summary = self.summary
        return Operations(
            retrains=records_frame(
                summary.get("retrains") or [], ("at", "trigger", "outcome", "version", "reason", "reasons")
            ),
            gate_decisions=records_frame(
                summary.get("gate_decisions") or [],
                (
                    "created_at",
                    "version",
                    "trigger",
                    "status",
                    "passed",
                    "challenger_auc",
                    "champion_auc",
                    "window",
                    "reasons",
                ),
                time_column="created_at",
            ),
            releases=records_frame(
                summary.get("releases") or [],
                ("at", "version", "trigger", "previous_version", "failed", "auc_week_before", "auc_week_after"),
            ),
            rollbacks=records_frame(
                summary.get("rollbacks") or [], ("at", "from_version", "to_version", "reason", "rolled_back", "refused")
            ),
            alerts=records_frame(
                summary.get("alerts") or [], ("at", "signal", "severity", "status", "reminder", "summary")
            ),
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot read {path}: {error}") from error
    if not isinstance(document, dict):
        raise SourceError(f"{path} is not a JSON object")
    return document


# -- choosing one -----------------------------------------------------------------------------------------------

#: How the command line hands the app its source (the app runs in Streamlit's own process).
SOURCE_ENV: Final = "AUTORETRAIN_DASHBOARD_SOURCE"
DEMO_SCHEME: Final = "demo:"
STACK_SCHEME: Final = "stack:"


def open_source(spec: str, environ: Mapping[str, str] | None = None) -> TrackingSource:
    """`demo:<dir>` -> `DemoSource`; `stack:` -> `StackSource` over the deployment contract's variables in
    `environ` (the standard AWS credential and endpoint variables pick the account)."""
    if spec.startswith(DEMO_SCHEME):
        directory = Path(spec.removeprefix(DEMO_SCHEME))
        if not (directory / SUMMARY_FILE).is_file():
            raise SourceError(f"{directory} has no {SUMMARY_FILE}: is it a demo's output directory?")
        return DemoSource(directory)
    if spec.startswith(STACK_SCHEME):
        # Deferred on purpose: the lake's readers load awswrangler and DuckDB (seconds), which a demo never needs.
        from autoretrain.dashboard.stack import StackSettings, StackSource  # noqa: PLC0415

        return StackSource(boto3.Session(), StackSettings.from_env(environ))
    raise SourceError(f"unknown source {spec!r}: expected {DEMO_SCHEME}<dir> or {STACK_SCHEME}")
