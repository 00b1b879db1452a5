"""The odds band: one definition for the alerting Lambda's positive rate and the retrain job's label rate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.odds import odds_band


@given(p=st.floats(0.001, 0.999), ratio=st.floats(1.01, 20.0))
def test_odds_band_contains_p_and_scales_its_odds(p: float, ratio: float) -> None:
    low, high = odds_band(p, ratio)

    assert low < p < high
    odds = p / (1 - p)
    assert low / (1 - low) == pytest.approx(odds / ratio)
    assert high / (1 - high) == pytest.approx(odds * ratio)


def test_a_twenty_percent_rate_within_three_times_in_odds_is_about_eight_to_forty_three_percent() -> None:
    low, high = odds_band(0.2, 3.0)

    assert (round(low, 4), round(high, 4)) == (0.0769, 0.4286)


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_a_certain_rate_has_a_single_point_band(rate: float) -> None:
    assert odds_band(rate, 3.0) == (rate, rate)


def test_a_ratio_of_one_gives_the_rate_itself() -> None:
    low, high = odds_band(0.3, 1.0)

    assert low == pytest.approx(0.3)
    assert high == pytest.approx(0.3)


@pytest.mark.parametrize(("rate", "ratio", "message"), [(-0.1, 2.0, "rate"), (1.5, 2.0, "rate"), (0.5, 0.5, "ratio")])
def test_the_band_refuses_invalid_parameters(rate: float, ratio: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        odds_band(rate, ratio)
