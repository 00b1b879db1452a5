"""What the deployed stack is, for the cost model: read from the Pulumi program run under mocks (the same run as
`autoretrain plan`) and its validated settings (`infra.config.Settings`), never retyped.

From the recorded resources: each Lambda function's memory and architecture, the jobs' vCPU and memory, the
Firehose stream's buffering hints, the number of alarms, dashboards, KMS keys and alert subscriptions, the release
pipeline's type and actions, CodeBuild's compute type, the schedules' expressions (turned into runs a day with the
demo's schedule parser), the log groups' retention, the payload table's TTL and the alerting window the functions'
environment carries. From the settings: the object retention and the canary's bake time. From the code's defaults:
the drift check's window and the retrain's look-back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autoretrain.demo.schedule import Schedule
from core.settings import AlertingSettings, DriftCheckSettings, EnvVar
from infra.config import RETRAIN_LOOKBACK_DAYS, Settings, code_default
from infra.job_specs import Job
from infra.mocks import Recording, run_stack

#: Schedules are counted over four weeks (a weekly cron fires 4 times).
_SCHEDULE_SPAN_DAYS = 28
_SCHEDULE_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
ALERTING = "alerting"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DEFAULT_STACK_CONFIG = {"aws:region": "us-east-1", "autoretrain:modelName": "churn"}


@dataclass(frozen=True, slots=True)
class LambdaFunction:
    """One Lambda function as deployed."""

    memory_mb: int
    architecture: str  # "x86_64" or "arm64"
    #: Lambda's advanced logging levels: the application's records below the first are dropped, and a system level
    #: of WARN or above drops the platform's START/END/REPORT lines.
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"

    @property
    def keeps_info_logs(self) -> bool:
        """Whether the function's INFO records reach CloudWatch Logs."""
        return self.application_log_level in _INFO_LEVELS

    @property
    def keeps_platform_lines(self) -> bool:
        """Whether the per-invocation START/END/REPORT lines reach CloudWatch Logs."""
        return self.system_log_level in _INFO_LEVELS


_INFO_LEVELS = frozenset({"TRACE", "DEBUG", "INFO"})


@dataclass(frozen=True, slots=True)
class StackInventory:
    """The stack's billable shape (module docstring)."""

    functions: Mapping[str, LambdaFunction]  # "serving", "etl", "alerting"
    job_vcpu: float
    job_memory_mib: int
    job_runs_per_day: Mapping[str, float]  # "drift-check", "retrain", "compact-lake"
    alerting_runs_per_day: float
    alert_window_minutes: int
    alarms: int
    dashboards: int
    kms_keys: int
    email_subscriptions: int
    pipeline_type: str
    pipeline_actions: int
    codebuild_compute: str
    canary_minutes: int
    log_retention_days: int
    object_retention_days: int
    payload_retention_days: int
    drift_window_days: int
    retrain_lookback_days: int
    firehose_buffer_seconds: int | None
    firehose_buffer_mb: int | None


def runs_per_day(expression: str) -> float:
    """How often a schedule expression fires a day, on average over four weeks."""
    start = _SCHEDULE_START
    ticks = sum(1 for _ in Schedule.parse(expression).ticks(start, start + timedelta(days=_SCHEDULE_SPAN_DAYS)))
    return ticks / _SCHEDULE_SPAN_DAYS


def scheduled_runs(recording: Recording) -> dict[str, float]:
    """Runs a day of each recorded schedule's target: the alerting function (`ALERTING`) or a job (its `Job` value,
    read from the job definition the SubmitJob input names)."""
    runs: dict[str, float] = {}
    for schedule in _resources(recording, "aws:scheduler/schedule:Schedule"):
        target = schedule.inputs.get("target", {})
        expression = str(schedule.inputs.get("scheduleExpression", ""))
        if ALERTING in str(target.get("arn", "")):
            key = ALERTING
        else:
            definition = str(_json_input(target.get("input", "{}")).get("JobDefinition", ""))
            key = next((job.value for job in Job if f"-{job.value}-" in definition), definition)
        runs[key] = runs.get(key, 0.0) + runs_per_day(expression)
    return runs


def _function_role(name: str) -> str:
    for role in ("serving", "etl", "alerting"):
        if f"-{role}-" in name or name.startswith(f"{role}-"):
            return role
    return name


