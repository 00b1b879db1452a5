"""The two Batch jobs as their submitters and definitions see them: what each runs, which `Ref::` parameters its
command takes, and the deployment contract's variables it reads (pure; unit-tested without Pulumi).

Commands take `Ref::` parameters that every submitter fills: the schedules pass the scheduled time as `now`, the
RetrainRequested rule passes the event's trigger, reason and request time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.routing import Target
from core.settings import EnvVar


class Job(StrEnum):
    """The two jobs; the values name their resources and log streams."""

    DRIFT_CHECK = "drift-check"
    RETRAIN = "retrain"


#: Routing's targets that are Batch jobs.
JOB_OF_TARGET = {Target.DRIFT_CHECK_JOB: Job.DRIFT_CHECK, Target.RETRAIN_JOB: Job.RETRAIN}


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
        ("--trigger", "Ref::trigger", "--reason", "Ref::reason", "--now", "Ref::now"),
        {"trigger": "on_demand", "reason": "submitted by hand"},
    ),
}


def referenced_parameters(command: Sequence[str]) -> set[str]:
    """The `Ref::name` placeholders of a command."""
    return {word.removeprefix("Ref::") for word in command if word.startswith("Ref::")}


def parameters_to_supply(job: Job) -> set[str]:
    """The placeholders that have no default: every submitter of the job must supply them."""
    spec = JOB_SPECS[job]
    return referenced_parameters(spec.command) - set(spec.default_parameters)


def job_environment(
    job: Job,
    *,
    payload_bucket: str,
    model_bucket: str,
    payload_table: str,
    registry_table: str,
    event_bus: str,
    model_name: str,
    code_version: str,
) -> dict[str, str]:
    """The deployment contract's variables each job reads (core.settings DriftCheckSettings/RetrainSettings)."""
    common = {
        EnvVar.MODEL_BUCKET.value: model_bucket,
        EnvVar.PAYLOAD_TABLE.value: payload_table,
        EnvVar.REGISTRY_TABLE.value: registry_table,
        EnvVar.EVENT_BUS.value: event_bus,
        EnvVar.MODEL_NAME.value: model_name,
    }
    if job is Job.RETRAIN:
        # The image's content tag is the code's version: the job needs no git checkout to record lineage.
        return {**common, EnvVar.PAYLOAD_BUCKET.value: payload_bucket, EnvVar.CODE_VERSION.value: code_version}
    return common
