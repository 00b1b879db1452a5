"""Retrain governance: cooldown, cap per rolling period, and the on-demand exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_jobs.governance import GovernanceConfig, may_retrain
from core.model_lifecycle import Trigger

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = GovernanceConfig(cooldown=timedelta(hours=24), period=timedelta(days=7), max_per_period=3)


def test_first_retrain_is_allowed() -> None:
    permission = may_retrain(NOW, Trigger.DRIFT, [], CONFIG)

    assert permission.allowed
    assert permission.reason == "drift retrain allowed: 0 of 3 retrains used in the last 7d"


def test_retrain_within_the_cooldown_is_refused() -> None:
    permission = may_retrain(NOW, Trigger.DRIFT, [NOW - timedelta(hours=5)], CONFIG)

    assert not permission.allowed
    assert permission.reason.startswith("cooldown: last retrain 5h ago, 1d required")


def test_retrain_after_the_cooldown_is_allowed() -> None:
    assert may_retrain(NOW, Trigger.SCHEDULE, [NOW - timedelta(hours=25)], CONFIG).allowed


def test_retrain_beyond_the_cap_is_refused_even_after_the_cooldown() -> None:
    history = [NOW - timedelta(days=days) for days in (2, 4, 6)]

    permission = may_retrain(NOW, Trigger.PERFORMANCE, history, CONFIG)

    assert not permission.allowed
    assert permission.reason.startswith("cap reached: 3 retrains in the last 7d (at most 3)")
    assert permission.reason.endswith(f"next allowed at {(NOW + timedelta(days=1)).isoformat()}")


def test_cap_frees_a_slot_once_a_retrain_leaves_the_period() -> None:
    history = [NOW - timedelta(days=days) for days in (2, 4, 7, 8)]

    assert may_retrain(NOW, Trigger.DRIFT, history, CONFIG).allowed


def test_on_demand_retrain_respects_the_cooldown_by_default() -> None:
    assert not may_retrain(NOW, Trigger.ON_DEMAND, [NOW - timedelta(hours=1)], CONFIG).allowed


def test_on_demand_retrain_bypasses_the_cooldown_when_configured() -> None:
    config = GovernanceConfig(on_demand_bypasses_cooldown=True)

    permission = may_retrain(NOW, Trigger.ON_DEMAND, [NOW - timedelta(hours=1)], config)

    assert permission.allowed
    assert permission.reason.startswith("on-demand retrain bypasses the cooldown")


def test_bypass_applies_to_on_demand_only() -> None:
    config = GovernanceConfig(on_demand_bypasses_cooldown=True)

    assert not may_retrain(NOW, Trigger.DRIFT, [NOW - timedelta(hours=1)], config).allowed


def test_on_demand_retrain_never_bypasses_the_cap() -> None:
    config = GovernanceConfig(on_demand_bypasses_cooldown=True, max_per_period=2)
    history = [NOW - timedelta(hours=1), NOW - timedelta(days=3)]

    permission = may_retrain(NOW, Trigger.ON_DEMAND, history, config)

    assert not permission.allowed
    assert permission.reason.startswith("cap reached")


def test_retrain_recorded_in_the_future_keeps_the_cooldown_closed() -> None:
    permission = may_retrain(NOW, Trigger.DRIFT, [NOW + timedelta(hours=2, minutes=30)], CONFIG)

    assert not permission.allowed
    assert permission.reason.startswith("cooldown: last retrain -2h 30m ago")


def test_rollback_is_not_limited() -> None:
    history = [NOW - timedelta(minutes=minutes) for minutes in (1, 2, 3)]

    assert may_retrain(NOW, Trigger.ROLLBACK, history, CONFIG).allowed


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        may_retrain(NOW.replace(tzinfo=None), Trigger.DRIFT, [], CONFIG)


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="max_per_period"):
        GovernanceConfig(max_per_period=0)


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=72 * 60), min_size=1, max_size=60),
    triggers=st.lists(st.sampled_from([t for t in Trigger if t is not Trigger.ROLLBACK]), min_size=60, max_size=60),
)
def test_granted_retrains_respect_cooldown_and_cap(gaps: list[int], triggers: list[Trigger]) -> None:
    granted: list[datetime] = []
    moment = NOW
    for gap, trigger in zip(gaps, triggers, strict=False):
        moment += timedelta(minutes=gap)
        if may_retrain(moment, trigger, granted, CONFIG).allowed:
            granted.append(moment)

    assert all(later - earlier >= CONFIG.cooldown for earlier, later in pairwise(granted))
    for start in granted:
        assert sum(start <= other < start + CONFIG.period for other in granted) <= CONFIG.max_per_period
