"""The reference profile: what the drift suite remembers about the training data.

Built once at training time by `ReferenceProfiler.fit` and stored beside the model as ``reference.parquet``:
the Parquet file holds the bounded random sample (for two-sample tests and the domain classifier) and its schema
metadata holds everything else as JSON under the key ``autoretrain.profile``: per feature its kind
(numeric/categorical, inferred or from an explicit schema), the family of its raw values, missing count,
moments, range, quantiles, equal-frequency bin edges and counts (PSI), an equal-width histogram (the report),
category counts; the prediction score's profile and predicted positive count, the target's positive rate and
the champion's holdout metrics.

Missing means null or, for numbers, non-finite. Category values are compared by their text (`str(value)`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from batch_jobs.drift._stats import FloatArray, bin_counts_sorted, scaled_mean, scaled_std
from batch_jobs.drift.results import FeatureKind, decode_value, to_dict

#: Schema-metadata key of the profile's JSON inside ``reference.parquet``.
METADATA_KEY = b"autoretrain.profile"
#: Column of the sample that holds the prediction score (features may not use this name).
SCORE_COLUMN = "__autoretrain_score__"
#: Quantile levels stored per numeric feature.
QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
PROFILE_VERSION = 1


class ValueFamily(StrEnum):
    """What the raw values of a column are; two files disagree on a column when its families differ."""

    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    STRING = "string"


_OBJECT_FAMILIES = {
    "boolean": ValueFamily.BOOLEAN,
    "integer": ValueFamily.NUMERIC,
    "floating": ValueFamily.NUMERIC,
    "mixed-integer-float": ValueFamily.NUMERIC,
    "decimal": ValueFamily.NUMERIC,
}


def value_family(series: pd.Series[Any]) -> ValueFamily:
    """The family of a column's values; raises ValueError for types the suite cannot compare (dates, …)."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return ValueFamily.BOOLEAN
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        return ValueFamily.NUMERIC
    if ptypes.is_object_dtype(dtype):
        return _OBJECT_FAMILIES.get(ptypes.infer_dtype(series, skipna=True), ValueFamily.STRING)
    if ptypes.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return ValueFamily.STRING
    raise ValueError(f"column {series.name!r} has unsupported type {dtype}")


def numeric_values(series: pd.Series[Any]) -> FloatArray:
    """The column as float64 with NaN for missing and non-finite values (no copy for a clean float column)."""
    if ptypes.is_object_dtype(series.dtype):
        series = pd.to_numeric(series, errors="coerce")
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiub":
        values = np.asarray(series, dtype=np.float64)
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all():
        values = np.where(np.isfinite(values), values, np.nan)
    return values


def category_counts(series: pd.Series[Any]) -> pd.Series[int]:
    """Counts of the non-missing values of a column keyed by their text, most frequent first (ties by text)."""
    counts = series.value_counts(dropna=True, sort=False)
    keys = pd.Index([str(key) for key in counts.index], dtype=object)
    merged = pd.Series(counts.to_numpy(dtype=np.int64), index=keys).groupby(level=0).sum()
    # Sorted by text (groupby did it), then stably by count: no fixed-width copy of the texts, which one very long
    # category would blow up to (categories × its length × 4) bytes.
    return merged.sort_values(ascending=False, kind="stable")


def sorted_quantiles(sorted_values: FloatArray, levels: tuple[float, ...] | FloatArray) -> FloatArray:
    """Linear-interpolation quantiles (numpy's default method) of an already sorted sample."""
    position = np.asarray(levels, dtype=np.float64) * (sorted_values.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, sorted_values.size - 1)
    fraction = position - low
    below, above = sorted_values[low], sorted_values[high]
    with np.errstate(over="ignore", invalid="ignore"):
        result: FloatArray = below + fraction * (above - below)
    overflowed = ~np.isfinite(result)
    if overflowed.any():  # a gap wider than the double range (-1e308 to 1e308): interpolate without the difference
        f = fraction[overflowed]
        result[overflowed] = below[overflowed] * (1.0 - f) + above[overflowed] * f
    return result


