"""What the payload lake's users may do, as policy statements (pure; unit-tested without Pulumi).

The lake is the payload bucket's `lake/` prefix (`core.lake`), catalogued in one Glue database, queried by Athena
in one workgroup whose results go to a dedicated bucket. Glue authorises a table action on the catalog, the database
and the table ARN together, a database action on the catalog and the database. Athena runs a query with the caller's
permissions: it reads the tables' objects and writes the results with the caller's S3 grants, and it needs
`s3:GetBucketLocation` on both buckets ("Unable to verify/create output bucket" otherwise). Partition projection
(`core.lake.projection_parameters`) spares Athena the `glue:GetPartitions` call, so no role is granted it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.lake import LAKE_PREFIX, LakeTable
from infra.policies import Statement, object_arns

#: Both tables, in `LakeTable` order.
LAKE_TABLES = tuple(LakeTable)
#: Where the workgroup writes query results in the results bucket (`s3://<bucket>/results/`).
ATHENA_RESULTS_PREFIX = "results/"
#: Reading the lake's catalog entries (what awswrangler and Athena call before a query).
CATALOG_READ_ACTIONS = ("glue:GetDatabase", "glue:GetTable")
#: Running, following and cancelling queries in the workgroup (awswrangler's `athena.read_sql_query` without CTAS
#: reads the workgroup's configuration first, then starts, polls and reads the query).
ATHENA_QUERY_ACTIONS = (
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
)
#: The results bucket, as Athena's and the AWS knowledge center's result-location policy names it.
RESULTS_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
#: Result objects: Athena writes them (multipart), the client reads them and deletes them once read.
RESULTS_OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


@dataclass(frozen=True, slots=True)
class GlueCatalog:
    """The lake's Glue database in the account's catalog, and the ARNs IAM names them by."""

    region: str
    account_id: str
    database: str

    @property
    def catalog_arn(self) -> str:
        """The account's Data Catalog in the region."""
        return f"arn:aws:glue:{self.region}:{self.account_id}:catalog"

    @property
    def database_arn(self) -> str:
        """The lake's database."""
        return f"arn:aws:glue:{self.region}:{self.account_id}:database/{self.database}"

    def table_arn(self, table: LakeTable) -> str:
        """One of the lake's tables."""
        return f"arn:aws:glue:{self.region}:{self.account_id}:table/{self.database}/{table.value}"

    def table_arns(self, tables: tuple[LakeTable, ...] = LAKE_TABLES) -> list[str]:
        """What a table action authorises on: the catalog, the database and each of `tables`."""
        return [self.catalog_arn, self.database_arn, *(self.table_arn(table) for table in tables)]


@dataclass(frozen=True, slots=True)
class LakeAccess:
    """Everything a lake policy is scoped to."""

    payload_bucket_arn: str
    catalog: GlueCatalog
    workgroup_arn: str
    results_bucket_arn: str


def lake_object_arns(payload_bucket_arn: str) -> list[str]:
    """The lake's objects (`<bucket>/lake/*`)."""
    return object_arns(payload_bucket_arn, [LAKE_PREFIX])


def list_lake_statement(sid: str, payload_bucket_arn: str) -> Statement:
    """List the payload bucket, but only under `lake/`."""
    return Statement(
        sid,
        ["s3:ListBucket"],
        [payload_bucket_arn],
        condition={"StringLike": {"s3:prefix": [LAKE_PREFIX, f"{LAKE_PREFIX}*"]}},
    )


def write_lake_statements(catalog: GlueCatalog, payload_bucket_arn: str) -> list[Statement]:
    """The payload ETL: write Parquet files under `lake/` and read the tables' definitions (their typed columns)."""
    return [
        Statement("WriteLakeFiles", ["s3:PutObject"], lake_object_arns(payload_bucket_arn)),
        Statement("ReadLakeTables", ["glue:GetTable"], catalog.table_arns()),
    ]


def query_lake_statements(access: LakeAccess) -> list[Statement]:
    """The jobs that query the lake (drift check, retrain): read its files and catalog, run Athena queries in the
    workgroup only, and read, write and delete their results."""
    results_objects = object_arns(access.results_bucket_arn, [ATHENA_RESULTS_PREFIX])
    return [
        Statement("ReadLakeFiles", ["s3:GetObject"], lake_object_arns(access.payload_bucket_arn)),
        list_lake_statement("ListLakeFiles", access.payload_bucket_arn),
        Statement("LocateLakeBucket", ["s3:GetBucketLocation"], [access.payload_bucket_arn]),
        Statement("ReadLakeCatalog", CATALOG_READ_ACTIONS, access.catalog.table_arns()),
        Statement("QueryInWorkgroup", ATHENA_QUERY_ACTIONS, [access.workgroup_arn]),
        Statement("UseResultsBucket", RESULTS_BUCKET_ACTIONS, [access.results_bucket_arn]),
        Statement("ReadWriteQueryResults", RESULTS_OBJECT_ACTIONS, results_objects),
    ]


def evolve_predictions_schema_statement(catalog: GlueCatalog) -> Statement:
    """The retrain job: add the release's feature columns to the predictions table (schema evolution)."""
    return Statement("AddFeatureColumns", ["glue:UpdateTable"], catalog.table_arns((LakeTable.PREDICTIONS,)))


def compact_lake_statements(payload_bucket_arn: str) -> list[Statement]:
    """The compaction job: read small files under `lake/`, write their compacted replacement, delete them."""
    return [
        Statement(
            "CompactLakeFiles",
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            lake_object_arns(payload_bucket_arn),
        ),
        list_lake_statement("ListLakeFiles", payload_bucket_arn),
    ]
