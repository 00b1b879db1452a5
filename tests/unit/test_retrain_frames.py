"""The training frame: production rows, the out-of-time holdout, the data fingerprint, the monitoring baseline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np

from autoretrain.payload_store import LabelledPrediction, LabelRow, PredictionRow
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.baseline import build_monitoring_baseline
from batch_jobs.training.frames import (
    EVENT_TIME,
    combine,
    fingerprint,
    initial_frame,
    production_frame,
    split_holdout,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def row(i: int, days_ago: float, label: int | None) -> LabelledPrediction:
    moment = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    prediction = PredictionRow(f"r{i}", "churn", "v", moment, 0.5, 1, None, {"x": float(i), "plan": "basic"})
    return LabelledPrediction(prediction, None if label is None else LabelRow(f"r{i}", label, moment))


def test_production_rows_need_a_label_and_to_have_matured() -> None:
    rows = [row(0, 10, 1), row(1, 10, None), row(2, 3, 0), row(3, 20, 0)]

    frame = production_frame(rows, TARGET, matured_before=NOW - timedelta(days=7))

    assert frame["x"].tolist() == [0.0, 3.0]
    assert frame[TARGET].tolist() == [1, 0]


def test_the_holdout_is_the_newest_production_days_and_never_initial_rows() -> None:
    production = production_frame([row(i, 30 - i, i % 2) for i in range(30)], TARGET, NOW)
    frame = combine(initial_frame(generate_churn(50, seed=1).assign(x=1.0), TARGET), production)

    split = split_holdout(frame, holdout_days=7, holdout_fraction=0.2)

    assert len(split.holdout) == 7
    assert split.train[EVENT_TIME].max() < split.holdout[EVENT_TIME].min()


def test_without_production_rows_the_holdout_is_the_newest_initial_rows() -> None:
    frame = combine(initial_frame(generate_churn(100, seed=1), TARGET), None)

    split = split_holdout(frame, holdout_days=7, holdout_fraction=0.2)

    assert split.holdout["__order__"].tolist() == list(range(80, 100))


def test_the_fingerprint_is_stable_and_changes_with_any_value() -> None:
    frame = generate_churn(200, seed=1)
    columns = list(frame.columns)
    changed = frame.copy()
    changed.loc[5, "plan"] = "premium" if frame.loc[5, "plan"] != "premium" else "basic"

    assert fingerprint(frame, columns) == fingerprint(frame.copy().set_axis(range(200, 400)), columns)
    assert fingerprint(frame, columns) != fingerprint(changed, columns)


def test_the_monitoring_baseline_has_exactly_the_agreed_fields() -> None:
    frame = generate_churn(300, seed=1)
    schema = model_spec.infer_input_schema(frame, all_nullable=True)
    scores = np.linspace(0.0, 1.0, 101)

    document = json.loads(
        build_monitoring_baseline(
            model_name="churn",
            model_version="v",
            decision_threshold=0.5,
            schema=schema,
            training_features=model_spec.feature_frame(frame, schema),
            reference_scores=scores,
        ).dumps()
    )

    assert set(document) == {
        "model_name",
        "model_version",
        "decision_threshold",
        "positive_rate",
        "score_mean",
        "score_std",
        "n_reference",
        "features",
        "latency_ms_p99",
    }
    assert document["positive_rate"] == 51 / 101
    assert document["n_reference"] == 101
    plan = next(feature for feature in document["features"] if feature["name"] == "plan")
    usage = next(feature for feature in document["features"] if feature["name"] == "usage_hours")
    assert plan["categories"] == ["basic", "premium", "standard"]
    assert "categories" not in usage
    assert 0 < usage["missing_rate"] < 0.2
