"""What every zip-packaged Lambda of ours shares: runtime, architecture, code archive, its own log group and role,
and how its asynchronous invocations are retried."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.bundles import LambdaBundle, archive_files
from infra.roles import LAMBDA_SERVICE, service_role

RUNTIME = "python3.13"
#: Our zip functions are pure Python, so Graviton (cheaper per GB-second) runs them unchanged.
ARCHITECTURE = "arm64"
#: Lambda's advanced logging levels for the zip functions: INFO for both. They run once per payload object or
#: schedule tick, so the platform's START/REPORT lines cost little, and REPORT's peak memory is what the payload
#: ETL's limits are sized by (`lambdas.payload_etl.limits`). The serving function, invoked per request, differs
#: (`infra.serving`).
LOG_LEVEL = "INFO"


@dataclass(frozen=True, slots=True)
class AsyncInvocation:
    """How Lambda treats the function's asynchronous invocations: retries, maximum event age, and where it sends
    the events it gave up on (None: nowhere)."""

    max_retry_attempts: int
    max_event_age_seconds: int
    on_failure_arn: pulumi.Input[str] | None = None


@dataclass(frozen=True, slots=True)
class ZipLambda:
    """A zip function and the log group it logs to."""

    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup


def bundle_archive(bundle: LambdaBundle) -> pulumi.AssetArchive:
    """The function's zip: our code only (the runtime provides boto3)."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in archive_files(bundle).items()})


def zip_lambda(
    name: str,
    bundle: LambdaBundle,
    *,
    policy: Callable[[pulumi.Output[str]], pulumi.Input[str]],
    environment: pulumi.Input[Mapping[str, str]],
    memory_mb: int,
    timeout_seconds: int,
    log_retention_days: int,
    invocation: AsyncInvocation,
    parent: pulumi.Resource,
    layers: Sequence[pulumi.Input[str]] = (),
) -> ZipLambda:
    """A Lambda function `{name}-function` running `bundle`, logging JSON to its own log group `{name}-logs`, with its
    own role `{name}-role` whose policy (`policy` of the log group's ARN, so it can be scoped to that group) exists
    before the first invocation reads or writes anything, and its asynchronous-invocation settings `{name}-async`;
    `layers` are layer version ARNs the function runs with (the zip itself carries only our code).
    """
    child = pulumi.ResourceOptions(parent=parent)
    log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=log_retention_days, opts=child)
    role = service_role(name, LAMBDA_SERVICE, policy(log_group.arn), parent=parent)
    function = aws.lambda_.Function(
        f"{name}-function",
        runtime=RUNTIME,
        architectures=[ARCHITECTURE],
        handler=bundle.handler,
        code=bundle_archive(bundle),
        role=role.role.arn,
        memory_size=memory_mb,
        timeout=timeout_seconds,
        layers=list(layers) or None,
        environment={"variables": environment},
        logging_config={
            "log_format": "JSON",
            "log_group": log_group.name,
            "system_log_level": LOG_LEVEL,
            "application_log_level": LOG_LEVEL,
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[role.policy]),
    )
    destination: aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgsDict | None = (
        None if invocation.on_failure_arn is None else {"on_failure": {"destination": invocation.on_failure_arn}}
    )
    aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-async",
        function_name=function.name,
        maximum_retry_attempts=invocation.max_retry_attempts,
        maximum_event_age_in_seconds=invocation.max_event_age_seconds,
        destination_config=destination,
        opts=child,
    )
    return ZipLambda(function, log_group)
