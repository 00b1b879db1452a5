"""The real serving handler with a control group and a shadow challenger, through moto's Firehose and S3 over HTTP:
the answers a client gets, and the records the payload bucket receives."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import build_model, feature_frame, infer_input_schema
from core.artifacts import ArtifactIntegrityError, ModelManifest, base_rate_heuristic, write_artifact
from core.assignment import assign_arm
from core.layout import MODEL_FILE
from core.records import ARM_CONTROL, ARM_MODEL, parse_payload
from lambdas.serving import handler as serving
from lambdas.serving.models import ModelMismatchError

pytestmark = pytest.mark.integration
SHARE = 0.25
BASE_RATE = 0.18


@dataclass(frozen=True)
class LambdaContext:
    """The one attribute of Lambda's context object the handler reads."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Exploding:
    """A shadow estimator whose scoring raises (pickled by reference: this module is importable)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Fail as a broken challenger would."""
        raise ValueError("the shadow cannot score")


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    return generate_churn(1_500, seed=31)


def _write(directory: Path, estimator: object, schema: Any, created_at: datetime) -> ModelManifest:
    return write_artifact(
        directory,
        estimator,
        model_name="churn",
        input_schema=schema,
        decision_threshold=0.35,
        created_at=created_at,
        heuristic=base_rate_heuristic(BASE_RATE),
    )


def _trained(directory: Path, frame: pd.DataFrame, created_at: datetime) -> ModelManifest:
    schema = infer_input_schema(frame, all_nullable=True)
    model = build_model(schema).fit(feature_frame(frame, schema), frame[TARGET])
    return _write(directory, model, schema, created_at)


@pytest.fixture(scope="module")
def champion(traffic: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelManifest]:
    directory = tmp_path_factory.mktemp("champion")
    return directory, _trained(directory, traffic, datetime.now(UTC) - timedelta(days=7))


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelManifest]:
    directory = tmp_path_factory.mktemp("challenger")
    return directory, _trained(directory, generate_churn(1_500, seed=32), datetime.now(UTC))


@pytest.fixture
def cold() -> Iterator[None]:
    """Each test is a fresh execution environment (a cold start)."""
    serving.cold_start.cache_clear()
    yield
    serving.cold_start.cache_clear()


@pytest.fixture
def environment(
    champion: tuple[Path, ModelManifest], deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, cold: None
) -> pytest.MonkeyPatch:
    monkeypatch.setenv(serving.MODEL_DIR_ENV, str(champion[0]))
    return monkeypatch


def _event(frame: pd.DataFrame) -> dict[str, Any]:
    rows = frame.drop(columns=[TARGET]).to_dict("records")
    return {
        "instances": [
            {
                "request_id": f"req-{index}",
                "client_id": f"client-{index}",
                "features": {k: None if pd.isna(v) else v for k, v in row.items()},
            }
            for index, row in enumerate(rows)
        ]
    }


def _logged(resources: LocalResources) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=resources.payload_bucket, Prefix="payloads/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    bodies = [s3.get_object(Bucket=resources.payload_bucket, Key=key)["Body"].read() for key in keys]
    records = [json.loads(line) for body in bodies for line in body.decode().splitlines()]
    for record in records:
        parse_payload(record)  # what the ETL loads
    return records


def test_control_clients_get_the_heuristic_and_both_answers_are_logged(
    environment: pytest.MonkeyPatch, traffic: pd.DataFrame, resources: LocalResources
) -> None:
    environment.setenv("AUTORETRAIN_CONTROL_SHARE", str(SHARE))
    event = _event(traffic.head(60))
    response = serving.handler(event, LambdaContext())
    assert response["statusCode"] == 200
    records = {record["request_id"]: record for record in _logged(resources)}
    expected = {
        instance["request_id"]: assign_arm(instance["client_id"], share=SHARE, salt="churn")
        for instance in event["instances"]
    }
    assert {answer["request_id"]: answer["arm"] for answer in response["predictions"]} == expected
    assert set(expected.values()) == {ARM_CONTROL, ARM_MODEL}
    for answer in response["predictions"]:
        record = records[answer["request_id"]]
        assert record["arm"] == answer["arm"]
        if answer["arm"] == ARM_CONTROL:
            assert (answer["score"], answer["label"]) == (BASE_RATE, 0)
            assert record["heuristic"] == {"score": BASE_RATE, "label": 0}
            assert record["prediction"]["score"] != BASE_RATE  # the champion's own output, for monitoring
        else:
            assert (answer["score"], answer["label"]) == (record["prediction"]["score"], record["prediction"]["label"])
            assert "heuristic" not in record


