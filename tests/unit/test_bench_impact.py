"""The impact bench's pure pieces: shifts and their truth, rates, the curve, Evidently's file layout and the targets
(no Evidently venv, no suite runs)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import CATEGORY_PROBABILITIES, TARGET, generate_churn
from batch_jobs.drift.estimate import ScoreCalibrator
from batch_jobs.model_spec import DEFAULT_SPEC, infer_input_schema
from batch_jobs.training import fitting
from bench import impact
from bench.drift_evidently_worker import CURRENT_COLUMN, WINDOW_COLUMN, split_windows
from bench.impact import Judge, ShiftClass, ShiftOutcome, Timings, WindowVerdict

TRUTH_ROWS = 20_000
TRUTH_SEED = 5
MARGIN = 0.008
#: One window's (ours drift, impactful, current drift, Evidently) verdicts.
Flags = tuple[bool, bool, bool, bool]


@pytest.fixture(scope="module")
def scorer() -> impact.Scorer:
    """The default model on a few rows; its reference is the unshifted population drawn with the truth's seed, so a
    shift's truth compares the same customers with and without the shift."""
    train = generate_churn(5_000, seed=1)
    schema = infer_input_schema(train, all_nullable=True)
    model = fitting.fit_model(train, schema, DEFAULT_SPEC)
    holdout = generate_churn(5_000, seed=2)
    scores = fitting.score(model, holdout, schema)
    calibrator = ScoreCalibrator.fit(scores, fitting.labels_of(holdout, TARGET))
    unshifted = impact.Scorer(model, schema, calibrator, reference_auc=0.0)
    reference = unshifted.expected_auc(impact.NULL.sample(TRUTH_ROWS, TRUTH_SEED))
    return dataclasses.replace(unshifted, reference_auc=reference)


def _catalogued(name: str) -> impact.Shift:
    return next(shift for shift in impact.CATALOGUE if shift.name == name)


def _outcome(name: str, truth: float, flags: list[Flags], *, null: bool = False) -> ShiftOutcome:
    """An outcome from each window's `Flags`."""
    shift = impact.NULL if null else impact.Shift(name, name, category=(impact.share("region", "north", 0.5),))
    windows = tuple(WindowVerdict(*flag) for flag in flags)
    return ShiftOutcome(shift, truth, 1_000, windows)


def _all(count: int, ours: bool, impactful: bool, current: bool, evidently: bool) -> list[Flags]:
    return [(ours, impactful, current, evidently)] * count


def test_a_large_region_shift_costs_the_model_nothing(scorer: impact.Scorer) -> None:
    truth = scorer.truth(_catalogued("region_north_70"), TRUTH_ROWS, TRUTH_SEED)
    assert abs(truth) < 0.001


def test_a_strong_contract_share_move_costs_clear_auc(scorer: impact.Scorer) -> None:
    strong = impact.Shift("contract_85", "contract 85 %", category=(impact.share("contract", "month-to-month", 0.85),))
    assert scorer.truth(strong, TRUTH_ROWS, TRUTH_SEED) > 0.01


def test_widening_an_important_feature_raises_the_expected_auc(scorer: impact.Scorer) -> None:
    assert scorer.truth(_catalogued("support_widened_150"), TRUTH_ROWS, TRUTH_SEED) < -0.005


def test_share_sets_one_category_and_keeps_the_others_ratios() -> None:
    moved = impact.share("contract", "month-to-month", 0.75).probabilities
    base = CATEGORY_PROBABILITIES["contract"]
    assert moved["month-to-month"] == pytest.approx(0.75)
    assert sum(moved.values()) == pytest.approx(1.0)
    assert moved["one-year"] / moved["two-year"] == pytest.approx(base["one-year"] / base["two-year"])


def test_share_of_an_unknown_category_is_an_error() -> None:
    with pytest.raises(ValueError, match="no category"):
        impact.share("contract", "monthly", 0.5)


@pytest.mark.parametrize(
    ("truth", "expected"),
    [(-0.02, ShiftClass.HARMLESS), (0.0019, ShiftClass.HARMLESS), (0.002, ShiftClass.INTERMEDIATE),
     (0.0099, ShiftClass.INTERMEDIATE), (0.01, ShiftClass.IMPACTFUL)],
)  # fmt: skip
def test_a_shift_is_classed_by_its_truth(truth: float, expected: ShiftClass) -> None:
    assert impact.classify(impact.CATALOGUE[0], truth) is expected


