"""The pure policy builders, checked without Pulumi."""

from __future__ import annotations

import json
from typing import Any

from core.lake import LakeTable
from infra.lake_policies import GlueCatalog, write_lake_statements
from infra.policies import (
    PAYLOAD_TABLE_ACTIONS,
    BucketKey,
    assume_role_policy,
    baseline_object_arns,
    object_arns,
    payload_etl_policy,
    serving_policy,
    tls_only_bucket_policy,
)
from tests.infra.grants import grants

BUCKET = "arn:aws:s3:::payloads-abc"
MODELS = "arn:aws:s3:::models-abc"
BASELINES = f"{MODELS}/models/churn/*/baseline.json"
STREAM = "arn:aws:firehose:eu-west-1:123456789012:deliverystream/autoretrain-dev-payloads-churn"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"
TABLE = "arn:aws:dynamodb:eu-west-1:123456789012:table/payloads-abc"
LOGS = "arn:aws:logs:eu-west-1:123456789012:log-group:etl-logs-abc"
QUEUE = "arn:aws:sqs:eu-west-1:123456789012:etl-failures-abc"
CATALOG = GlueCatalog(region="eu-west-1", account_id="123456789012", database="autoretrain_churn_dev")


def _etl_policy(model_bucket_key: BucketKey | None = None) -> str:
    return payload_etl_policy(
        payload_bucket_arn=BUCKET,
        read_prefixes=["payloads/", "labels/"],
        quarantine_prefix="quarantine/",
        baseline_objects=[BASELINES],
        lake_statements=write_lake_statements(CATALOG, BUCKET),
        payload_table_arn=TABLE,
        log_group_arn=LOGS,
        failure_queue_arn=QUEUE,
        model_bucket_key=model_bucket_key,
    )


def test_object_arns_cover_the_objects_under_each_prefix() -> None:
    assert object_arns(BUCKET, ["payloads/", "labels"]) == [f"{BUCKET}/payloads/*", f"{BUCKET}/labels/*"]


def test_etl_policy_grants_exactly_what_the_etl_does() -> None:
    expected: dict[str, set[str]] = {
        "s3:GetObject": {f"{BUCKET}/payloads/*", f"{BUCKET}/labels/*", BASELINES},
        "s3:PutObject": {f"{BUCKET}/quarantine/*", f"{BUCKET}/lake/*"},
        "glue:GetTable": {
            "arn:aws:glue:eu-west-1:123456789012:catalog",
            "arn:aws:glue:eu-west-1:123456789012:database/autoretrain_churn_dev",
            *(f"arn:aws:glue:eu-west-1:123456789012:table/autoretrain_churn_dev/{table}" for table in LakeTable),
        },
        "sqs:SendMessage": {QUEUE},
        "logs:CreateLogStream": {f"{LOGS}:*"},
        "logs:PutLogEvents": {f"{LOGS}:*"},
    }
    expected.update({action: {TABLE} for action in PAYLOAD_TABLE_ACTIONS})
    assert grants(_etl_policy()) == expected


def test_etl_policy_does_not_reach_the_table_indexes() -> None:
    assert not any("/index/" in resource for resources in grants(_etl_policy()).values() for resource in resources)


def test_etl_reads_every_version_baseline_of_its_model_only() -> None:
    assert baseline_object_arns(MODELS, "churn") == BASELINES


def test_etl_decrypts_baselines_only_with_a_model_bucket_key() -> None:
    assert not any(action.startswith("kms:") for action in grants(_etl_policy()))
    statements = json.loads(_etl_policy(BucketKey(arn=KEY, region="eu-west-1")))["Statement"]
    (statement,) = [statement for statement in statements if statement["Sid"] == "DecryptBaselines"]
    assert (statement["Action"], statement["Resource"]) == (["kms:Decrypt"], [KEY])
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [BASELINES]},
    }


def test_serving_policy_only_sends_to_its_stream_and_writes_its_logs() -> None:
    allowed = grants(serving_policy(stream_arn=STREAM, log_group_arn=LOGS))
    assert allowed == {
        "firehose:PutRecord": {STREAM},
        "firehose:PutRecordBatch": {STREAM},
        "logs:CreateLogStream": {f"{LOGS}:*"},
        "logs:PutLogEvents": {f"{LOGS}:*"},
    }


def test_trust_policy_may_require_an_external_id() -> None:
    (statement,) = json.loads(assume_role_policy("firehose.amazonaws.com", external_id="123456789012"))["Statement"]
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "123456789012"}}
    (plain,) = json.loads(assume_role_policy("lambda.amazonaws.com"))["Statement"]
    assert "Condition" not in plain


def test_tls_only_policy_denies_insecure_requests_on_bucket_and_objects() -> None:
    (statement,) = json.loads(tls_only_bucket_policy(BUCKET))["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == ["s3:*"]
    assert set(statement["Resource"]) == {BUCKET, f"{BUCKET}/*"}
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_trust_policy_lets_only_the_named_service_assume_the_role() -> None:
    (statement,) = json.loads(assume_role_policy("lambda.amazonaws.com"))["Statement"]
    expected: dict[str, Any] = {
        "Sid": "TrustService",
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": ["sts:AssumeRole"],
    }
    assert statement == expected


def test_equal_policies_serialise_to_equal_text() -> None:
    assert _etl_policy() == _etl_policy()
