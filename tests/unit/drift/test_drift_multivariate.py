"""The domain classifier: joint changes with unchanged marginals, null calibration, small samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfiler, Verdict


def _correlated(n: int, correlation: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = correlation * x1 + np.sqrt(1 - correlation**2) * rng.normal(size=n)
    plan = pd.array(rng.choice(np.array(["basic", "pro", "team"]), size=n), dtype="str")
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": rng.normal(size=n), "plan": plan})


def test_correlation_flip_is_found_by_the_domain_classifier_only() -> None:
    profile = ReferenceProfiler().fit(_correlated(10_000, 0.8, seed=1)).profile_
    result = DriftSuite(DriftConfig()).run(profile, _correlated(5000, -0.8, seed=2))
    domain = result.multivariate
    assert domain is not None
    assert domain.drift
    assert domain.auc is not None
    assert domain.auc > 0.8
    assert result.drifted_features == ()
    assert result.dataset_drift
    assert {item.name for item in domain.top_features[:2]} == {"x1", "x2"}


def test_domain_classifier_false_alarm_rate_stays_within_alpha() -> None:
    config = DriftConfig(min_samples=100, domain_max_rows=300, domain_max_iter=10)
    suite = DriftSuite(config)
    n_windows = 50
    significant = 0
    for window in range(n_windows):  # independent reference and current per window, so alarms are independent
        profile = ReferenceProfiler(random_state=window).fit(_correlated(300, 0.5, seed=1000 + window)).profile_
        domain = suite.run(profile, _correlated(300, 0.5, seed=5000 + window)).multivariate
        assert domain is not None
        assert domain.p_value is not None
        significant += domain.p_value <= config.alpha
    assert significant <= stats.binom.ppf(0.999, n_windows, config.alpha)


def test_domain_classifier_gives_insufficient_data_below_min_samples() -> None:
    profile = ReferenceProfiler().fit(_correlated(3000, 0.8, seed=1)).profile_
    domain = DriftSuite(DriftConfig()).run(profile, _correlated(150, -0.8, seed=2)).multivariate
    assert domain is not None
    assert domain.verdict is Verdict.INSUFFICIENT_DATA
    assert not domain.drift
    assert domain.auc is None


def test_separating_features_are_not_reported_for_a_chance_level_classifier() -> None:
    profile = ReferenceProfiler().fit(_correlated(5000, 0.5, seed=1)).profile_
    domain = DriftSuite(DriftConfig()).run(profile, _correlated(3000, 0.5, seed=2)).multivariate
    assert domain is not None
    assert domain.auc is not None
    assert domain.auc < domain.auc_threshold
    assert domain.top_features == ()
    assert not domain.drift
