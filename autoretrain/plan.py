"""`autoretrain plan`: every resource of the Pulumi program with its key settings, from a run under mocks.

A reader without an AWS account sees what `pulumi up` would create. It is not `pulumi preview`: no engine, no
provider, no account; outputs such as names and ARNs are the mocks' stand-ins.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from infra.config import SettingsError
from infra.mocks import RecordedResource, Recording, StackConfigError, load_stack_config, run_stack

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STACK_CONFIG = REPO_ROOT / "Pulumi.dev.yaml"
HEADER = (
    "This is the Pulumi program run under mocks, NOT `pulumi preview`: no AWS account was contacted and "
    "nothing was deployed. Names and ARNs below are the mocks' stand-ins."
)

#: Type token -> (label, dotted path into the resource's inputs) of the settings worth showing.
KEY_SETTINGS: dict[str, tuple[tuple[str, str], ...]] = {
    "pulumi:providers:aws": (("region", "region"), ("default tags", "defaultTags.tags")),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        ("encryption", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm"),
    ),
    "aws:s3/bucketVersioning:BucketVersioning": (("versioning", "versioningConfiguration.status"),),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        ("block public acls", "blockPublicAcls"),
        ("block public policy", "blockPublicPolicy"),
        ("ignore public acls", "ignorePublicAcls"),
        ("restrict public buckets", "restrictPublicBuckets"),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (("ownership", "rule.objectOwnership"),),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (("rules", "rules"),),
    "aws:s3/bucketNotification:BucketNotification": (
        ("eventbridge", "eventbridge"),
        ("lambda prefixes", "lambdaFunctions.*.filterPrefix"),
    ),
    "aws:dynamodb/table:Table": (
        ("billing", "billingMode"),
        ("keys", "hashKey"),
        ("sort key", "rangeKey"),
        ("indexes", "globalSecondaryIndexes.*.name"),
        ("pitr", "pointInTimeRecovery.enabled"),
        ("sse", "serverSideEncryption.enabled"),
        ("ttl", "ttl.attributeName"),
        ("deletion protection", "deletionProtectionEnabled"),
    ),
    "aws:lambda/function:Function": (
        ("runtime", "runtime"),
        ("package", "packageType"),
        ("handler", "handler"),
        ("arch", "architectures"),
        ("memory MB", "memorySize"),
        ("timeout s", "timeout"),
        ("layers", "layers"),
        ("env", "environment.variables"),
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        ("retries", "maximumRetryAttempts"),
        ("max event age s", "maximumEventAgeInSeconds"),
    ),
    "aws:lambda/permission:Permission": (("principal", "principal"), ("source account", "sourceAccount")),
    "aws:lambda/alias:Alias": (("alias", "name"),),
    "aws:iam/role:Role": (("trusts", "assumeRolePolicy.Statement.*.Principal.Service"),),
    "aws:iam/rolePolicy:RolePolicy": (("allows", "policy.Statement.*.Action"),),
    "aws:s3/bucketPolicy:BucketPolicy": (("statements", "policy.Statement.*.Sid"),),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": (("keep newest", "policy.rules.*.selection.countNumber"),),
    "aws:cloudwatch/logGroup:LogGroup": (("retention days", "retentionInDays"),),
    "aws:sqs/queue:Queue": (("sse", "sqsManagedSseEnabled"), ("retention s", "messageRetentionSeconds")),
    "aws:ecr/repository:Repository": (
        ("tags", "imageTagMutability"),
        ("scan on push", "imageScanningConfiguration.scanOnPush"),
        ("encryption", "encryptionConfigurations.0.encryptionType"),
    ),
    "docker-build:index:Image": (("platforms", "platforms"), ("push", "push"), ("dockerfile", "dockerfile.location")),
    "aws:kms/key:Key": (("rotation", "enableKeyRotation"), ("key policy", "policy.Statement.*.Sid")),
    "aws:sns/topic:Topic": (("kms key", "kmsMasterKeyId"),),
    "aws:sns/topicPolicy:TopicPolicy": (("statements", "policy.Statement.*.Sid"),),
    "aws:sns/topicSubscription:TopicSubscription": (("protocol", "protocol"),),
    "aws:sqs/queuePolicy:QueuePolicy": (("statements", "policy.Statement.*.Sid"),),
    "aws:cloudwatch/eventRule:EventRule": (("bus", "eventBusName"), ("pattern", "eventPattern")),
    "aws:cloudwatch/eventTarget:EventTarget": (
        ("target", "arn"),
        ("retries", "retryPolicy.maximumRetryAttempts"),
        ("input", "inputTransformer.inputTemplate"),
    ),
    "aws:scheduler/schedule:Schedule": (
        ("expression", "scheduleExpression"),
        ("window", "flexibleTimeWindow.mode"),
        ("target", "target.arn"),
        ("input", "target.input"),
    ),
    "aws:batch/computeEnvironment:ComputeEnvironment": (
        ("type", "computeResources.type"),
        ("max vCPUs", "computeResources.maxVcpus"),
    ),
    "aws:batch/jobDefinition:JobDefinition": (
        ("platform", "platformCapabilities"),
        ("command", "containerProperties.command"),
        ("resources", "containerProperties.resourceRequirements.*.value"),
        ("attempts", "retryStrategy.attempts"),
        ("timeout s", "timeout.attemptDurationSeconds"),
    ),
    "aws:ec2/securityGroup:SecurityGroup": (("egress ports", "egress.*.fromPort"),),
    "aws:glue/catalogDatabase:CatalogDatabase": (("database", "name"),),
    "aws:glue/catalogTable:CatalogTable": (
        ("type", "tableType"),
        ("location", "storageDescriptor.location"),
        ("serde", "storageDescriptor.serDeInfo.serializationLibrary"),
        ("partition keys", "partitionKeys.*.name"),
    ),
    "aws:athena/workgroup:Workgroup": (
        ("enforced", "configuration.enforceWorkgroupConfiguration"),
        ("bytes scanned cutoff", "configuration.bytesScannedCutoffPerQuery"),
        ("results", "configuration.resultConfiguration.outputLocation"),
        ("encryption", "configuration.resultConfiguration.encryptionConfiguration.encryptionOption"),
        ("engine", "configuration.engineVersion.selectedEngineVersion"),
        ("metrics", "configuration.publishCloudwatchMetricsEnabled"),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        ("metric", "metricName"),
        ("threshold", "threshold"),
        ("missing data", "treatMissingData"),
    ),
    "aws:codebuild/project:Project": (
        ("image", "environment.image"),
        ("privileged", "environment.privilegedMode"),
        ("buildspec", "source.buildspec"),
    ),
    "aws:codepipeline/pipeline:Pipeline": (
        ("type", "pipelineType"),
        ("mode", "executionMode"),
        ("sources", "stages.0.actions.*.configuration.S3ObjectKey"),
    ),
}


def lookup(document: Any, path: str) -> Any:
    """Value at a dotted path (`a.0.b`; `*` maps over a list); None where the path does not exist."""
    head, _, rest = path.partition(".")
    if isinstance(document, str) and document[:1] in "{[":
        document = json.loads(document)  # provider inputs arrive JSON-encoded
    if head == "*" and isinstance(document, list):
        return [lookup(item, rest) if rest else item for item in document]
    if isinstance(document, list) and head.isdigit():
        value = document[int(head)] if int(head) < len(document) else None
    elif isinstance(document, Mapping):
        value = document.get(head)
    else:
        return None
    return lookup(value, rest) if rest and value is not None else value


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list) and all(isinstance(item, Mapping) and "id" in item for item in value):
        return ",".join(str(item["id"]) for item in value)  # lifecycle rules by id
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}={_show(item)}" for key, item in sorted(value.items())) + "}"
    if isinstance(value, list):
        return ",".join(_show(item) for item in value)
    return str(value)


def key_settings(resource: RecordedResource) -> str:
    """A resource's key settings as `label: value; ...`, plus what `pulumi up` will leave alone."""
    parts = []
    for label, path in KEY_SETTINGS.get(resource.type, ()):
        value = lookup(resource.inputs, path)
        if value not in (None, [], {}):
            parts.append(f"{label}: {_show(value)}")
    if resource.ignore_changes:
        parts.append(f"ignore changes: {','.join(resource.ignore_changes)}")
    return "; ".join(parts)


