"""The training frame: the initial training set plus matured, labelled production rows, in one canonical shape.

A training frame has the feature columns, the target column (0/1), `EVENT_TIME` (UTC, when the prediction was
served; NaT for initial rows without a time) and `SOURCE` (`initial` or `production`). Initial training sets may
carry their own time in a `timestamp` column (ISO 8601 or datetime); without one, their row order is taken as
time order (the newest rows last), which is what `split_holdout` relies on for the initial model.

Production rows come from stored records: a value no column can hold (a number beyond the double range, text with
a lone surrogate, a nested value: `batch_jobs.drift.values`) becomes missing, and a feature name with a lone
surrogate is no column; both are counted per feature in `TrainingData.unusable_values` and, when there are any, in
total under `counts["unusable_values"]` (the registry record's `rows` evidence), so one accepted record never
stops a retrain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from batch_jobs import model_spec
from batch_jobs.lake.frame import WindowFrame
from core.features import InputSchema

EVENT_TIME = "__event_time__"
SOURCE = "__source__"
ORDER = "__order__"
INITIAL = "initial"
PRODUCTION = "production"
#: A column of the initial training set that holds each row's time, if it has one.
INITIAL_TIME_COLUMN = "timestamp"
META_COLUMNS = (EVENT_TIME, SOURCE, ORDER)
SOURCES = (INITIAL, PRODUCTION)


class TrainingDataError(ValueError):
    """The training data cannot be assembled (e.g. no rows at all, or a target that is not a column)."""


def _source(rows: int, source: str) -> pd.Categorical:
    """`SOURCE` for `rows` rows of one source: a category, one byte a row (both sources share the categories, so a
    combined frame keeps them)."""
    return pd.Categorical.from_codes(np.full(rows, SOURCES.index(source), dtype=np.int8), categories=SOURCES)


def initial_frame(raw: pd.DataFrame, target: str) -> pd.DataFrame:
    """The initial training set in the canonical shape (its `timestamp` column, if any, becomes `EVENT_TIME`)."""
    if target not in raw.columns:
        raise TrainingDataError(f"the initial training set has no target column {target!r}")
    frame = raw.reset_index(drop=True).copy()
    if INITIAL_TIME_COLUMN in frame.columns:
        times = pd.to_datetime(frame.pop(INITIAL_TIME_COLUMN), utc=True, errors="coerce")
    else:
        times = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    frame[EVENT_TIME] = times
    frame[SOURCE] = _source(len(frame), INITIAL)
    frame[ORDER] = np.arange(len(frame), dtype=np.int64)
    return frame


def production_frame(rows: WindowFrame, target: str, matured_before: datetime) -> pd.DataFrame:
    """Labelled predictions served before `matured_before` (to the millisecond, as windows are read) as training
    rows; a feature name only dropped rows carry is no column."""
    return production_rows(rows, target, matured_before)[0]


def production_rows(rows: WindowFrame, target: str, matured_before: datetime) -> tuple[pd.DataFrame, dict[str, int]]:
    """`production_frame` and the count of unusable values per feature in it (module docstring)."""
    if rows.label is None:
        raise TrainingDataError("the training window was read without labels")
    kept = rows.served_before(matured_before)
    carried = [name for name in kept.features.columns if kept.features[name].notna().any()] if len(kept) else []
    # A new frame over the window's own columns (copy-on-write: the window is never changed through it).
    features = pd.DataFrame({name: kept.features[name] for name in carried}, index=kept.features.index, copy=False)
    features[target] = np.asarray(kept.label, dtype=np.int64)
    features[EVENT_TIME] = kept.time
    features[SOURCE] = _source(len(kept), PRODUCTION)
    features[ORDER] = np.arange(len(kept), dtype=np.int64)
    return features, dict(rows.unusable)


def combine(initial: pd.DataFrame | None, production: pd.DataFrame | None) -> pd.DataFrame:
    """Both sources in one frame, initial rows first, production rows in time order."""
    parts = [part for part in (initial, production) if part is not None and len(part)]
    if not parts:
        raise TrainingDataError("there is no training data: no initial training set and no matured production rows")
    frame = pd.concat(parts, ignore_index=True, sort=False) if len(parts) > 1 else parts[0].reset_index(drop=True)
    frame[ORDER] = np.arange(len(frame), dtype=np.int64)
    return frame


def feature_columns(frame: pd.DataFrame, target: str) -> list[str]:
    """Every column that is neither the target nor bookkeeping."""
    return [str(name) for name in frame.columns if name != target and name not in META_COLUMNS]


@dataclass(frozen=True, slots=True)
class TrainingData:
    """The training frame, the serving schema the challenger is checked against, and row counts by source."""

    frame: pd.DataFrame
    schema: InputSchema
    counts: dict[str, int]
    unusable_values: dict[str, int] = field(default_factory=dict)


def assemble(
    initial: pd.DataFrame | None,
    window: WindowFrame,
    *,
    target: str,
    matured_before: datetime,
    champion_schema: InputSchema | None,
) -> TrainingData:
    """The initial training set (an `initial_frame`) plus the window's matured, labelled rows, with the serving
    schema: the champion's, or (no champion yet) the one inferred from the initial set. `TrainingDataError` when
    there is no data or neither schema."""
    production, unusable = production_rows(window, target, matured_before) if len(window) else (None, {})
    frame = combine(initial, production)
    if champion_schema is not None:
        schema = champion_schema
    elif initial is not None:
        schema = model_spec.infer_input_schema(
            initial[[*feature_columns(initial, target), target]], target=target, all_nullable=True
        )
    else:
        raise TrainingDataError("there is neither a champion nor an initial training set to take the schema from")
    from_production = int((frame[SOURCE] == PRODUCTION).sum())
    counts = {
        INITIAL: int((frame[SOURCE] == INITIAL).sum()),
        PRODUCTION: from_production,
    }
    if window.records is not None:  # the look-back's predictions (exact), of which `production` were read
        counts["window_records"] = window.records
    if unusable:
        counts["unusable_values"] = sum(unusable.values())
    return TrainingData(frame, schema, counts, unusable)


@dataclass(frozen=True, slots=True)
class HoldoutSplit:
    """Training rows and the out-of-time holdout (the newest rows, never shown to the challenger)."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_start: datetime | None
    basis: str


