"""Buckets and tables: secure by default, and built from the same specs the emulator uses. The security invariants
(encryption, public access, ACLs, TLS, lifecycle) hold for every bucket of the stack, the lake's results bucket too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.buckets import ALL_BUCKETS, MODEL_BUCKET, PAYLOAD_BUCKET, BucketSpec
from core.lake import LAKE_PREFIX
from core.layout import ETL_PREFIXES
from core.tables import ALL_TABLES, PAYLOAD_TABLE, TableSpec
from infra.mocks import RecordedResource, Recording
from infra.storage import Retention, lifecycle_rules

BUCKET = "aws:s3/bucket:Bucket"
TABLE = "aws:dynamodb/table:Table"
RETENTION = Retention(objects=400, quarantine=30, noncurrent_versions=30)
#: The buckets outside Storage's specs, by logical name (the lake's query results).
OTHER_BUCKETS = {"autoretrain-lake-athena-results"}


def _bucket_names(stack: Recording) -> dict[str, str]:
    """Physical bucket name -> its spec's logical name (Storage's buckets) or its logical resource name (others)."""
    names = {}
    for resource in stack.of_type(BUCKET):
        specs = [spec.logical_name for spec in ALL_BUCKETS if resource.name == f"autoretrain-{spec.logical_name}"]
        names[resource.outputs["bucket"]] = specs[0] if specs else resource.name
    return names


def _per_bucket(stack: Recording, type_token: str) -> dict[str, RecordedResource]:
    """Spec logical name -> the one resource of this type configuring that bucket."""
    names = _bucket_names(stack)
    configured: dict[str, RecordedResource] = {}
    for resource in stack.of_type(type_token):
        logical = names[resource.inputs["bucket"]]
        assert logical not in configured, f"two {type_token} on {logical}"
        configured[logical] = resource
    return configured


def _all_buckets() -> set[str]:
    return {spec.logical_name for spec in ALL_BUCKETS} | OTHER_BUCKETS


def _table(stack: Recording, spec: TableSpec) -> RecordedResource:
    (table,) = [resource for resource in stack.of_type(TABLE) if resource.name.endswith(f"-{spec.logical_name}-table")]
    return table


def test_stack_creates_one_bucket_per_spec_and_the_results_bucket(stack: Recording) -> None:
    assert sorted(_bucket_names(stack).values()) == sorted(_all_buckets())


def test_every_bucket_is_encrypted(stack: Recording) -> None:
    encryption = _per_bucket(
        stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    assert set(encryption) == _all_buckets()
    for resource in encryption.values():
        (rule,) = resource.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"


def test_every_bucket_blocks_public_access(stack: Recording) -> None:
    blocks = _per_bucket(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert set(blocks) == _all_buckets()
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(resource.inputs[flag] is True for resource in blocks.values() for flag in flags)


def test_every_bucket_disables_acls(stack: Recording) -> None:
    ownership = _per_bucket(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert set(ownership) == _all_buckets()
    assert {resource.inputs["rule"]["objectOwnership"] for resource in ownership.values()} == {"BucketOwnerEnforced"}


def test_every_bucket_policy_denies_requests_without_tls(stack: Recording) -> None:
    policies = _per_bucket(stack, "aws:s3/bucketPolicy:BucketPolicy")
    assert set(policies) == _all_buckets()
    arns = {resource.outputs["bucket"]: resource.outputs["arn"] for resource in stack.of_type(BUCKET)}
    for resource in policies.values():
        (statement,) = json.loads(resource.inputs["policy"])["Statement"]
        bucket_arn = arns[resource.inputs["bucket"]]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert set(statement["Resource"]) == {bucket_arn, f"{bucket_arn}/*"}


def test_versioning_is_on_exactly_where_the_specs_ask(stack: Recording) -> None:
    # The results bucket is not versioned: an expired result must go, not linger as a noncurrent version.
    versioning = _per_bucket(stack, "aws:s3/bucketVersioning:BucketVersioning")
    assert set(versioning) == {spec.logical_name for spec in ALL_BUCKETS if spec.versioned}
    assert {resource.inputs["versioningConfiguration"]["status"] for resource in versioning.values()} == {"Enabled"}


def test_model_and_artifact_buckets_are_versioned() -> None:
    assert {spec.logical_name for spec in ALL_BUCKETS if spec.versioned} == {"models", "pipeline-artifacts"}


def test_every_bucket_has_lifecycle_rules(stack: Recording) -> None:
    lifecycle = _per_bucket(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert set(lifecycle) == _all_buckets()
    for resource in lifecycle.values():
        ids = {rule["id"] for rule in resource.inputs["rules"]}
        assert "abort-incomplete-multipart-uploads" in ids
        assert all(rule["status"] == "Enabled" for rule in resource.inputs["rules"])


def test_versioned_buckets_expire_noncurrent_versions_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    lifecycle = _per_bucket(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    days = int(dev_config["autoretrain:noncurrentVersionDays"])
    for spec in ALL_BUCKETS:
        expirations = [
            rule["noncurrentVersionExpiration"]["noncurrentDays"]
            for rule in lifecycle[spec.logical_name].inputs["rules"]
            if "noncurrentVersionExpiration" in rule
        ]
        assert expirations == ([days] if spec.versioned else [])


def test_payload_bucket_expires_data_by_prefix_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    rules = _per_bucket(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["payloads"]
    expiry = {
        rule["filter"]["prefix"]: rule["expiration"]["days"] for rule in rules.inputs["rules"] if "expiration" in rule
    }
    objects = int(dev_config["autoretrain:objectRetentionDays"])
    assert expiry == {
        "payloads/": objects,
        "labels/": objects,
        "quarantine/": int(dev_config["autoretrain:quarantineRetentionDays"]),
        # What Firehose could not deliver is kept as long as refused records.
        "ingest-errors/": int(dev_config["autoretrain:quarantineRetentionDays"]),
        LAKE_PREFIX: objects,
    }


def test_lake_files_expire_with_the_raw_objects_they_are_made_from() -> None:
    expiry = {
        rule["filter"]["prefix"]: rule["expiration"]["days"] for rule in _rules(PAYLOAD_BUCKET) if "expiration" in rule
    }
    assert expiry[LAKE_PREFIX] == expiry["payloads/"] == expiry["labels/"] == RETENTION.objects


def test_lake_writes_do_not_trigger_the_etl(stack: Recording) -> None:
    # The ETL writes under lake/: an S3 trigger there would invoke it on its own output, without end.
    notification = stack.find("aws:s3/bucketNotification:BucketNotification", "autoretrain-etl-notification")
    prefixes = [item["filterPrefix"] for item in notification.inputs["lambdaFunctions"]]
    assert sorted(prefixes) == sorted(ETL_PREFIXES)
    assert not any(prefix.startswith(LAKE_PREFIX) or LAKE_PREFIX.startswith(prefix) for prefix in prefixes)


def _rules(spec: BucketSpec) -> list[dict[str, Any]]:
    """The pure rule builder's output as plain JSON data."""
    rules: list[dict[str, Any]] = json.loads(json.dumps(lifecycle_rules(spec, RETENTION)))
    return rules


