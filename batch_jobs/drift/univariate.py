"""Per-feature drift checks and the prediction's drift checks.

Numeric feature: two-sample Kolmogorov–Smirnov between the reference sample and every current value (both
sorted once; see `_stats.ks_sorted`), effect size = Wasserstein-1 distance divided by the reference standard
deviation (or PSI on the reference deciles, `DriftConfig.numeric_effect`); PSI is reported either way.
Categorical feature: Pearson chi-square test of homogeneity on the category counts of the full reference
and the full current window, sparse categories pooled until every expected count is at least
`min_expected_count` (Cochran's rule), effect size = PSI on the same pooled bins.
Each feature also gets a missing-rate check and (categorical) an unseen-category check: a pooled two-proportion
z-test with Cohen's h as effect size. The prediction gets a score-distribution check (as a numeric feature)
and a predicted-positive-rate check (as a rate).

Checks come out *pending*: p-values are not yet adjusted and nothing is flagged. The suite adjusts all
p-values of a run together (`decide`), because a feature drifts only when its test survives the correction
*and* its effect size reaches its floor.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from batch_jobs.drift._stats import (
    FloatArray,
    bin_counts_sorted,
    chi2_homogeneity,
    cohens_h,
    ks_sorted,
    normalised_distance,
    pool_sparse_bins,
    psi,
    scaled_mean,
    two_proportion_z,
    wasserstein_sorted,
)
from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.profile import SCORE_COLUMN, FeatureProfile, ReferenceProfile, category_counts, numeric_values
from batch_jobs.drift.results import (
    CheckResult,
    FeatureDrift,
    FeatureKind,
    Histogram,
    PredictionDrift,
    Verdict,
    finite_or_none,
)

KS_TEST = "ks_2samp"
CHI2_TEST = "chi2_homogeneity"
PROPORTION_TEST = "two_proportion_z"
WASSERSTEIN = "wasserstein_normalised"
PSI = "psi"
COHENS_H = "cohens_h"
#: Categories shown in a categorical feature's chart (the rest are pooled as "(other)").
CHART_CATEGORIES = 15
#: Unseen categories listed by name in a result.
UNSEEN_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class PendingFeature:
    """A feature's checks before the multiple-testing correction."""

    name: str
    kind: FeatureKind
    distribution: CheckResult
    missing_rate: CheckResult
    unseen_categories: CheckResult | None
    unseen_examples: tuple[str, ...]
    secondary_effects: dict[str, float]
    histogram: Histogram

    def checks(self) -> tuple[CheckResult, ...]:
        """The feature's checks in a fixed order."""
        own = (self.distribution, self.missing_rate)
        return (*own, self.unseen_categories) if self.unseen_categories is not None else own

    def decided(self, decided_checks: tuple[CheckResult, ...]) -> FeatureDrift:
        """The final result, given this feature's checks after `decide` (same order as `checks()`)."""
        distribution, missing_rate = decided_checks[0], decided_checks[1]
        unseen = decided_checks[2] if len(decided_checks) > 2 else None
        drift = any(check.drift for check in decided_checks)
        return FeatureDrift(
            name=self.name,
            kind=self.kind,
            drift=drift,
            verdict=_overall_verdict(drift, distribution),
            distribution=distribution,
            missing_rate=missing_rate,
            unseen_categories=unseen,
            unseen_examples=self.unseen_examples,
            secondary_effects=self.secondary_effects,
            histogram=self.histogram,
        )


@dataclass(frozen=True, slots=True)
class PendingPrediction:
    """The prediction's checks before the multiple-testing correction."""

    decision_threshold: float
    score_distribution: CheckResult
    positive_rate: CheckResult
    histogram: Histogram

    def checks(self) -> tuple[CheckResult, ...]:
        """The checks in a fixed order."""
        return (self.score_distribution, self.positive_rate)

    def decided(self, decided_checks: tuple[CheckResult, ...]) -> PredictionDrift:
        """The final result, given the checks after `decide`."""
        score, positive = decided_checks
        drift = score.drift or positive.drift
        return PredictionDrift(
            drift=drift,
            verdict=_overall_verdict(drift, score),
            decision_threshold=self.decision_threshold,
            score_distribution=score,
            positive_rate=positive,
            histogram=self.histogram,
        )


