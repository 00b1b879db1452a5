"""The jobs' windows read from the lake: the adapter behind the drift check's `PredictionWindows` and the retrain's
`LabelledWindows` ports, over either engine (`batch_jobs.lake.engine`).

Memory is set by `sample_rows`, not by the window: an exact count per day comes first (an aggregate in SQL), then
at most about `sample_rows` rows are read, stratified by day: each day keeps every row when the window fits, else
the days share the cap by water-filling (a quiet day keeps all its rows, busy days an equal share) and a day's rows
are a Bernoulli sample by `sample_key` at its rate (`queries` module docstring). Within a day the sample keeps
labels in their proportion (the key is independent of the label), so a model fitted on it keeps its calibration;
the sample's per-day rates are logged and returned (`SampleDesign`) so a verdict can state its sample size.

The result is a `batch_jobs.lake.frame.WindowFrame`: numpy and pandas columns, never one Python object per value;
a feature value the lake keeps in `unparsed_features` (no typed column, or another type) is put back as the value
the record carried, so the jobs' coercions and type-mismatch counts are what they were.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from batch_jobs.lake.engine import AthenaEngine, DuckDBEngine, LakeEngine, S3LakeFiles, Scope
from batch_jobs.lake.frame import WindowAggregates, WindowFrame, from_lake
from batch_jobs.lake.queries import (
    Window,
    category_counts,
    daily_counts,
    grouped_counts,
    label_days,
    labelled_sample,
    prediction_sample,
    reviewed_counts,
    reviewed_sample,
    selected_predictions,
    shadowed_sample,
)
from core.lake import FEATURE_COLUMN_PREFIX, Column, LakeTable, sample_threshold
from core.model_lifecycle import validate_version
from core.settings import LakeSettings

if TYPE_CHECKING:
    import boto3

logger = logging.getLogger(__name__)


class FeatureCatalog(Protocol):
    """The predictions table's typed feature columns (`batch_jobs.lake.catalog` over Glue)."""

    def feature_columns(self) -> Sequence[tuple[str, Column]]:
        """Every `(feature name, column)` the table has."""
        ...


@dataclass(frozen=True, slots=True)
class SampleDesign:
    """How a window was sampled: exact records per day, the rate kept per day, and the rows read."""

    records_per_day: Mapping[str, int]
    rates: Mapping[str, float]
    rows_read: int

    @property
    def records(self) -> int:
        """Exact prediction records in the window (a request logged twice counts twice)."""
        return sum(self.records_per_day.values())

    @property
    def sampled(self) -> bool:
        """Whether any day was sampled below rate 1."""
        return any(rate < 1.0 for rate in self.rates.values())

    def to_json(self) -> dict[str, Any]:
        """For a job's result and evidence."""
        return {
            "records": self.records,
            "rows_read": self.rows_read,
            "sampled": self.sampled,
            "rates": {day: round(rate, 6) for day, rate in self.rates.items()},
        }


def allocate(counts: Mapping[str, int], cap: int) -> dict[str, float]:
    """Per-day sampling rates that keep about `cap` rows in all: every row when the total fits, else water-filling
    (the level `L` with sum(min(n_d, L)) = cap; a day keeps min(1, L / n_d))."""
    total = sum(counts.values())
    if total <= cap:
        return dict.fromkeys(counts, 1.0)
    remaining, left = cap, sorted(counts.items(), key=lambda item: item[1])
    level = 0.0
    for index, (_, n) in enumerate(left):
        share = remaining / (len(left) - index)
        if n <= share:
            remaining -= n
            continue
        level = share
        break
    return {day: 1.0 if n <= level or level == 0.0 else level / n for day, n in counts.items()}


