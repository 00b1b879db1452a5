"""Review sampling: the design selects what it says (by request id, in numpy and in SQL alike), and the estimates from
reviewed labels cover the population's truth at their nominal level; the decay rule keeps its sample-size floor."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from batch_jobs.drift.results import PerformanceVerdict
from batch_jobs.metrics import roc_auc
from batch_jobs.monitoring.review import (
    ReviewDesign,
    ReviewedPerformance,
    estimate_reviewed,
    keys_of,
    reviewed_decay,
)
from core.lake import SAMPLE_KEY_SPACE

POPULATION = 50_000
REPLICATES = 500
RESAMPLES = 100  # per replicate; the percentile interval's tails stay unbiased, only noisier


@dataclass(frozen=True)
class Population:
    """A finite population of predictions with known outcomes, and the review design drawn from it."""

    scores: NDArray[np.float64]
    labels: NDArray[np.int64]
    design: ReviewDesign
    strata: NDArray[np.int64]
    counts: NDArray[np.int64]


@dataclass(frozen=True)
class Replicates:
    """Per replicate sample: the estimates' intervals and the naive (unweighted) AUC."""

    rate: NDArray[np.float64]  # columns: value, low, high
    auc: NDArray[np.float64]
    naive_auc: NDArray[np.float64]


def _population(seed: int = 7) -> Population:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=POPULATION)
    labels = (rng.random(POPULATION) < 1 / (1 + np.exp(2.8 - 1.4 * signal))).astype(np.int64)  # ~10 % positive
    scores = 1 / (1 + np.exp(2.8 - 1.4 * (signal + 0.5 * rng.normal(size=POPULATION))))  # a noisy model of it
    design = ReviewDesign.at_threshold(float(np.quantile(scores, 0.9)), 0.1, share=0.03, oversample=4.0)
    strata = design.stratum_of(scores)
    return Population(scores, labels, design, strata, np.bincount(strata, minlength=design.n_strata))


@pytest.fixture(scope="module")
def population() -> Population:
    return _population()


@pytest.fixture(scope="module")
def replicates(population: Population) -> Replicates:
    """The design's sample drawn REPLICATES times, each with fresh sampling keys (another set of request ids: the
    hash is uniform, so uniform keys stand for it at a fraction of the cost)."""
    rng = np.random.default_rng(11)
    rate: list[tuple[float | None, ...]] = []
    auc: list[tuple[float | None, ...]] = []
    naive: list[float] = []
    for replicate in range(REPLICATES):
        keys = rng.integers(0, SAMPLE_KEY_SPACE, size=POPULATION)
        chosen = population.design.select(population.scores, sample_keys=keys)
        estimate = estimate_reviewed(
            population.scores[chosen],
            population.labels[chosen],
            population.strata[chosen],
            population.counts.tolist(),
            n_bootstrap=RESAMPLES,
            random_state=replicate,
        )
        for target, name in ((rate, "positive_rate"), (auc, "auc")):
            metric = estimate.metric(name)
            target.append((metric.value, metric.ci_low, metric.ci_high))
        naive.append(roc_auc(population.labels[chosen], population.scores[chosen]))
    return Replicates(np.asarray(rate, dtype=np.float64), np.asarray(auc, dtype=np.float64), np.asarray(naive))


def test_rates_meet_the_share_with_the_top_stratum_oversampled() -> None:
    design = ReviewDesign.at_threshold(0.3, 0.1, share=0.05, oversample=4.0)
    low, high = design.rates
    assert high == pytest.approx(4 * low)
    assert 0.9 * low + 0.1 * high == pytest.approx(0.05)
    assert design.inclusion_probabilities == pytest.approx(design.rates, abs=1e-9)


def test_a_rate_above_one_is_capped_and_its_budget_moves_to_the_others() -> None:
    design = ReviewDesign.at_threshold(0.3, 0.2, share=0.5, oversample=10.0)
    assert design.rates == pytest.approx((0.375, 1.0))
    assert ReviewDesign.at_threshold(0.3, 0.2, share=1.0, oversample=3.0).rates == (1.0, 1.0)
    three = ReviewDesign((0.2, 0.6), (0.7, 0.2, 0.1), share=0.1, oversample=4.0)
    assert three.rates[1] == pytest.approx(2 * three.rates[0])
    assert three.rates[2] == pytest.approx(4 * three.rates[0])
    assert sum(s * r for s, r in zip(three.stratum_shares, three.rates, strict=True)) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "arguments",
    [
        {"cut_points": (0.5, 0.4), "stratum_shares": (0.3, 0.3, 0.4)},
        {"cut_points": (0.5,), "stratum_shares": (1.0,)},
        {"cut_points": (0.5,), "stratum_shares": (0.5, 0.6)},
        {"cut_points": (0.5,), "stratum_shares": (0.9, 0.1), "share": 0.0},
        {"cut_points": (0.5,), "stratum_shares": (0.9, 0.1), "oversample": 0.5},
        {"cut_points": (float("nan"),), "stratum_shares": (0.9, 0.1)},
    ],
)
def test_an_invalid_design_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid ReviewDesign"):
        ReviewDesign(**arguments)  # type: ignore[arg-type]


