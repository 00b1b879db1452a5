"""The lake's Glue catalog as the release step changes it: the predictions table gains the typed columns of a model's
features (`ensure_feature_columns`), before the model is deployed and its records carry them, and any base column
a table created by an older release lacks (the option columns).

Columns only ever grow: one is added when a feature has none (`core.lake.feature_column`, `double` for a numeric
feature, `string` for a categorical one, the feature's name as its comment) and never changed or dropped. A feature
whose kind changed keeps its old column (a warning is logged): the ETL then keeps its values of the new kind in
`unparsed_features`, which the jobs read back by name. Files written before a column existed lack it, and every
reader takes a missing column as null (Athena by name, DuckDB through its views, `engine`).

The update is conditional on the table's version (Glue's `VersionId`): two releases adding columns at once do not
lose one another's; a conflict re-reads the table and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from core.features import InputSchema
from core.lake import BASE_COLUMNS, FEATURE_COLUMN_PREFIX, GLUE_COMMENT_CHARS, Column, LakeTable, feature_columns

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_glue.client import GlueClient
    from mypy_boto3_glue.type_defs import TableTypeDef

logger = logging.getLogger(__name__)

#: Attempts at a conditional update before giving up (each after a conflict with another writer).
MAX_ATTEMPTS = 5
#: The members of a `GetTable` answer that `UpdateTable`'s `TableInput` takes back unchanged.
_TABLE_INPUT_KEYS = (
    "Name",
    "Description",
    "Owner",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "TableType",
    "Parameters",
    "ViewOriginalText",
    "ViewExpandedText",
    "TargetTable",
)


class CatalogError(RuntimeError):
    """A catalog request failed (the job fails and is retried)."""


def schema_columns(schema: InputSchema) -> tuple[Column, ...]:
    """The typed lake columns of a schema's features, in model order."""
    return feature_columns(tuple((feature.name, feature.kind) for feature in schema.features))


def missing_columns(existing: Mapping[str, str], wanted: Sequence[Column]) -> tuple[list[Column], list[Column]]:
    """Of `wanted`, the columns the table (`existing`: column name -> Glue type) lacks, and those it has with another
    type (kept as they are)."""
    lacking = [column for column in wanted if column.name not in existing]
    retyped = [column for column in wanted if existing.get(column.name, column.glue_type) != column.glue_type]
    return lacking, retyped


class GlueLakeCatalog:
    """The lake's predictions table in the Glue catalog: its feature columns, read and added."""

    def __init__(self, glue: GlueClient, database: str) -> None:
        self._glue = glue
        self._database = database

    def _table(self) -> TableTypeDef:
        try:
            return self._glue.get_table(DatabaseName=self._database, Name=LakeTable.PREDICTIONS.value)["Table"]
        except (ClientError, BotoCoreError) as error:
            raise CatalogError(f"GetTable {self._database}.{LakeTable.PREDICTIONS.value} failed: {error}") from error

    def feature_columns(self) -> Sequence[tuple[str, Column]]:
        """Every `(feature name, column)` of the table, in table order (a column's comment is its feature's name)."""
        return tuple(
            (column.get("Comment") or column["Name"], Column(column["Name"], column["Type"], column.get("Comment", "")))
            for column in self._table()["StorageDescriptor"]["Columns"]
            if column["Name"].startswith(FEATURE_COLUMN_PREFIX)
        )

    def ensure_feature_columns(self, schema: InputSchema) -> tuple[str, ...]:
        """Add the typed columns of `schema`'s features the table lacks, and any base column it lacks (a table
        created before `core.lake.OPTION_COLUMNS` existed: infra leaves this table's columns to this step); the
        names of the columns added."""
        wanted = (*BASE_COLUMNS[LakeTable.PREDICTIONS], *schema_columns(schema))
        for _ in range(MAX_ATTEMPTS):
            table = self._table()
            columns = list(table["StorageDescriptor"].get("Columns", []))
            lacking, retyped = missing_columns({column["Name"]: column["Type"] for column in columns}, wanted)
            for column in retyped:
                logger.warning(
                    "feature %r changed kind: its lake column %s stays as it is; its values of the new kind go to %s",
                    column.comment,
                    column.name,
                    "unparsed_features",
                )
            if not lacking:
                return ()
            table_input: dict[str, Any] = {key: table[key] for key in _TABLE_INPUT_KEYS if key in table}  # type: ignore[literal-required]
            table_input["StorageDescriptor"] = {
                **table["StorageDescriptor"],
                "Columns": [*columns, *(_column_input(column) for column in lacking)],
            }
            if self._update(table_input, table.get("VersionId")):
                added = tuple(column.name for column in lacking)
                logger.info("added lake columns %s to %s", list(added), self._database)
                return added
        raise CatalogError(f"{self._database}.{LakeTable.PREDICTIONS.value} kept changing: columns not added")

    def _update(self, table_input: Mapping[str, Any], version: str | None) -> bool:
        """Update the table if it is still at `version`; False on a conflict with another writer."""
        try:
            if version:
                self._glue.update_table(
                    DatabaseName=self._database,
                    TableInput=table_input,  # type: ignore[arg-type]
                    VersionId=version,
                )
            else:
                self._glue.update_table(DatabaseName=self._database, TableInput=table_input)  # type: ignore[arg-type]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConcurrentModificationException":
                return False
            raise CatalogError(f"UpdateTable {self._database}.{LakeTable.PREDICTIONS.value} failed: {error}") from error
        except BotoCoreError as error:
            raise CatalogError(f"UpdateTable {self._database}.{LakeTable.PREDICTIONS.value} failed: {error}") from error
        return True


def _column_input(column: Column) -> dict[str, str]:
    entry = {"Name": column.name, "Type": column.glue_type}
    if column.comment:
        entry["Comment"] = column.comment[:GLUE_COMMENT_CHARS]
    return entry


def ensure_feature_columns(database: str, schema: InputSchema, session: boto3.Session) -> tuple[str, ...]:
    """Add to the lake's predictions table in `database` the typed columns of `schema`'s features it lacks (module
    docstring); the names of the columns added."""
    return GlueLakeCatalog(session.client("glue"), database).ensure_feature_columns(schema)
