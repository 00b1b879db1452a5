"""The one way the stack makes a role: trusted by one AWS service, with exactly one inline policy of its own (no
managed policies; the infra tests check both)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policies import assume_role_policy

LAMBDA_SERVICE = "lambda.amazonaws.com"


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """A role and its inline policy (depend on the policy: the role may do nothing before it exists)."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy


def service_role(
    prefix: str,
    service: str,
    policy: pulumi.Input[str],
    *,
    parent: pulumi.Resource,
    source_account: pulumi.Input[str] | None = None,
    external_id: pulumi.Input[str] | None = None,
) -> ServiceRole:
    """`{prefix}-role`, assumable by `service` (only on behalf of `source_account`, or only with `external_id`, when
    given), and its inline policy `{prefix}-policy`."""
    child = pulumi.ResourceOptions(parent=parent)
    trust: pulumi.Input[str] = pulumi.Output.all(source_account, external_id).apply(
        lambda values: assume_role_policy(service, source_account=values[0], external_id=values[1])
    )
    role = aws.iam.Role(f"{prefix}-role", assume_role_policy=trust, opts=child)
    role_policy = aws.iam.RolePolicy(f"{prefix}-policy", role=role.id, policy=policy, opts=child)
    return ServiceRole(role, role_policy)
