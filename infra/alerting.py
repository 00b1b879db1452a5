"""Alerting: the Lambda that checks catastrophic signals every few minutes (scheduled by `infra.schedules`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core.settings import EnvVar
from core.tables import BY_STATUS_INDEX
from infra.alert_topic import KEY_USE_ACTIONS
from infra.bundles import ALERTING_BUNDLE
from infra.policies import Statement, baseline_object_arns, log_statement, policy_document, table_and_index_arns
from infra.zip_lambda import AsyncInvocation, zip_lambda

MEMORY_MB = 512
TIMEOUT_SECONDS = 120
#: Scheduler invokes asynchronously; the next scheduled run comes within minutes, so one retry is enough.
MAX_RETRY_ATTEMPTS = 1
MAX_EVENT_AGE_SECONDS = 900
#: What the alerting Lambda does with the payload table: query the window's aggregates (`core.aggregates`: one
#: partition per model and day, on the table's own keys), read each signal's alert state by key (BatchGetItem,
#: GetItem) and write it (conditional PutItem). No index: the table has none to query (`core.tables`).
PAYLOAD_TABLE_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")


@dataclass(frozen=True, slots=True)
class AlertWindow:
    """The alerting Lambda's windows (stack config, validated in `infra.config`): the shortest, which is also the
    schedule's interval, the longest it widens to, and how long it waits for a window's records to be ingested."""

    minutes: int
    max_minutes: int
    ingest_lag_minutes: int

    def environment(self) -> dict[str, str]:
        """The variables `core.settings.AlertingSettings` reads them from."""
        return {
            EnvVar.ALERT_WINDOW_MINUTES.value: str(self.minutes),
            EnvVar.ALERT_MAX_WINDOW_MINUTES.value: str(self.max_minutes),
            EnvVar.INGEST_LAG_MINUTES.value: str(self.ingest_lag_minutes),
        }


@dataclass(frozen=True, slots=True)
class AlertingArgs:
    """Inputs of the Alerting component."""

    payload_bucket_name: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    payload_table_name: pulumi.Input[str]
    payload_table_arn: pulumi.Input[str]
    registry_table_name: pulumi.Input[str]
    registry_table_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    model_name: str
    runbook_url: str
    log_retention_days: int
    window: AlertWindow


def alerting_environment(
    *,
    payload_bucket: str,
    payload_table: str,
    registry_table: str,
    topic_arn: str,
    event_bus: str,
    model_name: str,
    runbook_url: str,
    window: AlertWindow,
) -> dict[str, str]:
    """The deployment contract's variables the alerting Lambda reads (core.settings.AlertingSettings)."""
    return {
        **window.environment(),
        EnvVar.PAYLOAD_BUCKET.value: payload_bucket,
        EnvVar.PAYLOAD_TABLE.value: payload_table,
        EnvVar.REGISTRY_TABLE.value: registry_table,
        EnvVar.ALERT_TOPIC_ARN.value: topic_arn,
        EnvVar.EVENT_BUS.value: event_bus,
        EnvVar.MODEL_NAME.value: model_name,
        EnvVar.RUNBOOK_URL.value: runbook_url,
    }


def alerting_policy(
    *,
    model_name: str,
    model_bucket_arn: str,
    payload_table_arn: str,
    registry_table_arn: str,
    topic_arn: str,
    key_arn: str,
    event_bus_arn: str,
    log_group_arn: str,
) -> str:
    """The alerting Lambda: read the window's aggregates, the champion and its baseline; keep alert state; alert.
    Nothing in the payload bucket: the aggregates carry the refused records' counts the quarantine once gave."""
    return policy_document(
        [
            Statement("ReadAggregatesKeepAlertState", PAYLOAD_TABLE_ACTIONS, [payload_table_arn]),
            Statement(
                "FindChampion",
                ["dynamodb:GetItem", "dynamodb:Query"],
                table_and_index_arns(registry_table_arn, BY_STATUS_INDEX),
            ),
            Statement("ReadBaselines", ["s3:GetObject"], [baseline_object_arns(model_bucket_arn, model_name)]),
            Statement("PublishAlerts", ["sns:Publish"], [topic_arn]),
            # The topic is encrypted with a customer-managed key: SNS asks KMS for a data key as the publisher.
            Statement("EncryptAlerts", KEY_USE_ACTIONS, [key_arn]),
            Statement("PublishEvents", ["events:PutEvents"], [event_bus_arn]),
            log_statement(log_group_arn),
        ]
    )


class Alerting(pulumi.ComponentResource):
    """Function, role, log group and its asynchronous-invocation settings."""

    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:alerting:Alerting", name, None, opts)

        def policy(log_group_arn: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.all(
                model_bucket_arn=args.model_bucket_arn,
                payload_table_arn=args.payload_table_arn,
                registry_table_arn=args.registry_table_arn,
                topic_arn=args.topic_arn,
                key_arn=args.key_arn,
                event_bus_arn=args.event_bus_arn,
                log_group_arn=log_group_arn,
            ).apply(lambda arns: alerting_policy(model_name=args.model_name, **arns))

        environment = pulumi.Output.all(
            payload_bucket=args.payload_bucket_name,
            payload_table=args.payload_table_name,
            registry_table=args.registry_table_name,
            topic_arn=args.topic_arn,
            event_bus=args.event_bus_name,
        ).apply(
            lambda names: alerting_environment(
                model_name=args.model_name, runbook_url=args.runbook_url, window=args.window, **names
            )
        )
        alerting = zip_lambda(
            name,
            ALERTING_BUNDLE,
            policy=policy,
            environment=environment,
            memory_mb=MEMORY_MB,
            timeout_seconds=TIMEOUT_SECONDS,
            log_retention_days=args.log_retention_days,
            invocation=AsyncInvocation(MAX_RETRY_ATTEMPTS, MAX_EVENT_AGE_SECONDS),
            parent=self,
        )
        self.function, self.log_group = alerting.function, alerting.log_group
        self.register_outputs({"function": self.function.name, "log_group": self.log_group.name})
