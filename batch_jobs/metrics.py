"""One metrics engine for binary classifiers: AUC, log loss, Brier score and expected calibration error (ECE), under
any row weighting, for the release gate (`batch_jobs.gate`) and the drift suite (`batch_jobs.drift.performance`).

A bootstrap replicate is a weighting (row i counted `weights[r, i]` times), so resamples are never materialised:

- the count-weighted sums behind the losses and ECE's per-bin gaps come from one matrix product per block of
  replicates (`RankedScores.metrics`);
- AUC comes from weighted cumulative class counts over the scores sorted once (`RankedScores.auc`); integer
  weights (bootstrap counts) are summed exactly until the final products: in int32 when the sums allow (half the
  memory traffic of float64: the running sum over rows without ties is about twice as fast), else in int64, or
  in float64 on whole numbers (exact below 2**53);
- two bootstraps draw the counts: `bootstrap_metrics` (every metric of one model, independent Poisson(1) counts
  drawn by Poissonization: a Poisson(n) total of draws spread uniformly over the n rows, the same distribution
  at one integer draw per resampled row rather than one Poisson draw per cell) and `paired_bootstrap_values`
  (one metric of two models on the same multinomial resamples of the rows).

Definitions, each equal to scikit-learn's with `sample_weight` (tests/unit/test_metrics.py):

- AUC = P(score_pos > score_neg) + P(tie) / 2, the Mann–Whitney convention; NaN when a class has no weight;
- log loss = mean of −[y·ln p + (1 − y)·ln(1 − p)] with p clipped to [EPSILON, 1 − EPSILON];
- Brier score = mean of (p − y)²;
- ECE = Σ over `n_bins` equal-width bins [0, 1/k), …, [(k − 1)/k, 1] of |Σ w·(p − y)| / Σ w.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
Weights = NDArray[np.float64] | NDArray[np.int64] | NDArray[np.int32]

#: Probabilities are clipped to [EPSILON, 1 − EPSILON] for the log loss, so a confidently wrong score costs at most
#: ln(1e15) ≈ 34.5 nats rather than infinity. The value is scikit-learn's former default; scikit-learn ≥ 1.5 clips at
#: the float64 machine epsilon (2.2e-16, at most 36.0 nats), so the two differ only for scores within 1e-15 of 0 or 1.
EPSILON: Final = 1e-15
#: Metric name -> whether a higher value is better.
HIGHER_IS_BETTER: Final[Mapping[str, bool]] = {"auc": True, "log_loss": False, "brier": False, "ece": False}
#: Metrics that are a mean of per-row losses (and so a weighted mean under bootstrap counts).
ROW_LOSSES: Final = ("log_loss", "brier")
#: Default upper bound on replicates × rows a bootstrap holds in memory at once. The block size also decides how a
#: seed's random stream is cut into blocks, so a caller that changes it changes its replicates.
BLOCK_CELLS: Final = 4_000_000
# Integer weights whose row maximum × row count is below this keep doubled running sums below 2**31 (int32).
_INT32_LIMIT: Final = 2**30


def row_losses(metric: str, labels: ArrayLike, scores: ArrayLike) -> FloatArray:
    """Each row's contribution to `metric`: its log loss (p clipped to `EPSILON`) or its squared error (Brier)."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(scores, dtype=np.float64)
    if metric == "log_loss":
        clipped = np.clip(p, EPSILON, 1.0 - EPSILON)
        losses: FloatArray = -(y * np.log(clipped) + (1.0 - y) * np.log1p(-clipped))
        return losses
    if metric == "brier":
        squared: FloatArray = (p - y) ** 2
        return squared
    raise ValueError(f"{metric!r} is not a per-row loss; expected one of {ROW_LOSSES}")


def calibration_bins(scores: ArrayLike, n_bins: int) -> NDArray[np.intp]:
    """Each score's equal-width bin in [0, 1]: [0, 1/k) is bin 0, …, [(k − 1)/k, 1] is bin k − 1."""
    values = np.asarray(scores, dtype=np.float64)
    return np.clip((values * n_bins).astype(np.intp), 0, n_bins - 1)


