"""The drift bench's pure pieces: scenario data, rates, tables and the Evidently worker's parsing (no Evidently)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench import drift
from bench.drift import Rates, Scenario, SpeedResult
from bench.drift_evidently_worker import is_drift, report_verdicts, split_windows

ROWS = 200_000


def _pair(scenario: Scenario, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same random draws without and with the scenario's change."""
    base = drift.generate(ROWS, np.random.default_rng(seed))
    changed = drift.generate(ROWS, np.random.default_rng(seed), scenario)
    return base, changed


def _window(index: int, columns: dict[str, bool], dataset: bool = False, domain: bool | None = None) -> dict[str, Any]:
    return {"window": index, "dataset_drift": dataset, "columns": columns, "domain": domain}


def test_generation_is_deterministic_for_a_seed() -> None:
    first = drift.generate(1000, np.random.default_rng(1))
    second = drift.generate(1000, np.random.default_rng(1))
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == list(drift.FEATURES)
    assert len(drift.NUMERIC) == 20
    assert len(drift.CATEGORIES) == 5


@pytest.mark.parametrize(("scenario", "shift"), [(Scenario.MEAN_SHIFT_01, 0.1), (Scenario.MEAN_SHIFT_02, 0.2)])
def test_mean_shift_moves_only_the_shifted_column_by_that_many_sd(scenario: Scenario, shift: float) -> None:
    base, changed = _pair(scenario)
    _, scale = drift._numeric_shape(drift.SHIFTED_NUMERIC)
    difference = changed[drift.SHIFTED_NUMERIC] - base[drift.SHIFTED_NUMERIC]
    np.testing.assert_allclose(difference, shift * scale)
    others = [name for name in drift.FEATURES if name != drift.SHIFTED_NUMERIC]
    pd.testing.assert_frame_equal(base[others], changed[others])


def test_rescale_widens_the_column_around_its_mean_by_five_percent() -> None:
    base, changed = _pair(Scenario.RESCALE)
    location, _ = drift._numeric_shape(drift.SHIFTED_NUMERIC)
    np.testing.assert_allclose(
        changed[drift.SHIFTED_NUMERIC] - location, 1.05 * (base[drift.SHIFTED_NUMERIC] - location)
    )
    assert changed[drift.SHIFTED_NUMERIC].mean() == pytest.approx(location, abs=0.05)


def test_shifted_probabilities_add_five_points_to_the_first_and_keep_the_others_ratios() -> None:
    base = drift.CATEGORIES[drift.SHIFTED_CATEGORY]
    shifted = drift.shifted_probabilities(base)
    assert shifted[0] == pytest.approx(base[0] + 0.05)
    assert sum(shifted) == pytest.approx(1.0)
    np.testing.assert_allclose(np.array(shifted[1:]) / shifted[1], np.array(base[1:]) / base[1])


def test_category_shift_changes_only_the_shifted_category_column() -> None:
    base, changed = _pair(Scenario.CATEGORY_SHIFT)
    top = f"{drift.SHIFTED_CATEGORY}_v0"
    assert (base[drift.SHIFTED_CATEGORY] == top).mean() == pytest.approx(0.40, abs=0.005)
    assert (changed[drift.SHIFTED_CATEGORY] == top).mean() == pytest.approx(0.45, abs=0.005)
    others = [name for name in drift.FEATURES if name != drift.SHIFTED_CATEGORY]
    pd.testing.assert_frame_equal(base[others], changed[others])


def test_correlation_flip_keeps_both_marginals_standard_normal() -> None:
    base, changed = _pair(Scenario.JOINT)
    first, second = drift.PAIR
    assert np.corrcoef(base[first], base[second])[0, 1] == pytest.approx(0.6, abs=0.01)
    assert np.corrcoef(changed[first], changed[second])[0, 1] == pytest.approx(-0.6, abs=0.01)
    for name in drift.PAIR:
        assert changed[name].mean() == pytest.approx(0.0, abs=0.01)
        assert changed[name].std() == pytest.approx(1.0, abs=0.01)
        assert stats.kstest(changed[name], "norm").pvalue > 0.01
    others = [name for name in drift.FEATURES if name not in drift.PAIR]
    pd.testing.assert_frame_equal(base[others], changed[others])


def test_window_frame_splits_into_equal_reference_and_current_windows() -> None:
    frame = drift.window_frame(Scenario.MEAN_SHIFT_02, windows=3, rows=400, seed=1)
    windows = split_windows(frame)
    assert [window for window, _, _ in windows] == [0, 1, 2]
    for _, reference, current in windows:
        assert list(reference.columns) == list(drift.FEATURES) == list(current.columns)
        assert len(reference) == len(current) == 400
    first = windows[0]
    assert first[2][drift.SHIFTED_NUMERIC].mean() > first[1][drift.SHIFTED_NUMERIC].mean()


def test_rate_is_the_share_of_flagged_windows() -> None:
    assert drift.rate([True, False, False, True]) == 0.5


