"""The measured replay behind `autoretrain cost`: a short period of traffic through the real entry points on a fresh
emulator, with the emulator's request counts (`autoretrain.emulator.Emulator.request_counts`) read around every
invocation.

What runs, in order (as the demo drives it, `autoretrain.demo.runner`):

1. set-up (not measured): the stack's resources, an initial training set, the retrain job's `main` (the first
   champion, promoted in the registry), its files downloaded as the serving image's model directory;
2. serving: `lambdas.serving.handler.handle` on the simulated clock, single-instance and batched requests over
   `ReplayConfig.hours` hours with a different volume each hour; after every invocation the local runner's S3 pump
   hands each new object under `payloads/` to `lambdas.payload_etl.handler` (moto writes one object per
   `PutRecordBatch`, or the handler one per invocation, so objects of many sizes: the ETL's usage is fitted per
   object and per record);
3. labels: one label object per hour of traffic under `labels/`, through the same pump and handler;
4. alerting: `lambdas.alerting.handler` at the end of every hour (its usage fitted in the rows it read);
5. the lake's compaction (`batch_jobs.compact_lake`), one drift check (`batch_jobs.drift_check`, the day after,
   with the label delay shortened so the replayed labels count as matured) and a scheduled retrain
   (`batch_jobs.retrain`), each measured as one run; every lake query they send (`DuckDBEngine.query`, the stand-in
   for Athena) is timed by the S3 GET bytes it read.

CPU seconds are the calling thread's (`time.thread_time`): the handler's own work, not the emulator's, which runs in
other threads of this process. Log bytes are what the handlers logged (formatted records) and the jobs printed.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
from threadpoolctl import threadpool_limits

from autoretrain.cost.usage import (
    AWS_CALLS,
    CPU_SECONDS,
    LOG_BYTES,
    WALL_SECONDS,
    WARN_LOG_BYTES,
    LakeScan,
    Observation,
    Storage,
    Usage,
    UsageProfile,
    fit_stage,
    metric,
)
from autoretrain.demo.scenario import feature_records
from autoretrain.emulator import Emulator, LocalResources, RequestCounts, patched_environ, provision, release
from autoretrain.local_runner import S3NotificationPump
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import compact_lake as compact_lake_job
from batch_jobs import drift_check as drift_check_job
from batch_jobs import retrain as retrain_job
from batch_jobs.lake.engine import DuckDBEngine
from core.layout import label_object_key, model_version_prefix, training_prefix
from core.records import format_timestamp
from core.registry import Registry
from core.settings import EnvVar
from lambdas.alerting import handler as alerting_handler
from lambdas.alerting import reset_cold_start as reset_alerting
from lambdas.payload_etl import handler as etl_handler
from lambdas.payload_etl import reset_cold_start as reset_etl
from lambdas.serving import handler as serving_handler

MODEL_NAME = "churn"
LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """What the replay sends.

    - `start`: the replay's first hour (a Monday, UTC).
    - `hourly_predictions`: predictions in each replayed hour (volumes differ so the alerting runs read different
      numbers of rows).
    - `batch_sizes`, `batch_weights`: instances per request and the share of requests of each size (single
      instances and batches; the serving and ETL fits need both).
    - `training_rows`: the initial training set (set-up only).
    """

    start: datetime = datetime(2026, 11, 2, tzinfo=UTC)
    hourly_predictions: tuple[int, ...] = (60, 120, 240, 180)
    batch_sizes: tuple[int, ...] = (1, 10, 100)
    batch_weights: tuple[float, ...] = (0.6, 0.25, 0.15)
    training_rows: int = 3000
    seed: int = 11

    @property
    def predictions(self) -> int:
        """Predictions the replay serves."""
        return sum(self.hourly_predictions)

    def scaled(self, factor: float) -> ReplayConfig:
        """The same replay with every hour's volume times `factor`."""
        hourly = tuple(max(1, round(count * factor)) for count in self.hourly_predictions)
        return ReplayConfig(self.start, hourly, self.batch_sizes, self.batch_weights, self.training_rows, self.seed)


