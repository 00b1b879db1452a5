"""Result records of the drift suite: frozen dataclasses that serialise to JSON and back.

Every verdict carries the numbers it was decided on: the test, its statistic and p-value, the p-value adjusted
for multiple testing with the correction named, the significance level, the effect size with its floor, and the
sample sizes on both sides. Floats that are undefined (a test that did not run) are `None`, never NaN, so the
JSON is strict.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

_T = TypeVar("_T")


class Verdict(StrEnum):
    """The outcome of one drift check."""

    DRIFT = "drift"
    NO_DRIFT = "no_drift"
    INSUFFICIENT_DATA = "insufficient_data"


class PerformanceVerdict(StrEnum):
    """The outcome of one performance comparison against the champion's baseline."""

    DECAY = "decay"
    NO_DECAY = "no_decay"
    INSUFFICIENT_DATA = "insufficient_data"
    NO_BASELINE = "no_baseline"


class Correction(StrEnum):
    """Multiple-testing correction applied across the tests of one run."""

    BENJAMINI_HOCHBERG = "benjamini_hochberg"
    BONFERRONI = "bonferroni"
    NONE = "none"


class FeatureKind(StrEnum):
    """How a feature is analysed."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


def decode_value(annotation: Any, value: Any) -> Any:
    """Turn JSON data back into the typed value `annotation` describes (dataclasses, enums, tuples, dicts)."""
    origin = get_origin(annotation)
    decoded: Any = value
    if value is None:
        decoded = None
    elif origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        decoded = decode_value(inner, value)
    elif origin is tuple:
        decoded = tuple(decode_value(get_args(annotation)[0], item) for item in value)
    elif origin in (dict, Mapping):
        value_type = get_args(annotation)[1]
        decoded = {str(key): decode_value(value_type, item) for key, item in value.items()}
    elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        decoded = from_dict(annotation, value)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        decoded = annotation(value)
    elif annotation is float:
        decoded = float(value)
    return decoded


def from_dict(cls: type[_T], document: Mapping[str, Any]) -> _T:
    """Rebuild a result dataclass (and everything nested in it) from its `to_dict()` form."""
    hints = get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    # A field with a default may be absent from a document written before it existed.
    names = [item.name for item in fields if item.name in document or item.default is dataclasses.MISSING]
    return cls(**{name: decode_value(hints[name], document[name]) for name in names})


def to_dict(record: Any) -> dict[str, Any]:
    """A result dataclass as plain JSON-compatible data (enums become their string values)."""
    document: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(record), allow_nan=False))
    return document


class _Serialisable:
    """JSON round trip shared by the result records."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-compatible data."""
        return to_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        """The record as strict JSON (no NaN)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls: type[_T], document: Mapping[str, Any]) -> _T:
        """Rebuild the record from `to_dict()` output."""
        return from_dict(cls, document)

    @classmethod
    def from_json(cls: type[_T], text: str) -> _T:
        """Rebuild the record from `to_json()` output."""
        return from_dict(cls, json.loads(text))


def finite_or_none(value: float | None) -> float | None:
    """`None` for undefined numbers, so results never hold NaN or infinity."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class CheckResult(_Serialisable):
    """One statistical check: a test for a difference *and* an effect size, both needed for drift.

    `drift` is true only when `p_value_adjusted <= alpha` and `effect_size >= effect_size_threshold`;
    `verdict` is `insufficient_data` (and `drift` false) when either side had fewer rows than the minimum.
    `reference_value`/`current_value` hold the compared quantity where one exists (a missing rate, a share,
    a positive rate, a mean).
    """

    check: str
    test: str
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    correction: Correction
    alpha: float
    effect_size_name: str
    effect_size: float | None
    effect_size_threshold: float
    n_reference: int
    n_current: int
    min_samples: int
    reference_value: float | None
    current_value: float | None
    verdict: Verdict
    drift: bool


@dataclass(frozen=True, slots=True)
class Histogram(_Serialisable):
    """Reference and current shares per bin (numeric) or per category (categorical), for the report."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class FeatureDrift(_Serialisable):
    """Drift of one feature: its distribution, its missing rate and (categorical) its unseen categories.

    `drift` is true when any of the checks drifts; `verdict` is `drift` then, `insufficient_data` when the
    distribution check lacked data and nothing drifted, else `no_drift`. `secondary_effects` holds effect
    sizes reported for information only (e.g. PSI of a numeric feature).
    """

    name: str
    kind: FeatureKind
    drift: bool
    verdict: Verdict
    distribution: CheckResult
    missing_rate: CheckResult
    unseen_categories: CheckResult | None
    unseen_examples: tuple[str, ...]
    secondary_effects: dict[str, float]
    histogram: Histogram


@dataclass(frozen=True, slots=True)
class PredictionDrift(_Serialisable):
    """Drift of the model's output: the score distribution and the predicted positive rate."""

    drift: bool
    verdict: Verdict
    decision_threshold: float
    score_distribution: CheckResult
    positive_rate: CheckResult
    histogram: Histogram


