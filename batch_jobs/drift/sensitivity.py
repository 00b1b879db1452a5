"""Sensitivity of a model to shifts of its inputs: what a drift of one or two features would cost it, labels held fixed.

The churn case study, made a routine: on a held-out set, each feature is perturbed by a known amount and the
model's AUC, log loss and positive rate are measured again on the *same labels*:

- numeric features: a **shift** by `level` × the feature's standard deviation on the held-out rows, both ways
  (`NUMERIC_LEVELS`, signed: −0.05 is down by 5 % of the sd), and a **rescale** that multiplies the deviations from
  the mean by 1 + level (level −0.5 halves the spread). Missing values stay missing; an integer-valued feature may
  take non-integer values (the model sees numbers it was never shown, as a unit change upstream would give it);
- categorical features: the share of category c rises by `level` (`SHARE_LEVELS`): that share of the feature's
  non-missing rows, drawn at random (seeded) among those not already c, become c, for each of its
  `MAX_CATEGORIES` most frequent categories (the rows moved at a lower level are among those moved at a higher one);
- pairs: the `max_pairs` pairs among the features whose own worst AUC loss is largest, perturbed together: two
  numeric features shifted the same way at each level, a numeric and a categorical feature shifted and moved at the
  levels both have (the categorical one into its most harmful category), two categorical ones both moved.

Each perturbation also gets the **effect size the drift suite would measure** between the unperturbed and the
perturbed column — Wasserstein-1 / sd for numeric features, PSI on the pooled categories for categorical ones —
taken from the suite itself (`UnivariateDrift` on a reference profile of the held-out rows), so the profile
answers "a drift of this measured size costs about this much AUC" (`SensitivityProfile.cost`) and "the feature's
drift starts to matter at this effect size" (`SensitivityProfile.floor`). A pair's effect size is the larger of
its two features'.

Holding the labels fixed is the point and the limit: the numbers say how much the model's ranking and calibration
depend on a feature's *values* (a broken pipeline, a changed unit or meaning), not what a real shift of the
population would do to the outcome — there the labels move with the features.

Cost: one `predict_proba` call per feature (the unperturbed rows and the changed rows of all its perturbed copies
stacked, so the deltas compare scores from the same call; an unchanged row keeps its unperturbed score) and one per
pair, on at most `max_rows` rows (a seeded sample, stratified by label), on one thread by default. For the churn
data's nine features and 5,000 rows that is about 700,000 rows scored in 13 calls.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from batch_jobs import model_spec
from batch_jobs.drift._stats import (
    FloatArray,
    normalised_distance,
    pool_sparse_bins,
    psi,
    scaled_mean,
    scaled_std,
    wasserstein_sorted,
)
from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.profile import ReferenceProfiler, category_counts
from batch_jobs.drift.results import FeatureKind
from batch_jobs.metrics import roc_auc, row_losses
from batch_jobs.training import fitting
from core.features import InputSchema

#: Shift (and rescale) sizes of a numeric feature, as shares of its standard deviation; applied both ways.
NUMERIC_LEVELS: Final = (0.01, 0.05, 0.10, 0.25, 0.50)
#: How much a category's share of a categorical feature's non-missing rows rises.
SHARE_LEVELS: Final = (0.01, 0.05, 0.10, 0.25)
#: A categorical feature's most frequent categories whose share is moved.
MAX_CATEGORIES: Final = 5
#: The levels `SensitivityProfile.table` reports.
TABLE_LEVELS: Final = (0.01, 0.05, 0.10)
SHIFT: Final = "shift"
RESCALE: Final = "rescale"
SHARE_PREFIX: Final = "share:"
#: Joins the parts of a pair's perturbation: part i applies to `features[i]`.
PAIR_JOIN: Final = "+"
BASELINE_METRICS: Final = ("auc", "log_loss", "positive_rate")
FORMAT_VERSION: Final = 1
_POINT_KEYS: Final = frozenset(
    {"features", "perturbation", "level", "effect_size", "delta_auc", "delta_log_loss", "delta_positive_rate"}
)
_PROFILE_KEYS: Final = frozenset({"format_version", "n_rows", "seconds", "baseline", "points"})

ObjectArray = NDArray[np.object_]


class SensitivityFormatError(ValueError):
    """A sensitivity document is malformed."""


def _signed_levels(levels: Sequence[float]) -> tuple[float, ...]:
    return (*(-level for level in reversed(levels)), *levels)


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SensitivityFormatError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _is_single_kind(perturbation: str) -> bool:
    return perturbation in (SHIFT, RESCALE) or (
        perturbation.startswith(SHARE_PREFIX) and len(perturbation) > len(SHARE_PREFIX)
    )


@dataclass(frozen=True, slots=True)
class SensitivityPoint:
    """One perturbation and what it did.

    `perturbation` is `shift`, `rescale` or `share:<category>` for one feature; for a pair, the two features' parts
    joined by `+` (`shift+shift`, `shift+share:<c>`, `share:<a>+share:<b>`; part i applies to `features[i]`).
    `level` is signed for numeric perturbations (−0.05: down by 5 % of the sd, or the spread times 0.95).
    `effect_size` is what the drift suite measures for this perturbation (a pair: the larger of its features');
    the deltas are perturbed − unperturbed on the same rows and labels; the positive rate is the share of rows
    scored at or above the decision threshold.
    """

    features: tuple[str, ...]
    perturbation: str
    level: float
    effect_size: float
    delta_auc: float
    delta_log_loss: float
    delta_positive_rate: float

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.features) <= 2 or len(set(self.features)) != len(self.features):
            problems.append(f"features must be one feature or two distinct ones, got {self.features!r}")
        if not all(isinstance(name, str) and name for name in self.features):
            problems.append("feature names must be non-empty strings")
        if not isinstance(self.perturbation, str) or not self.perturbation:
            problems.append("perturbation must be a non-empty string")
        elif len(self.features) == 1 and not _is_single_kind(self.perturbation):
            problems.append(
                f"a single feature's perturbation is shift, rescale or share:<category>, got {self.perturbation!r}"
            )
        numbers = (self.level, self.effect_size, self.delta_auc, self.delta_log_loss, self.delta_positive_rate)
        if not all(isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n) for n in numbers):
            problems.append("level, effect size and deltas must be finite numbers")
        elif self.effect_size < 0.0:
            problems.append("effect_size must not be negative")
        if problems:
            raise SensitivityFormatError("; ".join(problems))

    @property
    def auc_loss(self) -> float:
        """The AUC lost (−delta_auc), 0 when the perturbation did not lower it."""
        return max(0.0, -self.delta_auc)

    def to_json(self) -> dict[str, Any]:
        """The point as a JSON object."""
        return {
            "features": list(self.features),
            "perturbation": self.perturbation,
            "level": self.level,
            "effect_size": self.effect_size,
            "delta_auc": self.delta_auc,
            "delta_log_loss": self.delta_log_loss,
            "delta_positive_rate": self.delta_positive_rate,
        }

    @classmethod
    def from_json(cls, document: object) -> SensitivityPoint:
        """Parse a point written by `to_json`; raises SensitivityFormatError."""
        if not isinstance(document, dict) or set(document) != _POINT_KEYS:
            keys = sorted(document) if isinstance(document, dict) else type(document).__name__
            raise SensitivityFormatError(f"a point is an object with keys {sorted(_POINT_KEYS)}, got {keys}")
        features = document["features"]
        if not isinstance(features, list) or not all(isinstance(name, str) for name in features):
            raise SensitivityFormatError("a point's features must be a list of strings")
        perturbation = document["perturbation"]
        if not isinstance(perturbation, str):
            raise SensitivityFormatError("a point's perturbation must be a string")
        numbers = {key: _finite(document[key], key) for key in sorted(_POINT_KEYS - {"features", "perturbation"})}
        return cls(features=tuple(features), perturbation=perturbation, **numbers)


@dataclass(frozen=True, slots=True)
class _Envelope:
    """One perturbation kind's AUC loss against effect size: non-decreasing, from (0, 0), flat past the last point."""

    effects: FloatArray
    losses: FloatArray

    @classmethod
    def of(cls, points: Sequence[SensitivityPoint]) -> _Envelope:
        effect = np.array([point.effect_size for point in points], dtype=np.float64)
        loss = np.array([point.auc_loss for point in points], dtype=np.float64)
        order = np.argsort(effect, kind="stable")
        effect, loss = effect[order], np.maximum.accumulate(loss[order])
        # Of equal effect sizes the last holds the running maximum; an effect of 0 means nothing moved (loss 0).
        keep = np.append(effect[1:] != effect[:-1], True) & (effect > 0.0)
        return cls(np.concatenate(([0.0], effect[keep])), np.concatenate(([0.0], loss[keep])))

    def cost(self, effect_size: float) -> float:
        return float(np.interp(effect_size, self.effects, self.losses))

    def reach(self, margin: float) -> float | None:
        """The smallest effect size whose cost is at least `margin` (> 0); None when the envelope stays below."""
        if self.losses[-1] < margin:
            return None
        i = int(np.argmax(self.losses >= margin))
        low_x, high_x, low_y, high_y = self.effects[i - 1], self.effects[i], self.losses[i - 1], self.losses[i]
        return float(low_x + (margin - low_y) * (high_x - low_x) / (high_y - low_y))


@dataclass(frozen=True, slots=True)
class SensitivityProfile:
    """What perturbing each feature (and a few pairs) did to a model on `n_rows` held-out rows.

    `baseline` holds the unperturbed `auc`, `log_loss` and `positive_rate`; `seconds` is the wall time it took to
    compute. `points` lists single-feature points feature by feature, then the pairs'.
    """

    n_rows: int
    seconds: float
    baseline: dict[str, float]
    points: tuple[SensitivityPoint, ...]

    def __post_init__(self) -> None:
        if isinstance(self.n_rows, bool) or not isinstance(self.n_rows, int) or self.n_rows < 1:
            raise SensitivityFormatError(f"n_rows must be a positive integer, got {self.n_rows!r}")
        if _finite(self.seconds, "seconds") < 0.0:
            raise SensitivityFormatError("seconds must not be negative")
        if not isinstance(self.baseline, dict) or set(self.baseline) != set(BASELINE_METRICS):
            raise SensitivityFormatError(f"baseline must hold exactly {list(BASELINE_METRICS)}")
        for name, value in self.baseline.items():
            _finite(value, f"baseline {name}")

    def features(self) -> tuple[str, ...]:
        """The features with single-feature points, in the order they were profiled."""
        return tuple(dict.fromkeys(point.features[0] for point in self.points if len(point.features) == 1))

    def _single(self, feature: str) -> list[SensitivityPoint]:
        return [point for point in self.points if point.features == (feature,)]

    def _envelopes(self, feature: str) -> list[_Envelope]:
        kinds: dict[str, list[SensitivityPoint]] = {}
        for point in self._single(feature):
            kinds.setdefault(point.perturbation, []).append(point)
        return [_Envelope.of(points) for points in kinds.values()]

    def cost(self, feature: str, effect_size: float) -> float | None:
        """The worst AUC loss the profile predicts for a drift of `feature` measuring `effect_size`; None if the
        feature was not profiled.

        Per perturbation kind (shift, rescale, each category's share) the losses (−delta_auc, at least 0) are made a
        non-decreasing envelope of the effect size (the largest loss at or below it), starting from 0 at effect 0 and
        interpolated linearly between the measured levels; **beyond the largest level the cost stays flat** at the
        envelope's maximum (the profile does not extrapolate). The cost is the largest over the kinds.
        """
        if not math.isfinite(effect_size) or effect_size < 0.0:
            raise ValueError(f"effect_size must be finite and non-negative, got {effect_size}")
        envelopes = self._envelopes(feature)
        if not envelopes:
            return None
        return max(envelope.cost(effect_size) for envelope in envelopes)

    def floor(self, feature: str, margin: float) -> float | None:
        """The smallest effect size at which `cost(feature, ·)` reaches `margin` AUC (0 for a margin of 0); None when
        the feature was not profiled or no profiled level costs that much (the model does not lean on it so)."""
        if not math.isfinite(margin) or margin < 0.0:
            raise ValueError(f"margin must be finite and non-negative, got {margin}")
        envelopes = self._envelopes(feature)
        if not envelopes:
            return None
        if margin == 0.0:
            return 0.0
        reached = [effect for envelope in envelopes if (effect := envelope.reach(margin)) is not None]
        return min(reached) if reached else None

    def worst_pairs(self) -> dict[tuple[str, ...], SensitivityPoint]:
        """Each profiled pair's most harmful perturbation (the first of equal losses), in profile order."""
        pairs: dict[tuple[str, ...], SensitivityPoint] = {}
        for point in self.points:
            if len(point.features) == 2 and (
                point.features not in pairs or point.auc_loss > pairs[point.features].auc_loss
            ):
                pairs[point.features] = point
        return pairs

    def table(self) -> list[dict[str, Any]]:
        """One row per feature, the most harmful first: its kind, its largest AUC loss at the 1 %, 5 % and 10 %
        levels (`auc_loss_at_0.01`, …; numeric levels taken both ways) and the perturbation and signed level of
        its largest loss at any level."""
        rows = []
        for feature in self.features():
            points = self._single(feature)
            row: dict[str, Any] = {
                "feature": feature,
                "kind": "categorical" if points[0].perturbation.startswith(SHARE_PREFIX) else "numeric",
            }
            for level in TABLE_LEVELS:
                at_level = [point.auc_loss for point in points if math.isclose(abs(point.level), level)]
                row[f"auc_loss_at_{level:g}"] = max(at_level, default=0.0)
            worst = max(points, key=lambda point: point.auc_loss)
            row["max_auc_loss"] = worst.auc_loss
            row["worst_perturbation"] = worst.perturbation
            row["worst_level"] = worst.level
            rows.append(row)
        key = f"auc_loss_at_{TABLE_LEVELS[-1]:g}"
        return sorted(rows, key=lambda row: (-row[key], -row["max_auc_loss"]))

    def to_json(self) -> dict[str, Any]:
        """The profile as a JSON object (`from_json` reads it back)."""
        return {
            "format_version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "seconds": self.seconds,
            "baseline": dict(self.baseline),
            "points": [point.to_json() for point in self.points],
        }

    @classmethod
    def from_json(cls, document: object) -> SensitivityProfile:
        """Parse a profile written by `to_json`; raises SensitivityFormatError (a ValueError) on anything else."""
        if not isinstance(document, dict):
            raise SensitivityFormatError(f"a sensitivity profile is a JSON object, got {type(document).__name__}")
        if document.get("format_version") != FORMAT_VERSION:
            raise SensitivityFormatError(
                f"unknown sensitivity format version {document.get('format_version')!r} (expected {FORMAT_VERSION})"
            )
        if set(document) != _PROFILE_KEYS:
            missing, unknown = sorted(_PROFILE_KEYS - set(document)), sorted(set(document) - _PROFILE_KEYS)
            raise SensitivityFormatError(f"sensitivity profile keys: missing {missing}, unknown {unknown}")
        baseline, points = document["baseline"], document["points"]
        if not isinstance(baseline, dict):
            raise SensitivityFormatError("baseline must be an object")
        if not isinstance(points, list):
            raise SensitivityFormatError("points must be a list")
        return cls(
            n_rows=document["n_rows"],
            seconds=_finite(document["seconds"], "seconds"),
            baseline={str(name): _finite(value, f"baseline {name}") for name, value in baseline.items()},
            points=tuple(SensitivityPoint.from_json(point) for point in points),
        )


# --- computing a profile ------------------------------------------------------------------------------------------

#: The drift suite's categorical bins: its reference profile stores this many categories (the most frequent) and
#: pools the rest into one; sparse bins are then pooled to an expected count of `min_expected_count`.
SUITE_MAX_CATEGORIES: Final = ReferenceProfiler().max_categories
SUITE_MIN_EXPECTED_COUNT: Final = DriftConfig().min_expected_count


@dataclass(frozen=True, slots=True)
class _Perturbed:
    """A feature's perturbed columns (one row per perturbation), the cells that differ from the unperturbed column,
    what each perturbation is, and the effect size the drift suite measures for it."""

    name: str
    kind: FeatureKind
    values: NDArray[Any]
    changed: NDArray[np.bool_]
    labels: tuple[tuple[str, float], ...]
    effects: FloatArray

    def row(self, perturbation: str, level: float) -> int:
        return self.labels.index((perturbation, level))


def _stratified_rows(labels: NDArray[np.int64], max_rows: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """All rows, or `max_rows` of them drawn without replacement with each class's share kept (at least one each)."""
    n = labels.size
    if n <= max_rows:
        return np.arange(n)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_positive = min(max(1, round(max_rows * positives.size / n)), max_rows - 1)
    chosen = np.concatenate(
        (rng.choice(positives, n_positive, replace=False), rng.choice(negatives, max_rows - n_positive, replace=False))
    )
    return np.sort(chosen)


def _numeric_perturbations(original: FloatArray) -> _Perturbed | None:
    """Shifted and rescaled copies of a column (NaN missing) and their effect sizes as the suite measures a numeric
    feature: Wasserstein-1 between the sorted samples over the reference sd (`UnivariateDrift`'s `_distribution`).
    None without two distinct values to scale by."""
    reference = np.sort(original[~np.isnan(original)])
    sd = scaled_std(reference, ddof=1)  # the reference profile's std (`NumericSummary.from_sorted`)
    if reference.size < 2 or not 0.0 < sd < math.inf:
        return None
    mean = scaled_mean(reference)
    levels = np.array(_signed_levels(NUMERIC_LEVELS))
    with np.errstate(over="ignore", invalid="ignore"):  # values near ±1.8e308 overflow to inf: missing to the model
        values = np.concatenate(
            (
                original[None, :] + (levels * sd)[:, None],
                mean + (original - mean)[None, :] * (1.0 + levels)[:, None],
            )
        )
    effects = np.empty(values.shape[0])
    for index, row in enumerate(values):  # one distance per perturbation
        current = np.sort(row[np.isfinite(row)])
        effects[index] = normalised_distance(wasserstein_sorted(reference, current), sd)
    labels = tuple((kind, float(level)) for kind in (SHIFT, RESCALE) for level in levels)
    changed = (values != original[None, :]) & ~np.isnan(original)[None, :]
    return _Perturbed("", FeatureKind.NUMERIC, values, changed, labels, effects)


def _categorical_perturbations(original: ObjectArray, rng: np.random.Generator) -> _Perturbed | None:
    """Copies of a column (text, NaN missing) with the share of each top category raised by each share level, and
    their effect sizes as the suite measures a categorical feature: PSI on the category counts (beyond its stored
    categories pooled into one bin), sparse bins pooled (`UnivariateDrift`'s `_categorical_feature`). None with
    fewer than two categories."""
    counts = category_counts(pd.Series(original))
    if counts.size < 2:
        return None
    categories = counts.index.to_numpy(dtype=object)
    codes = pd.Index(categories).get_indexer(original)  # by frequency, as the suite orders them; -1: missing
    valid = codes >= 0
    n_valid = int(valid.sum())
    top = range(min(MAX_CATEGORIES, categories.size))
    moved_codes = np.tile(codes, (len(top) * len(SHARE_LEVELS), 1))
    labels = []
    for index in top:  # a loop over categories and levels, not rows
        order = rng.permutation(np.flatnonzero(valid & (codes != index)))
        for offset, level in enumerate(SHARE_LEVELS):
            moved_codes[index * len(SHARE_LEVELS) + offset, order[: min(round(level * n_valid), order.size)]] = index
            labels.append((f"{SHARE_PREFIX}{categories[index]}", level))
    values = np.where(moved_codes >= 0, categories[np.maximum(moved_codes, 0)], np.nan)
    n_bins = min(categories.size, SUITE_MAX_CATEGORIES + 1)
    bins = np.minimum(moved_codes, SUITE_MAX_CATEGORIES)
    reference = np.bincount(np.minimum(codes[valid], SUITE_MAX_CATEGORIES), minlength=n_bins)
    offsets = (np.arange(bins.shape[0]) * n_bins)[:, None]
    current = np.bincount((bins + offsets)[:, valid].ravel(), minlength=bins.shape[0] * n_bins).reshape(-1, n_bins)
    effects = np.array(
        [psi(*pool_sparse_bins(reference, row, SUITE_MIN_EXPECTED_COUNT)) for row in current]  # per perturbation
    )
    changed = moved_codes != codes[None, :]
    return _Perturbed("", FeatureKind.CATEGORICAL, values, changed, tuple(labels), effects)


def _perturb(base: pd.DataFrame, name: str, kind: FeatureKind, rng: np.random.Generator) -> _Perturbed | None:
    if kind is FeatureKind.NUMERIC:
        made = _numeric_perturbations(base[name].to_numpy(dtype=np.float64))
    else:
        made = _categorical_perturbations(base[name].to_numpy(dtype=object, na_value=np.nan), rng)
    return None if made is None else dataclasses.replace(made, name=name)


def _scores(
    model: Any,
    base: pd.DataFrame,
    schema: InputSchema,
    replacements: Mapping[str, NDArray[Any]],
    changed: NDArray[np.bool_],
) -> FloatArray:
    """Scores of the unperturbed rows (row 0) and of one copy per row of the replacement matrices (which replace
    their columns together), from one `predict_proba` call on the unperturbed rows and the changed cells' rows only:
    an unchanged row keeps its unperturbed score (a fitted model scores each row on its own)."""
    n = len(base)
    copy, row = np.nonzero(changed)
    stacked = base.iloc[np.concatenate((np.arange(n), row))].reset_index(drop=True)
    for name, values in replacements.items():
        original = base[name].to_numpy(dtype=values.dtype, na_value=np.nan)
        stacked[name] = np.concatenate((original, values[copy, row]))
    flat = fitting.score(model, stacked, schema)
    if not np.isfinite(flat).all():
        raise ValueError("the model returned scores that are not finite numbers")
    scores = np.tile(flat[:n], (1 + changed.shape[0], 1))
    scores[1 + copy, row] = flat[n:]
    return scores


def _metrics(scores: FloatArray, labels: NDArray[np.int64], threshold: float) -> dict[str, FloatArray]:
    """AUC, log loss and positive rate of each row of `scores` (copies × rows) on the same labels."""
    return {
        "auc": np.array([roc_auc(labels, row) for row in scores]),  # one sort per copy
        "log_loss": row_losses("log_loss", labels[None, :], scores).mean(axis=1),
        "positive_rate": (scores >= threshold).mean(axis=1),
    }


def _points(
    features: tuple[str, ...],
    perturbations: Sequence[tuple[str, float]],
    effects: FloatArray,
    metrics: Mapping[str, FloatArray],
) -> list[SensitivityPoint]:
    """Points of copies 1… against copy 0 (the unperturbed rows scored in the same call)."""
    deltas = {name: values[1:] - values[0] for name, values in metrics.items()}
    return [
        SensitivityPoint(
            features=features,
            perturbation=perturbation,
            level=float(level),
            effect_size=float(effects[index]),
            delta_auc=float(deltas["auc"][index]),
            delta_log_loss=float(deltas["log_loss"][index]),
            delta_positive_rate=float(deltas["positive_rate"][index]),
        )
        for index, (perturbation, level) in enumerate(perturbations)
    ]


def _pair_plan(first: _Perturbed, second: _Perturbed, worst: Mapping[str, str]) -> list[tuple[str, float, int, int]]:
    """(perturbation, level, row of `first`, row of `second`) of each joint perturbation of a pair: numeric features
    shifted the same way, categorical ones moved into their most harmful category (`worst`)."""
    numeric = [item.kind is FeatureKind.NUMERIC for item in (first, second)]
    if all(numeric):
        levels = _signed_levels(NUMERIC_LEVELS)
    elif any(numeric):
        levels = _signed_levels(SHARE_LEVELS)
    else:
        levels = SHARE_LEVELS
    plan = []
    for level in levels:
        parts, rows = [], []
        for item in (first, second):
            kind = SHIFT if item.kind is FeatureKind.NUMERIC else worst[item.name]
            parts.append(kind)
            rows.append(item.row(kind, level if item.kind is FeatureKind.NUMERIC else abs(level)))
        plan.append((PAIR_JOIN.join(parts), level, rows[0], rows[1]))
    return plan


def _checked_labels(labels: ArrayLike, n_rows: int) -> NDArray[np.int64]:
    try:
        y = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as error:  # text, or pandas' NA
        raise ValueError("labels must be 0 or 1, with none missing") from error
    if y.shape != (n_rows,):
        raise ValueError(f"need one label per row: labels of shape {y.shape} for {n_rows} rows")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1, with none missing")
    if not 0 < int(y.sum()) < y.size:
        raise ValueError(f"labels must hold both classes, got {int(y.sum())} positive of {y.size}")
    return y.astype(np.int64)


def compute_sensitivity(
    model: Any,
    frame: pd.DataFrame,
    labels: ArrayLike,
    schema: InputSchema,
    *,
    threshold: float,
    max_pairs: int = 3,
    max_rows: int = 5000,
    random_state: int = 0,
    threads: int | None = 1,
) -> SensitivityProfile:
    """The sensitivity profile of a fitted `model` on held-out rows (see the module docstring).

    `frame` holds the schema's feature columns as raw values (`model_spec.feature_frame` normalises them), `labels`
    one 0/1 label per row (both classes needed); `threshold` is the model's decision threshold. At most `max_rows`
    rows are used: a sample stratified by label, seeded by `random_state` (which also draws the rows a category
    share move takes). A numeric feature without spread and a categorical one with fewer than two categories on
    these rows are not profiled. The model must score each row on its own (any fitted scikit-learn estimator or
    pipeline does): only the rows a perturbation changes are scored again. The model predicts on `threads`
    OpenMP/BLAS threads (threadpoolctl; None leaves the pools alone): 1 by default, as the domain classifier's, since
    on a shared CPU more threads mostly wait on each other (a gradient-boosting model's profile of 5,000 rows took
    31 s on two busy cores with the default pools, 12 s on one thread). Raises ValueError (SchemaError for missing
    columns) on bad input.
    """
    with threadpool_limits(limits=threads):
        return _compute(
            model,
            frame,
            labels,
            schema,
            threshold=threshold,
            max_pairs=max_pairs,
            max_rows=max_rows,
            random_state=random_state,
        )


def _compute(
    model: Any,
    frame: pd.DataFrame,
    labels: ArrayLike,
    schema: InputSchema,
    *,
    threshold: float,
    max_pairs: int,
    max_rows: int,
    random_state: int,
) -> SensitivityProfile:
    started = time.perf_counter()
    if max_rows < 2 or max_pairs < 0:
        raise ValueError(f"max_rows must be at least 2 and max_pairs at least 0, got {max_rows} and {max_pairs}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    y = _checked_labels(labels, len(frame))
    rng = np.random.default_rng(random_state)
    rows = _stratified_rows(y, max_rows, rng)
    base = model_spec.feature_frame(frame.iloc[rows], schema).reset_index(drop=True)
    y = y[rows]
    kinds = {spec.name: FeatureKind(spec.kind) for spec in schema.features}

    base_scores = fitting.score(model, base, schema)
    baseline = {name: float(values[0]) for name, values in _metrics(base_scores[None, :], y, threshold).items()}
    perturbed: dict[str, _Perturbed] = {}
    points: list[SensitivityPoint] = []
    for name, kind in kinds.items():
        item = _perturb(base, name, kind, rng)
        if item is None:
            continue
        perturbed[name] = item
        metrics = _metrics(_scores(model, base, schema, {name: item.values}, item.changed), y, threshold)
        points += _points((name,), item.labels, item.effects, metrics)

    single = {name: [point for point in points if point.features == (name,)] for name in perturbed}
    loss = {name: max(point.auc_loss for point in single[name]) for name in perturbed}
    worst = {name: max(single[name], key=lambda point: point.auc_loss).perturbation for name in perturbed}
    leaders = sorted(perturbed, key=lambda name: -loss[name])[: max_pairs + 1]
    order = list(kinds)
    pairs = sorted(
        (tuple(sorted(pair, key=order.index)) for pair in itertools.combinations(leaders, 2)),
        key=lambda pair: -(loss[pair[0]] + loss[pair[1]]),
    )[:max_pairs]
    for first_name, second_name in pairs:
        first, second = perturbed[first_name], perturbed[second_name]
        plan = _pair_plan(first, second, worst)
        first_rows, second_rows = [step[2] for step in plan], [step[3] for step in plan]
        replacements = {first.name: first.values[first_rows], second.name: second.values[second_rows]}
        changed = first.changed[first_rows] | second.changed[second_rows]
        metrics = _metrics(_scores(model, base, schema, replacements, changed), y, threshold)
        effects = np.maximum(first.effects[first_rows], second.effects[second_rows])
        points += _points((first.name, second.name), [(step[0], step[1]) for step in plan], effects, metrics)
    return SensitivityProfile(
        n_rows=len(base), seconds=time.perf_counter() - started, baseline=baseline, points=tuple(points)
    )


# --- rendering ----------------------------------------------------------------------------------------------------

COLOURS: Final = ("#2e86de", "#e4572e", "#17a398", "#f2a51a", "#7b61ff", "#8d6e63")
_WIDTH, _HEIGHT, _LEFT, _RIGHT, _TOP, _BOTTOM = 340, 190, 52, 10, 20, 30
#: CSS for `render_html`'s classes (a host page adds it once).
STYLE: Final = """
.sensitivity table{border-collapse:collapse;font-size:13px}
.sensitivity th,.sensitivity td{border:1px solid #ddd;padding:4px 8px;text-align:right}
.sensitivity th{background:#f5f5f5}.sensitivity td:first-child,.sensitivity th:first-child{text-align:left}
.sensitivity .note{color:#555;font-size:13px}.sensitivity svg{margin:6px 10px 6px 0;background:#fff}
"""


def _percent(level: float) -> str:
    return f"{level:+.0%}" if level else "0"


def render_svg(profile: SensitivityProfile, feature: str) -> str:
    """A small inline SVG: ΔAUC (y) against the signed level (x) of each of `feature`'s perturbation kinds, one line
    each, through (0, 0). KeyError if the feature was not profiled."""
    kinds: dict[str, list[tuple[float, float]]] = {}
    for point in profile.points:
        if point.features == (feature,):
            kinds.setdefault(point.perturbation, [(0.0, 0.0)]).append((point.level, point.delta_auc))
    if not kinds:
        raise KeyError(feature)
    xs = [x for line in kinds.values() for x, _ in line]
    ys = [y for line in kinds.values() for _, y in line]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    y_pad = max(y_high - y_low, 1e-3) * 0.08
    y_low, y_high = y_low - y_pad, y_high + y_pad

    def x_of(value: float) -> float:
        return _LEFT + (_WIDTH - _LEFT - _RIGHT) * (value - x_low) / ((x_high - x_low) or 1.0)

    def y_of(value: float) -> float:
        return _TOP + (_HEIGHT - _TOP - _BOTTOM) * (y_high - value) / (y_high - y_low)

    bottom = _HEIGHT - _BOTTOM
    parts = [
        f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y_of(0.0):.1f}" y2="{y_of(0.0):.1f}" stroke="#bbb" '
        'stroke-dasharray="3 3"/>',
        f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{bottom}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{_WIDTH / 2:.0f}" y="13" text-anchor="middle" font-weight="600">{escape(feature)}</text>',
    ]
    anchors = {x_low: "start", x_high: "end", 0.0: "middle"}
    parts += [
        f'<text x="{x_of(value):.1f}" y="{bottom + 14}" text-anchor="{anchors[value]}" fill="#555">'
        f"{_percent(value)}</text>"
        for value in sorted(anchors)
    ]
    placed: list[float] = []
    for value in (0.0, y_low + y_pad, y_high - y_pad):  # zero first; a tick too close to a placed one is left out
        if all(abs(y_of(value) - other) >= 10.0 for other in placed):
            placed.append(y_of(value))
            parts.append(
                f'<text x="{_LEFT - 4}" y="{y_of(value) + 3:.1f}" text-anchor="end" fill="#555">{value:+.4f}</text>'
            )
    axis_label = "level (share of the sd; for share:c, share of rows moved into c)"
    parts.append(f'<text x="{_WIDTH / 2:.0f}" y="{_HEIGHT - 3}" text-anchor="middle" fill="#555">{axis_label}</text>')
    for index, (kind, line) in enumerate(kinds.items()):
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in sorted(line))
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.8"><title>{escape(kind)}</title>'
            "</polyline>"
        )
        y = _TOP + 4 + 11 * index
        label = escape(kind.removeprefix(SHARE_PREFIX)[:18])
        parts.append(
            f'<line x1="{_WIDTH - _RIGHT - 96}" x2="{_WIDTH - _RIGHT - 84}" y1="{y}" y2="{y}" stroke="{colour}" '
            f'stroke-width="2"/><text x="{_WIDTH - _RIGHT - 80}" y="{y + 3}" fill="#333">{label}</text>'
        )
    title = f"ΔAUC of {feature} by perturbation level (labels held fixed)"
    return (
        f'<svg class="sensitivity-plot" role="img" aria-label="{escape(title)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'width="{_WIDTH}" height="{_HEIGHT}" font-family="sans-serif" font-size="9" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>' + "".join(parts) + "</svg>"
    )


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(profile: SensitivityProfile) -> str:
    """An HTML fragment (`<section class="sensitivity">`, styled by `STYLE`): the baseline, `table()`, the pairs'
    worst losses and one `render_svg` per feature; every text escaped."""
    base = profile.baseline
    rows = [
        (
            row["feature"],
            row["kind"],
            *(f"{row[f'auc_loss_at_{level:g}']:.4f}" for level in TABLE_LEVELS),
            f"{row['max_auc_loss']:.4f}",
            f"{row['worst_perturbation']} {_percent(row['worst_level'])}",
        )
        for row in profile.table()
    ]
    pairs = profile.worst_pairs()
    pair_rows = [
        (
            " + ".join(key),
            f"{point.perturbation} {_percent(point.level)}",
            f"{point.effect_size:.3f}",
            f"{point.auc_loss:.4f}",
        )
        for key, point in pairs.items()
    ]
    parts = [
        '<section class="sensitivity">',
        f'<p class="note">{profile.n_rows:,} held-out rows, labels held fixed; baseline AUC {base["auc"]:.4f}, '
        f"log loss {base['log_loss']:.4f}, positive rate {base['positive_rate']:.2%}; computed in "
        f"{profile.seconds:.2f} s. AUC loss = baseline − perturbed AUC (0 when it rose).</p>",
        _html_table(
            ["feature", "kind", *(f"AUC loss at {level:.0%}" for level in TABLE_LEVELS), "largest loss", "worst"],
            rows,
        ),
    ]
    if pair_rows:
        parts.append(_html_table(["pair", "worst perturbation", "effect size", "AUC loss"], pair_rows))
    parts.append('<div class="sensitivity-plots">')
    parts += [render_svg(profile, feature) for feature in profile.features()]
    parts.append("</div></section>")
    return "".join(parts)
