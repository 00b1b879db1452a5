"""From stored predictions to the drift suite's inputs: type coercion, absent features, rescoring, matured labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.contracts import format_timestamp
from autoretrain.payload_store import LabelledPrediction, LabelRow, PredictionRow
from batch_jobs.drift import ReferenceProfile, ReferenceProfiler
from batch_jobs.drift._stats import FloatArray
from batch_jobs.monitoring.window import Rescorer, matured, scored_window

NOW = datetime(2026, 12, 1, tzinfo=UTC)


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


def window(rows: list[PredictionRow], profile: ReferenceProfile, rescore: Any = never) -> Any:
    return scored_window(
        rows, start=NOW - timedelta(days=1), end=NOW, profile=profile, champion_version="v1", rescore=rescore
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
    predictions, labels = matured(rows, NOW)
    assert [prediction.request_id for prediction in predictions] == ["r0"]
    assert labels.tolist() == [0.0]
