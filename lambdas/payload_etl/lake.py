"""The lake side of the payload-ETL (`core.lake`): the predictions table's feature columns from the Glue catalog,
and one Parquet file per `LakeChunk`, written through awswrangler.

With `entry`, which builds it, the only module of the ETL that imports the AWS SDK for pandas (awswrangler, pandas,
pyarrow): the function gets them from the SDK's managed layer, not from its zip (import-linter's
`zip-lambdas-stay-light` contract keeps the rest of the ETL and `core` free of them).

- Columns: `glue:GetTable` of the predictions table, kept `COLUMNS_TTL_S` by a container. A release adds a model's
  feature columns before the model is deployed, so the columns are there before records carry the features; after
  an object whose records carried a feature without a column the next read comes sooner (`MISSING_TTL_S`). A value
  typed against columns a little out of date is still kept, in `unparsed_features`.
- Files: `awswrangler.s3.to_parquet` in non-dataset mode at the chunk's explicit key (deterministic: a retry
  overwrites the file instead of adding one), with the columns' Athena types. Timestamps are naive UTC
  `timestamp[ms]` (Parquet TIMESTAMP(MILLIS), not the INT96 of awswrangler's default Spark flavour).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import awswrangler as wr
import pandas as pd
import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from core.lake import FEATURE_COLUMN_PREFIX, LakeTable
from lambdas.payload_etl.models import LakeChunk

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_glue.client import GlueClient

#: How long a container uses the feature columns it read (seconds), and how long after an object had features
#: without a column.
COLUMNS_TTL_S = 300.0
MISSING_TTL_S = 30.0
#: The Arrow type of each Glue type a lake file has (`core.lake.BASE_COLUMNS`, `FEATURE_GLUE_TYPES`).
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "double": pa.float64(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("ms"),
    "boolean": pa.bool_(),
}


class LakeError(RuntimeError):
    """A catalog or S3 request of the lake failed; the invocation fails and Lambda retries it."""


class GlueFeatureColumns:
    """The predictions table's feature columns (column name -> Glue type), read from Glue at most every
    `COLUMNS_TTL_S` (`MISSING_TTL_S` once `expire_soon` was called)."""

    def __init__(self, glue: GlueClient, database: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._glue = glue
        self._database = database
        self._clock = clock
        self._columns: dict[str, str] = {}
        self._read_at = 0.0
        self._expires_at = float("-inf")

    def get(self) -> Mapping[str, str]:
        """The columns, read again when the last read is too old."""
        now = self._clock()
        if now >= self._expires_at:
            self._columns = self._read()
            self._read_at, self._expires_at = now, now + COLUMNS_TTL_S
        return self._columns

    def expire_soon(self) -> None:
        """Read the columns again once `MISSING_TTL_S` has passed since the last read."""
        self._expires_at = min(self._expires_at, self._read_at + MISSING_TTL_S)

    def _read(self) -> dict[str, str]:
        try:
            table = self._glue.get_table(DatabaseName=self._database, Name=LakeTable.PREDICTIONS.value)["Table"]
        except (ClientError, BotoCoreError) as error:
            raise LakeError(f"GetTable {self._database}.{LakeTable.PREDICTIONS.value} failed: {error}") from error
        return {
            column["Name"]: column["Type"].lower()
            for column in table.get("StorageDescriptor", {}).get("Columns", [])
            if column["Name"].startswith(FEATURE_COLUMN_PREFIX)
        }


def chunk_frame(chunk: LakeChunk) -> pd.DataFrame:
    """The chunk as a frame with its columns' exact types (epoch milliseconds as naive `datetime64[ms]`)."""
    arrays = {}
    for name, values in chunk.columns.items():
        glue_type = chunk.glue_types[name]
        if glue_type == "timestamp":
            arrays[name] = pa.array(values, pa.int64()).cast(ARROW_TYPES[glue_type])
        else:
            arrays[name] = pa.array(values, ARROW_TYPES[glue_type])
    return pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)


class S3Lake:
    """`logic.LakeSink`: feature columns from the Glue catalog, files to S3 through awswrangler."""

    def __init__(self, session: boto3.Session, columns: GlueFeatureColumns) -> None:
        self._session = session
        self._columns = columns

    def feature_types(self) -> Mapping[str, str]:
        """The predictions table's feature columns (column name -> Glue type)."""
        return self._columns.get()

    def columns_missing(self) -> None:
        """Records carried a feature without a column: read the catalog again sooner."""
        self._columns.expire_soon()

    def write(self, chunk: LakeChunk) -> None:
        """Write (or overwrite) the chunk's Parquet file."""
        frame = chunk_frame(chunk)
        # A `timestamp` dtype would make awswrangler cast the column to nanoseconds first: the frame's own
        # `datetime64[ms]` is what the file gets.
        dtype = {name: glue_type for name, glue_type in chunk.glue_types.items() if glue_type != "timestamp"}
        path = f"s3://{chunk.bucket}/{chunk.key}"
        try:
            wr.s3.to_parquet(
                frame,
                path=path,
                index=False,
                dtype=dtype,
                boto3_session=self._session,
                pyarrow_additional_kwargs={"use_deprecated_int96_timestamps": False},
            )
        except (ClientError, BotoCoreError) as error:
            raise LakeError(f"writing {path} failed: {error}") from error
