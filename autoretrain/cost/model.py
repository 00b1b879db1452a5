"""The cost model: a measured usage profile x the stack's inventory x the price table -> a month's cost per service.
Pure (no AWS, no clock): `estimate` is what `autoretrain cost` prints and what the unit tests check.

A day at N predictions (M labels):

- serving: N / `instances_per_request` invocations, each the serving stage's usage at that many instances;
- payload objects: with Firehose, one object per buffer interval that saw traffic (at most one per invocation) or
  per `buffer MB` of records, whichever gives more (moto writes one object per `PutRecordBatch`; AWS does not);
  without it (serving's own `PutObject`), one per invocation. The ETL runs once per object, its usage at N / objects
  records;
- labels: M labels in `label_objects_per_day` objects, the ETL's label usage at M / objects labels each;
- alerting: the schedule's runs, each reading the predictions of its shortest window (N x window / day);
- jobs (Fargate): the schedules' runs; each run's seconds are the Fargate start-up plus the measured run scaled by
  the rows it reads (drift check and retrain: their window's predictions up to the sample cap; the compaction: the
  part files an hour of traffic leaves), billed per second with a one-minute minimum; Athena scans each measured
  query's bytes per prediction times the predictions in its window, at least 10 MB a query;
- storage at steady state: raw objects and lake files for the object retention, DynamoDB items for the table's TTL,
  logs for the log retention;
- fixed: alarms, dashboards, KMS keys, custom metrics, and a release (CodeBuild + CodePipeline) per scheduled retrain.

Lambda duration is an estimate: the handler thread's CPU seconds measured here, times `cpu_factor` and times
1769 / memory below 1,769 MB (Lambda gives a full vCPU at 1,769 MB, proportionally less below), plus
`call_latency_seconds` for each AWS call it makes. The "monitoring and retraining overhead" is everything but the
serving function's own compute (its requests and its duration, less the time it waits on payload logging).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from autoretrain.cost.prices import CODEBUILD_COMPUTE, PRICES, Price
from autoretrain.cost.stack import StackInventory
from autoretrain.cost.usage import (
    AWS_CALLS,
    CPU_SECONDS,
    LOG_BYTES,
    WALL_SECONDS,
    WARN_LOG_BYTES,
    LakeScan,
    Usage,
    UsageProfile,
    add,
    operations,
    scaled,
)

HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GB = 1024**3
MB = 1024**2
TB = 1024**4
#: Athena bills at least 10 MB a query.
ATHENA_MIN_BYTES = 10 * MB
#: Firehose bills each record's bytes rounded up to 5 KB.
FIREHOSE_INCREMENT = 5 * 1024
#: Lambda allocates one full vCPU at 1,769 MB.
LAMBDA_FULL_VCPU_MB = 1769
FARGATE_MIN_SECONDS = 60
#: S3 request classes (DELETE is free).
S3_TIER1 = ("Put", "Copy", "Post", "List", "Create", "Complete", "Upload")
S3_FREE = ("Delete",)
TARGETS = ((10_000, 15.0), (10_000_000, 200.0))


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What the estimate assumes beyond the measurement and the stack (each printed with the table)."""

    predictions_per_day: float
    labels_per_day: float | None = None  # default: every prediction gets a label
    instances_per_request: float = 1.0
    label_objects_per_day: float = 24.0
    call_latency_seconds: float = 0.010
    cpu_factor: float = 1.0
    fargate_startup_seconds: float = 60.0
    build_minutes: float = 15.0
    releases_per_retrain: float = 1.0
    lambda_platform_log_bytes: float = 300.0
    build_log_bytes: float = 200_000.0
    alert_publishes_per_day: float = 1.0

    @property
    def labels(self) -> float:
        """Labels a day."""
        return self.predictions_per_day if self.labels_per_day is None else self.labels_per_day


