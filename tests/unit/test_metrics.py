"""The metrics engine: weighted metrics agree with scikit-learn, ECE with its textbook definition, and every bootstrap
replicate is the metric of the rows it resampled."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from batch_jobs.metrics import (
    EPSILON,
    RankedScores,
    bootstrap_metrics,
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
    expected_calibration_errors,
    multinomial_counts,
    paired_bootstrap_values,
    percentile_interval,
    poisson_counts,
    roc_auc,
    row_losses,
)

FloatArray = NDArray[np.float64]
TIES = pytest.mark.parametrize("decimals", [None, 2], ids=["distinct scores", "tied scores"])


def _model_output(n: int, seed: int, decimals: int | None = None, noise: float = 0.5) -> tuple[FloatArray, FloatArray]:
    """0/1 labels drawn from a calibrated score, and a noisy model's scores (rounded to `decimals`: ties)."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(0, 2, size=n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    scores = 1 / (1 + np.exp(-(logit + rng.normal(0, noise, size=n))))
    if decimals is not None:  # kept off 0 and 1, where scikit-learn clips the log loss at another epsilon
        scores = np.clip(np.round(scores, decimals), 10.0**-decimals, 1.0 - 10.0**-decimals)
    return labels, scores


def _reference_ece(labels: FloatArray, scores: FloatArray, weights: FloatArray, n_bins: int) -> float:
    """Textbook ECE: Σ over bins of (bin weight / total weight) × |mean label − mean score| in the bin."""
    bins = np.minimum(np.digitize(scores, np.arange(1, n_bins) / n_bins), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        inside = bins == b
        if weights[inside].sum() > 0:
            accuracy = np.average(labels[inside], weights=weights[inside])
            confidence = np.average(scores[inside], weights=weights[inside])
            ece += weights[inside].sum() / weights.sum() * abs(accuracy - confidence)
    return ece


@TIES
def test_point_metrics_match_scikit_learn(decimals: int | None) -> None:
    labels, scores = _model_output(3000, seed=2, decimals=decimals)
    metrics = classification_metrics(labels, scores)
    assert metrics["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, scores), rel=1e-12)
    assert metrics["brier"] == pytest.approx(brier_score_loss(labels, scores), rel=1e-12)
    assert metrics["ece"] == pytest.approx(_reference_ece(labels, scores, np.ones(labels.size), 10), abs=1e-12)


@TIES
def test_weighted_metrics_match_scikit_learn_sample_weight(decimals: int | None) -> None:
    labels, scores = _model_output(2000, seed=3, decimals=decimals)
    weights = np.random.default_rng(4).exponential(size=(3, labels.size))  # fractional weights
    ranked = RankedScores(labels, scores)
    values = ranked.metrics(ranked.rank(weights), n_bins=15)
    for r, w in enumerate(weights):
        assert values["auc"][r] == pytest.approx(roc_auc_score(labels, scores, sample_weight=w), abs=1e-12)
        assert values["log_loss"][r] == pytest.approx(log_loss(labels, scores, sample_weight=w), rel=1e-12)
        assert values["brier"][r] == pytest.approx(brier_score_loss(labels, scores, sample_weight=w), rel=1e-12)
        assert values["ece"][r] == pytest.approx(_reference_ece(labels, scores, w, 15), abs=1e-12)


@TIES
def test_integer_weights_give_the_same_auc_in_int32_int64_and_float64(decimals: int | None) -> None:
    labels, scores = _model_output(500, seed=5, decimals=decimals)
    ranked = RankedScores(labels, scores)
    counts = poisson_counts(np.random.default_rng(6), 4, labels.size)
    huge = counts * 2**24  # the sums of these exceed int32: they need int64
    expected = [roc_auc_score(labels, scores, sample_weight=w) for w in counts[:, np.argsort(ranked.order)]]
    for weights in (counts, counts.astype(np.int32), huge, counts.astype(np.float64)):
        np.testing.assert_allclose(ranked.auc(weights), expected, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 4)), min_size=2, max_size=40),
)
def test_auc_under_integer_weights_matches_scikit_learn_with_many_ties(data: list[tuple[int, int, int]]) -> None:
    labels = np.array([label for label, _, _ in data])
    scores = np.array([score / 6 for _, score, _ in data])
    weights = np.array([[weight for _, _, weight in data]])
    ranked = RankedScores(labels, scores)
    (auc,) = ranked.auc(ranked.rank(weights))
    kept = weights[0] > 0
    if len(set(labels[kept].tolist())) < 2:
        assert math.isnan(auc)
    else:
        assert auc == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights[0]), abs=1e-12)


def test_auc_is_nan_without_both_classes() -> None:
    assert math.isnan(roc_auc(np.zeros(50), np.linspace(0, 1, 50)))
    assert math.isnan(classification_metrics(np.ones(50), np.linspace(0, 1, 50))["auc"])


def test_roc_auc_matches_scikit_learn_on_boolean_labels() -> None:
    labels, scores = _model_output(1000, seed=7, decimals=1)
    assert roc_auc(labels.astype(bool), scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_log_loss_clips_confidently_wrong_scores_at_epsilon() -> None:
    losses = row_losses("log_loss", np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]))
    # ln(1e15) ≈ 34.54 nats; 1 − EPSILON is not exact in binary, hence the relative tolerance.
    assert losses[:2] == pytest.approx([-math.log(EPSILON)] * 2, rel=1e-4)
    assert 0.0 < losses[2] < 2 * EPSILON