def _linspace(low: float, high: float, num: int) -> FloatArray:
    """`np.linspace(low, high, num)`, also where `high - low` overflows (from -1e308 to 1e308)."""
    with np.errstate(over="ignore", invalid="ignore"):
        edges: FloatArray = np.linspace(low, high, num)
    if np.isfinite(edges).all():
        return edges
    t = np.linspace(0.0, 1.0, num)
    return np.asarray(low * (1.0 - t) + high * t, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class NumericSummary:
    """Distribution of a numeric column's non-missing values.

    `bin_edges` are the distinct inner edges of equal-frequency bins (PSI); `bin_counts` counts the bins
    (-inf, e₁], …, (e_k, inf). `hist_edges`/`hist_counts` do the same with equal-width inner edges between the
    1st and 99th percentiles (the report's histograms), so the two tail bins are open.
    """

    mean: float
    std: float
    minimum: float
    maximum: float
    quantiles: tuple[float, ...]
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    hist_edges: tuple[float, ...]
    hist_counts: tuple[int, ...]

    @classmethod
    def from_sorted(cls, values: FloatArray, n_bins: int, hist_bins: int) -> NumericSummary:
        """Summarise a sorted, finite, non-empty sample."""
        quantiles = sorted_quantiles(values, QUANTILE_LEVELS)
        edges = np.unique(sorted_quantiles(values, np.arange(1, n_bins) / n_bins))
        low, high = quantiles[1], quantiles[-2]
        hist_edges = np.unique(_linspace(low, high, hist_bins - 1)) if high > low else np.array([low])
        return cls(
            mean=scaled_mean(values),
            std=scaled_std(values, ddof=1),
            minimum=float(values[0]),
            maximum=float(values[-1]),
            quantiles=tuple(float(q) for q in quantiles),
            bin_edges=tuple(float(e) for e in edges),
            bin_counts=tuple(int(c) for c in bin_counts_sorted(values, edges)),
            hist_edges=tuple(float(e) for e in hist_edges),
            hist_counts=tuple(int(c) for c in bin_counts_sorted(values, hist_edges)),
        )


@dataclass(frozen=True, slots=True)
class FeatureProfile:
    """One column of the reference data.

    Numeric features have `numeric` (None when every value is missing). Categorical features list their most
    frequent `categories` with `category_counts`; `other_count` counts the non-missing rows whose category was
    not stored (more than `max_categories` distinct values) — then unseen categories cannot be told apart from
    rare ones and are not tested.
    """

    name: str
    kind: FeatureKind
    family: ValueFamily
    n_rows: int
    n_missing: int
    numeric: NumericSummary | None
    categories: tuple[str, ...]
    category_counts: tuple[int, ...]
    other_count: int

    @property
    def n_valid(self) -> int:
        """Rows with a value."""
        return self.n_rows - self.n_missing

    @property
    def missing_rate(self) -> float:
        """Share of rows without a value."""
        return self.n_missing / self.n_rows if self.n_rows else 0.0


def profile_numeric(name: str, values: FloatArray, family: ValueFamily, n_bins: int, hist_bins: int) -> FeatureProfile:
    """Profile a numeric column given as float64 with NaN for missing."""
    finite = np.sort(values[~np.isnan(values)])
    summary = NumericSummary.from_sorted(finite, n_bins, hist_bins) if finite.size else None
    return FeatureProfile(
        name=name,
        kind=FeatureKind.NUMERIC,
        family=family,
        n_rows=int(values.size),
        n_missing=int(values.size - finite.size),
        numeric=summary,
        categories=(),
        category_counts=(),
        other_count=0,
    )


def profile_categorical(series: pd.Series[Any], family: ValueFamily, max_categories: int) -> FeatureProfile:
    """Profile a categorical column."""
    counts = category_counts(series)
    kept = counts.iloc[:max_categories]
    n_valid = int(counts.sum())
    return FeatureProfile(
        name=str(series.name),
        kind=FeatureKind.CATEGORICAL,
        family=family,
        n_rows=len(series),
        n_missing=len(series) - n_valid,
        numeric=None,
        categories=tuple(str(key) for key in kept.index),
        category_counts=tuple(int(c) for c in kept.to_numpy()),
        other_count=n_valid - int(kept.sum()),
    )


def _normalised_sample(frame: pd.DataFrame, features: tuple[FeatureProfile, ...], rows: Any) -> pd.DataFrame:
    """The sampled rows with numeric columns as float64 (NaN missing) and categorical ones as text."""
    columns: dict[str, Any] = {}
    for feature in features:
        column = frame[feature.name].iloc[rows]
        if feature.kind is FeatureKind.NUMERIC:
            columns[feature.name] = numeric_values(column)
        else:
            text = column.map(str, na_action="ignore").astype("str")
            columns[feature.name] = text.to_numpy(dtype=object)
    sample = pd.DataFrame(columns)
    for feature in features:
        if feature.kind is FeatureKind.CATEGORICAL:
            sample[feature.name] = sample[feature.name].astype("str")
    return sample


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    """The reference side of every drift check (see the module docstring). Build it with `ReferenceProfiler`.

    `sample` holds up to `sample_size` rows of the features (and the score in `SCORE_COLUMN` when scores were
    given), drawn uniformly without replacement with `random_state`.
    """

    features: tuple[FeatureProfile, ...]
    n_rows: int
    score: FeatureProfile | None
    decision_threshold: float
    positive_count: int | None
    target_rate: float | None
    holdout_metrics: dict[str, float]
    sample_size: int
    random_state: int
    version: int
    sample: pd.DataFrame = field(compare=False, repr=False)
    #: What impact is judged with (`batch_jobs.drift.impact.ImpactBasis.to_json`): the score calibrator, the
    #: reference's expected performance and the sensitivity profile, computed at training time; None for a profile
    #: built without them (drift is then judged without impact, as before).
    impact_basis: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the profiled features, in column order."""
        return tuple(feature.name for feature in self.features)

    def metadata(self) -> dict[str, Any]:
        """Everything but the sample, as JSON-compatible data."""
        return {item.name: to_dict_value(getattr(self, item.name)) for item in _metadata_fields()}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], sample: pd.DataFrame) -> ReferenceProfile:
        """Rebuild a profile from `metadata()` output and its sample."""
        version = metadata.get("version")
        if version != PROFILE_VERSION:
            raise ValueError(f"unsupported reference profile version {version!r} (expected {PROFILE_VERSION})")
        hints = _metadata_hints()
        values = {
            item.name: decode_value(hints[item.name], metadata[item.name])
            for item in _metadata_fields()
            if item.name in metadata or item.default is dataclasses.MISSING
        }
        return cls(**values, sample=sample)

    def to_parquet(self, target: str | os.PathLike[str] | IO[bytes]) -> None:
        """Write the sample as Parquet with the rest of the profile in the schema metadata."""
        table = pa.Table.from_pandas(self.sample, preserve_index=False)
        metadata = dict(table.schema.metadata or {})
        metadata[METADATA_KEY] = json.dumps(self.metadata(), allow_nan=False).encode()
        pq.write_table(table.replace_schema_metadata(metadata), target)

    @classmethod
    def from_parquet(cls, source: str | os.PathLike[str] | IO[bytes]) -> ReferenceProfile:
        """Read a profile written by `to_parquet`; raises ValueError when the file holds no profile."""
        table = pq.read_table(source)
        metadata = table.schema.metadata or {}
        if METADATA_KEY not in metadata:
            raise ValueError("the Parquet file holds no autoretrain reference profile")
        return cls.from_metadata(json.loads(metadata[METADATA_KEY]), table.to_pandas())


def to_dict_value(value: Any) -> Any:
    """A field value as JSON-compatible data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple):
        return [to_dict_value(item) for item in value]
    if isinstance(value, dict):
        return {key: to_dict_value(item) for key, item in value.items()}
    return value


