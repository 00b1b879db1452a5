"""Drift that matters: what a drift is estimated to cost the champion, from what was stored with it at training time.

At training time (`build_impact_basis`), beside the reference profile:
- a score calibrator fitted on the model's holdout (`estimate.ScoreCalibrator`);
- the reference's expected performance: expected AUC, log loss and positive rate of the reference rows' scores
  under that calibrator (`estimate.estimate_performance`);
- the sensitivity profile (`sensitivity.compute_sensitivity`): how much AUC the model loses when one or two
  features shift by 1–50 % of their scale, or a category's share moves, with the labels held fixed.

In every check (`assess_impact`):
- **the impact the policy acts on** is the drop of the expected AUC from the reference to the current window
  (confidence-based performance estimation, no labels). Its standard error combines the window's and the
  reference's bootstrap errors (independent samples); the drift is *harmless* when the one-sided upper bound of
  the drop at `impact_confidence` is below `impact_margin`, else *impactful*. A rise in expected AUC is no cost.
- **per feature**, the measured effect size, the floor it was judged against and the AUC the sensitivity profile
  says such a shift costs were the outcome not to move with the feature (a broken feature, a changed meaning):
  what the alert names, and what sets the floors (`feature_floors`).

What it assumes, stated wherever it is shown (`estimate.ASSUMPTION`): the expected metrics assume no concept shift — the
outcome's relation to the inputs is as on the holdout the calibrator was fitted on — so a concept shift is invisible
here and only matured labels (the performance check) can show it. A harmless verdict says the *inputs* moved in a
way the model handles; it is no proof the world did not change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.estimate import ASSUMPTION, EstimatedPerformance, ScoreCalibrator, estimate_performance
from batch_jobs.drift.profile import ReferenceProfile
from batch_jobs.drift.results import (
    FeatureDrift,
    FeatureImpact,
    FeatureKind,
    ImpactResult,
    ImpactVerdict,
    finite_or_none,
)
from batch_jobs.drift.sensitivity import SensitivityProfile, compute_sensitivity
from batch_jobs.drift.univariate import WASSERSTEIN
from batch_jobs.metrics import classification_metrics
from core.features import InputSchema

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
logger = logging.getLogger(__name__)

#: The metric impact is judged on.
IMPACT_METRIC = "auc"
#: Holdout rows the sensitivity profile is computed on (stratified by label): labels are held fixed, so each
#: perturbation's change is paired row by row and 2,000 rows measure it closely; the cost is about 1.3 s of one CPU
#: for the default model and the churn schema's nine features (measured), once per released version.
SENSITIVITY_ROWS = 2000


@dataclass(frozen=True, slots=True)
class ImpactBasis:
    """What a released model carries to judge impact with (module docstring)."""

    calibrator: ScoreCalibrator
    reference: EstimatedPerformance
    sensitivity: SensitivityProfile | None

    def to_json(self) -> dict[str, Any]:
        """As stored in the reference profile (`ReferenceProfile.impact_basis`)."""
        return {
            "calibrator": self.calibrator.to_json(),
            "reference": self.reference.to_json(),
            "sensitivity": None if self.sensitivity is None else self.sensitivity.to_json(),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ImpactBasis:
        """Read `to_json()` output back."""
        sensitivity = document.get("sensitivity")
        return cls(
            calibrator=ScoreCalibrator.from_json(document["calibrator"]),
            reference=EstimatedPerformance.from_json(document["reference"]),
            sensitivity=None if sensitivity is None else SensitivityProfile.from_json(sensitivity),
        )

    @classmethod
    def of(cls, profile: ReferenceProfile) -> ImpactBasis | None:
        """The basis stored with `profile`; None when it was built without one, or with one this code cannot read (a
        warning: drift is then judged without impact rather than not at all)."""
        if profile.impact_basis is None:
            return None
        try:
            return cls.from_json(profile.impact_basis)
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("the profile's impact basis cannot be read (%s): drift is judged without impact", error)
            return None


def build_impact_basis(
    *,
    model: Any,
    schema: InputSchema,
    threshold: float,
    holdout_features: pd.DataFrame,
    holdout_labels: Sequence[float] | FloatArray,
    holdout_scores: Sequence[float] | FloatArray,
    random_state: int = 0,
) -> ImpactBasis | None:
    """The basis of a model at training time, all from its holdout: the calibrator, the expected performance the
    drift check compares with (not of training rows, whose in-sample scores would inflate it) and the sensitivity
    profile. None, with a warning, when the holdout cannot calibrate
    (one class, no rows): the model's drift is then judged without impact."""
    try:
        calibrator = ScoreCalibrator.fit(holdout_scores, holdout_labels)
    except ValueError as error:
        logger.warning("no impact basis: the holdout cannot calibrate the scores (%s)", error)
        return None
    reference = estimate_performance(holdout_scores, calibrator, random_state=random_state)
    sensitivity = compute_sensitivity(
        model,
        holdout_features,
        holdout_labels,
        schema,
        threshold=threshold,
        max_rows=SENSITIVITY_ROWS,
        random_state=random_state,
    )
    logger.debug("impact basis: sensitivity of %d rows took %.2f s", sensitivity.n_rows, sensitivity.seconds)
    return ImpactBasis(calibrator, reference, sensitivity)


