"""The alerting Lambda's exact bands and small statistics, checked against brute-force sums."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.alerting import stats

alphas = st.sampled_from([1e-4, 1e-3, 0.01, 0.05])


def _poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k), summed directly (another code path than the module's log-space walk)."""
    return math.fsum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1)) if k >= 0 else 0.0


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1)) if k >= 0 else 0.0


@settings(max_examples=60, deadline=None)
@given(mean=st.floats(0.05, 60.0), alpha=alphas)
def test_poisson_band_is_the_tightest_region_with_each_tail_at_most_half_alpha(mean: float, alpha: float) -> None:
    low, high = stats.poisson_band(mean, alpha)

    assert _poisson_cdf(low - 1, mean) <= alpha / 2 + 1e-12  # below the band: at most alpha/2
    assert _poisson_cdf(low, mean) > alpha / 2 - 1e-12  # one step tighter would exceed it
    assert 1 - _poisson_cdf(high, mean) <= alpha / 2 + 1e-12
    assert 1 - _poisson_cdf(high - 1, mean) > alpha / 2 - 1e-12


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 150), p=st.floats(0.01, 0.99), alpha=alphas)
def test_binomial_band_is_the_tightest_region_with_each_tail_at_most_half_alpha(n: int, p: float, alpha: float) -> None:
    low, high = stats.binomial_band(n, p, alpha)

    assert 0 <= low <= high <= n
    assert _binomial_cdf(low - 1, n, p) <= alpha / 2 + 1e-12
    assert _binomial_cdf(low, n, p) > alpha / 2 - 1e-12
    assert 1 - _binomial_cdf(high, n, p) <= alpha / 2 + 1e-12
    assert 1 - _binomial_cdf(high - 1, n, p) > alpha / 2 - 1e-12


@settings(max_examples=40, deadline=None)
@given(mean=st.floats(100.0, 200_000.0))
def test_poisson_band_at_large_means_matches_the_normal_approximation(mean: float) -> None:
    low, high = stats.poisson_band(mean, 1e-4)

    z = statistics.NormalDist().inv_cdf(1 - 0.5e-4)
    assert low == pytest.approx(mean - z * math.sqrt(mean), abs=0.05 * math.sqrt(mean) + 3)
    assert high == pytest.approx(mean + z * math.sqrt(mean), abs=0.05 * math.sqrt(mean) + 3)


def test_degenerate_rates_have_a_single_point_band() -> None:
    assert stats.poisson_band(0.0, 1e-4) == (0, 0)
    assert stats.binomial_band(40, 0.0, 1e-4) == (0, 0)
    assert stats.binomial_band(40, 1.0, 1e-4) == (40, 40)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stats.poisson_band(-1.0, 0.01), "mean"),
        (lambda: stats.poisson_band(5.0, 0.0), "alpha"),
        (lambda: stats.binomial_band(10, 1.5, 0.01), "p must be"),
        (lambda: stats.binomial_band(-1, 0.5, 0.01), "n must be"),
    ],
)
def test_bands_refuse_invalid_parameters(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_binomial_upper_is_a_one_sided_bound_at_alpha() -> None:
    high = stats.binomial_upper(200, 0.1, 0.01)

    assert 1 - _binomial_cdf(high, 200, 0.1) <= 0.01
    assert 1 - _binomial_cdf(high - 1, 200, 0.1) > 0.01


@given(values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200))
def test_running_moments_match_the_statistics_module(values: list[float]) -> None:
    moments = stats.RunningMoments()
    for value in values:
        moments.add(value)

    assert moments.count == len(values)
    assert moments.mean == pytest.approx(statistics.fmean(values), abs=1e-6)
    expected_std = statistics.pstdev(values) if len(values) > 1 else 0.0
    assert moments.std == pytest.approx(expected_std, rel=1e-6, abs=1e-6)
    assert (moments.distinct == 1) == (len(set(values)) == 1)


@given(values=st.lists(st.floats(0, 1e5), min_size=1, max_size=300))
def test_nearest_rank_p99_has_at_least_99_percent_of_values_at_or_below_it(values: list[float]) -> None:
    p99 = stats.nearest_rank_quantile(values, 0.99)

    assert p99 in values
    assert sum(value <= p99 for value in values) >= 0.99 * len(values)
    assert sum(value < p99 for value in values) < 0.99 * len(values)


def test_median_of_even_and_odd_counts() -> None:
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