def test_rate_of_no_windows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no windows"):
        drift.rate([])


def test_flagged_counts_any_column_when_none_is_named() -> None:
    windows = [_window(0, {"a": False, "b": True}), _window(1, {"a": False, "b": False})]
    assert drift.flagged(windows, ()) == [True, False]
    assert drift.flagged(windows, ("a",)) == [False, False]


def test_joint_change_is_detected_by_the_domain_classifier_not_the_columns() -> None:
    ours = [_window(i, {"num_00": False, "num_01": False}, dataset=True, domain=True) for i in range(4)]
    theirs = [_window(i, {"num_00": i == 0, "num_01": False}) for i in range(4)]
    rates = drift.scenario_rates(Scenario.JOINT, ours, theirs)
    assert (rates.ours_detection, rates.ours_dataset) == (1.0, 1.0)
    assert (rates.evidently_column, rates.evidently_dataset) == (0.25, 0.0)


def test_scenario_rates_reject_windows_that_differ_between_sides() -> None:
    with pytest.raises(ValueError, match="different windows"):
        drift.scenario_rates(Scenario.NO_DRIFT, [_window(0, {})], [_window(1, {})])


def test_markdown_table_has_header_alignment_and_rows() -> None:
    table = drift.markdown_table(["a", "b"], [["x", "1"]])
    assert table.splitlines() == ["| a | b |", "| :--- | ---: |", "| x | 1 |"]


def test_detection_table_shows_each_scenario_as_percentages() -> None:
    rates = [Rates(Scenario.MEAN_SHIFT_02, 50, 0.98, 0.96, 0.9, 0.0)]
    row = drift.detection_table(rates).splitlines()[2]
    assert row == "| 3. mean shift 0.2 sd (`num_02`) | 98 % | 96 % | 90 % | 0 % |"


def test_speed_result_ratios_compare_evidently_with_profile_plus_run() -> None:
    result = SpeedResult(rows=1000, ours_fit_s=1.0, ours_run_s=3.0, ours_peak_mib=50.0, evidently_s=200.0,
                         evidently_peak_mib=1000.0)  # fmt: skip
    assert (result.ours_s, result.speedup, result.memory_ratio) == (4.0, 50.0, 0.05)
    assert "| 1,000 | 4.00 s | 3.00 s | 200.0 s | 50× | 50 MiB | 1,000 MiB | 0.05 |" in drift.speed_table([result])


def test_metrics_report_a_missed_false_alarm_target() -> None:
    rates = [Rates(Scenario.NO_DRIFT, 50, 0.08, 0.08, 0.0, 0.0)]
    found = {metric.name: metric for metric in drift.metrics([], rates, "0.7.23", 0.0)}
    margin = found["no_drift: 5 % minus our false alarms"]
    assert margin.value == pytest.approx(-3.0)
    assert margin.passed is False


def test_metrics_report_lower_detection_than_evidently_as_missed() -> None:
    rates = [Rates(Scenario.MEAN_SHIFT_01, 50, 0.4, 0.4, 0.5, 0.0)]
    found = {metric.name: metric for metric in drift.metrics([], rates, "0.7.23", 0.0)}
    assert found["mean_shift_0.1sd: ours - Evidently detection"].passed is False


def test_evidently_rule_p_values_drift_below_and_distances_at_or_above_threshold() -> None:
    assert is_drift("K-S p_value", 0.01, 0.05)
    assert not is_drift("K-S p_value", 0.05, 0.05)
    assert is_drift("Wasserstein distance (normed)", 0.1, 0.1)
    assert not is_drift("Jensen-Shannon distance", 0.09, 0.1)


def test_report_verdicts_read_columns_and_count_from_a_snapshot() -> None:
    snapshot = {
        "metrics": [
            {"config": {"type": "evidently:metric_v2:DriftedColumnsCount"}, "value": {"count": 1.0, "share": 0.5}},
            {
                "config": {"type": "evidently:metric_v2:ValueDrift", "column": "x", "method": "Wasserstein distance "
                           "(normed)", "threshold": 0.1},
                "value": 0.3,
            },
            {
                "config": {"type": "evidently:metric_v2:ValueDrift", "column": "c", "method": "chi-square p_value",
                           "threshold": 0.05},
                "value": 0.5,
            },
        ]
    }  # fmt: skip
    assert report_verdicts(snapshot) == ({"x": True, "c": False}, 1, 0.5)


def test_report_verdicts_without_a_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="DriftedColumnsCount"):
        report_verdicts({"metrics": []})


def test_evidently_requirements_pin_a_0_7_release_with_hashes_and_no_index_host() -> None:
    text = drift.REQUIREMENTS.read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, flags=re.MULTILINE)
    versions = dict(pins)
    assert re.fullmatch(r"0\.7\.\d+", versions["evidently"])
    assert versions["pandas"].startswith("2.")
    assert all(f"{name}=={version} \\\n    --hash=sha256:" in text for name, version in pins)
    assert not re.search(r"--(extra-)?index-url|https?://", text)
