"""Importance weights that make a pool of training rows resemble current production."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from batch_jobs.training.representative import DEFAULT_CLIP, ImportanceWeights, importance_weights
from core.features import FeatureSpec, InputSchema

SCHEMA = InputSchema(
    (
        FeatureSpec("x1", "numeric", True),
        FeatureSpec("x2", "numeric", True),
        FeatureSpec("plan", "categorical", True, ("basic", "plus", "pro")),
    )
)


def cluster(rows: int, centre: float, seed: int) -> pd.DataFrame:
    """Rows around `centre` in x1, a plan mostly `pro` right of zero and `basic` left of it, x2 as noise."""
    rng = np.random.default_rng(seed)
    plans = np.where(rng.random(rows) < 0.8, "pro" if centre > 0 else "basic", "plus")
    return pd.DataFrame({"x1": rng.normal(centre, 1.0, rows), "x2": rng.normal(0.0, 1.0, rows), "plan": plans})


LEFT, RIGHT = cluster(1500, -2.0, 1), cluster(1500, 2.0, 2)
POOL = pd.concat([LEFT, RIGHT], ignore_index=True)


def weigh(
    pool: pd.DataFrame,
    target: pd.DataFrame,
    *,
    clip: tuple[float, float] = DEFAULT_CLIP,
    target_in_pool: NDArray[np.intp] | None = None,
) -> ImportanceWeights:
    with threadpool_limits(1):
        return importance_weights(pool, target, SCHEMA, clip=clip, target_in_pool=target_in_pool)


def test_pool_rows_like_the_target_are_weighted_up_and_the_others_down() -> None:
    result = weigh(POOL, cluster(600, -2.0, 3))

    left, right = result.weights[: len(LEFT)].mean(), result.weights[len(LEFT) :].mean()
    assert left > 5 * right
    assert result.propensity_auc > 0.7


def test_weights_have_mean_one_and_stay_within_the_clip() -> None:
    result = weigh(POOL, cluster(600, -2.0, 3), clip=(0.5, 2.0))

    assert result.weights.mean() == pytest.approx(1.0)
    # Normalising rescales every weight alike: the clip bounds the spread, max / min <= high / low.
    assert result.weights.max() / result.weights.min() <= 2.0 / 0.5 + 1e-9
    assert result.clip == (0.5, 2.0)
    assert result.clipped_share > 0.3  # the far cluster's ratios lie below 0.5


def test_effective_rows_is_the_squared_sum_over_the_sum_of_squares() -> None:
    result = weigh(POOL, cluster(600, -2.0, 3))

    weights = result.weights
    assert result.effective_rows == pytest.approx(weights.sum() ** 2 / np.square(weights).sum())
    assert result.effective_rows < 0.8 * len(POOL)


def test_a_pool_that_already_looks_like_the_target_keeps_weights_near_one() -> None:
    result = weigh(POOL, pd.concat([cluster(300, -2.0, 4), cluster(300, 2.0, 5)], ignore_index=True))

    assert abs(result.propensity_auc - 0.5) < 0.05
    assert result.effective_rows > 0.9 * len(POOL)
    assert result.clipped_share < 0.01


def test_target_rows_that_are_pool_rows_share_a_fold_with_their_copy() -> None:
    target_positions = np.arange(0, len(POOL), 10, dtype=np.intp)  # a tenth of the pool, from both clusters

    result = weigh(POOL, POOL.iloc[target_positions], target_in_pool=target_positions)

    in_target = np.zeros(len(POOL), dtype=bool)
    in_target[target_positions] = True
    # Scored by models that had seen their own copies, they came out 16 % heavier than the rest.
    assert result.weights[in_target].mean() == pytest.approx(result.weights[~in_target].mean(), rel=0.08)


def test_evidence_is_json_with_the_auc_effective_rows_and_clipped_share() -> None:
    evidence = weigh(POOL, cluster(600, -2.0, 3)).evidence()

    assert json.loads(json.dumps(evidence)) == evidence
    assert {"propensity_auc", "effective_rows", "clipped_share", "clip"} <= set(evidence)
    assert evidence["rows"] == len(POOL)


def test_weights_are_reproducible() -> None:
    target = cluster(600, -2.0, 3)

    np.testing.assert_array_equal(weigh(POOL, target).weights, weigh(POOL, target).weights)


@pytest.mark.parametrize("clip", [(0.0, 10.0), (2.0, 10.0), (0.1, 0.5)])
def test_a_clip_that_excludes_one_or_zero_is_refused(clip: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="clip"):
        weigh(POOL, cluster(600, -2.0, 3), clip=clip)


def test_too_few_target_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="3 rows on each side"):
        weigh(POOL, cluster(2, -2.0, 3))
