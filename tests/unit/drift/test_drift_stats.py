"""Statistical primitives: agreement with scipy, the corrections, pooling and value ranges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from batch_jobs.drift._stats import (
    adjust_p_values,
    chi2_homogeneity,
    cohens_h,
    ks_sorted,
    pool_sparse_bins,
    psi,
    two_proportion_z,
    wasserstein_sorted,
)
from batch_jobs.drift.results import Correction

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("n_ref", "n_cur", "rounding"), [(500, 700, None), (400, 1500, 1), (2000, 300, 0)])
def test_ks_matches_scipy_asymptotic_ks_2samp(n_ref: int, n_cur: int, rounding: int | None) -> None:
    rng = np.random.default_rng(n_ref + n_cur)
    reference = rng.normal(size=n_ref)
    current = rng.normal(0.1, 1.1, size=n_cur)
    if rounding is not None:  # ties
        reference, current = np.round(reference, rounding), np.round(current, rounding)
    expected = stats.ks_2samp(reference, current, method="asymp")
    statistic, p_value = ks_sorted(np.sort(reference), np.sort(current))
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(1000, 1000), (500, 2000), (3000, 1000)])
def test_wasserstein_matches_scipy_when_sizes_divide(n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.normal(size=n_ref), rng.gamma(2.0, size=n_cur)
    expected = stats.wasserstein_distance(reference, current)
    assert wasserstein_sorted(np.sort(reference), np.sort(current)) == pytest.approx(expected, rel=1e-9)


def test_benjamini_hochberg_adjusted_p_values_match_hand_computation() -> None:
    adjusted = adjust_p_values(np.array([0.01, 0.04, 0.03, 0.005]), Correction.BENJAMINI_HOCHBERG)
    np.testing.assert_allclose(adjusted, [0.02, 0.04, 0.04, 0.02])


def test_bonferroni_multiplies_by_the_number_of_tests_capped_at_one() -> None:
    adjusted = adjust_p_values(np.array([0.01, 0.3, 0.002]), Correction.BONFERRONI)
    np.testing.assert_allclose(adjusted, [0.03, 0.9, 0.006])
    assert adjust_p_values(np.array([0.5, 0.6]), Correction.BONFERRONI).max() == 1.0


def test_benjamini_hochberg_rejects_what_bonferroni_rejects_and_more() -> None:
    p_values = np.array([0.004, 0.008, 0.012, *np.linspace(0.3, 0.9, 7)])
    bh = adjust_p_values(p_values, Correction.BENJAMINI_HOCHBERG) <= 0.05
    bonferroni = adjust_p_values(p_values, Correction.BONFERRONI) <= 0.05
    assert bh.tolist()[:3] == [True, True, True]
    assert bonferroni.tolist()[:3] == [True, False, False]
    assert not (bonferroni & ~bh).any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=30))
def test_adjusted_p_values_lie_between_raw_p_value_and_one(p_values: list[float]) -> None:
    raw = np.array(p_values)
    for correction in Correction:
        adjusted = adjust_p_values(raw, correction)
        assert ((adjusted >= raw - 1e-15) & (adjusted <= 1.0)).all()


@settings(max_examples=50, deadline=None)
@given(st.lists(finite_floats, min_size=1, max_size=60), st.lists(finite_floats, min_size=1, max_size=60))
def test_ks_statistic_and_p_value_lie_in_unit_interval(reference: list[float], current: list[float]) -> None:
    statistic, p_value = ks_sorted(np.sort(reference), np.sort(current))
    assert 0.0 <= statistic <= 1.0
    assert 0.0 <= p_value <= 1.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=20))
def test_pooled_chi_square_has_valid_expected_counts_and_p_value(cells: list[tuple[int, int]]) -> None:
    reference = np.array([c[0] for c in cells], dtype=np.int64)
    current = np.array([c[1] for c in cells], dtype=np.int64)
    pooled_ref, pooled_cur = pool_sparse_bins(reference, current, 5.0)
    assert pooled_ref.sum() == reference.sum()
    assert pooled_cur.sum() == current.sum()
    if pooled_ref.size >= 2 and pooled_ref.sum() and pooled_cur.sum():
        table = np.vstack((pooled_ref, pooled_cur))
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
        assert expected.min() >= 5.0 - 1e-9
    _, p_value, _ = chi2_homogeneity(pooled_ref, pooled_cur)
    assert 0.0 <= p_value <= 1.0


def test_chi_square_is_pearsons_statistic_without_continuity_correction() -> None:
    # A 2×2 table: where scipy's chi2_contingency would apply Yates' correction unless told not to.
    reference, current = np.array([30, 70]), np.array([45, 55])
    table = np.vstack((reference, current)).astype(np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    assert chi2_homogeneity(reference, current) == pytest.approx((statistic, stats.chi2.sf(statistic, 1), 1))


def test_chi_square_of_a_single_bin_finds_nothing_to_compare() -> None:
    assert chi2_homogeneity(np.array([40]), np.array([60])) == (0.0, 1.0, 0)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 1000), st.integers(0, 1000), st.integers(1, 1000))
def test_two_proportion_p_value_lies_in_unit_interval(x_ref: int, n_ref: int, x_cur: int, n_cur: int) -> None:
    x_ref, x_cur = min(x_ref, n_ref), min(x_cur, n_cur)
    _, p_value = two_proportion_z(x_ref, n_ref, x_cur, n_cur)
    assert 0.0 <= p_value <= 1.0


def test_psi_of_identical_distributions_is_zero_and_grows_with_the_shift() -> None:
    counts = np.array([500, 300, 200])
    assert psi(counts, counts) == pytest.approx(0.0, abs=1e-12)
    assert psi(counts, np.array([300, 300, 400])) > psi(counts, np.array([450, 300, 250])) > 0


def test_cohens_h_floor_matches_documented_rate_changes() -> None:
    assert cohens_h(0.0, 0.0025) == pytest.approx(0.1, abs=1e-3)
    assert cohens_h(0.10, 0.132) == pytest.approx(0.1, abs=3e-3)