@dataclass(frozen=True, slots=True)
class CostLine:
    """One service's monthly cost: `quantity` `unit` at `usd`; `overhead`: part of the monitoring and retraining
    overhead (everything but the serving function's own compute)."""

    service: str
    item: str
    quantity: float
    unit: str
    usd: float
    overhead: bool = True


@dataclass(frozen=True, slots=True)
class Estimate:
    """A month at one traffic level."""

    assumptions: Assumptions
    lines: tuple[CostLine, ...]
    facts: Mapping[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """The month's total."""
        return sum(line.usd for line in self.lines)

    @property
    def overhead(self) -> float:
        """The month's monitoring and retraining overhead."""
        return sum(line.usd for line in self.lines if line.overhead)

    def by_service(self) -> dict[str, float]:
        """Monthly USD per service, largest first."""
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.usd
        return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _lambda_seconds(usage: Mapping[str, float], memory_mb: int, assumptions: Assumptions) -> tuple[float, float]:
    """(compute seconds, waiting seconds) of a usage's Lambda duration (module docstring)."""
    slowdown = assumptions.cpu_factor * max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)
    return usage.get(CPU_SECONDS, 0.0) * slowdown, usage.get(AWS_CALLS, 0.0) * assumptions.call_latency_seconds


def payload_objects_per_day(
    profile: UsageProfile, inventory: StackInventory, invocations: float, record_bytes: float
) -> float:
    """Objects the payload stream (or serving) writes a day (module docstring)."""
    if profile.payload_writer != "firehose":
        return invocations
    seconds = inventory.firehose_buffer_seconds or profile.firehose_buffer_seconds
    size_mb = inventory.firehose_buffer_mb or profile.firehose_buffer_mb
    by_time = min(invocations, 86_400 / seconds)
    by_size = record_bytes / (size_mb * MB)
    return max(by_time, by_size, 1.0 if invocations else 0.0)


def firehose_billed_bytes(profile: UsageProfile, instances_per_request: float) -> float:
    """Firehose's billed bytes of one serving invocation: its records (as measured at that many instances), each
    rounded up to 5 KB (a straight-line fit of the rounded bytes would blur the steps)."""
    serving = profile.stages["serving"].at(instances_per_request)
    records = serving.get("firehose:PutRecordBatch:records", 0.0) + serving.get("firehose:PutRecord:records", 0.0)
    size = serving.get("firehose:PutRecordBatch:record_bytes", 0.0) + serving.get(
        "firehose:PutRecord:record_bytes", 0.0
    )
    if records <= 0:
        return 0.0
    return records * math.ceil(size / records / FIREHOSE_INCREMENT) * FIREHOSE_INCREMENT


def _scan_usd(scan: LakeScan, window_predictions: float, prices: Mapping[str, Price]) -> tuple[float, float]:
    """(bytes scanned, USD) of one run's queries over a window of that many predictions."""
    scanned = [
        max(ATHENA_MIN_BYTES, per_prediction * window_predictions) for per_prediction in scan.bytes_per_prediction
    ]
    total = sum(scanned)
    return total, total / TB * prices["athena_tb_scanned"].usd


@dataclass
class _Day:
    """Usage of one day, by stage."""

    stages: dict[str, Usage] = field(default_factory=dict)
    invocations: dict[str, float] = field(default_factory=dict)


