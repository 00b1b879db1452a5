"""Events: the custom bus autoretrain's code publishes to, and the rules that route its events.

Rules come from `core.routing.EVENT_ROUTES` (the local runner routes by the same data): one rule per route
with the route's pattern; ALERT_TOPIC routes publish a readable message to the SNS topic, RETRAIN_JOB routes
submit the retrain job with the event's trigger, reason and request time as job parameters. A rule on the
default bus turns a FAILED Batch job of our queue into an alert. Every target retries and keeps what it could
not deliver in a dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from core.routing import EVENT_ROUTES, EventRoute, Target
from infra.dead_letters import (
    EVENTS_SERVICE,
    dead_letter_queue,
    eventbridge_dead_letter_policy,
    retried_event_target,
)
from infra.policies import Statement, policy_document
from infra.roles import service_role

#: The bus component's type token before it was renamed from `MonitoringBus`: an alias keeps a deployed stack's
#: bus instead of replacing it.
FORMER_BUS_TYPE = "autoretrain:events:MonitoringBus"
BATCH_JOB_STATE_CHANGE = "Batch Job State Change"
#: Batch job names: letters, digits, '-' and '_' (up to 128).
RETRAIN_JOB_NAME = "autoretrain-retrain"

#: The message an alert-topic rule sends: a one-line subject a person reads first, then the event's detail.
#: Placeholders inside quoted strings only carry values that cannot hold quotes (our detail types, validated model
#: names, EventBridge's timestamp); free text goes in unquoted, which EventBridge inserts as a JSON value.
ALERT_INPUT_PATHS = {"type": "$.detail-type", "model": "$.detail.model_name", "time": "$.time", "detail": "$.detail"}
ALERT_TEMPLATE = '{"subject": "autoretrain <type> for model <model> at <time>", "detail": <detail>}'
#: RetrainRequested -> SubmitJob parameters (the retrain job definition's Ref::trigger, Ref::reason, Ref::now,
#: Ref::regime_start: the detail always carries it, `none` unless the request is a recovery after decay),
#: as in the AWS Batch guide's input-transformer tutorial: `{"Parameters": {"name": <value>, ...}}`.
RETRAIN_INPUT_PATHS = {
    "trigger": "$.detail.trigger",
    "reason": "$.detail.reason",
    "now": "$.detail.requested_at",
    "regime_start": "$.detail.regime_start",
}
RETRAIN_TEMPLATE = (
    '{"Parameters": {"trigger": <trigger>, "reason": <reason>, "now": <now>, "regime_start": <regime_start>}}'
)
FAILED_JOB_INPUT_PATHS = {
    "job": "$.detail.jobName",
    "id": "$.detail.jobId",
    "reason": "$.detail.statusReason",
    "time": "$.time",
}
FAILED_JOB_TEMPLATE = (
    '{"subject": "autoretrain Batch job <job> FAILED at <time>", "job_id": <id>, "reason": <reason>, '
    '"logs": "CloudWatch Logs, stream prefix <job>; see the runbook section on failed jobs"}'
)


def rule_pattern(route: EventRoute) -> str:
    """The rule's event pattern: exactly routing's (JSON, keys sorted)."""
    return json.dumps(route.pattern(), sort_keys=True)


def failed_job_pattern(queue_arn: str) -> str:
    """Batch's own event (default bus) for a job of our queue that ended FAILED (after its last attempt)."""
    pattern = {
        "source": ["aws.batch"],
        "detail-type": [BATCH_JOB_STATE_CHANGE],
        "detail": {"status": ["FAILED"], "jobQueue": [queue_arn]},
    }
    return json.dumps(pattern, sort_keys=True)


def submit_retrain_policy(*, queue_arn: str, definition_arn: str) -> str:
    """EventBridge's role for the retrain target: submit that job definition to that queue, nothing else."""
    return policy_document([Statement("SubmitRetrainJob", ["batch:SubmitJob"], [queue_arn, definition_arn])])


@dataclass(frozen=True, slots=True)
class EventBusArgs:
    """Inputs of the EventBus component (none yet; kept for the component convention)."""


class EventBus(pulumi.ComponentResource):
    """The custom event bus (source `autoretrain`)."""

    bus: aws.cloudwatch.EventBus

    def __init__(self, name: str, args: EventBusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_BUS_TYPE)])
        super().__init__("autoretrain:events:EventBus", name, None, pulumi.ResourceOptions.merge(opts, renamed))
        self.bus = aws.cloudwatch.EventBus(f"{name}-bus", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"bus_name": self.bus.name, "bus_arn": self.bus.arn})