def with_impact_basis(profile: ReferenceProfile, basis: ImpactBasis | None) -> ReferenceProfile:
    """`profile` carrying `basis` (stored in its metadata)."""
    return replace(profile, impact_basis=None if basis is None else basis.to_json())


def feature_floors(profile: ReferenceProfile, basis: ImpactBasis | None, config: DriftConfig) -> dict[str, float]:
    """Each profiled feature's distribution floor from the sensitivity profile in `profile`'s `basis` (`DriftConfig`
    docstring); empty without a sensitivity profile or when the config keeps one global floor."""
    if not config.sensitivity_floors or basis is None or basis.sensitivity is None:
        return {}
    low, high = config.floor_range
    floors = {}
    for feature in profile.features:
        if feature.kind is FeatureKind.NUMERIC and config.numeric_effect != "wasserstein":
            continue  # the profile's numeric effect sizes are Wasserstein distances
        if feature.name not in basis.sensitivity.features():
            continue
        base = config.wasserstein_threshold if feature.kind is FeatureKind.NUMERIC else config.psi_threshold
        floor = basis.sensitivity.floor(feature.name, config.impact_margin)
        floors[feature.name] = float(np.clip(base * high if floor is None else floor, base * low, base * high))
    return floors


def _feature_impact(feature: FeatureDrift, sensitivity: SensitivityProfile | None) -> FeatureImpact:
    check = feature.distribution
    # The profile's numeric effect sizes are Wasserstein distances: with PSI as the numeric effect, read its cost at
    # the Wasserstein distance the suite reports beside it.
    profiled = check.effect_size
    if feature.kind is FeatureKind.NUMERIC and check.effect_size_name != WASSERSTEIN:
        profiled = feature.secondary_effects.get(WASSERSTEIN)
    cost = None
    if sensitivity is not None and profiled is not None:
        cost = sensitivity.cost(feature.name, profiled)
    return FeatureImpact(
        name=feature.name,
        effect_size_name=check.effect_size_name,
        effect_size=check.effect_size,
        floor=check.effect_size_threshold,
        drift=feature.drift,
        auc_cost=cost,
    )


def _standard_error(estimate: EstimatedPerformance, metric: str) -> float:
    """The bootstrap interval's half-width in standard errors (normal approximation)."""
    item = estimate.metric(metric)
    z = NormalDist().inv_cdf(0.5 + estimate.confidence_level / 2)
    return (item.ci_high - item.ci_low) / (2 * z)  # NaN when the bootstrap gave no interval


