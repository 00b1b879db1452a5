"""Synthetic histories where the right decision is known, for tests, examples and the demo's report.

Each is a history as `autoretrain backtest` reads it: `timestamp`, the features, `churned` (the label as the system
received it), `label_arrived_at` and, where received labels are wrong, `true_label`. Predictions are spread
uniformly over each day; a label arrives `label_delay_days` after its prediction unless said otherwise.

- `quiet`: the churn model of `autoretrain.synthetic`, unchanged.
- `harmless_drift`: from `change_day`, `usage_hours` moves up by one standard deviation and `monthly_charges` by
  half of one. P(churn | x) is unchanged and the default model (a logistic regression) is well specified for it, so a
  retrained model is no better: the right decision is to deploy little or nothing.
- `harmful_covariate_shift`: a small world (`bowl`) where churn rises with x² — a model trained where x > 0 learns
  "more x, more churn"; from `change_day` x lies below 0, where that is backwards. P(churn | x) is unchanged, but
  the champion is badly wrong there: retraining on the new rows must help.
- `concept_shift`: from `change_day` churn depends differently on tenure, contract and usage (the demo's concept
  shift); P(x) is unchanged, so only matured labels reveal it: retraining must help.
- `label_corruption`: a faulty backfill sends flipped labels for the predictions of `corrupted_days` (14) days,
  arriving at the end of `change_day`, just before the `holdout_days` (7) a retrain at that moment holds out for its
  gate, so the retrain trains on them but is judged on clean labels: the gate should refuse it (put `change_day` on
  a scheduled retrain day). `true_label` holds the real outcomes (the replay is scored on them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal

import numpy as np
import pandas as pd

from autoretrain.synthetic import TARGET, ConceptShift, CovariateShift, generate_churn

StreamName = Literal["quiet", "harmless_drift", "harmful_covariate_shift", "concept_shift", "label_corruption"]
STREAMS: tuple[StreamName, ...] = (
    "quiet",
    "harmless_drift",
    "harmful_covariate_shift",
    "concept_shift",
    "label_corruption",
)
START: Final = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday
HARMLESS_SHIFTS = (CovariateShift("usage_hours", shift=20.0), CovariateShift("monthly_charges", shift=12.5))
CONCEPT_SHIFT = ConceptShift(
    coefficients={"tenure_months": 0.6, "contract=month-to-month": -0.6, "contract=two-year": 0.9, "usage_hours": 0.5},
)
CORRUPTED_DAYS = 14

Generator = Callable[[int, int, bool], pd.DataFrame]


def bowl(n_rows: int, *, seed: int, shifted: bool) -> pd.DataFrame:
    """The `harmful_covariate_shift` world: `x` ~ N(±1.5, 0.6) (negative when `shifted`), `z` ~ N(0, 1), `segment`
    in a/b/c; logit = −1.5 + 0.9·(x² − 2.25) + 0.7·z + (0.5 for segment a, −0.4 for c)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(-1.5 if shifted else 1.5, 0.6, n_rows)
    z = rng.normal(0.0, 1.0, n_rows)
    segment = rng.choice(np.array(["a", "b", "c"]), size=n_rows, p=[0.4, 0.35, 0.25])
    logit = -1.5 + 0.9 * (x**2 - 2.25) + 0.7 * z + 0.5 * (segment == "a") - 0.4 * (segment == "c")
    outcome = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({"x": x, "z": z, "segment": segment, TARGET: outcome})


def _day_rows(name: StreamName, n_rows: int, seed: int, changed: bool) -> pd.DataFrame:
    if name == "harmful_covariate_shift":
        return bowl(n_rows, seed=seed, shifted=changed)
    if name == "harmless_drift" and changed:
        return generate_churn(n_rows, seed=seed, covariate_shifts=HARMLESS_SHIFTS)
    if name == "concept_shift" and changed:
        return generate_churn(n_rows, seed=seed, concept_shift=CONCEPT_SHIFT)
    return generate_churn(n_rows, seed=seed)


def stream(
    name: StreamName,
    *,
    days: int = 90,
    per_day: int = 500,
    change_day: int | None = None,
    seed: int = 0,
    label_delay_days: int = 7,
    holdout_days: int = 7,
    corrupted_days: int = CORRUPTED_DAYS,
) -> pd.DataFrame:
    """The history of one stream (module docstring); `change_day` defaults to 45 % of the days."""
    if name not in STREAMS:
        raise ValueError(f"unknown stream {name!r}; one of {STREAMS}")
    change = round(0.45 * days) if change_day is None else change_day
    parts = []
    for day in range(days):
        changed = name not in {"label_corruption", "quiet"} and day >= change
        rows = _day_rows(name, per_day, seed * 100_003 + day, changed)
        offsets = np.sort(np.random.default_rng([seed, day]).uniform(0.0, 86_400.0, per_day))
        rows.insert(0, "timestamp", START + pd.Timedelta(days=day) + pd.to_timedelta(offsets, unit="s"))
        parts.append(rows)
    history = pd.concat(parts, ignore_index=True)
    history["timestamp"] = history["timestamp"].dt.floor("ms")
    history["label_arrived_at"] = history["timestamp"] + pd.Timedelta(days=label_delay_days)
    if name == "label_corruption":
        _corrupt(history, corrupted_span(change, label_delay_days, holdout_days, corrupted_days), change)
    return history


def corrupted_span(
    change_day: int, label_delay_days: int, holdout_days: int = 7, corrupted_days: int = CORRUPTED_DAYS
) -> tuple[int, int]:
    """The days `[first, last)` whose labels the backfill at the end of `change_day` flips: the `corrupted_days`
    before the `holdout_days` a retrain at that moment holds out for its gate."""
    holdout_start = change_day + 1 - label_delay_days - holdout_days
    return holdout_start - corrupted_days, holdout_start


def _corrupt(history: pd.DataFrame, span: tuple[int, int], change_day: int) -> None:
    first, last = span
    day = (history["timestamp"] - START) // pd.Timedelta(days=1)
    span = (day >= first) & (day < last)
    history["true_label"] = history[TARGET]
    history.loc[span, TARGET] = 1 - history.loc[span, TARGET]
    backfill = START + pd.Timedelta(days=change_day + 1) - pd.Timedelta(hours=1)
    history.loc[span, "label_arrived_at"] = backfill
