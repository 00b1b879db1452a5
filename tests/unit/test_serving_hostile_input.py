"""Hostile requests: serving refuses what the ETL would refuse, in the same words, before scoring, and never fails."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import build_model, feature_frame, infer_input_schema
from core.artifacts import LoadedModel, load_verified_model, write_artifact
from core.features import FeatureSpec, InputSchema
from core.record_limits import MAX_RECORD_CHARS, MAX_STRING_VALUE_CHARS, PREVIEW_CHARS
from core.records import (
    ContractViolationError,
    PayloadRecord,
    Prediction,
    format_timestamp,
    payload_line,
    validate_payload,
)
from lambdas.serving.logic import MAX_LISTED_PROBLEMS, encode_jsonl, parse_request, serve
from lambdas.serving.models import InvalidRequestError, invalid_request_response

NOW = datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)
SCHEMA = InputSchema(
    (
        FeatureSpec("tenure_months", "numeric", nullable=False),
        FeatureSpec("plan", "categorical", nullable=True, categories=("basic", "premium")),
    )
)
VALID: dict[str, Any] = {"tenure_months": 12, "plan": "basic"}


def problems_of(event: object, schema: InputSchema = SCHEMA) -> tuple[str, ...]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event, schema, "inv", model_name="churn", model_version="v1")
    return caught.value.problems


def etl_problems(features: dict[str, Any], **changes: Any) -> tuple[str, ...]:
    """What the ETL's contract says of a payload record with these features."""
    document = {
        "request_id": "r-1",
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": features,
        "prediction": {"score": 0.5, "label": 1},
        "latency_ms": 1.0,
    }
    with pytest.raises(ContractViolationError) as caught:
        validate_payload(document | changes)
    return caught.value.problems