def test_the_null_is_its_own_class_whatever_its_measured_truth() -> None:
    assert impact.classify(impact.NULL, 0.03) is ShiftClass.NULL


def test_catalogue_names_are_unique_and_every_shift_moves_something() -> None:
    names = [shift.name for shift in impact.SHIFTS]
    assert len(set(names)) == len(names)
    assert impact.SHIFTS[0].is_null
    assert not any(shift.is_null for shift in impact.CATALOGUE)


def test_windows_differ_between_sizes_and_shifts_but_repeat_for_a_seed() -> None:
    seeds = {impact.window_seed(size, index) for size in impact.SIZES for index in range(len(impact.SHIFTS))}
    assert len(seeds) == len(impact.SIZES) * len(impact.SHIFTS)
    assert not seeds & {impact.SEED, impact.SEED + 1}


def test_ours_flags_a_window_only_when_it_drifts_and_is_impactful() -> None:
    outcome = _outcome(
        "s",
        0.02,
        [
            (True, True, True, True),
            (True, False, True, True),
            (False, True, False, False),
            (False, False, False, False),
        ],
    )
    assert outcome.rate(Judge.OURS) == 0.25
    assert outcome.rate(Judge.OURS_DRIFT) == 0.5
    assert outcome.rate(Judge.IMPACTFUL) == 0.5
    assert outcome.rate(Judge.CURRENT) == 0.5
    assert outcome.rate(Judge.EVIDENTLY) == 0.5


def test_class_rate_pools_the_windows_of_every_shift_in_the_class() -> None:
    outcomes = [
        _outcome("a", 0.012, _all(10, True, True, True, True)),
        _outcome("b", 0.03, _all(30, True, False, True, True)),
        _outcome("c", 0.0, _all(5, True, True, True, True)),
    ]
    assert impact.class_rate(outcomes, ShiftClass.IMPACTFUL, Judge.OURS) == 0.25
    assert impact.class_rate(outcomes, ShiftClass.HARMLESS, Judge.OURS) == 1.0
    assert impact.worst_rate(outcomes, ShiftClass.IMPACTFUL, Judge.OURS, lowest=True) == 0.0


def test_class_rate_of_an_empty_class_is_an_error() -> None:
    with pytest.raises(ValueError, match="no windows"):
        impact.class_rate([_outcome("a", 0.012, _all(4, True, True, True, True))], ShiftClass.NULL, Judge.OURS)


def test_rate_gaps_take_the_non_null_shifts_in_range_by_truth() -> None:
    outcomes = [
        _outcome("null", 0.05, _all(4, True, True, False, False), null=True),
        _outcome("high", 0.02, _all(4, True, True, True, True)),
        _outcome("edge", MARGIN, [(True, True, True, True), (True, False, True, True)] * 2),
        _outcome("low", 0.001, _all(4, True, False, True, True)),
    ]
    gaps = impact.rate_gaps(outcomes, low=MARGIN)
    assert [(gap.shift, gap.gap) for gap in gaps] == [("edge", -0.5), ("high", 0.0)]
    below = impact.rate_gaps(outcomes, low=-math.inf, high=0.002)
    assert [(gap.shift, gap.gap) for gap in below] == [("low", -1.0)]


def test_curve_table_lists_the_null_first_then_shifts_by_truth() -> None:
    outcomes = [
        _outcome("high", 0.02, _all(2, True, True, True, False)),
        _outcome("null", 0.0, _all(2, False, False, False, False), null=True),
        _outcome("low", -0.01, _all(2, True, False, True, True)),
    ]
    lines = impact.curve_table(outcomes, MARGIN).splitlines()
    assert len(lines) == 5
    assert "no shift" in lines[2]
    assert lines[3] == "| -0.0100 | low | — | 0 % | 100 % | 100 % | -100 pp |"
    assert lines[4] == "| +0.0200 (≥ margin) | high | — | 100 % | 100 % | 0 % | +0 pp |"


