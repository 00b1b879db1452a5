"""`run_backtest`: the history in, the replays out. No file I/O (the command's `io` reads and writes files).

1. The history is put in replay order (`data.prepare_history`).
2. The daily candidates are trained, each once (`candidates.train_candidate`), in parallel processes.
3. The scheduled and never baselines run here, and the oracle is solved over the candidates' daily metrics
   (`oracle.best_schedule`). The replays that check every day (the policy and `drift_always`) are driven together,
   here, their checks computed by the worker processes (`drive_in_parallel`): once for both where they serve the same
   champion, and ahead of need while a worker is free.
4. Everything is scored in hindsight (`evaluate`).

Workers are forked where the platform allows (no second import of the numeric stack, which takes seconds, and the
history and candidates are shared, not copied); every model in them runs on one BLAS/OpenMP thread
(`threadpool_limits(1)`, as the drift suite's domain classifier already does), so `workers` processes use `workers`
CPUs. Elsewhere they are spawned, and a script that calls `run_backtest` then needs the usual
`if __name__ == "__main__":` guard. Results do not depend on `workers`.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from autoretrain.backtest.candidates import (
    Candidate,
    CandidateKey,
    Profiles,
    Recoveries,
    Trained,
    candidate_days,
    train_candidate,
)
from autoretrain.backtest.data import ReplayData, prepare_history
from autoretrain.backtest.evaluate import (
    Scoreboard,
    deploys,
    detected_changes,
    oracle_trace,
    recoveries,
    scoreboard,
)
from autoretrain.backtest.monitor import Check, Checks
from autoretrain.backtest.replay import (
    DESCRIPTIONS,
    ReplayName,
    ReplaySteps,
    ReplayTrace,
    drift_always_steps,
    policy_steps,
    replay_never,
    replay_scheduled,
    run_steps,
)
from autoretrain.backtest.result import BacktestResult, CandidateScores, ReplayDetail, ReplaySummary
from autoretrain.backtest.settings import BacktestSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Days ahead whose checks of a replay's current champion are computed while a worker is free.
LOOKAHEAD_DAYS = 1

DEFINITIONS = {
    "daily_metric": "the served model's metric on the labels of that day's predictions: every label, whenever it "
    "arrived (the history's true outcome where it has one); decisions only ever saw the labels arrived by then",
    "regret": "the oracle's mean daily utility minus the replay's (utility: the metric, or a loss negated)",
    "net_per_day": "(sum of daily utility - cost_per_deploy x deploys) / days: the oracle's objective per day",
    "worse_deploys": "deploys whose model scored below the model it replaced on the pooled labelled rows of the "
    "harm_days days from its first day of service",
    "recovered": "a day whose served model's utility is within recovery_tolerance of the utility of the oracle's "
    "candidate that day (the model the best schedule serves; a day without a metric counts as recovered)",
    "recovery_days": "days from the day after a detected change (the policy's check flagged drift or decay after a "
    "day it did not) to the day from which the replay stays recovered until the next detected change or the end; "
    "0 = the next day's champion already keeps up; mean over the changes it recovered from, with the count of "
    "changes it never recovered from",
}


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# -- work done in worker processes (module level, so a spawned worker can import it) --------------------------------

#: What the tasks read: the history, the settings and (for the replays) the candidates. A forked worker inherits it;
#: a spawned one receives it once, through `_start_worker`.
_WORKER: dict[str, Any] = {}


def _start_worker(state: dict[str, Any]) -> None:
    _WORKER.update(state)


def _train(day: int) -> Trained:
    return train_candidate(_WORKER["data"], _WORKER["settings"], day)


def _check(champion: CandidateKey, day: int) -> Check:
    checks = _WORKER.get("checks")
    if checks is None:  # each worker caches the reference profiles it builds, and the recovery candidates it trains
        checks = _WORKER["checks"] = Checks(_WORKER["data"], _WORKER["settings"], Profiles(_WORKER["data"]))
        _WORKER["recoveries"] = Recoveries(_WORKER["data"], _WORKER["settings"])
    checked: Check = checks.of(_WORKER["recoveries"].candidate(champion, _WORKER["candidates"]), day)
    return checked


def drive_in_parallel(
    pool: Executor, workers: int, steps: Mapping[ReplayName, ReplaySteps], last_day: int
) -> dict[ReplayName, ReplayTrace]:
    """Drive the replays together, here, with their checks computed by `pool`: a check two replays need (the same
    champion on the same day) is computed once, and while a worker is free the check of each replay's champion on
    the next `LOOKAHEAD_DAYS` days (up to `last_day`) is computed ahead, since a champion usually stays; the
    replays' own work (the policy's gate) runs here meanwhile."""
    futures: dict[tuple[CandidateKey, int], Future[Check]] = {}
    pending: dict[ReplayName, tuple[CandidateKey, int]] = {}
    traces: dict[ReplayName, ReplayTrace] = {}

    def advance(name: ReplayName, check: Check | None) -> None:
        try:
            champion, day = next(steps[name]) if check is None else steps[name].send(check)
        except StopIteration as stop:
            traces[name] = stop.value
            pending.pop(name, None)
        else:
            pending[name] = (champion.key, day)

    def submit(key: tuple[CandidateKey, int]) -> None:
        if key not in futures:
            futures[key] = pool.submit(_check, *key)

    for name in steps:
        advance(name, None)
    while pending:
        for key in pending.values():
            submit(key)
        for ahead in range(1, LOOKAHEAD_DAYS + 1):
            for champion, day in list(pending.values()):
                if day + ahead <= last_day and sum(not future.done() for future in futures.values()) < workers:
                    submit((champion, day + ahead))
        wait([futures[key] for key in pending.values()], return_when=FIRST_COMPLETED)
        for name, key in list(pending.items()):
            if futures[key].done():
                advance(name, futures[key].result())
    return traces


class _InProcess(Executor):
    """Runs every task at once, here (`workers = 1`)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


