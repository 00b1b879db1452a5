"""A window as the jobs consume it: columns in numpy and pandas, one row per prediction — never one Python object per
value, so a window's memory is a few bytes per value (`WindowFrame`). The lake's adapter builds it from an
engine's result (`from_lake`); `from_columns` builds one from stored records' columns (`core.segments`), which the
tests' fakes and any record-based reader use, through the same usable-value rules.

`features` has one column per feature name: typed (float64 for numeric features, text for categorical ones) as
the lake stores them, or holding the record's own values where a value had no typed column or another type (the
lake's `unparsed_features`); the drift check and the retrain coerce and count those as before. A value no column
can hold (`batch_jobs.drift.values`) is missing and counted in `unusable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from batch_jobs.drift.values import usable_frame, usable_values
from batch_jobs.lake.queries import DUPLICATE_OF
from core.records import format_timestamp
from core.segments import LabelledColumns, PredictionColumns

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WindowAggregates:
    """Exact counts over a whole window, however it was sampled (aggregates in SQL): per feature the records
    without a typed value, and per categorical feature its most frequent values' records."""

    missing: Mapping[str, int]
    top_categories: Mapping[str, Mapping[str, int]]

    def to_json(self) -> dict[str, Any]:
        """For a job's result."""
        return {
            "missing": dict(self.missing),
            "top_categories": {name: dict(counts) for name, counts in self.top_categories.items()},
        }


@dataclass(frozen=True, slots=True)
class WindowFrame:
    """One window's rows, aligned: features, the logged score, the serving version, the predicted label, the
    prediction's time (UTC) and, for a labelled window, the label (0/1)."""

    features: pd.DataFrame
    score: FloatArray
    model_version: pd.Categorical
    predicted_label: NDArray[np.int8]
    time: pd.DatetimeIndex
    label: NDArray[np.int8] | None = None
    unusable: Mapping[str, int] = field(default_factory=dict)
    #: Prediction records in the whole window (exact, counted in SQL), of which these rows are all or a sample.
    records: int | None = None
    #: Exact per-feature counts over the whole window (the lake's current windows; None otherwise).
    exact: WindowAggregates | None = None

    def __post_init__(self) -> None:
        n_rows = len(self.features)
        lengths = {len(self.score), len(self.model_version), len(self.predicted_label), len(self.time)}
        if self.label is not None:
            lengths.add(len(self.label))
        if lengths != {n_rows}:
            raise ValueError(f"a window's columns differ in length: {sorted(lengths | {n_rows})}")

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def empty(cls, *, labelled: bool = False) -> WindowFrame:
        """A window without rows."""
        return cls(
            features=pd.DataFrame(index=pd.RangeIndex(0)),
            score=np.empty(0),
            model_version=pd.Categorical([]),
            predicted_label=np.empty(0, dtype=np.int8),
            time=pd.DatetimeIndex([], tz="UTC"),
            label=np.empty(0, dtype=np.int8) if labelled else None,
        )

    def take(self, mask: NDArray[np.bool_]) -> WindowFrame:
        """The rows where `mask` is true."""
        return WindowFrame(
            features=self.features.loc[mask].reset_index(drop=True),
            score=self.score[mask],
            model_version=self.model_version[mask],
            predicted_label=self.predicted_label[mask],
            time=self.time[mask],
            label=None if self.label is None else self.label[mask],
            unusable=self.unusable,
            records=self.records,
            exact=self.exact,
        )

    def served_before(self, moment: datetime) -> WindowFrame:
        """The rows served before `moment` (to the millisecond, as windows are read); this window when that is all."""
        before = np.asarray(self.time < pd.Timestamp(moment).floor("ms"), dtype=bool)
        return self if before.all() else self.take(before)

    @classmethod
    def from_columns(
        cls, rows: PredictionColumns | LabelledColumns, *, labels_until: datetime | None = None
    ) -> WindowFrame:
        """A window of stored records' columns; a labelled window keeps only its rows labelled by `labels_until`
        (every labelled row when None), and `records` counts all its predictions."""
        if isinstance(rows, LabelledColumns):
            cutoff = None if labels_until is None else format_timestamp(labels_until)
            kept = [
                row
                for row, (label, observed) in enumerate(zip(rows.label, rows.observed_at, strict=True))
                if label is not None and (cutoff is None or (observed is not None and observed <= cutoff))
            ]
            frame = cls.from_columns(rows.predictions.take(kept))
            labels = np.array([rows.label[row] for row in kept], dtype=np.int8)
            return WindowFrame(
                frame.features,
                frame.score,
                frame.model_version,
                frame.predicted_label,
                frame.time,
                labels,
                frame.unusable,
                records=len(rows),
            )
        carried = {name: column for name, column in rows.features.items() if len(rows.absent.get(name, ())) < len(rows)}
        features, unusable = usable_frame(carried, len(rows))
        return cls(
            features=features,
            score=np.array(rows.score, dtype=np.float64),
            model_version=pd.Categorical(rows.model_version),
            predicted_label=np.array(rows.predicted_label, dtype=np.int8),
            time=pd.DatetimeIndex(pd.to_datetime(rows.timestamp, utc=True)),
            unusable=unusable,
            records=len(rows),
        )


