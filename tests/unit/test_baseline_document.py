"""The monitoring baseline (`baseline.json`): one document, written by the retrain job, read by the alerting Lambda."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batch_jobs.baseline import build_monitoring_baseline
from core.baseline import BaselineError, FeatureBaseline, MonitoringBaseline
from core.features import FeatureKind, FeatureSpec, InputSchema

unit = st.floats(0.0, 1.0)
names = st.text(st.characters(categories=("L", "N")), min_size=1, max_size=12)


KINDS: tuple[FeatureKind, ...] = ("numeric", "categorical")


@st.composite
def features(draw: st.DrawFn) -> tuple[FeatureBaseline, ...]:
    drawn = []
    for name in draw(st.lists(names, min_size=1, max_size=5, unique=True)):
        kind = draw(st.sampled_from(KINDS))
        categories = tuple(draw(st.lists(names, max_size=4, unique=True))) if kind == "categorical" else ()
        drawn.append(FeatureBaseline(name, kind, draw(st.booleans()), draw(unit), categories))
    return tuple(drawn)


baselines = st.builds(
    MonitoringBaseline,
    model_name=names,
    model_version=names,
    decision_threshold=unit,
    positive_rate=unit,
    score_mean=unit,
    score_std=unit,
    n_reference=st.integers(0, 10**9),
    features=features(),
    latency_ms_p99=st.none() | st.floats(0.0, 1e6),
)


BASELINE = MonitoringBaseline(
    model_name="churn",
    model_version="v1",
    decision_threshold=0.5,
    positive_rate=0.3,
    score_mean=0.45,
    score_std=0.25,
    n_reference=5000,
    features=(
        FeatureBaseline("tenure", "numeric", nullable=True, missing_rate=0.01),
        FeatureBaseline("plan", "categorical", nullable=True, missing_rate=0.0, categories=("pro",)),
    ),
)


def _document(**changes: Any) -> dict[str, Any]:
    """BASELINE's JSON object with `changes` applied."""
    return {**BASELINE.to_json(), **changes}


@given(baseline=baselines)
def test_any_baseline_round_trips_through_its_json_text(baseline: MonitoringBaseline) -> None:
    assert MonitoringBaseline.loads(baseline.dumps()) == baseline
    assert MonitoringBaseline.loads(baseline.dumps().encode()) == baseline


def test_what_the_retrain_job_writes_the_alerting_lambda_reads() -> None:
    schema = InputSchema(
        (FeatureSpec("tenure", "numeric", nullable=True), FeatureSpec("plan", "categorical", True, ("basic", "pro")))
    )
    training = pd.DataFrame({"tenure": [1.0, np.nan, 3.0, np.inf], "plan": ["basic", None, "pro", "pro"]})

    written = build_monitoring_baseline(
        model_name="churn",
        model_version="v1",
        decision_threshold=0.5,
        schema=schema,
        training_features=training,
        reference_scores=[0.1, 0.6, 0.7, 0.2],
    )
    read = MonitoringBaseline.loads(written.dumps())

    assert read == written
    assert read.positive_rate == 0.5
    assert [(f.name, f.kind, f.missing_rate, f.categories) for f in read.features] == [
        ("tenure", "numeric", 0.5, ()),
        ("plan", "categorical", 0.25, ("basic", "pro")),
    ]


def test_only_a_categorical_feature_carries_categories() -> None:
    features = BASELINE.to_json()["features"]

    assert [feature.get("categories") for feature in features] == [None, ["pro"]]


def test_a_feature_may_leave_out_its_missing_rate_and_categories() -> None:
    baseline = MonitoringBaseline.from_json(
        _document(features=[{"name": "plan", "kind": "categorical", "nullable": False}])
    )

    assert baseline.features == (FeatureBaseline("plan", "categorical", False, 0.0, ()),)


def test_unknown_keys_are_ignored() -> None:
    assert MonitoringBaseline.from_json(_document(sensitivity={"plan": 0.1})) == BASELINE


def test_a_malformed_baseline_lists_every_problem() -> None:
    with pytest.raises(BaselineError) as caught:
        MonitoringBaseline.from_json(
            {"model_name": "churn", "positive_rate": 1.5, "features": [{"name": "x", "kind": "text"}]}
        )

    problems = " | ".join(caught.value.problems)
    for expected in ("'model_version'", "'positive_rate' must be a number in [0, 1]", "features[0].kind", "nullable"):
        assert expected in problems


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"features": []}, "'features' must be a non-empty list"),
        ({"n_reference": -1}, "'n_reference' must be a number"),
        ({"score_std": math.nan}, "'score_std' must be a number"),
        ({"decision_threshold": True}, "'decision_threshold' must be a number"),
        ({"latency_ms_p99": -5}, "'latency_ms_p99' must be null or a non-negative number"),
        ({"features": [{"name": "x", "kind": "numeric", "nullable": True, "missing_rate": 2}]}, "missing_rate"),
        ({"features": [{"name": "x", "kind": "categorical", "nullable": True, "categories": [1]}]}, "categories"),
        (
            {"features": [{"name": "x", "kind": "numeric", "nullable": True}] * 2},
            "feature names must be unique",
        ),
    ],
)
def test_an_invalid_field_is_named(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(BaselineError, match=problem):
        MonitoringBaseline.from_json(_document(**changes))


@pytest.mark.parametrize("text", [b"", b"{", b"\xff\xfe", "[1, 2"])
def test_text_that_is_not_json_is_refused(text: str | bytes) -> None:
    with pytest.raises(BaselineError, match="baseline is not JSON"):
        MonitoringBaseline.loads(text)


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BaselineError, match="must be a JSON object, got list"):
        MonitoringBaseline.loads("[]")


def test_a_baseline_with_a_non_finite_number_is_not_written() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        replace(BASELINE, score_std=math.nan).dumps()
