"""The synthetic churn generator: determinism, churn-like prevalence and each scenario knob."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import (
    CENTER,
    FEATURES,
    MISSING_RATES,
    PROBABILITY_COLUMN,
    TARGET,
    CategoryShift,
    ConceptShift,
    CovariateShift,
    generate_churn,
)


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return generate_churn(20_000, seed=7, include_probability=True)


def test_same_seed_gives_the_same_frame() -> None:
    pd.testing.assert_frame_equal(generate_churn(500, seed=3), generate_churn(500, seed=3))


def test_different_seeds_give_different_frames() -> None:
    assert not generate_churn(500, seed=3).equals(generate_churn(500, seed=4))


def test_prevalence_is_churn_like(base: pd.DataFrame) -> None:
    assert 0.15 <= base[TARGET].mean() <= 0.25


def test_columns_are_the_features_then_the_target() -> None:
    frame = generate_churn(10, seed=0)
    assert tuple(frame.columns) == (*FEATURES, TARGET)
    assert set(frame[TARGET].unique()) <= {0, 1}


def test_missing_values_follow_the_documented_rates(base: pd.DataFrame) -> None:
    observed = base[list(FEATURES)].isna().mean()
    expected = pd.Series({name: MISSING_RATES.get(name, 0.0) for name in FEATURES})
    assert np.allclose(observed, expected, atol=0.01)


def test_labels_follow_the_true_probability(base: pd.DataFrame) -> None:
    assert abs(base[TARGET].mean() - base[PROBABILITY_COLUMN].mean()) < 0.01


def test_covariate_shift_moves_only_the_shifted_feature(base: pd.DataFrame) -> None:
    shifted = generate_churn(
        20_000,
        seed=7,
        include_probability=True,
        covariate_shifts=[CovariateShift("usage_hours", shift=10.0, scale=2.0)],
    )
    center = CENTER["usage_hours"]
    expected = center + 2.0 * (base["usage_hours"] - center) + 10.0
    pd.testing.assert_series_equal(shifted["usage_hours"], expected)
    pd.testing.assert_frame_equal(
        shifted.drop(columns=["usage_hours", TARGET, PROBABILITY_COLUMN]),
        base.drop(columns=["usage_hours", TARGET, PROBABILITY_COLUMN]),
    )


def test_concept_shift_changes_churn_probability_but_not_features(base: pd.DataFrame) -> None:
    shifted = generate_churn(
        20_000, seed=7, include_probability=True, concept_shift=ConceptShift({"support_calls": -0.7}, 0.5)
    )
    pd.testing.assert_frame_equal(shifted[list(FEATURES)], base[list(FEATURES)])
    calls_effect = np.corrcoef(shifted["support_calls"], shifted[PROBABILITY_COLUMN])[0, 1]
    assert calls_effect < 0 < np.corrcoef(base["support_calls"], base[PROBABILITY_COLUMN])[0, 1]


def test_category_shift_changes_category_frequencies() -> None:
    frame = generate_churn(5_000, seed=1, category_shifts=[CategoryShift("contract", {"two-year": 1.0})])
    assert set(frame["contract"].unique()) == {"two-year"}


def test_corrupted_feature_is_entirely_missing_and_labels_unchanged(base: pd.DataFrame) -> None:
    corrupted = generate_churn(20_000, seed=7, include_probability=True, corrupted_features=["tenure_months"])
    assert corrupted["tenure_months"].isna().all()
    pd.testing.assert_series_equal(corrupted[TARGET], base[TARGET])


def test_corrupted_categorical_feature_is_entirely_missing() -> None:
    assert generate_churn(100, seed=1, corrupted_features=["plan"])["plan"].isna().all()


def test_covariate_shift_of_a_categorical_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="numeric feature"):
        CovariateShift("plan", shift=1.0)


def test_concept_shift_with_unknown_term_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown coefficient terms"):
        ConceptShift({"plan=gold": 1.0})


def test_unknown_corrupted_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown corrupted features"):
        generate_churn(10, seed=0, corrupted_features=["colour"])
