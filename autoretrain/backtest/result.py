"""What a backtest found: one summary per replay, the daily series behind it, and every retrain, deploy and check.
Frozen dataclasses that serialise to JSON (strict: no NaN, undefined numbers are null); `table` is the text the
command prints."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoretrain.backtest.evaluate import Deploy, Recovery
from autoretrain.backtest.monitor import Check
from autoretrain.backtest.replay import DESCRIPTIONS, ReplayName, Retrain

#: The table's columns, in order: (key in `ReplaySummary.row`, header).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("replay", "replay"),
    ("mean_metric", "mean {metric}"),
    ("regret", "regret"),
    ("net", "net/day"),
    ("retrains", "retrains"),
    ("deploys", "deploys"),
    ("worse_deploys", "worse deploys"),
    ("recovery_days", "recovery days"),
)


def finite(value: float | None) -> float | None:
    """The value, or None when it is missing or not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """One replay's figures (definitions in `evaluate`)."""

    name: ReplayName
    description: str
    mean_metric: float | None
    mean_utility: float | None
    regret: float | None
    net: float | None
    retrains: int | None
    deploys: int
    worse_deploys: int
    undecided_deploys: int
    recoveries: tuple[Recovery, ...]

    @property
    def mean_recovery_days(self) -> float | None:
        """Mean recovery time over the detected changes it recovered from."""
        days = [item.days for item in self.recoveries if item.days is not None]
        return sum(days) / len(days) if days else None

    @property
    def unrecovered(self) -> int:
        """Detected changes it never recovered from within the history."""
        return sum(1 for item in self.recoveries if item.days is None)

    def row(self) -> dict[str, str]:
        """The table's cells."""

        def number(value: float | None, digits: int = 4) -> str:
            return "–" if value is None else f"{value:.{digits}f}"

        recovery = "–"
        if self.recoveries:
            mean = self.mean_recovery_days
            recovery = "never" if mean is None else f"{mean:.1f}"
            if self.unrecovered and mean is not None:
                recovery += f" ({self.unrecovered} never)"
        return {
            "replay": self.name.value,
            "mean_metric": number(self.mean_metric),
            "regret": number(self.regret),
            "net": number(self.net),
            "retrains": "–" if self.retrains is None else str(self.retrains),
            "deploys": str(self.deploys),
            "worse_deploys": str(self.worse_deploys),
            "recovery_days": recovery,
        }

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "name": self.name.value,
            "description": self.description,
            "mean_metric": finite(self.mean_metric),
            "mean_utility": finite(self.mean_utility),
            "regret": finite(self.regret),
            "net_per_day": finite(self.net),
            "retrains": self.retrains,
            "deploys": self.deploys,
            "worse_deploys": self.worse_deploys,
            "undecided_deploys": self.undecided_deploys,
            "mean_recovery_days": finite(self.mean_recovery_days),
            "unrecovered_changes": self.unrecovered,
            "recoveries": [item.to_json() for item in self.recoveries],
        }


@dataclass(frozen=True, slots=True)
class ReplayDetail:
    """One replay's days: the model served and its metric each day, its retrains, deploys and checks."""

    name: ReplayName
    served: tuple[str, ...]
    daily_metric: tuple[float | None, ...]
    retrains: tuple[Retrain, ...]
    deploys: tuple[Deploy, ...]
    checks: tuple[Check, ...]

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "name": self.name.value,
            "served": list(self.served),
            "daily_metric": [finite(value) for value in self.daily_metric],
            "retrains": [item.to_json() for item in self.retrains],
            "deploys": [item.to_json() for item in self.deploys],
            "checks": [item.to_json() for item in self.checks],
        }


@dataclass(frozen=True, slots=True)
class CandidateScores:
    """Every daily candidate's score on every prediction of the history, for analyses beyond the replays (kept in
    memory, never written: `BacktestResult.to_json` leaves it out). Arrays are in replay (time) order.

    - `history_rows`: each row's position in the history as given; `time`: its prediction time (ns since the epoch);
    - `scores`: candidate name -> its scores; `trained_at`: candidate name -> the end of the day it was trained at
      (ns since the epoch): it was trained on labels that had arrived by then and can serve from then on.
    """

    history_rows: NDArray[np.int64]
    time: NDArray[np.int64]
    scores: Mapping[str, NDArray[np.float64]]
    trained_at: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Everything a backtest found (module docstring)."""

    metric: str
    days: tuple[str, ...]
    summaries: tuple[ReplaySummary, ...]
    details: tuple[ReplayDetail, ...]
    best_daily_metric: tuple[float | None, ...]
    detected_changes: tuple[int, ...]
    candidates: tuple[dict[str, Any], ...]
    history: dict[str, Any]
    settings: dict[str, Any]
    definitions: dict[str, str]
    timings: dict[str, float]
    candidate_scores: CandidateScores | None = field(default=None, repr=False, compare=False)

    def summary(self, name: ReplayName | str) -> ReplaySummary:
        """One replay's summary."""
        return next(item for item in self.summaries if item.name == name)

    def detail(self, name: ReplayName | str) -> ReplayDetail:
        """One replay's days."""
        return next(item for item in self.details if item.name == name)

    def table(self) -> str:
        """The summaries as a fixed-width text table (one row per replay, every column of `COLUMNS`)."""
        headers = [header.format(metric=self.metric) for _, header in COLUMNS]
        rows = [[summary.row()[key] for key, _ in COLUMNS] for summary in self.summaries]
        widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join([first, *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))])

        rule = "  ".join("-" * width for width in widths)
        return "\n".join([line(headers), rule, *(line(cells) for cells in rows)])

    def to_json(self) -> dict[str, Any]:
        """The whole result as strict JSON."""
        return {
            "metric": self.metric,
            "days": list(self.days),
            "summaries": [item.to_json() for item in self.summaries],
            "replays": [item.to_json() for item in self.details],
            "best_daily_metric": [finite(value) for value in self.best_daily_metric],
            "detected_changes": [self.days[day] for day in self.detected_changes],
            "candidates": list(self.candidates),
            "history": self.history,
            "settings": self.settings,
            "definitions": self.definitions,
            "timings_seconds": {key: round(value, 3) for key, value in self.timings.items()},
            "descriptions": {name.value: text for name, text in DESCRIPTIONS.items()},
        }
