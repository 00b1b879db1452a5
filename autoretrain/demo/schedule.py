"""Schedule expressions on a simulated clock: when `rate(...)` and `cron(...)` fire between two instants. Pure.

The same expressions infra hands to EventBridge Scheduler (`core.routing.SCHEDULES`, validated there).
`rate(N unit)` fires every N units from the schedule's start; `cron(min hour day-of-month month day-of-week year)`
supports what the routes use and a little more: `*`, `?`, numbers, lists (`1,15`), ranges (`1-5`), steps (`*/6`,
`0-30/10`) and day names (`SUN`..`SAT`; numbers 1-7 with 1 = Sunday, as AWS counts). Times are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.routing import validate_schedule_expression

_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}
_DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values a cron field allows (`*` and `?` allow all)."""
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _value(first_text, names), _value(last_text, names)
        else:
            first = _value(base, names)
            last = high if step_text else first
        if not low <= first <= last <= high or step < 1:
            raise ValueError(f"cron field {text!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    return int(text)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule expression."""

    expression: str
    every: timedelta | None = None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days_of_month: frozenset[int] | None = None
    months: frozenset[int] = frozenset()
    days_of_week: frozenset[int] | None = None
    years: frozenset[int] | None = None

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Parse a `rate(...)` or `cron(...)` expression (validated as EventBridge Scheduler would)."""
        validate_schedule_expression(expression)
        rate = _RATE.match(expression)
        if rate:
            minutes = int(rate["value"]) * _UNIT_MINUTES[rate["unit"].rstrip("s")]
            return cls(expression, every=timedelta(minutes=minutes))
        minute, hour, day_of_month, month, day_of_week, year = expression[5:-1].split()
        return cls(
            expression,
            minutes=_field(minute, 0, 59),
            hours=_field(hour, 0, 23),
            days_of_month=None if day_of_month == "?" else _field(day_of_month, 1, 31),
            months=_field(month, 1, 12, _MONTH_NAMES),
            days_of_week=None if day_of_week == "?" else _field(day_of_week, 1, 7, _DAY_NAMES),
            years=None if year == "*" else _field(year, 1970, 2199),
        )

    def _cron_matches(self, moment: datetime) -> bool:
        aws_day_of_week = moment.isoweekday() % 7 + 1  # Sunday = 1 ... Saturday = 7
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and (self.days_of_month is None or moment.day in self.days_of_month)
            and (self.days_of_week is None or aws_day_of_week in self.days_of_week)
            and (self.years is None or moment.year in self.years)
        )

    def ticks(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every firing time `t` with `start <= t < end` (a rate's first tick is at `start`)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if self.every is not None:
            moment = start
            while moment < end:
                yield moment
                moment += self.every
            return
        moment = start.replace(second=0, microsecond=0)
        if moment < start:
            moment += timedelta(minutes=1)
        # Walk hour by hour and test only the allowed minutes: cron ticks are at most 60 an hour.
        hour = moment.replace(minute=0)
        while hour < end:
            if hour.hour in self.hours:
                for minute in sorted(self.minutes):
                    candidate = hour.replace(minute=minute)
                    if start <= candidate < end and self._cron_matches(candidate):
                        yield candidate
            hour += timedelta(hours=1)
