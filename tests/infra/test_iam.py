"""Every policy document in the recorded graph passes parliament and cloudsplaining and has no stray wildcard."""

from __future__ import annotations

import json
from typing import Any

import parliament
import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from infra.mocks import Recording

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"

#: The only wildcard actions allowed: the TLS-only bucket policy's Deny must cover every S3 action.
ALLOWED_WILDCARD_ACTIONS = {(BUCKET_POLICY, "Deny", "s3:*")}


def _documents(stack: Recording, type_token: str) -> list[tuple[str, str]]:
    return [(resource.name, resource.inputs["policy"]) for resource in stack.of_type(type_token)]


def _statements(stack: Recording) -> list[tuple[str, dict[str, Any]]]:
    return [
        (type_token, statement)
        for type_token in (ROLE_POLICY, BUCKET_POLICY)
        for _, document in _documents(stack, type_token)
        for statement in json.loads(document)["Statement"]
    ]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_graph_has_one_permission_policy_per_function_role(stack: Recording) -> None:
    assert sorted(name for name, _ in _documents(stack, ROLE_POLICY)) == [
        "autoretrain-etl-policy",
        "autoretrain-serving-policy",
    ]


@pytest.mark.parametrize("type_token", [ROLE_POLICY, BUCKET_POLICY])
def test_policies_have_no_parliament_findings(stack: Recording, type_token: str) -> None:
    findings = {
        name: [(finding.issue, finding.detail) for finding in parliament.analyze_policy_string(document).findings]
        for name, document in _documents(stack, type_token)
    }
    assert findings == {name: [] for name in findings}
    assert findings


def test_permission_policies_have_no_cloudsplaining_risks(stack: Recording) -> None:
    risks = {}
    for name, document in _documents(stack, ROLE_POLICY):
        policy = PolicyDocument(json.loads(document))
        risks[name] = {
            "privilege escalation": policy.allows_privilege_escalation,
            "data exfiltration": policy.allows_data_exfiltration_actions,
            "resource exposure": policy.permissions_management_without_constraints,
            "infrastructure modification": policy.infrastructure_modification,
            "credentials exposure": policy.credentials_exposure,
        }
    assert risks
    assert all(not found for categories in risks.values() for found in categories.values()), risks


def test_no_policy_grants_a_wildcard_resource(stack: Recording) -> None:
    wildcard = [
        statement
        for _, statement in _statements(stack)
        if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", []))
    ]
    assert wildcard == []


def test_wildcard_actions_are_only_the_allow_listed_ones(stack: Recording) -> None:
    wildcard_actions = {
        (type_token, statement["Effect"], action)
        for type_token, statement in _statements(stack)
        for action in _as_list(statement["Action"])
        if "*" in action
    }
    assert wildcard_actions == ALLOWED_WILDCARD_ACTIONS


def test_policies_name_real_looking_arns(stack: Recording) -> None:
    resources = [resource for _, statement in _statements(stack) for resource in _as_list(statement["Resource"])]
    assert resources
    assert all(resource.startswith("arn:aws:") for resource in resources)


def test_cloudsplaining_flags_an_unconstrained_policy() -> None:
    # Guards the test above against a scanner that finds nothing at all.
    policy = PolicyDocument(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    )
    assert policy.allows_data_exfiltration_actions == ["s3:GetObject"]
