"""The real serving handler, a real trained artefact and moto's Firehose and S3 over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import build_model, feature_frame, infer_input_schema
from core.artifacts import ArtifactIntegrityError, ModelManifest, write_artifact
from core.layout import MODEL_FILE
from core.records import parse_payload
from lambdas.payload_etl import handler as etl_handler
from lambdas.payload_etl import reset_cold_start as reset_etl_cold_start
from lambdas.serving import handler as serving
from lambdas.serving.models import PayloadLogError

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class LambdaContext:
    """The one attribute of Lambda's context object the handler reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    return generate_churn(1_500, seed=31)


@pytest.fixture(scope="module")
def artefact(traffic: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelManifest]:
    schema = infer_input_schema(traffic, all_nullable=True)
    model = build_model(schema).fit(feature_frame(traffic, schema), traffic[TARGET])
    directory = tmp_path_factory.mktemp("model")
    manifest = write_artifact(
        directory,
        model,
        model_name="churn",
        input_schema=schema,
        decision_threshold=0.35,
        created_at=datetime.now(UTC),
    )
    return directory, manifest


@pytest.fixture
def cold() -> Iterator[None]:
    """Each test is a fresh execution environment (a cold start)."""
    serving.cold_start.cache_clear()
    yield
    serving.cold_start.cache_clear()


@pytest.fixture
def served_model(
    artefact: tuple[Path, ModelManifest], deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, cold: None
) -> ModelManifest:
    monkeypatch.setenv(serving.MODEL_DIR_ENV, str(artefact[0]))
    return artefact[1]


def _event(frame: pd.DataFrame) -> dict[str, Any]:
    rows = frame.drop(columns=[TARGET]).to_dict("records")
    return {
        "instances": [
            {"request_id": f"req-{index}", "features": {k: None if pd.isna(v) else v for k, v in row.items()}}
            for index, row in enumerate(rows)
        ]
    }


def _payload_objects(resources: LocalResources) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=resources.payload_bucket, Prefix="payloads/")
    return [item["Key"] for item in listing.get("Contents", [])]


def test_handler_serves_a_prediction_per_instance(served_model: ModelManifest, traffic: pd.DataFrame) -> None:
    response = serving.handler(_event(traffic.head(5)), LambdaContext())
    assert response["statusCode"] == 200
    assert [(p["request_id"], p["model_version"]) for p in response["predictions"]] == [
        (f"req-{index}", served_model.model_version) for index in range(5)
    ]
    threshold = served_model.decision_threshold
    assert all(0.0 <= p["score"] <= 1.0 and p["label"] == int(p["score"] >= threshold) for p in response["predictions"])


def _logged_records(resources: LocalResources) -> list[dict[str, Any]]:
    """Every payload line the stream delivered, in the order of the objects' keys."""
    s3 = boto3.client("s3")
    bodies = [
        s3.get_object(Bucket=resources.payload_bucket, Key=key)["Body"].read() for key in _payload_objects(resources)
    ]
    return [json.loads(line) for body in bodies for line in body.decode().splitlines()]


def test_handler_logs_its_records_through_the_stream_in_one_call_that_pass_the_contract(
    served_model: ModelManifest, traffic: pd.DataFrame, resources: LocalResources
) -> None:
    response = serving.handler(_event(traffic.head(7)), LambdaContext())
    keys = _payload_objects(resources)
    assert len(keys) == 1  # moto writes each PutRecordBatch call as one object
    assert keys[0].startswith("payloads/model=churn/dt=")
    body = boto3.client("s3").get_object(Bucket=resources.payload_bucket, Key=keys[0])["Body"].read()
    assert body.endswith(b"\n")
    records = [parse_payload(json.loads(line)) for line in body.decode().splitlines()]
    assert [(r.request_id, r.prediction.score) for r in records] == [
        (p["request_id"], p["score"]) for p in response["predictions"]
    ]


def test_retried_invocation_logs_the_same_request_ids_again(
    served_model: ModelManifest, traffic: pd.DataFrame, resources: LocalResources
) -> None:
    context = LambdaContext()
    features = _event(traffic.head(1))["instances"][0]["features"]
    first = serving.handler({"features": features}, context)
    again = serving.handler({"features": features}, context)
    assert first["predictions"][0]["request_id"] == again["predictions"][0]["request_id"]
    assert [record["request_id"] for record in _logged_records(resources)] == [f"{context.aws_request_id}-0"] * 2