def _overall_verdict(drift: bool, main: CheckResult) -> Verdict:
    if drift:
        return Verdict.DRIFT
    return Verdict.INSUFFICIENT_DATA if main.verdict is Verdict.INSUFFICIENT_DATA else Verdict.NO_DRIFT


def decide(check: CheckResult, p_value_adjusted: float | None) -> CheckResult:
    """Final verdict of a pending check: drift iff adjusted p <= alpha and effect size >= its floor."""
    if check.verdict is Verdict.INSUFFICIENT_DATA or check.p_value is None or p_value_adjusted is None:
        return check
    drift = (
        p_value_adjusted <= check.alpha
        and check.effect_size is not None
        and check.effect_size >= check.effect_size_threshold
    )
    return dataclasses.replace(
        check,
        p_value_adjusted=float(p_value_adjusted),
        verdict=Verdict.DRIFT if drift else Verdict.NO_DRIFT,
        drift=drift,
    )


def _pending(
    config: DriftConfig,
    *,
    check: str,
    test: str,
    effect_size_name: str,
    effect_size_threshold: float,
    n_reference: int,
    n_current: int,
    reference_value: float | None,
    current_value: float | None,
    result: tuple[float, float, float] | None,
) -> CheckResult:
    """A pending check; `result` is (statistic, p-value, effect size), None when the data did not suffice."""
    enough = result is not None and n_reference >= config.min_samples and n_current >= config.min_samples
    statistic, p_value, effect = result if result is not None and enough else (None, None, None)
    return CheckResult(
        check=check,
        test=test,
        statistic=finite_or_none(statistic),
        p_value=finite_or_none(p_value),
        p_value_adjusted=None,
        correction=config.correction,
        alpha=config.alpha,
        effect_size_name=effect_size_name,
        effect_size=finite_or_none(effect),
        effect_size_threshold=effect_size_threshold,
        n_reference=n_reference,
        n_current=n_current,
        min_samples=config.min_samples,
        reference_value=finite_or_none(reference_value),
        current_value=finite_or_none(current_value),
        verdict=Verdict.NO_DRIFT if enough else Verdict.INSUFFICIENT_DATA,
        drift=False,
    )


def _rate_check(config: DriftConfig, check: str, *, x_ref: int, n_ref: int, x_cur: int, n_cur: int) -> CheckResult:
    p_ref = x_ref / n_ref if n_ref else None
    p_cur = x_cur / n_cur if n_cur else None
    result: tuple[float, float, float] | None = None
    if p_ref is not None and p_cur is not None:
        z, p_value = two_proportion_z(x_ref, n_ref, x_cur, n_cur)
        result = (z, p_value, cohens_h(p_ref, p_cur))
    return _pending(
        config,
        check=check,
        test=PROPORTION_TEST,
        effect_size_name=COHENS_H,
        effect_size_threshold=config.proportion_threshold,
        n_reference=n_ref,
        n_current=n_cur,
        reference_value=p_ref,
        current_value=p_cur,
        result=result,
    )


def _format_edge(value: float) -> str:
    return f"{value:.3g}"


def _numeric_histogram(summary: FeatureProfile, current_sorted: FloatArray) -> Histogram:
    numeric = summary.numeric
    if numeric is None:
        return Histogram(labels=(), reference=(), current=())
    edges = np.asarray(numeric.hist_edges)
    labels = (
        f"≤ {_format_edge(edges[0])}",
        *(f"{_format_edge(low)} – {_format_edge(high)}" for low, high in itertools.pairwise(edges)),
        f"> {_format_edge(edges[-1])}",
    )
    return Histogram(
        labels=labels,
        reference=_shares(np.asarray(numeric.hist_counts)),
        current=_shares(bin_counts_sorted(current_sorted, edges)),
    )


