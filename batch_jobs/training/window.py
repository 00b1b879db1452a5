"""Which production rows the challenger trains on: a fixed window, everything (expanding), or a backtest. Pure.

The backtest holds out the newest `validation_days` of the training rows (all older than the gate's holdout),
fits one model per candidate window ending where that validation slice starts, scores each on the slice, and
picks the best; the challenger is then fitted on the chosen window re-anchored to the newest training row.
Each candidate's metric and row counts are the evidence recorded with the model version.

A candidate may be *representative* (`CandidateWindow.weighting`): its rows are weighted by their similarity to
current production (`batch_jobs.training.representative`: importance weights from a domain classifier, no labels
used). In the backtest, "current production" is the validation slice's features: the weights are computed against
them, the candidate is fitted with them and scored on the slice like the others, and it is chosen only when its
AUC there is the best. The final fit (`final_weights`) recomputes the weights of the re-anchored window against the
newest `validation_days` of production rows in the training rows: the most recent rows the job has (the gate's
holdout is newer, but the challenger never sees it), by the same rule as the validation slice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from batch_jobs.training.frames import EVENT_TIME, INITIAL, ORDER, PRODUCTION, SOURCE
from batch_jobs.training.representative import DEFAULT_CLIP, importance_weights
from core.features import InputSchema

WindowStrategy = Literal["fixed", "expanding", "backtest"]
#: How a window's rows are weighted: equally, or by their similarity to current production (module docstring).
Weighting = Literal["none", "representative"]


@dataclass(frozen=True, slots=True)
class CandidateWindow:
    """The newest `days` of production rows (None: all of them), with or without the initial training set, weighted
    equally or (`representative`) by their similarity to current production."""

    days: int | None
    include_initial: bool
    weighting: Weighting = "none"

    def __post_init__(self) -> None:
        if self.days is not None and self.days < 1:
            raise ValueError("a window spans at least one day")
        if self.weighting not in ("none", "representative"):
            raise ValueError(f"a window's weighting is 'none' or 'representative', got {self.weighting!r}")

    @property
    def name(self) -> str:
        """E.g. `28d+initial`, `14d`, `all+initial`, `all+initial~representative`."""
        span = "all" if self.days is None else f"{self.days}d"
        rows = f"{span}+initial" if self.include_initial else span
        return rows if self.weighting == "none" else f"{rows}~{self.weighting}"

    def mask(self, frame: pd.DataFrame, end: pd.Timestamp) -> pd.Series[bool]:
        """Rows of `frame` inside the window that ends at `end` (inclusive)."""
        production = (frame[SOURCE] == PRODUCTION) & (frame[EVENT_TIME] <= end)
        if self.days is not None:
            production &= frame[EVENT_TIME] > end - pd.Timedelta(days=self.days)
        initial = frame[SOURCE] == INITIAL
        return production | (initial & self.include_initial)


EXPANDING = CandidateWindow(None, include_initial=True)
#: Every row, weighted by its similarity to current production.
REPRESENTATIVE = CandidateWindow(None, include_initial=True, weighting="representative")
DEFAULT_CANDIDATES = (
    CandidateWindow(14, include_initial=False),
    CandidateWindow(28, include_initial=False),
    CandidateWindow(56, include_initial=False),
    CandidateWindow(14, include_initial=True),
    CandidateWindow(28, include_initial=True),
    CandidateWindow(56, include_initial=True),
    EXPANDING,
    REPRESENTATIVE,
)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """How the window is chosen.

    - `strategy`: `backtest` (default) over `candidates`; `fixed` always uses `fixed`; `expanding` uses every row.
    - `validation_days` (7): the newest training days the backtest scores candidates on.
    - `min_validation_rows` (200) with `min_class_rows` (20) of each class: below that the backtest's AUCs are
      noise and the job falls back to `fallback` (expanding), saying so in the evidence.
    - `min_train_rows` (200): a candidate with fewer rows (or a single class) is skipped.
    - `weight_clip` ((0.1, 10)): the bounds of a representative window's density ratios
      (`representative.DEFAULT_CLIP`, whose module docstring says why).
    """

    strategy: WindowStrategy = "backtest"
    candidates: tuple[CandidateWindow, ...] = DEFAULT_CANDIDATES
    fixed: CandidateWindow = CandidateWindow(28, include_initial=True)
    fallback: CandidateWindow = EXPANDING
    validation_days: int = 7
    min_validation_rows: int = 200
    min_class_rows: int = 20
    min_train_rows: int = 200
    weight_clip: tuple[float, float] = DEFAULT_CLIP

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("the backtest needs at least one candidate window")
        if self.validation_days < 1:
            raise ValueError("validation_days must be at least 1")
        low, high = self.weight_clip
        if not 0 < low <= 1 <= high:
            raise ValueError(f"weight_clip must satisfy 0 < low <= 1 <= high, got {self.weight_clip}")


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """The chosen window, how it was chosen, and the evidence (JSON-serialisable)."""

    window: CandidateWindow
    strategy: str
    evidence: dict[str, Any] = field(default_factory=dict)


#: Fits a model on rows, each weighted by its weight (None: equally).
Fit = Callable[[pd.DataFrame, NDArray[np.float64] | None], Any]
Score = Callable[[Any, pd.DataFrame], NDArray[np.float64]]


def _usable(labels: NDArray[np.int64], min_rows: int, min_class_rows: int) -> bool:
    positives = int(labels.sum())
    return labels.size >= min_rows and min(positives, labels.size - positives) >= min_class_rows


def select_window(
    train: pd.DataFrame, *, target: str, config: WindowConfig, schema: InputSchema, fit: Fit, score: Score
) -> WindowChoice:
    """Choose the training window among the rows in `train` (the gate's holdout is not in it); `schema`'s features
    are what a representative candidate's weights compare."""
    has_production = bool((train[SOURCE] == PRODUCTION).any())
    if not has_production:
        return WindowChoice(
            CandidateWindow(None, include_initial=True), "initial", {"reason": "no matured production rows yet"}
        )
    if config.strategy == "fixed":
        return WindowChoice(config.fixed, "fixed", {"window": config.fixed.name})
    if config.strategy == "expanding":
        return WindowChoice(EXPANDING, "expanding", {"window": EXPANDING.name})
    return _backtest(train, target=target, config=config, schema=schema, fit=fit, score=score)


def _newest_days(train: pd.DataFrame, days: int) -> tuple[pd.Series[bool], pd.Timestamp, pd.Timestamp]:
    """The production rows of the newest `days` (by event time), where that span starts, and the newest row's time."""
    production = train[SOURCE] == PRODUCTION
    newest = train.loc[production, EVENT_TIME].max()
    start = newest - pd.Timedelta(days=days)
    return production & (train[EVENT_TIME] > start), start, newest


def _backtest(
    train: pd.DataFrame, *, target: str, config: WindowConfig, schema: InputSchema, fit: Fit, score: Score
) -> WindowChoice:
    in_validation, validation_start, newest = _newest_days(train, config.validation_days)
    validation = train.loc[in_validation]
    y_validation = validation[target].to_numpy(dtype=np.int64)
    evidence: dict[str, Any] = {
        "validation_start": validation_start.isoformat(),
        "validation_end": newest.isoformat(),
        "validation_rows": int(y_validation.size),
        "metric": "auc",
        "candidates": [],
    }
    if not _usable(y_validation, config.min_validation_rows, config.min_class_rows):
        evidence["reason"] = (
            f"validation slice has {y_validation.size} rows ({int(y_validation.sum())} positive): too few for a "
            f"backtest; fell back to {config.fallback.name}"
        )
        return WindowChoice(config.fallback, "backtest-fallback", evidence)
    earlier = train.loc[~in_validation]
    best: tuple[float, CandidateWindow] | None = None
    for candidate in config.candidates:
        rows = earlier.loc[candidate.mask(earlier, validation_start)]
        labels = rows[target].to_numpy(dtype=np.int64)
        entry: dict[str, Any] = {"window": candidate.name, "train_rows": int(labels.size), "auc": None}
        if _usable(labels, config.min_train_rows, 1):
            weights = None
            if candidate.weighting == "representative":  # the validation slice's features stand for production
                importance = importance_weights(rows, validation, schema, clip=config.weight_clip)
                entry["weights"] = importance.evidence()
                weights = importance.weights
            auc = float(roc_auc_score(y_validation, score(fit(rows, weights), validation)))
            entry["auc"] = auc
            if best is None or auc > best[0]:
                best = (auc, candidate)
        else:
            entry["skipped"] = f"{labels.size} rows ({int(labels.sum())} positive) is too few to fit"
        evidence["candidates"].append(entry)
    if best is None:
        evidence["reason"] = f"no candidate window had enough rows; fell back to {config.fallback.name}"
        return WindowChoice(config.fallback, "backtest-fallback", evidence)
    evidence["reason"] = f"{best[1].name} scored the best AUC {best[0]:.4f} on the validation slice"
    return WindowChoice(best[1], "backtest", evidence)


def window_rows(train: pd.DataFrame, window: CandidateWindow) -> pd.DataFrame:
    """The rows of `train` inside `window`, anchored at the newest production row (all initial rows if chosen)."""
    production = train[SOURCE] == PRODUCTION
    if not production.any():
        return train.loc[train[SOURCE] == INITIAL].reset_index(drop=True)
    end = train.loc[production, EVENT_TIME].max()
    return train.loc[window.mask(train, end)].reset_index(drop=True)


def final_weights(
    train: pd.DataFrame, choice: WindowChoice, *, schema: InputSchema, config: WindowConfig
) -> tuple[WindowChoice, NDArray[np.float64] | None]:
    """The chosen window's row weights, aligned with `window_rows(train, choice.window)`, and the choice with their
    evidence (under `weights`).

    None for an unweighted window. A representative window's rows are weighted against the newest
    `config.validation_days` of production rows in `train` (current production as far as the job knows: module
    docstring); with fewer than `config.min_validation_rows` of them its rows stay unweighted, and the evidence
    says so.
    """
    if choice.window.weighting == "none":
        return choice, None
    rows = window_rows(train, choice.window)
    has_production = bool((train[SOURCE] == PRODUCTION).any())
    current = train.loc[_newest_days(train, config.validation_days)[0]] if has_production else train.iloc[:0]
    if len(current) < config.min_validation_rows:
        skipped = (
            f"{len(current)} production rows in the newest {config.validation_days} days, fewer than the "
            f"{config.min_validation_rows} needed to weigh against: the window's rows are weighted equally"
        )
        return replace(choice, evidence={**choice.evidence, "weights": {"skipped": skipped}}), None
    importance = importance_weights(
        rows,
        current,
        schema,
        clip=config.weight_clip,
        target_in_pool=pd.Index(rows[ORDER]).get_indexer(current[ORDER]),
    )
    evidence = {**importance.evidence(), "current_rows": len(current), "current_days": config.validation_days}
    return replace(choice, evidence={**choice.evidence, "weights": evidence}), importance.weights