def test_the_shadow_is_logged_beside_the_champion_and_never_answers(
    environment: pytest.MonkeyPatch,
    traffic: pd.DataFrame,
    resources: LocalResources,
    champion: tuple[Path, ModelManifest],
    challenger: tuple[Path, ModelManifest],
) -> None:
    environment.setenv("AUTORETRAIN_SHADOW_DIR", str(challenger[0]))
    response = serving.handler(_event(traffic.head(20)), LambdaContext())
    assert {answer["model_version"] for answer in response["predictions"]} == {champion[1].model_version}
    assert all("arm" not in answer for answer in response["predictions"])
    records = _logged(resources)
    assert [record["request_id"] for record in records] == [answer["request_id"] for answer in response["predictions"]]
    assert {record["shadow"]["model_version"] for record in records} == {challenger[1].model_version}
    assert [record["prediction"]["score"] for record in records] == [
        answer["score"] for answer in response["predictions"]
    ]
    assert any(record["shadow"]["score"] != record["prediction"]["score"] for record in records)


def test_a_failing_shadow_does_not_fail_the_request(
    *,
    environment: pytest.MonkeyPatch,
    traffic: pd.DataFrame,
    resources: LocalResources,
    challenger: tuple[Path, ModelManifest],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _write(tmp_path, Exploding(), challenger[1].input_schema, datetime.now(UTC))
    environment.setenv("AUTORETRAIN_SHADOW_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=serving.LOGGER.name):
        response = serving.handler(_event(traffic.head(5)), LambdaContext())
    assert response["statusCode"] == 200
    records = _logged(resources)
    assert len(records) == 5
    assert all("shadow" not in record for record in records)
    (failure,) = [entry for entry in caplog.records if entry.getMessage().startswith("shadow scoring failed")]
    assert failure.__dict__["shadow_failed_instances"] == 5
    assert "the shadow cannot score" in failure.__dict__["error"]


def test_a_shadow_with_another_schema_fails_the_init(
    environment: pytest.MonkeyPatch, traffic: pd.DataFrame, tmp_path: Path
) -> None:
    _trained(tmp_path, traffic.drop(columns=["region"]), datetime.now(UTC))
    environment.setenv("AUTORETRAIN_SHADOW_DIR", str(tmp_path))
    with pytest.raises(ModelMismatchError, match="another input schema"):
        serving.cold_start()


def test_a_tampered_shadow_fails_the_init_as_a_tampered_champion_does(
    environment: pytest.MonkeyPatch, challenger: tuple[Path, ModelManifest], tmp_path: Path
) -> None:
    for name in ("manifest.json", MODEL_FILE):
        (tmp_path / name).write_bytes((challenger[0] / name).read_bytes())
    with (tmp_path / MODEL_FILE).open("ab") as handle:
        handle.write(b"\x00")
    environment.setenv("AUTORETRAIN_SHADOW_DIR", str(tmp_path))
    with pytest.raises(ArtifactIntegrityError):
        serving.cold_start()


def test_a_shadow_directory_without_a_model_serves_the_champion_alone(
    environment: pytest.MonkeyPatch, traffic: pd.DataFrame, resources: LocalResources, tmp_path: Path
) -> None:
    environment.setenv("AUTORETRAIN_SHADOW_DIR", str(tmp_path))
    response = serving.handler(_event(traffic.head(2)), LambdaContext())
    assert response["statusCode"] == 200
    assert all("shadow" not in record for record in _logged(resources))


def test_a_client_id_feature_the_model_lacks_fails_the_init(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("AUTORETRAIN_CONTROL_SHARE", "0.1")
    environment.setenv("AUTORETRAIN_CLIENT_ID_FEATURE", "customer_id")
    with pytest.raises(ModelMismatchError, match="'customer_id' is not a feature"):
        serving.cold_start()
