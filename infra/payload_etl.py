"""PayloadEtl: the Lambda that loads new payload and label objects into the lake and the payload table.

It writes the lake's Parquet files through awswrangler, which the function gets from the AWS SDK for pandas managed
layer for its runtime and architecture (`infra.layers`); its zip carries only our code.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core.layout import ETL_PREFIXES, PayloadPrefix
from core.settings import PAYLOAD_ETL_MEMORY_MB, EnvVar
from infra.bundles import PAYLOAD_ETL_BUNDLE
from infra.dead_letters import dead_letter_queue
from infra.lake_policies import GlueCatalog, write_lake_statements
from infra.layers import aws_sdk_pandas_layer_arn
from infra.policies import baseline_object_arns, payload_etl_policy
from infra.zip_lambda import ARCHITECTURE, RUNTIME, AsyncInvocation, zip_lambda

#: The ETL sizes its work from this (core.settings); another engineer may raise it, so it is read, never copied.
MEMORY_MB = PAYLOAD_ETL_MEMORY_MB
TIMEOUT_SECONDS = 300
#: S3 invokes asynchronously: retry twice, give up on events older than an hour, and keep what failed.
MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_SECONDS = 3600
#: Every new object under an ETL prefix, however it was written (PUT, Firehose's multipart uploads). The notification
#: filters on the prefix alone, never on a suffix: Firehose's objects end in `.jsonl.gz`
#: (`core.layout.PAYLOAD_STREAM_FILE_EXTENSION`), objects put by hand or by the emulator in `.jsonl`.
OBJECT_CREATED_EVENTS = ["s3:ObjectCreated:*"]


@dataclass(frozen=True, slots=True)
class PayloadEtlArgs:
    """Inputs of the PayloadEtl component."""

    payload_bucket_name: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    payload_table_name: pulumi.Input[str]
    payload_table_arn: pulumi.Input[str]
    model_bucket_name: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    lake_database_name: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: str
    model_name: str
    payload_retention_days: int
    log_retention_days: int
    aws_sdk_pandas_layer_version: int


def etl_environment(
    *,
    payload_bucket: str,
    payload_table: str,
    model_bucket: str,
    lake_database: str,
    model_name: str,
    payload_retention_days: int,
) -> dict[str, str]:
    """The deployment contract's variables the ETL reads (`core.settings.PayloadEtlSettings`)."""
    return {
        EnvVar.PAYLOAD_BUCKET.value: payload_bucket,
        EnvVar.PAYLOAD_TABLE.value: payload_table,
        EnvVar.MODEL_BUCKET.value: model_bucket,
        EnvVar.LAKE_DATABASE.value: lake_database,
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
        self.failure_queue = dead_letter_queue(f"{name}-failures", self)
        failure_queue_arn = self.failure_queue.arn

        def policy(log_group_arn: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.all(
                payload_bucket_arn=args.payload_bucket_arn,
                payload_table_arn=args.payload_table_arn,
                model_bucket_arn=args.model_bucket_arn,
                log_group_arn=log_group_arn,
                failure_queue_arn=failure_queue_arn,
                account_id=args.account_id,
                database=args.lake_database_name,
            ).apply(lambda values: _policy_of(args.region, args.model_name, values))

        environment = pulumi.Output.all(
            payload_bucket=args.payload_bucket_name,
            payload_table=args.payload_table_name,
            model_bucket=args.model_bucket_name,
            lake_database=args.lake_database_name,
        ).apply(
            lambda names: etl_environment(
                model_name=args.model_name, payload_retention_days=args.payload_retention_days, **names
            )
        )
        etl = zip_lambda(
            name,
            PAYLOAD_ETL_BUNDLE,
            policy=policy,
            environment=environment,
            memory_mb=MEMORY_MB,
            timeout_seconds=TIMEOUT_SECONDS,
            log_retention_days=args.log_retention_days,
            invocation=AsyncInvocation(MAX_RETRY_ATTEMPTS, MAX_EVENT_AGE_SECONDS, on_failure_arn=failure_queue_arn),
            parent=self,
            layers=[aws_sdk_pandas_layer_arn(args.region, RUNTIME, ARCHITECTURE, args.aws_sdk_pandas_layer_version)],
        )
        self.function, self.log_group = etl.function, etl.log_group
        child = pulumi.ResourceOptions(parent=self)
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


def _policy_of(region: str, model_name: str, values: dict[str, str]) -> str:
    catalog = GlueCatalog(region=region, account_id=values["account_id"], database=values["database"])
    return payload_etl_policy(
        payload_bucket_arn=values["payload_bucket_arn"],
        read_prefixes=ETL_PREFIXES,
        quarantine_prefix=PayloadPrefix.QUARANTINE.value,
        # The ETL reads the baseline of the version that served each record.
        baseline_objects=[baseline_object_arns(values["model_bucket_arn"], model_name)],
        lake_statements=write_lake_statements(catalog, values["payload_bucket_arn"]),
        payload_table_arn=values["payload_table_arn"],
        log_group_arn=values["log_group_arn"],
        failure_queue_arn=values["failure_queue_arn"],
    )
