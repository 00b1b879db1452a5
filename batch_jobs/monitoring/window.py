"""From a window's rows (`batch_jobs.lake.frame.WindowFrame`) to the suite's inputs: the feature frame, the
champion's scores and matured labels. Pure.

Features are coerced to the reference profile's columns: a numeric feature
becomes float64 (a value that is not a number becomes missing and is counted in `type_mismatches`, so the
missing-rate check reports it instead of the run failing), a categorical feature becomes text (a number there is
just another category, reported as unseen), a boolean one keeps its booleans (anything else there is a mismatch).
A profiled feature that no record carries is an all-missing column. A value no column can hold (a number beyond
the double range, text with a lone surrogate, a nested value: `batch_jobs.drift.values`) becomes missing and is
counted in `type_mismatches` too, so one accepted record can never stop the daily check; a feature name with a
lone surrogate is counted there under its escaped text.

Scores are the champion's: a row served by the champion version keeps its logged score; a row served by another
version (the window spans a deploy) is rescored by the champion through `rescore`, so the score distribution and
the performance on matured labels are always the current champion's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from batch_jobs.drift import FeatureKind, ReferenceProfile
from batch_jobs.drift._stats import FloatArray
from batch_jobs.drift.profile import ValueFamily
from batch_jobs.lake.frame import WindowAggregates, WindowFrame
from core.records import format_timestamp

#: Scores raw feature records (one row per prediction, the record's `features`) with the champion model.
Rescorer = Callable[[pd.DataFrame], FloatArray]


class WindowError(ValueError):
    """The rows cannot be turned into the suite's inputs."""


@dataclass(frozen=True, slots=True)
class ScoredWindow:
    """One time window's predictions, aligned row by row: features, the champion's scores, labels if joined."""

    start: datetime
    end: datetime
    features: pd.DataFrame
    scores: FloatArray
    predicted_labels: FloatArray
    labels: FloatArray | None
    n_rescored: int
    type_mismatches: Mapping[str, int] = field(default_factory=dict)
    #: Prediction records in the whole window (exact), when the rows are read from a count (None: not counted).
    window_records: int | None = None
    #: Exact per-feature counts over the whole window, when the read made them.
    exact: WindowAggregates | None = None
    #: When each row was served (UTC), aligned with the rows.
    times: pd.DatetimeIndex | None = None

    @property
    def n_rows(self) -> int:
        """Rows in the window."""
        return len(self.features)

    def summary(self) -> dict[str, Any]:
        """Sizes and times, for the result."""
        document: dict[str, Any] = {
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.end),
            "n_rows": self.n_rows,
            "n_rescored": self.n_rescored,
            "predicted_positive_rate": float(self.predicted_labels.mean()) if self.n_rows else None,
            "type_mismatches": dict(self.type_mismatches),
        }
        if self.window_records is not None:
            document["records_in_window"] = self.window_records
        if self.exact is not None:
            document["exact"] = self.exact.to_json()
        if self.labels is not None:
            document["n_labelled"] = int(self.labels.size)
        return document


def read_features(rows: WindowFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows' features (one column per usable feature name seen, missing where a record lacks it) and the count
    of unusable values per feature (module docstring)."""
    return rows.features, dict(rows.unusable)


def raw_features(rows: WindowFrame) -> pd.DataFrame:
    """The rows' feature records as a frame (one column per feature name seen, missing where a record lacks it)."""
    return read_features(rows)[0]


def _coerce(column: pd.Series[Any] | None, n_rows: int, kind: FeatureKind, family: ValueFamily) -> tuple[Any, int]:
    if column is None:
        return np.full(n_rows, np.nan), 0
    if kind is FeatureKind.NUMERIC:
        present = column.notna().to_numpy()
        if ptypes.is_bool_dtype(column.dtype):  # booleans are not numbers (as in the serving contract)
            return np.full(n_rows, np.nan), int(present.sum())
        if ptypes.is_numeric_dtype(column.dtype):
            return column.to_numpy(dtype=np.float64, na_value=np.nan), 0  # the common case: JSON numbers
        if ptypes.is_object_dtype(column.dtype):
            column = column.where(~column.map(lambda value: isinstance(value, bool)))
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        values = np.where(np.isfinite(values), values, np.nan)
        return values, int((np.isnan(values) & present).sum())
    if family is ValueFamily.BOOLEAN:
        values = column.to_numpy(dtype=object)
        booleans = column.map(lambda value: type(value) is bool).to_numpy(dtype=bool)
        wrong = column.notna().to_numpy() & ~booleans
        return np.where(wrong, None, values), int(wrong.sum())
    return column.map(str, na_action="ignore").astype("str"), 0


def coerce_to_profile(
    raw: pd.DataFrame, profile: ReferenceProfile, unusable: Mapping[str, int] | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The profile's feature columns, in its order, with the value types its checks compare (module docstring);
    `unusable` (from `read_features`) is added to the mismatch counts."""
    columns: dict[str, Any] = {}
    mismatches: dict[str, int] = dict(unusable or {})
    for feature in profile.features:
        column = raw[feature.name] if feature.name in raw.columns else None
        columns[feature.name], count = _coerce(column, len(raw), feature.kind, feature.family)
        if count:
            mismatches[feature.name] = mismatches.get(feature.name, 0) + count
    return pd.DataFrame(columns, index=raw.index), mismatches


def champion_scores(
    rows: WindowFrame,
    raw: pd.DataFrame,
    champion_version: str,
    rescore: Callable[[], Rescorer],
) -> tuple[FloatArray, int]:
    """The champion's score per row: logged where it served the row, else rescored (`rescore()` is called lazily,
    at most once, and only when some row needs it). Returns the scores and how many rows were rescored."""
    scores = np.array(rows.score, dtype=np.float64)
    others = np.asarray(rows.model_version != champion_version, dtype=bool)
    n_others = int(others.sum())
    if n_others:
        rescored = np.asarray(rescore()(raw.loc[others].reset_index(drop=True)), dtype=np.float64)
        if rescored.shape != (n_others,):
            raise WindowError(f"the champion returned {rescored.shape} scores for {n_others} rows")
        scores[others] = rescored
    return scores, n_others


def scored_window(
    rows: WindowFrame,
    *,
    start: datetime,
    end: datetime,
    profile: ReferenceProfile,
    champion_version: str,
    rescore: Callable[[], Rescorer],
    labels: FloatArray | None = None,
) -> ScoredWindow:
    """The suite's inputs for one window of rows (module docstring)."""
    raw, unusable = read_features(rows)
    features, mismatches = coerce_to_profile(raw, profile, unusable)
    scores, n_rescored = champion_scores(rows, raw, champion_version, rescore)
    return ScoredWindow(
        start=start,
        end=end,
        features=features,
        scores=scores,
        predicted_labels=(scores >= profile.decision_threshold).astype(np.float64),
        labels=labels,
        n_rescored=n_rescored,
        type_mismatches=mismatches,
        window_records=rows.records,
        exact=rows.exact,
        times=rows.time,
    )


def matured(rows: WindowFrame) -> tuple[WindowFrame, FloatArray]:
    """A labelled window (labels observed by its read's `labels_until`) and its labels (0/1 as float64)."""
    if rows.label is None:
        raise WindowError("the matured window was read without labels")
    return rows, rows.label.astype(np.float64)
