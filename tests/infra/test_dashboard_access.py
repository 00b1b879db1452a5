"""The dashboard's read-only managed policy: its document (pure) and its place in the recorded graph."""

from __future__ import annotations

import json

import parliament
from cloudsplaining.scan.policy_document import PolicyDocument

from core.lake import LakeTable
from infra.dashboard_access import DashboardResources, dashboard_access_policy
from infra.lake_policies import GlueCatalog
from infra.mocks import Recording
from infra.outputs import StackOutput
from tests.infra.grants import grants

POLICY = "aws:iam/policy:Policy"
REGISTRY = "arn:aws:dynamodb:eu-west-1:123456789012:table/registry-abc"
MODELS = "arn:aws:s3:::models-abc"
PAYLOADS = "arn:aws:s3:::payloads-abc"
CATALOG = GlueCatalog(region="eu-west-1", account_id="123456789012", database="autoretrain_churn_dev")
RESOURCES = DashboardResources(
    model_name="churn",
    registry_table_arn=REGISTRY,
    model_bucket_arn=MODELS,
    payload_bucket_arn=PAYLOADS,
    catalog=CATALOG,
)
#: Every action of the policy that only reads (IAM's access levels "Read" and "List").
READ_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:Query",
    "s3:GetObject",
    "s3:ListBucket",
    "glue:GetDatabase",
    "glue:GetTable",
}


def test_the_policy_grants_exactly_the_reads_the_dashboard_makes() -> None:
    allowed = grants(dashboard_access_policy(RESOURCES))

    assert allowed == {
        "dynamodb:GetItem": {REGISTRY, f"{REGISTRY}/index/by_status"},
        "dynamodb:Query": {REGISTRY, f"{REGISTRY}/index/by_status"},
        "s3:GetObject": {f"{MODELS}/reports/churn/*", f"{MODELS}/models/churn/*", f"{PAYLOADS}/lake/*"},
        "s3:ListBucket": {MODELS, PAYLOADS},
        "glue:GetDatabase": {
            CATALOG.catalog_arn,
            CATALOG.database_arn,
            *(CATALOG.table_arn(table) for table in LakeTable),
        },
        "glue:GetTable": {CATALOG.catalog_arn, CATALOG.database_arn, *(CATALOG.table_arn(t) for t in LakeTable)},
    }


def test_the_policy_has_no_write_action_and_no_wildcard() -> None:
    document = json.loads(dashboard_access_policy(RESOURCES))
    actions = {action for statement in document["Statement"] for action in statement["Action"]}
    resources = {resource for statement in document["Statement"] for resource in statement["Resource"]}

    assert actions == READ_ACTIONS
    assert "*" not in resources
    assert not any("*" in action for action in actions)


def test_listing_is_limited_to_the_prefixes_read() -> None:
    statements = {
        statement["Sid"]: statement for statement in json.loads(dashboard_access_policy(RESOURCES))["Statement"]
    }

    assert statements["ListReportsAndModels"]["Condition"] == {
        "StringLike": {"s3:prefix": ["reports/churn/", "models/churn/", "reports/churn/*", "models/churn/*"]}
    }
    assert statements["ListLakeFiles"]["Condition"] == {"StringLike": {"s3:prefix": ["lake/", "lake/*"]}}


def test_the_policy_passes_parliament_and_cloudsplaining() -> None:
    document = dashboard_access_policy(RESOURCES)
    scanned = PolicyDocument(json.loads(document))

    assert [(finding.issue, finding.detail) for finding in parliament.analyze_policy_string(document).findings] == []
    assert not scanned.allows_privilege_escalation
    assert not scanned.permissions_management_without_constraints
    assert not scanned.infrastructure_modification
    assert not scanned.credentials_exposure
    # Reading objects is what the dashboard is for; cloudsplaining counts any GetObject as exfiltration only when it
    # is unconstrained (on "*"), which this one is not.
    assert not scanned.allows_data_exfiltration_actions


def test_the_stack_creates_the_policy_from_its_own_resources_and_exports_it(stack: Recording) -> None:
    (policy,) = [
        resource for resource in stack.of_type(POLICY) if resource.name == "autoretrain-dashboard-access-policy"
    ]
    registry = stack.find("aws:dynamodb/table:Table", "autoretrain-registry-table").outputs["arn"]
    models = stack.find("aws:s3/bucket:Bucket", "autoretrain-models").outputs["arn"]
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]

    allowed = grants(policy.inputs["policy"])

    assert allowed["dynamodb:Query"] == {registry, f"{registry}/index/by_status"}
    assert allowed["s3:GetObject"] == {f"{models}/reports/churn/*", f"{models}/models/churn/*", f"{payloads}/lake/*"}
    assert set(allowed) == READ_ACTIONS
    assert stack.exports[StackOutput.DASHBOARD_ACCESS_POLICY_ARN] == policy.outputs["arn"]


def test_the_policy_is_attached_to_nobody(stack: Recording) -> None:
    (policy,) = [
        resource for resource in stack.of_type(POLICY) if resource.name == "autoretrain-dashboard-access-policy"
    ]
    attachments = [
        resource
        for resource in stack.resources
        if resource.type.startswith("aws:iam/")
        and "Attachment" in resource.type
        and policy.outputs["arn"] in json.dumps(dict(resource.inputs))
    ]

    assert attachments == []