def _daily_usage(
    profile: UsageProfile, inventory: StackInventory, assumptions: Assumptions
) -> tuple[_Day, dict[str, float]]:
    n = assumptions.predictions_per_day
    day = _Day()
    invocations = n / assumptions.instances_per_request
    serving = profile.stages["serving"].at(assumptions.instances_per_request)
    day.stages["serving"] = scaled(serving, invocations)
    day.invocations["serving"] = invocations
    record_bytes = day.stages["serving"].get("firehose:PutRecordBatch:record_bytes", 0.0)
    objects = payload_objects_per_day(profile, inventory, invocations, record_bytes)
    day.stages["etl_payloads"] = scaled(profile.stages["etl_payloads"].at(n / objects), objects) if objects else {}
    label_objects = assumptions.label_objects_per_day if assumptions.labels else 0.0
    if label_objects:
        per_object = assumptions.labels / label_objects
        day.stages["etl_labels"] = scaled(profile.stages["etl_labels"].at(per_object), label_objects)
    day.invocations["etl"] = objects + label_objects
    runs = inventory.alerting_runs_per_day
    rows = n * inventory.alert_window_minutes / 1440
    day.stages["alerting"] = scaled(profile.stages["alerting"].at(rows), runs)
    day.invocations["alerting"] = runs
    for stage, job in (("drift_check", "drift-check"), ("retrain", "retrain"), ("compact_lake", "compact-lake")):
        if stage in profile.stages:
            day.stages[stage] = scaled(profile.stages[stage].at(0.0), inventory.job_runs_per_day.get(job, 0.0))
    facts = {
        "serving invocations/day": invocations,
        "payload objects/day": objects,
        "records per payload object": n / objects if objects else 0.0,
        "label objects/day": label_objects,
        "alerting rows per run": rows,
    }
    return day, facts


def _s3_lines(total: Usage, prices: Mapping[str, Price]) -> list[CostLine]:
    tier1 = tier2 = 0.0
    for service, operation, what, value in operations(total):
        if service != "s3" or what != "requests" or operation.startswith(S3_FREE):
            continue
        if operation.startswith(S3_TIER1):
            tier1 += value
        else:
            tier2 += value
    return [
        CostLine("S3 requests", "PUT/COPY/POST/LIST", tier1 * DAYS_PER_MONTH, "requests",
                 tier1 * DAYS_PER_MONTH * prices["s3_put_copy_post_list"].usd),
        CostLine("S3 requests", "GET/HEAD/other", tier2 * DAYS_PER_MONTH, "requests",
                 tier2 * DAYS_PER_MONTH * prices["s3_get_and_other"].usd),
    ]  # fmt: skip


def _sum(total: Usage, service: str, what: str, operation: str | None = None) -> float:
    return sum(
        value
        for svc, op, kind, value in operations(total)
        if svc == service and kind == what and (operation is None or op == operation)
    )


def _lambda_lines(
    day: _Day, inventory: StackInventory, assumptions: Assumptions, prices: Mapping[str, Price]
) -> list[CostLine]:
    lines: list[CostLine] = []
    functions = {
        "serving": ("serving", ("serving",)),
        "etl": ("payload ETL", ("etl_payloads", "etl_labels")),
        "alerting": ("alerting", ("alerting",)),
    }
    for role, (label, stages) in functions.items():
        function = inventory.functions.get(role)
        if function is None:
            continue
        usage = add(*(day.stages.get(stage, {}) for stage in stages))
        compute, waiting = _lambda_seconds(usage, function.memory_mb, assumptions)
        rate = prices[f"lambda_gb_second_{function.architecture}"].usd
        gb = function.memory_mb / 1024
        requests = day.invocations.get(role, 0.0) * DAYS_PER_MONTH
        serving = role == "serving"
        lines.append(
            CostLine("Lambda", f"{label} requests", requests, "requests",
                     requests * prices["lambda_request"].usd, overhead=not serving)
        )  # fmt: skip
        lines.append(
            CostLine("Lambda", f"{label} compute ({function.memory_mb} MB {function.architecture}, est.)",
                     compute * gb * DAYS_PER_MONTH, "GB-s", compute * gb * DAYS_PER_MONTH * rate, overhead=not serving)
        )  # fmt: skip
        lines.append(
            CostLine("Lambda", f"{label} waiting on AWS calls (est.)" if not serving else
                     "serving waiting on payload logging (est.)", waiting * gb * DAYS_PER_MONTH, "GB-s",
                     waiting * gb * DAYS_PER_MONTH * rate)
        )  # fmt: skip
    return lines


