"""The serving Lambda per request, with and without its payload write, against bare `predict_proba`; its cold start.

Model: the default model spec (`batch_jobs.model_spec`) trained on 5,000 synthetic churn rows, written as a verified
model directory (`core.artifacts`) and loaded as the image loads it. Requests: rows of another synthetic draw, as a
client sends them (JSON values, null for missing), one instance per request and 100 per request.

Per request, in the same run, the contenders taking turns call by call (the machines this runs on are shared):
- floor: `estimator.predict_proba` on the same rows, their feature frame already built: the least any serving of
  this model does.
- handler, no log: `lambdas.serving.handler.handle` (validation, feature frame, scoring, payload records and their
  JSON lines) with a payload log that does nothing.
- handler: the same with the real payload log, one PutRecordBatch to the model's Firehose delivery stream on the
  embedded emulator (moto's server on loopback, as the tests and the demo use it).
- handler with a shadow: the same with a shadow challenger (the same spec trained on another draw, as a retrain
  makes one) scoring every request beside the champion, its answers in the logged records. The ratio of its p50 to
  the handler's is the latency a shadow period adds (issue #17).
Wall-clock p50 and p99 per request, numeric libraries on one thread (as the serving image sets them).

What the emulator represents: the payload write's client side (boto3 building, signing and sending the request,
reading the answer) over a loopback HTTP connection; moto answers from a thread of this same process (one S3 object
written per call), so its work is counted in the write's time too. What it does not: the network to Firehose's
regional endpoint (TLS, the round trip), Firehose storing the records durably before it answers, throttling and
retries. On AWS the write's share will be larger than here: this measures what our code and the client cost.

Cold start, in fresh interpreters with a Lambda-like environment (`AWS_LAMBDA_FUNCTION_NAME` set, so importing the
handler module does the init-phase work: imports, SHA-256-verified model load, Firehose client, warm-up request):
the import's CPU time (the target) and wall time, then the first request's wall time. Bytecode is compiled once
beforehand into a scratch cache (`PYTHONPYCACHEPREFIX`): the image's libraries ship compiled, and compiling from
source is not what a Lambda init pays.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from autoretrain.demo.scenario import feature_records
from autoretrain.emulator import Emulator, patched_environ, provision
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import DEFAULT_SPEC, ModelSpec, build_model, infer_input_schema
from batch_jobs.model_spec import feature_frame as training_frame
from bench import Metric
from core.artifacts import LoadedModel, base_rate_heuristic, write_artifact
from core.settings import EnvVar, ServingSettings
from lambdas.serving import handler as serving
from lambdas.serving.adapters import PayloadLog, load_baked_model, load_shadow_model
from lambdas.serving.logic import check_shadow, feature_frame

NAME = "serving"
DESCRIPTION = (
    "serving handler per request (with/without its Firehose write, with a shadow) vs bare predict_proba; cold start"
)
MODEL_NAME = "churn"
TRAIN_ROWS, TRAIN_SEED, TRAFFIC_SEED, CHALLENGER_SEED = 5_000, 20261203, 20261204, 20261205
BATCH = 100
#: Timed calls per contender (after `WARMUP` untimed ones each).
SINGLE_CALLS, BATCH_CALLS, WARMUP = 300, 100, 20
COLD_RUNS = 5
#: Targets: the handler's p50 for a batch of 100 at most this many times the bare estimator's; the payload write at
#: most this share of the handler's p50; an init phase within half of Lambda's 10 s limit for it, in CPU time (the
#: init is CPU-bound and has its vCPU to itself on Lambda, where wall time here measures the neighbours too); a
#: first request after init about as fast as a warm one (a lazy model load or import left in it costs seconds).
BATCH_OVERHEAD_TARGET = 3.0
WRITE_SHARE_TARGET = 0.5
INIT_TARGET_MS = 5_000.0
FIRST_REQUEST_TARGET = 3.0
#: A shadow challenger scores the request a second time: the handler's p50 with one at most this many times without.
SHADOW_OVERHEAD_TARGET = 2.0
THREAD_CAPS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_COLD_PROBE = """
import json, sys, time, uuid
from types import SimpleNamespace
wall, cpu = time.perf_counter(), time.process_time()
from lambdas.serving import handler
init_wall, init_cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
event = json.loads(sys.argv[1])
started = time.perf_counter()
response = handler.handler(event, SimpleNamespace(aws_request_id=str(uuid.uuid4())))
first = (time.perf_counter() - started) * 1000
assert response["statusCode"] == 200, response
print(json.dumps({"init_wall": init_wall, "init_cpu": init_cpu, "first_request": first}))
"""


class NoPayloadLog:
    """A payload log that writes nothing: the handler's cost without the write."""

    def write(self, lines: Sequence[bytes]) -> None:
        """Drop the lines."""


