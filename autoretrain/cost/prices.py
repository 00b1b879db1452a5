"""AWS list prices, us-east-1, on-demand, in one dated table: update a row (price, source, date read) when AWS changes
it, and `PRICES_READ_ON` when you re-check them all.

Free tiers are ignored everywhere (the estimate is what the usage costs beyond them, i.e. an upper bound for a
small account): Lambda's 1M requests and 400,000 GB-s a month, S3's 5 GB and 20,000 GETs / 2,000 PUTs for 12
months, DynamoDB's 25 GB of storage, CodeBuild's 100 build minutes, CodePipeline V2's 100 action minutes, KMS's
20,000 requests, CloudWatch's 5 GB of logs, 10 alarms, 10 metrics and 3 dashboards, SNS's 1M publishes and 1,000
e-mails, EventBridge Scheduler's 14M invocations, Glue's 1M catalog requests. Tiered prices use their first tier
(Lambda beyond 6 billion GB-s, S3 storage beyond 50 TB and Firehose beyond 500 TB a month are cheaper).

The sources were read through the project's search tool on the date given; where a page is a third party's summary of
AWS's own page, the row says so and names AWS's page too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

PRICES_READ_ON = "2026-12-03"
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Price:
    """One list price: `usd` per `unit`, where it was read and when."""

    usd: float
    unit: str
    source: str
    read_on: str = PRICES_READ_ON
    note: str = ""


_LAMBDA = (
    "https://aws.amazon.com/lambda/pricing/ (rates as summarised by https://cloudchipr.com/blog/aws-lambda-pricing)"
)
_S3 = "https://aws.amazon.com/s3/pricing/ (request rates as summarised by https://athena.guide/articles/athena-basics-pricing-model)"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/ (after the Nov 2024 cut, per https://airbyte.com/data-engineering-resources/dynamodb-pricing)"
_CW = "https://aws.amazon.com/cloudwatch/pricing/ (per https://signoz.io/guides/cloudwatch-pricing and https://www.factualminds.com/blog/amazon-cloudwatch-pricing-metrics-logs-alarms-dashboards/)"

#: Every price the model uses, by key.
PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "lambda_request": Price(0.20 / 1e6, "request", _LAMBDA),
        "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second", _LAMBDA),
        "lambda_gb_second_arm64": Price(0.0000133334, "GB-second", _LAMBDA),
        "firehose_ingest_gb": Price(
            0.029,
            "GB ingested (each record rounded up to 5 KB)",
            "https://aws.amazon.com/firehose/pricing/ (5 KB increments per record: stated there and in "
            "https://www.shigemk2.com/entry/2022/01/12/210322)",
            note="Direct PUT, first 500 TB a month; the stored excerpt states the 5 KB rounding, not the rate",
        ),
        "s3_put_copy_post_list": Price(0.005 / 1000, "request (PUT, COPY, POST, LIST)", _S3),
        "s3_get_and_other": Price(0.0004 / 1000, "request (GET, HEAD and all other)", _S3),
        "s3_standard_gb_month": Price(0.023, "GB-month (S3 Standard, first 50 TB)", _S3),
        "dynamodb_write_request_unit": Price(0.625 / 1e6, "write request unit", _DDB),
        "dynamodb_read_request_unit": Price(0.125 / 1e6, "read request unit", _DDB),
        "dynamodb_gb_month": Price(
            0.25, "GB-month (Standard table class)", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
        ),
        "athena_tb_scanned": Price(
            5.0,
            "TB scanned (10 MB minimum per query)",
            "https://athena.guide/articles/athena-basics-pricing-model (AWS: https://aws.amazon.com/athena/pricing/)",
        ),
        "fargate_vcpu_hour_x86_64": Price(
            0.04048,
            "vCPU-hour (Linux/x86, per second, 1-minute minimum)",
            "https://www.vantage.sh/blog/fargate-pricing",
        ),
        "fargate_gb_hour_x86_64": Price(0.004445, "GB-hour (Linux/x86)", "https://www.vantage.sh/blog/fargate-pricing"),
        "codebuild_general1_small_minute": Price(
            0.005, "build minute (general1.small)", "https://c3x.dev/resources/aws/aws_codebuild_project/"
        ),
        "codebuild_general1_medium_minute": Price(
            0.01,
            "build minute (general1.medium)",
            "https://c3x.dev/resources/aws/aws_codebuild_project/ (AWS: https://aws.amazon.com/codebuild/pricing/)",
        ),
        "codebuild_general1_large_minute": Price(
            0.02, "build minute (general1.large)", "https://c3x.dev/resources/aws/aws_codebuild_project/"
        ),
        "codepipeline_v2_action_minute": Price(
            0.002, "action execution minute (V2, rounded up per action)", "https://aws.amazon.com/codepipeline/pricing/"
        ),
        "codepipeline_v1_active_pipeline_month": Price(
            1.0, "active pipeline-month (V1)", "https://aws.amazon.com/codepipeline/pricing/"
        ),
        "kms_key_month": Price(1.0, "customer managed key-month", "https://aws.amazon.com/kms/pricing/"),
        "kms_request": Price(0.03 / 10000, "request (symmetric)", "https://aws.amazon.com/kms/pricing/"),
        "cloudwatch_logs_ingest_gb": Price(0.50, "GB ingested (standard log class)", _CW),
        "cloudwatch_logs_storage_gb_month": Price(0.03, "GB-month archived", _CW),
        "cloudwatch_alarm_month": Price(0.10, "standard-resolution alarm-month", _CW),
        "cloudwatch_metric_month": Price(0.30, "custom metric-month (first 10,000)", _CW),
        "cloudwatch_put_metric_data_request": Price(0.01 / 1000, "PutMetricData request", _CW),
        "cloudwatch_dashboard_month": Price(3.0, "dashboard-month", _CW),
        "sns_publish": Price(
            0.50 / 1e6,
            "publish (64 KB chunk)",
            "https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/ (AWS: https://aws.amazon.com/sns/pricing/)",
        ),
        "sns_email": Price(
            2.0 / 100000,
            "e-mail delivery",
            "https://www.factualminds.com/blog/amazon-sns-pricing-publishes-fanout-protocols/",
        ),
        "eventbridge_custom_event": Price(
            1.0 / 1e6, "custom event (64 KB chunk)", "https://www.wring.co/blog/aws-eventbridge-pricing-guide"
        ),
        "glue_request": Price(
            1.0 / 1e6,
            "Data Catalog request (beyond the first million)",
            "https://athena.guide/articles/athena-basics-pricing-model (AWS: https://aws.amazon.com/glue/pricing/)",
        ),
        "scheduler_invocation": Price(
            1.0 / 1e6, "scheduled invocation", "https://cloudburn.io/blog/amazon-eventbridge-pricing"
        ),
    }
)

#: CodeBuild's compute types (as infra names them) -> their price key.
CODEBUILD_COMPUTE = MappingProxyType(
    {
        "BUILD_GENERAL1_SMALL": "codebuild_general1_small_minute",
        "BUILD_GENERAL1_MEDIUM": "codebuild_general1_medium_minute",
        "BUILD_GENERAL1_LARGE": "codebuild_general1_large_minute",
    }
)


def price(key: str, prices: Mapping[str, Price] = PRICES) -> float:
    """The USD rate of a price key."""
    return prices[key].usd


def with_overrides(overrides: Mapping[str, float], prices: Mapping[str, Price] = PRICES) -> dict[str, Price]:
    """The table with some rates replaced (a user's newer prices); unknown keys are refused."""
    unknown = set(overrides) - set(prices)
    if unknown:
        raise KeyError(f"no such price: {', '.join(sorted(unknown))} (known: {', '.join(sorted(prices))})")
    return {
        key: replace(entry, usd=overrides[key], source="user override", read_on="") if key in overrides else entry
        for key, entry in prices.items()
    }