def test_invalid_request_is_answered_400_and_logs_nothing(
    served_model: ModelManifest, traffic: pd.DataFrame, resources: LocalResources
) -> None:
    event = _event(traffic.head(3))
    event["instances"][1]["features"]["tenure_months"] = "long"
    del event["instances"][2]["features"]["plan"]
    response = serving.handler(event, LambdaContext())
    assert response["statusCode"] == 400
    assert response["error"]["problems"] == [
        "instances[1]: feature 'tenure_months' must be a number, got string",
        "instances[2]: missing feature 'plan'",
    ]
    assert _payload_objects(resources) == []


def test_bootstrap_image_answers_no_champion_yet_and_logs_nothing(
    *,
    deployed_env: dict[str, str],
    resources: LocalResources,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cold: None,
    traffic: pd.DataFrame,
) -> None:
    monkeypatch.setenv(serving.MODEL_DIR_ENV, str(tmp_path))
    response = serving.handler(_event(traffic.head(1)), LambdaContext())
    assert (response["statusCode"], response["error"]["code"]) == (503, "no_model")
    assert "no champion model deployed yet" in response["error"]["message"]
    assert _payload_objects(resources) == []


def test_tampered_model_fails_the_invocation(
    *,
    artefact: tuple[Path, ModelManifest],
    deployed_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cold: None,
    traffic: pd.DataFrame,
) -> None:
    for name in ("manifest.json", MODEL_FILE):
        (tmp_path / name).write_bytes((artefact[0] / name).read_bytes())
    with (tmp_path / MODEL_FILE).open("ab") as handle:
        handle.write(b"\x00")
    monkeypatch.setenv(serving.MODEL_DIR_ENV, str(tmp_path))
    with pytest.raises(ArtifactIntegrityError):
        serving.handler(_event(traffic.head(1)), LambdaContext())


def test_prediction_that_cannot_be_logged_is_not_returned(
    served_model: ModelManifest, traffic: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTORETRAIN_PAYLOAD_STREAM", f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(PayloadLogError, match="ResourceNotFoundException"):
        serving.handler(_event(traffic.head(1)), LambdaContext())


def _hostile(traffic: pd.DataFrame, **changes: Any) -> dict[str, Any]:
    """One valid instance with `changes` to its features (a key `request_id` changes the request id)."""
    event: dict[str, Any] = _event(traffic.head(1))["instances"][0]
    if "request_id" in changes:
        event["request_id"] = changes.pop("request_id")
    event["features"].update(changes)
    return event


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"plan": "pro\udc00"}, "request: feature 'plan' holds a lone surrogate, which UTF-8 cannot encode"),
        ({"request_id": "r-\udc00"}, "request: 'request_id' holds a lone surrogate, which UTF-8 cannot encode"),
        ({"plan": "p" * 70_000}, "request: feature 'plan' is 70000 characters long; the limit is 4096"),
        (
            {"tenure_months": 10**400},
            "request: feature 'tenure_months' is not finite: an integer of 1329 bits is beyond the largest double",
        ),
        ({"n" * 100_000: 1}, f"request: unknown feature '{'n' * 64}'…(100000 characters)"),
    ],
    ids=["surrogate value", "surrogate request_id", "long value", "huge integer", "long unknown name"],
)
def test_hostile_request_is_answered_400_in_the_contracts_words_and_logs_nothing(
    served_model: ModelManifest,
    traffic: pd.DataFrame,
    resources: LocalResources,
    changes: dict[str, Any],
    problem: str,
) -> None:
    response = serving.handler(_hostile(traffic, **changes), LambdaContext())
    assert (response["statusCode"], response["error"]["problems"]) == (400, [problem])
    json.dumps(response, ensure_ascii=False).encode("utf-8")
    assert _payload_objects(resources) == []


def test_what_serving_logs_at_the_contracts_edges_the_etl_loads_whole(
    served_model: ModelManifest, traffic: pd.DataFrame, resources: LocalResources
) -> None:
    event = {
        "instances": [
            _hostile(traffic, request_id="r-\U0001f600", plan="\u00e9" * 4096),
            _hostile(traffic, request_id="r-big", tenure_months=2**53 + 1),
        ]
    }
    response = serving.handler(event, LambdaContext())
    assert response["statusCode"] == 200
    (key,) = _payload_objects(resources)
    size = boto3.client("s3").head_object(Bucket=resources.payload_bucket, Key=key)["ContentLength"]
    notification: dict[str, Any] = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": resources.payload_bucket}, "object": {"key": key, "size": size}},
            }
        ]
    }
    etag = boto3.client("s3").head_object(Bucket=resources.payload_bucket, Key=key)["ETag"].strip('"')
    notification["Records"][0]["s3"]["object"]["eTag"] = etag
    reset_etl_cold_start()
    try:
        result = etl_handler(notification, None)
    finally:
        reset_etl_cold_start()
    assert (result["loaded"], result["quarantined"]) == (2, 0)
