"""Stack settings: one frozen, validated object read once from the stack's configuration.

Every field maps to one stack config key: `autoretrain:<fieldInCamelCase>` unless its metadata names another
namespace (the region is `aws:region`). To add a setting, add a field (with a default unless it is required) and,
if it has a constraint, a check in `_problems`; `load_settings`, `autoretrain plan` and the tests pick it up.
Values arrive as the strings Pulumi stores (structured values as JSON) and are parsed by the field's type.

Retention against look-back (no silent truncation): the retrain job reads `RETRAIN_LOOKBACK_DAYS` of matured
predictions, which are `LABEL_DELAY_DAYS` old at least, from the lake; so the raw payloads and labels (the durable
record the lake is rebuilt from) and the lake's own files expire after `objectRetentionDays` >= look-back + label
delay. The payload table's TTL (`payloadRetentionDays`) now only feeds the alerting Lambda, which reads the
aggregates of its widest window (`alertMaxWindowMinutes`) ending `ingestLagMinutes` before the run, and the same
window on each of the `ALERT_HISTORY_DAYS` days before: the TTL must cover all of it.

Ingest and alerting windows. Serving's records reach S3 through Firehose, which holds them up to
`ingestBufferSeconds` (or `ingestBufferMb`, whichever fills first; Firehose's limits 0-900 s and 1-128 MiB); the ETL
then loads each object within about a minute. The alerting Lambda runs every `alertWindowMinutes` (its shortest
window; the schedule is `rate(<alertWindowMinutes> minutes)`, so `alertingSchedule` is no longer a setting) and
judges windows that end `ingestLagMinutes` before the run, which must cover the buffer interval plus that minute.
Windows are whole aggregate buckets (`core.aggregates.BUCKET`, 5 minutes), and the widest is at least the shortest.

Job size (`jobVcpu`, `jobMemoryMib`; one size for every job). With the lake a job's memory is set by its sample
cap, never by the window: each window query returns at most `lakeSampleRows` rows (200,000 by default), whatever the
traffic, and Athena does the scanning and aggregation. A job holds a few copies of at most two such samples (the
window and the reference or holdout: the frame, the feature matrix, the model's working copies, bootstrap
resamples); at 100 features a sample row is ~1 KB as doubles, so `JOB_MEMORY_PER_SAMPLE_ROW` (8 KiB) covers those
copies and `JOB_BASE_MEMORY_MIB` the interpreter, pandas, scikit-learn, pyarrow and awswrangler. 200,000 rows need
1,536 + 1,563 = 3,099 MiB, so the default 1 vCPU / 4,096 MiB suffices at 10 million predictions a day as at 10
thousand; a larger sample cap is refused below its estimate (`jobMemoryMib` must grow with it).

Live evaluation (issue #17). `controlShare` (0: no control group, else in [0, 1)) of the clients are answered with the
model's heuristic; a client is an instance's `client_id` or, with `clientIdFeature`, that feature's value (the serving
Lambda fails its init if the model has no such feature). Every client in the control arm is a client the model does
not serve: the share costs the business the model's benefit on it, for the sake of measuring that benefit.
`shadowEnabled` makes the serving function score a shadow challenger baked into its image (`/opt/shadow`) beside the
champion; a shadow period lasts at least `shadowMinRequests` shadowed requests and `shadowMinDays` days, which the
batch jobs comparing shadow and champion read.

Canary deploys (`canaryPercent`, `canaryMinutes`): the release build sends that share of the serving alias's traffic
to the new version for that long and rolls back if a serving alarm fires (`deploy.alias`); percent 0 moves the alias
all at once. The build's time limit grows by the bake time (`infra.release.build_timeout_minutes`), within
CodeBuild's maximum.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from types import MappingProxyType
from typing import Any, get_type_hints

import pulumi

from core.aggregates import BUCKET
from core.layout import validate_model_name
from core.record_limits import feature_name_problems
from core.routing import SCHEDULES, ScheduleExpressionError, Target, validate_schedule_expression
from core.settings import (
    DEFAULT_LIFETIME_VALUE,
    DEFAULT_RUNBOOK_URL,
    AlertingSettings,
    InvalidSettingError,
    LakeSettings,
    RetrainSettings,
    ReviewSettings,
    ServingSettings,
    ShadowPeriodSettings,
)
from infra.fargate import FargateSizeError, fargate_resources
from infra.ingest import BUFFER_MB, BUFFER_SECONDS, ingest_lag_floor_minutes
from infra.job_specs import MAINTENANCE_SCHEDULES, JobTuning
from infra.lake import DEFAULT_BYTES_SCANNED_CUTOFF, MIN_BYTES_SCANNED_CUTOFF
from infra.layers import AWS_SDK_PANDAS_LAYER_ACCOUNTS, DEFAULT_AWS_SDK_PANDAS_LAYER_VERSION
from infra.release import MAX_CANARY_MINUTES

NAMESPACE = "autoretrain"

#: CloudWatch Logs accepts only these retention periods (0, "never expire", is refused here on purpose).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)
LAMBDA_MEMORY_MB = range(128, 10241)
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
#: SNS SMS endpoints must be E.164: a '+', a country code not starting with 0, at most 15 digits in all.
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: A pragmatic e-mail check (SNS confirms the address anyway): one '@', no spaces, a dot in the domain.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Fargate jobs: a compute environment may run up to this many vCPUs (Batch's own limit is far higher).
MAX_BATCH_VCPUS = 256


def code_default(settings_class: type[Any], name: str) -> Any:
    """The default a runtime settings class (`core.settings`) gives a field: what the deployed code uses when infra
    does not set the variable."""
    (spec,) = [spec for spec in fields(settings_class) if spec.name == name]
    return spec.default


#: The retrain job's look-back (`batch_jobs.training.job.RetrainConfig.lookback`, 120 days; infra may not import the
#: jobs, so a test pins this copy to it).
RETRAIN_LOOKBACK_DAYS = 120
#: A prediction is training data once its label matured (`AUTORETRAIN_LABEL_DELAY_DAYS`, which infra does not set).
LABEL_DELAY_DAYS: int = code_default(RetrainSettings, "label_delay_days")
#: How far back the alerting Lambda's volume baseline looks (`AUTORETRAIN_ALERT_HISTORY_DAYS`, not set by infra).
ALERT_HISTORY_DAYS: int = code_default(AlertingSettings, "history_days")
#: The alerting Lambda's windows and ingest lag, as the code defaults them (infra sets them from the stack config).
ALERT_WINDOW_MINUTES: int = code_default(AlertingSettings, "window_minutes")
ALERT_MAX_WINDOW_MINUTES: int = code_default(AlertingSettings, "max_window_minutes")
INGEST_LAG_MINUTES: int = code_default(AlertingSettings, "ingest_lag_minutes")
#: Alerting windows are whole aggregate buckets (`lambdas.alerting` refuses others).
BUCKET_MINUTES = int(BUCKET.total_seconds()) // 60
MINUTES_PER_DAY = 24 * 60
#: The routing schedule of the alerting Lambda: its expression follows `alertWindowMinutes` (module docstring).
ALERTING_SCHEDULE_KEY = next(route.config_key for route in SCHEDULES if route.target is Target.ALERTING_FUNCTION)
#: Keys the settings no longer read, with what replaced them: a stack that still sets one is refused, not ignored.
RETIRED_KEYS = {
    f"{NAMESPACE}:{ALERTING_SCHEDULE_KEY}": (
        f"the alerting schedule is rate(<alertWindowMinutes> minutes): remove {ALERTING_SCHEDULE_KEY} and set "
        f"{NAMESPACE}:alertWindowMinutes"
    ),
}
#: The jobs' default sample cap (`AUTORETRAIN_LAKE_SAMPLE_ROWS`) and the smallest `LakeSettings.from_env` accepts.
DEFAULT_LAKE_SAMPLE_ROWS: int = code_default(LakeSettings, "sample_rows")
MIN_LAKE_SAMPLE_ROWS = 1_000
#: The job memory estimate (module docstring): a fixed base plus a budget per sample row.
JOB_BASE_MEMORY_MIB = 1_536
JOB_MEMORY_PER_SAMPLE_ROW = 8 * 1024
MIB = 1024 * 1024
#: The serving function's experiment and shadow defaults, as the code defaults them.
DEFAULT_CONTROL_SHARE: float = code_default(ServingSettings, "control_share")
DEFAULT_SHADOW_MIN_REQUESTS: int = code_default(ShadowPeriodSettings, "min_requests")
DEFAULT_SHADOW_MIN_DAYS: int = code_default(ShadowPeriodSettings, "min_days")
#: The review sample's and the business impact's defaults, as the code defaults them.
DEFAULT_REVIEW = ReviewSettings()


class SettingsError(ValueError):
    """The stack configuration is invalid; `problems` lists every problem found, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))
        self.problems = tuple(problems)