class _LogBytes(logging.Handler):
    """Counts the bytes of every record logged at INFO or above, as a Lambda's log stream would carry them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.bytes = 0
        self.warn_bytes = 0  # of which at WARNING or above

    def emit(self, record: logging.LogRecord) -> None:
        extras = {key: value for key, value in record.__dict__.items() if key not in _RECORD_KEYS}
        size = len(self.format(record)) + 1 + (len(json.dumps(extras, default=str)) if extras else 0)
        self.bytes += size
        if record.levelno >= logging.WARNING:
            self.warn_bytes += size


_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


@dataclass
class _Meter:
    """Reads the emulator's counts, the thread's CPU time and the log bytes around a block."""

    emulator: Emulator
    logs: _LogBytes

    @contextlib.contextmanager
    def measure(self) -> Iterator[Usage]:
        """Yield a mapping the block's usage is written into when it ends."""
        usage: Usage = {}
        before = self.emulator.request_counts()
        cpu, wall, logged, warned = time.thread_time(), time.perf_counter(), self.logs.bytes, self.logs.warn_bytes
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            yield usage
        usage.update(_difference(self.emulator.request_counts(), before))
        usage[CPU_SECONDS] = time.thread_time() - cpu
        usage[WALL_SECONDS] = time.perf_counter() - wall
        printed = len(stdout.getvalue().encode())  # a job's stdout: its log stream has no level filter
        usage[LOG_BYTES] = float(self.logs.bytes - logged + printed)
        usage[WARN_LOG_BYTES] = float(self.logs.warn_bytes - warned + printed)
        usage[AWS_CALLS] = sum(value for name, value in usage.items() if name.endswith(":requests"))


def _difference(after: RequestCounts, before: RequestCounts) -> Usage:
    usage: Usage = {}
    for (service, operation), count in after.items():
        earlier = before.get((service, operation))
        values = {
            "requests": count.requests - (earlier.requests if earlier else 0),
            "request_bytes": count.request_bytes - (earlier.request_bytes if earlier else 0),
            "response_bytes": count.response_bytes - (earlier.response_bytes if earlier else 0),
            **{unit: value - (earlier.units.get(unit, 0.0) if earlier else 0.0) for unit, value in count.units.items()},
        }
        for what, value in values.items():
            if value:
                usage[metric(service, operation, what)] = float(value)
    return usage


@contextlib.contextmanager
def _lake_queries(meter: _Meter) -> Iterator[list[Usage]]:
    """Record the emulator counts of every lake query (`DuckDBEngine.query`) run inside the block."""
    original = DuckDBEngine.query
    queries: list[Usage] = []

    def counted(engine: DuckDBEngine, sql: str, scope: Any) -> Any:
        before = meter.emulator.request_counts()
        try:
            return original(engine, sql, scope)
        finally:
            queries.append(_difference(meter.emulator.request_counts(), before))

    DuckDBEngine.query = counted  # type: ignore[method-assign,assignment]
    try:
        yield queries
    finally:
        DuckDBEngine.query = original  # type: ignore[method-assign]


def _call_main(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(argv))
    if code != 0:
        raise RuntimeError(f"{getattr(main, '__module__', main)} exited with {code}: {buffer.getvalue()[-2000:]}")
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