def test_model_bucket_never_expires_current_objects() -> None:
    assert not any("expiration" in rule for rule in _rules(MODEL_BUCKET))


def test_training_data_is_not_expired() -> None:
    prefixes = {rule["filter"]["prefix"] for rule in _rules(PAYLOAD_BUCKET) if "expiration" in rule}
    assert "training/" not in prefixes
    assert "" not in prefixes


@pytest.mark.parametrize("spec", ALL_BUCKETS, ids=lambda spec: spec.logical_name)
def test_lifecycle_rule_ids_are_unique(spec: BucketSpec) -> None:
    ids = [rule["id"] for rule in _rules(spec)]
    assert len(ids) == len(set(ids))


def test_model_bucket_sends_events_to_eventbridge(stack: Recording) -> None:
    notifications = _per_bucket(stack, "aws:s3/bucketNotification:BucketNotification")
    assert notifications["models"].inputs["eventbridge"] is True


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.logical_name)
def test_table_is_on_demand_with_pitr_and_encryption(stack: Recording, spec: TableSpec) -> None:
    inputs = _table(stack, spec).inputs
    assert inputs["billingMode"] == "PAY_PER_REQUEST"
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"]["enabled"] is True


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.logical_name)
def test_table_schema_equals_its_spec(stack: Recording, spec: TableSpec) -> None:
    inputs = _table(stack, spec).inputs
    expected = spec.create_table_kwargs("unused")
    key_types = {"HASH": "hashKey", "RANGE": "rangeKey"}
    assert {key_types[key["KeyType"]]: key["AttributeName"] for key in expected["KeySchema"]} == {
        name: inputs[name] for name in ("hashKey", "rangeKey") if name in inputs
    }
    assert {(a["name"], a["type"]) for a in inputs["attributes"]} == {
        (a["AttributeName"], a["AttributeType"]) for a in expected["AttributeDefinitions"]
    }
    indexes: dict[str, Any] = {
        index["name"]: (
            [(key["attributeName"], key["keyType"]) for key in index["keySchemas"]],
            index["projectionType"],
        )
        for index in inputs.get("globalSecondaryIndexes", [])
    }
    assert indexes == {
        index["IndexName"]: (
            [(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in expected.get("GlobalSecondaryIndexes", [])
    }


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.logical_name)
def test_table_defines_only_attributes_its_keys_use(stack: Recording, spec: TableSpec) -> None:
    # DynamoDB (and the provider) refuse an attribute definition no key or index uses.
    inputs = _table(stack, spec).inputs
    keys = {inputs["hashKey"], inputs.get("rangeKey")} | {
        key["attributeName"] for index in inputs.get("globalSecondaryIndexes", []) for key in index["keySchemas"]
    }
    assert {attribute["name"] for attribute in inputs["attributes"]} == keys - {None}


def test_payload_table_expires_items_by_ttl(stack: Recording) -> None:
    assert _table(stack, PAYLOAD_TABLE).inputs["ttl"] == {"attributeName": "expires_at", "enabled": True}


@pytest.mark.parametrize("spec", ALL_TABLES, ids=lambda spec: spec.logical_name)
def test_table_deletion_protection_follows_config(
    stack: Recording, dev_config: dict[str, str], spec: TableSpec
) -> None:
    expected = dev_config["autoretrain:deletionProtection"] == "true"
    assert _table(stack, spec).inputs["deletionProtectionEnabled"] is expected
