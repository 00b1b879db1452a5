"""Small exact statistics for the catastrophic checks. Standard library only (the Lambda ships no numpy).

Bands are acceptance regions of exact tests: for a count X with a known distribution, `(low, high)` are the
tightest integers with P(X < low) <= alpha/2 and P(X > high) <= alpha/2, so a value outside the band has a
two-sided p-value below alpha. Tails are summed in log space from about 12 standard deviations below the mean
(the mass below that is under 1e-25), so the cost is O(sqrt(mean)) terms, not O(mean).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

_TAIL_SIGMAS = 12.0


def _band(log_pmf: Callable[[int], float], start: int, stop: int, alpha: float) -> tuple[int, int]:
    """Walk the pmf from `start` (where the mass below is negligible) up to `stop` inclusive."""
    half = alpha / 2.0
    cumulative = 0.0
    low: int | None = None
    for k in range(start, stop + 1):
        cumulative += math.exp(log_pmf(k))
        if low is None and cumulative > half:
            low = k
        if cumulative >= 1.0 - half:
            return (k if low is None else low), k
    return (stop if low is None else low), stop


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def poisson_band(mean: float, alpha: float) -> tuple[int, int]:
    """The two-sided acceptance band of a Poisson count with this mean at level `alpha`."""
    _check_alpha(alpha)
    if not math.isfinite(mean) or mean < 0.0:
        raise ValueError(f"mean must be a finite non-negative number, got {mean!r}")
    if mean == 0.0:
        return 0, 0
    log_mean = math.log(mean)

    def log_pmf(k: int) -> float:
        return k * log_mean - mean - math.lgamma(k + 1)

    spread = _TAIL_SIGMAS * math.sqrt(mean) + 10.0
    start = max(0, math.floor(mean - spread))
    return _band(log_pmf, start, math.ceil(mean + spread), alpha)


def binomial_band(n: int, p: float, alpha: float) -> tuple[int, int]:
    """The two-sided acceptance band of a Binomial(n, p) count at level `alpha`."""
    _check_alpha(alpha)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if p == 0.0:
        return 0, 0
    if p == 1.0:
        return n, n
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n_factorial = math.lgamma(n + 1)

    def log_pmf(k: int) -> float:
        return log_n_factorial - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q

    mean = n * p
    spread = _TAIL_SIGMAS * math.sqrt(mean * (1.0 - p)) + 10.0
    start = max(0, math.floor(mean - spread))
    return _band(log_pmf, start, min(n, math.ceil(mean + spread)), alpha)


def binomial_upper(n: int, p: float, alpha: float) -> int:
    """The largest count not significantly above Binomial(n, p) in a one-sided test at level `alpha`."""
    return binomial_band(n, p, min(2.0 * alpha, 0.999))[1]


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def nearest_rank_quantile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-quantile: the smallest value with at least a share `q` of values at or below it."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


class RunningMoments:
    """Count, mean and variance in one pass (Welford), plus whether every value was the same."""

    __slots__ = ("_first", "_m2", "count", "distinct", "mean")

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self._m2 = 0.0
        self._first: float | None = None
        self.distinct = 0  # 0, 1, or 2 meaning "more than one"

    def add(self, value: float) -> None:
        """Take one value into account."""
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self._m2 += delta * (value - self.mean)
        if self._first is None:
            self._first, self.distinct = value, 1
        elif self.distinct == 1 and value != self._first:
            self.distinct = 2

    @property
    def std(self) -> float:
        """The population standard deviation (0 for fewer than two values)."""
        return math.sqrt(self._m2 / self.count) if self.count > 1 else 0.0