@contextmanager
def _pool(workers: int, **state: Any) -> Iterator[Executor]:
    """`workers` processes that can read `state` (forked where the platform can, so nothing is copied or imported
    again; spawned elsewhere), or this process for one worker."""
    _WORKER.update(state)
    try:
        if workers <= 1:
            yield _InProcess()
            return
        if "fork" in multiprocessing.get_all_start_methods():
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                yield pool
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(state,)) as pool:
            yield pool
    finally:
        _WORKER.clear()


# -- the backtest ---------------------------------------------------------------------------------------------------


def run_backtest(history: pd.DataFrame, settings: BacktestSettings | None = None) -> BacktestResult:
    """Replay the policy and the baselines over `history` (module docstring); `HistoryError` on a history that
    cannot be replayed (bad columns or values, too few days, no first champion on the initial days)."""
    settings = settings if settings is not None else BacktestSettings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = prepare_history(history, settings)
    timings["prepare"] = time.perf_counter() - started
    logger.info("replaying %d days (%d initial) of %d predictions", data.n_days, data.initial_days, data.n_rows)
    workers = min(settings.workers or available_cpus(), data.n_days)
    mark = time.perf_counter()
    days = candidate_days(data)
    with _pool(workers, data=data, settings=settings) as pool:
        trained = dict(zip(days, pool.map(_train, days), strict=True))
    timings["candidates"] = time.perf_counter() - mark
    mark = time.perf_counter()
    traces = {
        ReplayName.NEVER: replay_never(data, trained),
        ReplayName.SCHEDULED: replay_scheduled(data, settings, trained),
    }
    recoveries = Recoveries(data, settings)
    steps: dict[ReplayName, ReplaySteps] = {
        ReplayName.POLICY: policy_steps(data, settings, trained, recoveries.of),
        ReplayName.DRIFT_ALWAYS: drift_always_steps(data, trained),
    }
    if workers <= 1:
        checks = Checks(data, settings, Profiles(data))  # shared: the same champion's check is computed once
        traces |= {name: run_steps(replay, checks) for name, replay in steps.items()}
    else:
        with _pool(workers, data=data, settings=settings, candidates=trained) as pool:
            traces |= drive_in_parallel(pool, workers, steps, last_day=data.n_days - 2)
    # The oracle chooses among every candidate trained: the daily ones and the policy's recoveries'.
    every = [item for item in [*trained.values(), *recoveries.trained.values()] if isinstance(item, Candidate)]
    board = scoreboard(data, settings, every)
    traces[ReplayName.ORACLE] = oracle_trace(board, settings)[0]
    timings["replays"] = time.perf_counter() - mark
    mark = time.perf_counter()
    everything = [*trained.values(), *(item for _, item in sorted(recoveries.trained.items()))]
    result = _result(data, settings, everything, board, traces)
    timings["evaluation"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    return dataclasses.replace(result, timings=timings)


def _result(
    data: ReplayData,
    settings: BacktestSettings,
    trained: Sequence[Trained],
    board: Scoreboard,
    traces: Mapping[ReplayName, ReplayTrace],
) -> BacktestResult:
    changes = detected_changes(traces[ReplayName.POLICY].checks)
    target = board.of(traces[ReplayName.ORACLE].served)
    oracle_utility = float(np.nanmean(target))
    summaries, details = [], []
    sign = 1.0 if settings.metric == "auc" else -1.0
    for name in ReplayName:
        trace = traces[name]
        utility = board.of(trace.served)
        mean_utility = float(np.nanmean(utility)) if np.isfinite(utility).any() else float("nan")
        found = deploys(data, settings, board, trace.served)
        defined = int(np.isfinite(utility).sum())
        net = (float(np.nansum(utility)) - settings.cost_per_deploy * len(found)) / defined if defined else None
        summaries.append(
            ReplaySummary(
                name=name,
                description=DESCRIPTIONS[name],
                mean_metric=sign * mean_utility,
                mean_utility=mean_utility,
                regret=oracle_utility - mean_utility,
                net=net,
                retrains=None if name is ReplayName.ORACLE else trace.retrain_count,
                deploys=len(found),
                worse_deploys=sum(1 for deploy in found if deploy.worse),
                undecided_deploys=sum(1 for deploy in found if deploy.worse is None),
                recoveries=tuple(recoveries(data, settings, utility, target, changes)),
            )
        )
        details.append(
            ReplayDetail(
                name=name,
                served=tuple(board.candidates[board.index[key]].name for key in trace.served),
                daily_metric=tuple(float(sign * value) for value in utility),
                retrains=trace.retrains,
                deploys=tuple(found),
                checks=trace.checks,
            )
        )
    return BacktestResult(
        metric=settings.metric,
        days=tuple(data.date(day) for day in data.replay_days),
        summaries=tuple(summaries),
        details=tuple(details),
        best_daily_metric=tuple(float(sign * value) for value in board.best),
        detected_changes=tuple(day - data.initial_days for day in changes),
        candidates=tuple(item.summary() for item in trained),
        history={
            "rows": data.n_rows,
            "days": data.n_days,
            "initial_days": data.initial_days,
            "first_day": data.date(0),
            "last_day": data.date(data.n_days - 1),
            "features": list(data.schema.names),
            "labelled_rows": int(np.isfinite(data.label).sum()),
        },
        settings=settings.to_json(),
        definitions=DEFINITIONS,
        timings={},
        candidate_scores=CandidateScores(
            history_rows=data.source_rows,
            time=data.time,
            scores={item.name: item.scores for item in board.candidates},
            trained_at={item.name: data.day_start(item.day + 1) for item in board.candidates},
        ),
    )
