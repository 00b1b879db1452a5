"""PayloadEtl: the Lambda that loads new payload and label objects into the payload table."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core.layout import ETL_PREFIXES, PayloadPrefix
from core.settings import EnvVar
from infra.bundles import PAYLOAD_ETL_BUNDLE
from infra.policies import assume_role_policy, payload_etl_policy
from infra.zip_lambda import zip_function

MEMORY_MB = 512
TIMEOUT_SECONDS = 300
#: S3 invokes asynchronously: retry twice, give up on events older than an hour, and keep what failed.
MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_SECONDS = 3600
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum
OBJECT_CREATED_EVENTS = ["s3:ObjectCreated:*"]


@dataclass(frozen=True, slots=True)
class PayloadEtlArgs:
    """Inputs of the PayloadEtl component."""

    payload_bucket_name: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    payload_table_name: pulumi.Input[str]
    payload_table_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    model_name: str
    payload_retention_days: int
    log_retention_days: int


def etl_environment(
    *, payload_bucket: str, payload_table: str, model_name: str, payload_retention_days: int
) -> dict[str, str]:
    """The deployment contract's variables the ETL reads."""
    return {
        EnvVar.PAYLOAD_BUCKET.value: payload_bucket,
        EnvVar.PAYLOAD_TABLE.value: payload_table,
        EnvVar.MODEL_NAME.value: model_name,
        EnvVar.PAYLOAD_RETENTION_DAYS.value: str(payload_retention_days),
    }


class PayloadEtl(pulumi.ComponentResource):
    """Function, role, log group, failure queue, S3 permission and the payload bucket's notification."""

    function: aws.lambda_.Function
    failure_queue: aws.sqs.Queue
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: PayloadEtlArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:payload_etl:PayloadEtl", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=child)
        self.failure_queue = aws.sqs.Queue(
            f"{name}-failures",
            sqs_managed_sse_enabled=True,  # SSE-SQS: encrypted, and Lambda's destination needs no kms:* grant
            message_retention_seconds=FAILURE_RETENTION_SECONDS,
            opts=child,
        )
        role = aws.iam.Role(f"{name}-role", assume_role_policy=assume_role_policy("lambda.amazonaws.com"), opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(
                args.payload_bucket_arn, args.payload_table_arn, self.log_group.arn, self.failure_queue.arn
            ).apply(
                lambda arns: payload_etl_policy(
                    payload_bucket_arn=arns[0],
                    read_prefixes=ETL_PREFIXES,
                    quarantine_prefix=PayloadPrefix.QUARANTINE.value,
                    payload_table_arn=arns[1],
                    log_group_arn=arns[2],
                    failure_queue_arn=arns[3],
                )
            ),
            opts=child,
        )
        environment = pulumi.Output.all(args.payload_bucket_name, args.payload_table_name).apply(
            lambda names: etl_environment(
                payload_bucket=names[0],
                payload_table=names[1],
                model_name=args.model_name,
                payload_retention_days=args.payload_retention_days,
            )
        )
        self.function = zip_function(
            f"{name}-function",
            PAYLOAD_ETL_BUNDLE,
            role_arn=role.arn,
            environment=environment,
            log_group=self.log_group,
            memory_mb=MEMORY_MB,
            timeout_seconds=TIMEOUT_SECONDS,
            depends_on=[policy],
            parent=self,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=MAX_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": self.failure_queue.arn}},
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-s3-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="s3.amazonaws.com",
            source_arn=args.payload_bucket_arn,
            source_account=args.account_id,
            opts=child,
        )
        # A bucket has one notification configuration: this resource owns the payload bucket's.
        aws.s3.BucketNotification(
            f"{name}-notification",
            bucket=args.payload_bucket_name,
            lambda_functions=[
                {"lambda_function_arn": self.function.arn, "events": OBJECT_CREATED_EVENTS, "filter_prefix": prefix}
                for prefix in ETL_PREFIXES
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
        self.register_outputs(
            {
                "function": self.function.name,
                "failure_queue": self.failure_queue.url,
                "log_group": self.log_group.name,
            }
        )
