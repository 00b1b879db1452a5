"""Vectorised statistical primitives shared by the drift checks (numpy/scipy only, no loops over rows)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from batch_jobs.drift.results import Correction

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Counts added to every bin before PSI, so empty bins give a finite index (Jeffreys-style smoothing).
PSI_SMOOTHING = 0.5
#: Upper bound on the quantile grid used for the Wasserstein distance (see `wasserstein_sorted`).
MAX_QUANTILE_GRID = 200_000


def _scale(values: FloatArray) -> float:
    """The largest magnitude of a finite sample (1.0 when empty or all zero): dividing by it keeps sums finite."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    return largest if largest > 0.0 else 1.0


def scaled_mean(values: FloatArray) -> float:
    """The mean of a finite, non-empty sample, finite even where the sum overflows (values near ±1.8e308)."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(np.mean(values))
    if np.isfinite(mean):
        return mean
    scale = _scale(values)
    return float(np.mean(values / scale) * scale)


def scaled_std(values: FloatArray, ddof: int = 1) -> float:
    """The standard deviation of a finite sample, finite even where the squares overflow; 0.0 below ddof + 1."""
    if values.size <= ddof:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        std = float(np.std(values, ddof=ddof))
    if np.isfinite(std):
        return std
    scale = _scale(values)
    with np.errstate(over="ignore"):  # with ddof the spread can exceed the largest value (then it is the largest)
        return float(min(np.std(values / scale, ddof=ddof) * scale, np.finfo(np.float64).max))


def adjust_p_values(p_values: FloatArray, correction: Correction) -> FloatArray:
    """P-values adjusted for multiple testing: reject where adjusted <= alpha.

    Benjamini–Hochberg step-up adjusted p-values (scipy's `false_discovery_control`: monotone, capped at 1),
    Bonferroni (p·m, capped at 1), or none.
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0 or correction is Correction.NONE:
        return p.copy()
    if correction is Correction.BONFERRONI:
        return np.minimum(p * m, 1.0)
    adjusted: FloatArray = stats.false_discovery_control(p, method="bh")
    return adjusted


def ks_sorted(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic and asymptotic two-sided p-value from two *sorted* samples.

    The supremum of |F_ref − F_cur| is reached at a reference point or just before one (between two reference
    points F_ref is constant and F_cur monotone), so only the reference's distinct values are looked up in the
    current sample: O(m log n) after sorting. The p-value is scipy's `ks_2samp(method="asymp")`:
    `kstwo.sf(D, round(n·m/(n+m)))`.
    """
    n_ref, n_cur = reference.size, current.size
    points = np.unique(reference)
    d_right = np.abs(
        np.searchsorted(reference, points, side="right") / n_ref
        - np.searchsorted(current, points, side="right") / n_cur
    )
    d_left = np.abs(
        np.searchsorted(reference, points, side="left") / n_ref - np.searchsorted(current, points, side="left") / n_cur
    )
    statistic = float(max(d_right.max(), d_left.max()))
    effective_n = max(1, round(n_ref * n_cur / (n_ref + n_cur)))
    if statistic == 0.0:
        return statistic, 1.0
    p_value = float(np.clip(stats.kstwo.sf(statistic, effective_n), 0.0, 1.0))
    return statistic, p_value


def wasserstein_sorted(reference: FloatArray, current: FloatArray) -> float:
    """Wasserstein-1 distance between two *sorted* samples, as the mean |Q_ref(u) − Q_cur(u)| on a quantile grid.

    W₁ = ∫₀¹ |Q_ref(u) − Q_cur(u)| du. The grid has max(n, m) midpoints (capped at `MAX_QUANTILE_GRID`), so it
    is exact when one size divides the other and otherwise off by far less than the sampling error.
    """
    grid = min(max(reference.size, current.size), MAX_QUANTILE_GRID)
    u = (np.arange(grid, dtype=np.float64) + 0.5) / grid
    ref_q = reference[np.minimum((u * reference.size).astype(np.int64), reference.size - 1)]
    cur_q = current[np.minimum((u * current.size).astype(np.int64), current.size - 1)]
    with np.errstate(over="ignore", invalid="ignore"):
        distance = float(np.mean(np.abs(ref_q - cur_q)))
    if np.isfinite(distance):
        return distance
    # Differences of values near ±1.8e308 overflow: they are taken again at a scale where they cannot. A distance
    # beyond the largest double stays inf (`normalised_distance` turns it into the largest effect).
    scale = max(_scale(ref_q), _scale(cur_q))
    with np.errstate(over="ignore"):
        return float(np.mean(np.abs(ref_q / scale - cur_q / scale)) * scale)


def normalised_distance(distance: float, spread: float) -> float:
    """`distance / spread` (1.0 standing in for a zero spread), at most the largest double: an effect size too large
    to represent is still the largest, never undefined (which would read as no effect)."""
    ratio = distance / spread if spread > 0.0 else distance
    return float(min(ratio, np.finfo(np.float64).max)) if not np.isnan(ratio) else 0.0


def bin_counts_sorted(values: FloatArray, inner_edges: FloatArray) -> IntArray:
    """Counts of a *sorted* sample in the bins (-inf, e₁], (e₁, e₂], …, (e_k, inf)."""
    cuts = np.searchsorted(values, inner_edges, side="right")
    return np.diff(np.concatenate(([0], cuts, [values.size]))).astype(np.int64)


def psi(reference_counts: NDArray[np.int64] | FloatArray, current_counts: NDArray[np.int64] | FloatArray) -> float:
    """Population Stability Index Σ (q − p)·ln(q / p) over shared bins, with `PSI_SMOOTHING` counts per bin."""
    ref = np.asarray(reference_counts, dtype=np.float64) + PSI_SMOOTHING
    cur = np.asarray(current_counts, dtype=np.float64) + PSI_SMOOTHING
    p = ref / ref.sum()
    q = cur / cur.sum()
    return float(np.sum((q - p) * np.log(q / p)))


def pool_sparse_bins(
    reference_counts: IntArray, current_counts: IntArray, min_expected: float
) -> tuple[IntArray, IntArray]:
    """Merge categories whose expected count (under homogeneity) is below `min_expected` in either sample.

    Sparse categories are pooled into one bin; if that bin is still sparse it is merged into the smallest
    remaining category, so every cell of the 2×k table meets Cochran's rule.
    """
    total = reference_counts + current_counts
    n_ref, n_cur = int(reference_counts.sum()), int(current_counts.sum())
    grand = n_ref + n_cur
    if grand == 0:
        return reference_counts[:0], current_counts[:0]
    smaller = min(n_ref, n_cur)
    sparse = total * smaller / grand < min_expected
    ref = reference_counts[~sparse]
    cur = current_counts[~sparse]
    if sparse.any():
        pooled_ref, pooled_cur = int(reference_counts[sparse].sum()), int(current_counts[sparse].sum())
        if (pooled_ref + pooled_cur) * smaller / grand < min_expected and ref.size > 0:
            smallest = int(np.argmin(ref + cur))
            ref = ref.copy()
            cur = cur.copy()
            ref[smallest] += pooled_ref
            cur[smallest] += pooled_cur
        else:
            ref = np.append(ref, pooled_ref)
            cur = np.append(cur, pooled_cur)
    keep = (ref + cur) > 0
    return ref[keep], cur[keep]


def chi2_homogeneity(reference_counts: IntArray, current_counts: IntArray) -> tuple[float, float, int]:
    """Pearson chi-square test of homogeneity on a 2×k table (scipy's `chi2_contingency`, without Yates'
    continuity correction): (statistic, p-value, degrees of freedom).

    With fewer than two non-empty bins there is nothing to compare: statistic 0, p-value 1, 0 degrees of freedom.
    """
    table = np.vstack((reference_counts, current_counts))
    if table.shape[1] < 2:
        return 0.0, 1.0, 0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


def two_proportion_z(x_ref: int, n_ref: int, x_cur: int, n_cur: int) -> tuple[float, float]:
    """Pooled two-proportion z-test: (z, two-sided p-value). Identical degenerate rates give z = 0, p = 1."""
    pooled = (x_ref + x_cur) / (n_ref + n_cur)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur))
    if se == 0.0:
        return 0.0, 1.0
    z = (x_cur / n_cur - x_ref / n_ref) / se
    return float(z), float(2.0 * stats.norm.sf(abs(z)))


def cohens_h(p_ref: float, p_cur: float) -> float:
    """Cohen's h = |2·asin√p_cur − 2·asin√p_ref|: a variance-stabilised difference of two proportions."""
    return float(abs(2.0 * np.arcsin(np.sqrt(p_cur)) - 2.0 * np.arcsin(np.sqrt(p_ref))))


def mann_whitney_null_sd(n_pos: int, n_neg: int) -> float:
    """Standard deviation of the AUC under H0 (no separation), from the Mann–Whitney U normal approximation."""
    return float(np.sqrt((n_pos + n_neg + 1) / (12.0 * n_pos * n_neg)))
