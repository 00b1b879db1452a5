"""The history as the replay reads it: rows in time order, their day, features in the model's dtypes, labels and
when each label arrived. Pure (the file readers are in `io`).

A history is one row per prediction: a timestamp, the features, the label as the system received it (empty: never
labelled) and, optionally, when that label arrived and the true outcome to score the replay with
(`settings.HistoryColumns`). Times are UTC, kept to the millisecond (as the lake keeps them). Day 0 is the UTC day of
the first prediction; the first `initial_days` days are the initial training set, the rest are replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from autoretrain.backtest.settings import BacktestSettings
from batch_jobs import model_spec
from core.features import InputSchema, SchemaError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
DAY_NS = 86_400 * 10**9


class HistoryError(ValueError):
    """The history cannot be replayed (missing columns, bad labels or times, too few days)."""


@dataclass(frozen=True, slots=True)
class ReplayData:
    """The history, sorted by time (`prepare_history`). Row `i` of every array is the same prediction.

    - `features`: the model's feature columns in its dtypes (`model_spec.feature_frame`); `schema` their schema;
    - `time`, `arrival`: nanoseconds since the epoch (UTC) of the prediction and of its label's arrival;
    - `label`: 0/1 as received (NaN: never labelled); `truth`: 0/1 the replay is scored on (NaN: unknown);
    - `day`: the row's day (0 = the first prediction's UTC day); `bounds[d]:bounds[d + 1]` are day d's rows;
    - `start_ns`: the start of day 0; `n_days` days in all, of which the first `initial_days` are the initial set;
    - `source_rows`: each row's position in the history as given (before sorting).
    """

    features: pd.DataFrame
    schema: InputSchema
    target: str
    time: IntArray
    arrival: IntArray
    label: FloatArray
    truth: FloatArray
    day: IntArray
    bounds: IntArray
    start_ns: int
    n_days: int
    initial_days: int
    source_rows: IntArray

    @property
    def n_rows(self) -> int:
        """Predictions in the history."""
        return len(self.features)

    @property
    def replay_days(self) -> range:
        """The days replayed (after the initial set)."""
        return range(self.initial_days, self.n_days)

    def day_start(self, day: int) -> int:
        """The start of `day` in nanoseconds since the epoch; `day_start(d + 1)` is the end of day d."""
        return self.start_ns + day * DAY_NS

    def timestamp(self, day: int) -> pd.Timestamp:
        """The start of `day` as a UTC timestamp."""
        return pd.Timestamp(self.day_start(day), unit="ns", tz="UTC")

    def date(self, day: int) -> str:
        """`YYYY-MM-DD` of `day`."""
        return str(self.timestamp(day).strftime("%Y-%m-%d"))

    def rows_of_days(self, first: int, last: int) -> slice:
        """The rows of days `first` to `last` inclusive (clipped to the history)."""
        first, last = max(first, 0), min(last, self.n_days - 1)
        if last < first:
            return slice(0, 0)
        return slice(int(self.bounds[first]), int(self.bounds[last + 1]))

    def training_frame(self, rows: IntArray) -> pd.DataFrame:
        """`rows` as the retrain job's raw rows: the features, the label (target) and the `timestamp` column."""
        frame = self.features.iloc[rows].reset_index(drop=True)
        frame[self.target] = self.label[rows].astype(np.int64)
        return frame


def _utc_ns(values: pd.Series[Any], name: str) -> IntArray:
    try:
        times = pd.to_datetime(values, utc=True, errors="raise", format="mixed")
    except (ValueError, TypeError) as error:
        raise HistoryError(f"column {name!r} holds values that are not times: {error}") from error
    times = times.dt.floor("ms")
    ns = times.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ns[times.isna().to_numpy()] = np.iinfo(np.int64).min
    result: IntArray = ns
    return result


def _labels(values: pd.Series[Any], name: str) -> FloatArray:
    labels = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    given = values.notna().to_numpy()
    if (given & np.isnan(labels)).any() or not np.isin(labels[~np.isnan(labels)], (0.0, 1.0)).all():
        raise HistoryError(f"column {name!r} must hold 0/1 labels (or be empty where there is none)")
    result: FloatArray = labels
    return result


def feature_names(history: pd.DataFrame, settings: BacktestSettings) -> list[str]:
    """The model's features: the named ones, or every column but the timestamp, labels, arrival and ignored."""
    columns = settings.columns
    if columns.features is not None:
        missing = [name for name in columns.features if name not in history.columns]
        if missing:
            raise HistoryError(f"the history lacks the feature column(s) {missing}")
        return list(columns.features)
    reserved = set(columns.reserved())
    names = [str(name) for name in history.columns if name not in reserved]
    if not names:
        raise HistoryError("the history has no feature columns")
    return names


def prepare_history(history: pd.DataFrame, settings: BacktestSettings) -> ReplayData:
    """The history in replay order with its days; `HistoryError` when it cannot be replayed."""
    columns = settings.columns
    for name in (columns.timestamp, columns.label):
        if name not in history.columns:
            raise HistoryError(f"the history has no {name!r} column (columns: {list(history.columns)[:20]})")
    if history.columns.duplicated().any():
        raise HistoryError("the history has duplicate column names")
    if len(history) == 0:
        raise HistoryError("the history has no rows")
    names = feature_names(history, settings)
    time = _utc_ns(history[columns.timestamp], columns.timestamp)
    if (time == np.iinfo(np.int64).min).any():
        raise HistoryError(f"column {columns.timestamp!r} has empty times")
    order = np.argsort(time, kind="stable")
    frame = history.iloc[order].reset_index(drop=True)
    time = time[order]
    label = _labels(frame[columns.label], columns.label)
    truth = label
    if columns.evaluation_label in frame.columns:
        truth = _labels(frame[columns.evaluation_label], columns.evaluation_label)
    delay_ns = settings.label_delay_days * DAY_NS
    arrival = time + delay_ns
    if columns.arrival in frame.columns:
        given = _utc_ns(frame[columns.arrival], columns.arrival)
        known = given != np.iinfo(np.int64).min
        arrival = np.where(known, given, arrival)
    try:
        schema = model_spec.infer_input_schema(frame[names], target=columns.label, all_nullable=True)
        features = model_spec.feature_frame(frame, schema)
    except SchemaError as error:
        raise HistoryError(f"the features cannot be a model's input: {error}") from error
    start_ns = int(time[0] - time[0] % DAY_NS)
    day = (time - start_ns) // DAY_NS
    n_days = int(day[-1]) + 1
    if n_days <= settings.initial_days + 1:
        needed = settings.initial_days + 2
        raise HistoryError(f"the history spans {n_days} day(s): {needed} are needed ({settings.initial_days} initial)")
    bounds = np.searchsorted(day, np.arange(n_days + 1), side="left").astype(np.int64)
    return ReplayData(
        features=features,
        schema=schema,
        target=columns.label,
        time=time,
        arrival=arrival.astype(np.int64),
        label=label,
        truth=truth,
        day=day.astype(np.int64),
        bounds=bounds,
        start_ns=start_ns,
        n_days=n_days,
        initial_days=settings.initial_days,
        source_rows=order.astype(np.int64),
    )
