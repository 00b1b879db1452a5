"""From stored predictions to the drift suite's inputs: type coercion, absent features, rescoring, matured labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import ReferenceProfile, ReferenceProfiler
from batch_jobs.drift._stats import FloatArray
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.monitoring.window import (
    Rescorer,
    WindowError,
    champion_scores,
    matured,
    raw_features,
    scored_window,
)
from core.records import format_timestamp
from core.segments import LabelledPrediction, LabelRow, PredictionColumns, PredictionRow
from tests.columns import labelled_frame, prediction_columns, window_frame

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"tenure": rng.normal(size=300), "plan": pd.array(rng.choice(["basic", "pro"], 300), dtype="str")}
    )
    return ReferenceProfiler(decision_threshold=0.5).fit(frame, scores=rng.random(300)).profile_


def row(index: int, features: dict[str, Any], *, version: str = "v1", score: float = 0.2) -> PredictionRow:
    return PredictionRow(
        request_id=f"r{index}",
        model_name="churn",
        model_version=version,
        timestamp=format_timestamp(NOW - timedelta(hours=index + 1)),
        score=score,
        predicted_label=int(score >= 0.5),
        latency_ms=None,
        features=features,
    )


def never() -> Rescorer:
    raise AssertionError("the champion model was loaded although every row was its own")


def window(rows: list[PredictionRow] | WindowFrame, profile: ReferenceProfile, rescore: Any = never) -> Any:
    columns = window_frame(rows)
    return scored_window(
        columns, start=NOW - timedelta(days=1), end=NOW, profile=profile, champion_version="v1", rescore=rescore
    )


def test_a_numeric_feature_of_the_wrong_type_becomes_missing_and_is_counted(profile: ReferenceProfile) -> None:
    rows = [row(0, {"tenure": 1.5, "plan": "pro"}), row(1, {"tenure": "n/a", "plan": "pro"})]
    result = window(rows, profile)
    assert result.features["tenure"].isna().tolist() == [False, True]
    assert result.type_mismatches == {"tenure": 1}


def test_a_boolean_in_a_numeric_feature_is_not_a_number(profile: ReferenceProfile) -> None:
    result = window([row(0, {"tenure": True, "plan": "pro"}), row(1, {"tenure": 2, "plan": "pro"})], profile)
    assert result.features["tenure"].isna().tolist() == [True, False]
    assert result.type_mismatches == {"tenure": 1}


def test_a_profiled_feature_no_record_carries_is_all_missing(profile: ReferenceProfile) -> None:
    result = window([row(0, {"tenure": 1.0}), row(1, {"tenure": 2.0})], profile)
    assert result.features["plan"].isna().all()
    assert list(result.features.columns) == ["tenure", "plan"]


def test_a_number_in_a_categorical_feature_is_compared_as_text(profile: ReferenceProfile) -> None:
    result = window([row(0, {"tenure": 1.0, "plan": 3}), row(1, {"tenure": 1.0, "plan": "pro"})], profile)
    assert result.features["plan"].tolist() == ["3", "pro"]


def test_rows_of_the_champion_keep_their_logged_scores_without_loading_the_model(profile: ReferenceProfile) -> None:
    result = window([row(0, {"tenure": 1.0, "plan": "pro"}, score=0.7)], profile)
    assert result.scores.tolist() == [0.7]
    assert result.predicted_labels.tolist() == [1.0]
    assert result.n_rescored == 0


def test_rows_served_by_another_version_are_rescored_once_by_the_champion(profile: ReferenceProfile) -> None:
    calls: list[int] = []

    def load() -> Rescorer:
        calls.append(1)

        def score(raw: pd.DataFrame) -> FloatArray:
            return np.asarray(raw["tenure"], dtype=np.float64) / 10

        return score

    rows = [
        row(0, {"tenure": 3.0, "plan": "pro"}, version="old", score=0.99),
        row(1, {"tenure": 1.0, "plan": "pro"}, score=0.4),
        row(2, {"tenure": 6.0, "plan": "pro"}, version="old", score=0.99),
    ]
    result = window(rows, profile, rescore=load)
    assert np.allclose(result.scores, [0.3, 0.4, 0.6])
    assert (result.n_rescored, len(calls)) == (2, 1)


def test_only_labels_observed_by_now_count_as_matured() -> None:
    def labelled(index: int, observed: datetime | None) -> LabelledPrediction:
        label = None if observed is None else LabelRow(f"r{index}", index % 2, format_timestamp(observed))
        return LabelledPrediction(row(index, {"tenure": 1.0}), label)

    rows = [labelled(0, NOW - timedelta(days=1)), labelled(1, None), labelled(2, NOW + timedelta(days=1))]
    predictions, labels = matured(labelled_frame(rows, labels_until=NOW))
    assert len(predictions) == 1
    assert labels.tolist() == [0.0]


def read_back(*parts: list[PredictionRow]) -> WindowFrame:
    """The columns a window read returns for these segments: each stored as a body, decoded, then concatenated."""
    return window_frame(PredictionColumns.concat("churn", [prediction_columns(part) for part in parts]))


def test_raw_features_of_several_segments_are_missing_where_a_record_lacks_a_name() -> None:
    # `tenure` is absent from one row and null in another; `coupon` first appears in the second segment.
    columns = read_back(
        [row(0, {"tenure": 1.0, "plan": "pro"}), row(1, {"plan": "basic"}), row(2, {"tenure": None, "plan": "pro"})],
        [row(3, {"tenure": 4.0, "plan": "pro", "coupon": "c1"}), row(4, {"tenure": 5.0, "coupon": None})],
    )
    raw = raw_features(columns)

    assert list(raw.columns) == ["tenure", "plan", "coupon"]
    assert list(raw.index) == [0, 1, 2, 3, 4]
    assert np.array_equal(raw["tenure"].to_numpy(dtype=np.float64), [1.0, np.nan, np.nan, 4.0, 5.0], equal_nan=True)
    assert raw["plan"].isna().tolist() == [False, False, False, False, True]
    assert raw["plan"].dropna().tolist() == ["pro", "basic", "pro", "pro"]
    assert raw["coupon"].isna().tolist() == [True, True, True, False, True]
    assert raw["coupon"].dropna().tolist() == ["c1"]


def test_absent_and_null_values_are_missing_not_type_mismatches(profile: ReferenceProfile) -> None:
    columns = read_back(
        [row(0, {"plan": "pro"}), row(1, {"tenure": None, "plan": None}), row(2, {"tenure": "n/a", "plan": "pro"})],
        [row(3, {"tenure": 2.5})],
    )

    result = window(columns, profile)

    assert result.features["tenure"].isna().tolist() == [True, True, True, False]
    assert result.features["tenure"].iloc[3] == 2.5
    assert result.features["plan"].isna().tolist() == [False, True, False, True]
    assert result.type_mismatches == {"tenure": 1}  # only the logged "n/a"
    assert result.n_rows == 4


def test_the_champion_rescores_exactly_the_raw_features_of_other_versions_rows() -> None:
    seen: list[pd.DataFrame] = []

    def load() -> Rescorer:
        def score(raw: pd.DataFrame) -> FloatArray:
            seen.append(raw)
            return np.array([0.11, 0.22])

        return score

    columns = read_back(
        [row(0, {"tenure": 1.0, "plan": "pro"}, version="old", score=0.9), row(1, {"tenure": 2.0}, score=0.3)],
        [row(2, {"plan": "basic", "coupon": "c"}, version="older", score=0.8)],
    )
    raw = raw_features(columns)

    scores, n_rescored = champion_scores(columns, raw, "v1", load)

    assert scores.tolist() == [0.11, 0.3, 0.22]
    assert n_rescored == 2
    (rescored,) = seen
    assert list(rescored.index) == [0, 1]
    assert rescored["tenure"].isna().tolist() == [False, True]
    assert rescored["plan"].tolist() == ["pro", "basic"]
    assert rescored["coupon"].isna().tolist() == [True, False]


def test_a_champion_returning_the_wrong_number_of_scores_is_refused() -> None:
    columns = window_frame([row(0, {"tenure": 1.0}, version="old"), row(1, {"tenure": 2.0}, version="old")])

    def load() -> Rescorer:
        return lambda raw: np.zeros(len(raw) + 1)

    with pytest.raises(WindowError, match=r"\(3,\) scores for 2 rows"):
        champion_scores(columns, raw_features(columns), "v1", load)


def test_matured_labels_are_those_observed_at_or_before_now_and_stay_aligned() -> None:
    def labelled(index: int, observed: datetime | None, value: int, features: dict[str, Any]) -> LabelledPrediction:
        label = None if observed is None else LabelRow(f"r{index}", value, format_timestamp(observed))
        return LabelledPrediction(row(index, features), label)

    rows = labelled_frame(
        [
            labelled(0, NOW + MS, 1, {"tenure": 0.0}),  # a millisecond after now: not yet
            labelled(1, NOW, 1, {"plan": "pro"}),  # at now: matured
            labelled(2, None, 1, {"tenure": 2.0}),
            labelled(3, NOW - timedelta(days=3), 0, {"tenure": 3.0}),
        ],
        labels_until=NOW + timedelta(microseconds=999),  # now, to the millisecond
    )

    predictions, labels = matured(rows)

    assert predictions.features["plan"].isna().tolist() == [False, True]
    assert labels.tolist() == [1.0, 0.0]
    assert labels.dtype == np.float64
    assert raw_features(predictions)["tenure"].isna().tolist() == [True, False]
