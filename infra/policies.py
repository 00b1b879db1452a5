"""IAM and resource policy documents, built from data with `json.dumps` (pure; unit-tested without Pulumi).

The shared grammar and the issue-2 documents live here; each component keeps its own policy builders beside it.
A `"*"` resource appears only where AWS accepts nothing else, always through `any_resource_statement`, which
names the reason (the infra tests allow-list exactly those actions). Wildcard actions: `s3:*`/`sns:Publish`
Denies that close every non-TLS path, and `kms:*` for the account root in the alert key's policy (AWS's default
key policy statement, without which no IAM policy could grant use of the key). Object ARNs end in `prefix/*` and
log ARNs in `:*` because that is how IAM names "the objects under a prefix" and "the streams of a log group";
both are bounded by a concrete bucket or log group ARN.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.layout import BASELINE_FILE, model_version_prefix

POLICY_VERSION = "2012-10-17"

#: What the payload-ETL Lambda does with the payload table (it writes items and reads them back by key).
PAYLOAD_TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
#: What a producer does with a Firehose delivery stream (serving sends batches; PutRecord for a single record).
SEND_RECORD_ACTIONS = ("firehose:PutRecord", "firehose:PutRecordBatch")
#: The resource of an action that IAM cannot scope to a resource (AWS documents "*" as its only resource type).
ANY_RESOURCE = "*"
#: Actions AWS authorises only on `"*"`, each with the reason; `any_resource_statement` refuses any other.
ACTIONS_REQUIRING_ANY_RESOURCE = {
    "ecr:GetAuthorizationToken": "a registry login token is account-wide; ECR has no resource type for it",
    "cloudwatch:PutMetricData": "CloudWatch metrics have no ARN; the cloudwatch:namespace condition scopes it",
}


@dataclass(frozen=True, slots=True)
class Statement:
    """One policy statement."""

    sid: str
    actions: Sequence[str]
    resources: Sequence[str]
    effect: Literal["Allow", "Deny"] = "Allow"
    principal: str | Mapping[str, str] | None = None
    condition: Mapping[str, Mapping[str, str | Sequence[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The statement as IAM's JSON grammar spells it."""
        document: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principal is not None:
            document["Principal"] = self.principal
        document["Action"] = sorted(self.actions)
        if self.resources:
            document["Resource"] = sorted(self.resources)
        if self.condition:
            document["Condition"] = {
                operator: {key: value if isinstance(value, str) else list(value) for key, value in values.items()}
                for operator, values in self.condition.items()
            }
        return document


def any_resource_statement(
    sid: str, actions: Sequence[str], condition: Mapping[str, Mapping[str, str | Sequence[str]]] | None = None
) -> Statement:
    """A statement on `"*"` for actions AWS authorises on nothing narrower (see ACTIONS_REQUIRING_ANY_RESOURCE)."""
    unknown = sorted(set(actions) - set(ACTIONS_REQUIRING_ANY_RESOURCE))
    if unknown:
        raise ValueError(f"{unknown} can be scoped to a resource; do not grant them on '*'")
    return Statement(sid, actions, [ANY_RESOURCE], condition=condition or {})


def policy_document(statements: Iterable[Statement]) -> str:
    """A policy document as JSON text, keys sorted so equal policies give equal text (no spurious diffs)."""
    return json.dumps(
        {"Version": POLICY_VERSION, "Statement": [statement.to_json() for statement in statements]}, sort_keys=True
    )


def object_arns(bucket_arn: str, prefixes: Iterable[str]) -> list[str]:
    """ARNs of the objects under each key prefix (`payloads/` -> `arn:aws:s3:::bucket/payloads/*`)."""
    return [f"{bucket_arn}/{prefix.rstrip('/')}/*" for prefix in prefixes]


def baseline_object_arns(model_bucket_arn: str, model_name: str) -> str:
    """Every version's monitoring baseline of the model: `models/<m>/*/baseline.json` in the model bucket."""
    return f"{model_bucket_arn}/{model_version_prefix(model_name, '*')}{BASELINE_FILE}"


def log_streams_arn(log_group_arn: str) -> str:
    """The ARN that covers a log group's streams, which is what CreateLogStream and PutLogEvents authorise on."""
    return f"{log_group_arn}:*"


