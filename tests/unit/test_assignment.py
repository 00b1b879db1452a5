"""Sticky arm assignment: deterministic by (model name, client id), the configured share met, monotone in the share."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.assignment import assign_arm, assignment_point, client_key, validate_share
from core.records import ARM_CONTROL, ARM_MODEL

IDS = [f"client-{index}" for index in range(100_000)]


def _control(ids: list[str], share: float, salt: str = "churn") -> set[str]:
    return {client for client in ids if assign_arm(client, share=share, salt=salt) == ARM_CONTROL}


def test_a_client_gets_the_same_arm_on_every_request() -> None:
    arms = {client: assign_arm(client, share=0.3, salt="churn") for client in IDS[:2_000]}
    again = {client: assign_arm(client, share=0.3, salt="churn") for client in reversed(IDS[:2_000])}
    assert arms == again
    assert set(arms.values()) == {ARM_CONTROL, ARM_MODEL}


def test_the_arm_does_not_depend_on_the_interpreter_run() -> None:
    """Python's own `hash` of a string changes with every process (PYTHONHASHSEED): the point must not."""
    script = "from core.assignment import assignment_point; print(repr(assignment_point('client-1', salt='churn')))"
    outputs = {
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
        for _ in range(2)
    }
    assert outputs == {f"{assignment_point('client-1', salt='churn')!r}\n"}


@pytest.mark.parametrize("share", [0.05, 0.1, 0.5])
def test_the_control_share_is_met_within_binomial_tolerance(share: float) -> None:
    observed = len(_control(IDS, share)) / len(IDS)
    standard_error = math.sqrt(share * (1 - share) / len(IDS))
    assert abs(observed - share) < 4.5 * standard_error


def test_points_are_uniform_on_the_unit_interval() -> None:
    points = [assignment_point(client, salt="churn") for client in IDS[:20_000]]
    deciles = [0] * 10
    for point in points:
        deciles[int(point * 10)] += 1
    expected = len(points) / 10
    chi_square = sum((count - expected) ** 2 / expected for count in deciles)
    assert chi_square < 27.9  # chi-square with 9 degrees of freedom, p = 0.001
    assert all(0.0 <= point < 1.0 for point in points)


def test_a_larger_share_keeps_every_control_client_in_control() -> None:
    shares = [0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 0.9]
    groups = [_control(IDS[:20_000], share) for share in shares]
    assert groups[0] == set()
    assert all(smaller <= larger for smaller, larger in itertools.pairwise(groups))


@given(st.text(min_size=1, max_size=40), st.floats(0.0, 0.999), st.floats(0.0, 0.999))
def test_assignment_is_monotone_in_the_share(client: str, first: float, second: float) -> None:
    low, high = sorted((first, second))
    if assign_arm(client, share=low, salt="churn") == ARM_CONTROL:
        assert assign_arm(client, share=high, salt="churn") == ARM_CONTROL


def test_another_model_name_draws_an_independent_control_group() -> None:
    churn, upsell = _control(IDS[:50_000], 0.2, "churn"), _control(IDS[:50_000], 0.2, "upsell")
    overlap = len(churn & upsell) / 50_000
    assert abs(overlap - 0.04) < 0.005  # independent: 0.2 * 0.2


def test_salt_and_id_cannot_trade_characters() -> None:
    assert assignment_point("b-c", salt="a") != assignment_point("c", salt="a-b")


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5, math.nan, math.inf, True])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="control share"):
        validate_share(share)
    with pytest.raises(ValueError, match="control share"):
        assign_arm("c", share=share, salt="churn")


@pytest.mark.parametrize(
    ("value", "key"),
    [("c-1", "c-1"), ("", None), (12, "12"), (12.0, "12"), (-3.0, "-3"), (0.25, "0.25"), (None, None), (True, None)],
)
def test_a_feature_value_as_client_id(value: object, key: str | None) -> None:
    assert client_key(value) == key  # type: ignore[arg-type]
