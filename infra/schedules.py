"""Schedules: EventBridge Scheduler schedules built from `core.routing.SCHEDULES` and infra's maintenance schedules
(`infra.job_specs.MAINTENANCE_SCHEDULES`: the lake's compaction).

Expressions come from the stack config keys the schedules name (validated in `infra.config`). Each schedule passes its
scheduled time (`<aws.scheduler.scheduled-time>`) so a run that is retried or late still works on the window it
was meant for: to the alerting Lambda as `{"scheduled_time": ...}`, to a Batch job as its `now` parameter
through the universal target `arn:aws:scheduler:::aws-sdk:batch:submitJob` (Scheduler's templated Batch target
does not exist; the universal target's input is SubmitJob's request, PascalCase). Flexible time windows are off:
the jobs' windows are anchored to the scheduled time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_aws as aws

from core.routing import SCHEDULES, Target
from infra.dead_letters import dead_letter_queue
from infra.job_specs import JOB_OF_TARGET, JOB_SPECS, Job, JobSchedule, job_schedules, referenced_parameters
from infra.policies import Statement, policy_document
from infra.roles import service_role

SCHEDULER_SERVICE = "scheduler.amazonaws.com"
BATCH_SUBMIT_JOB_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: Scheduler retries a failed invocation with backoff for up to this long, then dead-letters it.
MAX_EVENT_AGE_SECONDS = 3600
MAX_RETRY_ATTEMPTS = 5
TIMEZONE = "UTC"


def job_name(schedule: JobSchedule) -> str:
    """The Batch job name of a scheduled submission (letters, digits, '-', '_')."""
    return f"autoretrain-{schedule.name}"


def lambda_input() -> str:
    """The alerting Lambda's input: its scheduled time (lambdas/alerting expects exactly this shape)."""
    return json.dumps({"scheduled_time": SCHEDULED_TIME})


def job_parameters(schedule: JobSchedule, expression: str) -> dict[str, str]:
    """SubmitJob `Parameters` for a scheduled job: the schedule's payload, the scheduled time as `now`, and a reason
    when the job records one."""
    referenced = referenced_parameters(JOB_SPECS[schedule.job].command)
    parameters = {**schedule.payload, "now": SCHEDULED_TIME}
    if "reason" in referenced:
        parameters["reason"] = f"schedule {schedule.name}: {expression}"
    return {name: value for name, value in parameters.items() if name in referenced}


def submit_job_input(schedule: JobSchedule, expression: str, *, queue_arn: str, definition_arn: str) -> str:
    """The universal target's input: SubmitJob's request parameters (PascalCase, as the Batch API names them)."""
    request = {
        "JobName": job_name(schedule),
        "JobQueue": queue_arn,
        "JobDefinition": definition_arn,
        "Parameters": job_parameters(schedule, expression),
    }
    return json.dumps(request, sort_keys=True)