def _key(namespace: str = NAMESPACE) -> dict[str, str]:
    return {"namespace": namespace}


def _schedule_defaults() -> dict[str, str]:
    """Override key -> default expression of every schedule the stack creates (routing's and infra's)."""
    defaults = {route.config_key: route.default_expression for route in SCHEDULES}
    defaults.update({schedule.config_key: schedule.default_expression for schedule in MAINTENANCE_SCHEDULES})
    return defaults


def _schedule_default(config_key: str) -> str:
    """The default expression routing (or infra's maintenance schedules) gives the schedule whose override is
    `config_key`."""
    return _schedule_defaults()[config_key]


def schedule_config_keys() -> tuple[str, ...]:
    """The keys of every schedule the stack creates (routing's, infra's maintenance ones)."""
    return tuple(_schedule_defaults())


def alerting_schedule_expression(window_minutes: int) -> str:
    """The alerting Lambda's schedule: one run per shortest window (`rate(1 minute)`, `rate(10 minutes)`)."""
    return f"rate({window_minutes} minute{'' if window_minutes == 1 else 's'})"


def min_payload_retention_days(*, max_window_minutes: int, ingest_lag_minutes: int) -> int:
    """The least payload-table TTL (days) that keeps every aggregate the alerting Lambda reads: its widest window,
    ending the ingest lag before the run, and the same window on each of the history days before."""
    oldest_read = ALERT_HISTORY_DAYS * MINUTES_PER_DAY + max_window_minutes + ingest_lag_minutes
    return -(-oldest_read // MINUTES_PER_DAY)


def job_memory_estimate_mib(sample_rows: int) -> int:
    """The memory a job needs for samples of `sample_rows` rows (module docstring), in MiB."""
    return JOB_BASE_MEMORY_MIB + -(-sample_rows * JOB_MEMORY_PER_SAMPLE_ROW // MIB)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the program reads from the stack configuration."""

    region: str = field(metadata=_key("aws"))
    model_name: str = field(metadata=_key())
    payload_retention_days: int = field(default=90, metadata=_key())
    object_retention_days: int = field(default=400, metadata=_key())
    quarantine_retention_days: int = field(default=30, metadata=_key())
    log_retention_days: int = field(default=30, metadata=_key())
    noncurrent_version_days: int = field(default=30, metadata=_key())
    deletion_protection: bool = field(default=True, metadata=_key())
    serving_memory_mb: int = field(default=1024, metadata=_key())
    serving_keep_images: int = field(default=10, metadata=_key())
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), metadata=_key())
    alert_emails: tuple[str, ...] = field(default=(), metadata=_key())
    alert_phone_numbers: tuple[str, ...] = field(default=(), metadata=_key())
    runbook_url: str = field(default=DEFAULT_RUNBOOK_URL, metadata=_key())
    alert_window_minutes: int = field(default=ALERT_WINDOW_MINUTES, metadata=_key())
    alert_max_window_minutes: int = field(default=ALERT_MAX_WINDOW_MINUTES, metadata=_key())
    ingest_lag_minutes: int = field(default=INGEST_LAG_MINUTES, metadata=_key())
    ingest_buffer_seconds: int = field(default=60, metadata=_key())
    ingest_buffer_mb: int = field(default=64, metadata=_key())
    drift_check_schedule: str = field(default=_schedule_default("driftCheckSchedule"), metadata=_key())
    retrain_schedule: str = field(default=_schedule_default("retrainSchedule"), metadata=_key())
    live_evaluation_schedule: str = field(default=_schedule_default("liveEvaluationSchedule"), metadata=_key())
    compact_lake_schedule: str = field(default=_schedule_default("compactLakeSchedule"), metadata=_key())
    batch_max_vcpus: int = field(default=16, metadata=_key())
    job_vcpu: float = field(default=1.0, metadata=_key())
    job_memory_mib: int = field(default=4096, metadata=_key())
    job_timeout_minutes: int = field(default=120, metadata=_key())
    subnet_ids: tuple[str, ...] = field(default=(), metadata=_key())
    security_group_ids: tuple[str, ...] = field(default=(), metadata=_key())
    assign_public_ip: bool = field(default=True, metadata=_key())
    auc_alarm_floor: float = field(default=0.7, metadata=_key())
    canary_percent: int = field(default=10, metadata=_key())
    canary_minutes: int = field(default=10, metadata=_key())
    incremental_retrain: bool = field(default=False, metadata=_key())
    feature_metrics: bool = field(default=False, metadata=_key())
    lake_sample_rows: int = field(default=DEFAULT_LAKE_SAMPLE_ROWS, metadata=_key())
    athena_bytes_scanned_cutoff: int = field(default=DEFAULT_BYTES_SCANNED_CUTOFF, metadata=_key())
    aws_sdk_pandas_layer_version: int = field(default=DEFAULT_AWS_SDK_PANDAS_LAYER_VERSION, metadata=_key())
    control_share: float = field(default=DEFAULT_CONTROL_SHARE, metadata=_key())
    client_id_feature: str = field(default="", metadata=_key())
    shadow_enabled: bool = field(default=False, metadata=_key())
    shadow_min_requests: int = field(default=DEFAULT_SHADOW_MIN_REQUESTS, metadata=_key())
    shadow_min_days: int = field(default=DEFAULT_SHADOW_MIN_DAYS, metadata=_key())
    review_share: float = field(default=DEFAULT_REVIEW.share, metadata=_key())
    review_score_cut: float = field(default=DEFAULT_REVIEW.score_cut, metadata=_key())
    review_top_share: float = field(default=DEFAULT_REVIEW.top_share, metadata=_key())
    review_oversample: float = field(default=DEFAULT_REVIEW.oversample, metadata=_key())
    lifetime_value: float = field(default=DEFAULT_LIFETIME_VALUE, metadata=_key())

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise SettingsError(problems)

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Settings:
        """Parse stack config values (`namespace:key` -> string, as Pulumi stores them)."""
        problems = [f"{key} is no longer read: {why}" for key, why in RETIRED_KEYS.items() if key in values]
        parsed: dict[str, Any] = {}
        hints = get_type_hints(cls)
        for spec in fields(cls):
            key = config_key(spec)
            if key not in values:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    problems.append(f"{key} is required")
                continue
            try:
                parsed[spec.name] = _parse(hints[spec.name], values[key])
            except ValueError as error:
                problems.append(f"{key}: {error}")
        if problems:
            raise SettingsError(problems)
        return cls(**parsed)

    def job_tuning(self) -> JobTuning:
        """What the jobs read of the review sample, the business impact and shadow periods (InvalidSettingError on
        a review setting out of range)."""
        return JobTuning(
            review=ReviewSettings(
                share=self.review_share,
                score_cut=self.review_score_cut,
                top_share=self.review_top_share,
                oversample=self.review_oversample,
            ),
            lifetime_value=self.lifetime_value,
            shadow_releases=self.shadow_enabled,
            shadow=ShadowPeriodSettings(min_requests=self.shadow_min_requests, min_days=self.shadow_min_days),
        )

    def schedule_expression(self, key: str) -> str:
        """The expression of the schedule routing names by its key (e.g. `driftCheckSchedule`); the alerting
        schedule's follows `alertWindowMinutes`."""
        if key == ALERTING_SCHEDULE_KEY:
            return alerting_schedule_expression(self.alert_window_minutes)
        for spec in fields(self):
            if config_key(spec) == f"{NAMESPACE}:{key}":
                value: str = getattr(self, spec.name)
                return value
        raise KeyError(f"no setting reads {NAMESPACE}:{key}")

    @property
    def default_tags(self) -> dict[str, str]:
        """Tags every resource carries (through the provider's default tags); user tags may add, not replace."""
        return {**self.tags, "project": "autoretrain", "model": self.model_name}


