"""PayloadLake: the payload lake's catalog and query engine (DESIGN.md, "Data plane").

The Parquet files live in the payload bucket under `lake/` (its lifecycle is `infra.storage`'s); this component adds:

- a Glue database named for the stack (`lake_database_name`: Athena accepts only lower-case letters, digits and `_`,
  so the name is explicit rather than Pulumi's auto-name, whose suffix is joined by `-`);
- the `predictions` and `labels` tables, each built from `core.lake.glue_table_input` (the contract the writers and
  the demo's emulator share) by `catalog_table_args`, which maps every key of Glue's `TableInput` and refuses one it
  does not know rather than drop it. The retrain job adds the released model's feature columns to `predictions`
  (`glue:UpdateTable`), so `pulumi up` ignores that table's columns: it must not remove them. A base column added to
  the contract later is therefore not applied by `pulumi up` either: the job's next UpdateTable (which writes the
  base columns and the features) applies it;
- an Athena workgroup whose configuration is enforced (a client cannot choose another result location, switch off
  the encryption or lift the scan limit): results SSE-S3-encrypted in a dedicated bucket owned by this account,
  a per-query bytes-scanned cutoff, CloudWatch metrics, the engine version Athena picks (`AUTO`);
- that results bucket: the stack's secure bucket (`infra.storage.secure_bucket`), its results expired after
  `RESULTS_EXPIRY_DAYS` (the jobs delete what they read; this removes what a failed run left).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from core.lake import LakeTable, glue_table_input
from infra.lake_policies import ATHENA_RESULTS_PREFIX
from infra.storage import abort_multipart_rule, secure_bucket

#: Glue's (and Athena's) limit on a database name's length.
MAX_DATABASE_NAME = 255
#: What Athena accepts unquoted in a database name (Glue stores names in lower case).
_DATABASE_NAME = re.compile(r"^[a-z0-9_]+$")
_UNSAFE = re.compile(r"[^a-z0-9_]+")
_DIGEST_CHARS = 8
#: Days a query result stays in the results bucket.
RESULTS_EXPIRY_DAYS = 3
#: Athena's smallest per-query cutoff is 10,000,000 bytes (API reference, `WorkGroupConfiguration`), but the AWS
#: provider behind pulumi-aws refuses anything below 10 MiB (`validation.IntAtLeast(10485760)` in
#: `aws_athena_workgroup`, documented as "Must be at least 10485760"): the stricter of the two.
MIN_BYTES_SCANNED_CUTOFF = 10_485_760
#: The default per-query cutoff, 1 TB ($5 of scanning at Athena's list price). The largest legitimate query is the
#: retrain job's training window: look-back plus label delay (127 days) of predictions and labels. At 10 million
#: predictions a day, Parquet keeps a prediction in roughly 150-250 bytes (8 base columns, ~20 features; the request
#: id is most of it) and a label in ~50: 127 x 10M x 300 B ~ 380 GB, scanned once whatever the sample size (a
#: `sample_key` bound prunes no row group). The cutoff leaves that 2.5x headroom and stops a runaway query at $5.
DEFAULT_BYTES_SCANNED_CUTOFF = 1_000_000_000_000
#: The result encryption Athena applies (SSE-S3, like every bucket of the stack).
RESULT_ENCRYPTION = "SSE_S3"
#: Let Athena choose the engine version (it upgrades the workgroup when a new one is generally available).
ENGINE_VERSION = "AUTO"
#: Tables whose columns the jobs change (`glue:UpdateTable`), and the property `pulumi up` must leave alone.
EVOLVING_TABLES = frozenset({LakeTable.PREDICTIONS})
EVOLVING_COLUMNS = "storageDescriptor.columns"

#: Glue `TableInput` keys -> `aws.glue.CatalogTable` argument names, per level.
_TABLE_KEYS = {
    "Name": "name",
    "TableType": "table_type",
    "Parameters": "parameters",
    "PartitionKeys": "partition_keys",
    "StorageDescriptor": "storage_descriptor",
}
_STORAGE_KEYS = {
    "Columns": "columns",
    "Location": "location",
    "InputFormat": "input_format",
    "OutputFormat": "output_format",
    "SerdeInfo": "ser_de_info",
    "Compressed": "compressed",
}
_SERDE_KEYS = {"Name": "name", "SerializationLibrary": "serialization_library", "Parameters": "parameters"}
_COLUMN_KEYS = {"Name": "name", "Type": "type", "Comment": "comment"}


class TableInputError(ValueError):
    """A `TableInput` has a key the mapping to Pulumi's arguments does not know."""


def lake_database_name(prefix: str, model_name: str, stack: str) -> str:
    """The stack's Glue database: `<prefix>_<model>_<stack>` in lower case when that is already a valid Athena name;
    otherwise each run of other characters becomes `_` and a digest of the wanted name is appended (so `churn-v2`
    and `churn_v2` stay two databases), cut to Glue's 255 characters."""
    wanted = f"{prefix}_{model_name}_{stack}"
    if _DATABASE_NAME.fullmatch(wanted) and len(wanted) <= MAX_DATABASE_NAME:
        return wanted
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:_DIGEST_CHARS]
    safe = _UNSAFE.sub("_", wanted.lower()).strip("_")
    return f"{safe[: MAX_DATABASE_NAME - _DIGEST_CHARS - 1]}_{digest}"


def is_valid_database_name(name: str) -> bool:
    """Whether Glue and Athena accept `name` as a database name as it stands."""
    return bool(_DATABASE_NAME.fullmatch(name)) and len(name) <= MAX_DATABASE_NAME


