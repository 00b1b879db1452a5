"""DashboardAccess: a managed IAM policy that lets a person (or a role) run `autoretrain dashboard --stack env`
against the stack, read-only. Nothing is attached: the user attaches the exported policy to whoever runs it.

What the dashboard reads (`autoretrain.dashboard.stack.StackSource`): the registry (`Query` on the model's
partition, `GetItem`), the drift checks' result documents under `reports/<model>/` and the versions' files under
`models/<model>/` in the model bucket, and the lake's Parquet files under `lake/` with the Glue definitions of their
tables. The dashboard reads the lake with DuckDB straight from S3, not with Athena: an Athena query writes its results
with the caller's permissions, so Athena would make this policy a writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from core.tables import BY_STATUS_INDEX
from infra.lake_policies import CATALOG_READ_ACTIONS, GlueCatalog, lake_object_arns, list_lake_statement
from infra.policies import Statement, object_arns, policy_document, table_and_index_arns

#: What the dashboard does with the registry table: a model's versions (Query), one version (GetItem).
REGISTRY_READ_ACTIONS: Final = ("dynamodb:GetItem", "dynamodb:Query")


@dataclass(frozen=True, slots=True)
class DashboardResources:
    """The ARNs the policy is scoped to."""

    model_name: str
    registry_table_arn: str
    model_bucket_arn: str
    payload_bucket_arn: str
    catalog: GlueCatalog


def model_bucket_prefixes(model_name: str) -> list[str]:
    """The model bucket prefixes the dashboard reads: the drift checks' reports and the versions' files."""
    return [f"reports/{model_name}/", f"models/{model_name}/"]


def dashboard_access_policy(resources: DashboardResources) -> str:
    """The read-only policy document (module docstring)."""
    prefixes = model_bucket_prefixes(resources.model_name)
    return policy_document(
        [
            Statement(
                "ReadRegistry",
                REGISTRY_READ_ACTIONS,
                table_and_index_arns(resources.registry_table_arn, BY_STATUS_INDEX),
            ),
            Statement("ReadReportsAndModels", ["s3:GetObject"], object_arns(resources.model_bucket_arn, prefixes)),
            Statement(
                "ListReportsAndModels",
                ["s3:ListBucket"],
                [resources.model_bucket_arn],
                condition={"StringLike": {"s3:prefix": [*prefixes, *(f"{prefix}*" for prefix in prefixes)]}},
            ),
            Statement("ReadLakeFiles", ["s3:GetObject"], lake_object_arns(resources.payload_bucket_arn)),
            list_lake_statement("ListLakeFiles", resources.payload_bucket_arn),
            Statement("ReadLakeCatalog", CATALOG_READ_ACTIONS, resources.catalog.table_arns()),
        ]
    )


@dataclass(frozen=True, slots=True)
class DashboardAccessArgs:
    """Inputs of the DashboardAccess component."""

    model_name: str
    region: str
    account_id: pulumi.Input[str]
    registry_table_arn: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    lake_database_name: pulumi.Input[str]


class DashboardAccess(pulumi.ComponentResource):
    """The dashboard's read-only managed policy (`policy`), for the user to attach."""

    def __init__(self, name: str, args: DashboardAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:dashboard_access:DashboardAccess", name, None, opts)
        document = pulumi.Output.all(
            account_id=args.account_id,
            registry_table_arn=args.registry_table_arn,
            model_bucket_arn=args.model_bucket_arn,
            payload_bucket_arn=args.payload_bucket_arn,
            database=args.lake_database_name,
        ).apply(lambda values: _document(args, values))
        self.policy = aws.iam.Policy(
            f"{name}-policy",
            description=f"Read-only access for `autoretrain dashboard --stack env` to model {args.model_name}",
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policy_arn": self.policy.arn})


def _document(args: DashboardAccessArgs, values: dict[str, Any]) -> str:
    return dashboard_access_policy(
        DashboardResources(
            model_name=args.model_name,
            registry_table_arn=values["registry_table_arn"],
            model_bucket_arn=values["model_bucket_arn"],
            payload_bucket_arn=values["payload_bucket_arn"],
            catalog=GlueCatalog(region=args.region, account_id=values["account_id"], database=values["database"]),
        )
    )