def test_selection_by_request_id_is_deterministic_and_keeps_each_strata_rate() -> None:
    rng = np.random.default_rng(3)
    ids = [f"request-{index}" for index in range(100_000)]
    scores = rng.random(len(ids))
    design = ReviewDesign.at_threshold(0.8, 0.2, share=0.05, oversample=4.0)
    first = design.select(scores, request_ids=ids)
    assert np.array_equal(first, design.select(scores, request_ids=ids))
    assert np.array_equal(first, design.select(scores, sample_keys=keys_of(ids)))
    strata = design.stratum_of(scores)
    for stratum, rate in enumerate(design.inclusion_probabilities):
        rows = strata == stratum
        tolerance = 4 * np.sqrt(rate * (1 - rate) / rows.sum())  # four binomial standard errors
        assert abs(first[rows].mean() - rate) < tolerance


def test_a_score_at_a_cut_point_is_in_the_stratum_above() -> None:
    design = ReviewDesign((0.2, 0.6), (0.7, 0.2, 0.1))
    assert design.stratum_of([0.0, 0.2, 0.5999, 0.6, 1.0]).tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="not finite"):
        design.stratum_of([0.1, float("nan")])


def test_the_sql_condition_selects_the_same_rows_as_select_in_duckdb() -> None:
    rng = np.random.default_rng(5)
    design = ReviewDesign((0.2, 0.6), (0.7, 0.2, 0.1), share=0.1, oversample=5.0)
    bounds = np.asarray(design.key_thresholds)
    edges_scores = np.repeat([0.2, 0.6, 0.19999999999999998, 0.30000000000000004], 6)
    edges_keys = np.tile(np.concatenate([bounds, bounds - 1]), 4)
    frame = pd.DataFrame(
        {
            "score": np.concatenate([rng.random(20_000), edges_scores]),
            "sample_key": np.concatenate([rng.integers(0, SAMPLE_KEY_SPACE, 20_000), edges_keys]).astype(np.int64),
        }
    )
    connection = duckdb.connect()
    connection.register("predictions", frame)
    query = (
        f"SELECT {design.sql_condition('score', 'sample_key')} AS chosen, {design.sql_stratum('score')} AS stratum "
        "FROM predictions"
    )
    result = connection.execute(query).df()
    expected = design.select(frame["score"].to_numpy(), sample_keys=frame["sample_key"].to_numpy())
    assert result["chosen"].to_numpy(dtype=bool).tolist() == expected.tolist()
    assert result["stratum"].to_numpy().tolist() == design.stratum_of(frame["score"].to_numpy()).tolist()
    assert expected.any()


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=0, max_size=3, unique=True),
    share=st.floats(0.001, 1.0),
    oversample=st.floats(1.0, 50.0),
    seed=st.integers(0, 2**16),
)
def test_sql_and_numpy_agree_for_any_design(cuts: list[float], share: float, oversample: float, seed: int) -> None:
    design = ReviewDesign(tuple(sorted(cuts)), (1 / (len(cuts) + 1),) * (len(cuts) + 1), share, oversample)
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.random(500), np.asarray(cuts), np.nextafter(np.asarray(cuts), -1.0)])
    keys = rng.integers(0, SAMPLE_KEY_SPACE, size=scores.size)
    keys[: design.n_strata] = np.asarray(design.key_thresholds) - 1
    frame = pd.DataFrame({"score": scores, "sample_key": keys.astype(np.int64)})
    connection = duckdb.connect()
    connection.register("predictions", frame)
    chosen = connection.execute(f"SELECT {design.sql_condition()} AS chosen FROM predictions").df()["chosen"]
    assert chosen.to_numpy(dtype=bool).tolist() == design.select(scores, sample_keys=keys).tolist()
    assert sum(s * r for s, r in zip(design.stratum_shares, design.rates, strict=True)) == pytest.approx(share)


def test_sql_refuses_a_column_name_that_is_not_plain() -> None:
    design = ReviewDesign.at_threshold(0.5, 0.1)
    with pytest.raises(ValueError, match="plain SQL column"):
        design.sql_condition("score; DROP TABLE x", "sample_key")


