"""Performance on matured labels against the champion's baseline."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from batch_jobs.drift import DriftConfig, PerformanceVerdict
from batch_jobs.drift.performance import (
    bootstrap_metrics,
    classification_metrics,
    evaluate_performance,
    poisson_counts,
    weighted_metrics,
)


def _model_output(n: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a calibrated score; `noise` > 0 makes a worse model's scores."""
    rng = np.random.default_rng(seed)
    truth = 1 / (1 + np.exp(-rng.normal(0, 2, size=n)))
    labels = (rng.random(n) < truth).astype(np.float64)
    scores = 1 / (1 + np.exp(-(np.log(truth / (1 - truth)) + rng.normal(0, noise, size=n)))) if noise else truth
    return labels, scores


@pytest.fixture(scope="module")
def baseline() -> dict[str, float]:
    labels, scores = _model_output(20_000, seed=1, noise=0.0)
    return classification_metrics(labels, scores)


def test_point_metrics_match_scikit_learn() -> None:
    labels, scores = _model_output(3000, seed=2, noise=0.5)
    scores = np.round(scores, 2)  # ties
    metrics = classification_metrics(labels, scores)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, scores))
    assert metrics["brier"] == pytest.approx(brier_score_loss(labels, scores))


def test_bootstrap_intervals_cover_the_point_estimate() -> None:
    labels, scores = _model_output(2000, seed=3, noise=0.3)
    point = classification_metrics(labels, scores)
    replicates = bootstrap_metrics(labels, scores, 300, np.random.default_rng(0))
    for name, values in replicates.items():
        assert values.shape == (300,)
        low, high = np.quantile(values, [0.025, 0.975])
        assert low <= point[name] <= high


def test_worse_model_is_detected_as_decay(baseline: dict[str, float]) -> None:
    labels, scores = _model_output(3000, seed=4, noise=2.0)
    result = evaluate_performance(labels, scores, baseline, DriftConfig())
    assert result.decay
    assert result.verdict is PerformanceVerdict.DECAY
    auc = result.metrics[0]
    assert auc.name == "auc"
    assert auc.decay
    assert auc.difference_ci_high is not None
    assert auc.difference_ci_high < -auc.margin


def test_same_model_on_fresh_labels_does_not_decay(baseline: dict[str, float]) -> None:
    labels, scores = _model_output(3000, seed=5, noise=0.0)
    result = evaluate_performance(labels, scores, baseline, DriftConfig())
    assert not result.decay
    assert result.verdict is PerformanceVerdict.NO_DECAY


def test_too_few_matured_labels_give_insufficient_data(baseline: dict[str, float]) -> None:
    labels, scores = _model_output(150, seed=6, noise=2.0)
    result = evaluate_performance(labels, scores, baseline, DriftConfig())
    assert result.verdict is PerformanceVerdict.INSUFFICIENT_DATA
    assert not result.decay
    assert all(metric.value is None for metric in result.metrics)


def test_a_single_class_gives_insufficient_data(baseline: dict[str, float]) -> None:
    _, scores = _model_output(1000, seed=7, noise=0.0)
    result = evaluate_performance(np.zeros(1000), scores, baseline, DriftConfig())
    assert result.verdict is PerformanceVerdict.INSUFFICIENT_DATA
    assert not result.decay


def test_unlabelled_rows_are_dropped_before_evaluation(baseline: dict[str, float]) -> None:
    labels, scores = _model_output(1000, seed=8, noise=0.0)
    labels[:400] = np.nan
    assert evaluate_performance(labels, scores, baseline, DriftConfig()).n_labels == 600


def test_missing_baseline_is_reported_not_judged() -> None:
    labels, scores = _model_output(1000, seed=9, noise=2.0)
    result = evaluate_performance(labels, scores, {}, DriftConfig())
    assert result.verdict is PerformanceVerdict.NO_BASELINE
    assert not result.decay


@pytest.mark.parametrize("decimals", [None, 2], ids=["distinct scores", "tied scores"])
def test_weighted_metrics_are_the_metrics_of_the_resampled_rows(decimals: int | None) -> None:
    labels, scores = _model_output(400, seed=10, noise=0.5)
    if decimals is not None:
        scores = np.round(scores, decimals)
    order = np.argsort(scores, kind="stable")
    labels, scores = labels[order], scores[order]
    counts = poisson_counts(np.random.default_rng(11), 5, labels.size)
    values = weighted_metrics(counts.astype(np.float64), labels, scores, 10)
    for replicate, row in enumerate(counts):
        resampled_labels, resampled_scores = np.repeat(labels, row), np.repeat(scores, row)
        expected = classification_metrics(resampled_labels, resampled_scores)
        assert values["auc"][replicate] == pytest.approx(roc_auc_score(resampled_labels, resampled_scores))
        assert values["log_loss"][replicate] == pytest.approx(log_loss(resampled_labels, resampled_scores))
        assert values["brier"][replicate] == pytest.approx(brier_score_loss(resampled_labels, resampled_scores))
        assert values["ece"][replicate] == pytest.approx(expected["ece"])


def test_poisson_counts_are_independent_poisson_one_draws() -> None:
    counts = poisson_counts(np.random.default_rng(12), 400, 2500)
    assert counts.shape == (400, 2500)
    # Goodness of fit of every cell to Poisson(1), the tail pooled from 5 on.
    observed = np.bincount(np.minimum(counts.ravel(), 5), minlength=6)
    probabilities = stats.poisson.pmf(np.arange(5), 1.0)
    expected = counts.size * np.append(probabilities, 1.0 - probabilities.sum())
    assert stats.chisquare(observed, expected).pvalue > 0.001
    # Row totals vary as a Poisson(n) total does (a multinomial would fix them at n), and rows are uncorrelated.
    totals = counts.sum(axis=1)
    assert totals.std() == pytest.approx(np.sqrt(2500), rel=0.15)
    correlations = np.asarray(np.corrcoef(counts[:50]))[np.triu_indices(50, k=1)]
    assert np.abs(correlations).max() < 5 / np.sqrt(2500)
