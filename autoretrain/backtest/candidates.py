"""Daily candidate models: what the retrain job would train at the end of each day, trained once and shared by every
replay (the policy, the baselines and the oracle). Pure.

A candidate of day d is trained at the end of day d (its `now`) exactly as the retrain job trains a challenger
(`batch_jobs.training`): the initial set (`frames.initial_frame`) plus the production rows served before
`now − label delay` whose label had arrived by `now`, within the look-back (`frames.combine`); the newest
`holdout_days` matured days are the gate's out-of-time holdout (`frames.split_holdout`); the window is chosen
among the rest (`window.select_window`, `window.window_rows`); the model is fitted from the model spec
(`fitting.fit_model`) on the schema of the window's rows; its decision threshold matches the training prevalence
(`settings` module docstring). The first champion is the candidate of the last initial day: no production rows yet,
so it trains on the initial set less its newest share, which is its holdout (as the job's first model).

Each candidate carries its scores on every row of the history, so a replay never scores a model again; its
reference profile (the drift check's reference, built as the release step builds `reference.parquet`: of its holdout,
with its training rows when the holdout is small, `release_files.reference_rows`; its holdout metrics are the
performance baseline) is built on first use and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from autoretrain.backtest.data import DAY_NS, FloatArray, IntArray, ReplayData
from autoretrain.backtest.settings import BacktestSettings
from batch_jobs import metrics, model_spec
from batch_jobs.drift import ReferenceProfile, ReferenceProfiler
from batch_jobs.drift.impact import build_impact_basis, with_impact_basis
from batch_jobs.training import fitting, frames, window
from batch_jobs.training.job import RetrainConfig
from batch_jobs.training.pipeline import REGIME_WINDOW, regime_minimums
from batch_jobs.training.release_files import REFERENCE_MIN_ROWS
from core.features import InputSchema, SchemaError

INITIAL_NAME = "initial"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One trained candidate (module docstring). `day` is the day at whose end it was trained; it can serve from
    `day + 1`. Row ids index the history (`ReplayData`)."""

    day: int
    name: str
    model: Any
    schema: InputSchema
    threshold: float
    threshold_rule: str
    scores: FloatArray
    matured_rows: IntArray
    train_rows: IntArray
    holdout_rows: IntArray
    holdout_basis: str
    window: dict[str, Any]
    label_rate: float
    holdout_metrics: dict[str, float]
    #: A recovery's candidate: the regime start (ns since the epoch) it trained and was judged on.
    regime_start: int | None = None

    @property
    def key(self) -> CandidateKey:
        """What identifies it among every candidate of a backtest: its day, and its regime start for a recovery's."""
        return (self.day, self.regime_start)

    def summary(self) -> dict[str, Any]:
        """What the result records of it."""
        return {
            "name": self.name,
            "trained_day": self.day,
            "window": self.window.get("name"),
            "window_strategy": self.window.get("strategy"),
            "matured_rows": int(self.matured_rows.size),
            "train_rows": int(self.train_rows.size),
            "holdout_rows": int(self.holdout_rows.size),
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "label_rate": self.label_rate,
            "holdout_metrics": self.holdout_metrics,
            "regime_start": None
            if self.regime_start is None
            else pd.Timestamp(self.regime_start, tz="UTC").isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CandidateFailure:
    """A day whose candidate could not be trained (too little or single-class data), and why."""

    day: int
    name: str
    reason: str
    #: A recovery's candidate waiting for more labels of its regime (the retrain job refuses it: nothing registered).
    waiting: bool = False

    def summary(self) -> dict[str, Any]:
        """What the result records of it."""
        return {"name": self.name, "trained_day": self.day, "failed": self.reason}


Trained = Candidate | CandidateFailure
#: A candidate's day and, for a recovery's candidate, its regime start (ns).
CandidateKey = tuple[int, int | None]
#: The retrain job's recovery settings (`RetrainConfig.regime_holdout_fraction`, `min_regime_rows`, ...).
RECOVERY = RetrainConfig()


def candidate_name(data: ReplayData, day: int) -> str:
    """`initial` for the first champion, else `c<YYYY-MM-DD>` of the day it was trained at the end of."""
    return INITIAL_NAME if day < data.initial_days else f"c{data.date(day)}"


def matured_rows(data: ReplayData, settings: BacktestSettings, day: int) -> tuple[IntArray, IntArray]:
    """The initial set's labelled rows and the production rows matured by the end of `day` (module docstring)."""
    now = data.day_start(day + 1)
    initial_end = int(data.bounds[data.initial_days])
    labelled = ~np.isnan(data.label)
    initial = np.flatnonzero(labelled[:initial_end])
    cut = now - settings.label_delay_days * DAY_NS
    oldest = now - settings.lookback_days * DAY_NS
    last = int(np.searchsorted(data.time, cut, side="left"))
    first = max(initial_end, int(np.searchsorted(data.time, oldest, side="left")))
    span = np.arange(first, max(first, last), dtype=np.int64)
    production = span[labelled[span] & (data.arrival[span] <= now)]
    return initial.astype(np.int64), production


def _frame(data: ReplayData, initial: IntArray, production: IntArray) -> pd.DataFrame:
    """The retrain job's training frame of these rows; its `ORDER` is the position in `initial ⧺ production`."""
    raw = data.training_frame(initial)
    raw[frames.INITIAL_TIME_COLUMN] = pd.to_datetime(data.time[initial], unit="ns", utc=True)
    initial_part = frames.initial_frame(raw, data.target)
    production_part = None
    if production.size:
        production_part = data.training_frame(production)
        production_part[frames.EVENT_TIME] = pd.to_datetime(data.time[production], unit="ns", utc=True)
        production_part[frames.SOURCE] = pd.Categorical.from_codes(
            np.full(production.size, frames.SOURCES.index(frames.PRODUCTION), dtype=np.int8),
            categories=frames.SOURCES,
        )
        production_part[frames.ORDER] = np.arange(production.size, dtype=np.int64)
    return frames.combine(initial_part, production_part)


def _threshold(
    settings: BacktestSettings,
    model: Any,
    train: pd.DataFrame,
    schema: InputSchema,
    in_sample: FloatArray,
    *,
    weights: FloatArray | None = None,
) -> tuple[float, str]:
    spec = settings.spec
    if spec.decision_threshold is not None or settings.threshold == "out_of_fold":
        fit = fitting.weighted(partial(fitting.fit_model, schema=schema, spec=spec), train, weights)
        choice = fitting.choose_threshold(spec, train, fit=fit, score=partial(fitting.score, schema=schema))
        return choice.value, choice.rule if choice.rule == "explicit" else "training_prevalence_out_of_fold"
    labels = fitting.labels_of(train, spec.target)
    return fitting.prevalence_threshold(in_sample, labels), "training_prevalence_in_sample"


def train_candidate(data: ReplayData, settings: BacktestSettings, day: int, regime_start: int | None = None) -> Trained:
    """The candidate trained at the end of `day` (module docstring), or why there is none; with `regime_start`, a
    recovery's (the retrain job's with `RetrainRequest.regime_start`): trained and judged on the rows served since
    then (`frames.split_regime`), or none while they are too few (`frames.regime_shortfall`)."""
    name = candidate_name(data, day) if regime_start is None else f"r{data.date(day)}"
    initial, production = matured_rows(data, settings, day)
    ids = np.concatenate([initial, production])
    target = settings.spec.target
    serving = data.schema
    try:
        frame = _frame(data, initial, production)
        with threadpool_limits(1):
            if regime_start is None:
                split = frames.split_holdout(
                    frame, holdout_days=settings.holdout_days, holdout_fraction=settings.initial_holdout_fraction
                )
                choice = window.select_window(
                    split.train,
                    target=target,
                    config=settings.window,
                    schema=serving,
                    fit=lambda rows, weights: fitting.fit_model(rows, serving, settings.spec, sample_weight=weights),
                    score=lambda model, rows: fitting.score(model, rows, serving),
                )
            else:
                start = pd.Timestamp(regime_start, tz="UTC").to_pydatetime()
                split = frames.split_regime(
                    frame, regime_start=start, holdout_fraction=RECOVERY.regime_holdout_fraction
                )
                short = frames.regime_shortfall(split, target=target, **regime_minimums(RECOVERY))
                if short is not None:
                    return CandidateFailure(day, name, f"waiting for labels of the new regime: {short}", waiting=True)
                choice = window.WindowChoice(REGIME_WINDOW, "regime", {"regime_start": start.isoformat()})
            train = window.window_rows(split.train, choice.window)
            choice, weights = window.final_weights(split.train, choice, schema=serving, config=settings.window)
            labels = fitting.labels_of(train, target)
            if not 0 < int(labels.sum()) < labels.size:
                return CandidateFailure(day, name, f"the training window has {labels.size} rows of a single class")
            schema = model_spec.infer_input_schema(
                model_spec.feature_frame(train, serving), target=target, all_nullable=True
            )
            model = fitting.fit_model(train, schema, settings.spec, sample_weight=weights)
            scores = fitting.score(model, data.features, schema)
            train_rows = ids[train[frames.ORDER].to_numpy()]
            threshold, rule = _threshold(settings, model, train, schema, scores[train_rows], weights=weights)
    except (ValueError, SchemaError) as error:  # too little data to split, fit or threshold: no candidate today
        return CandidateFailure(day, name, str(error))
    holdout_rows = ids[split.holdout[frames.ORDER].to_numpy()]
    holdout_labels = data.label[holdout_rows]
    holdout = (
        {
            key: float(value)
            for key, value in metrics.classification_metrics(holdout_labels, scores[holdout_rows]).items()
            if np.isfinite(value)
        }
        if holdout_rows.size
        else {}
    )
    return Candidate(
        day=day,
        name=name,
        model=model,
        schema=schema,
        threshold=float(threshold),
        threshold_rule=rule,
        scores=scores,
        matured_rows=ids,
        train_rows=np.sort(train_rows),
        holdout_rows=np.sort(holdout_rows),
        holdout_basis=split.basis,
        window={"name": choice.window.name, "strategy": choice.strategy, **choice.evidence},
        label_rate=float(labels.mean()),
        holdout_metrics=holdout,
        regime_start=regime_start,
    )


def candidate_days(data: ReplayData) -> list[int]:
    """The days a candidate is trained at the end of: the last initial day (the first champion), then every replayed
    day but the last (a model trained after the last day would serve nothing)."""
    return list(range(data.initial_days - 1, data.n_days - 1))


def reference_rows(candidate: Candidate) -> IntArray:
    """The rows a candidate's drift reference is built from (`release_files.reference_rows`): its holdout, with its
    training rows when the holdout has fewer than `REFERENCE_MIN_ROWS`."""
    if candidate.holdout_rows.size >= REFERENCE_MIN_ROWS:
        return candidate.holdout_rows
    return np.concatenate([candidate.train_rows, candidate.holdout_rows])


def reference_profile(data: ReplayData, candidate: Candidate) -> ReferenceProfile:
    """The drift check's reference of a candidate: its reference rows profiled with its scores, labels, decision
    threshold, holdout metrics and impact basis (as the release step writes `reference.parquet`)."""
    rows = reference_rows(candidate)
    with threadpool_limits(1):
        profiler = ReferenceProfiler(decision_threshold=candidate.threshold).fit(
            data.features.iloc[rows].reset_index(drop=True)[list(candidate.schema.names)],
            scores=candidate.scores[rows],
            target=data.label[rows],
            holdout_metrics=candidate.holdout_metrics,
            schema={spec.name: spec.kind for spec in candidate.schema.features},
        )
        holdout = candidate.holdout_rows
        basis = build_impact_basis(
            model=candidate.model,
            schema=candidate.schema,
            threshold=candidate.threshold,
            holdout_features=data.features.iloc[holdout].reset_index(drop=True)[list(candidate.schema.names)],
            holdout_labels=data.label[holdout],
            holdout_scores=candidate.scores[holdout],
        )
    return with_impact_basis(profiler.profile_, basis)


@dataclass
class Profiles:
    """Reference profiles built on first use, one per candidate."""

    data: ReplayData
    _cache: dict[CandidateKey, ReferenceProfile] = field(default_factory=dict)

    def of(self, candidate: Candidate) -> ReferenceProfile:
        """The candidate's reference profile."""
        if candidate.key not in self._cache:
            self._cache[candidate.key] = reference_profile(self.data, candidate)
        return self._cache[candidate.key]


@dataclass
class Recoveries:
    """Recovery candidates (`train_candidate` with a regime start), trained on first use and kept."""

    data: ReplayData
    settings: BacktestSettings
    trained: dict[CandidateKey, Trained] = field(default_factory=dict)

    def of(self, day: int, regime_start: int) -> Trained:
        """The recovery candidate trained at the end of `day` on the regime since `regime_start` (ns)."""
        key = (day, regime_start)
        if key not in self.trained:
            self.trained[key] = train_candidate(self.data, self.settings, day, regime_start)
        return self.trained[key]

    def candidate(self, key: CandidateKey, daily: Mapping[int, Trained]) -> Candidate:
        """The candidate of `key`: a daily one, or a recovery's; `KeyError` for one that failed to train."""
        day, regime_start = key
        found = daily[day] if regime_start is None else self.of(day, regime_start)
        if not isinstance(found, Candidate):
            raise KeyError(f"no candidate {key}: {found.reason}")
        return found
