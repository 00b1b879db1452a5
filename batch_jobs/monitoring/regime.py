"""Where a decay began: the change point of the champion's loss on matured labels. Pure.

When a check finds performance decay, the retrain that follows should learn from the rows served since the relation
between features and label changed, not from the weeks before (a concept shift makes them misleading). The estimate
assumes one abrupt change in the mean of the champion's per-row log-loss within the matured window: rows in time
order, every split with at least `min_rows` rows on each side, the standardised difference of the two means
(after − before, pooled standard deviation), and its largest value. When that value reaches `threshold` (3.5: the
5 % critical value of the largest of many correlated z-statistics is near 3 for windows of thousands of rows, so
3.5 is conservative), the regime starts at the first row after the split; otherwise the decay was already under
way when the window began, and the regime starts with the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Fewest rows on each side of a split (a mean of fewer losses is noise).
MIN_ROWS = 100
#: The standardised difference a split must reach to be called a change.
THRESHOLD = 3.5
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class RegimeEstimate:
    """The estimated regime start, and the statistic and sample sizes behind it."""

    start: datetime
    found_change: bool
    statistic: float | None
    n_before: int
    n_after: int
    loss_before: float | None
    loss_after: float | None

    def to_json(self) -> dict[str, Any]:
        """The estimate as JSON (in the drift check's result)."""
        return {
            "start": self.start.isoformat(),
            "found_change": self.found_change,
            "statistic": self.statistic,
            "threshold": THRESHOLD,
            "n_before": self.n_before,
            "n_after": self.n_after,
            "log_loss_before": self.loss_before,
            "log_loss_after": self.loss_after,
            "method": "largest standardised difference of mean log-loss over splits in time (one abrupt change)",
        }


def log_loss(labels: NDArray[np.float64], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each row's log-loss, with scores clipped away from 0 and 1."""
    p = np.clip(scores, _EPSILON, 1.0 - _EPSILON)
    return np.asarray(-(labels * np.log(p) + (1.0 - labels) * np.log1p(-p)), dtype=np.float64)


def estimate_regime(
    times: pd.DatetimeIndex,
    labels: NDArray[np.float64],
    scores: NDArray[np.float64],
    *,
    window_start: datetime,
    min_rows: int = MIN_ROWS,
    threshold: float = THRESHOLD,
) -> RegimeEstimate:
    """The regime start within a matured window (module docstring); `window_start` when no change stands out."""
    order = np.argsort(times.asi8, kind="stable")
    loss = log_loss(labels[order], scores[order])
    n = loss.size
    if n < 2 * min_rows:
        return RegimeEstimate(window_start, False, None, 0, n, None, float(loss.mean()) if n else None)
    cumulative = np.cumsum(loss)
    cumulative_squares = np.cumsum(loss * loss)
    k = np.arange(min_rows, n - min_rows + 1)
    before_mean = cumulative[k - 1] / k
    after_mean = (cumulative[-1] - cumulative[k - 1]) / (n - k)
    squares = cumulative_squares[-1] - k * before_mean**2 - (n - k) * after_mean**2
    pooled = np.sqrt(np.maximum(squares, 0.0) / (n - 2))
    statistic = (after_mean - before_mean) / np.maximum(pooled * np.sqrt(1.0 / k + 1.0 / (n - k)), _EPSILON)
    best = int(np.argmax(statistic))
    split, value = int(k[best]), float(statistic[best])
    if value < threshold:
        return RegimeEstimate(window_start, False, value, 0, n, None, float(loss.mean()))
    start = pd.Timestamp(times[int(order[split])]).tz_convert(UTC).to_pydatetime()
    return RegimeEstimate(start, True, value, split, n - split, float(before_mean[best]), float(after_mean[best]))
