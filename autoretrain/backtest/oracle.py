"""The hindsight oracle: the best schedule of deploys over the daily candidates, by dynamic programming. Pure.

Given each candidate's utility on each day (the metric of its scores on that day's labels, in hindsight; negated for
a loss) and the first day it can serve, a schedule names the model served each day: the first champion on day 0,
and any later change is a deploy of a candidate already available, which costs `cost`. The oracle maximises

    Σ_days utility[served(day), day] − cost · (number of deploys)

over all schedules. Any candidate available may be deployed — the newest, an older one held back, or one served
before (a rollback) — so every replay that deploys these candidates follows a schedule the oracle considered, and
none can beat its objective.

The recursion, with V_t(c) the best objective of days 0..t ending with c served on day t:

    V_0(c) = u(c, 0) for the first champion c₀, u(c, 0) − cost for another candidate available on day 0
    V_t(c) = u(c, t) + max(V_{t−1}(c), max_{c' ≠ c} V_{t−1}(c') − cost)      (c available on day t)

computed with the best and second-best of V_{t−1}, so a day costs O(candidates); a day whose utility is undefined
for a candidate (NaN: e.g. a day of one class) counts 0 for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Schedule:
    """The oracle's schedule: the candidate index served each day, its objective and its deploys."""

    served: IntArray
    objective: float
    deploys: int


def best_schedule(utility: FloatArray, available_from: IntArray, cost: float, initial: int = 0) -> Schedule:
    """The schedule maximising total utility minus `cost` per deploy (module docstring).

    `utility[c, t]`: candidate c's utility on day t; `available_from[c]`: the first day c may serve;
    `initial`: the candidate serving on day 0 without a deploy (it must be available on day 0).
    """
    n_candidates, n_days = utility.shape
    if n_days == 0:
        return Schedule(np.empty(0, dtype=np.int64), 0.0, 0)
    if available_from.shape != (n_candidates,) or not 0 <= initial < n_candidates:
        raise ValueError("available_from needs one day per candidate and initial must be a candidate")
    if available_from[initial] > 0:
        raise ValueError("the initial candidate must be available on day 0")
    if cost < 0:
        raise ValueError("cost must not be negative")
    gains = np.where(np.isnan(utility), 0.0, utility)
    days = np.arange(n_days)
    allowed = days[None, :] >= available_from[:, None]
    gains = np.where(allowed, gains, -np.inf)
    previous = np.full((n_days, n_candidates), -1, dtype=np.int64)
    value = np.where(np.arange(n_candidates) == initial, gains[:, 0], gains[:, 0] - cost)
    value = np.where(allowed[:, 0], value, -np.inf)
    for day in range(1, n_days):
        order = np.argsort(value)[::-1]
        best, second = int(order[0]), int(order[min(1, n_candidates - 1)])  # one candidate: "switch" to itself
        other = np.full(n_candidates, best, dtype=np.int64)
        other[best] = second
        switch = value[other] - cost
        stay = value >= switch
        previous[day] = np.where(stay, np.arange(n_candidates), other)
        value = gains[:, day] + np.where(stay, value, switch)
    last = int(np.argmax(value))
    served = np.empty(n_days, dtype=np.int64)
    served[-1] = last
    for day in range(n_days - 1, 0, -1):
        served[day - 1] = previous[day, served[day]]
    deploys = int((served[0] != initial) + np.count_nonzero(np.diff(served)))
    return Schedule(served, float(value[last]), deploys)


def schedule_objective(utility: FloatArray, served: IntArray, cost: float, initial: int = 0) -> float:
    """The objective of any schedule (the same accounting as `best_schedule`: NaN utility counts 0)."""
    gains = np.where(np.isnan(utility), 0.0, utility)
    total = float(gains[served, np.arange(served.size)].sum())
    deploys = int((served[0] != initial) + np.count_nonzero(np.diff(served))) if served.size else 0
    return total - cost * deploys