def _job_lines(
    profile: UsageProfile, inventory: StackInventory, assumptions: Assumptions, facts: Mapping[str, float], *,
    prices: Mapping[str, Price], lake_sample_rows: int,
) -> tuple[list[CostLine], float, float, dict[str, float]]:  # fmt: skip
    """Fargate and Athena lines, and the Athena bytes and queries a month."""
    n = assumptions.predictions_per_day
    measured = float(profile.replay.get("predictions", 1))
    windows = {
        "drift_check": n * inventory.drift_window_days,
        "retrain": n * inventory.retrain_lookback_days,
    }
    lines: list[CostLine] = []
    scanned_month = queries_month = 0.0
    athena_usd = 0.0
    seconds_by_job: dict[str, float] = {}
    for stage, job in (("drift_check", "drift-check"), ("retrain", "retrain"), ("compact_lake", "compact-lake")):
        if stage not in profile.stages:
            continue
        runs = inventory.job_runs_per_day.get(job, 0.0) * DAYS_PER_MONTH
        run = profile.stages[stage].at(0.0)
        if stage == "compact_lake":
            measured_files = float(profile.replay.get("payload_objects", 1)) or 1.0
            scale = max(1.0, facts["payload objects/day"] / 24 / measured_files)
        else:
            scale = max(1.0, min(float(lake_sample_rows), windows[stage]) / measured)
        seconds = max(FARGATE_MIN_SECONDS, assumptions.fargate_startup_seconds + run.get(WALL_SECONDS, 0.0) * scale)
        hours = runs * seconds / 3600
        usd = hours * (
            inventory.job_vcpu * prices["fargate_vcpu_hour_x86_64"].usd
            + inventory.job_memory_mib / 1024 * prices["fargate_gb_hour_x86_64"].usd
        )
        lines.append(CostLine("Fargate", f"{job} job", hours, "task-hours", usd))
        seconds_by_job[job] = seconds
        scan = profile.scans.get(stage)
        if scan is not None and stage in windows:
            if not any(scan.bytes_per_prediction) and profile.scans.get("drift_check"):
                reference = profile.scans["drift_check"].bytes_per_prediction
                scan = LakeScan(max(1, scan.queries), (max(reference, default=0.0),) * max(1, scan.queries), 0.0, 0)
            scanned, usd_run = _scan_usd(scan, windows[stage], prices)
            scanned_month += scanned * runs
            queries_month += len(scan.bytes_per_prediction) * runs
            athena_usd += usd_run * runs
    lines.append(
        CostLine("Athena", f"bytes scanned ({queries_month:.0f} queries)", scanned_month / TB, "TB", athena_usd)
    )
    return lines, scanned_month, queries_month, seconds_by_job


