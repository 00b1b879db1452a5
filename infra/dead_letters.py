"""What the stack's asynchronous deliveries share: the queue that keeps what could not be delivered, the policy that
lets EventBridge write to it, and EventBridge targets that retry before they give up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.policies import Statement, policy_document

#: SQS's maximum: what failed stays for two weeks, long enough to notice and replay it.
RETENTION_SECONDS = 14 * 24 * 3600
#: EventBridge retries a failed delivery with backoff for up to this long, at most this often, then dead-letters it.
EVENT_MAX_AGE_SECONDS = 3600
EVENT_MAX_RETRY_ATTEMPTS = 8
EVENTS_SERVICE = "events.amazonaws.com"


def dead_letter_queue(name: str, parent: pulumi.Resource) -> aws.sqs.Queue:
    """A queue for undelivered events, encrypted with SSE-SQS: the services that write to it (EventBridge,
    Scheduler, Lambda's on-failure destination) need no kms:* grant."""
    return aws.sqs.Queue(
        name,
        sqs_managed_sse_enabled=True,
        message_retention_seconds=RETENTION_SECONDS,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def eventbridge_dead_letter_policy(*, queue_arn: str, rule_arns: str | Sequence[str]) -> str:
    """EventBridge may dead-letter into the queue only for these rules (one ARN, or a list kept in sorted order)."""
    statement = Statement(
        "EventBridgeDeadLetters",
        ["sqs:SendMessage"],
        [queue_arn],
        principal={"Service": EVENTS_SERVICE},
        condition={"ArnEquals": {"aws:SourceArn": rule_arns if isinstance(rule_arns, str) else sorted(rule_arns)}},
    )
    return policy_document([statement])


def retried_event_target(
    name: str,
    rule: aws.cloudwatch.EventRule,
    *,
    dead_letter_queue_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    **target: Any,
) -> aws.cloudwatch.EventTarget:
    """A rule's target (`target`: its arn, role, input...) that retries failed deliveries, then dead-letters them."""
    return aws.cloudwatch.EventTarget(
        name,
        rule=rule.name,
        dead_letter_config={"arn": dead_letter_queue_arn},
        retry_policy={
            "maximum_event_age_in_seconds": EVENT_MAX_AGE_SECONDS,
            "maximum_retry_attempts": EVENT_MAX_RETRY_ATTEMPTS,
        },
        opts=opts,
        **target,
    )
