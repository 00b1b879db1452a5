"""The Batch jobs as their submitters and definitions see them: what each runs, which `Ref::` parameters its
command takes, which schedules submit it, and the deployment contract's variables it reads (pure; unit-tested
without Pulumi).

Commands take `Ref::` parameters that every submitter fills: the schedules pass the scheduled time as `now`, the
RetrainRequested rule passes the event's trigger, reason, request time and regime start (a recovery's, else
`none`). No submitter overrides the command, so what the job definition runs (`job_spec`: the retrain with
`--incremental` when the stack's `incrementalRetrain` is on) is what every run runs.

Routing (`core.routing.SCHEDULES`) schedules the drift check and the proactive retrain, which the local runner fires
too. The lake's compaction is maintenance of AWS's copy of the lake only (the embedded engine reads the part files
as they are), so infra schedules it itself (`MAINTENANCE_SCHEDULES`); should the local runner ever compact, the
schedule moves to routing with a target of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from core.events import NO_REGIME
from core.routing import SCHEDULES, Target
from core.settings import DEFAULT_LIFETIME_VALUE, EnvVar, ReviewSettings, ShadowPeriodSettings

#: The engine the deployed jobs query the lake with (`core.settings.LAKE_ENGINES`): Athena, in the stack's workgroup.
LAKE_ENGINE = "athena"
#: `batch_jobs.retrain`'s switch: update the champion's final estimator instead of refitting from the model spec.
INCREMENTAL_FLAG = "--incremental"


class Job(StrEnum):
    """The jobs; the values name their resources and log streams."""

    DRIFT_CHECK = "drift-check"
    RETRAIN = "retrain"
    COMPACT_LAKE = "compact-lake"
    LIVE_EVALUATION = "live-evaluation"


#: Routing's targets that are Batch jobs.
JOB_OF_TARGET = {
    Target.DRIFT_CHECK_JOB: Job.DRIFT_CHECK,
    Target.RETRAIN_JOB: Job.RETRAIN,
    Target.LIVE_EVALUATION_JOB: Job.LIVE_EVALUATION,
}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job's command (after the image's `python` entry point) and its parameters' defaults."""

    module: str
    arguments: tuple[str, ...]
    default_parameters: Mapping[str, str]

    @property
    def command(self) -> list[str]:
        """The container command: `-m <module> <arguments>` (the image's ENTRYPOINT is `python`)."""
        return ["-m", self.module, *self.arguments]


JOB_SPECS: dict[Job, JobSpec] = {
    Job.DRIFT_CHECK: JobSpec("batch_jobs.drift_check", ("--now", "Ref::now"), {}),
    Job.RETRAIN: JobSpec(
        "batch_jobs.retrain",
        (
            "--trigger",
            "Ref::trigger",
            "--reason",
            "Ref::reason",
            "--now",
            "Ref::now",
            "--regime-start",
            "Ref::regime_start",
        ),
        {"trigger": "on_demand", "reason": "submitted by hand", "regime_start": NO_REGIME},
    ),
    Job.COMPACT_LAKE: JobSpec("batch_jobs.compact_lake", ("--now", "Ref::now"), {}),
    Job.LIVE_EVALUATION: JobSpec("batch_jobs.live_evaluation", ("--now", "Ref::now"), {}),
}


def job_spec(job: Job, *, incremental_retrain: bool) -> JobSpec:
    """The job as the stack's definition runs it: `JOB_SPECS`, the retrain updating the champion incrementally
    (`--incremental`) when `incremental_retrain` is set."""
    spec = JOB_SPECS[job]
    if job is Job.RETRAIN and incremental_retrain:
        return replace(spec, arguments=(*spec.arguments, INCREMENTAL_FLAG))
    return spec


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """A schedule that submits a job: `payload` are SubmitJob parameters; `config_key` names the stack setting that
    may override the expression."""

    name: str
    default_expression: str
    config_key: str
    job: Job
    payload: Mapping[str, str] = field(default_factory=dict)


#: Schedules infra owns (module docstring): the lake's compaction, hourly (a day's part files are merged within the
#: hour, so the next queries open a few large files instead of one per payload object).
MAINTENANCE_SCHEDULES: tuple[JobSchedule, ...] = (
    JobSchedule("compact-lake", "rate(1 hour)", "compactLakeSchedule", Job.COMPACT_LAKE),
)