def _resources(recording: Recording, type_token: str) -> list[Any]:
    return list(recording.of_type(type_token))


def _json_input(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _job_size(recording: Recording, settings: Settings) -> tuple[float, int]:
    for definition in _resources(recording, "aws:batch/jobDefinition:JobDefinition"):
        properties = _json_input(definition.inputs.get("containerProperties", {}))
        requirements = {item["type"]: item["value"] for item in properties.get("resourceRequirements", [])}
        if "VCPU" in requirements and "MEMORY" in requirements:
            return float(requirements["VCPU"]), int(requirements["MEMORY"])
    return settings.job_vcpu, settings.job_memory_mib


def inventory(recording: Recording, settings: Settings) -> StackInventory:
    """The inventory of one recorded run of the program with these settings."""
    functions = {
        _function_role(function.name): LambdaFunction(
            int(function.inputs.get("memorySize", 128)),
            str((function.inputs.get("architectures") or ["x86_64"])[0]),
            str((function.inputs.get("loggingConfig") or {}).get("applicationLogLevel") or "INFO"),
            str((function.inputs.get("loggingConfig") or {}).get("systemLogLevel") or "INFO"),
        )
        for function in _resources(recording, "aws:lambda/function:Function")
    }
    job_vcpu, job_memory = _job_size(recording, settings)
    environment = {
        _function_role(function.name): dict(function.inputs.get("environment", {}).get("variables", {}))
        for function in _resources(recording, "aws:lambda/function:Function")
    }
    schedules = scheduled_runs(recording)
    pipelines = _resources(recording, "aws:codepipeline/pipeline:Pipeline")
    projects = _resources(recording, "aws:codebuild/project:Project")
    streams = _resources(recording, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    stream = streams[0].inputs.get("extendedS3Configuration", {}) if streams else {}
    subscriptions = _resources(recording, "aws:sns/topicSubscription:TopicSubscription")
    return StackInventory(
        functions=functions,
        job_vcpu=job_vcpu,
        job_memory_mib=job_memory,
        job_runs_per_day={job.value: schedules.get(job.value, 0.0) for job in Job},
        alerting_runs_per_day=schedules.get(ALERTING, 0.0),
        alert_window_minutes=int(
            environment.get("alerting", {}).get(
                EnvVar.ALERT_WINDOW_MINUTES.value, code_default(AlertingSettings, "window_minutes")
            )
        ),
        alarms=len(_resources(recording, "aws:cloudwatch/metricAlarm:MetricAlarm")),
        dashboards=len(_resources(recording, "aws:cloudwatch/dashboard:Dashboard")),
        kms_keys=len(_resources(recording, "aws:kms/key:Key")),
        email_subscriptions=sum(1 for item in subscriptions if item.inputs.get("protocol") == "email"),
        pipeline_type=str(pipelines[0].inputs.get("pipelineType", "V1")) if pipelines else "none",
        pipeline_actions=sum(
            len(stage.get("actions", [])) for pipeline in pipelines for stage in pipeline.inputs.get("stages", [])
        ),
        codebuild_compute=str(projects[0].inputs.get("environment", {}).get("computeType", "")) if projects else "",
        canary_minutes=settings.canary_minutes if settings.canary_percent else 0,
        log_retention_days=max(
            (int(group.inputs.get("retentionInDays", 0)) for group in _resources(recording, LOG_GROUP)), default=0
        ),
        object_retention_days=settings.object_retention_days,
        payload_retention_days=int(
            environment.get("etl", {}).get(EnvVar.PAYLOAD_RETENTION_DAYS.value, settings.payload_retention_days)
        ),
        drift_window_days=int(code_default(DriftCheckSettings, "window_days")),
        retrain_lookback_days=RETRAIN_LOOKBACK_DAYS,
        firehose_buffer_seconds=int(stream["bufferingInterval"]) if "bufferingInterval" in stream else None,
        firehose_buffer_mb=int(stream["bufferingSize"]) if "bufferingSize" in stream else None,
    )


def read_stack(config: Mapping[str, str] | None = None) -> StackInventory:
    """Run the Pulumi program under mocks with a stack config (default: us-east-1, model `churn`, every other
    setting at its default) and read its inventory."""
    values = dict(config or DEFAULT_STACK_CONFIG)
    settings = Settings.from_mapping(values)
    return inventory(run_stack(values), settings)
