"""The pipeline's smoke test (`python -m lambdas.serving.smoke_test`) run directly on a real artefact directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from autoretrain.synthetic import generate_churn
from batch_jobs import model_spec
from batch_jobs.training import fitting
from core.artifacts import LoadedModel, ModelManifest, write_artifact
from lambdas.serving.logic import predict_scores
from lambdas.serving.models import Instance
from lambdas.serving.smoke_test import SmokeResult, main, run_smoke_test

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


class FakeClock:
    """Time that passes only when a `TimedPredictor` says a prediction took so long."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedPredictor:
    """The serving code path, each call taking `cost_ms(call number)` milliseconds of the fake clock's time."""

    def __init__(self, clock: FakeClock, cost_ms: Callable[[int], float]) -> None:
        self.clock, self.cost_ms, self.calls = clock, cost_ms, 0

    def __call__(self, model: LoadedModel, instances: tuple[Instance, ...]) -> NDArray[np.float64]:
        self.clock.now += self.cost_ms(self.calls) / 1000.0
        self.calls += 1
        return predict_scores(model, instances)


def timed_smoke(
    tmp_path: Path, artefact: tuple[Path, ModelManifest, dict[str, Any]], cost_ms: Callable[[int], float]
) -> SmokeResult:
    """The smoke test with a 100 ms budget, 200 timed calls after 5 warm-up calls of the given costs.

    Call 0 scores the whole sample, calls 1-5 are the warm-up and calls 6-205 are timed."""
    directory, manifest, sample = artefact
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(sample))
    clock = FakeClock()
    return run_smoke_test(
        directory,
        path,
        expected_sha256=manifest.artifact_sha256,
        expected_version=manifest.model_version,
        latency_budget_ms=100.0,
        repeats=200,
        warmup=5,
        clock=clock,
        predict=TimedPredictor(clock, cost_ms),
    )


def test_a_model_slow_on_every_call_fails_the_latency_check(tmp_path: Path, artefact: Any) -> None:
    result = timed_smoke(tmp_path, artefact, lambda call: 150.0)

    assert not result.passed
    assert [problem.split(":")[0] for problem in result.problems] == ["latency"]
    assert result.problems[0].startswith("latency: median 150.0 ms")
    assert result.latency_ms_p50 == pytest.approx(150.0)


def test_a_cold_first_call_and_a_noisy_tail_do_not_fail_a_fast_model(tmp_path: Path, artefact: Any) -> None:
    # A cold container's first calls take 2 s; then 2 ms, except every 40th call (2.5 %) takes 165 ms.
    result = timed_smoke(tmp_path, artefact, lambda call: 2000.0 if call <= 5 else 165.0 if call % 40 == 0 else 2.0)

    assert result.passed, result.problems
    assert result.latency_ms_p50 == pytest.approx(2.0)
    assert result.latency_ms_p99 == pytest.approx(165.0)


def test_a_model_slow_on_most_calls_fails_even_with_fast_ones_between(tmp_path: Path, artefact: Any) -> None:
    result = timed_smoke(tmp_path, artefact, lambda call: 2.0 if call % 3 == 0 else 120.0)

    assert not result.passed
    assert result.problems[0].startswith("latency: median 120.0 ms")


def test_the_command_line_reports_the_latency_percentiles(
    tmp_path: Path, artefact: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = smoke(tmp_path, artefact, capsys)

    assert code == 0
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p90"] <= result["latency_ms_p99"]