@dataclass(frozen=True, slots=True)
class FeatureImportance(_Serialisable):
    """How much one feature separates reference from current (mean held-out AUC drop when it is permuted)."""

    name: str
    importance: float


@dataclass(frozen=True, slots=True)
class DomainClassifierResult(_Serialisable):
    """Multivariate drift: can a classifier tell reference rows from current rows?

    `auc` is the mean held-out AUC over stratified folds; `statistic` is its z-score against 0.5 under the
    Mann–Whitney null; drift when `p_value_adjusted <= alpha` and `auc >= auc_threshold`.
    `top_features` is empty unless the AUC reached its floor (importances of a chance-level model are noise).
    """

    test: str
    model: str
    auc: float | None
    auc_folds: tuple[float, ...]
    statistic: float | None
    p_value: float | None
    p_value_adjusted: float | None
    correction: Correction
    alpha: float
    auc_threshold: float
    n_reference: int
    n_current: int
    n_folds: int
    min_samples: int
    top_features: tuple[FeatureImportance, ...]
    verdict: Verdict
    drift: bool


@dataclass(frozen=True, slots=True)
class MetricComparison(_Serialisable):
    """One performance metric on matured labels, with a bootstrap interval, against the champion's baseline.

    `difference` = current − baseline. For a higher-is-better metric, decay when the interval's upper end is
    below −margin; for a lower-is-better one, when its lower end is above +margin.
    """

    name: str
    higher_is_better: bool
    value: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: float | None
    difference: float | None
    difference_ci_low: float | None
    difference_ci_high: float | None
    margin: float
    verdict: PerformanceVerdict
    decay: bool


@dataclass(frozen=True, slots=True)
class PerformanceResult(_Serialisable):
    """Performance on matured labels; `decay` is true when any metric decays."""

    decay: bool
    verdict: PerformanceVerdict
    n_labels: int
    n_positive: int
    min_labels: int
    min_per_class: int
    confidence_level: float
    n_bootstrap: int
    metrics: tuple[MetricComparison, ...]


class ImpactVerdict(StrEnum):
    """What a drift is estimated to cost the model (`batch_jobs.drift.impact`)."""

    IMPACTFUL = "impactful"
    HARMLESS = "harmless"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FeatureImpact(_Serialisable):
    """One feature's measured shift, the floor it was judged against and what the sensitivity profile says the shift
    would cost in AUC were the feature's relation to the outcome not to move with it (labels held fixed)."""

    name: str
    effect_size_name: str
    effect_size: float | None
    floor: float
    drift: bool
    auc_cost: float | None


@dataclass(frozen=True, slots=True)
class ImpactResult(_Serialisable):
    """A drift verdict's estimated impact: the drop of the champion's expected AUC (estimated from calibrated scores,
    no labels) from its reference to the current window, with its one-sided upper bound, judged against `margin`.

    `verdict` is `harmless` when the upper bound is below the margin, `impactful` otherwise, `unknown` when the
    model carries no calibrator. `assumption` states what the estimate assumes; `estimate` is the window's expected
    AUC, log loss and positive rate with their intervals (`batch_jobs.drift.estimate.EstimatedPerformance`).
    """

    verdict: ImpactVerdict
    metric: str
    margin: float
    confidence_level: float
    reference_expected: float | None
    current_expected: float | None
    drop: float | None
    drop_upper: float | None
    n_current: int
    assumption: str
    estimate: dict[str, Any] | None
    features: tuple[FeatureImpact, ...]
    #: The champion's sensitivity profile (`batch_jobs.drift.sensitivity.SensitivityProfile.to_json`), for reports.
    sensitivity: dict[str, Any] | None = None

    @property
    def impactful(self) -> bool | None:
        """True or False once judged; None when impact could not be estimated."""
        return None if self.verdict is ImpactVerdict.UNKNOWN else self.verdict is ImpactVerdict.IMPACTFUL


@dataclass(frozen=True, slots=True)
class DriftResult(_Serialisable):
    """Everything one run of the suite found.

    `dataset_drift` is true when any feature, the prediction or the joint distribution drifts. Performance
    decay is reported on its own (`performance_decay`, `None` without labels) because it needs labels.
    """

    dataset_drift: bool
    drifted_features: tuple[str, ...]
    n_features: int
    n_reference: int
    n_current: int
    alpha: float
    correction: Correction
    n_tests: int
    features: tuple[FeatureDrift, ...]
    prediction: PredictionDrift | None
    multivariate: DomainClassifierResult | None
    performance: PerformanceResult | None
    performance_decay: bool | None
    config: dict[str, Any]
    impact: ImpactResult | None = None
