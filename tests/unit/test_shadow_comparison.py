"""A shadow challenger on live traffic: the comparison's numbers, and promotion under the gate's rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy.stats import ks_2samp

from batch_jobs.gate import GateConfig
from batch_jobs.metrics import bootstrap_metrics, percentile_interval
from batch_jobs.monitoring.shadow import (
    ShadowComparison,
    ShadowConfig,
    ShadowOutcome,
    compare_shadow,
    decide_promotion,
)

START = datetime(2026, 11, 23, tzinfo=UTC)
GATE = GateConfig(n_bootstrap=300)  # enough for these clear-cut cases
CONFIG = ShadowConfig(min_requests=1000, min_days=3.0)
THRESHOLD = 0.3


def _sigmoid(values: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = 1 / (1 + np.exp(-values))
    return result


def _traffic(shadow: str, *, requests: int = 4000, labelled: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Live requests over four days; the champion sees the first feature, the shadow is `better` (both features),
    `same` (the champion's scores), `worse` (the second feature only), `constant` or `inverted`."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(requests, 2))
    labels = (rng.random(requests) < _sigmoid(1.5 * features[:, 0] + 1.0 * features[:, 1] - 1.5)).astype(float)
    champion = _sigmoid(1.5 * features[:, 0] - 1.5)
    shadows = {
        "better": _sigmoid(1.5 * features[:, 0] + 1.0 * features[:, 1] - 1.5),
        "same": champion,
        "worse": _sigmoid(1.0 * features[:, 1] - 1.5),
        "constant": np.full(requests, 0.2),
        "inverted": 1 - champion,
    }
    scores = shadows[shadow]
    labels[labelled:] = np.nan
    return pd.DataFrame(
        {
            "ts": pd.Timestamp(START) + pd.to_timedelta(np.sort(rng.uniform(0, 4 * 86_400, requests)), unit="s"),
            "score": champion,
            "predicted_label": (champion >= THRESHOLD).astype(int),
            "latency_ms": rng.gamma(4.0, 3.0, requests),
            "shadow_score": scores,
            "shadow_label": (scores >= THRESHOLD).astype(int),
            "shadow_latency_ms": rng.gamma(4.0, 4.0, requests),
            "label": labels,
        }
    )


def _compare(frame: pd.DataFrame, days: float = 4.0) -> ShadowComparison:
    return compare_shadow(frame, CONFIG, started_at=START, now=START + timedelta(days=days), gate_config=GATE)


def test_a_better_challenger_is_promoted() -> None:
    decision = decide_promotion(_compare(_traffic("better")), CONFIG)
    assert decision.outcome is ShadowOutcome.PROMOTE
    assert decision.promotes
    assert "better beyond noise" in decision.reasons[0]


def test_an_identical_challenger_is_not_promoted() -> None:
    decision = decide_promotion(_compare(_traffic("same")), CONFIG)
    assert decision.outcome is ShadowOutcome.KEEP_CHAMPION
    assert "not better beyond noise" in decision.reasons[0]
    assert decision.comparison.agreement == 1.0
    assert decision.comparison.ks_statistic == 0.0


def test_an_identical_challenger_is_promoted_when_the_champion_is_failing() -> None:
    decision = decide_promotion(_compare(_traffic("same")), CONFIG, champion_failing="AUC decayed on reviewed labels")
    assert decision.outcome is ShadowOutcome.PROMOTE
    assert "the champion is failing (AUC decayed on reviewed labels)" in decision.reasons[0]


def test_a_worse_challenger_is_kept_out() -> None:
    decision = decide_promotion(_compare(_traffic("worse")), CONFIG, champion_failing="drift")
    assert decision.outcome is ShadowOutcome.KEEP_CHAMPION
    assert "non_inferiority fails" in decision.reasons[0]
    assert not decision.catastrophic


@pytest.mark.parametrize(("requests", "days"), [(500, 4.0), (4000, 2.0)])
def test_too_few_requests_or_days_continue_the_shadow(requests: int, days: float) -> None:
    decision = decide_promotion(_compare(_traffic("better", requests=requests, labelled=requests), days), CONFIG)
    assert decision.outcome is ShadowOutcome.CONTINUE_SHADOW
    assert "still collecting" in decision.reasons[0]


def test_too_few_labels_continue_the_shadow() -> None:
    decision = decide_promotion(_compare(_traffic("better", labelled=300)), CONFIG)
    assert decision.outcome is ShadowOutcome.CONTINUE_SHADOW
    assert "too few labels to judge" in decision.reasons[0]


def test_a_constant_challenger_is_kept_out_as_catastrophic() -> None:
    decision = decide_promotion(_compare(_traffic("constant")), CONFIG)
    assert decision.outcome is ShadowOutcome.KEEP_CHAMPION
    assert decision.catastrophic
    assert any("not_constant" in reason for reason in decision.reasons)


def test_non_finite_shadow_scores_are_catastrophic_at_once() -> None:
    frame = _traffic("better", requests=200, labelled=0)
    frame.loc[3, "shadow_score"] = np.nan
    decision = decide_promotion(_compare(frame, days=0.5), CONFIG)
    assert decision.outcome is ShadowOutcome.KEEP_CHAMPION
    assert "finite: 1 of 200 shadow scores" in decision.reasons[0]


def test_a_challenger_that_disagrees_with_the_champion_is_catastrophic() -> None:
    decision = decide_promotion(_compare(_traffic("inverted")), CONFIG)
    assert decision.outcome is ShadowOutcome.KEEP_CHAMPION
    assert any("agreement" in reason for reason in decision.reasons)


def test_the_comparison_reports_latency_scores_and_labels() -> None:
    frame = _traffic("better")
    comparison = _compare(frame)
    assert comparison.requests == 4000
    assert comparison.labelled == 3000
    assert comparison.positives == int(frame["label"].sum())
    assert comparison.days == pytest.approx(4.0)
    assert comparison.champion_latency.p50 == pytest.approx(float(np.median(frame["latency_ms"])))
    assert comparison.shadow_latency.p95 == pytest.approx(float(np.percentile(frame["shadow_latency_ms"], 95)))
    assert comparison.mean_score_difference == pytest.approx(float((frame["shadow_score"] - frame["score"]).mean()))
    expected = ks_2samp(frame["score"], frame["shadow_score"])
    assert (comparison.ks_statistic, comparison.ks_p_value) == pytest.approx((expected.statistic, expected.pvalue))
    assert comparison.first_request is not None
    assert comparison.first_request.startswith("2026-11-23")


def test_the_paired_interval_is_narrower_than_an_unpaired_one() -> None:
    frame = _traffic("better")
    comparison = _compare(frame)
    assert comparison.difference is not None
    paired = comparison.difference.upper - comparison.difference.lower
    known = frame["label"].notna().to_numpy()
    y = frame["label"].to_numpy()[known]
    champion_rng, shadow_rng = np.random.default_rng(1), np.random.default_rng(2)
    champion = bootstrap_metrics(y, frame["score"].to_numpy()[known], GATE.n_bootstrap, champion_rng)["auc"]
    shadow = bootstrap_metrics(y, frame["shadow_score"].to_numpy()[known], GATE.n_bootstrap, shadow_rng)["auc"]
    low, high = percentile_interval(shadow - champion, GATE.confidence)
    assert paired < 0.7 * (high - low)


def test_decisions_serialise_to_strict_json() -> None:
    for shadow in ("better", "constant"):
        document = decide_promotion(_compare(_traffic(shadow, labelled=0)), CONFIG).to_json()
        json.dumps(document, allow_nan=False)
        assert document["outcome"] in {"keep_champion", "continue_shadow"}
        assert document["comparison"]["gate"]["margin"] == GATE.margin


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="lack column"):
        _compare(pd.DataFrame({"score": [0.1]}))
    with pytest.raises(ValueError, match="before the shadow started"):
        _compare(_traffic("same", requests=10, labelled=0), days=-1.0)
    with pytest.raises(ValueError, match="invalid ShadowConfig"):
        ShadowConfig(min_agreement=1.5)