class Replay:
    """One measured replay on a fresh emulator (module docstring)."""

    def __init__(self, config: ReplayConfig | None = None) -> None:
        self.config = config or ReplayConfig()
        self._rng = np.random.default_rng(self.config.seed)
        self._served: list[tuple[datetime, str, int]] = []  # (time, request id, label)
        self.observations: dict[str, list[Observation]] = {
            "serving": [],
            "etl_payloads": [],
            "etl_labels": [],
            "alerting": [],
        }
        self.runs: dict[str, Usage] = {}
        self.scans: dict[str, list[Usage]] = {}

    def run(self) -> UsageProfile:
        """Replay and return the profile."""
        emulator = Emulator(billing_units=True)
        emulator.start()
        logs = _LogBytes()
        root = logging.getLogger()
        previous_level = root.level
        root.addHandler(logs)
        root.setLevel(logging.INFO)
        try:
            with (
                threadpool_limits(1),
                patched_environ(emulator.environment()),
                tempfile.TemporaryDirectory(prefix="autoretrain-cost-") as work,
                contextlib.ExitStack() as stack,
            ):
                session = boto3.session.Session()
                resources = provision(session, prefix=f"cost{uuid.uuid4().hex[:8]}", model_name=MODEL_NAME)
                stack.callback(release, session, resources)
                stack.enter_context(patched_environ(self._environment(resources)))
                model_dir = self._setup(session, resources, Path(work))
                stack.enter_context(patched_environ({serving_handler.MODEL_DIR_ENV: str(model_dir)}))
                return self._run(session, resources, _Meter(emulator, logs))
        finally:
            root.removeHandler(logs)
            root.setLevel(previous_level)
            serving_handler.cold_start.cache_clear()
            reset_etl()
            reset_alerting()
            emulator.stop()

    def _environment(self, resources: LocalResources) -> dict[str, str]:
        return {
            **resources.environment(MODEL_NAME),
            EnvVar.CODE_VERSION.value: "autoretrain-cost",
            EnvVar.RUNBOOK_URL.value: "docs/runbook.md",
        }

    def _run(self, session: boto3.Session, resources: LocalResources, meter: _Meter) -> UsageProfile:
        reset_etl()
        reset_alerting()
        serving_handler.cold_start.cache_clear()
        s3 = session.client("s3")
        pump = S3NotificationPump(s3, resources.payload_bucket, (f"payloads/model={MODEL_NAME}/",))
        label_pump = S3NotificationPump(s3, resources.payload_bucket, (f"labels/model={MODEL_NAME}/",))
        for hour, count in enumerate(self.config.hourly_predictions):
            start = self.config.start + timedelta(hours=hour)
            self._serve_hour(start, count, meter, pump)
            self._alert(start + timedelta(hours=1), meter)
        for hour in range(len(self.config.hourly_predictions)):
            self._put_labels(s3, resources, hour, meter, label_pump)
        end = self.config.start + timedelta(hours=len(self.config.hourly_predictions))
        self._jobs(end, meter)
        return self._profile(session, resources)

    # --- set-up (not measured) ------------------------------------------------------------------------------

    def _setup(self, session: boto3.Session, resources: LocalResources, work: Path) -> Path:
        """The first champion, trained by the retrain job and promoted; returns its files as a model directory."""
        s3 = session.client("s3")
        initial = generate_churn(self.config.training_rows, seed=self.config.seed)
        buffer = io.BytesIO()
        initial.to_parquet(buffer, index=False)
        s3.put_object(
            Bucket=resources.payload_bucket, Key=f"{training_prefix(MODEL_NAME)}initial.parquet", Body=buffer.getvalue()
        )
        trained_at = self.config.start - timedelta(hours=1)
        started = time.perf_counter()
        cpu = time.thread_time()
        _call_main(
            retrain_job.main,
            ["--trigger", "initial", "--reason", "cost replay", "--now", format_timestamp(trained_at)],
        )
        self.runs["retrain_initial"] = {
            WALL_SECONDS: time.perf_counter() - started,
            CPU_SECONDS: time.thread_time() - cpu,
        }
        registry = Registry(session.client("dynamodb"), resources.registry_table)
        (record,) = registry.list_versions(MODEL_NAME)
        if registry.champion(MODEL_NAME) is None:
            registry.promote(MODEL_NAME, record.version, "cost replay: the first champion")
        model_dir = work / "model"
        model_dir.mkdir()
        prefix = model_version_prefix(MODEL_NAME, record.version)
        listing = s3.list_objects_v2(Bucket=resources.model_bucket, Prefix=prefix)
        for item in listing.get("Contents", []):
            body = s3.get_object(Bucket=resources.model_bucket, Key=item["Key"])["Body"].read()
            (model_dir / item["Key"][len(prefix) :]).write_bytes(body)
        return model_dir

    # --- measured stages --------------------------------------------------------------------------------------

    def _serve_hour(self, start: datetime, count: int, meter: _Meter, pump: S3NotificationPump) -> None:
        sizes = self._request_sizes(count)
        frame = generate_churn(count, seed=int(self._rng.integers(2**31)))
        features = feature_records(frame)
        outcomes = frame[TARGET].to_numpy()
        step = timedelta(hours=1) / max(1, len(sizes))
        offset = 0
        service = serving_handler.cold_start()
        for index, size in enumerate(sizes):
            at = start + index * step
            instances = [{"features": row} for row in features[offset : offset + size]]
            request: dict[str, Any] = {"instances": instances} if size > 1 else instances[0]
            context = SimpleNamespace(aws_request_id=str(uuid.UUID(int=int(self._rng.integers(2**63)), version=4)))
            with meter.measure() as usage:
                response = serving_handler.handle(request, context, service, at)
            if response.get("statusCode") != 200:
                raise RuntimeError(f"serving refused the replay's request: {json.dumps(response)[:500]}")
            self.observations["serving"].append(Observation(size, usage))
            for prediction, outcome in zip(response["predictions"], outcomes[offset : offset + size], strict=True):
                self._served.append((at, str(prediction["request_id"]), int(outcome)))
            offset += size
            self._deliver(pump, meter, "etl_payloads")

    def _request_sizes(self, count: int) -> list[int]:
        sizes: list[int] = []
        weights = np.array(self.config.batch_weights) / sum(self.config.batch_weights)
        while sum(sizes) < count:
            size = int(self._rng.choice(self.config.batch_sizes, p=weights))
            sizes.append(min(size, count - sum(sizes)))
        return sizes

    def _deliver(self, pump: S3NotificationPump, meter: _Meter, stage: str) -> None:
        for event in pump.new_events():
            with meter.measure() as usage:
                result = etl_handler(event, None)
            records = (
                int(result.get("loaded", 0)) + int(result.get("duplicates", 0)) + int(result.get("quarantined", 0))
            )
            self.observations[stage].append(Observation(records, usage))

    def _put_labels(
        self, s3: Any, resources: LocalResources, hour: int, meter: _Meter, pump: S3NotificationPump
    ) -> None:
        start = self.config.start + timedelta(hours=hour)
        observed = start + timedelta(days=1)
        rows = [item for item in self._served if start <= item[0] < start + timedelta(hours=1)]
        body = "".join(
            json.dumps(
                {
                    "request_id": request_id,
                    "model_name": MODEL_NAME,
                    "label": label,
                    "observed_at": format_timestamp(observed),
                }
            )
            + "\n"
            for _, request_id, label in rows
        ).encode()
        key = label_object_key(MODEL_NAME, observed, uuid.uuid4().hex)
        s3.put_object(Bucket=resources.payload_bucket, Key=key, Body=body)
        self._deliver(pump, meter, "etl_labels")

    def _alert(self, at: datetime, meter: _Meter) -> None:
        with meter.measure() as usage:
            result = alerting_handler({"scheduled_time": format_timestamp(at)}, None)
        self.observations["alerting"].append(Observation(float(result.get("rows", 0) or 0), usage))

    def _jobs(self, end: datetime, meter: _Meter) -> None:
        with meter.measure() as usage, _lake_queries(meter) as queries:
            _call_main(
                compact_lake_job.main,
                ["--now", format_timestamp(datetime.now(UTC)), "--settle-seconds", "0"],
            )
        self.runs["compact_lake"], self.scans["compact_lake"] = usage, queries
        check_at = end + timedelta(days=1, hours=3)
        with meter.measure() as usage, _lake_queries(meter) as queries:
            _call_main(
                drift_check_job.main,
                ["--now", format_timestamp(check_at), "--window-days", "2", "--label-delay-days", "1"],
            )
        self.runs["drift_check"], self.scans["drift_check"] = usage, queries
        with meter.measure() as usage, _lake_queries(meter) as queries:
            _call_main(
                retrain_job.main,
                ["--trigger", "schedule", "--reason", "cost replay", "--now", format_timestamp(check_at)],
            )
        self.runs["retrain"], self.scans["retrain"] = usage, queries

    # --- the profile ------------------------------------------------------------------------------------------

    def _profile(self, session: boto3.Session, resources: LocalResources) -> UsageProfile:
        predictions = self.config.predictions
        stages = {
            "serving": fit_stage("serving", "instances per request", self.observations["serving"]),
            "etl_payloads": fit_stage("etl_payloads", "records per object", self.observations["etl_payloads"]),
            "etl_labels": fit_stage("etl_labels", "labels per object", self.observations["etl_labels"]),
            "alerting": fit_stage("alerting", "rows read per run", self.observations["alerting"]),
        }
        for name, usage in self.runs.items():
            stages[name] = fit_stage(name, "run", [Observation(0.0, usage)])
        writer = (
            "firehose" if any(name.startswith("firehose:PutRecord") for name in stages["serving"].at(1.0)) else "s3"
        )
        description = session.client("firehose").describe_delivery_stream(DeliveryStreamName=resources.payload_stream)
        hints = description["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"][
            "BufferingHints"
        ]
        etl_bytes = sum(
            value
            for observation in self.observations["etl_payloads"]
            for name, value in observation.usage.items()
            if name.startswith("dynamodb:") and name.endswith(":item_bytes_written")
        )
        storage = self._storage(session, resources, etl_bytes / predictions)
        metrics = session.client("cloudwatch").list_metrics().get("Metrics", [])
        return UsageProfile(
            measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
            replay={
                "predictions": predictions,
                "hours": len(self.config.hourly_predictions),
                "requests": len(self.observations["serving"]),
                "payload_objects": len(self.observations["etl_payloads"]),
                "label_objects": len(self.observations["etl_labels"]),
                "alerting_runs": len(self.observations["alerting"]),
                "batch_sizes": list(self.config.batch_sizes),
            },
            payload_writer=writer,
            stages=stages,
            storage=storage,
            scans={name: _scan(queries, predictions) for name, queries in self.scans.items()},
            custom_metrics=len({json.dumps(item, sort_keys=True) for item in metrics}),
            firehose_buffer_seconds=int(hints["IntervalInSeconds"]),
            firehose_buffer_mb=int(hints["SizeInMBs"]),
        )

    def _storage(self, session: boto3.Session, resources: LocalResources, table_bytes: float) -> Storage:
        s3 = session.client("s3")
        sizes: dict[str, int] = {}
        compressed = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=resources.payload_bucket):
            for item in page.get("Contents", []):
                key, size = str(item["Key"]), int(item["Size"])
                kind = _object_kind(key)
                sizes[kind] = sizes.get(kind, 0) + size
                if kind == "raw_payloads":
                    body = s3.get_object(Bucket=resources.payload_bucket, Key=key)["Body"].read()
                    compressed += len(body) if body[:2] == b"\x1f\x8b" else len(gzip.compress(body))
        predictions = self.config.predictions
        labels = len(self._served)
        return Storage(
            raw_payload_bytes_per_prediction=sizes.get("raw_payloads", 0) / predictions,
            raw_payload_gzip_bytes_per_prediction=compressed / predictions,
            lake_bytes_per_prediction=sizes.get("lake_predictions", 0) / predictions,
            raw_label_bytes_per_label=sizes.get("raw_labels", 0) / labels,
            lake_bytes_per_label=sizes.get("lake_labels", 0) / labels,
            table_bytes_per_prediction=table_bytes,
        )


def _object_kind(key: str) -> str:
    if key.startswith("payloads/"):
        return "raw_payloads"
    if key.startswith("labels/"):
        return "raw_labels"
    if key.startswith("lake/"):
        return "lake_labels" if "/labels/" in f"/{key}" else "lake_predictions"
    return "other"


def _scan(queries: Sequence[Usage], predictions: int) -> LakeScan:
    gets = [
        sum(value for name, value in query.items() if name.startswith("s3:GetObject:response_bytes"))
        for query in queries
    ]
    requests = [
        sum(value for name, value in query.items() if name.startswith("s3:GetObject:requests")) for query in queries
    ]
    return LakeScan(
        queries=len(queries),
        bytes_per_prediction=tuple(value / predictions for value in gets),
        get_requests_per_query=float(np.mean(requests)) if requests else 0.0,
        window_predictions=predictions,
    )


def measure(config: ReplayConfig | None = None) -> UsageProfile:
    """Run one replay (module docstring) and return its profile."""
    return Replay(config).run()