def estimate(
    profile: UsageProfile,
    inventory: StackInventory,
    assumptions: Assumptions,
    prices: Mapping[str, Price] = PRICES,
    *,
    lake_sample_rows: int = 200_000,
) -> Estimate:
    """A month's cost at the assumptions' traffic (module docstring)."""
    day, facts = _daily_usage(profile, inventory, assumptions)
    total = add(*day.stages.values())
    month = DAYS_PER_MONTH
    n, m = assumptions.predictions_per_day, assumptions.labels
    lines = _lambda_lines(day, inventory, assumptions, prices)
    billed = firehose_billed_bytes(profile, assumptions.instances_per_request) * day.invocations["serving"]
    lines.append(CostLine("Firehose", "ingestion (5 KB per record)", billed * month / GB, "GB",
                          billed * month / GB * prices["firehose_ingest_gb"].usd))  # fmt: skip
    lines.extend(_s3_lines(total, prices))
    storage = profile.storage
    raw = (
        storage.raw_payload_gzip_bytes_per_prediction
        if profile.payload_writer == "firehose"
        else (storage.raw_payload_bytes_per_prediction)
    )
    stored = (
        n * (raw + storage.lake_bytes_per_prediction)
        + m * (storage.raw_label_bytes_per_label + storage.lake_bytes_per_label)
    ) * inventory.object_retention_days
    lines.append(CostLine("S3 storage", f"raw + lake, {inventory.object_retention_days} days kept", stored / GB,
                          "GB-month", stored / GB * prices["s3_standard_gb_month"].usd))  # fmt: skip
    wru, rru = _sum(total, "dynamodb", "write_units"), _sum(total, "dynamodb", "read_units")
    lines.append(CostLine("DynamoDB", "write request units", wru * month, "WRU",
                          wru * month * prices["dynamodb_write_request_unit"].usd))  # fmt: skip
    lines.append(CostLine("DynamoDB", "read request units", rru * month, "RRU",
                          rru * month * prices["dynamodb_read_request_unit"].usd))  # fmt: skip
    table = _sum(total, "dynamodb", "item_bytes_written") * inventory.payload_retention_days
    lines.append(CostLine("DynamoDB", f"storage ({inventory.payload_retention_days}-day TTL)", table / GB, "GB-month",
                          table / GB * prices["dynamodb_gb_month"].usd))  # fmt: skip
    job_lines, scanned, queries, seconds_by_job = _job_lines(
        profile, inventory, assumptions, facts, prices=prices, lake_sample_rows=lake_sample_rows
    )
    lines.extend(job_lines)
    releases = inventory.job_runs_per_day.get("retrain", 0.0) * month * assumptions.releases_per_retrain
    build_minutes = releases * (assumptions.build_minutes + inventory.canary_minutes)
    compute_key = CODEBUILD_COMPUTE.get(inventory.codebuild_compute, "codebuild_general1_small_minute")
    lines.append(CostLine("CodeBuild", f"release builds ({inventory.codebuild_compute or 'small'})", build_minutes,
                          "build minutes", build_minutes * prices[compute_key].usd))  # fmt: skip
    if inventory.pipeline_type == "V2":
        action_minutes = releases * (
            max(0, inventory.pipeline_actions - 1) + assumptions.build_minutes + inventory.canary_minutes
        )
        lines.append(CostLine("CodePipeline", "V2 action minutes", action_minutes, "minutes",
                              action_minutes * prices["codepipeline_v2_action_minute"].usd))  # fmt: skip
    elif inventory.pipeline_type == "V1":
        lines.append(CostLine("CodePipeline", "V1 active pipeline", 1.0, "pipeline-month",
                              prices["codepipeline_v1_active_pipeline_month"].usd))  # fmt: skip
    publishes = (_sum(total, "sns", "requests", "Publish") + assumptions.alert_publishes_per_day) * month
    lines.append(CostLine("KMS", f"{inventory.kms_keys} customer managed key(s)", inventory.kms_keys, "key-months",
                          inventory.kms_keys * prices["kms_key_month"].usd))  # fmt: skip
    lines.append(CostLine("KMS", "requests (one per SNS publish)", publishes, "requests",
                          publishes * prices["kms_request"].usd))  # fmt: skip
    lines.extend(_cloudwatch_lines(profile, inventory, assumptions, day, total=total, releases=releases, prices=prices))
    lines.append(CostLine("SNS", "publishes", publishes, "publishes", publishes * prices["sns_publish"].usd))
    lines.append(CostLine("SNS", f"e-mail deliveries ({inventory.email_subscriptions} subscriptions)",
                          publishes * inventory.email_subscriptions, "e-mails",
                          publishes * inventory.email_subscriptions * prices["sns_email"].usd))  # fmt: skip
    events = _sum(total, "events", "entries") * month
    lines.append(
        CostLine("EventBridge", "custom events", events, "events", events * prices["eventbridge_custom_event"].usd)
    )
    scheduled = (inventory.alerting_runs_per_day + sum(inventory.job_runs_per_day.values())) * month
    lines.append(CostLine("EventBridge", "Scheduler invocations", scheduled, "invocations",
                          scheduled * prices["scheduler_invocation"].usd))  # fmt: skip
    glue = _sum(total, "glue", "requests") * month
    lines.append(CostLine("Glue", "Data Catalog requests", glue, "requests", glue * prices["glue_request"].usd))
    facts = {
        **facts,
        "Athena TB scanned/month": scanned / TB,
        "Athena queries/month": queries,
        **{f"{job} seconds/run": seconds for job, seconds in seconds_by_job.items()},
    }
    return Estimate(assumptions, tuple(lines), facts)