def _metadata_fields() -> tuple[dataclasses.Field[Any], ...]:
    return tuple(item for item in dataclasses.fields(ReferenceProfile) if item.name != "sample")


def _metadata_hints() -> dict[str, Any]:
    from typing import get_type_hints  # noqa: PLC0415 - resolved lazily: the annotations are strings

    return get_type_hints(ReferenceProfile)


class ReferenceProfiler:
    """Builds a `ReferenceProfile` from training data (scikit-learn style: hyper-parameters here, `fit` learns).

    Parameters: `n_bins` equal-frequency bins per numeric feature for PSI (10: deciles, the PSI convention);
    `hist_bins` equal-width bins for the report; `sample_size` rows kept for two-sample tests (5,000: the KS
    test's effective size n·m/(n+m) is then within 10 % of 5,000 for any current window above 50,000 rows, and
    the domain classifier uses at most half of it); `max_categories` stored per categorical feature;
    `decision_threshold` on the score that makes a positive prediction; `random_state` seeds the sample.
    Learned: `profile_`.
    """

    def __init__(
        self,
        *,
        n_bins: int = 10,
        hist_bins: int = 20,
        sample_size: int = 5000,
        max_categories: int = 1000,
        decision_threshold: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.n_bins = n_bins
        self.hist_bins = hist_bins
        self.sample_size = sample_size
        self.max_categories = max_categories
        self.decision_threshold = decision_threshold
        self.random_state = random_state

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        scores: pd.Series[Any] | FloatArray | None = None,
        target: pd.Series[Any] | FloatArray | None = None,
        holdout_metrics: Mapping[str, float] | None = None,
        schema: Mapping[str, FeatureKind | str] | None = None,
    ) -> ReferenceProfiler:
        """Profile every column of `frame` (all are features); `scores` and `target` align with its rows."""
        if self.n_bins < 2 or self.hist_bins < 3 or self.sample_size < 1 or self.max_categories < 1:
            raise ValueError("n_bins >= 2, hist_bins >= 3, sample_size >= 1 and max_categories >= 1 are required")
        if len(frame) == 0 or frame.shape[1] == 0:
            raise ValueError("the reference data is empty")
        if SCORE_COLUMN in frame.columns:
            raise ValueError(f"a feature may not be named {SCORE_COLUMN!r}")
        kinds = {str(name): FeatureKind(kind) for name, kind in (schema or {}).items()}
        unknown = sorted(set(kinds) - {str(name) for name in frame.columns})
        if unknown:
            raise ValueError(f"schema names columns that are not in the data: {', '.join(unknown)}")
        features = tuple(self._profile_column(frame[name], kinds.get(str(name))) for name in frame.columns)
        n_rows = len(frame)
        rng = np.random.default_rng(self.random_state)
        rows = np.sort(rng.choice(n_rows, size=min(n_rows, self.sample_size), replace=False))
        sample = _normalised_sample(frame, features, rows)

        score_profile: FeatureProfile | None = None
        positive_count: int | None = None
        if scores is not None:
            score_values = numeric_values(pd.Series(scores, name="prediction")) if len(scores) else np.empty(0)
            if score_values.size != n_rows:
                raise ValueError(f"scores have {score_values.size} rows, the reference data {n_rows}")
            score_profile = profile_numeric(
                "prediction", score_values, ValueFamily.NUMERIC, self.n_bins, self.hist_bins
            )
            positive_count = int(np.sum(score_values >= self.decision_threshold))
            sample[SCORE_COLUMN] = score_values[rows]
        target_rate: float | None = None
        if target is not None:
            labels = binary_labels(target)
            if labels.size != n_rows:
                raise ValueError(f"target has {labels.size} rows, the reference data {n_rows}")
            known = labels[~np.isnan(labels)]
            target_rate = float(known.mean()) if known.size else None

        self.profile_ = ReferenceProfile(
            features=features,
            n_rows=n_rows,
            score=score_profile,
            decision_threshold=self.decision_threshold,
            positive_count=positive_count,
            target_rate=target_rate,
            holdout_metrics={str(k): float(v) for k, v in (holdout_metrics or {}).items()},
            sample_size=self.sample_size,
            random_state=self.random_state,
            version=PROFILE_VERSION,
            sample=sample,
        )
        return self

    def _profile_column(self, series: pd.Series[Any], kind: FeatureKind | None) -> FeatureProfile:
        family = value_family(series)
        if kind is None:
            kind = FeatureKind.NUMERIC if family is ValueFamily.NUMERIC else FeatureKind.CATEGORICAL
        if kind is FeatureKind.NUMERIC:
            if family is not ValueFamily.NUMERIC:
                raise ValueError(f"column {series.name!r} is declared numeric but holds {family} values")
            return profile_numeric(str(series.name), numeric_values(series), family, self.n_bins, self.hist_bins)
        return profile_categorical(series, family, self.max_categories)


def binary_labels(values: pd.Series[Any] | FloatArray) -> FloatArray:
    """Labels as float64 0/1 with NaN where unknown; raises ValueError for anything but 0/1 (or booleans)."""
    labels = numeric_values(pd.Series(values)) if len(values) else np.empty(0)
    known = labels[~np.isnan(labels)]
    if not np.isin(known, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return labels
