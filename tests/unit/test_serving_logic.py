"""Serving logic with a real trained artefact: scores, labels, latency and payload records."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import ModelSpec, build_model, feature_frame, infer_input_schema
from core.artifacts import LoadedModel, load_verified_model, write_artifact
from core.records import parse_payload
from lambdas.serving.logic import encode_jsonl, invocation_uuid, serve
from lambdas.serving.models import (
    InvalidRequestError,
    ModelOutputError,
    ServeOutcome,
    invalid_request_response,
    no_model_response,
)

NOW = datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)


def _train_artefact(directory: Path, frame: pd.DataFrame, target: pd.Series) -> LoadedModel:
    schema = infer_input_schema(frame.assign(**{TARGET: target}), all_nullable=True)
    threshold = 0.3
    model = build_model(schema, ModelSpec(decision_threshold=threshold)).fit(feature_frame(frame, schema), target)
    write_artifact(
        directory,
        model,
        model_name="churn",
        input_schema=schema,
        decision_threshold=threshold,
        created_at=NOW,
    )
    return load_verified_model(directory)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_churn(2_000, seed=21)


@pytest.fixture(scope="module")
def model(data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return _train_artefact(tmp_path_factory.mktemp("model"), data.drop(columns=[TARGET]), data[TARGET])


def _instances(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a client sends them: JSON values, null for missing."""
    rows = frame.drop(columns=[TARGET]).to_dict("records")
    return [
        {"request_id": f"r{index}", "features": {k: None if pd.isna(v) else v for k, v in row.items()}}
        for index, row in enumerate(rows)
    ]


def _serve(event: object, model: LoadedModel, clock_values: tuple[float, ...] = (1.0, 1.25)) -> ServeOutcome:
    ticks = iter(clock_values)
    return serve(event, model, model_name="churn", invocation_id="inv", now=NOW, clock=lambda: next(ticks))


def test_served_scores_equal_the_model_on_the_training_frame(data: pd.DataFrame, model: LoadedModel) -> None:
    rows = data.head(50)
    outcome = _serve({"instances": _instances(rows)}, model)
    expected = model.estimator.predict_proba(feature_frame(rows, model.manifest.input_schema))[:, 1]
    np.testing.assert_allclose([prediction.score for prediction in outcome.predictions], expected, rtol=1e-12)


def test_label_is_one_when_score_reaches_the_threshold(data: pd.DataFrame, model: LoadedModel) -> None:
    outcome = _serve({"instances": _instances(data.head(200))}, model)
    assert {(p.score >= 0.3) == bool(p.label) for p in outcome.predictions} == {True}
    assert {p.label for p in outcome.predictions} == {0, 1}


def test_predictions_carry_request_ids_and_model_version(data: pd.DataFrame, model: LoadedModel) -> None:
    outcome = _serve({"instances": _instances(data.head(3))}, model)
    assert [(p.request_id, p.model_version) for p in outcome.predictions] == [
        (f"r{index}", model.manifest.model_version) for index in range(3)
    ]


def test_latency_covers_validation_and_scoring(data: pd.DataFrame, model: LoadedModel) -> None:
    outcome = _serve({"instances": _instances(data.head(2))}, model, clock_values=(10.0, 10.0125))
    assert [record.latency_ms for record in outcome.records] == pytest.approx([12.5, 12.5])


def test_payload_records_satisfy_the_payload_contract(data: pd.DataFrame, model: LoadedModel) -> None:
    instances = _instances(data.head(20))
    outcome = _serve({"instances": instances}, model)
    lines = encode_jsonl(outcome.records).decode().splitlines()
    parsed = [parse_payload(json.loads(line)) for line in lines]
    assert [(r.request_id, r.model_name, r.timestamp) for r in parsed] == [
        (instance["request_id"], "churn", "2026-11-23T10:00:00.123Z") for instance in instances
    ]
    assert [dict(r.features) for r in parsed] == [instance["features"] for instance in instances]


def test_payload_object_is_json_lines_ending_in_a_newline(data: pd.DataFrame, model: LoadedModel) -> None:
    body = encode_jsonl(_serve({"instances": _instances(data.head(3))}, model).records)
    assert body.endswith(b"\n")
    assert body.count(b"\n") == 3


def test_null_features_are_scored_and_logged_as_null(data: pd.DataFrame, model: LoadedModel) -> None:
    instance = _instances(data.head(1))[0]
    instance["features"] = dict.fromkeys(instance["features"])
    outcome = _serve(instance, model)
    assert math.isfinite(outcome.predictions[0].score)
    assert set(outcome.records[0].features.values()) == {None}


def test_invalid_request_is_not_scored(model: LoadedModel) -> None:
    with pytest.raises(InvalidRequestError):
        _serve({"features": {"tenure_months": 1}}, model)


def test_model_without_positive_class_fails(data: pd.DataFrame, tmp_path: Path) -> None:
    broken = _train_artefact(tmp_path, data.drop(columns=[TARGET]), data[TARGET] * 2)  # classes 0 and 2
    with pytest.raises(ModelOutputError, match="positive class 1"):
        _serve({"instances": _instances(data.head(1))}, broken)


def test_invalid_request_response_is_a_400_listing_every_problem() -> None:
    response = invalid_request_response(InvalidRequestError(["a", "b"]))
    assert response == {
        "statusCode": 400,
        "error": {
            "code": "invalid_request",
            "message": "the request has 2 problems; nothing was scored",
            "problems": ["a", "b"],
        },
    }


def test_no_model_response_is_a_503_saying_no_champion_yet() -> None:
    response = no_model_response()
    assert (response["statusCode"], response["error"]["code"]) == (503, "no_model")
    assert "no champion model deployed yet" in response["error"]["message"]


def test_invocation_id_is_lambdas_request_id() -> None:
    request_id = str(uuid.uuid4())
    assert invocation_uuid(request_id.upper()) == request_id


@pytest.mark.parametrize("request_id", [None, "", "not-a-uuid"])
def test_invocation_id_is_a_fresh_uuid_without_a_lambda_request_id(request_id: str | None) -> None:
    assert uuid.UUID(invocation_uuid(request_id)).version == 4