def first_records(result: pd.DataFrame, times: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which rows of a lake sample to keep: all but the later records of a request its `duplicate_of` names (the
    earliest by time, then model version, then score, wins, as `batch_jobs.lake.queries` rules)."""
    keep = np.ones(len(result), dtype=bool)
    marked = np.flatnonzero(result[DUPLICATE_OF].notna().to_numpy())
    if len(marked):
        rows = pd.DataFrame(
            {
                "request": result[DUPLICATE_OF].take(marked).to_numpy(dtype=object),
                "time": times[marked],
                "version": result["model_version"].take(marked).to_numpy(dtype=object),
                "score": result["score"].take(marked).to_numpy(dtype=np.float64),
            }
        )
        later = rows.sort_values(["request", "time", "version", "score"], kind="stable").duplicated("request")
        keep[marked[later.index[later.to_numpy()]]] = False
    return keep


def from_lake(
    result: pd.DataFrame, features: Sequence[tuple[str, str]], *, labelled: bool, records: int | None = None
) -> WindowFrame:
    """A window from a lake query's result (`batch_jobs.lake.queries`): one row per request (`first_records`), in
    time order (ties by sample key), feature columns `(name, column)` renamed to their names, the values kept in
    `unparsed_features` restored (module docstring). Consumes `result`: each column is dropped from it once its
    ordered copy is made, so the window is never held twice."""
    times = pd.DatetimeIndex(pd.to_datetime(result["ts"])).as_unit("ms")
    order = np.lexsort((result["sample_key"].to_numpy(dtype=np.float64, na_value=np.nan), times.asi8))
    order = order[first_records(result, times.asi8)[order]]
    del result["sample_key"], result[DUPLICATE_OF], result["ts"]

    def ordered(column: str) -> pd.Series:
        values = result.pop(column)
        return values.take(order).reset_index(drop=True)

    frame = pd.DataFrame(
        {name: ordered(column) for name, column in features}, index=pd.RangeIndex(len(order)), copy=False
    )
    unusable: dict[str, int] = {}
    unparsed = ordered("unparsed_features")
    present = unparsed.notna().to_numpy()
    if present.any():
        restored: dict[str, dict[int, Any]] = {}
        for row in np.flatnonzero(present):
            for name, value in json.loads(unparsed.iat[row]).items():
                restored.setdefault(name, {})[int(row)] = value
        for name, values in restored.items():
            if name in frame.columns:
                column = frame[name].astype(object).where(frame[name].notna(), None)
            else:
                column = pd.Series([None] * len(frame), dtype=object)
            column.iloc[list(values)] = list(values.values())
            frame[name], count = usable_values(column.tolist())
            if count:
                unusable[name] = count
    times = times[order]
    return WindowFrame(
        features=frame,
        score=ordered("score").to_numpy(dtype=np.float64),
        model_version=pd.Categorical(ordered("model_version")),
        predicted_label=ordered("predicted_label").to_numpy(dtype=np.int8),
        time=times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC"),
        label=ordered("label").to_numpy(dtype=np.int8) if labelled else None,
        unusable=unusable,
        records=records,
    )