def invoke_function_policy(*, function_arn: str, dead_letter_queue_arn: str) -> str:
    """Scheduler's role for the alerting schedule: invoke that function, dead-letter what failed."""
    return policy_document(
        [
            Statement("InvokeAlertingFunction", ["lambda:InvokeFunction"], [function_arn]),
            Statement("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        ]
    )


def submit_jobs_policy(*, queue_arn: str, definition_arns: Sequence[str], dead_letter_queue_arn: str) -> str:
    """Scheduler's role for the job schedules: submit those job definitions to that queue, dead-letter failures."""
    return policy_document(
        [
            Statement("SubmitScheduledJobs", ["batch:SubmitJob"], [queue_arn, *sorted(set(definition_arns))]),
            Statement("DeadLetter", ["sqs:SendMessage"], [dead_letter_queue_arn]),
        ]
    )


@dataclass(frozen=True, slots=True)
class SchedulesArgs:
    """Inputs of the Schedules component."""

    account_id: pulumi.Input[str]
    expressions: Mapping[str, str]  # schedule config key -> expression (already validated)
    alerting_function_arn: pulumi.Input[str]
    job_queue_arn: pulumi.Input[str]
    definition_arns: Mapping[Job, pulumi.Input[str]]


class Schedules(pulumi.ComponentResource):
    """A schedule group, a schedule per routing and maintenance schedule, one role per target type, and a
    dead-letter queue."""

    group: aws.scheduler.ScheduleGroup
    schedules: dict[str, aws.scheduler.Schedule]
    dead_letter_queue: aws.sqs.Queue

    def __init__(self, name: str, args: SchedulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:schedules:Schedules", name, None, opts)
        self._name = name
        self.group = aws.scheduler.ScheduleGroup(f"{name}-group", opts=pulumi.ResourceOptions(parent=self))
        self.dead_letter_queue = dead_letter_queue(f"{name}-dead-letters", self)
        invoker = service_role(
            f"{name}-invoke",
            SCHEDULER_SERVICE,
            pulumi.Output.all(
                function_arn=args.alerting_function_arn, dead_letter_queue_arn=self.dead_letter_queue.arn
            ).apply(lambda arns: invoke_function_policy(**arns)),
            parent=self,
            source_account=args.account_id,
        )
        submitter = service_role(
            f"{name}-submit",
            SCHEDULER_SERVICE,
            pulumi.Output.all(
                args.job_queue_arn, self.dead_letter_queue.arn, *[args.definition_arns[job] for job in Job]
            ).apply(
                lambda arns: submit_jobs_policy(
                    queue_arn=arns[0], dead_letter_queue_arn=arns[1], definition_arns=arns[2:]
                )
            ),
            parent=self,
            source_account=args.account_id,
        )
        self.schedules = {}
        for route in SCHEDULES:
            if route.target in JOB_OF_TARGET:
                continue  # below, with the other job schedules
            if route.target is not Target.ALERTING_FUNCTION:
                raise ValueError(f"routing schedules {route.target.value}, which infra does not build a target for")
            self._schedule(
                route.name,
                f"{route.name} -> {route.target.value}",
                args.expressions[route.config_key],
                {"arn": args.alerting_function_arn, "role_arn": invoker.role.arn, "input": lambda_input()},
                invoker.policy,
            )
        for schedule in job_schedules():
            expression = args.expressions[schedule.config_key]
            definition = args.definition_arns[schedule.job]
            target = {
                "arn": BATCH_SUBMIT_JOB_TARGET,
                "role_arn": submitter.role.arn,
                "input": pulumi.Output.all(args.job_queue_arn, definition).apply(
                    functools.partial(_submit_job_input_of, schedule, expression)
                ),
            }
            self._schedule(
                schedule.name, f"{schedule.name} -> {schedule.job.value}-job", expression, target, submitter.policy
            )
        self.register_outputs(
            {
                "group": self.group.name,
                "schedules": {route: schedule.arn for route, schedule in self.schedules.items()},
                "dead_letter_queue": self.dead_letter_queue.url,
            }
        )

    def _schedule(
        self,
        name: str,
        description: str,
        expression: str,
        target: Mapping[str, Any],
        policy: aws.iam.RolePolicy,
    ) -> None:
        """`{component}-{name}`: retried, dead-lettered, anchored to its scheduled time (no flexible window)."""
        settings: dict[str, Any] = {
            **target,
            "retry_policy": {
                "maximum_event_age_in_seconds": MAX_EVENT_AGE_SECONDS,
                "maximum_retry_attempts": MAX_RETRY_ATTEMPTS,
            },
            "dead_letter_config": {"arn": self.dead_letter_queue.arn},
        }
        self.schedules[name] = aws.scheduler.Schedule(
            f"{self._name}-{name}",
            group_name=self.group.name,
            description=f"autoretrain: {description}",
            schedule_expression=expression,
            schedule_expression_timezone=TIMEZONE,
            flexible_time_window={"mode": "OFF"},
            target=cast(aws.scheduler.ScheduleTargetArgsDict, settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )


def _submit_job_input_of(schedule: JobSchedule, expression: str, arns: Sequence[str]) -> str:
    return submit_job_input(schedule, expression, queue_arn=arns[0], definition_arn=arns[1])
