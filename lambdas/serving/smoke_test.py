"""The release pipeline's smoke test, run inside the freshly built serving image before it is pushed:

    docker run --rm --entrypoint python -v <sample dir>:/smoke:ro IMAGE -m lambdas.serving.smoke_test \\
        --model-dir /opt/model --sample /smoke/sample.json --expected-sha256 SHA --expected-version VERSION

It loads the baked-in model the way the handler does (SHA-256 checked against the manifest and the registry's
value), checks that the release's reference sample has the model's input schema and passes the serving
validation, scores it through the serving code path, checks the scores are finite and equal (to 1e-6) the scores
the retrain job computed for the same rows, and that single-instance scoring stays within the latency budget.
Prints one JSON line; exit 0 when every check passed, 1 otherwise. Standard library plus what the image ships
(numpy, pandas, scikit-learn).

The latency check judges the model, not the build host: after `--warmup` untimed calls (a fresh container's first
calls pay for lazy imports, page faults and cold caches, which a warm Lambda pays once), the median of
`--repeats` timed single-instance predictions must be within `--latency-budget-ms`. The median is what a slow
model moves (every call pays for it) and what a busy, shared CodeBuild host barely does: a tail percentile of a
few hundred calls there measures neighbours and pauses (the default model's p99 reached 165 ms on a loaded
machine, where its typical call takes about 15 ms). The p90 and p99 are reported alongside; production tail latency
is the alerting Lambda's and the deploy alarms' job.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.artifacts import ArtifactError, LoadedModel, load_verified_model
from core.release_bundle import ReleaseError, SmokeSample
from lambdas.serving.logic import parse_request, predict_scores
from lambdas.serving.models import Instance, InvalidRequestError, ModelOutputError

SCORE_TOLERANCE = 1e-6
#: Untimed single-instance calls before the timed ones.
WARMUP_CALLS = 5
#: How a model scores instances: the serving code path (tests inject a predictor with a known cost).
Predict = Callable[[LoadedModel, tuple[Instance, ...]], NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """The smoke test's verdict and measurements."""

    passed: bool
    problems: tuple[str, ...]
    model_version: str | None
    instances: int
    latency_ms_p99: float | None
    latency_ms_p50: float | None = None
    latency_ms_p90: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {
            "passed": self.passed,
            "problems": list(self.problems),
            "model_version": self.model_version,
            "instances": self.instances,
            "latency_ms_p50": self.latency_ms_p50,
            "latency_ms_p90": self.latency_ms_p90,
            "latency_ms_p99": self.latency_ms_p99,
        }


def time_single_predictions(
    model: LoadedModel,
    instances: tuple[Instance, ...],
    *,
    repeats: int,
    warmup: int,
    clock: Callable[[], float],
    predict: Predict,
) -> NDArray[np.float64]:
    """Milliseconds of each of `repeats` single-instance predictions, after `warmup` untimed ones."""
    for index in range(warmup):
        predict(model, instances[index % len(instances) : index % len(instances) + 1])
    timings = np.empty(repeats, dtype=np.float64)
    for index in range(repeats):
        one = instances[index % len(instances) : index % len(instances) + 1]
        started = clock()
        predict(model, one)
        timings[index] = (clock() - started) * 1000.0
    return timings


def run_smoke_test(
    model_dir: Path,
    sample_path: Path,
    *,
    expected_sha256: str,
    expected_version: str,
    latency_budget_ms: float,
    repeats: int = 200,
    warmup: int = WARMUP_CALLS,
    clock: Callable[[], float] = time.perf_counter,
    predict: Predict = predict_scores,
) -> SmokeResult:
    """Load, validate, score and time the model in `model_dir` on the sample (see the module docstring)."""
    try:
        model = load_verified_model(model_dir, expected_sha256=expected_sha256)
        sample = SmokeSample.loads(sample_path.read_text())
    except (ArtifactError, OSError, ReleaseError) as error:
        return SmokeResult(False, (f"load: {error}",), None, 0, None)
    manifest = model.manifest
    problems: list[str] = []
    if manifest.model_version != expected_version:
        problems.append(f"version: the image holds {manifest.model_version}, the release is {expected_version}")
    ours = [(spec.name, spec.kind) for spec in manifest.input_schema.features]
    theirs = [(spec.name, spec.kind) for spec in sample.input_schema.features]
    if ours != theirs:
        problems.append(f"schema: the model takes {ours}, the release sample has {theirs}")
    try:
        instances = parse_request({"instances": list(sample.instances)}, manifest.input_schema, "smoke-test")
        scores = predict(model, instances)
    except (InvalidRequestError, ModelOutputError) as error:
        return SmokeResult(False, (*problems, f"predict: {error}"), manifest.model_version, 0, None)
    expected = np.asarray(sample.expected_scores, dtype=np.float64)
    if expected.shape != scores.shape:
        problems.append(f"scores: {scores.size} scores, the release sample expects {expected.size}")
    elif not np.allclose(scores, expected, rtol=0.0, atol=SCORE_TOLERANCE):
        worst = float(np.max(np.abs(scores - expected)))
        problems.append(f"scores: differ from the retrain job's by up to {worst:.2e} (tolerance {SCORE_TOLERANCE})")
    timings = time_single_predictions(model, instances, repeats=repeats, warmup=warmup, clock=clock, predict=predict)
    p50, p90, p99 = (float(value) for value in np.percentile(timings, [50, 90, 99]))
    if p50 > latency_budget_ms:
        problems.append(
            f"latency: median {p50:.1f} ms per single-instance prediction over {repeats} calls after {warmup} "
            f"warm-up calls, budget {latency_budget_ms:g} ms (p90 {p90:.1f} ms, p99 {p99:.1f} ms)"
        )
    return SmokeResult(
        not problems,
        tuple(problems),
        manifest.model_version,
        len(instances),
        latency_ms_p99=round(p99, 3),
        latency_ms_p50=round(p50, 3),
        latency_ms_p90=round(p90, 3),
    )


def build_parser() -> argparse.ArgumentParser:
    """The smoke test's arguments."""
    parser = argparse.ArgumentParser(prog="python -m lambdas.serving.smoke_test", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/model"))
    parser.add_argument("--sample", type=Path, required=True, help="sample.json from the release zip")
    parser.add_argument("--expected-sha256", required=True, help="the registry's SHA-256 of model.pkl")
    parser.add_argument("--expected-version", required=True)
    parser.add_argument(
        "--latency-budget-ms", type=float, default=100.0, help="budget for the median single-instance prediction"
    )
    parser.add_argument("--repeats", type=int, default=200, help="timed single-instance predictions")
    parser.add_argument("--warmup", type=int, default=WARMUP_CALLS, help="untimed predictions before the timed ones")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test; exit 0 if it passed."""
    arguments = build_parser().parse_args(argv)
    result = run_smoke_test(
        arguments.model_dir,
        arguments.sample,
        expected_sha256=arguments.expected_sha256,
        expected_version=arguments.expected_version,
        latency_budget_ms=arguments.latency_budget_ms,
        repeats=max(1, arguments.repeats),
        warmup=max(0, arguments.warmup),
    )
    print(json.dumps(result.to_json()))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