def expected_calibration_errors(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> FloatArray:
    """ECE of every row of `labels` (replicates × rows of 0/1, or one 1-D row) against the same `scores`."""
    values = np.asarray(scores, dtype=np.float64)
    matrix = np.atleast_2d(np.asarray(labels))
    replicates, n = matrix.shape
    offsets = (np.arange(replicates) * n_bins)[:, None]
    gaps = np.bincount(
        (calibration_bins(values, n_bins) + offsets).ravel(),
        weights=(values - matrix).ravel(),
        minlength=replicates * n_bins,
    )
    errors: FloatArray = np.abs(gaps.reshape(replicates, n_bins)).sum(axis=1) / n
    return errors


def expected_calibration_error(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> float:
    """ECE with `n_bins` equal-width bins: Σ over bins of |Σ (score − label)| / n."""
    return float(expected_calibration_errors(labels, scores, n_bins)[0])


def tie_group_starts(sorted_scores: FloatArray) -> NDArray[np.intp] | None:
    """The index where each group of tied values starts in `sorted_scores`; None when every value is distinct."""
    is_start = np.ones(sorted_scores.size, dtype=bool)
    is_start[1:] = sorted_scores[1:] != sorted_scores[:-1]
    return None if is_start.all() else np.flatnonzero(is_start)


class RankedScores:
    """Labels and scores sorted once by score, so that every metric under any row weighting is a few vectorised
    passes over a replicates × rows matrix of weights.

    The weighted methods take weights in *rank order*: column j weights the row `order[j]`. `rank` puts weights
    given in row order into rank order; a bootstrap whose counts are independent across rows can draw them in
    rank order directly and skip that copy.
    """

    def __init__(self, labels: ArrayLike, scores: ArrayLike) -> None:
        values = np.asarray(scores, dtype=np.float64)
        self.order = np.argsort(values, kind="stable")
        self.scores: FloatArray = values[self.order]
        self.positive: NDArray[np.bool_] = np.asarray(labels)[self.order].astype(bool)
        self.positive_columns = np.flatnonzero(self.positive)
        # The class masks in each weight dtype: a product of same-typed arrays is about 1.7× faster than with bools.
        self._masks = {
            np.dtype(kind): (self.positive.astype(kind), (~self.positive).astype(kind))
            for kind in (np.float64, np.int64, np.int32)
        }
        # Start of each group of tied scores; None when every score is distinct (the faster path).
        self.group_starts = tie_group_starts(self.scores)

    @property
    def size(self) -> int:
        """The number of rows."""
        return int(self.scores.size)

    def rank(self, weights: Weights) -> Weights:
        """Weights given in row order (replicates × rows), put into rank order."""
        ranked: NDArray[Any] = np.take(weights, self.order, axis=1)
        return ranked

    def auc(self, weights: Weights) -> FloatArray:
        """AUC under each row of non-negative `weights` (replicates × rows, rank order); NaN where a class has no
        weight.

        AUC = Σ over groups g of tied scores of w_pos(g) × (w_neg(below g) + w_neg(g) / 2) / (W_pos × W_neg). The
        sums are kept doubled (2·w_neg(below g) + w_neg(g)) so that integer weights stay in exact integer
        arithmetic until the final products.
        """
        w: NDArray[Any] = _compact(weights)
        if not self.size:
            return np.full(w.shape[0], np.nan)
        positive, negative = self._masks[w.dtype]
        if self.group_starts is None:
            # No ties: a positive row's running count of negatives, itself included, is the count below it.
            negatives_upto = np.cumsum(w * negative, axis=1, dtype=w.dtype)
            w_pos = w[:, self.positive_columns]
            numerator = 2.0 * np.einsum("ij,ij->i", w_pos, negatives_upto[:, self.positive_columns], dtype=np.float64)
            negative_total = negatives_upto[:, -1]
        else:
            w_pos = np.add.reduceat(w * positive, self.group_starts, axis=1)
            w_neg = np.add.reduceat(w, self.group_starts, axis=1) - w_pos
            twice_negatives_below = 2 * np.cumsum(w_neg, axis=1, dtype=w.dtype) - w_neg
            numerator = np.einsum("ij,ij->i", w_pos, twice_negatives_below, dtype=np.float64)
            negative_total = w_neg.sum(axis=1)
        denominator = 2.0 * w_pos.sum(axis=1, dtype=np.float64) * negative_total.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            result: FloatArray = np.where(denominator > 0, numerator / denominator, np.nan)
        return result

    def metrics(self, weights: Weights, n_bins: int = 10) -> dict[str, FloatArray]:
        """Every metric under each row of `weights` (replicates × rows, rank order): with whole-number weights, the
        metrics of the sample in which the row of rank j appears `weights[r, j]` times."""
        # Per row: 1, log loss, squared error, then (score − label) in its ECE bin's column.
        labels = self.positive.astype(np.float64)
        columns = np.zeros((self.size, 3 + n_bins))
        columns[:, 0] = 1.0
        columns[:, 1] = row_losses("log_loss", labels, self.scores)
        columns[:, 2] = row_losses("brier", labels, self.scores)
        columns[np.arange(self.size), 3 + calibration_bins(self.scores, n_bins)] = self.scores - labels
        floats = np.asarray(weights, dtype=np.float64)
        sums = floats @ columns
        total = sums[:, 0]
        # Without ties AUC's running sum is twice as fast on int32 as on float64, worth a narrowed copy; with ties its
        # group sums are as fast on the float64 copy the product needed anyway (and exact: whole numbers < 2**53).
        auc = self.auc(weights if self.group_starts is None else floats)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                "auc": auc,
                "log_loss": sums[:, 1] / total,
                "brier": sums[:, 2] / total,
                "ece": np.abs(sums[:, 3:]).sum(axis=1) / total,
            }


def _compact(weights: Weights) -> Weights:
    """Integer weights as int32 when their doubled running sums fit, else int64; other weights as float64."""
    if not np.issubdtype(weights.dtype, np.integer):
        return weights.astype(np.float64, copy=False)
    if weights.size and int(weights.max()) * weights.shape[1] < _INT32_LIMIT:
        return weights.astype(np.int32, copy=False)
    return weights.astype(np.int64, copy=False)


def classification_metrics(labels: ArrayLike, scores: ArrayLike, n_bins: int = 10) -> dict[str, float]:
    """AUC, log loss, Brier score and ECE (`n_bins` equal-width bins) of 0/1 labels and scores in [0, 1]; the AUC is
    NaN unless both classes are present."""
    ranked = RankedScores(labels, scores)
    values = ranked.metrics(np.ones((1, ranked.size)), n_bins)
    return {name: float(value[0]) for name, value in values.items()}


def roc_auc(labels: ArrayLike, scores: ArrayLike) -> float:
    """ROC AUC of 0/1 labels and scores (ties count one half); NaN unless both classes are present."""
    ranked = RankedScores(labels, scores)
    return float(ranked.auc(np.ones((1, ranked.size), dtype=np.int64))[0])


def poisson_counts(rng: np.random.Generator, replicates: int, n: int) -> NDArray[np.int64]:
    """`replicates` rows of `n` independent Poisson(1) counts: each row's Poisson(n) total spread uniformly over
    its n cells (given the total, independent Poisson counts are multinomial: the same distribution)."""
    totals = rng.poisson(float(n), size=replicates)
    cells = rng.integers(0, n, size=int(totals.sum())) + np.repeat(np.arange(replicates) * n, totals)
    return np.bincount(cells, minlength=replicates * n).reshape(replicates, n)


def multinomial_counts(rng: np.random.Generator, replicates: int, n: int) -> NDArray[np.int64]:
    """`replicates` rows of how often each of n rows is drawn when n rows are drawn with replacement."""
    rows = rng.integers(0, n, size=(replicates, n))
    offsets = (np.arange(replicates) * n)[:, None]
    return np.bincount((rows + offsets).ravel(), minlength=replicates * n).reshape(replicates, n)


def bootstrap_metrics(
    labels: ArrayLike,
    scores: ArrayLike,
    n_bootstrap: int,
    rng: np.random.Generator,
    n_bins: int = 10,
    *,
    block_cells: int = BLOCK_CELLS,
) -> dict[str, FloatArray]:
    """`n_bootstrap` Poisson-bootstrap replicates of every metric, in blocks of at most `block_cells` counts."""
    ranked = RankedScores(labels, scores)
    block = max(1, block_cells // max(ranked.size, 1))
    parts: dict[str, list[FloatArray]] = {name: [] for name in HIGHER_IS_BETTER}
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        # The counts are independent across rows, so they are drawn straight in rank order.
        for name, values in ranked.metrics(poisson_counts(rng, size, ranked.size), n_bins).items():
            parts[name].append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def paired_bootstrap_values(
    metric: str,
    labels: ArrayLike,
    first_scores: ArrayLike,
    second_scores: ArrayLike,
    *,
    n_resamples: int,
    rng: np.random.Generator,
    block_cells: int = BLOCK_CELLS,
) -> tuple[FloatArray, FloatArray]:
    """`metric` ("auc", "log_loss" or "brier") of two models on the same `n_resamples` resamples of the rows.

    Each replicate draws n rows with replacement once, as a count per row, and both models are scored under those
    counts (in blocks of at most `block_cells` counts); NaN where a replicate lacks a class (AUC).
    """
    if metric != "auc" and metric not in ROW_LOSSES:
        raise ValueError(f"cannot bootstrap {metric!r}; expected 'auc' or one of {ROW_LOSSES}")
    y = np.asarray(labels)
    n = int(y.size)
    block = max(1, block_cells // max(n, 1))
    if metric == "auc":
        models = (RankedScores(y, first_scores), RankedScores(y, second_scores))
    else:
        losses = np.stack([row_losses(metric, y, first_scores), row_losses(metric, y, second_scores)], axis=1)
    results: list[FloatArray] = []
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        counts = multinomial_counts(rng, size, n)
        if metric == "auc":
            compact = _compact(counts)  # narrowed once, before each model's copy in its rank order
            results.append(np.stack([model.auc(model.rank(compact)) for model in models], axis=1))
        else:
            results.append(counts.astype(np.float64) @ losses / n)
    values = np.concatenate(results) if results else np.empty((0, 2))
    return values[:, 0], values[:, 1]


def percentile_interval(replicates: ArrayLike, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval of the finite bootstrap replicates (NaN, NaN when none is finite)."""
    values = np.asarray(replicates, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)