def _cloudwatch_lines(
    profile: UsageProfile, inventory: StackInventory, assumptions: Assumptions, day: _Day, *, total: Usage,
    releases: float, prices: Mapping[str, Price],
) -> list[CostLine]:  # fmt: skip
    month = DAYS_PER_MONTH
    logged_by_stage: dict[str, float] = {}
    for stage, usage in day.stages.items():
        function = inventory.functions.get(stage)
        if function is None:  # a job: its whole log stream
            logged_by_stage[stage] = usage.get(LOG_BYTES, 0.0)
            continue
        kept = LOG_BYTES if function.keeps_info_logs else WARN_LOG_BYTES
        platform = assumptions.lambda_platform_log_bytes if function.keeps_platform_lines else 0.0
        logged_by_stage[stage] = usage.get(kept, 0.0) + day.invocations.get(stage, 0.0) * platform
    serving = logged_by_stage.pop("serving", 0.0) * month
    rest = sum(logged_by_stage.values()) * month + releases * assumptions.build_log_bytes
    logged = serving + rest
    stored = logged * min(inventory.log_retention_days, month) / month if inventory.log_retention_days else logged
    put_metric_data = _sum(total, "monitoring", "requests", "PutMetricData") * month
    return [
        CostLine("CloudWatch", "logs ingested: serving", serving / GB, "GB",
                 serving / GB * prices["cloudwatch_logs_ingest_gb"].usd),
        CostLine("CloudWatch", "logs ingested: ETL, alerting, jobs, builds", rest / GB, "GB",
                 rest / GB * prices["cloudwatch_logs_ingest_gb"].usd),
        CostLine("CloudWatch", f"logs stored ({inventory.log_retention_days} days)", stored / GB, "GB-month",
                 stored / GB * prices["cloudwatch_logs_storage_gb_month"].usd),
        CostLine("CloudWatch", "alarms", inventory.alarms, "alarm-months",
                 inventory.alarms * prices["cloudwatch_alarm_month"].usd),
        CostLine("CloudWatch", "dashboards", inventory.dashboards, "dashboard-months",
                 inventory.dashboards * prices["cloudwatch_dashboard_month"].usd),
        CostLine("CloudWatch", "custom metrics (measured)", profile.custom_metrics, "metric-months",
                 profile.custom_metrics * prices["cloudwatch_metric_month"].usd),
        CostLine("CloudWatch", "PutMetricData requests", put_metric_data, "requests",
                 put_metric_data * prices["cloudwatch_put_metric_data_request"].usd),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """One target: the overhead at `predictions_per_day` against `limit_usd` a month."""

    predictions_per_day: int
    limit_usd: float
    overhead_usd: float

    @property
    def met(self) -> bool:
        """Whether the overhead is within the limit."""
        return self.overhead_usd <= self.limit_usd


def verdicts(estimates: Sequence[Estimate]) -> list[Verdict]:
    """The targets (at most $15 a month of overhead at 10k predictions a day, $200 at 10M) judged on the estimates at
    exactly those volumes."""
    by_volume = {round(item.assumptions.predictions_per_day): item for item in estimates}
    return [Verdict(volume, limit, by_volume[volume].overhead) for volume, limit in TARGETS if volume in by_volume]