@dataclass
class LakeWindows:
    """Windows of one lake (module docstring). `last_design` is the design of the latest read."""

    engine: LakeEngine
    catalog: FeatureCatalog
    sample_rows: int = 200_000
    last_design: SampleDesign | None = field(default=None, init=False)

    def _plan(
        self, window: Window, scope: Scope, counted: Sequence[Column] = ()
    ) -> tuple[pd.DataFrame, dict[str, int] | None, SampleDesign]:
        """The window's exact counts per day (with the `counted` features' typed values), the sample's per-day bounds
        (None: every row) and its design. The predictions' view is `scope`'s, so the sample that follows reuses it."""
        counts = self.engine.query(
            daily_counts(window, [column.name for column in counted]),
            replace(scope, days={LakeTable.PREDICTIONS: window.days}),
        )
        per_day = {str(day): int(n) for day, n in zip(counts["day"], counts["n"], strict=True)}
        rates = allocate(per_day, self.sample_rows)
        thresholds = (
            None
            if all(rate >= 1.0 for rate in rates.values())
            else {day: sample_threshold(rate) for day, rate in rates.items()}
        )
        return counts, thresholds, SampleDesign(per_day, rates, 0)

    def _features(self) -> tuple[tuple[str, Column], ...]:
        return tuple(self.catalog.feature_columns())

    def prediction_frame(
        self, model_name: str, start: datetime, end: datetime, *, options: bool = False
    ) -> WindowFrame:
        """Predictions with `start <= ts < end`, one per request id (sampled by day above `sample_rows`); with their
        optional members (`WindowFrame.options`: arm, heuristic, shadow) if `options`."""
        window = Window(model_name, start, end)
        features = self._features()
        scope = Scope(model_name, {LakeTable.PREDICTIONS: window.days}, tuple(column for _, column in features))
        counts, thresholds, design = self._plan(window, scope, scope.features)
        if not design.records:
            self.last_design = design
            return WindowFrame.empty(options=options)
        sql = prediction_sample(window, [c.name for _, c in features], thresholds, options=options)
        return replace(
            self._frame(self.engine.query(sql, scope), features, design, labelled=False, options=options),
            exact=self._aggregates(window, features, scope, counts),
        )

    def _aggregates(
        self, window: Window, features: Sequence[tuple[str, Column]], scope: Scope, counts: pd.DataFrame
    ) -> WindowAggregates:
        """Missing values per feature from the plan's per-day counts; the top categories from their own query."""
        records = int(counts["n"].sum())
        missing = {name: records - int(counts[column.name].sum()) for name, column in features}
        names = {column.name: name for name, column in features}
        categorical = [column.name for _, column in features if column.glue_type == "string"]
        top: dict[str, dict[str, int]] = {names[column]: {} for column in categorical}
        if categorical:
            ranked = self.engine.query(category_counts(window, categorical), scope)
            for column, value, n in zip(ranked["feature"], ranked["value"], ranked["n"], strict=True):
                top[names[str(column)]][str(value)] = int(n)
        return WindowAggregates(missing, top)

    def _labelled_scope(self, window: Window, labels_until: datetime) -> tuple[tuple[tuple[str, Column], ...], Scope]:
        features = self._features()
        scope = Scope(
            window.model_name,
            {LakeTable.PREDICTIONS: window.days, LakeTable.LABELS: label_days(window, labels_until)},
            tuple(column for _, column in features),
        )
        return features, scope

    def labelled_frame(
        self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime, options: bool = False
    ) -> WindowFrame:
        """The window's predictions that have a label observed by `labels_until`, each with its latest label,
        reviewed or not (sampled by day above `sample_rows` predictions); with their optional members
        (`WindowFrame.options`: arm, heuristic, shadow) if `options`."""
        window = Window(model_name, start, end)
        features, scope = self._labelled_scope(window, labels_until)
        _, thresholds, design = self._plan(window, scope)
        if not design.records:
            self.last_design = design
            return WindowFrame.empty(labelled=True, options=options)
        sql = labelled_sample(
            window, [c.name for _, c in features], thresholds, labels_until=labels_until, options=options
        )
        return self._frame(self.engine.query(sql, scope), features, design, labelled=True, options=options)

    def reviewed_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        """The window's predictions that have a reviewed label observed by `labels_until`, each with its latest
        reviewed label, their optional members (`options`) and their request ids and sampling keys (`keys`): the
        rows a design-based estimate weighs by how the review sample chose them.

        `records` and `last_design` count the reviewed prediction records per day (not all predictions). Above
        `sample_rows` of them the days are sampled like the other windows, by `queries.REMIXED_KEY` (independent
        of how a review sample chose its requests by `sample_key`); a row's inclusion is then its review
        probability times its day's rate in `last_design`."""
        window = Window(model_name, start, end)
        features, scope = self._labelled_scope(window, labels_until)
        counts = self.engine.query(reviewed_counts(window, labels_until=labels_until), scope)
        per_day = {str(day): int(n) for day, n in zip(counts["day"], counts["n"], strict=True)}
        rates = allocate(per_day, self.sample_rows)
        thresholds = (
            None
            if all(rate >= 1.0 for rate in rates.values())
            else {day: sample_threshold(rate) for day, rate in rates.items()}
        )
        design = SampleDesign(per_day, rates, 0)
        if not design.records:
            self.last_design = design
            return WindowFrame.empty(labelled=True, options=True, keys=True)
        sql = reviewed_sample(window, [c.name for _, c in features], thresholds, labels_until=labels_until)
        return self._frame(self.engine.query(sql, scope), features, design, labelled=True, options=True, keys=True)

    def selected_frame(self, model_name: str, start: datetime, end: datetime, condition: str) -> WindowFrame:
        """Every prediction of [start, end) for which `condition` holds (SQL over the prediction columns; a review
        design's selection), one per request id, unsampled, with its optional members and keys."""
        window = Window(model_name, start, end)
        features = self._features()
        scope = Scope(model_name, {LakeTable.PREDICTIONS: window.days}, tuple(column for _, column in features))
        result = self.engine.query(selected_predictions(window, [c.name for _, c in features], condition), scope)
        design = SampleDesign({}, {}, 0)
        return self._frame(result, features, design, labelled=False, options=True, keys=True)

    def grouped_counts(
        self, model_name: str, start: datetime, end: datetime, expressions: Sequence[str]
    ) -> dict[tuple[object, ...], int]:
        """The window's prediction records per combination of `expressions`' values (SQL over the prediction
        columns)."""
        window = Window(model_name, start, end)
        scope = Scope(model_name, {LakeTable.PREDICTIONS: window.days}, ())
        counts = self.engine.query(grouped_counts(window, expressions), scope)
        keys = zip(*(counts[f"k{index}"].tolist() for index in range(len(expressions))), strict=True)
        return {tuple(key): int(n) for key, n in zip(keys, counts["n"].tolist(), strict=True)}

    def shadowed_frame(
        self, model_name: str, version: str, start: datetime, end: datetime, *, labels_until: datetime
    ) -> pd.DataFrame:
        """The predictions `version` scored in shadow in [start, end), with both answers and latencies and the
        latest label observed by `labels_until` (NaN without one): `queries.SHADOWED_COLUMNS` and `label`, a
        uniform sample by request id above `sample_rows`."""
        window = Window(model_name, start, end)
        _, scope = self._labelled_scope(window, labels_until)
        condition = f"shadow_version = '{validate_version(version)}'"
        total = self.grouped_counts(model_name, start, end, [f"({condition})"]).get((True,), 0)
        threshold = None if total <= self.sample_rows else sample_threshold(self.sample_rows / total)
        result = self.engine.query(shadowed_sample(window, version, threshold, labels_until=labels_until), scope)
        result["ts"] = pd.to_datetime(result["ts"], utc=True)
        result["label"] = pd.to_numeric(result["label"], errors="coerce").astype(np.float64)
        return result.sort_values("ts", kind="stable").reset_index(drop=True)

    def _frame(  # the result, its design, then what it holds
        self,
        result: pd.DataFrame,
        features: Sequence[tuple[str, Column]],
        design: SampleDesign,
        *,
        labelled: bool,
        options: bool = False,
        keys: bool = False,
    ) -> WindowFrame:
        self.last_design = SampleDesign(design.records_per_day, design.rates, len(result))
        logger.info("lake read (%s): %s", self.engine.name, self.last_design.to_json())
        pairs = [(name, column.name) for name, column in features]
        return from_lake(result, pairs, labelled=labelled, records=design.records, options=options, keys=keys)