def assume_role_policy(
    service: str,
    *,
    source_account: str | None = None,
    source_arn: str | None = None,
    external_id: str | None = None,
) -> str:
    """Trust policy letting one AWS service (e.g. `lambda.amazonaws.com`) assume the role, optionally only on
    behalf of one account and/or resource (confused-deputy protection: `aws:SourceAccount`, `aws:SourceArn`), or,
    for a service that documents it instead (Firehose: the account's ID), only with this `sts:ExternalId`."""
    condition: dict[str, dict[str, str | Sequence[str]]] = {}
    equals: dict[str, str | Sequence[str]] = {}
    if source_account is not None:
        equals["aws:SourceAccount"] = source_account
    if external_id is not None:
        equals["sts:ExternalId"] = external_id
    if equals:
        condition["StringEquals"] = equals
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    statement = Statement("TrustService", ["sts:AssumeRole"], [], principal={"Service": service}, condition=condition)
    return policy_document([statement])


@dataclass(frozen=True, slots=True)
class BucketKey:
    """A customer-managed KMS key a bucket encrypts its objects with (the stack's buckets use SSE-S3 and have none:
    `infra.storage.SSE_ALGORITHM`), and the bucket's region."""

    arn: str
    region: str

    def statement(self, sid: str, actions: Sequence[str], objects: Sequence[str]) -> Statement:
        """Use the key only through S3 in its region, and only for these objects (S3 passes the object's ARN as the
        encryption context)."""
        return Statement(
            sid,
            actions,
            [self.arn],
            condition={
                "StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": list(objects)},
            },
        )


def table_and_index_arns(table_arn: str, index_name: str) -> list[str]:
    """A table's ARN and one of its indexes' (Query on an index authorises on the index ARN)."""
    return [table_arn, f"{table_arn}/index/{index_name}"]


def tls_only_bucket_policy(bucket_arn: str) -> str:
    """Deny every S3 request on the bucket and its objects that does not use TLS."""
    statement = Statement(
        "DenyInsecureTransport",
        ["s3:*"],
        [bucket_arn, f"{bucket_arn}/*"],
        effect="Deny",
        principal="*",
        condition={"Bool": {"aws:SecureTransport": "false"}},
    )
    return policy_document([statement])


def log_statement(log_group_arn: str) -> Statement:
    """Write to one log group only (the function's own)."""
    return Statement("WriteOwnLogs", LOG_ACTIONS, [log_streams_arn(log_group_arn)])


def payload_etl_policy(
    *,
    payload_bucket_arn: str,
    read_prefixes: Iterable[str],
    quarantine_prefix: str,
    baseline_objects: Sequence[str],
    lake_statements: Iterable[Statement],
    payload_table_arn: str,
    log_group_arn: str,
    failure_queue_arn: str,
    model_bucket_key: BucketKey | None = None,
) -> str:
    """The payload-ETL Lambda: read new payload and label objects, quarantine bad records, write the lake's files
    (`lake_statements`, `infra.lake_policies.write_lake_statements`), read the served versions' baselines
    (`baseline_objects` in the model bucket, decrypted with `model_bucket_key` if it has one) for the alerting
    aggregates, and load the table (segments, ledger, aggregates)."""
    statements = [
        Statement("ReadNewObjects", ["s3:GetObject"], object_arns(payload_bucket_arn, read_prefixes)),
        Statement("WriteQuarantine", ["s3:PutObject"], object_arns(payload_bucket_arn, [quarantine_prefix])),
        *lake_statements,
        Statement("ReadBaselines", ["s3:GetObject"], baseline_objects),
        # The table only: the ETL neither queries nor writes the indexes (DynamoDB maintains them).
        Statement("LoadPayloadTable", PAYLOAD_TABLE_ACTIONS, [payload_table_arn]),
        Statement("ReportFailedEvents", ["sqs:SendMessage"], [failure_queue_arn]),
        log_statement(log_group_arn),
    ]
    if model_bucket_key is not None:
        statements.append(model_bucket_key.statement("DecryptBaselines", ["kms:Decrypt"], baseline_objects))
    return policy_document(statements)


def serving_policy(*, stream_arn: str, log_group_arn: str) -> str:
    """The serving Lambda: send each prediction's payload records to the model's delivery stream, nothing else (the
    model is baked into the image)."""
    return policy_document(
        [
            Statement("SendPayloads", SEND_RECORD_ACTIONS, [stream_arn]),
            log_statement(log_group_arn),
        ]
    )