class ScoringSpy:
    """An estimator that records whether it was asked to score."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self.classes_ = estimator.classes_
        self.calls = 0

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self.calls += 1
        return self.estimator.predict_proba(frame)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    data = generate_churn(500, seed=5)
    schema = infer_input_schema(data, all_nullable=True)
    estimator = build_model(schema).fit(feature_frame(data, schema), data[TARGET])
    directory: Path = tmp_path_factory.mktemp("model")
    write_artifact(
        directory, estimator, model_name="churn", input_schema=schema, decision_threshold=0.5, created_at=NOW
    )
    return load_verified_model(directory)


def churn_features(**changes: Any) -> dict[str, Any]:
    features: dict[str, Any] = {
        "tenure_months": 3,
        "monthly_charges": 50.0,
        "support_calls": 1,
        "usage_hours": 10.0,
        "days_since_last_login": 2,
        "contract": "one-year",
        "plan": "basic",
        "payment_method": "card",
        "region": "east",
    }
    return features | changes


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (
            {"request_id": "r-1", "features": churn_features(plan="pro\udc00")},
            "request: feature 'plan' holds a lone surrogate, which UTF-8 cannot encode",
        ),
        (
            {"request_id": "r-\udc00", "features": churn_features()},
            "request: 'request_id' holds a lone surrogate, which UTF-8 cannot encode",
        ),
    ],
    ids=["categorical value", "request_id"],
)
def test_a_lone_surrogate_is_refused_before_scoring(model: LoadedModel, event: dict[str, Any], problem: str) -> None:
    spy = ScoringSpy(model.estimator)
    with pytest.raises(InvalidRequestError) as caught:
        serve(event, dataclasses.replace(model, estimator=spy), model_name="churn", invocation_id="inv", now=NOW)
    assert caught.value.problems == (problem,)
    assert spy.calls == 0


def test_what_serve_accepts_encodes_as_utf8(model: LoadedModel) -> None:
    outcome = serve(
        {"features": churn_features(plan="caf\u00e9 \U0001f600")}, model, model_name="churn", invocation_id="i", now=NOW
    )
    assert json.loads(encode_jsonl(outcome.records))["features"]["plan"] == "caf\u00e9 \U0001f600"


def test_a_lone_surrogate_in_a_feature_name_is_quoted_escaped() -> None:
    problems = problems_of({"features": {**VALID, "\udc00x": 1}})
    assert problems == ("request: unknown feature '\\udc00x'",)
    "\n".join(problems).encode("utf-8")


def test_an_integer_beyond_the_largest_double_is_refused_in_the_etls_words() -> None:
    problem = "feature 'tenure_months' is not finite: an integer of 1329 bits is beyond the largest double"
    assert problems_of({"features": {**VALID, "tenure_months": 10**400}}) == (f"request: {problem}",)
    assert etl_problems({**VALID, "tenure_months": 10**400}) == (problem,)


def test_an_integer_within_a_double_is_accepted_beyond_2_to_the_53() -> None:
    (instance,) = parse_request({"features": {**VALID, "tenure_months": 2**53 + 1}}, SCHEMA, "inv")
    assert instance.features["tenure_months"] == 2**53 + 1


def test_a_categorical_value_past_the_limit_is_refused_in_the_etls_words() -> None:
    value = "x" * 70_000
    problem = f"feature 'plan' is 70000 characters long; the limit is {MAX_STRING_VALUE_CHARS}"
    assert problems_of({"features": {**VALID, "plan": value}}) == (f"request: {problem}",)
    assert etl_problems({**VALID, "plan": value}) == (problem,)


def test_a_categorical_value_at_the_limit_is_accepted() -> None:
    (instance,) = parse_request({"features": {**VALID, "plan": "y" * MAX_STRING_VALUE_CHARS}}, SCHEMA, "inv")
    assert len(str(instance.features["plan"])) == MAX_STRING_VALUE_CHARS


def test_a_long_unknown_feature_name_is_truncated_in_the_problem() -> None:
    name = "n" * 100_000
    (problem,) = problems_of({"features": {**VALID, name: 1}})
    assert problem == f"request: unknown feature '{'n' * PREVIEW_CHARS}'…(100000 characters)"


def test_long_unknown_keys_are_truncated_and_counted() -> None:
    keys = {f"{index:03d}" + "k" * 10_000: 1 for index in range(12)}
    problems = problems_of({"features": VALID, **keys})
    assert len(problems) == 1
    assert problems[0].startswith(f"unknown top-level keys ['000{'k' * (PREVIEW_CHARS - 3)}'…(10003 characters), ")
    assert "] and 7 more; expected" in problems[0]
    assert len(problems[0]) < 600


def test_every_problem_of_every_instance_is_listed() -> None:
    event = {
        "instances": [
            {"request_id": "a\ud800", "features": {**VALID, "plan": "z" * 5000}},
            {"features": {**VALID, "tenure_months": 10**400, "plan": "\udfff"}},
        ]
    }
    assert problems_of(event) == (
        "instances[0]: 'request_id' holds a lone surrogate, which UTF-8 cannot encode",
        f"instances[0]: feature 'plan' is 5000 characters long; the limit is {MAX_STRING_VALUE_CHARS}",
        "instances[1]: feature 'tenure_months' is not finite: an integer of 1329 bits is beyond the largest double",
        "instances[1]: feature 'plan' holds a lone surrogate, which UTF-8 cannot encode",
    )


def test_a_flood_of_problems_is_listed_up_to_a_cap_and_counted() -> None:
    event = {"instances": [{"features": {"tenure_months": "x", "plan": 1}}] * 1000}
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event, SCHEMA, "inv")
    error = caught.value
    assert len(error.problems) == MAX_LISTED_PROBLEMS + 1
    assert error.problems[-1] == f"... and {2000 - MAX_LISTED_PROBLEMS} more problems"
    assert invalid_request_response(error)["error"]["message"].startswith("the request has 2000 problems")


def test_a_record_too_long_as_a_whole_is_refused_before_scoring_in_the_etls_words() -> None:
    wide = InputSchema(tuple(FeatureSpec(f"c{index:02d}", "categorical", nullable=False) for index in range(20)))
    features = {spec.name: "v" * MAX_STRING_VALUE_CHARS for spec in wide.features}
    (problem,) = problems_of({"features": features}, wide)
    assert problem.startswith("request: record is ")
    assert problem.endswith(f" characters long; the limit is {MAX_RECORD_CHARS} (its payload record, at most)")


def test_a_record_just_within_the_limit_is_accepted_and_its_line_fits() -> None:
    wide = InputSchema(tuple(FeatureSpec(f"c{index:02d}", "categorical", nullable=False) for index in range(15)))
    features = {spec.name: "\u00e9" * MAX_STRING_VALUE_CHARS for spec in wide.features}
    (instance,) = parse_request({"features": features}, wide, "inv", model_name="churn", model_version="v" * 256)
    record = PayloadRecord("inv-0", "churn", "v" * 256, format_timestamp(NOW), features, Prediction(0.1, 0), 1e-300)
    assert instance.features == features
    assert len(payload_line(record)) <= MAX_RECORD_CHARS


def test_a_feature_name_breaking_the_contract_cannot_enter_a_schema() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        FeatureSpec("\udc00", "numeric", nullable=False)
