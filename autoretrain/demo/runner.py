"""The demo's local runner: the emulator, the simulated clock, and what AWS does between our functions.

Everything that decides something is the code AWS runs: the serving handler (`lambdas.serving.handler.handle`,
on the simulated clock), the payload-ETL handler, the alerting handler, the drift-check and retrain jobs'
`main`, `autoretrain rollback`, and the release pipeline's own entry points (`python -m deploy verify`
and `mark-deployed`, `python -m lambdas.serving.smoke_test`). The runner does only what AWS services would do:

- S3 -> Lambda: `autoretrain.local_runner.S3NotificationPump` hands new objects to the ETL handler (moto stores
  objects but invokes nothing);
- EventBridge Scheduler: the expressions of `core.routing.SCHEDULES` become ticks on the simulated clock
  (with the demo's alerting override, see `DemoConfig.alerting_schedule`), each invocation carrying its scheduled
  time (`{"scheduled_time": ...}` for the Lambda, `--now` for the jobs);
- EventBridge rules: one rule on the emulated bus forwards every autoretrain event to an SQS queue on the same
  emulator (moto delivers this); the runner drains the queue and routes each event with
  `core.routing.event_targets` — `RetrainRequested` runs the retrain job;
- CodePipeline + CodeBuild: a new version of `release/<m>.zip` runs the buildspec's steps that can run here
  (verify, smoke test, mark-deployed); the image build, ECR push and alias shift cannot (no Docker daemon, no
  Lambda runtime), so the local "serving alias" is the model directory the serving handler loads, switched after
  the smoke test passed and before `mark-deployed`, as the alias shift is in the buildspec.

Clients, labels and operators are simulated: traffic from `autoretrain.synthetic` (scenario in
`autoretrain.demo.scenario`), ground truth as label objects after the label delay, and the operator's actions
(a label backfill, a retrain on demand, a rollback) at their scenario times.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import os
import random
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from autoretrain.demo import accelerate
from autoretrain.demo.history import read_lake_history
from autoretrain.demo.progress import ProgressBar
from autoretrain.demo.scenario import (
    CLIENT_COLUMN,
    PROBABILITY_COLUMN,
    TARGET,
    EventKind,
    Scenario,
    feature_records,
)
from autoretrain.demo.schedule import Schedule
from autoretrain.emulator import Emulator, LocalResources, patched_environ, provision
from autoretrain.local_runner import S3NotificationPump
from autoretrain.synthetic import FEATURES, generate_churn
from batch_jobs import compact_lake as compact_lake_job
from batch_jobs import drift_check as drift_check_job
from batch_jobs import live_evaluation as live_evaluation_job
from batch_jobs import release as release_job
from batch_jobs import retrain as retrain_job
from batch_jobs.model_spec import ModelSpec
from core.artifacts import ModelManifest
from core.events import EVENT_SOURCE, NO_REGIME, DetailType
from core.layout import (
    MANIFEST_FILE,
    SAMPLE_FILE,
    PayloadPrefix,
    label_object_key,
    parse_s3_uri,
    release_object_key,
    training_prefix,
)
from core.records import REVIEWED_FIELD, format_timestamp
from core.registry import Registry
from core.release_bundle import CHAMPION_FOLDER
from core.routing import SCHEDULES, Target, event_targets
from core.settings import EnvVar
from deploy import cli as deploy_cli
from lambdas.alerting import handler as alerting_handler
from lambdas.alerting import reset_cold_start as reset_alerting
from lambdas.payload_etl import handler as etl_handler
from lambdas.payload_etl import reset_cold_start as reset_etl
from lambdas.serving import handler as serving_handler
from lambdas.serving import smoke_test

LOGGER = logging.getLogger(__name__)
MODEL_NAME = "churn"
EVENTS_QUEUE = "autoretrain-demo-events"
#: The hour (UTC) the reviewers send back the review files exported so far.
REVIEW_HOUR = 12
SERVING_FUNCTION = "autoretrain-serving (local)"
#: The smoke test's latency budget here: the buildspec's 100 ms is for the Lambda image on its own CPU; this
#: machine also runs the emulator and every job in one process, so a busy moment must not fail a release.
SMOKE_LATENCY_BUDGET_MS = 1000


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What a demo run replays.

    - `daily_volume` (480): predictions a day on average (Poisson per hour, ±30 % daily cycle).
    - `label_delay_days` (7, the system's default): a prediction's label arrives this long after it was served
      (delivered as one label object a day).
    - `alerting_schedule` ("rate(10 minutes)", production's), `alert_history_days` (3): the alerting schedule (its
      interval is also the shortest alerting window, `AUTORETRAIN_ALERT_WINDOW_MINUTES`) and the volume history the
      demo uses (production compares with 7 days; 3 keeps each run to a handful of emulator requests). A run reads
      the aggregates the ETL wrote, never records, and widens its window until it holds enough predictions.
    - `serving_interval_hours` (3): clients' requests arrive as one batch (one serving invocation, one Firehose
      `PutRecordBatch`: moto's Firehose writes it as one payload object at once) per this many hours, to keep
      the replay's ETL runs few.
    - `initial_rows` (8,000): the initial training set.
    - `compaction_schedule` ("cron(30 2 * * ? *)"): the lake's compaction, daily before the drift check, where infra
      runs it hourly (`infra.job_specs.MAINTENANCE_SCHEDULES`): the demo's ETL writes a few part files an hour, and
      a day's worth merged once a day keeps the jobs' reads to a file or two a day; 2,160 hourly runs would cost
      more than they save.
    - `decision_threshold` (0.3): the model spec's threshold, passed to the retrain job as its configuration, so
      every version of the replay decides at the same score. Unset, the job would choose one per training set
      (labelling as many rows positive as the training labels hold, from out-of-fold scores: five extra fits per
      retrain); 0.3 is close to what that rule picks on this data.
    - `control_share` (0.2): the clients in the business-impact control group, answered with the model's heuristic
      (the training base rate: nobody targeted); `retention_uplift` (0): the share of the churners the model's
      targeting (a label 1 answered to a client) retains, the effect the control group measures. The default
      replay takes no action on a prediction, so the model cannot change an outcome and the control group must find
      no difference: an action that does change outcomes also changes the labels monitoring and retraining learn
      from (a retained churner reads as a false alarm of the model), which this system does not yet correct for
      (docs/design.md); 0.3 shows the measurement, with monitoring misled by it.
    - `review_share` (0.2), stratified at the decision threshold with the top stratum (`review_top_share`, 0.3,
      of the traffic) reviewed 4 times as often per prediction: production's 5 % of 480 predictions a day would
      take two weeks to reach the reviewed estimate's floor of 200 labels; reviewers answer the same day.
    - `shadow_releases` (on): a scheduled, drift or on-demand release serves in shadow first, for at least
      `shadow_min_days` (3) and `shadow_min_requests` (1,000), and until the gate's label floors are met.
    """

    days: int = 90
    seed: int = 7
    daily_volume: int = 480
    label_delay_days: int = 7
    alerting_schedule: str = "rate(10 minutes)"
    alert_history_days: int = 3
    serving_interval_hours: int = 3
    compaction_schedule: str = "cron(30 2 * * ? *)"
    initial_rows: int = 8000
    decision_threshold: float = 0.3
    control_share: float = 0.2
    retention_uplift: float = 0.0
    review_share: float = 0.2
    review_top_share: float = 0.3
    shadow_releases: bool = True
    shadow_min_days: int = 3
    shadow_min_requests: int = 1000
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


