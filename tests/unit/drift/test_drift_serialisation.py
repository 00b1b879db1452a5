"""Property tests of whole suite runs: identical data never drifts, results survive JSON."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_jobs.drift import DriftConfig, DriftResult, DriftSuite, ReferenceProfiler, Verdict


def _frame(seed: int, n: int, missing: float, shift: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "amount": rng.lognormal(size=n) + shift,
            "age": rng.integers(18, 90, size=n).astype(float),
            "plan": pd.array(rng.choice(np.array(["a", "b", "c", "d"]), size=n, p=[0.6, 0.3, 0.08, 0.02]), dtype="str"),
        }
    )
    frame.loc[rng.random(n) < missing, "age"] = np.nan
    return frame, rng.random(n)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(200, 800), st.floats(0.0, 0.3))
def test_identical_samples_never_drift(seed: int, n: int, missing: float) -> None:
    frame, scores = _frame(seed, n, missing, 0.0)
    profile = ReferenceProfiler(sample_size=n).fit(frame, scores=scores).profile_
    result = DriftSuite(DriftConfig(multivariate=False)).run(profile, frame, current_scores=scores)
    assert not result.dataset_drift
    for feature in result.features:
        p_value = feature.distribution.p_value
        assert (p_value is None and feature.verdict is Verdict.INSUFFICIENT_DATA) or (p_value or 0.0) > 0.99


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.integers(100, 600), st.floats(0.0, 1.0), st.booleans())
def test_results_serialise_to_json_and_back(seed: int, n: int, shift: float, with_labels: bool) -> None:
    reference, ref_scores = _frame(seed, 1000, 0.05, 0.0)
    current, cur_scores = _frame(seed + 1, n, 0.1, shift)
    labels = (np.random.default_rng(seed).random(n) < cur_scores).astype(int) if with_labels else None
    profile = ReferenceProfiler().fit(reference, scores=ref_scores, holdout_metrics={"auc": 0.5}).profile_
    config = DriftConfig(min_samples=100, domain_max_rows=200, domain_max_iter=5, n_bootstrap=50)
    result = DriftSuite(config).run(profile, current, current_scores=cur_scores, current_labels=labels)
    text = result.to_json()
    assert DriftResult.from_json(text) == result
    assert json.loads(text)["dataset_drift"] is result.dataset_drift
    for check in [c for f in result.features for c in (f.distribution, f.missing_rate)]:
        if check.p_value is None:
            continue
        assert check.p_value_adjusted is not None
        assert 0.0 <= check.p_value <= check.p_value_adjusted <= 1.0
