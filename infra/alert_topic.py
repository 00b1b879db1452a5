"""AlertTopic: the SNS topic people subscribe to, encrypted with a customer-managed KMS key, and its subscriptions.

Who may publish: EventBridge rules (alert, drift, release and failed-job events) and CloudWatch alarms of this
account and region, over TLS only; the alerting Lambda through its own IAM policy. A customer-managed key (not
SNS's AWS-managed key) because the AWS-managed key's policy cannot be changed to let EventBridge and CloudWatch
encrypt what they publish.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.policies import ANY_RESOURCE, Statement, policy_document

#: What a service needs to publish to a topic encrypted with the key (SNS asks KMS for a data key on its behalf).
KEY_USE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
PUBLISHING_SERVICES = ("events.amazonaws.com", "cloudwatch.amazonaws.com")
KEY_DELETION_WINDOW_DAYS = 30
#: The component's type token before it was renamed from `Alerts` (infra/alerts.py): an alias keeps a deployed
#: stack's topic, key and subscriptions instead of replacing them.
FORMER_TYPE = "autoretrain:alerts:Alerts"
Protocol = Literal["email", "sms"]


@dataclass(frozen=True, slots=True)
class AlertTopicArgs:
    """Inputs of the AlertTopic component."""

    account_id: pulumi.Input[str]
    region: str
    emails: Sequence[str]
    phone_numbers: Sequence[str]


def source_arn_patterns(region: str, account_id: str) -> dict[str, str]:
    """Per publishing service, the ARNs its publishes may come from: any rule / alarm of this account and region."""
    return {
        "events.amazonaws.com": f"arn:aws:events:{region}:{account_id}:rule/*",
        "cloudwatch.amazonaws.com": f"arn:aws:cloudwatch:{region}:{account_id}:alarm:*",
    }


def alert_key_policy(*, account_id: str, region: str) -> str:
    """Key policy: the account administers the key (and IAM policies may grant its use); EventBridge and CloudWatch
    may use it for this account's rules and alarms only.

    In a key policy, `"Resource": "*"` means "this key": AWS accepts nothing else there.
    """
    statements = [
        # AWS's default key policy statement: without it no IAM policy (the alerting Lambda's) could grant use.
        Statement(
            "AccountAdministersKey",
            ["kms:*"],
            [ANY_RESOURCE],
            principal={"AWS": f"arn:aws:iam::{account_id}:root"},
        )
    ]
    for service, source_arn in source_arn_patterns(region, account_id).items():
        name = service.split(".")[0].title()
        statements.append(
            Statement(
                f"{name}EncryptsAlerts",
                KEY_USE_ACTIONS,
                [ANY_RESOURCE],
                principal={"Service": service},
                condition={"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}},
            )
        )
    return policy_document(statements)


def alert_topic_policy(*, topic_arn: str, account_id: str, region: str) -> str:
    """Topic policy: EventBridge rules and CloudWatch alarms of this account and region may publish; nobody may
    publish without TLS."""
    statements = [
        Statement(
            f"{service.split('.')[0].title()}Publishes",
            ["sns:Publish"],
            [topic_arn],
            principal={"Service": service},
            condition={"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}},
        )
        for service, source_arn in source_arn_patterns(region, account_id).items()
    ]
    statements.append(
        Statement(
            "DenyInsecureTransport",
            ["sns:Publish"],
            [topic_arn],
            effect="Deny",
            principal="*",
            condition={"Bool": {"aws:SecureTransport": "false"}},
        )
    )
    return policy_document(statements)


def subscriptions(emails: Sequence[str], phone_numbers: Sequence[str]) -> list[tuple[Protocol, str]]:
    """(protocol, endpoint) of every subscription, e-mails first, duplicates dropped, order kept."""
    wanted: list[tuple[Protocol, str]] = [("email", email) for email in emails]
    wanted += [("sms", number) for number in phone_numbers]
    return list(dict.fromkeys(wanted))


def subscription_name(component: str, protocol: Protocol, endpoint: str) -> str:
    """A subscription's logical name: stable when others are added or reordered, and no address in the URN."""
    return f"{component}-{protocol}-{hashlib.sha256(endpoint.encode()).hexdigest()[:10]}"


class AlertTopic(pulumi.ComponentResource):
    """KMS key (rotated) and alias, the topic, its policy, and the e-mail and SMS subscriptions from config."""

    key: aws.kms.Key
    topic: aws.sns.Topic

    def __init__(self, name: str, args: AlertTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_TYPE)])
        super().__init__("autoretrain:alert_topic:AlertTopic", name, None, pulumi.ResourceOptions.merge(opts, renamed))
        child = pulumi.ResourceOptions(parent=self)
        self.key = aws.kms.Key(
            f"{name}-key",
            description="Encrypts the autoretrain alert topic",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: alert_key_policy(account_id=account, region=args.region)
            ),
            opts=child,
        )
        aws.kms.Alias(
            f"{name}-key-alias", name_prefix="alias/autoretrain-alerts-", target_key_id=self.key.key_id, opts=child
        )
        self.topic = aws.sns.Topic(f"{name}-topic", kms_master_key_id=self.key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, args.account_id).apply(
                lambda values: alert_topic_policy(topic_arn=values[0], account_id=values[1], region=args.region)
            ),
            opts=child,
        )
        for protocol, endpoint in subscriptions(args.emails, args.phone_numbers):
            # E-mail subscriptions stay "pending confirmation" until the recipient clicks the link SNS sends.
            aws.sns.TopicSubscription(
                subscription_name(name, protocol, endpoint),
                topic=self.topic.arn,
                protocol=protocol,
                endpoint=endpoint,
                opts=child,
            )
        self.register_outputs({"topic_arn": self.topic.arn, "key_arn": self.key.arn})