def config_key(spec: Field[Any]) -> str:
    """The stack config key of a settings field: `namespace:camelCaseName`."""
    head, *rest = spec.name.split("_")
    return f"{spec.metadata['namespace']}:{head}{''.join(part.title() for part in rest)}"


def config_keys() -> tuple[str, ...]:
    """Every key the settings read."""
    return tuple(config_key(spec) for spec in fields(Settings))


def _keys_to_read() -> tuple[str, ...]:
    """The settings' keys and the retired ones (read only to refuse them)."""
    return (*config_keys(), *RETIRED_KEYS)


def _parse(kind: Any, text: str) -> Any:
    if kind is bool:
        if text not in ("true", "false"):
            raise ValueError(f"must be true or false, got {text!r}")
        return text == "true"
    if kind is int:
        if not text.lstrip("-").isdigit():
            raise ValueError(f"must be an integer, got {text!r}")
        return int(text)
    if kind is str:
        return text
    if kind is float:
        try:
            return float(text)
        except ValueError as error:
            raise ValueError(f"must be a number, got {text!r}") from error
    if kind == tuple[str, ...]:
        return _string_list(text)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"must be a mapping of strings to strings, got {text!r}") from error
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise ValueError(f"must be a mapping of strings to strings, got {text!r}")
    return MappingProxyType(document)