def test_evidently_files_hold_every_window_after_the_reference(tmp_path: Path) -> None:
    reference = pd.DataFrame({"a": [0.0, 1.0, 2.0], "b": [1.0, np.nan, 3.0]})
    current = pd.DataFrame({"a": [5.0, 6.0, 7.0, 8.0], "b": [np.nan, 2.0, 2.0, 2.0]})
    frame = impact.evidently_frame(reference, current, size=2, first_id=1)
    assert list(frame.columns) == [WINDOW_COLUMN, CURRENT_COLUMN, "a", "b"]
    (path,) = impact.write_evidently_files(frame, tmp_path / "windows")
    windows = split_windows(pd.read_parquet(path))
    assert [window for window, _, _ in windows] == [1, 2]
    assert windows[1][1]["a"].tolist() == [0.0, 1.0, 2.0]
    assert windows[1][2]["a"].tolist() == [7.0, 8.0]
    assert windows[0][2]["b"].isna().tolist() == [True, False]


def test_evidently_flags_a_window_when_any_column_of_any_group_drifts(tmp_path: Path) -> None:
    paths = [tmp_path / "w-0.parquet", tmp_path / "w-1.parquet"]
    files: dict[str, list[dict[str, Any]]] = {
        str(paths[0]): [{"window": 2, "columns": {"a": False}}, {"window": 1, "columns": {"a": True}}],
        str(paths[1]): [{"window": 1, "columns": {"b": False}}, {"window": 2, "columns": {"b": True}}],
    }
    assert impact.evidently_flags(files, paths, 2) == [True, True]
    assert impact.evidently_flags(files, paths[1:], 2) == [False, True]
    with pytest.raises(ValueError, match="expected 3"):
        impact.evidently_flags(files, paths, 3)


def _metrics(large: list[ShiftOutcome], small: list[ShiftOutcome]) -> dict[str, Any]:
    found = impact.metrics(
        large, small, Timings(0.0, 1.0, 1.2, 300.0), reference_auc=(0.85, 0.001), version="0", margin=MARGIN
    )
    return {metric.name: metric for metric in found}


def _catalogue(impactful: tuple[bool, bool], harmless_flags: int, null_flags: int) -> list[ShiftOutcome]:
    """Twenty windows per shift: `null_flags` null and `harmless_flags` harmless windows flagged by ours, the strong
    shift's windows with (drift, impactful) = `impactful`; the current suite flags every shifted window."""
    null = _all(null_flags, True, True, True, True) + _all(20 - null_flags, False, False, False, False)
    harmless = _all(harmless_flags, True, True, True, True) + _all(20 - harmless_flags, True, False, True, True)
    return [
        _outcome("null", 0.0, null, null=True),
        _outcome("harmless", 0.0, harmless),
        _outcome("middle", 0.005, _all(20, True, True, True, False)),
        _outcome("strong", 0.02, _all(20, *impactful, True, True)),
    ]


def test_targets_pass_when_impactful_shifts_are_flagged_and_harmless_ones_are_not() -> None:
    found = _metrics(_catalogue((True, True), 1, 1), _catalogue((True, True), 0, 0))
    targeted = {name: metric.passed for name, metric in found.items() if metric.target is not None}
    assert targeted == {
        "10k: impactful shifts (truth ≥ 0.01) flagged": True,
        "10k: 5 % minus harmless flagged": True,
        "10k: 5 % minus null flagged": True,
        "1k: ours − current, lowest over impactful levels": True,
        "entry time": True,
    }
    assert found["1k: ours − current, highest over harmless levels"].value == pytest.approx(-100.0)


def test_targets_miss_when_impact_gates_an_impactful_shift_or_harmless_ones_retrain() -> None:
    found = _metrics(_catalogue((True, False), 2, 2), _catalogue((True, False), 0, 0))
    assert found["10k: impactful shifts (truth ≥ 0.01) flagged"].passed is False
    assert found["10k: 5 % minus harmless flagged"].value == pytest.approx(-5.0)
    assert found["10k: 5 % minus harmless flagged"].passed is False
    assert found["10k: 5 % minus null flagged"].passed is False
    assert found["1k: ours − current, lowest over impactful levels"].value == pytest.approx(-100.0)
    assert found["1k: ours − current, lowest over impactful levels"].passed is False
