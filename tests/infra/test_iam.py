"""Every policy in the recorded graph passes parliament and cloudsplaining; wildcards only where allow-listed."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from infra.mocks import Recording

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
KEY = "aws:kms/key:Key"
POLICY_TYPES = (ROLE_POLICY, BUCKET_POLICY, TOPIC_POLICY, QUEUE_POLICY, KEY)

#: One role per function, job and service integration, each with exactly one inline policy.
ROLE_POLICIES = {
    "autoretrain-etl-policy",
    "autoretrain-serving-policy",
    "autoretrain-ingest-policy",
    "autoretrain-alerting-policy",
    "autoretrain-jobs-execution-policy",
    "autoretrain-jobs-drift-check-policy",
    "autoretrain-jobs-retrain-policy",
    "autoretrain-jobs-compact-lake-policy",
    "autoretrain-jobs-live-evaluation-policy",
    "autoretrain-rules-retrain-submitter-policy",
    "autoretrain-schedules-invoke-policy",
    "autoretrain-schedules-submit-policy",
    "autoretrain-release-build-policy",
    "autoretrain-release-pipeline-policy",
    "autoretrain-release-starter-policy",
}

#: `"*"` resources AWS requires, by (policy, action); every one carries a comment in the code saying why.
ALLOWED_ANY_RESOURCE = {
    # A registry login token is account-wide: ECR has no resource type for GetAuthorizationToken.
    ("autoretrain-jobs-execution-policy", "ecr:GetAuthorizationToken"),
    ("autoretrain-release-build-policy", "ecr:GetAuthorizationToken"),
    # CloudWatch metrics have no ARN; the statement is conditioned on cloudwatch:namespace = autoretrain.
    ("autoretrain-jobs-drift-check-policy", "cloudwatch:PutMetricData"),
    ("autoretrain-jobs-live-evaluation-policy", "cloudwatch:PutMetricData"),
}
#: In a key policy "*" means "this key" and is the only resource AWS accepts.
KEY_POLICY_RESOURCE = "*"

#: Wildcard actions allowed, by (type, effect, action).
ALLOWED_WILDCARD_ACTIONS = {
    # The TLS-only Deny must cover every S3 action.
    (BUCKET_POLICY, "Deny", "s3:*"),
    # AWS's default key policy statement for the account root: lets IAM policies grant use of the key.
    (KEY, "Allow", "kms:*"),
    # SNS documents kms:GenerateDataKey* for publishers to an encrypted topic (the services and the alerting Lambda).
    (KEY, "Allow", "kms:GenerateDataKey*"),
    (ROLE_POLICY, "Allow", "kms:GenerateDataKey*"),
}

#: parliament's bundled IAM data predates resource-level permissions on the job queue for batch:SubmitJob
#: (AWS Batch authorises SubmitJob on both the job queue and the job definition), so it reports the queue ARN.
STALE_SUBMIT_JOB_FINDING = (
    "RESOURCE_MISMATCH",
    [
        {"action": "batch:SubmitJob", "required_format": "arn:*:batch:*:*:job/*"},
        {"action": "batch:SubmitJob", "required_format": "arn:*:batch:*:*:job-definition/*"},
    ],
)
SUBMIT_JOB_POLICIES = {"autoretrain-rules-retrain-submitter-policy", "autoretrain-schedules-submit-policy"}


def _documents(stack: Recording, type_token: str) -> list[tuple[str, str]]:
    return [(resource.name, resource.inputs["policy"]) for resource in stack.of_type(type_token)]


def _statements(stack: Recording) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (type_token, name, statement)
        for type_token in POLICY_TYPES
        for name, document in _documents(stack, type_token)
        for statement in json.loads(document)["Statement"]
    ]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_every_role_has_exactly_one_inline_policy(stack: Recording) -> None:
    roles = {role.outputs["name"] for role in stack.of_type(ROLE)}
    attached = [policy.inputs["role"] for policy in stack.of_type(ROLE_POLICY)]
    assert sorted(attached) == sorted(roles)


def test_graph_has_one_permission_policy_per_function_job_and_integration(stack: Recording) -> None:
    assert {name for name, _ in _documents(stack, ROLE_POLICY)} == ROLE_POLICIES


@pytest.mark.parametrize("type_token", POLICY_TYPES)
def test_policies_have_no_parliament_findings(stack: Recording, type_token: str) -> None:
    findings = {}
    for name, document in _documents(stack, type_token):
        found = [(finding.issue, finding.detail) for finding in parliament.analyze_policy_string(document).findings]
        if name in SUBMIT_JOB_POLICIES:
            found = [finding for finding in found if finding != STALE_SUBMIT_JOB_FINDING]
        if type_token == KEY:
            found = [finding for finding in found if finding[0] != "RESOURCE_STAR"]
        findings[name] = found
    assert findings
    assert findings == {name: [] for name in findings}


def test_parliament_still_reports_the_stale_submit_job_finding(stack: Recording) -> None:
    # If parliament's data learns about job queues, the exception above is dead and should go.
    document = dict(_documents(stack, ROLE_POLICY))["autoretrain-schedules-submit-policy"]
    issues = [(finding.issue, finding.detail) for finding in parliament.analyze_policy_string(document).findings]
    assert issues == [STALE_SUBMIT_JOB_FINDING]


def test_permission_policies_have_no_cloudsplaining_risks(stack: Recording) -> None:
    risks = {}
    for name, document in _documents(stack, ROLE_POLICY):
        policy = PolicyDocument(json.loads(document))
        exposure = [
            action
            for action in policy.credentials_exposure
            if (name, action) not in ALLOWED_ANY_RESOURCE  # the ECR login token, required to pull or push
        ]
        risks[name] = {
            "privilege escalation": policy.allows_privilege_escalation,
            "data exfiltration": policy.allows_data_exfiltration_actions,
            "resource exposure": policy.permissions_management_without_constraints,
            "infrastructure modification": policy.infrastructure_modification,
            "credentials exposure": exposure,
        }
    assert risks
    assert all(not found for categories in risks.values() for found in categories.values()), risks


def test_wildcard_resources_are_only_the_allow_listed_ones(stack: Recording) -> None:
    granted = {
        (name, action)
        for type_token, name, statement in _statements(stack)
        if type_token != KEY and statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", []))
        for action in _as_list(statement["Action"])
    }
    assert granted == ALLOWED_ANY_RESOURCE


def test_metric_data_may_only_go_to_our_namespace(stack: Recording) -> None:
    statements = {
        name: statement
        for _, name, statement in _statements(stack)
        if "cloudwatch:PutMetricData" in _as_list(statement["Action"])
    }
    assert set(statements) == {"autoretrain-jobs-drift-check-policy", "autoretrain-jobs-live-evaluation-policy"}
    for statement in statements.values():
        assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": "autoretrain"}}


def test_key_policy_statements_name_only_this_key(stack: Recording) -> None:
    resources = {
        resource
        for type_token, _, statement in _statements(stack)
        if type_token == KEY
        for resource in _as_list(statement["Resource"])
    }
    assert resources == {KEY_POLICY_RESOURCE}


def test_wildcard_actions_are_only_the_allow_listed_ones(stack: Recording) -> None:
    wildcard_actions = {
        (type_token, statement["Effect"], action)
        for type_token, _, statement in _statements(stack)
        for action in _as_list(statement["Action"])
        if "*" in action
    }
    assert wildcard_actions == ALLOWED_WILDCARD_ACTIONS


def test_policies_name_real_looking_arns(stack: Recording) -> None:
    resources = [
        resource
        for type_token, _, statement in _statements(stack)
        for resource in _as_list(statement.get("Resource", []))
        if not (resource == "*" and (type_token == KEY or statement["Effect"] == "Allow"))
    ]
    assert resources
    assert [resource for resource in resources if not resource.startswith("arn:aws:")] == []


def test_service_principals_act_only_for_this_account(stack: Recording) -> None:
    service_statements = [
        statement
        for type_token, _, statement in _statements(stack)
        if type_token in (TOPIC_POLICY, KEY) and isinstance(statement.get("Principal"), dict)
        if "Service" in statement["Principal"]
    ]
    assert service_statements
    assert all(
        statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
        for statement in service_statements
    )


def test_cloudsplaining_flags_an_unconstrained_policy() -> None:
    # Guards the test above against a scanner that finds nothing at all.
    policy = PolicyDocument(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    )
    assert policy.allows_data_exfiltration_actions == ["s3:GetObject"]
