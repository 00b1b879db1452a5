"""Performance on matured labels: AUC, log loss, Brier score and expected calibration error (ECE), each with a
bootstrap confidence interval, compared with the champion's baseline from the reference profile.

The metrics and their bootstrap come from `batch_jobs.metrics`, the engine the release gate uses too: each
replicate reweights the rows with independent Poisson(1) counts (the Poisson bootstrap, which matches the
multinomial bootstrap for n ≥ 100), and every metric is computed for a block of replicates at once. Intervals are
percentile intervals.

A metric decays when the interval of (current − baseline) lies beyond its margin on the bad side: upper end
below −margin for AUC, lower end above +margin for the losses. With fewer than `performance_min_labels` labels
or fewer than `performance_min_per_class` of either class (one class alone included) the verdict is
`insufficient_data`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.results import MetricComparison, PerformanceResult, PerformanceVerdict, finite_or_none
from batch_jobs.metrics import HIGHER_IS_BETTER, bootstrap_metrics, classification_metrics, percentile_interval


def _margin(config: DriftConfig, name: str) -> float:
    margins = {
        "auc": config.auc_margin,
        "log_loss": config.log_loss_margin,
        "brier": config.brier_margin,
        "ece": config.ece_margin,
    }
    return margins[name]


def evaluate_performance(
    labels: NDArray[np.float64],
    scores: NDArray[np.float64],
    baseline: Mapping[str, float],
    config: DriftConfig,
) -> PerformanceResult:
    """Compare performance on matured labels with the baseline; rows with an unknown label or score are dropped."""
    known = ~(np.isnan(labels) | np.isnan(scores))
    labels, scores = labels[known], np.clip(scores[known], 0.0, 1.0)
    n_labels = int(labels.size)
    n_positive = int(labels.sum())
    enough = (
        n_labels >= config.performance_min_labels
        and min(n_positive, n_labels - n_positive) >= config.performance_min_per_class
    )
    comparisons = []
    if enough:
        point = classification_metrics(labels, scores, config.ece_bins)
        rng = np.random.default_rng(config.random_state)
        replicates = bootstrap_metrics(labels, scores, config.n_bootstrap, rng, config.ece_bins)
        for name, higher_is_better in HIGHER_IS_BETTER.items():
            low, high = percentile_interval(replicates[name], config.confidence_level)
            comparisons.append(
                _compare(
                    name=name,
                    higher_is_better=higher_is_better,
                    value=point[name],
                    low=float(low),
                    high=float(high),
                    baseline=baseline.get(name),
                    config=config,
                )
            )
    else:
        comparisons = [
            _compare(
                name=name,
                higher_is_better=higher,
                value=None,
                low=None,
                high=None,
                baseline=baseline.get(name),
                config=config,
            )
            for name, higher in HIGHER_IS_BETTER.items()
        ]
    decay = any(item.decay for item in comparisons)
    if not enough:
        verdict = PerformanceVerdict.INSUFFICIENT_DATA
    elif decay:
        verdict = PerformanceVerdict.DECAY
    elif all(item.verdict is PerformanceVerdict.NO_BASELINE for item in comparisons):
        verdict = PerformanceVerdict.NO_BASELINE
    else:
        verdict = PerformanceVerdict.NO_DECAY
    return PerformanceResult(
        decay=decay,
        verdict=verdict,
        n_labels=n_labels,
        n_positive=n_positive,
        min_labels=config.performance_min_labels,
        min_per_class=config.performance_min_per_class,
        confidence_level=config.confidence_level,
        n_bootstrap=config.n_bootstrap,
        metrics=tuple(comparisons),
    )


def _compare(
    *,
    name: str,
    higher_is_better: bool,
    value: float | None,
    low: float | None,
    high: float | None,
    baseline: float | None,
    config: DriftConfig,
) -> MetricComparison:
    margin = _margin(config, name)
    value, low, high = finite_or_none(value), finite_or_none(low), finite_or_none(high)
    if value is None or low is None or high is None:
        verdict, decay = PerformanceVerdict.INSUFFICIENT_DATA, False
        difference = diff_low = diff_high = None
    elif baseline is None:
        verdict, decay = PerformanceVerdict.NO_BASELINE, False
        difference = diff_low = diff_high = None
    else:
        difference, diff_low, diff_high = value - baseline, low - baseline, high - baseline
        decay = diff_high < -margin if higher_is_better else diff_low > margin
        verdict = PerformanceVerdict.DECAY if decay else PerformanceVerdict.NO_DECAY
    return MetricComparison(
        name=name,
        higher_is_better=higher_is_better,
        value=value,
        ci_low=low,
        ci_high=high,
        baseline=finite_or_none(baseline),
        difference=difference,
        difference_ci_low=diff_low,
        difference_ci_high=diff_high,
        margin=margin,
        verdict=verdict,
        decay=decay,
    )