def _shares(counts: np.ndarray[Any, np.dtype[Any]]) -> tuple[float, ...]:
    total = counts.sum()
    return tuple(float(c) for c in (counts / total if total else np.zeros(counts.size)))


class UnivariateDrift:
    """Per-feature and prediction checks against one reference profile (pending until the suite decides).

    `fit(profile)` sorts the reference sample once per numeric column (`reference_sorted_`). `floors` replaces the
    config's distribution floor for the features it names (`batch_jobs.drift.impact.feature_floors`).
    """

    def __init__(self, config: DriftConfig, floors: Mapping[str, float] | None = None) -> None:
        self.config = config
        self.floors = dict(floors or {})

    def fit(self, profile: ReferenceProfile) -> UnivariateDrift:
        """Remember the profile and sort its sample's numeric columns."""
        self.profile_ = profile
        self.reference_sorted_: dict[str, FloatArray] = {}
        columns = [f.name for f in profile.features if f.kind is FeatureKind.NUMERIC]
        if profile.score is not None and SCORE_COLUMN in profile.sample.columns:
            columns.append(SCORE_COLUMN)
        for name in columns:
            values = numeric_values(profile.sample[name])
            self.reference_sorted_[name] = np.sort(values[~np.isnan(values)])
        return self

    def score_features(self, current: pd.DataFrame) -> list[PendingFeature]:
        """Pending checks of every profiled feature on the current window (columns already validated)."""
        results = []
        for feature in self.profile_.features:
            if feature.kind is FeatureKind.NUMERIC:
                results.append(self._numeric_feature(feature, numeric_values(current[feature.name])))
            else:
                results.append(self._categorical_feature(feature, current[feature.name]))
        return results

    def score_prediction(self, scores: FloatArray) -> PendingPrediction | None:
        """Pending checks of the prediction score and positive rate; None when the profile has no scores."""
        profile = self.profile_
        if profile.score is None or profile.positive_count is None:
            return None
        distribution, _, current_sorted = self._distribution(profile.score, SCORE_COLUMN, scores, "score_distribution")
        positive = _rate_check(
            self.config,
            "positive_rate",
            x_ref=profile.positive_count,
            n_ref=profile.score.n_valid,
            x_cur=int(np.sum(current_sorted >= profile.decision_threshold)),
            n_cur=current_sorted.size,
        )
        return PendingPrediction(
            decision_threshold=profile.decision_threshold,
            score_distribution=distribution,
            positive_rate=positive,
            histogram=_numeric_histogram(profile.score, current_sorted),
        )

    def _distribution(
        self, feature: FeatureProfile, sample_column: str, values: FloatArray, check: str
    ) -> tuple[CheckResult, dict[str, float], FloatArray]:
        config = self.config
        reference = self.reference_sorted_[sample_column]
        current = np.sort(values[~np.isnan(values)])
        numeric = feature.numeric
        result: tuple[float, float, float] | None = None
        secondary: dict[str, float] = {}
        if numeric is not None and reference.size and current.size:
            statistic, p_value = ks_sorted(reference, current)
            wasserstein = normalised_distance(wasserstein_sorted(reference, current), numeric.std)
            population_stability = psi(
                np.asarray(numeric.bin_counts), bin_counts_sorted(current, np.asarray(numeric.bin_edges))
            )
            secondary = {WASSERSTEIN: wasserstein, PSI: population_stability}
            effect = wasserstein if config.numeric_effect == "wasserstein" else population_stability
            result = (statistic, p_value, effect)
        use_psi = config.numeric_effect == "psi"
        floor = config.psi_threshold if use_psi else config.wasserstein_threshold
        pending = _pending(
            config,
            check=check,
            test=KS_TEST,
            effect_size_name=PSI if use_psi else WASSERSTEIN,
            effect_size_threshold=self.floors.get(sample_column, floor),
            n_reference=int(reference.size),
            n_current=int(current.size),
            reference_value=numeric.mean if numeric is not None else None,
            current_value=scaled_mean(current) if current.size else None,
            result=result,
        )
        return pending, secondary, current

    def _numeric_feature(self, feature: FeatureProfile, values: FloatArray) -> PendingFeature:
        distribution, secondary, current_sorted = self._distribution(feature, feature.name, values, "distribution")
        missing = _rate_check(
            self.config,
            "missing_rate",
            x_ref=feature.n_missing,
            n_ref=feature.n_rows,
            x_cur=values.size - current_sorted.size,
            n_cur=values.size,
        )
        return PendingFeature(
            name=feature.name,
            kind=FeatureKind.NUMERIC,
            distribution=distribution,
            missing_rate=missing,
            unseen_categories=None,
            unseen_examples=(),
            secondary_effects={k: v for k, v in secondary.items() if k != distribution.effect_size_name},
            histogram=_numeric_histogram(feature, current_sorted),
        )

    def _categorical_feature(self, feature: FeatureProfile, series: pd.Series[Any]) -> PendingFeature:
        config = self.config
        counts = category_counts(series)
        n_rows = len(series)
        n_valid = int(counts.sum())
        known = counts.index.isin(feature.categories)
        seen = counts.reindex(list(feature.categories), fill_value=0).to_numpy(dtype=np.int64)
        rest = counts[~known]
        truncated = feature.other_count > 0
        ref_counts = np.asarray(feature.category_counts, dtype=np.int64)
        cur_counts = seen
        if truncated:
            ref_counts = np.append(ref_counts, feature.other_count)
            cur_counts = np.append(cur_counts, int(rest.sum()))
        pooled_ref, pooled_cur = pool_sparse_bins(ref_counts, cur_counts, config.min_expected_count)
        n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
        result: tuple[float, float, float] | None = None
        if n_ref and n_cur:
            statistic, p_value, _ = chi2_homogeneity(pooled_ref, pooled_cur)
            result = (statistic, p_value, psi(pooled_ref, pooled_cur))
        distribution = _pending(
            config,
            check="distribution",
            test=CHI2_TEST,
            effect_size_name=PSI,
            effect_size_threshold=self.floors.get(feature.name, config.psi_threshold),
            n_reference=n_ref,
            n_current=n_cur,
            reference_value=None,
            current_value=None,
            result=result,
        )
        missing = _rate_check(
            config, "missing_rate", x_ref=feature.n_missing, n_ref=feature.n_rows, x_cur=n_rows - n_valid, n_cur=n_rows
        )
        unseen: CheckResult | None = None
        examples: tuple[str, ...] = ()
        if not truncated:
            unseen = _rate_check(
                config, "unseen_categories", x_ref=0, n_ref=feature.n_valid, x_cur=int(rest.sum()), n_cur=n_valid
            )
            examples = tuple(str(key) for key in rest.index[:UNSEEN_EXAMPLES])
        return PendingFeature(
            name=feature.name,
            kind=FeatureKind.CATEGORICAL,
            distribution=distribution,
            missing_rate=missing,
            unseen_categories=unseen,
            unseen_examples=examples,
            secondary_effects={},
            histogram=_categorical_histogram(feature, seen, int(rest.sum()), truncated),
        )


def _categorical_histogram(feature: FeatureProfile, seen: FloatArray | Any, rest: int, truncated: bool) -> Histogram:
    shown = min(CHART_CATEGORIES, len(feature.categories))
    ref_counts = np.asarray(feature.category_counts, dtype=np.float64)
    cur_counts = np.asarray(seen, dtype=np.float64)
    ref_other = ref_counts[shown:].sum() + feature.other_count
    cur_other = cur_counts[shown:].sum() + (rest if truncated else 0)
    labels = [*feature.categories[:shown], "(other)"]
    ref = [*ref_counts[:shown], ref_other]
    cur = [*cur_counts[:shown], cur_other]
    if not truncated:
        labels.append("(unseen)")
        ref.append(0.0)
        cur.append(float(rest))
    return Histogram(labels=tuple(labels), reference=_shares(np.asarray(ref)), current=_shares(np.asarray(cur)))