def job_schedules() -> tuple[JobSchedule, ...]:
    """Every schedule that submits a job: routing's and the maintenance ones."""
    routed = tuple(
        JobSchedule(route.name, route.default_expression, route.config_key, JOB_OF_TARGET[route.target], route.payload)
        for route in SCHEDULES
        if route.target in JOB_OF_TARGET
    )
    return routed + MAINTENANCE_SCHEDULES


def referenced_parameters(command: Sequence[str]) -> set[str]:
    """The `Ref::name` placeholders of a command."""
    return {word.removeprefix("Ref::") for word in command if word.startswith("Ref::")}


def parameters_to_supply(job: Job) -> set[str]:
    """The placeholders that have no default: every submitter of the job must supply them."""
    spec = JOB_SPECS[job]
    return referenced_parameters(spec.command) - set(spec.default_parameters)


@dataclass(frozen=True, slots=True)
class JobTuning:
    """The stack's settings of live evaluation that jobs read: the review design (the live evaluation exports the
    sample, the drift check estimates from it), the business impact's lifetime value, and shadow periods (the
    retrain job releases in shadow, the live evaluation decides them)."""

    review: ReviewSettings = field(default_factory=ReviewSettings)
    lifetime_value: float = DEFAULT_LIFETIME_VALUE
    shadow_releases: bool = False
    shadow: ShadowPeriodSettings = field(default_factory=ShadowPeriodSettings)

    def environment(self, job: Job) -> dict[str, str]:
        """The variables of `job` (core.settings: ReviewSettings, LiveEvaluationSettings, RetrainSettings)."""
        review = {
            EnvVar.REVIEW_SHARE.value: repr(self.review.share),
            EnvVar.REVIEW_SCORE_CUT.value: repr(self.review.score_cut),
            EnvVar.REVIEW_TOP_SHARE.value: repr(self.review.top_share),
            EnvVar.REVIEW_OVERSAMPLE.value: repr(self.review.oversample),
        }
        if job is Job.DRIFT_CHECK:
            return review
        if job is Job.LIVE_EVALUATION:
            return {
                **review,
                EnvVar.LIFETIME_VALUE.value: repr(self.lifetime_value),
                EnvVar.SHADOW_MIN_REQUESTS.value: str(self.shadow.min_requests),
                EnvVar.SHADOW_MIN_DAYS.value: str(self.shadow.min_days),
            }
        if job is Job.RETRAIN:
            return {EnvVar.SHADOW_RELEASES.value: "true" if self.shadow_releases else "false"}
        return {}


@dataclass(frozen=True, slots=True)
class JobNames:
    """The deployed names the jobs' environment carries."""

    payload_bucket: str
    model_bucket: str
    payload_table: str
    registry_table: str
    event_bus: str
    lake_database: str
    athena_workgroup: str


def job_environment(
    job: Job,
    names: JobNames,
    *,
    model_name: str,
    code_version: str,
    lake_sample_rows: int,
    feature_metrics: bool,
    tuning: JobTuning | None = None,
) -> dict[str, str]:
    """The deployment contract's variables each job reads (core.settings: DriftCheckSettings, RetrainSettings and
    LakeSettings for the two that query the lake; LakeSettings for the compaction, which only rewrites its files).
    The label delay is not set: `infra.config` validates retention against the code's default."""
    lake = {
        EnvVar.PAYLOAD_BUCKET.value: names.payload_bucket,
        EnvVar.LAKE_DATABASE.value: names.lake_database,
        EnvVar.MODEL_NAME.value: model_name,
    }
    if job is Job.COMPACT_LAKE:
        return lake
    querying = {
        **lake,
        EnvVar.LAKE_ENGINE.value: LAKE_ENGINE,
        EnvVar.ATHENA_WORKGROUP.value: names.athena_workgroup,
        EnvVar.LAKE_SAMPLE_ROWS.value: str(lake_sample_rows),
        EnvVar.MODEL_BUCKET.value: names.model_bucket,
        EnvVar.PAYLOAD_TABLE.value: names.payload_table,
        EnvVar.REGISTRY_TABLE.value: names.registry_table,
        EnvVar.EVENT_BUS.value: names.event_bus,
    }
    tuned = {**querying, **(tuning or JobTuning()).environment(job)}
    if job is Job.RETRAIN:
        # The image's content tag is the code's version: the job needs no git checkout to record lineage.
        return {**tuned, EnvVar.CODE_VERSION.value: code_version}
    if job is Job.LIVE_EVALUATION:
        return tuned
    return {**tuned, EnvVar.FEATURE_METRICS.value: "true" if feature_metrics else "false"}
