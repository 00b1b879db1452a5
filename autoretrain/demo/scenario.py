"""The demo's scenario: when each injected event happens and what the traffic of each hour looks like. Pure.

Days are counted from the start of the replay (day 0). `Scenario.scaled(days)` places the events at fixed
shares of the timeline (with minimum gaps, so a short run still holds every event in order):

- quiet period: day 0 up to the covariate shift (no drift, no alert expected);
- covariate shift (day ≈ 22 % of the run): `monthly_charges` moves up by one of its standard deviations and
  `support_calls` spreads out — P(x) changes, P(churn | x) does not;
- empty-feature incident (day ≈ 33 %, 06:00–12:00 UTC): `usage_hours` arrives empty (null) in every request —
  the serving schema allows a null there, so requests are served and logged and the alerting Lambda sees it;
- concept shift (day ≈ 45 %): churn starts to depend differently on tenure and contract — P(x) is unchanged,
  so only matured labels (after the label delay) reveal it;
- corrupted labels (day ≈ 72 %): a faulty label backfill re-sends flipped labels for two weeks of already
  labelled predictions (a later label replaces the earlier one); an operator then asks for a retrain; the gate,
  which scores on the newest week of clean labels, must reject the challenger; the backfill is then repaired;
- rollback (day ≈ 85 %): an operator rolls back to the version that was champion before the current one.

Traffic: Poisson counts per serving batch around `daily_volume` with a daily cycle (±30 %), drawn from
`autoretrain.synthetic.generate_churn` with the shifts in force at that hour; each request's ground truth is the
generator's own draw from its true churn probability. Each request comes from a client of a fixed pool
(`CLIENT_POOL_DAYS` days of traffic: a client is scored again every few weeks), which the serving Lambda assigns
stickily to the control group or the model arm; a churner the model arm targets (labelled 1) is retained with
probability `Scenario.retention_uplift` (the business action's effect, which the control group measures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoretrain.synthetic import (
    FEATURES,
    PROBABILITY_COLUMN,
    TARGET,
    ConceptShift,
    CovariateShift,
    generate_churn,
)

COVARIATE_SHIFTS = (
    CovariateShift("monthly_charges", shift=25.0),
    CovariateShift("support_calls", scale=1.6),
)
CONCEPT_SHIFT = ConceptShift(
    coefficients={"tenure_months": 0.6, "contract=month-to-month": -0.6, "contract=two-year": 0.9, "usage_hours": 0.5},
)
#: The client pool holds this many days of traffic (`daily_volume` × it clients).
CLIENT_POOL_DAYS = 20
CLIENT_COLUMN = "client_id"
INCIDENT_FEATURE = "usage_hours"
INCIDENT_HOURS = 6
INCIDENT_START_HOUR = 6
MIN_DAYS = 36


class EventKind:
    """Names of the injected events (as they appear in summary.json and the report)."""

    COVARIATE_SHIFT = "covariate_shift"
    INCIDENT = "empty_feature_incident"
    CONCEPT_SHIFT = "concept_shift"
    CORRUPTED_LABELS = "corrupted_labels"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class InjectedEvent:
    """One thing the scenario does to the world (or an operator does), with when and what."""

    kind: str
    at: datetime
    until: datetime | None
    description: str

    def to_json(self) -> dict[str, Any]:
        """The event as JSON."""
        return {
            "kind": self.kind,
            "at": self.at.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Scenario:
    """The timeline of one demo run."""

    start: datetime
    days: int
    seed: int
    daily_volume: int
    label_delay_days: int
    covariate_day: int
    incident_day: int
    concept_day: int
    corruption_day: int
    rollback_day: int
    corrupted_span_days: int = 14
    retention_uplift: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def scaled(cls, *, start: datetime, days: int, seed: int, daily_volume: int, label_delay_days: int) -> Scenario:
        """Events at fixed shares of `days` (at least `MIN_DAYS`), in order and with room between them."""
        if days < MIN_DAYS:
            raise ValueError(f"the scenario needs at least {MIN_DAYS} days to hold every event, got {days}")
        if daily_volume < 24 * 20:
            raise ValueError("daily_volume must be at least 480 (20 predictions an hour) for the alerting checks")
        covariate = max(6, round(0.22 * days))
        incident = max(covariate + 3, round(0.33 * days))
        concept = max(incident + 2, round(0.45 * days))
        corruption = max(concept + label_delay_days + 5, round(0.72 * days))
        rollback = max(corruption + 2, round(0.85 * days))
        if rollback >= days - 1:
            raise ValueError(f"{days} days are too few for this label delay ({label_delay_days} days)")
        return cls(
            start=start,
            days=days,
            seed=seed,
            daily_volume=daily_volume,
            label_delay_days=label_delay_days,
            covariate_day=covariate,
            incident_day=incident,
            concept_day=concept,
            corruption_day=corruption,
            rollback_day=rollback,
        )

    def day(self, number: int, hour: int = 0) -> datetime:
        """The start of day `number` (plus `hour` hours)."""
        return self.start + timedelta(days=number, hours=hour)

    @property
    def end(self) -> datetime:
        """When the replay stops."""
        return self.day(self.days)

    @property
    def incident_start(self) -> datetime:
        """When `INCIDENT_FEATURE` starts arriving empty."""
        return self.day(self.incident_day, INCIDENT_START_HOUR)

    @property
    def incident_end(self) -> datetime:
        """When it arrives again."""
        return self.incident_start + timedelta(hours=INCIDENT_HOURS)

    @property
    def backfill_at(self) -> datetime:
        """When the faulty label backfill is written."""
        return self.day(self.corruption_day, 11)

    @property
    def on_demand_retrain_at(self) -> datetime:
        """When the operator asks for a retrain after the backfill."""
        return self.day(self.corruption_day, 12)

    @property
    def repair_at(self) -> datetime:
        """When the correct labels are re-sent."""
        return self.day(self.corruption_day, 13)

    @property
    def corrupted_span(self) -> tuple[datetime, datetime]:
        """Predictions served in this span get flipped labels in the backfill.

        The retrain's gate holds out the newest week of matured labels (served in the week before
        `on_demand_retrain_at − label delay`); the span is the two weeks before that holdout, so the challenger
        trains, and its window backtest validates, on flipped labels while the gate still scores on clean ones.
        """
        holdout_start = self.on_demand_retrain_at - timedelta(days=self.label_delay_days + 7)
        return holdout_start - timedelta(days=self.corrupted_span_days), holdout_start

    @property
    def rollback_at(self) -> datetime:
        """When the operator rolls back."""
        return self.day(self.rollback_day, 12)

    def injected_events(self) -> tuple[InjectedEvent, ...]:
        """Every injected event, in time order."""
        shifted = ", ".join(
            f"{shift.feature} {'+' if shift.shift >= 0 else ''}{shift.shift:g}"
            if shift.shift
            else f"{shift.feature} x{shift.scale:g} spread"
            for shift in COVARIATE_SHIFTS
        )
        span_start, span_end = self.corrupted_span
        return (
            InjectedEvent(
                EventKind.COVARIATE_SHIFT,
                self.day(self.covariate_day),
                None,
                f"covariate shift: {shifted}; P(churn | x) unchanged",
            ),
            InjectedEvent(
                EventKind.INCIDENT,
                self.incident_start,
                self.incident_end,
                f"'{INCIDENT_FEATURE}' arrives empty in every request for {INCIDENT_HOURS} hours",
            ),
            InjectedEvent(
                EventKind.CONCEPT_SHIFT,
                self.day(self.concept_day),
                None,
                "concept shift: churn now rises with tenure and falls on month-to-month contracts; P(x) unchanged",
            ),
            InjectedEvent(
                EventKind.CORRUPTED_LABELS,
                self.backfill_at,
                self.repair_at,
                f"a label backfill flips the labels of predictions served {span_start:%Y-%m-%d} to "
                f"{span_end:%Y-%m-%d}; an operator requests a retrain; the labels are re-sent correctly after",
            ),
            InjectedEvent(
                EventKind.ROLLBACK,
                self.rollback_at,
                None,
                "an operator rolls back to the previous champion (autoretrain rollback --to VERSION)",
            ),
        )

    def batch_count(self, moment: datetime, rng: np.random.Generator, hours: int) -> int:
        """How many requests arrive in the `hours` around `moment` (Poisson around a daily cycle)."""
        cycle = 1.0 + 0.3 * math.sin(2.0 * math.pi * (moment.hour - 9) / 24.0)
        return int(rng.poisson(self.daily_volume / 24.0 * hours * cycle))

    def traffic(self, moment: datetime, n_rows: int, seed: int) -> pd.DataFrame:
        """`n_rows` requests for the hour starting at `moment`: features, true probability and the label."""
        covariate = moment >= self.day(self.covariate_day)
        concept = moment >= self.day(self.concept_day)
        incident = self.incident_start <= moment < self.incident_end
        frame = generate_churn(
            n_rows,
            seed=seed,
            covariate_shifts=COVARIATE_SHIFTS if covariate else (),
            concept_shift=CONCEPT_SHIFT if concept else None,
            corrupted_features=(INCIDENT_FEATURE,) if incident else (),
            include_probability=True,
        )
        clients = np.random.default_rng([seed, 1]).integers(0, self.daily_volume * CLIENT_POOL_DAYS, n_rows)
        frame[CLIENT_COLUMN] = [f"client-{number:06d}" for number in clients]
        return frame

    def retained(
        self, targeted: npt.NDArray[np.bool_], labels: npt.NDArray[np.int64], seed: int
    ) -> npt.NDArray[np.int64]:
        """The outcomes after the business action: a churner the model arm targeted is retained (label 0) with
        probability `retention_uplift`; everyone else's outcome is the generator's draw."""
        saved = (
            targeted & (labels == 1) & (np.random.default_rng([seed, 2]).random(len(labels)) < self.retention_uplift)
        )
        return np.where(saved, 0, labels)


def feature_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Request feature objects: JSON-ready values, missing values as null."""
    features = frame[list(FEATURES)].astype(object)
    records: list[dict[str, Any]] = features.where(features.notna(), None).to_dict("records")
    return records


__all__ = ["CLIENT_COLUMN", "PROBABILITY_COLUMN", "TARGET", "EventKind", "InjectedEvent", "Scenario", "feature_records"]