def _string_list(text: str) -> tuple[str, ...]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"must be a list of strings, got {text!r}") from error
    if not isinstance(document, list) or not all(isinstance(item, str) for item in document):
        raise ValueError(f"must be a list of strings, got {text!r}")
    return tuple(document)


def _at_least(problems: list[str], name: str, value: int, floor: int) -> None:
    if value < floor:
        problems.append(f"{NAMESPACE}:{name} must be at least {floor}, got {value}")


def _problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if not settings.region:
        problems.append("aws:region must not be empty")
    try:
        validate_model_name(settings.model_name)
    except ValueError as error:
        problems.append(f"{NAMESPACE}:modelName: {error}")
    _at_least(problems, "quarantineRetentionDays", settings.quarantine_retention_days, 1)
    _at_least(problems, "noncurrentVersionDays", settings.noncurrent_version_days, 1)
    problems.extend(_retention_problems(settings))
    # The image the live alias runs must never be the one the lifecycle policy expires.
    _at_least(problems, "servingKeepImages", settings.serving_keep_images, 2)
    if settings.log_retention_days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(str(days) for days in sorted(LOG_RETENTION_DAYS))
        problems.append(
            f"{NAMESPACE}:logRetentionDays must be one of CloudWatch's values ({allowed}), "
            f"got {settings.log_retention_days}"
        )
    if settings.serving_memory_mb not in LAMBDA_MEMORY_MB:
        problems.append(
            f"{NAMESPACE}:servingMemoryMb must be between {LAMBDA_MEMORY_MB.start} and {LAMBDA_MEMORY_MB.stop - 1} MB,"
            f" got {settings.serving_memory_mb}"
        )
    problems.extend(_alerting_problems(settings))
    problems.extend(_ingest_problems(settings))
    problems.extend(_batch_problems(settings))
    problems.extend(_lake_problems(settings))
    problems.extend(_canary_problems(settings))
    problems.extend(_live_evaluation_problems(settings))
    for key, value in settings.tags.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_LENGTH or key.lower().startswith("aws:"):
            problems.append(f"{NAMESPACE}:tags key {key!r} must be 1-{MAX_TAG_KEY_LENGTH} characters, not 'aws:...'")
        if len(value) > MAX_TAG_VALUE_LENGTH:
            problems.append(f"{NAMESPACE}:tags value of {key!r} is longer than {MAX_TAG_VALUE_LENGTH} characters")
    return problems


