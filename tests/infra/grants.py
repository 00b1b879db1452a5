"""Reading permission policies: what a document allows, and what a recorded role may do."""

from __future__ import annotations

import json

from infra.mocks import Recording


def grants(document: str) -> dict[str, set[str]]:
    """Action -> the resources a permission policy allows it on (every statement of one must be an Allow)."""
    allowed: dict[str, set[str]] = {}
    for statement in json.loads(document)["Statement"]:
        assert statement["Effect"] == "Allow", statement["Sid"]
        for action in statement["Action"]:
            allowed.setdefault(action, set()).update(statement["Resource"])
    return allowed


def role_grants(stack: Recording, role_arn: str) -> dict[str, set[str]]:
    """What the role with this ARN may do, from its inline policy."""
    policy: str = stack.role_policy(role_arn).inputs["policy"]
    return grants(policy)