def assess_impact(
    basis: ImpactBasis | None,
    config: DriftConfig,
    scores: FloatArray | None,
    features: Sequence[FeatureDrift],
) -> ImpactResult:
    """The impact of the current window (scored by the champion) against the champion's reference, from the
    champion's `basis` (module docstring); `unknown` without a basis or without scores."""
    sensitivity = None if basis is None else basis.sensitivity
    per_feature = tuple(_feature_impact(feature, sensitivity) for feature in features)
    finite = None if scores is None else scores[np.isfinite(scores)]
    unknown = ImpactResult(
        verdict=ImpactVerdict.UNKNOWN,
        metric=IMPACT_METRIC,
        margin=config.impact_margin,
        confidence_level=config.impact_confidence,
        reference_expected=None,
        current_expected=None,
        drop=None,
        drop_upper=None,
        n_current=0 if finite is None else int(finite.size),
        assumption=ASSUMPTION,
        estimate=None,
        features=per_feature,
        sensitivity=None if sensitivity is None else sensitivity.to_json(),
    )
    if basis is None or finite is None or finite.size < 2:
        return unknown
    current = estimate_performance(
        np.clip(finite, 0.0, 1.0),
        basis.calibrator,
        confidence_level=config.confidence_level,
        random_state=config.random_state,
    )
    reference_value = basis.reference.metric(IMPACT_METRIC).value
    current_value = current.metric(IMPACT_METRIC).value
    drop = reference_value - current_value
    error = float(np.hypot(_standard_error(current, IMPACT_METRIC), _standard_error(basis.reference, IMPACT_METRIC)))
    upper = drop + NormalDist().inv_cdf(config.impact_confidence) * error
    if not np.isfinite(upper):
        return unknown  # an interval the bootstrap could not give: no verdict rather than the point estimate's
    return replace(
        unknown,
        verdict=ImpactVerdict.IMPACTFUL if upper >= config.impact_margin else ImpactVerdict.HARMLESS,
        reference_expected=reference_value,
        current_expected=current_value,
        drop=drop,
        drop_upper=upper,
        estimate=current.to_json(),
    )


@dataclass(frozen=True, slots=True)
class TrackedMetric:
    """One metric on the matured window: estimated without labels, the interval the realised value should fall in if
    the estimate's assumption holds, and the realised value once the labels are known."""

    name: str
    estimated: float | None
    realised_low: float | None
    realised_high: float | None
    realised: float | None

    @property
    def within(self) -> bool | None:
        """Whether the realised value fell in the interval (None without either)."""
        if self.realised is None or self.realised_low is None or self.realised_high is None:
            return None
        return self.realised_low <= self.realised <= self.realised_high

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "name": self.name,
            "estimated": self.estimated,
            "realised_low": self.realised_low,
            "realised_high": self.realised_high,
            "realised": self.realised,
            "within": self.within,
        }


@dataclass(frozen=True, slots=True)
class EstimateTracking:
    """The label-free estimate on the matured window's labelled rows, with the champion's calibrator (what an estimate
    made from their scores alone says) beside the realised metrics on the same rows. The interval covers the labels'
    randomness only, not the calibrator's own fitting error, so even where the assumption holds it covers somewhat
    less often than its level."""

    n_rows: int
    confidence_level: float
    metrics: tuple[TrackedMetric, ...]
    assumption: str = ASSUMPTION

    def metric(self, name: str) -> TrackedMetric:
        """The tracked metric called `name`."""
        return next(item for item in self.metrics if item.name == name)

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "n_rows": self.n_rows,
            "confidence_level": self.confidence_level,
            "metrics": [item.to_json() for item in self.metrics],
            "assumption": self.assumption,
        }


def track_estimate(
    profile: ReferenceProfile, config: DriftConfig, labels: FloatArray, scores: FloatArray
) -> EstimateTracking | None:
    """The estimate on labelled rows beside their realised metrics; None without a basis or with fewer rows, or of
    either class, than the performance check needs."""
    basis = ImpactBasis.of(profile)
    known = np.isfinite(labels) & np.isfinite(scores)
    labels, scores = labels[known], np.clip(scores[known], 0.0, 1.0)
    positives = int(labels.sum())
    enough = (
        labels.size >= config.performance_min_labels
        and min(positives, labels.size - positives) >= config.performance_min_per_class
    )
    if basis is None or not enough:
        return None
    estimate = estimate_performance(
        scores, basis.calibrator, confidence_level=config.confidence_level, random_state=config.random_state
    )
    realised = classification_metrics(labels, scores, config.ece_bins)
    realised["positive_rate"] = float(labels.mean())
    metrics = tuple(
        TrackedMetric(
            name=item.name,
            estimated=finite_or_none(item.value),
            realised_low=finite_or_none(item.realised_low),
            realised_high=finite_or_none(item.realised_high),
            realised=finite_or_none(realised.get(item.name)),
        )
        for item in estimate.metrics
    )
    return EstimateTracking(n_rows=int(labels.size), confidence_level=config.confidence_level, metrics=metrics)