def _alerting_problems(settings: Settings) -> list[str]:
    problems = [
        f"{NAMESPACE}:alertEmails: {email!r} is not an e-mail address"
        for email in settings.alert_emails
        if not EMAIL.match(email)
    ]
    problems.extend(
        f"{NAMESPACE}:alertPhoneNumbers: {number!r} is not an E.164 number (+<country code><number>, no spaces)"
        for number in settings.alert_phone_numbers
        if not E164.match(number)
    )
    if not settings.runbook_url.strip():
        problems.append(f"{NAMESPACE}:runbookUrl must not be empty")
    for key in schedule_config_keys():
        try:
            validate_schedule_expression(settings.schedule_expression(key))
        except ScheduleExpressionError as error:
            problems.append(f"{NAMESPACE}:{key}: {error}")
    if not 0.0 < settings.auc_alarm_floor < 1.0:
        problems.append(f"{NAMESPACE}:aucAlarmFloor must be between 0 and 1, got {settings.auc_alarm_floor}")
    return problems


def _ingest_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.ingest_buffer_seconds not in BUFFER_SECONDS:
        problems.append(
            f"{NAMESPACE}:ingestBufferSeconds must be between {BUFFER_SECONDS.start} and {BUFFER_SECONDS.stop - 1} "
            f"(Firehose's buffering interval), got {settings.ingest_buffer_seconds}"
        )
    if settings.ingest_buffer_mb not in BUFFER_MB:
        problems.append(
            f"{NAMESPACE}:ingestBufferMb must be between {BUFFER_MB.start} and {BUFFER_MB.stop - 1} "
            f"(Firehose's buffering size, MiB), got {settings.ingest_buffer_mb}"
        )
    for name, minutes in (
        ("alertWindowMinutes", settings.alert_window_minutes),
        ("alertMaxWindowMinutes", settings.alert_max_window_minutes),
    ):
        if minutes < BUCKET_MINUTES or minutes % BUCKET_MINUTES:
            problems.append(
                f"{NAMESPACE}:{name} must be a positive multiple of {BUCKET_MINUTES} (the alerting aggregates' "
                f"bucket), got {minutes}"
            )
    if settings.alert_max_window_minutes < settings.alert_window_minutes:
        problems.append(
            f"{NAMESPACE}:alertMaxWindowMinutes must be at least alertWindowMinutes ({settings.alert_window_minutes}),"
            f" got {settings.alert_max_window_minutes}"
        )
    floor = ingest_lag_floor_minutes(settings.ingest_buffer_seconds)
    if settings.ingest_lag_minutes < floor:
        problems.append(
            f"{NAMESPACE}:ingestLagMinutes must be at least {floor} (ingestBufferSeconds "
            f"{settings.ingest_buffer_seconds} in whole minutes, plus a minute for the ETL), "
            f"got {settings.ingest_lag_minutes}"
        )
    return problems


