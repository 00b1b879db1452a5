"""Business impact of the model, measured against a sticky control group. Pure: a frame of matured outcomes in,
a frozen dataclass out.

Serving assigns each client by a hash of its id to the control arm (served the model spec's heuristic) or to the
model arm, for good (`core.records.ARM_CONTROL`, `ARM_MODEL`). From the outcomes that have matured, per ISO week
(weeks start on Monday, UTC, by prediction time) and cumulatively:

- per arm, the number of units and their outcome rate;
- the **benefit**: the control arm's rate of the bad outcome minus the model arm's (`outcome_is_bad`, the default,
  e.g. churn), or the model arm's rate of the good outcome minus the control arm's, so a positive benefit always
  means the model helps; with Newcombe's hybrid score interval (Newcombe 1998, method 10: the two arms' Wilson score
  intervals combined), which keeps its nominal coverage for rare outcomes and small arms where the Wald interval
  does not;
- the **value saved**: the model arm's units × benefit × `lifetime_value` (the value of one avoided bad outcome),
  with the interval scaled alike; and the **cost of the control group**: the control arm's units × benefit ×
  `lifetime_value`, the value the business forgoes to measure the model at all (negative when the model hurts).

**Units.** With a `client_id` column the unit is the client: rows of one client are not independent (one client's
churn is one event, however many predictions preceded it), so counting rows would narrow the interval falsely. A
client's outcome in a period is its *last* matured outcome in that period (by prediction time): its state at the
period's end, a 0/1 value, so the arms' counts are binomial and the score intervals apply exactly. Averaging a
client's outcomes instead would give fractional units the binomial intervals do not fit. The cumulative figure
counts each client once (its last outcome overall); a client seen in both arms (the assignment changed, e.g. a new
control share) is contaminated and left out everywhere, and counted in `mixed_clients`. Without `client_id` every
row is a unit.

**Alert.** `alert` is raised when the cumulative benefit's interval lies wholly below zero: the model's arm is worse
than control, as the gate reads intervals (a two-sided interval at `confidence`, so a one-sided test at (1 +
confidence) / 2: 2.5 % false alerts per look at the default 95 %). Weeks carry a `worse` flag for display only:
judging each week alone would multiply false alerts. Repeated weekly looks at the cumulative figure are sequential
tests too, so over many weeks the false-alert rate exceeds the per-look level; the floor `min_per_arm` keeps the
early, noisiest looks from alerting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from batch_jobs.drift.results import finite_or_none, to_dict
from core.records import ARM_CONTROL, ARM_MODEL, ARMS

FloatArray = NDArray[np.float64]

#: What the estimate assumes, and what the control group costs; stated in every result.
ASSUMPTIONS: Final = (
    "Arms are assigned by a hash of the client id, independently of the client, so the two arms are exchangeable "
    "and a difference in outcome rates is the model's effect; outcomes matured under the same delay in both arms "
    "(compare like with like: the same weeks, the same label lag); no interference between clients (one client's "
    "treatment does not change another's outcome); each client is one unit (its last outcome in the period), so "
    "the interval is over clients, not rows. The cost: the control share is served the heuristic and forgoes the "
    "model's benefit; that cost is reported as control clients x benefit x lifetime value."
)
PERIOD_CUMULATIVE: Final = "cumulative"
UNIT_CLIENT: Final = "client"
UNIT_ROW: Final = "row"
_REQUIRED: Final = ("arm", "ts", "label")


@dataclass(frozen=True, slots=True)
class ImpactConfig:
    """How business impact is measured.

    - `confidence`: the two-sided interval's level (0.95); the alert is one-sided at (1 + confidence) / 2.
    - `lifetime_value`: the value of one avoided bad outcome (one retained client), in the business's own units
      (500.0 "value units"; currency-less on purpose).
    - `min_per_arm`: below 100 units in either arm a period's estimate is shown but `sufficient` is false and it
      never alerts: with 100 units a rate of 0.2 is known to about ±0.08, wider than most effects worth measuring.
    - `outcome_is_bad`: the label 1 is the bad outcome (churn) the model tries to prevent; False when 1 is the
      good outcome (a conversion) it tries to bring about.
    """

    confidence: float = 0.95
    lifetime_value: float = 500.0
    min_per_arm: int = 100
    outcome_is_bad: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not 0.5 <= self.confidence < 1:
            problems.append(f"confidence must be in [0.5, 1), got {self.confidence}")
        if not (math.isfinite(self.lifetime_value) and self.lifetime_value >= 0):
            problems.append(f"lifetime_value must be a finite number >= 0, got {self.lifetime_value}")
        if self.min_per_arm < 1:
            problems.append(f"min_per_arm must be >= 1, got {self.min_per_arm}")
        if problems:
            raise ValueError("invalid ImpactConfig: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class ArmOutcome:
    """One arm in one period: its units, how many had the outcome (label 1), and the rate (None without units)."""

    arm: str
    units: int
    outcomes: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class ImpactEstimate:
    """The model's impact over one period: a week (`period` "2026-W48", `start` its Monday, `end` the next Monday)
    or everything so far (`period` "cumulative", from the first week's Monday to the day after the last week).

    `benefit` > 0 means the model helps (see the module docstring); the value fields are the benefit times units
    times the lifetime value, with the benefit's interval. None where an arm has no units. `sufficient` is false
    below `min_per_arm` units in either arm; `worse` is true when sufficient and the whole interval is below 0.
    """

    period: str
    start: str
    end: str
    model: ArmOutcome
    control: ArmOutcome
    sufficient: bool
    benefit: float | None
    benefit_low: float | None
    benefit_high: float | None
    value_saved: float | None
    value_saved_low: float | None
    value_saved_high: float | None
    control_cost: float | None
    control_cost_low: float | None
    control_cost_high: float | None
    worse: bool
    detail: str


@dataclass(frozen=True, slots=True)
class BusinessImpact:
    """Business impact per ISO week and cumulatively, the alert, and what it all assumes."""

    unit: str
    outcome_is_bad: bool
    confidence: float
    lifetime_value: float
    min_per_arm: int
    weeks: tuple[ImpactEstimate, ...]
    cumulative: ImpactEstimate
    alert: bool
    message: str
    mixed_clients: int
    dropped_rows: int
    assumptions: str = ASSUMPTIONS

    def to_json(self) -> dict[str, Any]:
        """The result as strict JSON data (no NaN: undefined numbers are None)."""
        return to_dict(self)


def wilson_interval(successes: ArrayLike, n: ArrayLike, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Wilson's score interval of a binomial proportion, elementwise; NaN where n is 0."""
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    z = float(norm.ppf(0.5 + confidence / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / m
        denominator = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denominator
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def newcombe_interval(
    x1: ArrayLike, n1: ArrayLike, x2: ArrayLike, n2: ArrayLike, confidence: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """p1 − p2 and Newcombe's hybrid score interval (method 10), elementwise: with (l_i, u_i) the Wilson interval of
    p_i, [d − √((p1 − l1)² + (u2 − p2)²), d + √((u1 − p1)² + (p2 − l2)²)]. NaN where an arm has no units."""
    s1, m1, s2, m2 = (np.asarray(value, dtype=np.float64) for value in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = s1 / m1, s2 / m2
    l1, u1 = wilson_interval(s1, m1, confidence)
    l2, u2 = wilson_interval(s2, m2, confidence)
    difference = p1 - p2
    low = difference - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = difference + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return difference, low, high


def _units(rows: pd.DataFrame, by_client: bool) -> pd.DataFrame:
    """One row per unit of one period's rows (sorted by time): a client's last outcome, or every row."""
    return rows.drop_duplicates(subset="client_id", keep="last") if by_client else rows


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else finite_or_none(value * factor)


def _estimate(units: pd.DataFrame, config: ImpactConfig, *, period: str, start: str, end: str) -> ImpactEstimate:
    counts = units.groupby("arm")["label"].agg(["size", "sum"])

    def arm(name: str) -> ArmOutcome:
        n = int(counts["size"].get(name, 0))
        x = int(counts["sum"].get(name, 0))
        return ArmOutcome(name, n, x, x / n if n else None)

    model, control = arm(ARM_MODEL), arm(ARM_CONTROL)
    first, second = (control, model) if config.outcome_is_bad else (model, control)
    difference, low, high = (
        finite_or_none(float(value[0]))
        for value in newcombe_interval(
            [first.outcomes], [first.units], [second.outcomes], [second.units], config.confidence
        )
    )
    sufficient = min(model.units, control.units) >= config.min_per_arm
    worse = sufficient and high is not None and high < 0
    value_per_model, value_per_control = model.units * config.lifetime_value, control.units * config.lifetime_value
    direction = "bad" if config.outcome_is_bad else "good"
    if difference is None or low is None or high is None:
        detail = f"{period}: no estimate ({model.units} model-arm and {control.units} control-arm units)"
    else:
        detail = (
            f"{period}: {direction} outcome rate model {model.rate:.4f} ({model.units} units) vs control "
            f"{control.rate:.4f} ({control.units} units); benefit {difference:+.4f} ({config.confidence:.0%} Newcombe "
            f"CI {low:+.4f} to {high:+.4f}); value saved {difference * value_per_model:,.0f} "
            f"({low * value_per_model:,.0f} to {high * value_per_model:,.0f})"
        )
        if not sufficient:
            detail += f"; fewer than {config.min_per_arm} units in an arm: not judged"
    return ImpactEstimate(
        period=period,
        start=start,
        end=end,
        model=model,
        control=control,
        sufficient=sufficient,
        benefit=difference,
        benefit_low=low,
        benefit_high=high,
        value_saved=_scaled(difference, value_per_model),
        value_saved_low=_scaled(low, value_per_model),
        value_saved_high=_scaled(high, value_per_model),
        control_cost=_scaled(difference, value_per_control),
        control_cost_low=_scaled(low, value_per_control),
        control_cost_high=_scaled(high, value_per_control),
        worse=worse,
        detail=detail,
    )


def _prepared(outcomes: pd.DataFrame) -> tuple[pd.DataFrame, int, int, bool]:
    """The usable rows sorted by time with their week's Monday, the rows dropped, the mixed clients left out, and
    whether units are clients."""
    missing = [name for name in _REQUIRED if name not in outcomes.columns]
    if missing:
        raise ValueError(f"outcomes lack column(s) {missing}; expected {list(_REQUIRED)} and optionally client_id")
    by_client = "client_id" in outcomes.columns
    columns = [*_REQUIRED, "client_id"] if by_client else list(_REQUIRED)
    frame = outcomes[columns].copy()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    usable = frame["arm"].isin(ARMS) & frame["label"].notna() & frame["ts"].notna()
    if by_client:
        usable &= frame["client_id"].notna()
    frame = frame[usable]
    if not frame["label"].isin((0, 1)).all():
        raise ValueError("label must be 0 or 1 (or missing, for an outcome not yet matured)")
    frame["label"] = frame["label"].astype(np.int64)
    mixed = 0
    if by_client:
        arms_per_client = frame.groupby("client_id")["arm"].nunique()
        contaminated = arms_per_client.index[arms_per_client > 1]
        mixed = int(contaminated.size)
        frame = frame[~frame["client_id"].isin(contaminated)]
    day = frame["ts"].dt.floor("D")
    frame["week"] = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    frame = frame.sort_values("ts", kind="stable")
    return frame, int((~usable).sum()), mixed, by_client


def measure_business_impact(outcomes: pd.DataFrame, config: ImpactConfig | None = None) -> BusinessImpact:
    """The model's business impact from matured outcomes.

    `outcomes` has a row per matured prediction: `arm` (`ARM_MODEL` or `ARM_CONTROL`), `ts` (the prediction's time;
    naive times are read as UTC), `label` (0/1, NaN while not matured) and optionally `client_id` (the unit; without
    it every row is one). Rows with another arm (none: outside the experiment), an unknown label, time or client are
    dropped and counted. ValueError on a missing column or a label other than 0/1.
    """
    settings = config or ImpactConfig()
    frame, dropped, mixed, by_client = _prepared(outcomes)
    weeks = []
    for monday, rows in frame.groupby("week", sort=True):
        stamp = pd.Timestamp(monday)
        year, number, _ = stamp.isocalendar()
        weeks.append(
            _estimate(
                _units(rows, by_client),
                settings,
                period=f"{year}-W{number:02d}",
                start=stamp.date().isoformat(),
                end=(stamp + timedelta(days=7)).date().isoformat(),
            )
        )
    start = weeks[0].start if weeks else ""
    end = weeks[-1].end if weeks else ""
    cumulative = _estimate(_units(frame, by_client), settings, period=PERIOD_CUMULATIVE, start=start, end=end)
    alert = cumulative.worse
    if alert:
        message = (
            f"ALERT: the model's arm does worse than control with {(1 + settings.confidence) / 2:.1%} confidence "
            f"(the whole interval of the benefit is below 0). {cumulative.detail}"
        )
    elif not cumulative.sufficient:
        message = (
            f"not enough matured outcomes to judge: {cumulative.model.units} model-arm and "
            f"{cumulative.control.units} control-arm units, {settings.min_per_arm} per arm required"
        )
    else:
        message = f"no alert: the model's arm is not worse than control beyond noise. {cumulative.detail}"
    return BusinessImpact(
        unit=UNIT_CLIENT if by_client else UNIT_ROW,
        outcome_is_bad=settings.outcome_is_bad,
        confidence=settings.confidence,
        lifetime_value=settings.lifetime_value,
        min_per_arm=settings.min_per_arm,
        weeks=tuple(weeks),
        cumulative=cumulative,
        alert=alert,
        message=message,
        mixed_clients=mixed,
        dropped_rows=dropped,
    )
