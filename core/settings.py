"""The deployment contract between infra and code: every Lambda and job reads its resources from these."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class EnvVar(StrEnum):
    """Environment variable names that infra sets and code reads."""

    PAYLOAD_BUCKET = "AUTORETRAIN_PAYLOAD_BUCKET"
    MODEL_BUCKET = "AUTORETRAIN_MODEL_BUCKET"
    PAYLOAD_TABLE = "AUTORETRAIN_PAYLOAD_TABLE"
    REGISTRY_TABLE = "AUTORETRAIN_REGISTRY_TABLE"
    ALERT_TOPIC_ARN = "AUTORETRAIN_ALERT_TOPIC_ARN"
    EVENT_BUS = "AUTORETRAIN_EVENT_BUS"
    MODEL_NAME = "AUTORETRAIN_MODEL_NAME"
    PAYLOAD_RETENTION_DAYS = "AUTORETRAIN_PAYLOAD_RETENTION_DAYS"
    LABEL_DELAY_DAYS = "AUTORETRAIN_LABEL_DELAY_DAYS"
    CODE_VERSION = "AUTORETRAIN_CODE_VERSION"
    SERVING_FUNCTION = "AUTORETRAIN_SERVING_FUNCTION"
    SERVING_ALIAS = "AUTORETRAIN_SERVING_ALIAS"
    ECR_REPOSITORY_URI = "AUTORETRAIN_ECR_REPOSITORY_URI"
    DEPLOY_ALARMS = "AUTORETRAIN_DEPLOY_ALARMS"
    CANARY_PERCENT = "AUTORETRAIN_CANARY_PERCENT"
    CANARY_MINUTES = "AUTORETRAIN_CANARY_MINUTES"
    DRIFT_WINDOW_DAYS = "AUTORETRAIN_DRIFT_WINDOW_DAYS"
    DRIFT_CONSECUTIVE_CHECKS = "AUTORETRAIN_DRIFT_CONSECUTIVE_CHECKS"
    RETRAIN_COOLDOWN_DAYS = "AUTORETRAIN_RETRAIN_COOLDOWN_DAYS"
    RETRAIN_CAP = "AUTORETRAIN_RETRAIN_CAP"
    RETRAIN_CAP_PERIOD_DAYS = "AUTORETRAIN_RETRAIN_CAP_PERIOD_DAYS"
    RUNBOOK_URL = "AUTORETRAIN_RUNBOOK_URL"
    ALERT_WINDOW_MINUTES = "AUTORETRAIN_ALERT_WINDOW_MINUTES"
    ALERT_HISTORY_DAYS = "AUTORETRAIN_ALERT_HISTORY_DAYS"
    ALERT_COOLDOWN_MINUTES = "AUTORETRAIN_ALERT_COOLDOWN_MINUTES"
    ALERT_LATENCY_BUDGET_MS = "AUTORETRAIN_ALERT_LATENCY_BUDGET_MS"
    ALERT_MAX_WINDOW_MINUTES = "AUTORETRAIN_ALERT_MAX_WINDOW_MINUTES"
    INGEST_LAG_MINUTES = "AUTORETRAIN_INGEST_LAG_MINUTES"
    PAYLOAD_STREAM = "AUTORETRAIN_PAYLOAD_STREAM"
    FEATURE_METRICS = "AUTORETRAIN_FEATURE_METRICS"
    LAKE_DATABASE = "AUTORETRAIN_LAKE_DATABASE"
    LAKE_ENGINE = "AUTORETRAIN_LAKE_ENGINE"
    ATHENA_WORKGROUP = "AUTORETRAIN_ATHENA_WORKGROUP"
    LAKE_SAMPLE_ROWS = "AUTORETRAIN_LAKE_SAMPLE_ROWS"
    CONTROL_SHARE = "AUTORETRAIN_CONTROL_SHARE"
    CLIENT_ID_FEATURE = "AUTORETRAIN_CLIENT_ID_FEATURE"
    SHADOW_DIR = "AUTORETRAIN_SHADOW_DIR"
    SHADOW_MIN_REQUESTS = "AUTORETRAIN_SHADOW_MIN_REQUESTS"
    SHADOW_MIN_DAYS = "AUTORETRAIN_SHADOW_MIN_DAYS"
    SHADOW_RELEASES = "AUTORETRAIN_SHADOW_RELEASES"
    REVIEW_SHARE = "AUTORETRAIN_REVIEW_SHARE"
    REVIEW_SCORE_CUT = "AUTORETRAIN_REVIEW_SCORE_CUT"
    REVIEW_TOP_SHARE = "AUTORETRAIN_REVIEW_TOP_SHARE"
    REVIEW_OVERSAMPLE = "AUTORETRAIN_REVIEW_OVERSAMPLE"
    LIFETIME_VALUE = "AUTORETRAIN_LIFETIME_VALUE"


class MissingSettingError(RuntimeError):
    """A required environment variable is absent or empty."""


class InvalidSettingError(MissingSettingError):
    """An environment variable is set to a value it cannot have (a subclass of `MissingSettingError`, so that
    whatever treats a missing setting as a configuration failure treats this one so too)."""


def require_env(name: EnvVar, environ: Mapping[str, str] | None = None) -> str:
    """Return a required setting, or raise naming the variable that is missing."""
    value = (os.environ if environ is None else environ).get(name.value, "")
    if not value:
        raise MissingSettingError(f"environment variable {name.value} is not set")
    return value


#: The payload-ETL function's memory (MB): infra gives the function this much, and the ETL derives every limit of
#: its per-object work from the memory the runtime announces (this number where no runtime announces one). 768, not
#: the 512 it had before the lake: the AWS SDK for pandas layer's imports and one lake file being written take about
#: 240 MB more, and this keeps the per-object limits near what 512 MB gave (`lambdas.payload_etl.limits`).
PAYLOAD_ETL_MEMORY_MB = 768


@dataclass(frozen=True, slots=True)
class PayloadEtlSettings:
    """What the payload-ETL Lambda needs. The lake's files go to the source object's bucket (the payload bucket);
    `lake_database` is the Glue database whose predictions table types their feature columns."""

    payload_table: str
    payload_retention_days: int
    lake_database: str
    model_bucket: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PayloadEtlSettings:
        """Read the settings once (at cold start)."""
        days = require_env(EnvVar.PAYLOAD_RETENTION_DAYS, environ)
        if not days.isdigit() or int(days) < 1:
            raise MissingSettingError(f"{EnvVar.PAYLOAD_RETENTION_DAYS.value} must be a positive integer")
        return cls(
            payload_table=require_env(EnvVar.PAYLOAD_TABLE, environ),
            payload_retention_days=int(days),
            lake_database=require_env(EnvVar.LAKE_DATABASE, environ),
            model_bucket=require_env(EnvVar.MODEL_BUCKET, environ),
        )


#: The engines the jobs can query the lake with: Athena in AWS, DuckDB embedded (over the same Parquet files).
LAKE_ENGINES = ("athena", "duckdb")


@dataclass(frozen=True, slots=True)
class LakeSettings:
    """Where the payload lake is and how the jobs query it (`core.lake`).

    `bucket` is the payload bucket (the lake is its `lake/` prefix); `database` the Glue database holding the
    `predictions` and `labels` tables; `engine` `athena` (the default where infra deploys the jobs, with
    `workgroup`) or `duckdb` (embedded: the demo, the tests, one machine); `sample_rows` caps the rows a job reads
    from one window (its memory is set by this, not by the window's size).
    """

    bucket: str
    database: str
    engine: str = "duckdb"
    workgroup: str = ""
    sample_rows: int = 200_000

    def __post_init__(self) -> None:
        if self.engine not in LAKE_ENGINES:
            raise InvalidSettingError(f"{EnvVar.LAKE_ENGINE.value} must be one of {LAKE_ENGINES}, not {self.engine!r}")
        if self.engine == "athena" and not self.workgroup:
            raise InvalidSettingError(f"the athena engine needs {EnvVar.ATHENA_WORKGROUP.value}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LakeSettings:
        """Read the settings once."""
        source = os.environ if environ is None else environ
        return cls(
            bucket=require_env(EnvVar.PAYLOAD_BUCKET, environ),
            database=require_env(EnvVar.LAKE_DATABASE, environ),
            engine=source.get(EnvVar.LAKE_ENGINE.value, "") or "duckdb",
            workgroup=source.get(EnvVar.ATHENA_WORKGROUP.value, ""),
            sample_rows=_optional_int(EnvVar.LAKE_SAMPLE_ROWS, 200_000, environ, minimum=1_000),
        )


#: Where the serving image holds a shadow challenger's model directory (the Dockerfile's `SHADOW_DIR` build
#: argument is copied there); infra points `AUTORETRAIN_SHADOW_DIR` at it when the stack turns shadowing on.
SHADOW_MODEL_DIR = "/opt/shadow"


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """What the serving Lambda needs: the Firehose delivery stream its payload records go to, and its model.

    The business-impact experiment (`core.assignment`): `control_share` (default 0: no control group) of the clients
    are answered with the model's heuristic; a client is identified by an instance's `client_id` member or, when
    `client_id_feature` names one, by that feature's value. `shadow_dir` (default empty: no shadow) is the model
    directory of a shadow challenger scored beside the champion and logged, never returned.
    """

    payload_stream: str
    model_name: str
    control_share: float = 0.0
    client_id_feature: str = ""
    shadow_dir: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.control_share, bool) or not 0.0 <= self.control_share < 1.0:
            raise InvalidSettingError(
                f"{EnvVar.CONTROL_SHARE.value} must be a number in [0, 1), got {self.control_share!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read the settings once (at cold start)."""
        source = os.environ if environ is None else environ
        return cls(
            payload_stream=require_env(EnvVar.PAYLOAD_STREAM, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            control_share=_optional_float(EnvVar.CONTROL_SHARE, 0.0, environ),
            client_id_feature=source.get(EnvVar.CLIENT_ID_FEATURE.value, "").strip(),
            shadow_dir=source.get(EnvVar.SHADOW_DIR.value, "").strip(),
        )


@dataclass(frozen=True, slots=True)
class ShadowPeriodSettings:
    """How long a shadow challenger serves beside the champion before the comparison decides its promotion: at
    least `min_requests` shadowed requests and `min_days` days (default 7: every weekday once, so weekly seasonality
    does not decide it). Read by the batch jobs that compare shadow and champion."""

    min_requests: int = 1_000
    min_days: int = 7

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShadowPeriodSettings:
        """Read the settings once, at the start of the job."""
        return cls(
            min_requests=_optional_int(EnvVar.SHADOW_MIN_REQUESTS, 1_000, environ, minimum=1),
            min_days=_optional_int(EnvVar.SHADOW_MIN_DAYS, 7, environ, minimum=1),
        )


def _optional_float(name: EnvVar, default: float, environ: Mapping[str, str] | None) -> float:
    value = (os.environ if environ is None else environ).get(name.value, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError as error:
        raise InvalidSettingError(f"{name.value} must be a number, got {value!r}") from error
    if not math.isfinite(number):
        raise InvalidSettingError(f"{name.value} must be a finite number, got {value!r}")
    return number


def _optional_int(name: EnvVar, default: int, environ: Mapping[str, str] | None, *, minimum: int = 0) -> int:
    value = (os.environ if environ is None else environ).get(name.value, "")
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise MissingSettingError(f"{name.value} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class RetrainSettings:
    """What the retrain job and `autoretrain rollback` need.

    `label_delay_days` (default 7): a prediction's label counts as matured, and the row as training data, only
    once the prediction is this old. `code_version`: recorded as lineage; empty means "ask git".
    `shadow_releases` (off): a release for a schedule, drift or on-demand retrain first serves in shadow beside the
    champion (`batch_jobs.release.SHADOW_TRIGGERS`; the stack's shadow setting).
    """

    payload_bucket: str
    model_bucket: str
    payload_table: str
    registry_table: str
    event_bus: str
    model_name: str
    label_delay_days: int = 7
    code_version: str = ""
    shadow_releases: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetrainSettings:
        """Read the settings once, at the start of the job."""
        source = os.environ if environ is None else environ
        return cls(
            payload_bucket=require_env(EnvVar.PAYLOAD_BUCKET, environ),
            model_bucket=require_env(EnvVar.MODEL_BUCKET, environ),
            payload_table=require_env(EnvVar.PAYLOAD_TABLE, environ),
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            event_bus=require_env(EnvVar.EVENT_BUS, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            label_delay_days=_optional_int(EnvVar.LABEL_DELAY_DAYS, 7, environ),
            code_version=source.get(EnvVar.CODE_VERSION.value, ""),
            shadow_releases=_optional_bool(EnvVar.SHADOW_RELEASES, environ),
        )


@dataclass(frozen=True, slots=True)
class DeploySettings:
    """What the release pipeline's entry points (`python -m deploy`, run by CodeBuild) need.

    `serving_alias` defaults to `live`. A canary (`canary_percent` > 0, `canary_minutes` > 0 and at least one
    alarm in `deploy_alarms`) shifts that share of traffic first and rolls back if an alarm fires; otherwise the
    alias moves all at once.
    """

    registry_table: str
    event_bus: str
    model_name: str
    serving_function: str
    serving_alias: str = "live"
    ecr_repository_uri: str = ""
    deploy_alarms: tuple[str, ...] = ()
    canary_percent: int = 0
    canary_minutes: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeploySettings:
        """Read the settings once per command."""
        source = os.environ if environ is None else environ
        alarms = tuple(name.strip() for name in source.get(EnvVar.DEPLOY_ALARMS.value, "").split(",") if name.strip())
        percent = _optional_int(EnvVar.CANARY_PERCENT, 0, environ)
        if percent > 99:
            raise MissingSettingError(f"{EnvVar.CANARY_PERCENT.value} must be between 0 and 99")
        return cls(
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            event_bus=require_env(EnvVar.EVENT_BUS, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            serving_function=require_env(EnvVar.SERVING_FUNCTION, environ),
            serving_alias=source.get(EnvVar.SERVING_ALIAS.value, "") or "live",
            ecr_repository_uri=source.get(EnvVar.ECR_REPOSITORY_URI.value, ""),
            deploy_alarms=alarms,
            canary_percent=percent,
            canary_minutes=_optional_int(EnvVar.CANARY_MINUTES, 0, environ),
        )


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """The review sample (`batch_jobs.monitoring.review.ReviewDesign`): `share` of the predictions (0, the default:
    no review sample) are exported daily for human review, stratified at the score `score_cut` (0.5), the stratum
    above it (expected to hold `top_share`, 0.2, of the traffic) reviewed `oversample` (4) times as often per
    prediction, so the rare class is reviewed. Read by the live evaluation (the export) and the drift check (the
    estimate): both must see the same design."""

    share: float = 0.0
    score_cut: float = 0.5
    top_share: float = 0.2
    oversample: float = 4.0

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.share <= 1.0:
            problems.append(f"{EnvVar.REVIEW_SHARE.value} must be in [0, 1], got {self.share}")
        if not 0.0 < self.score_cut < 1.0:
            problems.append(f"{EnvVar.REVIEW_SCORE_CUT.value} must be in (0, 1), got {self.score_cut}")
        if not 0.0 < self.top_share < 1.0:
            problems.append(f"{EnvVar.REVIEW_TOP_SHARE.value} must be in (0, 1), got {self.top_share}")
        if self.oversample < 1.0:
            problems.append(f"{EnvVar.REVIEW_OVERSAMPLE.value} must be at least 1, got {self.oversample}")
        if problems:
            raise InvalidSettingError("; ".join(problems))

    @property
    def enabled(self) -> bool:
        """Whether a review sample is taken."""
        return self.share > 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReviewSettings:
        """Read the settings once, at the start of the job."""
        defaults = cls()
        return cls(
            share=_optional_float(EnvVar.REVIEW_SHARE, defaults.share, environ),
            score_cut=_optional_float(EnvVar.REVIEW_SCORE_CUT, defaults.score_cut, environ),
            top_share=_optional_float(EnvVar.REVIEW_TOP_SHARE, defaults.top_share, environ),
            oversample=_optional_float(EnvVar.REVIEW_OVERSAMPLE, defaults.oversample, environ),
        )


#: The value of one avoided bad outcome (a retained client), in the business's own units, unless the stack says.
DEFAULT_LIFETIME_VALUE = 500.0


@dataclass(frozen=True, slots=True)
class LiveEvaluationSettings:
    """What the live-evaluation job needs: its resources, the review sample, the business impact's
    `lifetime_value` (500: the value of one avoided bad outcome, in the business's units) and the shadow period."""

    payload_bucket: str
    model_bucket: str
    registry_table: str
    event_bus: str
    model_name: str
    label_delay_days: int = 7
    lifetime_value: float = DEFAULT_LIFETIME_VALUE
    review: ReviewSettings = field(default_factory=ReviewSettings)
    shadow: ShadowPeriodSettings = field(default_factory=ShadowPeriodSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LiveEvaluationSettings:
        """Read the settings once, at the start of the job."""
        lifetime_value = _optional_float(EnvVar.LIFETIME_VALUE, DEFAULT_LIFETIME_VALUE, environ)
        if lifetime_value < 0:
            raise InvalidSettingError(f"{EnvVar.LIFETIME_VALUE.value} must not be negative, got {lifetime_value}")
        return cls(
            payload_bucket=require_env(EnvVar.PAYLOAD_BUCKET, environ),
            model_bucket=require_env(EnvVar.MODEL_BUCKET, environ),
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            event_bus=require_env(EnvVar.EVENT_BUS, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            label_delay_days=_optional_int(EnvVar.LABEL_DELAY_DAYS, 7, environ),
            lifetime_value=lifetime_value,
            review=ReviewSettings.from_env(environ),
            shadow=ShadowPeriodSettings.from_env(environ),
        )


@dataclass(frozen=True, slots=True)
class DriftCheckSettings:
    """What the drift-check job needs.

    Defaults: a 7-day current window (every weekday once: weekly seasonality does not look like drift, and a
    day of ordinary traffic is well above the suite's 200-row minimum); labels count as matured after
    `AUTORETRAIN_LABEL_DELAY_DAYS` (7, the same setting and default as the retrain job). Trigger policy: a retrain
    after 2 consecutive drifting checks (one drifting day is as likely a blip as a change), at most one request
    per 3 days (a retrain and its deploy must land before asking again) and at most 2 per 14 days.
    `feature_metrics` (off): also publish each feature's drift flag and effect size to CloudWatch, two custom
    metrics per feature at $0.30 a month each (the report and result.json always hold them).
    """

    model_bucket: str
    payload_table: str
    registry_table: str
    event_bus: str
    model_name: str
    window_days: int = 7
    label_delay_days: int = 7
    consecutive_checks: int = 2
    cooldown_days: int = 3
    max_retrains: int = 2
    cap_period_days: int = 14
    feature_metrics: bool = False
    review: ReviewSettings = field(default_factory=ReviewSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DriftCheckSettings:
        """Read the settings once, at the start of the job."""
        return cls(
            model_bucket=require_env(EnvVar.MODEL_BUCKET, environ),
            payload_table=require_env(EnvVar.PAYLOAD_TABLE, environ),
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            event_bus=require_env(EnvVar.EVENT_BUS, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            window_days=_optional_int(EnvVar.DRIFT_WINDOW_DAYS, 7, environ, minimum=1),
            label_delay_days=_optional_int(EnvVar.LABEL_DELAY_DAYS, 7, environ),
            consecutive_checks=_optional_int(EnvVar.DRIFT_CONSECUTIVE_CHECKS, 2, environ, minimum=1),
            cooldown_days=_optional_int(EnvVar.RETRAIN_COOLDOWN_DAYS, 3, environ),
            max_retrains=_optional_int(EnvVar.RETRAIN_CAP, 2, environ, minimum=1),
            cap_period_days=_optional_int(EnvVar.RETRAIN_CAP_PERIOD_DAYS, 14, environ, minimum=1),
            feature_metrics=_optional_bool(EnvVar.FEATURE_METRICS, environ),
            review=ReviewSettings.from_env(environ),
        )


def _optional_bool(name: EnvVar, environ: Mapping[str, str] | None) -> bool:
    value = (os.environ if environ is None else environ).get(name.value, "").strip().lower()
    if value not in ("", "true", "false"):
        raise InvalidSettingError(f"{name.value} must be 'true' or 'false', got {value!r}")
    return value == "true"


#: Where alert messages point when no runbook URL is configured: the runbook's path in this repository.
DEFAULT_RUNBOOK_URL = "docs/runbook.md"


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    """What the alerting Lambda needs.

    Defaults: a run every 10 minutes judges the newest aggregates the payload-ETL wrote (`core.aggregates`), on
    the shortest window of 10, 20, 40, ... minutes (`window_minutes` doubled, at most `max_window_minutes`, 24 h)
    that holds enough predictions for each check, so a busy model is judged on its last 10 minutes and a quiet one
    on as many hours as it needs (its alert says so); the window ends `ingest_lag_minutes` (3) before the run,
    which covers Firehose's 60-second buffer and the ETL. Volume is compared with the same window on each of the
    previous 7 days (daily seasonality cancels, one odd day does not move the median); an ongoing alert is re-sent
    every 240 minutes (a reminder, not a pager storm); p99 latency above 1000 ms alerts. `runbook_url` is the
    base URL of docs/runbook.md as deployed (alert messages link `<runbook_url>#<signal anchor>`).
    """

    payload_bucket: str
    payload_table: str
    registry_table: str
    alert_topic_arn: str
    event_bus: str
    model_name: str
    runbook_url: str = DEFAULT_RUNBOOK_URL
    window_minutes: int = 10
    max_window_minutes: int = 1440
    ingest_lag_minutes: int = 3
    history_days: int = 7
    cooldown_minutes: int = 240
    latency_budget_ms: int = 1000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertingSettings:
        """Read the settings once (at cold start)."""
        source = os.environ if environ is None else environ
        return cls(
            payload_bucket=require_env(EnvVar.PAYLOAD_BUCKET, environ),
            payload_table=require_env(EnvVar.PAYLOAD_TABLE, environ),
            registry_table=require_env(EnvVar.REGISTRY_TABLE, environ),
            alert_topic_arn=require_env(EnvVar.ALERT_TOPIC_ARN, environ),
            event_bus=require_env(EnvVar.EVENT_BUS, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
            runbook_url=source.get(EnvVar.RUNBOOK_URL.value, "") or DEFAULT_RUNBOOK_URL,
            window_minutes=_optional_int(EnvVar.ALERT_WINDOW_MINUTES, 10, environ, minimum=1),
            max_window_minutes=_optional_int(EnvVar.ALERT_MAX_WINDOW_MINUTES, 1440, environ, minimum=1),
            ingest_lag_minutes=_optional_int(EnvVar.INGEST_LAG_MINUTES, 3, environ),
            history_days=_optional_int(EnvVar.ALERT_HISTORY_DAYS, 7, environ, minimum=1),
            cooldown_minutes=_optional_int(EnvVar.ALERT_COOLDOWN_MINUTES, 240, environ, minimum=1),
            latency_budget_ms=_optional_int(EnvVar.ALERT_LATENCY_BUDGET_MS, 1000, environ, minimum=1),
        )
