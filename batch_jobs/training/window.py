"""Which production rows the challenger trains on: a fixed window, everything (expanding), or a backtest. Pure.

The backtest holds out the newest `validation_days` of the training rows (all older than the gate's holdout),
fits one model per candidate window ending where that validation slice starts, scores each on the slice, and
picks the best; the challenger is then fitted on the chosen window re-anchored to the newest training row.
Each candidate's metric and row counts are the evidence recorded with the model version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score

from batch_jobs.training.frames import EVENT_TIME, INITIAL, PRODUCTION, SOURCE

WindowStrategy = Literal["fixed", "expanding", "backtest"]


@dataclass(frozen=True, slots=True)
class CandidateWindow:
    """The newest `days` of production rows (None: all of them), with or without the initial training set."""

    days: int | None
    include_initial: bool

    def __post_init__(self) -> None:
        if self.days is not None and self.days < 1:
            raise ValueError("a window spans at least one day")

    @property
    def name(self) -> str:
        """E.g. `28d+initial`, `14d`, `all+initial`."""
        span = "all" if self.days is None else f"{self.days}d"
        return f"{span}+initial" if self.include_initial else span

    def mask(self, frame: pd.DataFrame, end: pd.Timestamp) -> pd.Series[bool]:
        """Rows of `frame` inside the window that ends at `end` (inclusive)."""
        production = (frame[SOURCE] == PRODUCTION) & (frame[EVENT_TIME] <= end)
        if self.days is not None:
            production &= frame[EVENT_TIME] > end - pd.Timedelta(days=self.days)
        initial = frame[SOURCE] == INITIAL
        return production | (initial & self.include_initial)


EXPANDING = CandidateWindow(None, include_initial=True)
DEFAULT_CANDIDATES = (
    CandidateWindow(14, include_initial=False),
    CandidateWindow(28, include_initial=False),
    CandidateWindow(56, include_initial=False),
    CandidateWindow(14, include_initial=True),
    CandidateWindow(28, include_initial=True),
    CandidateWindow(56, include_initial=True),
    EXPANDING,
)


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """How the window is chosen.

    - `strategy`: `backtest` (default) over `candidates`; `fixed` always uses `fixed`; `expanding` uses every row.
    - `validation_days` (7): the newest training days the backtest scores candidates on.
    - `min_validation_rows` (200) with `min_class_rows` (20) of each class: below that the backtest's AUCs are
      noise and the job falls back to `fallback` (expanding), saying so in the evidence.
    - `min_train_rows` (200): a candidate with fewer rows (or a single class) is skipped.
    """

    strategy: WindowStrategy = "backtest"
    candidates: tuple[CandidateWindow, ...] = DEFAULT_CANDIDATES
    fixed: CandidateWindow = CandidateWindow(28, include_initial=True)
    fallback: CandidateWindow = EXPANDING
    validation_days: int = 7
    min_validation_rows: int = 200
    min_class_rows: int = 20
    min_train_rows: int = 200

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("the backtest needs at least one candidate window")
        if self.validation_days < 1:
            raise ValueError("validation_days must be at least 1")


@dataclass(frozen=True, slots=True)
class WindowChoice:
    """The chosen window, how it was chosen, and the evidence (JSON-serialisable)."""

    window: CandidateWindow
    strategy: str
    evidence: dict[str, Any] = field(default_factory=dict)


Fit = Callable[[pd.DataFrame], Any]
Score = Callable[[Any, pd.DataFrame], NDArray[np.float64]]


def _usable(labels: NDArray[np.int64], min_rows: int, min_class_rows: int) -> bool:
    positives = int(labels.sum())
    return labels.size >= min_rows and min(positives, labels.size - positives) >= min_class_rows


def select_window(train: pd.DataFrame, *, target: str, config: WindowConfig, fit: Fit, score: Score) -> WindowChoice:
    """Choose the training window among the rows in `train` (the gate's holdout is not in it)."""
    has_production = bool((train[SOURCE] == PRODUCTION).any())
    if not has_production:
        return WindowChoice(
            CandidateWindow(None, include_initial=True), "initial", {"reason": "no matured production rows yet"}
        )
    if config.strategy == "fixed":
        return WindowChoice(config.fixed, "fixed", {"window": config.fixed.name})
    if config.strategy == "expanding":
        return WindowChoice(EXPANDING, "expanding", {"window": EXPANDING.name})
    return _backtest(train, target=target, config=config, fit=fit, score=score)


def _backtest(train: pd.DataFrame, *, target: str, config: WindowConfig, fit: Fit, score: Score) -> WindowChoice:
    production = train[SOURCE] == PRODUCTION
    newest = train.loc[production, EVENT_TIME].max()
    validation_start = newest - pd.Timedelta(days=config.validation_days)
    in_validation = production & (train[EVENT_TIME] > validation_start)
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
            auc = float(roc_auc_score(y_validation, score(fit(rows), validation)))
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