def split_holdout(frame: pd.DataFrame, *, holdout_days: int, holdout_fraction: float) -> HoldoutSplit:
    """The newest `holdout_days` of production rows, or (no production rows) the newest share of the initial set.

    Production rows before the holdout and every initial row stay available for training.
    """
    production = frame[SOURCE] == PRODUCTION
    if production.any():
        newest = frame.loc[production, EVENT_TIME].max()
        start = newest - pd.Timedelta(days=holdout_days)
        in_holdout = production & (frame[EVENT_TIME] > start)
        return HoldoutSplit(
            train=frame.loc[~in_holdout].reset_index(drop=True),
            holdout=frame.loc[in_holdout].reset_index(drop=True),
            holdout_start=start.to_pydatetime(),
            basis=f"production rows of the newest {holdout_days} days",
        )
    ordered = frame.sort_values([EVENT_TIME, ORDER], na_position="first", kind="stable")
    n_holdout = max(1, round(len(ordered) * holdout_fraction))
    return HoldoutSplit(
        train=ordered.iloc[:-n_holdout].reset_index(drop=True),
        holdout=ordered.iloc[-n_holdout:].reset_index(drop=True),
        holdout_start=None,
        basis=f"newest {holdout_fraction:.0%} of the initial training set",
    )


def split_regime(frame: pd.DataFrame, *, regime_start: datetime, holdout_fraction: float) -> HoldoutSplit:
    """Recovery after decay: only the production rows served since `regime_start` (before it, the relation between
    features and label no longer holds, so neither the older rows nor the initial set are trained or judged on); the
    newest `holdout_fraction` of them, by time, are the holdout."""
    regime = frame.loc[(frame[SOURCE] == PRODUCTION) & (frame[EVENT_TIME] >= pd.Timestamp(regime_start))]
    ordered = regime.sort_values([EVENT_TIME, ORDER], kind="stable")
    n_holdout = round(len(ordered) * holdout_fraction)
    holdout = ordered.iloc[len(ordered) - n_holdout :]
    return HoldoutSplit(
        train=ordered.iloc[: len(ordered) - n_holdout].reset_index(drop=True),
        holdout=holdout.reset_index(drop=True),
        holdout_start=holdout[EVENT_TIME].min().to_pydatetime() if n_holdout else None,
        basis=f"newest {holdout_fraction:.0%} of the production rows served since {regime_start.isoformat()}",
    )


def regime_shortfall(
    split: HoldoutSplit, *, target: str, min_train: tuple[int, int], min_holdout: tuple[int, int]
) -> str | None:
    """What a regime split lacks to train and to judge on: each side's minimum (rows, rows of each class); None when
    it has them."""
    short = []
    for name, part, (min_rows, min_class) in (
        ("training", split.train, min_train),
        ("holdout", split.holdout, min_holdout),
    ):
        rows, positives = len(part), int(part[target].sum())
        if rows < min_rows or min(positives, rows - positives) < min_class:
            short.append(f"{name} {rows} rows ({positives} positive), needs {min_rows} with {min_class} of each class")
    return "; ".join(short) or None


def fingerprint(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """SHA-256 of the frame's values in `columns` (in that order), row order included; index ignored.

    Canonical: each column is hashed by pandas' stable per-row hash of its values, and the column names and
    row count go in too, so the same data gives the same fingerprint in any process.
    """
    digest = hashlib.sha256()
    digest.update(f"{len(frame)}|{'|'.join(columns)}".encode())
    for name in columns:
        column = frame[name]
        values: Any = column.astype("string") if column.dtype == object else column
        digest.update(pd.util.hash_pandas_object(values, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def initial_fingerprint(frame: pd.DataFrame, target: str) -> str:
    """The fingerprint of a training frame's initial rows (features and target): whether a later retrain reads the
    same initial training set."""
    rows = frame.loc[frame[SOURCE] == INITIAL]
    return fingerprint(rows, [*feature_columns(rows, target), target])


def time_span(frame: pd.DataFrame, fallback: datetime) -> tuple[datetime, datetime]:
    """First and last event time of the rows (both `fallback` when no row has a time)."""
    times = frame[EVENT_TIME].dropna()
    if times.empty:
        return fallback, fallback
    return times.min().to_pydatetime(), times.max().to_pydatetime()