def _mapped(document: Mapping[str, Any], keys: Mapping[str, str], where: str) -> dict[str, Any]:
    unknown = sorted(set(document) - set(keys))
    if unknown:
        raise TableInputError(f"{where} has keys infra does not map to Pulumi's arguments: {unknown}")
    return {keys[key]: value for key, value in document.items()}


def _columns(columns: list[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    return [_mapped(column, _COLUMN_KEYS, where) for column in columns]


def catalog_table_args(table_input: Mapping[str, Any]) -> dict[str, Any]:
    """A Glue `TableInput` (boto3's shape, `core.lake.glue_table_input`) as `aws.glue.CatalogTable` keyword
    arguments; raises `TableInputError` on any key it does not map, so nothing of the contract is silently lost."""
    args = _mapped(table_input, _TABLE_KEYS, "TableInput")
    if "partition_keys" in args:
        args["partition_keys"] = _columns(args["partition_keys"], "PartitionKeys")
    if "storage_descriptor" in args:
        storage = _mapped(args["storage_descriptor"], _STORAGE_KEYS, "StorageDescriptor")
        if "columns" in storage:
            storage["columns"] = _columns(storage["columns"], "Columns")
        if "ser_de_info" in storage:
            storage["ser_de_info"] = _mapped(storage["ser_de_info"], _SERDE_KEYS, "SerdeInfo")
        args["storage_descriptor"] = storage
    return args


def _table_args(table: LakeTable, payload_bucket: str) -> dict[str, Any]:
    return catalog_table_args(glue_table_input(payload_bucket, table))


def results_location(results_bucket: str) -> str:
    """Where the workgroup writes query results."""
    return f"s3://{results_bucket}/{ATHENA_RESULTS_PREFIX}"


def workgroup_configuration(
    *, results_bucket: str, account_id: str, bytes_scanned_cutoff: int
) -> aws.athena.WorkgroupConfigurationArgsDict:
    """The workgroup's enforced configuration (module docstring)."""
    return {
        "enforce_workgroup_configuration": True,
        "publish_cloudwatch_metrics_enabled": True,
        "bytes_scanned_cutoff_per_query": bytes_scanned_cutoff,
        "engine_version": {"selected_engine_version": ENGINE_VERSION},
        "result_configuration": {
            "output_location": results_location(results_bucket),
            "encryption_configuration": {"encryption_option": RESULT_ENCRYPTION},
            # Athena refuses to write results to a bucket another account owns (e.g. one re-created by its name).
            "expected_bucket_owner": account_id,
        },
    }


def results_lifecycle_rules(
    expiry_days: int = RESULTS_EXPIRY_DAYS,
) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """The results bucket's rules: abort failed uploads, expire results after `expiry_days`."""
    return [
        abort_multipart_rule(),
        {
            "id": "expire-query-results",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": expiry_days},
        },
    ]


@dataclass(frozen=True, slots=True)
class PayloadLakeArgs:
    """Inputs of the PayloadLake component."""

    payload_bucket_name: pulumi.Input[str]
    account_id: pulumi.Input[str]
    database_name: str
    bytes_scanned_cutoff: int


class PayloadLake(pulumi.ComponentResource):
    """Glue database and tables, Athena workgroup and its results bucket."""

    database: aws.glue.CatalogDatabase
    tables: dict[LakeTable, aws.glue.CatalogTable]
    workgroup: aws.athena.Workgroup
    results_bucket: aws.s3.Bucket

    def __init__(self, name: str, args: PayloadLakeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:lake:PayloadLake", name, None, opts)
        if not is_valid_database_name(args.database_name):
            raise ValueError(f"{args.database_name!r} is not a Glue/Athena database name (use lake_database_name)")
        child = pulumi.ResourceOptions(parent=self)
        self.database = aws.glue.CatalogDatabase(
            f"{name}-database",
            name=args.database_name,
            description="autoretrain payload lake: predictions and labels (Parquet under lake/ in the payload bucket)",
            opts=child,
        )
        self.tables = {}
        for table in LakeTable:
            table_args = pulumi.Output.from_input(args.payload_bucket_name).apply(functools.partial(_table_args, table))
            evolving = [EVOLVING_COLUMNS] if table in EVOLVING_TABLES else []
            self.tables[table] = aws.glue.CatalogTable(
                f"{name}-{table.value}",
                database_name=self.database.name,
                name=table_args["name"],
                table_type=table_args["table_type"],
                parameters=table_args["parameters"],
                partition_keys=table_args["partition_keys"],
                storage_descriptor=table_args["storage_descriptor"],
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=evolving),
            )
        self.results_bucket = secure_bucket(
            f"{name}-athena-results", rules=results_lifecycle_rules(), versioned=False, parent=self
        )
        self.workgroup = aws.athena.Workgroup(
            f"{name}-workgroup",
            description="autoretrain: the jobs' lake queries (enforced: encrypted results, bytes-scanned cutoff)",
            # Athena refuses to delete a workgroup with query history unless asked to; the history is not the record.
            force_destroy=True,
            configuration=pulumi.Output.all(self.results_bucket.bucket, args.account_id).apply(
                lambda values: workgroup_configuration(
                    results_bucket=values[0], account_id=values[1], bytes_scanned_cutoff=args.bytes_scanned_cutoff
                )
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "database": self.database.name,
                "tables": {table.value: resource.name for table, resource in self.tables.items()},
                "workgroup": self.workgroup.name,
                "results_bucket": self.results_bucket.bucket,
            }
        )
