"""What every zip-packaged Lambda of ours shares: runtime, architecture, code archive and logging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from infra.bundles import LambdaBundle, archive_files

RUNTIME = "python3.13"
#: Our zip functions are pure Python, so Graviton (cheaper per GB-second) runs them unchanged.
ARCHITECTURE = "arm64"


def bundle_archive(bundle: LambdaBundle) -> pulumi.AssetArchive:
    """The function's zip: our code only (the runtime provides boto3)."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in archive_files(bundle).items()})


def zip_function(
    name: str,
    bundle: LambdaBundle,
    *,
    role_arn: pulumi.Input[str],
    environment: pulumi.Input[Mapping[str, str]],
    log_group: aws.cloudwatch.LogGroup,
    memory_mb: int,
    timeout_seconds: int,
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> aws.lambda_.Function:
    """A Lambda function running `bundle`, logging JSON to its own log group (so its role can be scoped to it).

    `depends_on` names the role's policy: it must exist before the first invocation reads or writes anything.
    """
    return aws.lambda_.Function(
        name,
        runtime=RUNTIME,
        architectures=[ARCHITECTURE],
        handler=bundle.handler,
        code=bundle_archive(bundle),
        role=role_arn,
        memory_size=memory_mb,
        timeout=timeout_seconds,
        environment={"variables": environment},
        logging_config={"log_format": "JSON", "log_group": log_group.name},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