def train_model_dir(
    directory: Path, spec: ModelSpec = DEFAULT_SPEC, *, seed: int = TRAIN_SEED, created_at: datetime | None = None
) -> None:
    """Train `spec` on synthetic churn data (the draw `seed`) and write it as a verified model directory."""
    data = generate_churn(TRAIN_ROWS, seed=seed)
    schema = infer_input_schema(data, all_nullable=True)
    estimator = build_model(schema, spec).fit(training_frame(data, schema), data[TARGET])
    write_artifact(
        directory,
        estimator,
        model_name=MODEL_NAME,
        input_schema=schema,
        decision_threshold=spec.decision_threshold or 0.3,
        created_at=created_at or datetime.now(UTC),
        heuristic=base_rate_heuristic(float(data[TARGET].mean())),
    )


def percentiles(timings: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of the timings."""
    p50, p99 = np.percentile(np.asarray(timings, dtype=float), [50, 99])
    return float(p50), float(p99)


def take_turns(contenders: dict[str, Callable[[int], object]], calls: int, warmup: int) -> dict[str, list[float]]:
    """Milliseconds of each contender's calls (call `i` of each gets argument `i`), the contenders alternating."""
    for index in range(warmup):
        for work in contenders.values():
            work(index)
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for index in range(calls):
        for name, work in contenders.items():
            started = time.perf_counter()
            work(index)
            timings[name].append((time.perf_counter() - started) * 1000.0)
    return timings


def build_requests(frame: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One-instance requests for each row, and requests of `BATCH` consecutive rows."""
    features = feature_records(frame)
    singles = [{"features": row} for row in features]
    batches = [
        {"instances": [{"features": row} for row in features[start : start + BATCH]]}
        for start in range(0, len(features) - BATCH + 1, BATCH)
    ]
    return singles, batches


def _per_request(
    model: LoadedModel, shadow: LoadedModel, session: boto3.session.Session, stream: str
) -> dict[str, list[float]]:
    """Timings of the floor and the handlers (no log, logged, logged with a shadow), one instance and a batch per
    request."""
    traffic = generate_churn(2_000, seed=TRAFFIC_SEED)
    singles, batches = build_requests(traffic)
    schema = model.manifest.input_schema
    single_frames = [feature_frame(schema, [request["features"]]) for request in singles]
    batch_frames = [
        feature_frame(schema, [instance["features"] for instance in request["instances"]]) for request in batches
    ]
    settings = ServingSettings(payload_stream=stream, model_name=MODEL_NAME)
    logged = serving.Service(settings, model, PayloadLog(session.client("firehose"), stream))
    unlogged = serving.Service(settings, model, NoPayloadLog())
    shadowed = serving.Service(settings, model, PayloadLog(session.client("firehose"), stream), shadow)
    estimator = model.estimator
    now = datetime.now(UTC)

    def contenders(events: list[dict[str, Any]], frames: list[pd.DataFrame]) -> dict[str, Callable[[int], object]]:
        def handled(service: serving.Service) -> Callable[[int], object]:
            def call(index: int) -> object:
                response = serving.handle(events[index % len(events)], None, service, now)
                if response["statusCode"] != 200:
                    raise AssertionError(f"the benchmark's request was refused: {response}")
                return response

            return call

        return {
            "floor": lambda index: estimator.predict_proba(frames[index % len(frames)]),
            "unlogged": handled(unlogged),
            "logged": handled(logged),
            "shadowed": handled(shadowed),
        }

    with threadpool_limits(limits=1):
        single = take_turns(contenders(singles, single_frames), SINGLE_CALLS, WARMUP)
        batch = take_turns(contenders(batches, batch_frames), BATCH_CALLS, WARMUP)
    return {**{f"single {k}": v for k, v in single.items()}, **{f"batch {k}": v for k, v in batch.items()}}


def shadow_metrics(label: str, logged: tuple[float, float], shadowed: tuple[float, float]) -> list[Metric]:
    """The shadow's cost for one request size: the handler's p50 with a shadow, and its ratio to the p50 without
    (both with the payload write, measured in the same run, call by call)."""
    return [
        Metric(
            f"{label}: handler with a shadow p50",
            shadowed[0],
            "ms",
            note=f"+{shadowed[0] - logged[0]:.2f} ms; p99 {shadowed[1]:.2f} ms",
        ),
        Metric(
            f"{label}: handler with a shadow p50 / without",
            shadowed[0] / logged[0],
            "x",
            target=SHADOW_OVERHEAD_TARGET,
            higher_is_better=False,
            note="the latency a shadow period adds (a second model scores the batch; its answers are logged)",
        ),
    ]


def _cold_starts(model_dir: Path, environment: dict[str, str], event: dict[str, Any]) -> list[dict[str, float]]:
    """Init-phase and first-request milliseconds of `COLD_RUNS` fresh interpreters (after one that compiles)."""
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("PYTHON")},
            **environment,
            **THREAD_CAPS,
            "PYTHONPATH": str(repo),
            "PYTHONPYCACHEPREFIX": cache,
            serving.LAMBDA_FUNCTION_ENV: "autoretrain-serving-bench",
            serving.MODEL_DIR_ENV: str(model_dir),
        }
        runs = []
        for _ in range(COLD_RUNS + 1):
            completed = subprocess.run(
                [sys.executable, "-c", _COLD_PROBE, json.dumps(event)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
                cwd=repo,
            )
            runs.append(json.loads(completed.stdout.splitlines()[-1]))
    return runs[1:]


def _threads_effect(directory: Path) -> tuple[float, float]:
    """Median ms of a one-row `predict_proba` of a gradient-boosting model with the default thread pools and with
    one thread (why the serving image caps them)."""
    train_model_dir(directory, ModelSpec(kind="hist_gradient_boosting", decision_threshold=0.3))
    model = load_baked_model(directory, MODEL_NAME)
    if model is None:
        raise AssertionError("the gradient-boosting model was not written")
    row = feature_frame(model.manifest.input_schema, feature_records(generate_churn(1, seed=TRAFFIC_SEED)))
    estimator = model.estimator

    def median_ms() -> float:
        for _ in range(WARMUP):
            estimator.predict_proba(row)
        timings = []
        for _ in range(200):
            started = time.perf_counter()
            estimator.predict_proba(row)
            timings.append((time.perf_counter() - started) * 1000.0)
        return statistics.median(timings)

    default = median_ms()
    with threadpool_limits(limits=1):
        one = median_ms()
    return default, one


def run() -> list[Metric]:
    """Measure and return the figures."""
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        model_dir = Path(scratch) / "model"
        train_model_dir(model_dir)
        model = load_baked_model(model_dir, MODEL_NAME)
        shadow_dir = Path(scratch) / "shadow"
        train_model_dir(shadow_dir, seed=CHALLENGER_SEED)
        shadow = load_shadow_model(shadow_dir, model) if model is not None else None
        if model is None or shadow is None:
            raise AssertionError("the model directories hold no model")
        check_shadow(model, shadow)
        emulator = Emulator()
        emulator.start()
        try:
            with patched_environ(emulator.environment()):
                session = boto3.session.Session()
                resources = provision(session, prefix="bench-serving", model_name=MODEL_NAME)
                timings = _per_request(model, shadow, session, resources.payload_stream)
                environment = {
                    **emulator.environment(),
                    EnvVar.PAYLOAD_STREAM.value: resources.payload_stream,
                    EnvVar.MODEL_NAME.value: MODEL_NAME,
                }
                single_event = build_requests(generate_churn(1, seed=TRAFFIC_SEED))[0][0]
                cold = _cold_starts(model_dir, environment, single_event)
        finally:
            emulator.stop()
        threads_default, threads_one = _threads_effect(Path(scratch) / "hgb")

    figures = {name: percentiles(values) for name, values in timings.items()}
    metrics: list[Metric] = []
    for size, calls in (("single", SINGLE_CALLS), ("batch", BATCH_CALLS)):
        label = "1 instance" if size == "single" else f"batch of {BATCH}"
        floor, unlogged, logged = (figures[f"{size} {kind}"] for kind in ("floor", "unlogged", "logged"))
        write_share = (logged[0] - unlogged[0]) / logged[0]
        metrics += [
            Metric(f"{label}: predict_proba p50", floor[0], "ms", note=f"floor; p99 {floor[1]:.2f} ms, {calls} calls"),
            Metric(f"{label}: handler, no log p50", unlogged[0], "ms", note=f"p99 {unlogged[1]:.2f} ms"),
            Metric(f"{label}: handler p50", logged[0], "ms", note=f"with the Firehose write; p99 {logged[1]:.2f} ms"),
            Metric(
                f"{label}: handler p50 / floor p50",
                logged[0] / floor[0],
                "x",
                target=BATCH_OVERHEAD_TARGET if size == "batch" else None,
                higher_is_better=False,
                note="with the write" if size == "batch" else "informational: fixed costs dominate one row",
            ),
            Metric(
                f"{label}: handler p99 / floor p99", logged[1] / floor[1], "x", note="informational (shared machine)"
            ),
            Metric(
                f"{label}: payload write share of p50",
                write_share,
                "",
                target=WRITE_SHARE_TARGET,
                higher_is_better=False,
                note="(handler - no log) / handler; loopback emulator, no network",
            ),
            *shadow_metrics(label, logged, figures[f"{size} shadowed"]),
        ]
    init_wall = [run["init_wall"] for run in cold]
    init_cpu = [run["init_cpu"] for run in cold]
    first = [run["first_request"] for run in cold]
    warm_single = figures["single logged"][0]
    metrics += [
        Metric(
            "cold start: init phase (CPU)",
            statistics.median(init_cpu),
            "ms",
            target=INIT_TARGET_MS,
            higher_is_better=False,
            note=f"import + verified load + client + warm-up; median of {COLD_RUNS} fresh interpreters",
        ),
        Metric(
            "cold start: init phase (wall)",
            statistics.median(init_wall),
            "ms",
            note=f"same runs; max {max(init_wall):.0f} ms: wall time swings on a shared machine",
        ),
        Metric(
            "first request after init / warm p50",
            statistics.median(first) / warm_single,
            "x",
            target=FIRST_REQUEST_TARGET,
            higher_is_better=False,
            note=f"1 instance; first {statistics.median(first):.1f} ms (opens the connection)",
        ),
        Metric(
            "GBM 1 row: default threads / 1 thread",
            threads_default / threads_one,
            "x",
            note=f"{threads_default:.2f} vs {threads_one:.2f} ms (why the image sets OMP_NUM_THREADS=1; "
            f"{os.cpu_count()} CPUs here)",
        ),
    ]
    return metrics