def test_row_losses_refuse_a_metric_that_is_not_a_row_mean() -> None:
    with pytest.raises(ValueError, match="not a per-row loss"):
        row_losses("auc", np.zeros(3), np.zeros(3))


def test_calibration_bins_are_half_open_with_one_in_the_last_bin() -> None:
    bins = calibration_bins(np.array([0.0, 0.0999, 0.1, 0.55, 0.9, 1.0]), 10)
    assert bins.tolist() == [0, 0, 1, 5, 9, 9]


def test_ece_of_every_label_row_equals_the_ece_of_that_row() -> None:
    labels, scores = _model_output(800, seed=8, decimals=2)
    draws = np.random.default_rng(9).random((5, labels.size)) < scores
    expected = [_reference_ece(row.astype(np.float64), scores, np.ones(labels.size), 10) for row in draws]
    np.testing.assert_allclose(expected_calibration_errors(draws, scores, 10), expected, rtol=0, atol=1e-12)
    assert expected_calibration_error(labels, scores, 10) == pytest.approx(
        _reference_ece(labels, scores, np.ones(labels.size), 10), abs=1e-12
    )


@TIES
def test_poisson_bootstrap_replicates_are_the_metrics_of_the_resampled_rows(decimals: int | None) -> None:
    labels, scores = _model_output(400, seed=10, decimals=decimals)
    replicates = bootstrap_metrics(labels, scores, 5, np.random.default_rng(11))
    # The engine draws the same counts in the rank order of the scores: counts[r, j] copies of row order[j].
    order = RankedScores(labels, scores).order
    counts = poisson_counts(np.random.default_rng(11), 5, labels.size)
    for r, row in enumerate(counts):
        rows = np.repeat(order, row)
        y, p = labels[rows], scores[rows]
        assert replicates["auc"][r] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert replicates["log_loss"][r] == pytest.approx(log_loss(y, p), rel=1e-12)
        assert replicates["brier"][r] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
        assert replicates["ece"][r] == pytest.approx(_reference_ece(y, p, np.ones(y.size), 10), abs=1e-12)


@pytest.mark.parametrize("metric", ["auc", "log_loss", "brier"])
@TIES
def test_paired_bootstrap_scores_both_models_on_the_same_resampled_rows(metric: str, decimals: int | None) -> None:
    labels, first = _model_output(300, seed=12, decimals=decimals)
    _, second = _model_output(300, seed=13, decimals=decimals, noise=1.5)
    values = paired_bootstrap_values(metric, labels, first, second, n_resamples=6, rng=np.random.default_rng(14))
    score = {"auc": roc_auc_score, "log_loss": log_loss, "brier": brier_score_loss}[metric]
    counts = multinomial_counts(np.random.default_rng(14), 6, labels.size)
    for r, row in enumerate(counts):
        rows = np.repeat(np.arange(labels.size), row)
        for model, scores in enumerate((first, second)):
            assert values[model][r] == pytest.approx(score(labels[rows], scores[rows]), rel=1e-12, abs=1e-12)


def test_paired_bootstrap_refuses_a_metric_it_cannot_resample() -> None:
    with pytest.raises(ValueError, match="cannot bootstrap 'ece'"):
        paired_bootstrap_values(
            "ece", np.zeros(3), np.zeros(3), np.zeros(3), n_resamples=1, rng=np.random.default_rng()
        )


def test_bootstrap_in_blocks_returns_every_replicate() -> None:
    labels, scores = _model_output(1000, seed=15)
    replicates = bootstrap_metrics(labels, scores, 25, np.random.default_rng(16), block_cells=7_000)
    assert all(values.shape == (25,) and np.isfinite(values).all() for values in replicates.values())
    first, second = paired_bootstrap_values(
        "auc", labels, scores, scores, n_resamples=25, rng=np.random.default_rng(16), block_cells=7_000
    )
    assert first.shape == (25,)
    np.testing.assert_array_equal(first, second)


def test_bootstrap_intervals_cover_the_point_estimate() -> None:
    labels, scores = _model_output(2000, seed=17, noise=0.3)
    point = classification_metrics(labels, scores)
    replicates = bootstrap_metrics(labels, scores, 300, np.random.default_rng(0))
    for name, values in replicates.items():
        assert values.shape == (300,)
        low, high = np.quantile(values, [0.025, 0.975])
        assert low <= point[name] <= high


def test_multinomial_counts_draw_n_rows_per_replicate() -> None:
    counts = multinomial_counts(np.random.default_rng(18), 200, 1000)
    assert counts.shape == (200, 1000)
    assert (counts.sum(axis=1) == 1000).all()
    assert counts.mean() == pytest.approx(1.0)


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


def test_percentile_interval_ignores_non_finite_replicates_and_matches_numpy() -> None:
    replicates = np.array([np.nan, 0.1, 0.2, 0.3, 0.4, np.inf, 0.5])
    expected = np.percentile([0.1, 0.2, 0.3, 0.4, 0.5], [5, 95])
    assert percentile_interval(replicates, 0.9) == pytest.approx(tuple(expected))
    assert all(np.isnan(bound) for bound in percentile_interval([np.nan], 0.95))
