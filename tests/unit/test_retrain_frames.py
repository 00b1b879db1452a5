"""The training frame: production rows, the out-of-time holdout, the data fingerprint, the monitoring baseline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.baseline import build_monitoring_baseline
from batch_jobs.training.frames import (
    EVENT_TIME,
    ORDER,
    PRODUCTION,
    SOURCE,
    combine,
    feature_columns,
    fingerprint,
    initial_frame,
    production_frame,
    split_holdout,
    split_regime,
)
from batch_jobs.training.quality import QualityConfig, check_quality
from batch_jobs.training.release_files import REFERENCE_MIN_ROWS, reference_rows
from core.records import format_timestamp
from core.segments import LabelledPrediction, LabelRow, PredictionRow
from tests.columns import labelled_frame

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def row(i: int, days_ago: float, label: int | None) -> LabelledPrediction:
    moment = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    prediction = PredictionRow(f"r{i}", "churn", "v", moment, 0.5, 1, None, {"x": float(i), "plan": "basic"})
    return LabelledPrediction(prediction, None if label is None else LabelRow(f"r{i}", label, moment))


def test_production_rows_need_a_label_and_to_have_matured() -> None:
    rows = labelled_frame([row(0, 10, 1), row(1, 10, None), row(2, 3, 0), row(3, 20, 0)])

    frame = production_frame(rows, TARGET, matured_before=NOW - timedelta(days=7))

    assert frame["x"].tolist() == [0.0, 3.0]
    assert frame[TARGET].tolist() == [1, 0]


def served(i: int, moment: datetime, label: int | None, features: dict[str, Any]) -> LabelledPrediction:
    timestamp = format_timestamp(moment)
    prediction = PredictionRow(f"r{i}", "churn", "v", timestamp, 0.5, 1, None, features)
    return LabelledPrediction(prediction, None if label is None else LabelRow(f"r{i}", label, format_timestamp(NOW)))


def test_production_rows_are_cut_at_matured_before_to_the_millisecond() -> None:
    cutoff = NOW - timedelta(days=7)
    ms = timedelta(milliseconds=1)
    rows = labelled_frame(
        [
            served(0, cutoff - ms, 1, {"x": 0.0}),  # the last millisecond before: kept
            served(1, cutoff, 0, {"x": 1.0}),  # at matured_before: not yet matured
            served(2, cutoff + ms, 1, {"x": 2.0}),
            served(3, cutoff - timedelta(days=1), None, {"x": 3.0}),  # matured but unlabelled
            served(4, cutoff - timedelta(days=2), 0, {"x": 4.0}),
        ]
    )

    assert production_frame(rows, TARGET, cutoff)["x"].tolist() == [0.0, 4.0]
    # A matured_before inside a millisecond cuts as a window read would: at that millisecond.
    assert production_frame(rows, TARGET, cutoff + timedelta(microseconds=999))["x"].tolist() == [0.0, 4.0]
    assert production_frame(rows, TARGET, cutoff + ms)["x"].tolist() == [0.0, 1.0, 4.0]


def test_a_production_frame_has_the_canonical_shape() -> None:
    first = NOW - timedelta(days=20)
    rows = labelled_frame(
        [
            served(0, first, 1, {"x": 1.5, "plan": "basic"}),
            served(1, first + timedelta(hours=1), None, {"x": 9.0, "plan": "pro"}),
            served(2, first + timedelta(hours=2, milliseconds=7), 0, {"plan": "pro"}),  # x absent
            served(3, first + timedelta(hours=3), 1, {"x": None, "plan": None}),  # both null
        ]
    )

    frame = production_frame(rows, TARGET, NOW)

    assert list(frame.columns) == ["x", "plan", TARGET, EVENT_TIME, SOURCE, ORDER]
    assert list(frame.index) == [0, 1, 2]
    assert np.array_equal(frame["x"].to_numpy(dtype=np.float64), [1.5, np.nan, np.nan], equal_nan=True)
    assert frame["plan"].isna().tolist() == [False, False, True]
    assert frame["plan"].iloc[:2].tolist() == ["basic", "pro"]
    assert frame[TARGET].dtype == np.int64
    assert frame[TARGET].tolist() == [1, 0, 1]
    expected = [first, first + timedelta(hours=2, milliseconds=7), first + timedelta(hours=3)]
    assert frame[EVENT_TIME].tolist() == [pd.Timestamp(moment) for moment in expected]
    assert str(frame[EVENT_TIME].dt.tz) == "UTC"
    assert frame[SOURCE].tolist() == [PRODUCTION] * 3
    assert frame[ORDER].tolist() == [0, 1, 2]


def test_a_feature_only_dropped_rows_carry_is_not_a_column() -> None:
    # `coupon` has a value only in rows that are not training data (unlabelled, or not matured): it must not become
    # a column of the training frame, which the quality gate would refuse as "not in the serving schema".
    rows = labelled_frame(
        [
            served(0, NOW - timedelta(days=10), 1, {"x": 1.0}),
            served(1, NOW - timedelta(days=9), None, {"x": 2.0, "coupon": "c1"}),
            served(2, NOW - timedelta(days=1), 0, {"x": 3.0, "coupon": "c2"}),
            served(3, NOW - timedelta(days=8), 0, {"x": 4.0, "coupon": None}),  # null: no value either
        ]
    )

    frame = production_frame(rows, TARGET, NOW - timedelta(days=7))
    assert list(frame.columns) == ["x", TARGET, EVENT_TIME, SOURCE, ORDER]  # the lake stores no null apart from absent

    older = production_frame(rows, TARGET, NOW - timedelta(days=9))
    assert feature_columns(older, TARGET) == ["x"]
    assert older["x"].tolist() == [1.0]


def test_a_training_frame_of_immature_rows_with_new_features_passes_the_schema_check() -> None:
    initial = initial_frame(generate_churn(200, seed=1), TARGET)
    schema = model_spec.infer_input_schema(
        initial[[*feature_columns(initial, TARGET), TARGET]], target=TARGET, all_nullable=True
    )
    features = initial.loc[0, list(schema.names)].to_dict()
    rows = labelled_frame(
        [
            served(0, NOW - timedelta(days=10), 1, features),
            served(1, NOW - timedelta(days=1), 0, {**features, "new_feature": 1.0}),  # not matured yet
        ]
    )

    frame = combine(initial, production_frame(rows, TARGET, NOW - timedelta(days=7)))
    report = check_quality(frame, schema=schema, target=TARGET, config=QualityConfig())

    assert not any("not in the serving schema" in reason for reason in report.reasons), report.reasons
    assert (frame[SOURCE] == PRODUCTION).sum() == 1


def test_the_holdout_is_the_newest_production_days_and_never_initial_rows() -> None:
    production = production_frame(labelled_frame([row(i, 30 - i, i % 2) for i in range(30)]), TARGET, NOW)
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


def test_a_production_frame_shares_the_window_s_columns_and_never_changes_the_window() -> None:
    first = NOW - timedelta(days=20)
    rows = labelled_frame([served(i, first + timedelta(hours=i), i % 2, {"x": float(i)}) for i in range(4)])
    window_x = rows.features["x"].to_numpy()

    frame = combine(None, production_frame(rows, TARGET, NOW))

    assert np.shares_memory(frame["x"].to_numpy(), window_x)  # no copy of the window's features
    frame.loc[0, "x"] = -1.0
    assert rows.features["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert str(frame[SOURCE].dtype) == "category"
    both = combine(initial_frame(pd.DataFrame({"x": [9.0], TARGET: [0]}), TARGET), frame)
    assert str(both[SOURCE].dtype) == "category"
    assert both[SOURCE].tolist() == ["initial", *[PRODUCTION] * 4]


def test_the_drift_reference_is_the_holdout_unless_it_is_too_small() -> None:
    train = pd.DataFrame({"x": np.zeros(3000)})
    holdout = pd.DataFrame({"x": np.ones(REFERENCE_MIN_ROWS)})

    assert reference_rows(train, holdout)["x"].tolist() == [1.0] * REFERENCE_MIN_ROWS
    small = reference_rows(train, holdout.iloc[:10])
    assert len(small) == 3010
    assert small["x"].sum() == 10


def test_a_regime_split_keeps_only_production_rows_served_since_the_regime_start() -> None:
    regime_start = NOW - timedelta(days=20)
    # 30 production rows a day apart, days 30..1 before NOW: rows 10-29 are served at or after the regime start.
    production = production_frame(labelled_frame([row(i, 30 - i, i % 2) for i in range(30)]), TARGET, NOW)
    initial = generate_churn(50, seed=1).assign(x=1.0, timestamp=format_timestamp(NOW - timedelta(days=2)))
    frame = combine(initial_frame(initial, TARGET), production)  # initial rows timed after the regime start

    split = split_regime(frame, regime_start=regime_start, holdout_fraction=0.3)

    assert split.train["x"].tolist() == [float(i) for i in range(10, 24)]  # from the row at the regime start on
    assert split.holdout["x"].tolist() == [float(i) for i in range(24, 30)]  # the newest 30 % of 20 rows
    assert set(split.train[SOURCE]) | set(split.holdout[SOURCE]) == {PRODUCTION}
    assert split.holdout_start == NOW - timedelta(days=6)
    assert split.basis == f"newest 30% of the production rows served since {regime_start.isoformat()}"


def test_a_regime_split_orders_its_rows_by_time_before_holding_out_the_newest() -> None:
    production = production_frame(labelled_frame([row(i, 30 - i, i % 2) for i in range(30)]), TARGET, NOW)
    shuffled = production.sample(frac=1.0, random_state=0).reset_index(drop=True)

    split = split_regime(combine(None, shuffled), regime_start=NOW - timedelta(days=10), holdout_fraction=0.5)

    assert sorted(split.train["x"].tolist()) == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert sorted(split.holdout["x"].tolist()) == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert split.train[EVENT_TIME].max() < split.holdout[EVENT_TIME].min()
