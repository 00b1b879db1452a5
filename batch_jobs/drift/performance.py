"""Performance on matured labels: AUC, log loss, Brier score and expected calibration error (ECE), each with a
bootstrap confidence interval, compared with the champion's baseline from the reference profile.

The bootstrap is vectorised: each replicate reweights the rows with Poisson(1) counts (the Poisson bootstrap,
which matches the multinomial bootstrap for n ≥ 100 and needs no index matrix), and every metric is computed
for a block of replicates at once by matrix products — AUC from weighted cumulative class counts over the
scores sorted once, ECE from weighted per-bin sums. Intervals are percentile intervals.

A metric decays when the interval of (current − baseline) lies beyond its margin on the bad side: upper end
below −margin for AUC, lower end above +margin for the losses. With fewer than `performance_min_labels` labels
or fewer than `performance_min_per_class` of either class (one class alone included) the verdict is
`insufficient_data`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from batch_jobs.drift._stats import FloatArray
from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.results import MetricComparison, PerformanceResult, PerformanceVerdict, finite_or_none

#: Metric name -> higher is better.
METRICS: dict[str, bool] = {"auc": True, "log_loss": False, "brier": False, "ece": False}
#: Probabilities are clipped to [EPSILON, 1 − EPSILON] for the log loss.
EPSILON = 1e-15
#: Upper bound on replicates × rows held in memory at once by the bootstrap.
BLOCK_CELLS = 4_000_000


def _weighted_metrics(
    weights: FloatArray, labels: FloatArray, scores: FloatArray, n_bins: int
) -> dict[str, FloatArray]:
    """Every metric for each row of `weights` (replicates × rows); `labels`/`scores` sorted by score."""
    total = weights.sum(axis=1)
    positive = weights * labels
    negative = weights - positive
    # AUC: ties share their group's negatives by half (the Mann–Whitney convention).
    starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
    pos_groups = np.add.reduceat(positive, starts, axis=1)
    neg_groups = np.add.reduceat(negative, starts, axis=1)
    neg_before = np.cumsum(neg_groups, axis=1) - neg_groups
    n_pos, n_neg = pos_groups.sum(axis=1), neg_groups.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.sum(pos_groups * (neg_before + 0.5 * neg_groups), axis=1) / (n_pos * n_neg)
    clipped = np.clip(scores, EPSILON, 1.0 - EPSILON)
    losses = -(labels * np.log(clipped) + (1.0 - labels) * np.log1p(-clipped))
    bins = np.minimum((scores * n_bins).astype(np.int64), n_bins - 1)
    onehot = np.zeros((scores.size, n_bins))
    onehot[np.arange(scores.size), bins] = 1.0
    gap = weights @ (onehot * (labels - scores)[:, None])
    return {
        "auc": auc,
        "log_loss": weights @ losses / total,
        "brier": weights @ (scores - labels) ** 2 / total,
        "ece": np.abs(gap).sum(axis=1) / total,
    }


def classification_metrics(labels: FloatArray, scores: FloatArray, n_bins: int = 10) -> dict[str, float]:
    """AUC, log loss, Brier score and ECE (equal-width bins) of 0/1 labels and scores in [0, 1]."""
    order = np.argsort(scores, kind="stable")
    values = _weighted_metrics(np.ones((1, labels.size)), labels[order], scores[order], n_bins)
    return {name: float(value[0]) for name, value in values.items()}


def bootstrap_metrics(
    labels: FloatArray, scores: FloatArray, n_bootstrap: int, rng: np.random.Generator, n_bins: int = 10
) -> dict[str, FloatArray]:
    """`n_bootstrap` Poisson-bootstrap replicates of every metric, computed in memory-bounded blocks."""
    order = np.argsort(scores, kind="stable")
    labels, scores = labels[order], scores[order]
    block = max(1, BLOCK_CELLS // max(labels.size, 1))
    parts: dict[str, list[FloatArray]] = {name: [] for name in METRICS}
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        weights = rng.poisson(1.0, size=(size, labels.size)).astype(np.float64)
        for name, values in _weighted_metrics(weights, labels, scores, n_bins).items():
            parts[name].append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


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
        tail = (1.0 - config.confidence_level) / 2.0
        for name, higher_is_better in METRICS.items():
            finite = replicates[name][np.isfinite(replicates[name])]
            low, high = np.quantile(finite, [tail, 1.0 - tail]) if finite.size else (np.nan, np.nan)
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
            for name, higher in METRICS.items()
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