def _retention_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    # The alerting Lambda reads aggregates back to its widest window on the first history day (module docstring).
    needed = min_payload_retention_days(
        max_window_minutes=settings.alert_max_window_minutes, ingest_lag_minutes=settings.ingest_lag_minutes
    )
    if settings.payload_retention_days < needed:
        problems.append(
            f"{NAMESPACE}:payloadRetentionDays must be at least {needed} (the alerting history of "
            f"{ALERT_HISTORY_DAYS} days, alertMaxWindowMinutes {settings.alert_max_window_minutes} and "
            f"ingestLagMinutes {settings.ingest_lag_minutes}), got {settings.payload_retention_days}"
        )
    # The raw objects (and the lake made from them) hold the retrain window: look-back of matured predictions.
    _at_least(problems, "objectRetentionDays", settings.object_retention_days, RETRAIN_LOOKBACK_DAYS + LABEL_DELAY_DAYS)
    # ... and, as the durable record, outlive the table's queryable window.
    _at_least(problems, "objectRetentionDays", settings.object_retention_days, settings.payload_retention_days)
    return problems


def _batch_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    try:
        fargate_resources(settings.job_vcpu, settings.job_memory_mib)
    except FargateSizeError as error:
        problems.append(f"{NAMESPACE}:jobVcpu/jobMemoryMib: {error}")
    needed = job_memory_estimate_mib(settings.lake_sample_rows)
    if settings.job_memory_mib < needed:
        problems.append(
            f"{NAMESPACE}:jobMemoryMib must be at least {needed} for lakeSampleRows {settings.lake_sample_rows} "
            f"({JOB_BASE_MEMORY_MIB} MiB + {JOB_MEMORY_PER_SAMPLE_ROW // 1024} KiB a sample row), "
            f"got {settings.job_memory_mib}"
        )
    if not settings.job_vcpu <= settings.batch_max_vcpus <= MAX_BATCH_VCPUS:
        problems.append(
            f"{NAMESPACE}:batchMaxVcpus must be between jobVcpu ({settings.job_vcpu:g}) and {MAX_BATCH_VCPUS}, "
            f"got {settings.batch_max_vcpus}"
        )
    _at_least(problems, "jobTimeoutMinutes", settings.job_timeout_minutes, 5)
    if bool(settings.subnet_ids) != bool(settings.security_group_ids):
        problems.append(
            f"{NAMESPACE}:subnetIds and {NAMESPACE}:securityGroupIds go together: set both (your network) or neither "
            "(the stack creates a minimal VPC)"
        )
    return problems


