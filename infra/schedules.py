"""Schedules: EventBridge Scheduler schedules built from `core.routing.SCHEDULES`.

Expressions come from the stack config keys routing names (validated in `infra.config`). Each schedule passes its
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

from core.routing import SCHEDULES, ScheduleRoute, Target
from infra.dead_letters import dead_letter_queue
from infra.job_specs import JOB_OF_TARGET, JOB_SPECS, Job, referenced_parameters
from infra.policies import Statement, policy_document
from infra.roles import service_role

SCHEDULER_SERVICE = "scheduler.amazonaws.com"
BATCH_SUBMIT_JOB_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: Scheduler retries a failed invocation with backoff for up to this long, then dead-letters it.
MAX_EVENT_AGE_SECONDS = 3600
MAX_RETRY_ATTEMPTS = 5
TIMEZONE = "UTC"


def job_name(route: ScheduleRoute) -> str:
    """The Batch job name of a scheduled submission (letters, digits, '-', '_')."""
    return f"autoretrain-{route.name}"


def lambda_input() -> str:
    """The alerting Lambda's input: its scheduled time (lambdas/alerting expects exactly this shape)."""
    return json.dumps({"scheduled_time": SCHEDULED_TIME})


def job_parameters(route: ScheduleRoute, expression: str) -> dict[str, str]:
    """SubmitJob `Parameters` for a scheduled job: the route's payload, the scheduled time as `now`, and a reason
    when the job records one."""
    job = JOB_OF_TARGET[route.target]
    referenced = referenced_parameters(JOB_SPECS[job].command)
    parameters = {**route.payload, "now": SCHEDULED_TIME}
    if "reason" in referenced:
        parameters["reason"] = f"schedule {route.name}: {expression}"
    return {name: value for name, value in parameters.items() if name in referenced}


def submit_job_input(route: ScheduleRoute, expression: str, *, queue_arn: str, definition_arn: str) -> str:
    """The universal target's input: SubmitJob's request parameters (PascalCase, as the Batch API names them)."""
    request = {
        "JobName": job_name(route),
        "JobQueue": queue_arn,
        "JobDefinition": definition_arn,
        "Parameters": job_parameters(route, expression),
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
    expressions: Mapping[str, str]  # routing config key -> expression (already validated)
    alerting_function_arn: pulumi.Input[str]
    job_queue_arn: pulumi.Input[str]
    definition_arns: Mapping[Job, pulumi.Input[str]]


class Schedules(pulumi.ComponentResource):
    """A schedule group, a schedule per routing schedule, one role per target type, and a dead-letter queue."""

    group: aws.scheduler.ScheduleGroup
    schedules: dict[str, aws.scheduler.Schedule]
    dead_letter_queue: aws.sqs.Queue

    def __init__(self, name: str, args: SchedulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:schedules:Schedules", name, None, opts)
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
            expression = args.expressions[route.config_key]
            target: dict[str, Any] = {
                "retry_policy": {
                    "maximum_event_age_in_seconds": MAX_EVENT_AGE_SECONDS,
                    "maximum_retry_attempts": MAX_RETRY_ATTEMPTS,
                },
                "dead_letter_config": {"arn": self.dead_letter_queue.arn},
            }
            if route.target is Target.ALERTING_FUNCTION:
                target.update(arn=args.alerting_function_arn, role_arn=invoker.role.arn, input=lambda_input())
                policy = invoker.policy
            elif route.target in JOB_OF_TARGET:
                definition = args.definition_arns[JOB_OF_TARGET[route.target]]
                target.update(
                    arn=BATCH_SUBMIT_JOB_TARGET,
                    role_arn=submitter.role.arn,
                    input=pulumi.Output.all(args.job_queue_arn, definition).apply(
                        functools.partial(_submit_job_input_of, route, expression)
                    ),
                )
                policy = submitter.policy
            else:
                raise ValueError(f"routing schedules {route.target.value}, which infra does not build a target for")
            self.schedules[route.name] = aws.scheduler.Schedule(
                f"{name}-{route.name}",
                group_name=self.group.name,
                description=f"autoretrain: {route.name} -> {route.target.value}",
                schedule_expression=expression,
                schedule_expression_timezone=TIMEZONE,
                flexible_time_window={"mode": "OFF"},
                target=cast(aws.scheduler.ScheduleTargetArgsDict, target),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
        self.register_outputs(
            {
                "group": self.group.name,
                "schedules": {route: schedule.arn for route, schedule in self.schedules.items()},
                "dead_letter_queue": self.dead_letter_queue.url,
            }
        )


def _submit_job_input_of(route: ScheduleRoute, expression: str, arns: Sequence[str]) -> str:
    return submit_job_input(route, expression, queue_arn=arns[0], definition_arn=arns[1])
