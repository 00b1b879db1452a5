"""The serving Lambda does its one-off work in Lambda's init phase: importing the handler module inside Lambda
loads and verifies the model, creates the Firehose client and warms up, so the first request imports and
unpickles nothing (checked with audit hooks in a fresh interpreter: tests/integration/serving_init_probe.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import build_model, feature_frame, infer_input_schema
from core.artifacts import write_artifact
from lambdas.serving import handler as serving

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    return generate_churn(1_000, seed=41)


@pytest.fixture(scope="module")
def model_dir(traffic: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    schema = infer_input_schema(traffic, all_nullable=True)
    model = build_model(schema).fit(feature_frame(traffic, schema), traffic[TARGET])
    directory = tmp_path_factory.mktemp("model")
    write_artifact(
        directory, model, model_name="churn", input_schema=schema, decision_threshold=0.4, created_at=datetime.now(UTC)
    )
    return directory


def _event(frame: pd.DataFrame) -> dict[str, Any]:
    rows = frame.drop(columns=[TARGET]).to_dict("records")
    return {"instances": [{"features": {k: None if pd.isna(v) else v for k, v in row.items()}} for row in rows]}


def _probe(event: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.integration.serving_init_probe", json.dumps(event)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return report


def test_first_request_in_lambda_imports_and_unpickles_nothing(
    deployed_env: dict[str, str], resources: LocalResources, model_dir: Path, traffic: pd.DataFrame
) -> None:
    environment = {
        **os.environ,
        serving.LAMBDA_FUNCTION_ENV: "autoretrain-serving",
        serving.MODEL_DIR_ENV: str(model_dir),
    }
    report = _probe(_event(traffic.head(3)), environment)
    assert report["initialised_at_import"]
    assert report["response"]["statusCode"] == 200
    assert (report["imported"], report["unpickled"]) == ([], [])
    listing = boto3.client("s3").list_objects_v2(Bucket=resources.payload_bucket, Prefix="payloads/")
    assert len(listing.get("Contents", [])) == 1


def test_outside_lambda_importing_the_handler_initialises_nothing(
    deployed_env: dict[str, str], model_dir: Path, traffic: pd.DataFrame
) -> None:
    environment = {key: value for key, value in os.environ.items() if key != serving.LAMBDA_FUNCTION_ENV}
    report = _probe(_event(traffic.head(1)), {**environment, serving.MODEL_DIR_ENV: str(model_dir)})
    assert not report["initialised_at_import"]
    assert report["response"]["statusCode"] == 200
    assert report["unpickled"]  # the first request loaded the model here
