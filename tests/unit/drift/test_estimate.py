"""Label-free performance estimation (CBPE): the expected metrics match their definitions and the mean of realised
metrics over label draws, the intervals cover what they claim to, and the calibrator restores calibrated scores."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from batch_jobs.drift.estimate import (
    ASSUMPTION,
    METRICS,
    PROBABILITY_FLOOR,
    EstimatedPerformance,
    ScoreCalibrator,
    _RankedProbabilities,
    estimate_performance,
    expected_metrics,
)
from batch_jobs.metrics import EPSILON, classification_metrics, roc_auc

FloatArray = NDArray[np.float64]
#: A calibrator that leaves scores in [0, 1] as they are (within the probability floor).
IDENTITY = ScoreCalibrator(knots=(0.0, 1.0), values=(PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR), n_rows=1)
PROPERTY = settings(max_examples=60, deadline=None)

probabilities_strategy = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _pairwise_expected_auc(scores: FloatArray, probabilities: FloatArray) -> float:
    """The expected AUC by its definition, over all ordered pairs of distinct rows: O(n²)."""
    p, q = probabilities[:, None], 1.0 - probabilities[None, :]
    ordered = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    distinct = ~np.eye(scores.size, dtype=bool)
    return float((p * q * ordered)[distinct].sum() / (p * q)[distinct].sum())


def _draws(probabilities: FloatArray, n_draws: int, seed: int) -> NDArray[np.bool_]:
    """`n_draws` label vectors, each label ~ Bernoulli(its probability)."""
    return np.random.default_rng(seed).random((n_draws, probabilities.size)) < probabilities


def test_expected_auc_matches_a_hand_computed_example() -> None:
    # Pairs (positive row, negative row) with s_i > s_j: (1, 0) 0.5 × 0.75, (2, 0) 1 × 0.75; tied, one half each:
    # (1, 2) 0.5 × 0 and (2, 1) 1 × 0.5. Numerator 1.375; denominator Σp Σq − Σpq = 1.75 × 1.25 − 0.4375 = 1.75.
    result = expected_metrics([1.0, 2.0, 2.0], [0.25, 0.5, 1.0])
    assert result["auc"] == pytest.approx(11 / 14, rel=1e-15)


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(0, 5), probabilities_strategy), min_size=2, max_size=30).map(
        lambda rows: (np.array([s for s, _ in rows], dtype=np.float64), np.array([p for _, p in rows]))
    )
)
def test_expected_auc_matches_its_pairwise_definition(rows: tuple[FloatArray, FloatArray]) -> None:
    scores, probabilities = rows
    p, q = probabilities[:, None], 1.0 - probabilities[None, :]
    assume((p * q)[~np.eye(scores.size, dtype=bool)].sum() > 1e-9)
    expected = expected_metrics(scores, probabilities)["auc"]
    assert expected == pytest.approx(_pairwise_expected_auc(scores, probabilities), abs=1e-9)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 8), st.booleans()), min_size=2, max_size=40))
def test_expected_metrics_of_zero_one_probabilities_are_the_realised_metrics(rows: list[tuple[int, bool]]) -> None:
    labels = np.array([label for _, label in rows], dtype=np.float64)
    assume(0 < labels.sum() < labels.size)
    scores = np.array([score for score, _ in rows], dtype=np.float64) / 8  # in [0, 1], with ties
    result = expected_metrics(scores, labels)
    realised = classification_metrics(labels, scores)
    assert result["auc"] == pytest.approx(realised["auc"], abs=1e-12)
    assert result["log_loss"] == pytest.approx(realised["log_loss"], rel=1e-12)
    assert result["positive_rate"] == labels.mean()


@pytest.mark.parametrize("decimals", [None, 2], ids=["distinct scores", "tied scores"])
def test_realised_metrics_of_label_draws_match_the_metrics_engine(decimals: int | None) -> None:
    scores = np.sort(np.random.default_rng(14).beta(2.0, 3.0, size=400))  # sorted: rank order is row order
    if decimals is not None:
        scores = np.round(scores, decimals)
    labels = _draws(scores, 20, seed=15).astype(np.float64)
    realised = _RankedProbabilities(scores, scores).realised(labels)
    for draw, row in enumerate(labels):
        engine = classification_metrics(row, scores)
        assert realised["auc"][draw] == pytest.approx(engine["auc"], abs=1e-12)
        assert realised["log_loss"][draw] == pytest.approx(engine["log_loss"], rel=1e-12)
        assert realised["positive_rate"][draw] == row.mean()


def test_expected_auc_is_the_mean_realised_auc_of_calibrated_label_draws() -> None:
    scores = np.random.default_rng(1).beta(2.0, 3.0, size=1000)
    expected = expected_metrics(scores, scores)["auc"]
    realised = [roc_auc(labels, scores) for labels in _draws(scores, 1000, seed=2)]
    # The standard error of the mean of 1000 draws is about 5e-4; ratio of expectations vs expected ratio ~ 1e-4.
    assert expected == pytest.approx(float(np.mean(realised)), abs=2e-3)


def test_expected_log_loss_and_positive_rate_match_their_closed_forms() -> None:
    rng = np.random.default_rng(3)
    scores = np.concatenate([[0.0, 1.0], rng.uniform(size=98)])  # the ends are clipped at EPSILON
    probabilities = rng.uniform(size=100)
    clipped = np.clip(scores, EPSILON, 1 - EPSILON)
    log_loss = np.mean(-(probabilities * np.log(clipped) + (1 - probabilities) * np.log(1 - clipped)))
    result = expected_metrics(scores, probabilities)
    assert result["log_loss"] == pytest.approx(log_loss, rel=1e-12)
    assert result["positive_rate"] == pytest.approx(probabilities.mean(), rel=1e-12)
    assert expected_metrics([0.5, 0.5], [0.1, 0.9])["log_loss"] == pytest.approx(math.log(2), rel=1e-15)


def test_realised_intervals_cover_about_95_percent_of_realised_metrics() -> None:
    scores = np.random.default_rng(4).beta(2.0, 3.0, size=1000)
    probabilities = IDENTITY(scores)
    estimate = estimate_performance(scores, IDENTITY, n_bootstrap=1000, random_state=5)
    inside: dict[str, list[bool]] = {name: [] for name in METRICS}
    for labels in _draws(probabilities, 200, seed=6):
        realised = classification_metrics(labels, scores)
        realised["positive_rate"] = float(labels.mean())
        for name in METRICS:
            metric = estimate.metric(name)
            inside[name].append(metric.realised_low <= realised[name] <= metric.realised_high)
    for name in METRICS:
        assert 0.9 <= np.mean(inside[name]) <= 0.99, name


def test_bootstrap_interval_covers_the_population_expected_auc() -> None:
    rng = np.random.default_rng(7)
    population = rng.beta(2.0, 3.0, size=200_000)
    truth = expected_metrics(population, IDENTITY(population))["auc"]
    covered = []
    for seed in range(60):
        window = rng.choice(population, size=500)
        metric = estimate_performance(window, IDENTITY, random_state=seed).metric("auc")
        covered.append(metric.ci_low <= truth <= metric.ci_high)
    assert 0.85 <= np.mean(covered) <= 1.0


def test_calibrator_fitted_on_miscalibrated_scores_restores_rate_and_auc() -> None:
    rng = np.random.default_rng(8)
    holdout = rng.uniform(size=20_000)
    calibrator = ScoreCalibrator.fit(holdout, rng.random(holdout.size) < holdout**2)  # the truth is s², not s
    window = rng.uniform(size=5000)
    draws = _draws(window**2, 200, seed=9)
    estimate = estimate_performance(window, calibrator)
    assert float(calibrator(window).mean()) == pytest.approx(float(draws.mean()), abs=0.01)
    assert estimate.metric("positive_rate").value == pytest.approx(float(draws.mean()), abs=0.01)
    realised_auc = float(np.mean([roc_auc(labels, window) for labels in draws]))
    assert estimate.metric("auc").value == pytest.approx(realised_auc, abs=0.005)
    # Without the calibrator the raw scores promise a rate of 1/2 instead of 1/3.
    assert estimate_performance(window, IDENTITY).metric("positive_rate").value > float(draws.mean()) + 0.1


@PROPERTY
@given(st.lists(st.tuples(st.floats(-5.0, 5.0), st.booleans()), min_size=2, max_size=200))
def test_fitted_calibrator_is_monotone_within_the_probability_floor(rows: list[tuple[float, bool]]) -> None:
    labels = np.array([label for _, label in rows], dtype=np.float64)
    assume(0 < labels.sum() < labels.size)
    scores = np.array([score for score, _ in rows])
    calibrator = ScoreCalibrator.fit(scores, labels)
    assert all(np.diff(calibrator.knots) > 0)
    assert all(np.diff(calibrator.values) >= 0)
    mapped = calibrator(np.linspace(-6.0, 6.0, 200))
    assert all(np.diff(mapped) >= 0)
    assert mapped.min() >= PROBABILITY_FLOOR
    assert mapped.max() <= 1.0 - PROBABILITY_FLOOR
    assert calibrator.n_rows == len(rows)


@PROPERTY
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=2, max_size=100))
def test_calibrator_survives_a_json_round_trip(rows: list[tuple[float, bool]]) -> None:
    labels = np.array([label for _, label in rows], dtype=np.float64)
    assume(0 < labels.sum() < labels.size)
    calibrator = ScoreCalibrator.fit(np.array([score for score, _ in rows]), labels)
    restored = ScoreCalibrator.from_json(json.loads(json.dumps(calibrator.to_json(), allow_nan=False)))
    assert restored == calibrator


@PROPERTY
@given(
    st.lists(st.tuples(st.integers(-20, 20), st.floats(0.01, 0.99)), min_size=2, max_size=50),
    st.sampled_from(["cubic", "exp", "shift"]),
)
def test_expected_auc_is_invariant_to_a_monotone_transform_of_scores(
    rows: list[tuple[int, float]], transform: str
) -> None:
    scores = np.array([score for score, _ in rows], dtype=np.float64)
    probabilities = np.array([p for _, p in rows])
    # Strictly increasing on these integers and exact in floating point, so ties stay ties.
    transformed = {"cubic": scores**3 + 5 * scores - 2, "exp": np.exp(scores), "shift": scores / 40 + 0.5}[transform]
    before = expected_metrics(scores, probabilities)["auc"]
    assert expected_metrics(transformed, probabilities)["auc"] == pytest.approx(before, abs=1e-12)


def test_estimated_performance_survives_a_json_round_trip() -> None:
    scores = np.random.default_rng(10).beta(2.0, 3.0, size=300)
    estimate = estimate_performance(scores, IDENTITY, n_bootstrap=50)
    document = json.loads(json.dumps(estimate.to_json(), allow_nan=False))
    assert EstimatedPerformance.from_json(document) == estimate
    assert document["assumption"] == ASSUMPTION
    assert [item["name"] for item in document["metrics"]] == list(METRICS)


def test_estimate_reports_each_metric_with_both_intervals_around_its_value() -> None:
    scores = np.random.default_rng(11).beta(2.0, 3.0, size=2000)
    estimate = estimate_performance(scores, IDENTITY)
    assert (estimate.n_rows, estimate.n_bootstrap, estimate.confidence_level) == (2000, 200, 0.95)
    for name in METRICS:
        metric = estimate.metric(name)
        assert metric.ci_low < metric.value < metric.ci_high
        assert metric.realised_low < metric.value < metric.realised_high
    with pytest.raises(KeyError, match="brier"):
        estimate.metric("brier")


def test_estimate_is_reproducible_from_its_random_state() -> None:
    scores = np.random.default_rng(12).beta(2.0, 3.0, size=500)
    first = estimate_performance(scores, IDENTITY, random_state=1)
    assert estimate_performance(scores, IDENTITY, random_state=1) == first
    other = estimate_performance(scores, IDENTITY, random_state=2)
    assert other.metric("auc").value == first.metric("auc").value
    assert other.metric("auc").ci_low != first.metric("auc").ci_low


def test_calibrator_from_json_names_a_missing_field() -> None:
    with pytest.raises(ValueError, match="lacks field 'knots'"):
        ScoreCalibrator.from_json({"method": "isotonic", "n_rows": 10, "values": [0.5]})


@pytest.mark.parametrize(
    ("scores", "settings_", "message"),
    [
        ([0.5], {}, "at least two rows"),
        ([0.5, math.nan], {}, "non-finite"),
        ([], {}, "empty"),
        ([0.2, 0.5], {"confidence_level": 1.0}, "confidence_level"),
        ([0.2, 0.5], {"n_bootstrap": 0}, "n_bootstrap"),
    ],
)
def test_estimate_performance_rejects_bad_input(scores: list[float], settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_performance(scores, IDENTITY, **settings_)
