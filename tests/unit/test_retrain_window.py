"""Training-window selection on data where the right window is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from autoretrain.synthetic import ConceptShift, generate_churn
from batch_jobs import model_spec
from batch_jobs.training import fitting
from batch_jobs.training.frames import EVENT_TIME, ORDER, PRODUCTION, SOURCE, combine, initial_frame
from batch_jobs.training.window import CandidateWindow, WindowConfig, select_window, window_rows

END = datetime(2026, 11, 1, tzinfo=UTC)
#: The churn drivers flip sign: what predicted churn before the change predicts loyalty after it.
FLIPPED = ConceptShift(
    coefficients={
        "tenure_months": 0.9,
        "support_calls": -0.7,
        "contract=month-to-month": -0.9,
        "contract=two-year": 1.0,
        "monthly_charges": -0.6,
    }
)


def production(days: int, per_day: int, seed: int, concept: ConceptShift | None, last_day: datetime) -> pd.DataFrame:
    frame = generate_churn(days * per_day, seed=seed, concept_shift=concept)
    offsets = np.repeat(np.arange(days)[::-1], per_day)
    frame[EVENT_TIME] = pd.to_datetime([last_day - timedelta(days=int(d)) for d in offsets], utc=True)
    frame[SOURCE] = PRODUCTION
    frame[ORDER] = np.arange(len(frame))
    return frame


def history(*, change_days_ago: int, days: int = 60, per_day: int = 60) -> pd.DataFrame:
    """`days` of matured production rows whose concept changed `change_days_ago`, after an initial set."""
    before = production(days - change_days_ago, per_day, 1, None, END - timedelta(days=change_days_ago))
    after = production(change_days_ago, per_day, 2, FLIPPED, END)
    initial = initial_frame(generate_churn(2000, seed=3), model_spec.TARGET)
    return combine(initial, pd.concat([before, after], ignore_index=True))


def choose(frame: pd.DataFrame, config: WindowConfig) -> tuple[str, dict[str, float]]:
    schema = model_spec.infer_input_schema(frame.drop(columns=[EVENT_TIME, SOURCE, ORDER]), all_nullable=True)
    with threadpool_limits(1):
        choice = select_window(
            frame,
            target=model_spec.TARGET,
            config=config,
            fit=lambda rows: fitting.fit_model(rows, schema, model_spec.DEFAULT_SPEC),
            score=lambda model, rows: fitting.score(model, rows, schema),
        )
    candidates = choice.evidence.get("candidates", [])
    return choice.window.name, {entry["window"]: entry["auc"] for entry in candidates if entry["auc"] is not None}


def test_backtest_picks_a_short_window_after_a_concept_change_30_days_ago() -> None:
    name, aucs = choose(history(change_days_ago=30), WindowConfig())

    assert name == "14d"
    assert aucs["14d"] > aucs["56d"] + 0.05
    assert aucs["14d"] > aucs["all+initial"] + 0.05


def test_backtest_prefers_more_data_when_the_concept_is_stable() -> None:
    name, aucs = choose(history(change_days_ago=0, days=60), WindowConfig())

    assert name != "14d"
    assert max(aucs.values()) > aucs["14d"]


def test_too_small_a_validation_slice_falls_back_to_the_expanding_window() -> None:
    frame = history(change_days_ago=30, per_day=10)

    name, _ = choose(frame, WindowConfig(min_validation_rows=200))

    assert name == "all+initial"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (WindowConfig(strategy="fixed", fixed=CandidateWindow(28, include_initial=False)), "28d"),
        (WindowConfig(strategy="expanding"), "all+initial"),
    ],
)
def test_fixed_and_expanding_strategies_use_their_window(config: WindowConfig, expected: str) -> None:
    assert choose(history(change_days_ago=30, per_day=5), config)[0] == expected


def test_window_rows_keep_the_newest_days_and_the_initial_set_only_when_asked() -> None:
    frame = history(change_days_ago=30, per_day=5)

    rows = window_rows(frame, CandidateWindow(14, include_initial=False))

    assert set(rows[SOURCE]) == {PRODUCTION}
    assert rows[EVENT_TIME].min() > pd.Timestamp(END - timedelta(days=14))
    assert len(window_rows(frame, CandidateWindow(14, include_initial=True))) == len(rows) + 2000
