"""The hindsight oracle's dynamic programme against brute force, and its accounting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.typing import NDArray

from autoretrain.backtest.oracle import best_schedule, schedule_objective


def _brute_force(utility: NDArray[np.float64], available: NDArray[np.int64], cost: float) -> float:
    """The best objective over every sequence of served candidates (candidate 0 serves day 0 without a deploy)."""
    n_candidates, n_days = utility.shape
    best = -np.inf
    for served in itertools.product(range(n_candidates), repeat=n_days):
        if any(available[candidate] > day for day, candidate in enumerate(served)):
            continue
        best = max(best, schedule_objective(utility, np.array(served, dtype=np.int64), cost))
    return float(best)


@pytest.mark.parametrize("seed", range(200))
def test_the_oracle_finds_the_brute_force_optimum_on_small_random_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_candidates, n_days = int(rng.integers(1, 4)), int(rng.integers(1, 7))
    utility = rng.uniform(0.4, 0.9, (n_candidates, n_days)).round(2)
    utility[rng.random(utility.shape) < 0.1] = np.nan  # a day without a metric counts 0 for that candidate
    available = np.concatenate([[0], rng.integers(0, n_days + 1, n_candidates - 1)]).astype(np.int64)
    cost = float(rng.choice([0.0, 0.05, 0.2, 1.0]))

    schedule = best_schedule(utility, available, cost)

    assert schedule.objective == pytest.approx(_brute_force(utility, available, cost))
    assert schedule.objective == pytest.approx(schedule_objective(utility, schedule.served, cost))
    assert all(available[candidate] <= day for day, candidate in enumerate(schedule.served))
    assert schedule.served[0] == 0 or schedule.deploys >= 1


def test_a_deploy_that_does_not_pay_for_itself_is_not_made() -> None:
    utility = np.array([[0.80, 0.80, 0.80], [0.00, 0.82, 0.82]])
    available = np.array([0, 1], dtype=np.int64)

    assert best_schedule(utility, available, cost=0.05).served.tolist() == [0, 0, 0]
    assert best_schedule(utility, available, cost=0.03).served.tolist() == [0, 1, 1]


def test_the_oracle_may_go_back_to_an_earlier_model() -> None:
    utility = np.array([[0.9, 0.5, 0.9, 0.9], [0.0, 0.9, 0.5, 0.5]])
    schedule = best_schedule(utility, np.array([0, 1], dtype=np.int64), cost=0.1)

    assert schedule.served.tolist() == [0, 1, 0, 0]
    assert schedule.deploys == 2
    assert schedule.objective == pytest.approx(0.9 * 4 - 0.2)


def test_a_candidate_is_never_served_before_it_is_available() -> None:
    utility = np.array([[0.1, 0.1, 0.1], [1.0, 1.0, 1.0]])
    schedule = best_schedule(utility, np.array([0, 2], dtype=np.int64), cost=0.0)

    assert schedule.served.tolist() == [0, 0, 1]
