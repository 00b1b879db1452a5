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
from batch_jobs.training.window import (
    DEFAULT_CANDIDATES,
    REPRESENTATIVE,
    CandidateWindow,
    WindowChoice,
    WindowConfig,
    final_weights,
    select_window,
    window_rows,
)
from core.features import InputSchema

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


def regime(rows: int, *, old: bool, seed: int) -> pd.DataFrame:
    """Two regimes apart in x1, with opposite relations between x2 and the label (x1 itself says nothing of it)."""
    rng = np.random.default_rng(seed)
    x2 = rng.normal(0.0, 1.0, rows)
    churned = rng.random(rows) < 1.0 / (1.0 + np.exp(-(2.0 if old else -2.0) * x2))
    x1 = rng.normal(-1.5 if old else 1.5, 1.0, rows)
    return pd.DataFrame({"x1": x1, "x2": x2, model_spec.TARGET: churned.astype(np.int64)})


def regime_days(oldest: int, newest: int, per_day: int, *, old: bool, seed: int) -> pd.DataFrame:
    """Production rows of one regime served from `oldest` to `newest` days before END."""
    frame = regime((oldest - newest + 1) * per_day, old=old, seed=seed)
    offsets = np.repeat(np.arange(newest, oldest + 1)[::-1], per_day)
    frame[EVENT_TIME] = pd.to_datetime([END - timedelta(days=int(d)) for d in offsets], utc=True)
    frame[SOURCE] = PRODUCTION
    frame[ORDER] = np.arange(len(frame))
    return frame


def returning_regime() -> pd.DataFrame:
    """The old regime (the initial set and a sparse month of production), a busy new regime for 24 days, and then,
    in the newest week, production back in the old regime's part of x1, with its relation."""
    production = [
        regime_days(60, 31, 10, old=True, seed=2),
        regime_days(30, 7, 100, old=False, seed=3),
        regime_days(6, 0, 60, old=True, seed=4),
    ]
    return combine(initial_frame(regime(500, old=True, seed=1), model_spec.TARGET), pd.concat(production))


def schema_of(frame: pd.DataFrame) -> InputSchema:
    return model_spec.infer_input_schema(frame.drop(columns=[EVENT_TIME, SOURCE, ORDER]), all_nullable=True)


def backtest(frame: pd.DataFrame, config: WindowConfig) -> WindowChoice:
    schema = schema_of(frame)
    with threadpool_limits(1):
        return select_window(
            frame,
            target=model_spec.TARGET,
            config=config,
            schema=schema,
            fit=lambda rows, weights: fitting.fit_model(rows, schema, model_spec.DEFAULT_SPEC, sample_weight=weights),
            score=lambda model, rows: fitting.score(model, rows, schema),
        )


def choose(frame: pd.DataFrame, config: WindowConfig) -> tuple[str, dict[str, float]]:
    choice = backtest(frame, config)
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


def test_the_default_candidates_include_every_row_weighted_by_similarity_to_production() -> None:
    assert REPRESENTATIVE in DEFAULT_CANDIDATES
    assert REPRESENTATIVE.name == "all+initial~representative"


def test_backtest_picks_the_representative_window_when_production_returns_to_an_old_regime() -> None:
    choice = backtest(returning_regime(), WindowConfig())

    aucs = {entry["window"]: entry["auc"] for entry in choice.evidence["candidates"]}
    assert choice.window == REPRESENTATIVE
    assert aucs[REPRESENTATIVE.name] > 0.75
    assert max(auc for name, auc in aucs.items() if name != REPRESENTATIVE.name) < 0.5


def test_backtest_records_the_representative_candidate_with_its_weights_when_history_is_homogeneous() -> None:
    frame = history(change_days_ago=0, days=60)

    choice = backtest(frame, WindowConfig())

    entry = next(entry for entry in choice.evidence["candidates"] if entry["window"] == REPRESENTATIVE.name)
    assert entry["auc"] is not None
    assert entry["weights"]["propensity_auc"] < 0.6
    assert entry["weights"]["effective_rows"] > 0.8 * entry["train_rows"]
    assert {"clipped_share", "clip"} <= set(entry["weights"])


def test_final_weights_weigh_the_reanchored_window_against_the_newest_production_week() -> None:
    frame = returning_regime()
    choice = WindowChoice(REPRESENTATIVE, "backtest", {"reason": "best"})

    with threadpool_limits(1):
        weighted, weights = final_weights(frame, choice, schema=schema_of(frame), config=WindowConfig())

    assert weights is not None
    rows = window_rows(frame, REPRESENTATIVE)
    old_region = rows["x1"].to_numpy() < 0
    assert weights.size == len(rows)
    assert weights[old_region].mean() > 5 * weights[~old_region].mean()
    assert weighted.evidence["reason"] == "best"
    assert weighted.evidence["weights"]["current_rows"] == 7 * 60
    assert weighted.evidence["weights"]["rows"] == len(rows)


def test_an_unweighted_window_has_no_final_weights() -> None:
    frame = history(change_days_ago=30, per_day=5)
    choice = WindowChoice(CandidateWindow(28, include_initial=True), "fixed", {})

    assert final_weights(frame, choice, schema=schema_of(frame), config=WindowConfig()) == (choice, None)


def test_a_representative_window_stays_unweighted_when_the_newest_week_is_too_small_to_weigh_against() -> None:
    frame = history(change_days_ago=30, per_day=5)
    choice = WindowChoice(REPRESENTATIVE, "fixed", {})

    weighted, weights = final_weights(frame, choice, schema=schema_of(frame), config=WindowConfig())

    assert weights is None
    assert "35 production rows" in weighted.evidence["weights"]["skipped"]
