"""The demo's simulated clock fires the routing table's schedules when EventBridge Scheduler would (pure, fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoretrain.demo.schedule import Schedule
from core.routing import SCHEDULES, ScheduleExpressionError

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


def _default(name: str) -> Schedule:
    return Schedule.parse(next(route.default_expression for route in SCHEDULES if route.name == name))


def test_rate_ticks_are_anchored_at_the_start() -> None:
    ticks = list(Schedule.parse("rate(6 hours)").ticks(START, START + timedelta(days=1)))
    assert ticks == [START + timedelta(hours=hours) for hours in (0, 6, 12, 18)]


def test_daily_drift_check_fires_at_three_every_day() -> None:
    ticks = list(_default("drift-check").ticks(START, START + timedelta(days=3)))
    assert ticks == [START + timedelta(days=day, hours=3) for day in range(3)]


def test_weekly_retrain_fires_on_sundays_at_four() -> None:
    ticks = list(_default("proactive-retrain").ticks(START, START + timedelta(days=14)))
    assert ticks == [datetime(2026, 3, 8, 4, tzinfo=UTC), datetime(2026, 3, 15, 4, tzinfo=UTC)]


def test_cron_steps_lists_and_ranges_are_supported() -> None:
    schedule = Schedule.parse("cron(0/30 9-10 ? * MON-FRI *)")
    ticks = list(schedule.ticks(START, START + timedelta(days=1)))
    assert [tick.strftime("%H:%M") for tick in ticks] == ["09:00", "09:30", "10:00", "10:30"]


def test_ticks_exclude_the_end() -> None:
    assert list(Schedule.parse("rate(1 hour)").ticks(START, START + timedelta(hours=1))) == [START]


def test_an_expression_the_scheduler_refuses_is_refused() -> None:
    with pytest.raises(ScheduleExpressionError):
        Schedule.parse("cron(0 3 * * * *)")
