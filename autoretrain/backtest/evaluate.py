"""Scoring the replays, in hindsight. Pure.

Every day's metric is computed on the labels of that day's predictions — all of them, whenever they arrived (or the
history's true outcome where it has one): the replay decides on what had arrived, but is judged on everything.

- `utility[c, t]`: the metric of candidate c on replayed day t (its negative for a loss, so higher is better
  everywhere); NaN on a day without both classes (AUC) or without labels, and before c could serve.
- Per replay: the served model's metric each day and its average over the days that have one; regret = the
  oracle's average utility minus the replay's (for AUC: oracle average AUC − replay average AUC); `net` = (total
  utility − cost per deploy × deploys) / days, the oracle's objective per day, which no replay can exceed.
- A deploy *made things worse* when, on the rows of the `harm_days` days from the day it started serving, its
  metric is below the model it replaced (both scored on the same pooled rows; undecided without such rows).
- Detected changes: the days whose check (the policy's) flagged drift or decay after a day that did not. A replay
  is *recovered* on a day when its served model's utility is within `recovery_tolerance` of the utility of the
  oracle's candidate that day — the best schedule's model, which changes only when a deploy pays for itself, so the
  target does not jump with the daily noise of the best of dozens of candidates (a day without a metric counts as
  recovered). The recovery time of a change detected at the end of day d is the number of days from d + 1 to the
  day from which the replay stays recovered until the next change is detected (or the history ends): 0 when the
  champion serving the next day already keeps up (the oracle's is always 0); None when it is not recovered by then.
  "Stays" matters: right after a change no candidate is better yet, so "within the tolerance" alone would hold at
  once for every replay, however late it deploys the model that learned the change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autoretrain.backtest.candidates import Candidate, CandidateKey
from autoretrain.backtest.data import FloatArray, IntArray, ReplayData
from autoretrain.backtest.monitor import Check
from autoretrain.backtest.oracle import Schedule, best_schedule
from autoretrain.backtest.replay import ReplayName, ReplayTrace
from autoretrain.backtest.settings import BacktestSettings, MetricName
from batch_jobs import metrics


def metric_value(metric: MetricName, labels: FloatArray, scores: FloatArray) -> float:
    """The metric of `scores` on 0/1 `labels` (NaN without rows, or for AUC without both classes)."""
    if labels.size == 0:
        return float("nan")
    if metric == "auc":
        return float(metrics.roc_auc(labels, scores))
    return float(metrics.row_losses(metric, labels, scores).mean())


def utility_of(metric: MetricName, value: float) -> float:
    """Higher is better: the metric itself, or a loss negated."""
    return value if metric == "auc" else -value


@dataclass(frozen=True, slots=True)
class Scoreboard:
    """The candidates (by index: 0 is the first champion) and their utility on every replayed day."""

    candidates: tuple[Candidate, ...]
    utility: FloatArray
    available_from: IntArray
    index: Mapping[CandidateKey, int]

    def of(self, served: Sequence[CandidateKey]) -> FloatArray:
        """The utility each day of a replay that served these candidates (by key)."""
        rows = np.array([self.index[key] for key in served], dtype=np.int64)
        values: FloatArray = self.utility[rows, np.arange(len(served))]
        return values

    @property
    def best(self) -> FloatArray:
        """The best utility of any candidate available, each day."""
        with np.errstate(all="ignore"):
            best: FloatArray = np.nanmax(np.where(np.isnan(self.utility), -np.inf, self.utility), axis=0)
        best[~np.isfinite(best)] = np.nan
        return best


def _labelled(data: ReplayData, rows: slice) -> IntArray:
    span = np.arange(rows.start, rows.stop)
    labelled: IntArray = span[~np.isnan(data.truth[span])]
    return labelled


def scoreboard(data: ReplayData, settings: BacktestSettings, candidates: Sequence[Candidate]) -> Scoreboard:
    """Every candidate's utility on every replayed day it could serve."""
    ordered = tuple(sorted(candidates, key=lambda candidate: (candidate.day, candidate.regime_start or -1)))
    days = list(data.replay_days)
    utility = np.full((len(ordered), len(days)), np.nan)
    available = np.array([candidate.day + 1 - data.initial_days for candidate in ordered], dtype=np.int64)
    for column, day in enumerate(days):
        rows = _labelled(data, data.rows_of_days(day, day))
        labels = data.truth[rows]
        for position, candidate in enumerate(ordered):
            if available[position] <= column:
                value = metric_value(settings.metric, labels, candidate.scores[rows])
                utility[position, column] = utility_of(settings.metric, value)
    index = {candidate.key: position for position, candidate in enumerate(ordered)}
    return Scoreboard(ordered, utility, available, index)