def _canary_problems(settings: Settings) -> list[str]:
    if settings.canary_percent == 0:
        return []  # no canary: the alias moves all at once and the bake time is not used
    problems: list[str] = []
    if not 0 < settings.canary_percent < 100:
        problems.append(
            f"{NAMESPACE}:canaryPercent must be between 1 and 99 (0 turns the canary off), "
            f"got {settings.canary_percent}"
        )
    if not 0 < settings.canary_minutes <= MAX_CANARY_MINUTES:
        problems.append(
            f"{NAMESPACE}:canaryMinutes must be between 1 and {MAX_CANARY_MINUTES} (the release build's time limit), "
            f"got {settings.canary_minutes}"
        )
    return problems


def _live_evaluation_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    if not 0.0 <= settings.control_share < 1.0:
        problems.append(
            f"{NAMESPACE}:controlShare must be at least 0 (no control group) and below 1, got {settings.control_share}"
        )
    if settings.client_id_feature:
        problems.extend(
            f"{NAMESPACE}:clientIdFeature: {problem}" for problem in feature_name_problems(settings.client_id_feature)
        )
    try:
        settings.job_tuning()
    except InvalidSettingError as error:
        problems.append(f"{NAMESPACE}:review*: {error}")
    if settings.lifetime_value < 0:
        problems.append(f"{NAMESPACE}:lifetimeValue must not be negative, got {settings.lifetime_value}")
    _at_least(problems, "shadowMinRequests", settings.shadow_min_requests, 1)
    _at_least(problems, "shadowMinDays", settings.shadow_min_days, 1)
    return problems


def _lake_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    _at_least(problems, "lakeSampleRows", settings.lake_sample_rows, MIN_LAKE_SAMPLE_ROWS)
    # Athena's minimum is 10,000,000 bytes; the provider's is 10 MiB (infra.lake.MIN_BYTES_SCANNED_CUTOFF).
    _at_least(problems, "athenaBytesScannedCutoff", settings.athena_bytes_scanned_cutoff, MIN_BYTES_SCANNED_CUTOFF)
    _at_least(problems, "awsSdkPandasLayerVersion", settings.aws_sdk_pandas_layer_version, 1)
    if settings.region and settings.region not in AWS_SDK_PANDAS_LAYER_ACCOUNTS:
        problems.append(
            f"aws:region {settings.region!r} has no AWS SDK for pandas managed layer, which the payload ETL needs "
            f"(regions with one: {', '.join(sorted(AWS_SDK_PANDAS_LAYER_ACCOUNTS))})"
        )
    return problems


def load_settings() -> Settings:
    """Read and validate the settings from the running stack's configuration."""
    values: dict[str, str] = {}
    for key in _keys_to_read():
        namespace, name = key.split(":", 1)
        value = pulumi.Config(namespace).get(name)
        if value is not None:
            values[key] = value
    return Settings.from_mapping(values)
