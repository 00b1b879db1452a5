"""The odds band: how far a rate may move from a reference rate, measured on the odds scale.

A factor in odds is an effect size that respects scale: 20 % within 3x in odds is 7.7 % to 43 %, while 1 % is
0.34 % to 2.9 % (a fixed difference in percentage points would be huge for the one and trivial for the other).
The alerting Lambda bands the positive rate with it, the retrain job's quality checks the label rate. Standard
library only (the alerting zip ships this module).
"""

from __future__ import annotations

import math


def _odds(rate: float) -> float:
    return math.inf if rate >= 1.0 else rate / (1.0 - rate)


def _rate(odds: float) -> float:
    return 1.0 if math.isinf(odds) else odds / (1.0 + odds)


def odds_band(rate: float, ratio: float) -> tuple[float, float]:
    """The rates whose odds are within a factor `ratio` (at least 1) of `rate`'s odds, as `(low, high)`.

    A rate of 0 gives `(0, 0)` and a rate of 1 gives `(1, 1)`: no finite factor moves odds of 0 or infinity.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    if not ratio >= 1.0:
        raise ValueError(f"ratio must be at least 1, got {ratio!r}")
    odds = _odds(rate)
    return _rate(odds / ratio), _rate(odds * ratio)