def _top_level(recording: Recording, resource: RecordedResource) -> RecordedResource:
    urns = {item.urn for item in recording.resources}
    while resource.parent in urns:
        resource = recording.by_urn(resource.parent)
    return resource


def ordered(recording: Recording) -> list[tuple[int, RecordedResource]]:
    """(depth, resource) in a stable order: providers, then each component followed by its children."""
    tops = sorted(
        {_top_level(recording, item).urn: _top_level(recording, item) for item in recording.resources}.values(),
        key=lambda item: (not item.is_provider, item.type, item.name),
    )
    rows: list[tuple[int, RecordedResource]] = []
    for top in tops:
        rows.append((0, top))
        children = [item for item in recording.resources if item is not top and _top_level(recording, item) is top]
        rows.extend((1, child) for child in sorted(children, key=lambda item: (item.type, item.name)))
    return rows


def render(recording: Recording, out: TextIO) -> None:
    """Write the header and the resource table (children indented under their component)."""
    rows = [("TYPE", "NAME", "KEY SETTINGS")]
    rows += [("  " * depth + item.type, item.name, key_settings(item)) for depth, item in ordered(recording)]
    type_width = max(len(row[0]) for row in rows)
    name_width = max(len(row[1]) for row in rows)
    print(HEADER, file=out)
    print(file=out)
    for type_token, name, settings in rows:
        print(f"{type_token:<{type_width}}  {name:<{name_width}}  {settings}".rstrip(), file=out)
    print(file=out)
    print(f"{len(recording.resources)} resources; stack outputs: {', '.join(recording.exports)}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the program under mocks with a stack config and print what it declares."""
    parser = argparse.ArgumentParser(prog="autoretrain plan", description=__doc__)
    parser.add_argument(
        "--stack-config",
        type=Path,
        default=DEFAULT_STACK_CONFIG,
        metavar="FILE",
        help="a Pulumi.<stack>.yaml file (default: the example Pulumi.dev.yaml)",
    )
    arguments = parser.parse_args(argv)
    try:
        config = load_stack_config(arguments.stack_config)
        recording = run_stack(config)
    except (StackConfigError, SettingsError) as error:
        print(f"autoretrain plan: {error}", file=sys.stderr)
        return 2
    render(recording, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
