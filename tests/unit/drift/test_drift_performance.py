"""Performance on matured labels against the champion's baseline (the metrics engine: tests/unit/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from batch_jobs.drift import DriftConfig, PerformanceVerdict
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.metrics import classification_metrics


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