def oracle_trace(board: Scoreboard, settings: BacktestSettings) -> tuple[ReplayTrace, Schedule]:
    """The oracle's schedule as a replay."""
    schedule = best_schedule(board.utility, board.available_from, settings.cost_per_deploy, initial=0)
    served = tuple(board.candidates[position].key for position in schedule.served)
    return ReplayTrace(ReplayName.ORACLE, served), schedule


@dataclass(frozen=True, slots=True)
class Deploy:
    """One change of the served model, and whether it made things worse."""

    day: int
    replaced: str
    deployed: str
    deployed_metric: float | None
    replaced_metric: float | None
    worse: bool | None

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "first_day_served": self.day,
            "replaced": self.replaced,
            "deployed": self.deployed,
            "deployed_metric": self.deployed_metric,
            "replaced_metric": self.replaced_metric,
            "worse": self.worse,
        }


def deploys(
    data: ReplayData, settings: BacktestSettings, board: Scoreboard, served: Sequence[CandidateKey]
) -> list[Deploy]:
    """Every change of the served model, each judged on the next `harm_days` days (module docstring)."""
    found = []
    for offset in range(1, len(served)):
        if served[offset] == served[offset - 1]:
            continue
        day = data.initial_days + offset
        new = board.candidates[board.index[served[offset]]]
        old = board.candidates[board.index[served[offset - 1]]]
        rows = _labelled(data, data.rows_of_days(day, day + settings.harm_days - 1))
        labels = data.truth[rows]
        new_value = metric_value(settings.metric, labels, new.scores[rows])
        old_value = metric_value(settings.metric, labels, old.scores[rows])
        decided = bool(np.isfinite(new_value) and np.isfinite(old_value))
        worse = utility_of(settings.metric, new_value) < utility_of(settings.metric, old_value) if decided else None
        found.append(
            Deploy(
                day=day,
                replaced=old.name,
                deployed=new.name,
                deployed_metric=new_value if decided else None,
                replaced_metric=old_value if decided else None,
                worse=worse,
            )
        )
    return found


def detected_changes(checks: Sequence[Check]) -> list[int]:
    """The days whose check flagged drift or decay after a day whose check did not (or as the first check)."""
    changes, before = [], False
    for check in checks:
        if check.flagged and not before:
            changes.append(check.day)
        before = check.flagged
    return changes


@dataclass(frozen=True, slots=True)
class Recovery:
    """How long after a detected change the replay served a recovered champion."""

    detected_day: int
    recovered_day: int | None
    days: int | None

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {"detected_day": self.detected_day, "recovered_day": self.recovered_day, "days": self.days}


def recoveries(
    data: ReplayData,
    settings: BacktestSettings,
    utility: FloatArray,
    target: FloatArray,
    changes: Sequence[int],
) -> list[Recovery]:
    """The recovery time of every detected change for a replay of daily `utility`, against the oracle's daily
    utility `target` (module docstring)."""
    undecided = np.isnan(utility) | np.isnan(target)
    recovered = undecided | (utility >= target - settings.recovery_tolerance - 1e-12)
    found = []
    for position, change in enumerate(changes):
        first = change + 1 - data.initial_days
        # Up to the day the next change was detected at the end of (its serving is still this change's), or the end.
        last = changes[position + 1] - data.initial_days if position + 1 < len(changes) else utility.size - 1
        settled = _settled_from(recovered[first : last + 1])
        if settled is None:
            found.append(Recovery(change, None, None))
        else:
            found.append(Recovery(change, first + settled + data.initial_days, settled))
    return found


def _settled_from(recovered: NDArray[np.bool_]) -> int | None:
    """The first position from which every day is recovered (None: the last day is not)."""
    if recovered.size == 0 or not recovered[-1]:
        return None
    failing = np.flatnonzero(~recovered)
    return int(failing[-1]) + 1 if failing.size else 0
