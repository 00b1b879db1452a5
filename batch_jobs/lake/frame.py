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
from batch_jobs.lake.queries import DUPLICATE_OF, OPTION_COLUMNS
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


def _codes(values: Any) -> NDArray[np.int8]:
    """An integer column with nulls (a float with NaN from DuckDB, a nullable integer from Athena) as int8, -1
    where null."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isnan(numbers), -1, numbers).astype(np.int8)


def _floats(values: Any) -> FloatArray:
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(numbers, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class OptionColumns:
    """A window's optional members per row (`core.lake.OPTION_COLUMNS`), aligned with its rows: the experiment's
    arm (`model`, `control`, or missing), the control arm's heuristic answer and a shadow challenger's answer.
    Missing values: NaN in the float columns, -1 in the label columns, a missing category in the text columns."""

    arm: pd.Categorical
    heuristic_score: FloatArray
    heuristic_label: NDArray[np.int8]
    shadow_version: pd.Categorical
    shadow_score: FloatArray
    shadow_label: NDArray[np.int8]
    shadow_latency_ms: FloatArray
    client_id: pd.Categorical

    def __len__(self) -> int:
        return len(self.arm)

    @classmethod
    def empty(cls) -> OptionColumns:
        """No rows."""
        return cls(
            pd.Categorical([]),
            np.empty(0),
            np.empty(0, dtype=np.int8),
            pd.Categorical([]),
            np.empty(0),
            np.empty(0, dtype=np.int8),
            np.empty(0),
            pd.Categorical([]),
        )

    @classmethod
    def of(cls, columns: Mapping[str, Any]) -> OptionColumns:
        """From a result's option columns (any array-likes, already in row order)."""
        return cls(
            arm=pd.Categorical(np.asarray(columns["arm"], dtype=object)),
            heuristic_score=_floats(columns["heuristic_score"]),
            heuristic_label=_codes(columns["heuristic_label"]),
            shadow_version=pd.Categorical(np.asarray(columns["shadow_version"], dtype=object)),
            shadow_score=_floats(columns["shadow_score"]),
            shadow_label=_codes(columns["shadow_label"]),
            shadow_latency_ms=_floats(columns["shadow_latency_ms"]),
            client_id=pd.Categorical(np.asarray(columns["client_id"], dtype=object)),
        )

    def take(self, mask: NDArray[np.bool_]) -> OptionColumns:
        """The rows where `mask` is true."""
        return OptionColumns(
            self.arm[mask],
            self.heuristic_score[mask],
            self.heuristic_label[mask],
            self.shadow_version[mask],
            self.shadow_score[mask],
            self.shadow_label[mask],
            self.shadow_latency_ms[mask],
            self.client_id[mask],
        )


@dataclass(frozen=True, slots=True)
class RowKeys:
    """Each row's request id and sampling key (`core.lake.sample_key`), aligned with a window's rows: what a
    design-based estimate needs to know how a row came to be sampled."""

    request_id: NDArray[np.object_]
    sample_key: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.request_id)

    def take(self, mask: NDArray[np.bool_]) -> RowKeys:
        """The rows where `mask` is true."""
        return RowKeys(self.request_id[mask], self.sample_key[mask])


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
    #: The rows' optional members (arm, heuristic, shadow), when the read asked for them.
    options: OptionColumns | None = None
    #: The rows' request ids and sampling keys, when the read returns them (the reviewed rows).
    keys: RowKeys | None = None

    def __post_init__(self) -> None:
        n_rows = len(self.features)
        lengths = {len(self.score), len(self.model_version), len(self.predicted_label), len(self.time)}
        for column in (self.label, self.options, self.keys):
            if column is not None:
                lengths.add(len(column))
        if lengths != {n_rows}:
            raise ValueError(f"a window's columns differ in length: {sorted(lengths | {n_rows})}")

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def empty(cls, *, labelled: bool = False, options: bool = False, keys: bool = False) -> WindowFrame:
        """A window without rows (with empty option columns and keys if asked)."""
        return cls(
            features=pd.DataFrame(index=pd.RangeIndex(0)),
            score=np.empty(0),
            model_version=pd.Categorical([]),
            predicted_label=np.empty(0, dtype=np.int8),
            time=pd.DatetimeIndex([], tz="UTC"),
            label=np.empty(0, dtype=np.int8) if labelled else None,
            options=OptionColumns.empty() if options else None,
            keys=RowKeys(np.empty(0, dtype=object), np.empty(0, dtype=np.int64)) if keys else None,
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
            options=None if self.options is None else self.options.take(mask),
            keys=None if self.keys is None else self.keys.take(mask),
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
    result: pd.DataFrame,
    features: Sequence[tuple[str, str]],
    *,
    labelled: bool,
    records: int | None = None,
    options: bool = False,
    keys: bool = False,
) -> WindowFrame:
    """A window from a lake query's result (`batch_jobs.lake.queries`): one row per request (`first_records`), in
    time order (ties by sample key), feature columns `(name, column)` renamed to their names, the values kept in
    `unparsed_features` restored (module docstring), the `OPTION_COLUMNS` as `options` and the request ids and
    sampling keys as `keys` when the result has them (`options`, `keys`). Consumes `result`: each column is dropped
    from it once its ordered copy is made, so the window is never held twice."""
    times = pd.DatetimeIndex(pd.to_datetime(result["ts"])).as_unit("ms")
    order = np.lexsort((result["sample_key"].to_numpy(dtype=np.float64, na_value=np.nan), times.asi8))
    order = order[first_records(result, times.asi8)[order]]
    row_keys = (
        RowKeys(
            np.asarray(result.pop("request_id").take(order).to_numpy(dtype=object), dtype=object),
            result["sample_key"].take(order).to_numpy(dtype=np.int64),
        )
        if keys
        else None
    )
    del result["sample_key"], result[DUPLICATE_OF], result["ts"]

    def ordered(column: str) -> pd.Series:
        values = result.pop(column)
        return values.take(order).reset_index(drop=True)

    option_columns = OptionColumns.of({name: ordered(name) for name in OPTION_COLUMNS}) if options else None

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
        options=option_columns,
        keys=row_keys,
    )
