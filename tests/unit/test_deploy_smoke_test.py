"""The pipeline's smoke test (`python -m lambdas.serving.smoke_test`) run directly on a real artefact directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoretrain.artifacts import ModelManifest, write_artifact
from autoretrain.synthetic import generate_churn
from batch_jobs import model_spec
from batch_jobs.training import fitting
from lambdas.serving.smoke_test import main

FRAME = generate_churn(600, seed=1)
SCHEMA = model_spec.infer_input_schema(FRAME, all_nullable=True)


@pytest.fixture(scope="module")
def artefact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelManifest, dict[str, Any]]:
    """A model directory as the image holds it, and the release's sample.json document."""
    directory = tmp_path_factory.mktemp("model")
    model = fitting.fit_model(FRAME, SCHEMA, model_spec.DEFAULT_SPEC)
    manifest = write_artifact(
        directory,
        model,
        model_name="churn",
        input_schema=SCHEMA,
        decision_threshold=0.5,
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    rows = model_spec.feature_frame(FRAME.head(20), SCHEMA)
    sample = {
        "model_version": manifest.model_version,
        "input_schema": SCHEMA.to_json(),
        "instances": [{"features": row} for row in rows.astype(object).where(rows.notna(), None).to_dict("records")],
        "expected_scores": fitting.score(model, FRAME.head(20), SCHEMA).tolist(),
    }
    return directory, manifest, sample


def smoke(
    tmp_path: Path,
    artefact: tuple[Path, ModelManifest, dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    *,
    sample: dict[str, Any] | None = None,
    sha: str | None = None,
    budget: str = "1000",
) -> tuple[int, Any]:
    directory, manifest, default_sample = artefact
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(sample or default_sample))
    code = main(
        [
            "--model-dir",
            str(directory),
            "--sample",
            str(path),
            "--expected-sha256",
            sha or manifest.artifact_sha256,
            "--expected-version",
            manifest.model_version,
            "--latency-budget-ms",
            budget,
            "--repeats",
            "20",
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def test_a_good_artefact_passes(tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = smoke(tmp_path, artefact, capsys)

    assert code == 0
    assert result["passed"]
    assert result["instances"] == 20
    assert result["latency_ms_p99"] > 0


def test_a_model_other_than_the_registrys_is_not_loaded(
    tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = smoke(tmp_path, artefact, capsys, sha="0" * 64)

    assert code == 1
    assert result["problems"][0].startswith("load:")
    assert "does not match" in result["problems"][0]


def test_scores_that_differ_from_the_retrain_jobs_fail(
    tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = dict(artefact[2], expected_scores=[score + 0.01 for score in artefact[2]["expected_scores"]])

    code, result = smoke(tmp_path, artefact, capsys, sample=sample)

    assert code == 1
    assert [problem.split(":")[0] for problem in result["problems"]] == ["scores"]


def test_a_sample_with_another_schema_fails(tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]) -> None:
    schema = artefact[2]["input_schema"]
    sample = dict(artefact[2], input_schema={"features": schema["features"][:-1]})

    code, result = smoke(tmp_path, artefact, capsys, sample=sample)

    assert code == 1
    assert result["problems"][0].startswith("schema:")


def test_a_blown_latency_budget_fails(tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, result = smoke(tmp_path, artefact, capsys, budget="0.000001")

    assert code == 1
    assert result["problems"][0].startswith("latency: p99")
