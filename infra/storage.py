"""Storage: the three buckets and two tables, created from the same specs the emulator provisions, and the secure
bucket every bucket of the stack is (`secure_bucket`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core.buckets import ARTIFACT_BUCKET, MODEL_BUCKET, PAYLOAD_BUCKET, BucketSpec
from core.lake import LAKE_PREFIX
from core.layout import PayloadPrefix
from core.tables import PAYLOAD_TABLE, REGISTRY_TABLE, KeySchema, TableSpec
from infra.policies import tls_only_bucket_policy

ABORT_MULTIPART_AFTER_DAYS = 7
#: SSE-S3 (AES256): encrypted at rest with no KMS key to manage, and no kms:* grants for every reader and writer
#: (Lambda, CodePipeline, CodeBuild). A customer-managed key is a one-line change here if policy demands one.
SSE_ALGORITHM = "AES256"


@dataclass(frozen=True, slots=True)
class Retention:
    """How long things stay, in days."""

    objects: int
    quarantine: int
    noncurrent_versions: int


@dataclass(frozen=True, slots=True)
class StorageArgs:
    """Inputs of the Storage component."""

    retention: Retention
    deletion_protection: bool


def lifecycle_rules(spec: BucketSpec, retention: Retention) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Lifecycle rules of a bucket: clean up failed uploads and old versions; expire the payload bucket's data (raw
    payloads and labels, and their lake copy under `lake/`, after `retention.objects` days; quarantine and what
    Firehose could not deliver, `ingest-errors/`, sooner)."""
    rules = [abort_multipart_rule()]
    if spec.versioned:
        rules.append(
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {"prefix": ""},
                "noncurrent_version_expiration": {"noncurrent_days": retention.noncurrent_versions},
            }
        )
    if spec == PAYLOAD_BUCKET:
        expiring = {
            PayloadPrefix.PAYLOADS.value: retention.objects,
            PayloadPrefix.LABELS.value: retention.objects,
            PayloadPrefix.QUARANTINE.value: retention.quarantine,
            PayloadPrefix.INGEST_ERRORS.value: retention.quarantine,
            LAKE_PREFIX: retention.objects,
        }
        rules.extend(
            {
                "id": f"expire-{prefix.rstrip('/')}",
                "status": "Enabled",
                "filter": {"prefix": prefix},
                "expiration": {"days": days},
            }
            for prefix, days in expiring.items()
        )
    return rules


def table_key_schema(keys: KeySchema) -> list[aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgsDict]:
    """A key schema as the index arguments spell it."""
    schema: list[aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgsDict] = [
        {"attribute_name": keys.partition, "key_type": "HASH"}
    ]
    if keys.sort is not None:
        schema.append({"attribute_name": keys.sort, "key_type": "RANGE"})
    return schema


def abort_multipart_rule() -> aws.s3.BucketLifecycleConfigurationRuleArgsDict:
    """Clean up uploads that never completed (every bucket has this rule)."""
    return {
        "id": "abort-incomplete-multipart-uploads",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_AFTER_DAYS},
    }


def secure_bucket(
    name: str,
    *,
    rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict],
    versioned: bool,
    parent: pulumi.Resource,
) -> aws.s3.Bucket:
    """A bucket `name` as every bucket of the stack is: encrypted (SSE-S3), public access blocked, ACLs disabled, a
    TLS-only bucket policy, versioned if asked, with these lifecycle rules (`name-encryption`, `name-public-access`,
    `name-ownership`, `name-tls-only`, `name-versioning`, `name-lifecycle`, all children of `parent`)."""
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(name, opts=child)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": SSE_ALGORITHM}}],
        opts=child,
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
    )
    aws.s3.BucketPolicy(
        f"{name}-tls-only",
        bucket=bucket.id,
        policy=bucket.arn.apply(tls_only_bucket_policy),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access]),
    )
    versioning = None
    if versioned:
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
    # S3 refuses noncurrent-version rules until versioning is on, hence the dependency.
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=rules,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning] if versioning else []),
    )
    return bucket


class Storage(pulumi.ComponentResource):
    """Payload, model and pipeline-artifact buckets; payload and registry tables."""

    payload_bucket: aws.s3.Bucket
    model_bucket: aws.s3.Bucket
    artifact_bucket: aws.s3.Bucket
    payload_table: aws.dynamodb.Table
    registry_table: aws.dynamodb.Table

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:storage:Storage", name, None, opts)
        self._name = name
        self.payload_bucket = self._bucket(PAYLOAD_BUCKET, args.retention)
        self.model_bucket = self._bucket(MODEL_BUCKET, args.retention)
        self.artifact_bucket = self._bucket(ARTIFACT_BUCKET, args.retention)
        # CodePipeline's S3 source (a later issue) starts on the release object's creation through EventBridge.
        aws.s3.BucketNotification(
            f"{name}-{MODEL_BUCKET.logical_name}-events",
            bucket=self.model_bucket.id,
            eventbridge=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.payload_table = self._table(PAYLOAD_TABLE, args.deletion_protection)
        self.registry_table = self._table(REGISTRY_TABLE, args.deletion_protection)
        self.register_outputs(
            {
                "payload_bucket": self.payload_bucket.bucket,
                "model_bucket": self.model_bucket.bucket,
                "artifact_bucket": self.artifact_bucket.bucket,
                "payload_table": self.payload_table.name,
                "registry_table": self.registry_table.name,
            }
        )

    def _bucket(self, spec: BucketSpec, retention: Retention) -> aws.s3.Bucket:
        return secure_bucket(
            f"{self._name}-{spec.logical_name}",
            rules=lifecycle_rules(spec, retention),
            versioned=spec.versioned,
            parent=self,
        )

    def _table(self, spec: TableSpec, deletion_protection: bool) -> aws.dynamodb.Table:
        ttl: aws.dynamodb.TableTtlArgsDict | None = (
            {"attribute_name": spec.ttl_attribute, "enabled": True} if spec.ttl_attribute else None
        )
        attributes: list[aws.dynamodb.TableAttributeArgsDict] = [
            {"name": name, "type": kind} for name, kind in spec.attributes.items()
        ]
        indexes: list[aws.dynamodb.TableGlobalSecondaryIndexArgsDict] = [
            {"name": index.name, "key_schemas": table_key_schema(index.keys), "projection_type": "ALL"}
            for index in spec.indexes
        ]
        return aws.dynamodb.Table(
            f"{self._name}-{spec.logical_name}-table",
            billing_mode="PAY_PER_REQUEST",
            hash_key=spec.keys.partition,
            range_key=spec.keys.sort,
            attributes=attributes,
            global_secondary_indexes=indexes,
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            ttl=ttl,
            deletion_protection_enabled=deletion_protection,
            opts=pulumi.ResourceOptions(parent=self),
        )
