"""Where a decay began: the change point of the champion's per-row log-loss (`batch_jobs.monitoring.regime`).

The streams are synthetic with a known answer: one row a minute, scores of 0.05 or 0.95 that are well calibrated
before the change (the label follows the score) and unrelated to the label after it (a fair coin), so the mean
log-loss jumps from about 0.2 to about 1.5 at a known row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from batch_jobs.monitoring.regime import MIN_ROWS, THRESHOLD, estimate_regime

WINDOW_START = datetime(2026, 11, 27, tzinfo=UTC)
ROWS = 1000
CHANGE = 600  # the first row of the new regime
MINUTE = timedelta(minutes=1)

Stream = tuple[pd.DatetimeIndex, NDArray[np.float64], NDArray[np.float64]]


def stream(rows: int = ROWS, change: int | None = CHANGE, seed: int = 0) -> Stream:
    """`rows` rows a minute apart from `WINDOW_START` (times in nanoseconds); labels follow the scores before
    `change`, not from it on."""
    rng = np.random.default_rng(seed)
    times = pd.date_range(WINDOW_START, periods=rows, freq="min").as_unit("ns")
    scores = np.where(rng.random(rows) < 0.5, 0.05, 0.95)
    calibrated = rng.random(rows) < scores
    coin = rng.random(rows) < 0.5
    new_regime = np.arange(rows) >= (rows if change is None else change)
    labels = np.where(new_regime, coin, calibrated).astype(np.float64)
    return times, labels, scores


def test_an_abrupt_loss_increase_is_found_within_a_few_rows_of_it() -> None:
    times, labels, scores = stream()

    estimate = estimate_regime(times, labels, scores, window_start=WINDOW_START)

    assert estimate.found_change is True
    assert estimate.statistic is not None
    assert estimate.statistic > THRESHOLD
    assert abs(estimate.start - (WINDOW_START + CHANGE * MINUTE)) <= 5 * MINUTE
    assert estimate.n_before + estimate.n_after == ROWS
    assert estimate.loss_before is not None
    assert estimate.loss_after is not None
    assert estimate.loss_before < 0.4  # about 0.2
    assert estimate.loss_after > 1.2  # about 1.5


@pytest.mark.parametrize("unit", ["us", "ms"])
def test_the_start_is_the_same_whatever_the_unit_of_the_times(unit: str) -> None:
    times, labels, scores = stream()
    in_nanoseconds = estimate_regime(times, labels, scores, window_start=WINDOW_START)

    estimate = estimate_regime(times.as_unit(unit), labels, scores, window_start=WINDOW_START)

    assert estimate.start == in_nanoseconds.start


def test_a_stationary_stream_starts_the_regime_with_the_window() -> None:
    times, labels, scores = stream(change=None)

    estimate = estimate_regime(times, labels, scores, window_start=WINDOW_START)

    assert (estimate.start, estimate.found_change) == (WINDOW_START, False)
    assert estimate.statistic is not None
    assert estimate.statistic < THRESHOLD


def test_too_few_rows_for_two_sides_start_the_regime_with_the_window() -> None:
    rows = 2 * MIN_ROWS - 1
    times, labels, scores = stream(rows=rows, change=rows // 2)  # an obvious change, but too few rows to place it

    estimate = estimate_regime(times, labels, scores, window_start=WINDOW_START)

    assert (estimate.start, estimate.found_change, estimate.statistic) == (WINDOW_START, False, None)
    assert (estimate.n_before, estimate.n_after) == (0, rows)


def test_rows_out_of_time_order_give_the_same_estimate_as_sorted_rows() -> None:
    times, labels, scores = stream()
    shuffled = np.random.default_rng(7).permutation(ROWS)

    in_order = estimate_regime(times, labels, scores, window_start=WINDOW_START)
    out_of_order = estimate_regime(times[shuffled], labels[shuffled], scores[shuffled], window_start=WINDOW_START)

    assert out_of_order == in_order
    assert in_order.found_change is True