@dataclass
class DemoLog:
    """What happened, in simulated time (JSON-ready dictionaries)."""

    drift_checks: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alerting_runs: list[dict[str, Any]] = field(default_factory=list)
    retrains: list[dict[str, Any]] = field(default_factory=list)
    deploys: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    shadows: list[dict[str, Any]] = field(default_factory=list)
    live_evaluations: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    emulator_requests: int = 0
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # read back from the lake at the end


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


#: The collector's thresholds during a replay (CPython's default: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


@contextlib.contextmanager
def _collected_less_often() -> Iterator[None]:
    """Collect cyclic garbage less often: this process keeps every job's modules and results, and moto's emulated
    account, alive at once, where a Lambda or job keeps one's, so each collection walks far more objects (at
    CPython's default thresholds about a tenth of the replay's CPU time, measured). Only when cyclic garbage is
    freed changes."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _call_main(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run an entry point's `main(argv)`, returning its exit code and the JSON lines it printed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(list(argv))
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    return code, lines


class DemoRunner:
    """One replay on a fresh emulator (see the module docstring)."""

    def __init__(self, config: DemoConfig, out_dir: Path, progress: ProgressBar | None = None) -> None:
        self.config = config
        self.out_dir = out_dir
        self.scenario = Scenario.scaled(
            start=config.start,
            days=config.days,
            seed=config.seed,
            daily_volume=config.daily_volume,
            label_delay_days=config.label_delay_days,
        )
        self.scenario = replace(self.scenario, retention_uplift=config.retention_uplift)
        self.progress = progress
        self.log = DemoLog()
        self._ids = random.Random(config.seed)  # noqa: S311  # deterministic invocation ids, not security
        self._served: list[pd.DataFrame] = []
        self._deploy_count = 0
        self._deployed_release: str | None = None
        self._pending_retrains: list[dict[str, Any]] = []
        self._reviewed_files: set[str] = set()
        self._alerting_window = Schedule.parse(config.alerting_schedule).every or timedelta(hours=1)

    # --- set-up ---------------------------------------------------------------------------------------------

    def _environment(self, resources: LocalResources) -> dict[str, str]:
        minutes = int(self._alerting_window.total_seconds() // 60)
        return {
            **resources.environment(MODEL_NAME, payload_retention_days=max(60, 4 * self.config.label_delay_days)),
            EnvVar.LABEL_DELAY_DAYS.value: str(self.config.label_delay_days),
            EnvVar.CODE_VERSION.value: "autoretrain-demo",
            EnvVar.SERVING_FUNCTION.value: SERVING_FUNCTION,
            EnvVar.SERVING_ALIAS.value: "live",
            EnvVar.ALERT_WINDOW_MINUTES.value: str(minutes),
            EnvVar.ALERT_HISTORY_DAYS.value: str(self.config.alert_history_days),
            EnvVar.RUNBOOK_URL.value: "docs/runbook.md",
            EnvVar.CONTROL_SHARE.value: repr(self.config.control_share),
            EnvVar.REVIEW_SHARE.value: repr(self.config.review_share),
            EnvVar.REVIEW_SCORE_CUT.value: repr(self.config.decision_threshold),
            EnvVar.REVIEW_TOP_SHARE.value: repr(self.config.review_top_share),
            EnvVar.SHADOW_RELEASES.value: "true" if self.config.shadow_releases else "false",
            EnvVar.SHADOW_MIN_DAYS.value: str(self.config.shadow_min_days),
            EnvVar.SHADOW_MIN_REQUESTS.value: str(self.config.shadow_min_requests),
        }

    def run(self) -> DemoLog:
        """Replay the whole scenario; return the log.

        BLAS and OpenMP pools are held to one thread: every job shares this one process (and, in `make test`, the
        machine), where their pools only contend; one thread also keeps the replay's numbers the same on any machine.
        The garbage collector runs less often (`_collected_less_often`).
        """
        with threadpool_limits(1), _collected_less_often():
            return self._run()

    def _run(self) -> DemoLog:
        emulator = Emulator()
        emulator.start()
        try:
            with patched_environ(emulator.environment()):
                session = boto3.session.Session()
                resources = provision(session)
                accelerate.install([resources.payload_table, resources.registry_table])
                with (
                    patched_environ(self._environment(resources)),
                    tempfile.TemporaryDirectory(prefix="autoretrain-demo-") as work,
                ):
                    self._work = Path(work)
                    self._setup(session, resources)
                    self._replay()
                    self._finish()
                self.log.emulator_requests = emulator.requests
        finally:
            emulator.stop()
        return self.log

    def _setup(self, session: boto3.session.Session, resources: LocalResources) -> None:
        reset_etl()
        reset_alerting()
        serving_handler.cold_start.cache_clear()
        self.resources = resources
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.registry = Registry(session.client("dynamodb"), resources.registry_table)
        events = session.client("events")
        self.queue_url = self.sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="autoretrain-demo-all-events",
            EventBusName=resources.event_bus,
            EventPattern=json.dumps({"source": [EVENT_SOURCE]}),
        )
        events.put_targets(
            Rule="autoretrain-demo-all-events",
            EventBusName=resources.event_bus,
            Targets=[{"Id": "runner-queue", "Arn": queue_arn}],
        )
        initial = generate_churn(self.config.initial_rows, seed=_seed(self.config.seed, 0))
        buffer = io.BytesIO()
        initial.to_parquet(buffer, index=False)
        self.s3.put_object(
            Bucket=resources.payload_bucket, Key=f"{training_prefix(MODEL_NAME)}initial.parquet", Body=buffer.getvalue()
        )
        self._retrain(self.config.start - timedelta(hours=1), "initial", "the first champion, on the initial set")
        if not self.log.deploys or "failed" in self.log.deploys[-1]:
            raise RuntimeError(
                f"the initial model was not released and deployed: {self.log.retrains} {self.log.deploys}"
            )

    # --- the clock ------------------------------------------------------------------------------------------

    def _schedules(self) -> dict[Target, Schedule]:
        schedules: dict[Target, Schedule] = {}
        for route in SCHEDULES:
            expression = self.config.alerting_schedule if route.target is Target.ALERTING_FUNCTION else None
            schedules[route.target] = Schedule.parse(expression or route.default_expression)
        return schedules

    def _replay(self) -> None:
        scenario = self.scenario
        schedules = self._schedules()
        operator = [
            (scenario.backfill_at, 1, self._faulty_label_backfill),
            (scenario.on_demand_retrain_at, 1, self._on_demand_retrain),
            (scenario.repair_at, 1, self._label_repair),
            (scenario.rollback_at, 1, self._rollback),
        ]
        # Every schedule's ticks over the whole replay (a rate is anchored at the replay's start), by hour.
        ticks: dict[datetime, list[tuple[datetime, int, Callable[[datetime], None]]]] = {}
        targets: tuple[tuple[Target, int, Callable[[datetime], None]], ...] = (
            (Target.ALERTING_FUNCTION, 2, self._alerting),
            (Target.DRIFT_CHECK_JOB, 3, self._drift_check),
            (Target.RETRAIN_JOB, 4, self._scheduled_retrain),
            (Target.LIVE_EVALUATION_JOB, 3, self._live_evaluation),
        )
        timed = [(schedules[target], order, invoke) for target, order, invoke in targets]
        timed.append((Schedule.parse(self.config.compaction_schedule), 3, self._compact_lake))
        for schedule, order, invoke in timed:
            for tick in schedule.ticks(scenario.start, scenario.end):
                ticks.setdefault(tick.replace(minute=0, second=0, microsecond=0), []).append((tick, order, invoke))
        bucket = self.resources.payload_bucket
        # Firehose's keys carry its own arrival time (moto's: the wall clock), not the replay's: one pump for all.
        self._payload_pump = S3NotificationPump(self.s3, bucket, (f"payloads/model={MODEL_NAME}/",))
        for day in range(self.config.days):
            day_start = scenario.day(day)
            self._label_pump = S3NotificationPump(
                self.s3, bucket, (f"labels/model={MODEL_NAME}/dt={day_start:%Y-%m-%d}/",)
            )
            for hour in range(24):
                start = day_start + timedelta(hours=hour)
                end = start + timedelta(hours=1)
                actions: list[tuple[datetime, int, Callable[[datetime], None]]] = []
                if hour == 0:
                    actions.append((start, 0, self._deliver_matured_labels))
                if hour == REVIEW_HOUR:
                    actions.append((start, 1, self._review))
                actions.extend(ticks.get(start, []))
                actions.extend(action for action in operator if start <= action[0] < end)
                if hour % self.config.serving_interval_hours == 0:
                    middle = timedelta(minutes=30 * self.config.serving_interval_hours)
                    actions.append((start + middle, 5, self._serve_batch))
                for at, _, action in sorted(actions, key=lambda item: (item[0], item[1])):
                    started = time.perf_counter()
                    action(at)
                    name = getattr(action, "__name__", "operator").lstrip("_")
                    self.log.timings[name] = self.log.timings.get(name, 0.0) + time.perf_counter() - started
                if self.progress is not None and hour % 6 == 5:
                    self.progress.update(day, self._note())
            if self.progress is not None:
                self.progress.update(day + 1, self._note())

    def _note(self) -> str:
        deployed = [deploy["version"] for deploy in self.log.deploys if "failed" not in deploy]
        firing = sum(1 for alert in self.log.alerts if alert["status"] == "firing")
        serving = deployed[-1] if deployed else "-"
        return f"serving {serving}; {len(self.log.retrains)} retrains, {firing} alerts"

    # --- traffic ----------------------------------------------------------------------------------------------

    def _context(self) -> SimpleNamespace:
        return SimpleNamespace(aws_request_id=str(uuid.UUID(int=self._ids.getrandbits(128), version=4)))

    def _serve_batch(self, at: datetime) -> None:
        hour_index = int((at - self.config.start).total_seconds() // 3600)
        rng = np.random.default_rng(_seed(self.config.seed, 1, hour_index))
        count = self.scenario.batch_count(at, rng, self.config.serving_interval_hours)
        if count == 0:
            return
        frame = self.scenario.traffic(at, count, _seed(self.config.seed, 2, hour_index))
        request = {
            "instances": [
                {"client_id": client, "features": features}
                for client, features in zip(frame[CLIENT_COLUMN], feature_records(frame), strict=True)
            ]
        }
        response = serving_handler.handle(request, self._context(), serving_handler.cold_start(), at)
        if response.get("statusCode") != 200:
            raise RuntimeError(f"serving refused the demo's traffic: {json.dumps(response)[:500]}")
        predictions = response["predictions"]
        answered = np.array([p["label"] for p in predictions], dtype=np.int64)
        untreated = frame[TARGET].to_numpy()
        self._served.append(
            pd.DataFrame(
                {
                    "request_id": [p["request_id"] for p in predictions],
                    "served_at": at,
                    "client_id": frame[CLIENT_COLUMN].to_numpy(),
                    "arm": [p.get("arm") for p in predictions],
                    "answered": answered,
                    "score": [p["score"] for p in predictions],  # the heuristic's, for a control-arm client
                    "predicted": answered,
                    "model_version": [p["model_version"] for p in predictions],
                    "true_probability": frame[PROBABILITY_COLUMN].to_numpy(),
                    "untreated_label": untreated,
                    "label": self.scenario.retained(answered == 1, untreated, _seed(self.config.seed, 3, hour_index)),
                }
            )
        )
        self._deliver_objects(self._payload_pump, at)

    @staticmethod
    def _deliver_objects(pump: S3NotificationPump, at: datetime) -> None:
        """What S3's event notification to the ETL Lambda does, for every new object under the pump's prefixes
        (stored at `at` on the replay's clock)."""
        for event in pump.new_events(at):
            etl_handler(event, None)

    def _served_frame(self) -> pd.DataFrame:
        if len(self._served) > 1:
            self._served = [pd.concat(self._served, ignore_index=True)]
        return self._served[0] if self._served else pd.DataFrame()

    def _put_labels(
        self, at: datetime, rows: pd.DataFrame, labels: np.ndarray[Any, Any], *, reviewed: bool = False
    ) -> None:
        observed = format_timestamp(at)
        marked = {REVIEWED_FIELD: True} if reviewed else {}
        body = "".join(
            json.dumps(
                {
                    "request_id": request_id,
                    "model_name": MODEL_NAME,
                    "label": int(label),
                    "observed_at": observed,
                    **marked,
                }
            )
            + "\n"
            for request_id, label in zip(rows["request_id"], labels, strict=True)
        )
        object_id = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
        self.s3.put_object(
            Bucket=self.resources.payload_bucket, Key=label_object_key(MODEL_NAME, at, object_id), Body=body.encode()
        )
        self._deliver_objects(self._label_pump, at)

    def _deliver_matured_labels(self, at: datetime) -> None:
        """Ground truth for the predictions served on the day `label_delay_days` ago, as one label object."""
        served = self._served_frame()
        if served.empty:
            return
        first = at - timedelta(days=self.config.label_delay_days + 1)
        rows = served.loc[(served["served_at"] >= first) & (served["served_at"] < first + timedelta(days=1))]
        if len(rows):
            self._put_labels(at, rows, rows["label"].to_numpy())

    def _review(self, at: datetime) -> None:
        """The reviewers: each review file the live evaluation exported that nobody has reviewed yet comes back with
        its outcomes (the simulated truth) as a label object marked reviewed."""
        listed = self.s3.list_objects_v2(
            Bucket=self.resources.payload_bucket, Prefix=f"{PayloadPrefix.REVIEW.value}model={MODEL_NAME}/"
        ).get("Contents", [])
        served = self._served_frame()
        for item in listed:
            key = str(item["Key"])
            if key in self._reviewed_files or served.empty:
                continue
            self._reviewed_files.add(key)
            body = self.s3.get_object(Bucket=self.resources.payload_bucket, Key=key)["Body"].read()
            sample = pd.read_csv(io.BytesIO(body), usecols=["request_id"], dtype={"request_id": str})
            rows = served.loc[served["request_id"].isin(sample["request_id"])]
            if len(rows):
                self._put_labels(at, rows, rows["label"].to_numpy(), reviewed=True)
            self.log.reviews.append({"at": at.isoformat(), "file": key, "sampled": len(sample), "reviewed": len(rows)})

    def _faulty_label_backfill(self, at: datetime) -> None:
        self._write_labels_for_span(at, flipped=True)

    def _label_repair(self, at: datetime) -> None:
        self._write_labels_for_span(at, flipped=False)

    def _write_labels_for_span(self, at: datetime, *, flipped: bool) -> None:
        """The operator's label backfill over the scenario's span: flipped (the bug) or correct (the repair)."""
        served = self._served_frame()
        span_start, span_end = self.scenario.corrupted_span
        rows = served.loc[(served["served_at"] >= span_start) & (served["served_at"] < span_end)]
        labels = rows["label"].to_numpy()
        self._put_labels(at, rows, 1 - labels if flipped else labels)
        self.log.events.append(
            {
                "at": at.isoformat(),
                "kind": "label_backfill",
                "detail": {
                    "flipped": flipped,
                    "labels": len(rows),
                    "span": [span_start.isoformat(), span_end.isoformat()],
                },
            }
        )

    # --- scheduled targets ----------------------------------------------------------------------------------

    def _alerting(self, at: datetime) -> None:
        result = alerting_handler({"scheduled_time": format_timestamp(at)}, None)
        signals = result.get("signals", [])
        firing = [s["signal"] for s in signals if s["verdict"] == "firing"]
        self.log.alerting_runs.append({"at": at.isoformat(), "rows": result.get("rows", 0), "firing": firing})
        if any(str(s.get("action", "")).startswith("sent_") for s in signals):  # a run that sent nothing put no event
            self._route_events(at)

    def _drift_check(self, at: datetime) -> None:
        code, lines = _call_main(drift_check_job.main, ["--now", format_timestamp(at)])
        summary = lines[-1] if lines else {}
        entry: dict[str, Any] = {"at": at.isoformat(), "exit_code": code, **summary}
        if summary.get("result_uri"):
            entry["result"] = self._drift_result(str(summary["result_uri"]))
        self.log.drift_checks.append(entry)
        self._route_events(at)

    def _live_evaluation(self, at: datetime) -> None:
        code, lines = _call_main(live_evaluation_job.main, ["--now", format_timestamp(at)])
        summary = lines[-1] if lines else {}
        entry: dict[str, Any] = {"at": at.isoformat(), "exit_code": code, **summary}
        if summary.get("result_uri"):
            entry["result"] = self._drift_result(str(summary["result_uri"]))
        self.log.live_evaluations.append(entry)
        self._route_events(at)
        self._run_pipeline_if_released(at)  # a shadow's promotion or end re-releases

    def _compact_lake(self, at: datetime) -> None:
        del at  # S3 dates the part files by the real clock, so the compaction judges their age by it too
        code, _ = _call_main(
            compact_lake_job.main, ["--now", format_timestamp(datetime.now(UTC)), "--settle-seconds", "0"]
        )
        if code != 0:
            raise RuntimeError(f"the lake's compaction failed (exit code {code})")

    def _drift_result(self, result_uri: str) -> dict[str, Any]:
        bucket, key = parse_s3_uri(result_uri)
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        document: dict[str, Any] = json.loads(body)
        return document

    def _scheduled_retrain(self, at: datetime) -> None:
        self._retrain(at, "schedule", "weekly proactive retrain")

    def _on_demand_retrain(self, at: datetime) -> None:
        self._retrain(at, "on_demand", "operator: retrain after the label backfill")

    def _timed(self, name: str, started: float) -> None:
        self.log.timings[name] = self.log.timings.get(name, 0.0) + time.perf_counter() - started

    def _retrain(self, at: datetime, trigger: str, reason: str, regime_start: str = NO_REGIME) -> None:
        started = time.perf_counter()

        config = retrain_job.RetrainConfig(spec=ModelSpec(decision_threshold=self.config.decision_threshold))
        code, lines = _call_main(
            lambda argv: retrain_job.main(argv, config=config),
            ["--trigger", trigger, "--reason", reason, "--now", format_timestamp(at), "--regime-start", regime_start],
        )
        result = lines[-1] if lines else {}
        self.log.retrains.append(
            {"at": at.isoformat(), "trigger": trigger, "reason": reason, "exit_code": code, **result}
        )
        self._timed("retrain_job (within the above)", started)
        self._route_events(at)
        self._run_pipeline_if_released(at)

    def _rollback(self, at: datetime) -> None:
        champion = self.registry.champion(MODEL_NAME)
        previous = [deploy for deploy in self.log.deploys if champion is None or deploy["version"] != champion.version]
        if not previous:
            self.log.rollbacks.append({"at": at.isoformat(), "refused": "no earlier deployed version"})
            return
        target = previous[-1]["version"]
        reason = "operator: roll back to the previous champion"
        code, lines = _call_main(release_job.main, ["--to", target, "--reason", reason])
        self.log.rollbacks.append(
            {
                "at": at.isoformat(),
                "to_version": target,
                "from_version": champion.version if champion else None,
                "exit_code": code,
                **(lines[-1] if lines else {}),
            }
        )
        self._route_events(at)
        self._run_pipeline_if_released(at)

    # --- EventBridge rules ----------------------------------------------------------------------------------

    def _drain(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            received.extend(json.loads(message["Body"]) for message in messages)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def _route_events(self, at: datetime) -> None:
        """Deliver every published event to its routes' targets; retrain requests run after the drain."""
        for event in self._drain():
            kind, detail = event["detail-type"], event["detail"]
            targets = [target.value for target in event_targets(event)]
            self.log.events.append({"at": at.isoformat(), "kind": kind, "targets": targets, "detail": detail})
            if kind == DetailType.ALERT_RAISED.value:
                self.log.alerts.append(
                    {
                        "at": at.isoformat(),
                        "signal": detail.get("signal"),
                        "status": detail.get("status"),
                        "reminder": bool(detail.get("reminder")),
                        "severity": detail.get("severity"),
                        "summary": detail.get("summary"),
                    }
                )
            if Target.RETRAIN_JOB.value in targets:
                self._pending_retrains.append(detail)
        while self._pending_retrains:
            detail = self._pending_retrains.pop(0)
            self._retrain(
                at + timedelta(minutes=5),
                str(detail.get("trigger", "on_demand")),
                str(detail.get("reason", "")),
                str(detail.get("regime_start", NO_REGIME)),
            )

    # --- CodePipeline ---------------------------------------------------------------------------------------

    def _run_pipeline_if_released(self, at: datetime) -> None:
        head = self.s3.head_object(Bucket=self.resources.model_bucket, Key=release_object_key(MODEL_NAME))
        version_id = str(head.get("VersionId"))
        if version_id != self._deployed_release:
            self._deploy(at, version_id)

    def _deploy(self, at: datetime, release_version_id: str) -> None:
        """The buildspec's steps that run without Docker and Lambda: verify, smoke test, alias, mark-deployed."""
        started = time.perf_counter()
        self._deploy_count += 1
        build = self._work / f"build-{self._deploy_count}"
        release_dir, model_dir, shadow_dir = build / "release", build / "model", build / "shadow"
        body = self.s3.get_object(
            Bucket=self.resources.model_bucket, Key=release_object_key(MODEL_NAME), VersionId=release_version_id
        )["Body"].read()
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            archive.extractall(release_dir)
        env_file = build / "release.env"
        code, lines = _call_main(
            deploy_cli.main,
            [
                "verify",
                "--release-dir", str(release_dir),
                "--model-dir", str(model_dir),
                "--shadow-dir", str(shadow_dir),
                "--env-file", str(env_file),
            ],
        )  # fmt: skip
        record: dict[str, Any] = {"at": at.isoformat(), "release_s3_version_id": release_version_id, "verify": code}
        self._deployed_release = release_version_id  # a refused release is not retried
        if code != 0:
            self.log.deploys.append({**record, "failed": "verify", "detail": lines})
            return
        verified = lines[-1]
        version, sha256 = str(verified["version"]), str(verified["sha256"])
        shadow_of = str(verified.get("shadow_of") or "")
        tested = [(shadow_dir, release_dir, sha256, version)] if shadow_of else []
        tested.insert(0, (model_dir, release_dir / (CHAMPION_FOLDER if shadow_of else ""), "", ""))
        for directory, sample_dir, expected_sha, expected_version in tested:
            manifest = ModelManifest.loads((directory / MANIFEST_FILE).read_bytes())
            code, lines = _call_main(
                smoke_test.main,
                [
                    "--model-dir", str(directory),
                    "--sample", str(sample_dir / SAMPLE_FILE),
                    "--expected-sha256", expected_sha or manifest.artifact_sha256,
                    "--expected-version", expected_version or manifest.model_version,
                    "--latency-budget-ms", str(SMOKE_LATENCY_BUDGET_MS),
                    "--repeats", "20",
                ],
            )  # fmt: skip
            record.update(version=version, trigger=verified.get("trigger"), smoke_test=lines[-1] if lines else {})
            if code != 0:
                self.log.deploys.append({**record, "failed": "smoke_test"})
                return
        previous_dir = os.environ.get(serving_handler.MODEL_DIR_ENV)
        os.environ[serving_handler.MODEL_DIR_ENV] = str(model_dir)  # the local serving alias now points at this model
        if shadow_of:
            os.environ[EnvVar.SHADOW_DIR.value] = str(shadow_dir)  # ... and scores the release in shadow
        else:
            os.environ.pop(EnvVar.SHADOW_DIR.value, None)
        serving_handler.cold_start.cache_clear()
        state = build / "deploy-state.json"
        state.write_text(
            json.dumps(
                {
                    "function_version": str(self._deploy_count),
                    "previous_function_version": str(self._deploy_count - 1) if previous_dir else None,
                    "image_uri": f"local:{model_dir}",
                    "mode": "local",
                }
            )
        )
        code, lines = _call_main(
            deploy_cli.main,
            [
                "mark-deployed", "--version", version, "--state-file", str(state),
                "--shadow-of", shadow_of, "--now", format_timestamp(at),
            ],
        )  # fmt: skip
        record.update(mark_deployed=code, previous_version=(lines[-1] if lines else {}).get("previous_version"))
        if shadow_of:
            self.log.shadows.append({**record, "shadow_of": shadow_of})
        else:
            self.log.deploys.append(record)
        self._timed("release_pipeline (within the above)", started)
        self._route_events(at)

    # --- the end --------------------------------------------------------------------------------------------

    def _finish(self) -> None:
        self.log.predictions = self._served_frame()
        self.log.history = read_lake_history(MODEL_NAME, self.scenario.start, self.scenario.end)
        self.log.versions = [
            {
                "version": record.version,
                "status": record.status.value,
                "trigger": record.trigger.value,
                "created_at": record.created_at.isoformat(),
                "train_rows": record.train_rows,
                "gate_passed": record.gate_passed,
                "gate_reasons": list(record.gate_reasons),
                "challenger_metrics": dict(record.challenger_metrics),
                "champion_metrics": dict(record.champion_metrics),
                "window": dict(record.evidence.get("window", {})).get("name"),
            }
            for record in sorted(self.registry.list_versions(MODEL_NAME), key=lambda r: (r.created_at, r.version))
        ]


__all__ = ["FEATURES", "DemoConfig", "DemoLog", "DemoRunner", "EventKind"]
