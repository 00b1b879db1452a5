"""Per-feature and prediction drift through the suite: false alarms, known shifts, floors and small samples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from batch_jobs.drift import (
    Correction,
    DriftConfig,
    DriftResult,
    DriftSuite,
    ReferenceProfiler,
    SchemaMismatchError,
    Verdict,
)

N_WINDOWS = 200

FrameFactory = Callable[..., pd.DataFrame]


def _binomial_ceiling(n_trials: int, rate: float) -> int:
    """Largest count of false alarms compatible with `rate` (one-sided, 0.1 % chance to exceed by luck)."""
    return int(stats.binom.ppf(0.999, n_trials, rate))


def _features(result: DriftResult) -> dict[str, object]:
    return {feature.name: feature for feature in result.features}


@pytest.fixture(scope="module")
def null_runs(make_frame: FrameFactory, univariate_config: DriftConfig) -> list[DriftResult]:
    """No drift: each window has its own reference and current data, so false alarms are independent."""
    rng = np.random.default_rng(2)
    suite = DriftSuite(univariate_config)
    runs = []
    for window in range(N_WINDOWS):
        reference = make_frame(5000, seed=10_000 + window, n_numeric=8)
        profile = ReferenceProfiler(random_state=window).fit(reference, scores=rng.beta(2, 5, size=5000)).profile_
        current = make_frame(1000, seed=20_000 + window, n_numeric=8)
        runs.append(suite.run(profile, current, current_scores=rng.beta(2, 5, size=1000)))
    return runs


def test_corrected_tests_false_alarm_rate_stays_within_alpha(null_runs: list[DriftResult]) -> None:
    alarms = 0
    for result in null_runs:
        checks = [c for f in result.features for c in (f.distribution, f.missing_rate, f.unseen_categories) if c]
        assert result.prediction is not None
        checks += [result.prediction.score_distribution, result.prediction.positive_rate]
        alarms += any(c.p_value_adjusted is not None and c.p_value_adjusted <= c.alpha for c in checks)
    assert alarms <= _binomial_ceiling(N_WINDOWS, 0.05)


def test_dataset_drift_false_alarm_rate_stays_within_alpha(null_runs: list[DriftResult]) -> None:
    alarms = sum(result.dataset_drift for result in null_runs)
    assert alarms <= _binomial_ceiling(N_WINDOWS, 0.05)


def test_mean_shift_of_a_fifth_sd_is_found_on_5000_rows(
    make_frame: FrameFactory, univariate_config: DriftConfig
) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1)).profile_
    result = DriftSuite(univariate_config).run(profile, make_frame(5000, seed=2, shift=0.2))
    assert result.drifted_features == ("x0",)
    assert result.dataset_drift
    x0 = result.features[0].distribution
    assert (x0.test, x0.effect_size_name, x0.verdict) == ("ks_2samp", "wasserstein_normalised", Verdict.DRIFT)


def test_categorical_frequency_shift_is_found(make_frame: FrameFactory, univariate_config: DriftConfig) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1)).profile_
    current = make_frame(5000, seed=2, probabilities=(0.3, 0.3, 0.4))
    result = DriftSuite(univariate_config).run(profile, current)
    plan = _features(result)["plan"]
    assert result.drifted_features == ("plan",)
    assert plan.distribution.test == "chi2_homogeneity"  # type: ignore[attr-defined]
    assert plan.distribution.drift  # type: ignore[attr-defined]


def test_unseen_categories_are_reported_on_their_own(make_frame: FrameFactory, univariate_config: DriftConfig) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1)).profile_
    current = make_frame(
        5000, seed=2, categories=("basic", "pro", "team", "enterprise"), probabilities=(0.475, 0.285, 0.19, 0.05)
    )
    plan = DriftSuite(univariate_config).run(profile, current).features[-1]
    assert plan.unseen_categories is not None
    assert plan.unseen_categories.drift
    assert plan.unseen_categories.current_value == pytest.approx(0.05, abs=0.01)
    assert plan.unseen_examples == ("enterprise",)
    assert not plan.distribution.drift  # the seen categories keep their proportions


def test_missing_rate_jump_is_reported_on_its_own(make_frame: FrameFactory, univariate_config: DriftConfig) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1)).profile_
    current = make_frame(5000, seed=2)
    current.loc[current.index[:1000], "x1"] = np.nan
    x1 = _features(DriftSuite(univariate_config).run(profile, current))["x1"]
    assert x1.missing_rate.drift  # type: ignore[attr-defined]
    assert x1.missing_rate.current_value == pytest.approx(0.2)  # type: ignore[attr-defined]
    assert not x1.distribution.drift  # type: ignore[attr-defined]
    assert x1.drift  # type: ignore[attr-defined]


def test_small_current_window_gives_insufficient_data_never_drift(
    make_frame: FrameFactory, univariate_config: DriftConfig
) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1)).profile_
    result = DriftSuite(univariate_config).run(profile, make_frame(150, seed=2, shift=2.0))
    assert not result.dataset_drift
    assert {feature.verdict for feature in result.features} == {Verdict.INSUFFICIENT_DATA}
    assert all(feature.distribution.p_value is None for feature in result.features)
    assert result.n_tests == 0


def test_tiny_significant_shift_on_a_huge_sample_is_not_drift(
    make_frame: FrameFactory, univariate_config: DriftConfig
) -> None:
    profile = ReferenceProfiler(sample_size=200_000).fit(make_frame(200_000, seed=1, n_numeric=1)).profile_
    result = DriftSuite(univariate_config).run(profile, make_frame(200_000, seed=2, shift=0.05, n_numeric=1))
    x0 = result.features[0].distribution
    assert x0.p_value_adjusted is not None
    assert x0.p_value_adjusted < 1e-6
    assert x0.effect_size is not None
    assert x0.effect_size < x0.effect_size_threshold
    assert not x0.drift
    assert not result.dataset_drift


def test_bonferroni_adjusts_every_p_value_by_the_number_of_tests(make_frame: FrameFactory) -> None:
    profile = ReferenceProfiler().fit(make_frame(5000, seed=1)).profile_
    config = DriftConfig(multivariate=False, correction=Correction.BONFERRONI)
    result = DriftSuite(config).run(profile, make_frame(2000, seed=2, shift=0.1))
    checks = [c for f in result.features for c in (f.distribution, f.missing_rate, f.unseen_categories) if c]
    assert result.n_tests == len(checks)
    for check in checks:
        assert check.correction is Correction.BONFERRONI
        assert check.p_value is not None
        assert check.p_value_adjusted == pytest.approx(min(1.0, check.p_value * result.n_tests))


def test_benjamini_hochberg_is_never_stricter_than_bonferroni(make_frame: FrameFactory) -> None:
    profile = ReferenceProfiler().fit(make_frame(20_000, seed=1, n_numeric=10)).profile_
    current = make_frame(800, seed=5, n_numeric=10)
    for i, shift in enumerate((0.11, 0.12, 0.13, 0.14, 0.15)):
        current[f"x{i}"] = current[f"x{i}"] + shift
    bh = DriftSuite(DriftConfig(multivariate=False)).run(profile, current)
    bonferroni = DriftSuite(DriftConfig(multivariate=False, correction=Correction.BONFERRONI)).run(profile, current)
    assert set(bonferroni.drifted_features) <= set(bh.drifted_features)
    for bh_feature, bonferroni_feature in zip(bh.features, bonferroni.features, strict=True):
        assert bh_feature.distribution.p_value_adjusted is not None
        assert bonferroni_feature.distribution.p_value_adjusted is not None
        assert bh_feature.distribution.p_value_adjusted <= bonferroni_feature.distribution.p_value_adjusted


def test_prediction_positive_rate_shift_is_found(make_frame: FrameFactory, univariate_config: DriftConfig) -> None:
    rng = np.random.default_rng(4)
    reference = make_frame(20_000, seed=1)
    profile = ReferenceProfiler().fit(reference, scores=rng.beta(2, 5, size=20_000)).profile_
    result = DriftSuite(univariate_config).run(profile, make_frame(5000, seed=2), rng.beta(3, 4, size=5000))
    assert result.prediction is not None
    assert result.prediction.positive_rate.drift
    assert result.prediction.score_distribution.drift
    assert result.drifted_features == ()
    assert result.dataset_drift


def test_missing_profiled_column_is_a_schema_mismatch(make_frame: FrameFactory, univariate_config: DriftConfig) -> None:
    profile = ReferenceProfiler().fit(make_frame(1000, seed=1)).profile_
    with pytest.raises(SchemaMismatchError, match="x2"):
        DriftSuite(univariate_config).run(profile, make_frame(1000, seed=2).drop(columns=["x2"]))


def test_text_in_a_numeric_column_is_a_schema_mismatch(
    make_frame: FrameFactory, univariate_config: DriftConfig
) -> None:
    profile = ReferenceProfiler().fit(make_frame(1000, seed=1)).profile_
    current = make_frame(1000, seed=2)
    current["x1"] = pd.array(["a"] * 1000, dtype="str")
    with pytest.raises(SchemaMismatchError, match="x1"):
        DriftSuite(univariate_config).run(profile, current)