@dataclass(frozen=True, slots=True)
class EventRulesArgs:
    """Inputs of the EventRules component."""

    bus_name: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    job_queue_arn: pulumi.Input[str]
    retrain_definition_arn: pulumi.Input[str]


class EventRules(pulumi.ComponentResource):
    """A rule and target per routing route, the failed-job rule, the retrain submitter role and the DLQ."""

    rules: dict[str, aws.cloudwatch.EventRule]
    dead_letter_queue: aws.sqs.Queue

    def __init__(self, name: str, args: EventRulesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:events:EventRules", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self.dead_letter_queue = dead_letter_queue(f"{name}-dead-letters", self)
        submitter = service_role(
            f"{name}-retrain-submitter",
            EVENTS_SERVICE,
            pulumi.Output.all(queue_arn=args.job_queue_arn, definition_arn=args.retrain_definition_arn).apply(
                lambda arns: submit_retrain_policy(**arns)
            ),
            parent=self,
        ).role
        self.rules = {}
        for route in EVENT_ROUTES:
            rule = aws.cloudwatch.EventRule(
                f"{name}-{route.name}",
                description=f"autoretrain: {', '.join(route.detail_types)} -> {route.target.value}",
                event_bus_name=args.bus_name,
                event_pattern=rule_pattern(route),
                opts=child,
            )
            self.rules[route.name] = rule
            self._target(route.name, rule, route.target, args, submitter.arn)
        failed = aws.cloudwatch.EventRule(
            f"{name}-failed-batch-job",
            description="autoretrain: a Batch job of our queue FAILED -> alert topic",
            event_pattern=pulumi.Output.from_input(args.job_queue_arn).apply(failed_job_pattern),
            opts=child,
        )
        self.rules["failed-batch-job"] = failed
        self._deliver(
            "failed-batch-job",
            failed,
            None,
            arn=args.topic_arn,
            input_transformer={"input_paths": FAILED_JOB_INPUT_PATHS, "input_template": FAILED_JOB_TEMPLATE},
        )
        aws.sqs.QueuePolicy(
            f"{name}-dead-letters-policy",
            queue_url=self.dead_letter_queue.url,
            policy=pulumi.Output.all(self.dead_letter_queue.arn, *[rule.arn for rule in self.rules.values()]).apply(
                lambda arns: eventbridge_dead_letter_policy(queue_arn=arns[0], rule_arns=arns[1:])
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "rules": {route: rule.arn for route, rule in self.rules.items()},
                "dead_letter_queue": self.dead_letter_queue.url,
            }
        )

    def _target(
        self,
        route: str,
        rule: aws.cloudwatch.EventRule,
        target: Target,
        args: EventRulesArgs,
        submitter_arn: pulumi.Output[str],
    ) -> None:
        if target is Target.ALERT_TOPIC:
            self._deliver(
                route,
                rule,
                args.bus_name,
                arn=args.topic_arn,
                input_transformer={"input_paths": ALERT_INPUT_PATHS, "input_template": ALERT_TEMPLATE},
            )
        elif target is Target.RETRAIN_JOB:
            self._deliver(
                route,
                rule,
                args.bus_name,
                arn=args.job_queue_arn,
                role_arn=submitter_arn,
                batch_target={
                    # The revision's ARN: the same resource the submitter role may use (a new revision updates both).
                    "job_definition": args.retrain_definition_arn,
                    "job_name": RETRAIN_JOB_NAME,
                },
                input_transformer={"input_paths": RETRAIN_INPUT_PATHS, "input_template": RETRAIN_TEMPLATE},
            )
        else:
            raise ValueError(f"routing sends events to {target.value}, which infra does not build a target for")

    def _deliver(
        self, route: str, rule: aws.cloudwatch.EventRule, bus_name: pulumi.Input[str] | None, **target: Any
    ) -> None:
        """A target with retries and the dead-letter queue; `bus_name` None is the default bus."""
        extra: Mapping[str, Any] = {"event_bus_name": bus_name} if bus_name is not None else {}
        retried_event_target(
            f"{self._name}-{route}-target",
            rule,
            dead_letter_queue_arn=self.dead_letter_queue.arn,
            opts=pulumi.ResourceOptions(parent=self),
            **extra,
            **target,
        )