def is_feature_column(name: str) -> bool:
    """Whether a table column holds a feature."""
    return name.startswith(FEATURE_COLUMN_PREFIX)


@dataclass(frozen=True, slots=True)
class StaticFeatureCatalog:
    """Feature columns given up front (the bench, a lake on disk without a catalog)."""

    columns: tuple[tuple[str, Column], ...]

    def feature_columns(self) -> Sequence[tuple[str, Column]]:
        """The given columns."""
        return self.columns


@dataclass(frozen=True, slots=True)
class GlueFeatureCatalog:
    """The predictions table's feature columns from the Glue catalog: a column's comment is its feature's name."""

    glue: Any  # mypy_boto3_glue.GlueClient
    database: str

    def feature_columns(self) -> Sequence[tuple[str, Column]]:
        """Every typed feature column of the predictions table, in table order."""
        table = self.glue.get_table(DatabaseName=self.database, Name=LakeTable.PREDICTIONS.value)["Table"]
        return tuple(
            (column.get("Comment") or column["Name"], Column(column["Name"], column["Type"], column.get("Comment", "")))
            for column in table["StorageDescriptor"]["Columns"]
            if is_feature_column(column["Name"])
        )


def open_lake(settings: LakeSettings, session: boto3.Session) -> LakeWindows:
    """The lake's windows on the configured engine: Athena in its workgroup, or DuckDB over the payload bucket."""
    engine: LakeEngine
    if settings.engine == "athena":
        engine = AthenaEngine(settings.database, settings.workgroup, session)
    else:
        engine = DuckDBEngine(S3LakeFiles(settings.bucket, session), session)
    return LakeWindows(engine, GlueFeatureCatalog(session.client("glue"), settings.database), settings.sample_rows)