def test_intervals_cover_the_population_rate_and_auc_at_their_nominal_level(
    population: Population, replicates: Replicates
) -> None:
    truth_rate = population.labels.mean()
    truth_auc = roc_auc(population.labels, population.scores)
    for values, truth in ((replicates.rate, truth_rate), (replicates.auc, truth_auc)):
        covered = ((values[:, 1] <= truth) & (truth <= values[:, 2])).mean()
        assert 0.92 <= covered <= 0.98


def test_weights_remove_the_bias_that_oversampling_gives_the_naive_auc(
    population: Population, replicates: Replicates
) -> None:
    truth = roc_auc(population.labels, population.scores)
    spread = replicates.auc[:, 0].std() / np.sqrt(REPLICATES)  # standard error of the mean over replicates
    assert abs(replicates.auc[:, 0].mean() - truth) < 3 * spread
    assert abs(replicates.naive_auc.mean() - truth) > 10 * spread


def _reviewed(population: Population, share: float, seed: int = 0) -> ReviewedPerformance:
    design = ReviewDesign.at_threshold(population.design.cut_points[0], 0.1, share=share)
    strata = design.stratum_of(population.scores)
    keys = np.random.default_rng(seed).integers(0, SAMPLE_KEY_SPACE, size=POPULATION)
    chosen = design.select(population.scores, sample_keys=keys)
    counts = np.bincount(strata, minlength=2).tolist()
    return estimate_reviewed(
        population.scores[chosen], population.labels[chosen], strata[chosen], counts, n_bootstrap=200
    )


def test_decay_is_judged_only_above_its_sample_floor(population: Population) -> None:
    small = _reviewed(population, share=0.003)  # ~150 reviewed rows
    assert small.n_reviewed < 200
    verdict = reviewed_decay(small, baseline_auc=0.99)
    assert verdict.verdict is PerformanceVerdict.INSUFFICIENT_DATA
    assert not verdict.decay
    assert "at least 200 rows and 20 of each class" in verdict.detail


def test_decay_when_the_upper_bound_is_below_baseline_minus_margin(population: Population) -> None:
    estimate = _reviewed(population, share=0.05)
    auc = estimate.metric("auc")
    assert auc.value is not None
    assert auc.ci_high is not None
    assert auc.ci_low is not None
    decayed = reviewed_decay(estimate, baseline_auc=auc.ci_high + 0.03, margin=0.02)
    assert decayed.verdict is PerformanceVerdict.DECAY
    assert decayed.decay
    kept = reviewed_decay(estimate, baseline_auc=auc.ci_high + 0.01, margin=0.02)
    assert kept.verdict is PerformanceVerdict.NO_DECAY
    assert not kept.decay
    assert reviewed_decay(estimate, baseline_auc=None).verdict is PerformanceVerdict.NO_BASELINE
    assert "baseline" in decayed.detail
    assert "reviewed rows" in decayed.detail


def test_a_stratum_with_fewer_than_two_reviews_gives_no_estimate() -> None:
    estimate = estimate_reviewed([0.1, 0.2, 0.9], [0, 1, 1], [0, 0, 1], [100, 10], n_bootstrap=50)
    assert not estimate.estimable
    assert estimate.metric("auc").value is None
    assert "fewer than two reviewed rows" in estimate.note
    assert reviewed_decay(estimate, 0.8).verdict is PerformanceVerdict.INSUFFICIENT_DATA


def test_results_serialise_to_strict_json(population: Population) -> None:
    empty = estimate_reviewed([0.1, 0.2, 0.9], [0, 1, 1], [0, 0, 1], [100, 10], n_bootstrap=50)
    full = _reviewed(population, share=0.05)
    for document in (
        empty.to_json(),
        full.to_json(),
        reviewed_decay(full, 0.8).to_json(),
        population.design.to_json(),
    ):
        json.dumps(document, allow_nan=False)
    assert [item["name"] for item in full.to_json()["metrics"]] == ["positive_rate", "auc", "log_loss", "brier"]


def test_malformed_reviewed_input_is_refused() -> None:
    with pytest.raises(ValueError, match="more reviewed rows"):
        estimate_reviewed([0.1, 0.2], [0, 1], [0, 0], [1, 5])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        estimate_reviewed([0.1, 0.2], [0, 2], [0, 0], [5, 5])
    with pytest.raises(ValueError, match="strata must be integers"):
        estimate_reviewed([0.1, 0.2], [0, 1], [0, 2], [5, 5])


def test_no_reviewed_rows_give_no_estimate_whatever_the_population() -> None:
    for population in ([0], [10, 5]):
        performance = estimate_reviewed([], [], [], population)
        assert not performance.estimable
        assert performance.metric("auc").value is None
