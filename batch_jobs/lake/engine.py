"""The engines that run the lake's queries (`batch_jobs.lake.queries`): Athena in AWS, DuckDB embedded. Both take
the same SQL text; both return a pandas frame of the (sampled, so bounded) result.

- `AthenaEngine`: `awswrangler.athena.read_sql_query` in the stack's workgroup (which enforces its encrypted result
  location and bytes-scanned limit), the text transpiled to Athena's dialect, the query's result files deleted once
  read (`keep_files=False`; the results bucket's lifecycle removes any a failed run leaves).
- `DuckDBEngine`: DuckDB in this process over the same Parquet files. The query's days are listed through
  awswrangler (`S3LakeFiles`; `LocalLakeFiles` for a lake on disk) and read by DuckDB's httpfs extension, which
  ships in a PyPI wheel (no download at run time) and honours `AWS_ENDPOINT_URL` like every AWS client here. A
  table is a view over the listed files with every expected column: a feature column older files lack reads as
  null. DuckDB's memory is capped (`memory_limit`; it spills to `temp_directory` beyond it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import awswrangler as wr
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from batch_jobs.lake.queries import for_athena
from core.lake import (
    BASE_COLUMNS,
    DAY_PARTITION,
    MODEL_PARTITION,
    Column,
    LakeTable,
    partition_day,
    partition_prefix,
    table_prefix,
)

if TYPE_CHECKING:
    import boto3
    from numpy.typing import NDArray

logger = logging.getLogger(__name__)

#: Glue (Hive) column types as DuckDB types.
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}


class LakeQueryError(RuntimeError):
    """A lake query failed (the engine's own error is chained)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a query reads: one model's days of each table, and the feature columns it selects."""

    model_name: str
    days: Mapping[LakeTable, Sequence[str]]
    features: tuple[Column, ...] = ()

    def columns(self, table: LakeTable) -> tuple[Column, ...]:
        """The table's columns the query may name (features only for predictions)."""
        return BASE_COLUMNS[table] + (self.features if table is LakeTable.PREDICTIONS else ())


class LakeEngine(Protocol):
    """Runs one lake query (DuckDB's dialect, `batch_jobs.lake.queries`) over `scope`."""

    @property
    def name(self) -> str:
        """`athena` or `duckdb`."""
        ...

    def query(self, sql: str, scope: Scope) -> pd.DataFrame:
        """The query's result; `LakeQueryError` if it fails."""
        ...


class LakeFiles(Protocol):
    """Lists a partition's Parquet files."""

    def files(self, table: LakeTable, model_name: str, day: str) -> list[str]:
        """Paths or `s3://` URIs of one day's files of one model."""
        ...


@dataclass
class S3LakeFiles:
    """The lake in the payload bucket, listed with awswrangler: each table's files of a model are listed once (one
    paginated listing of its prefix, not one per day) and kept for the life of this object, a job's run, so all
    its queries read the same files. A file the compaction deletes meanwhile fails the query (`LakeQueryError`)
    and the job, which its retry reads afresh."""

    bucket: str
    session: boto3.Session
    _listed: dict[tuple[LakeTable, str], dict[str, list[str]]] = field(default_factory=dict, init=False, repr=False)

    def files(self, table: LakeTable, model_name: str, day: str) -> list[str]:
        """One partition's `.parquet` objects."""
        if (table, model_name) not in self._listed:
            prefix = f"s3://{self.bucket}/{table_prefix(table)}{MODEL_PARTITION}={model_name}/"
            by_day: dict[str, list[str]] = {}
            for path in wr.s3.list_objects(prefix, suffix=".parquet", boto3_session=self.session):
                listed_day = partition_day(path)
                if listed_day is not None:
                    by_day.setdefault(listed_day, []).append(path)
            self._listed[(table, model_name)] = by_day
        return list(self._listed[(table, model_name)].get(day, ()))


@dataclass(frozen=True, slots=True)
class LocalLakeFiles:
    """A lake on disk with the same layout under `root` (the bench; a user's copy)."""

    root: Path

    def files(self, table: LakeTable, model_name: str, day: str) -> list[str]:
        """One partition's `.parquet` files."""
        return sorted(str(path) for path in (self.root / partition_prefix(table, model_name, day)).glob("*.parquet"))


#: glibc's `mallopt` parameter for the size from which a block is its own mapping (`M_MMAP_THRESHOLD`).
_M_MMAP_THRESHOLD = -3
#: 128 KiB, glibc's default, fixed: every column or batch the lake reads is its own mapping, returned on free.
LARGE_BLOCK_BYTES = 128 * 1024


def return_large_blocks() -> bool:
    """Make this process give large freed blocks back to the system at once (glibc only; False elsewhere).

    glibc raises its mapping threshold to the size of each large block freed (up to 32 MiB), so after a query's
    result is freed the next results' columns come from the heap, where freed memory stays in the process: a job
    reading two windows would peak at several times what it holds. A fixed threshold ends that adjustment."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
    except (OSError, AttributeError):
        return False


def httpfs_extension() -> Path:
    """The httpfs extension binary shipped by the `duckdb-extension-httpfs` wheel for this DuckDB version."""
    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or not spec.submodule_search_locations:
        raise LakeQueryError("the duckdb-extension-httpfs package is not installed")
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    if not path.is_file():
        raise LakeQueryError(f"no httpfs extension for DuckDB {duckdb.__version__} at {path}")
    return path


@dataclass
class DuckDBEngine:
    """DuckDB over the lake's Parquet files (module docstring). `session` gives S3 credentials and region; None for
    a local lake."""

    files: LakeFiles
    session: boto3.Session | None = None
    memory_limit: str = "1GB"
    threads: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))  # the task's CPUs, not the host's
    name: str = "duckdb"
    _connection: duckdb.DuckDBPyConnection | None = field(default=None, init=False, repr=False)
    _spill: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    #: Each table's current view: the files and columns it was created over.
    _views: dict[LakeTable, tuple[tuple[str, ...], tuple[Column, ...]]] = field(
        default_factory=dict, init=False, repr=False
    )

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self._connection is not None:
            return self._connection
        return_large_blocks()
        self._spill = tempfile.TemporaryDirectory(prefix="autoretrain-duckdb-")  # removed at close or exit
        connection = duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "memory_limit": self.memory_limit,
                "threads": self.threads,
                "temp_directory": self._spill.name,
            }
        )
        # A job's queries read the same files several times (counts, then the sample): their Parquet footers and
        # HTTP metadata are read once. Lake files are never rewritten with other content.
        connection.execute("SET parquet_metadata_cache = true")
        # DuckDB otherwise keeps every byte range it reads (up to `memory_limit`), so a job's memory would follow its
        # window's files rather than its sample.
        connection.execute("SET enable_external_file_cache = false")
        connection.execute("SET enable_progress_bar = false")  # a job's log is no terminal
        if self.session is not None:
            connection.execute(f"LOAD '{httpfs_extension()}'")
            connection.execute("SET enable_http_metadata_cache = true")
            connection.execute(_s3_secret(self.session))
        self._connection = connection
        return connection

    def query(self, sql: str, scope: Scope) -> pd.DataFrame:
        """Create the scope's views (unless the same views are there), run `sql`, return its result."""
        connection = self._connect()
        try:
            for table, days in scope.days.items():
                paths = tuple(path for day in days for path in self.files.files(table, scope.model_name, day))
                columns = scope.columns(table)
                if self._views.get(table) != (paths, columns):
                    connection.execute(_view(connection, table, paths, columns))
                    self._views[table] = (paths, columns)
            return _fetch(connection.execute(sql).to_arrow_reader(FETCH_ROWS))
        except duckdb.Error as error:
            raise LakeQueryError(f"DuckDB failed on the lake: {error}") from error

    def close(self) -> None:
        """Release the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self._views.clear()
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None


#: Rows per batch fetched from DuckDB: the result streams out in batches this size.
FETCH_ROWS = 65_536


class _TextCodes:
    """A text column collected as category codes (int32, -1 for null) over the values seen so far: a model version
    or a request id repeated on many rows is kept once."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._chunks: list[NDArray[np.int32]] = []

    def add(self, column: pa.Array) -> None:
        encoded = column.dictionary_encode()
        codes = [self._values.setdefault(value, len(self._values)) for value in encoded.dictionary.to_pylist()]
        local = np.array([*codes, -1], dtype=np.int32)
        self._chunks.append(local[encoded.indices.fill_null(len(codes)).to_numpy()])

    def series(self) -> pd.Series:
        codes = np.concatenate(self._chunks) if self._chunks else np.empty(0, dtype=np.int32)
        self._chunks.clear()
        categories = pd.Index(list(self._values), dtype=object)
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories), copy=False)


def _fetch(reader: pa.RecordBatchReader) -> pd.DataFrame:
    """A streamed result as a frame of one block per column, each batch converted as it arrives: numbers to numpy
    (copied out of the batch, so Arrow's allocator reuses the batch's memory for the next one instead of keeping
    every batch alive behind a zero-copy view), text to categories. The peak is the result once, in its compact
    form, plus one column while its pieces are joined."""
    text = {field_.name for field_ in reader.schema if pa.types.is_string(field_.type)}
    codes = {name: _TextCodes() for name in text}
    pieces: dict[str, list[np.ndarray]] = {name: [] for name in reader.schema.names if name not in text}
    for batch in reader:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name in text:
                codes[name].add(column)
            else:
                pieces[name].append(np.array(column.to_numpy(zero_copy_only=False), copy=True))
    columns: dict[str, pd.Series] = {}
    for field_ in reader.schema:
        if field_.name in text:
            columns[field_.name] = codes.pop(field_.name).series()
        else:
            parts = pieces.pop(field_.name)
            columns[field_.name] = (
                pd.Series(np.concatenate(parts), copy=False) if parts else pa.array([], field_.type).to_pandas()
            )
            del parts
    return pd.DataFrame(columns, copy=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _s3_secret(session: boto3.Session) -> str:
    credentials = session.get_credentials()
    if credentials is None:
        raise LakeQueryError("no AWS credentials for the lake")
    frozen = credentials.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise LakeQueryError("incomplete AWS credentials for the lake")
    options = {
        "TYPE": "s3",
        "KEY_ID": _quote(frozen.access_key),
        "SECRET": _quote(frozen.secret_key),
        "REGION": _quote(session.region_name or "us-east-1"),
    }
    if frozen.token:
        options["SESSION_TOKEN"] = _quote(frozen.token)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        options |= {
            "ENDPOINT": _quote(parts.netloc),
            "URL_STYLE": "'path'",
            "USE_SSL": "true" if parts.scheme == "https" else "false",
        }
    return "CREATE OR REPLACE SECRET lake (" + ", ".join(f"{key} {value}" for key, value in options.items()) + ")"


def _view(
    connection: duckdb.DuckDBPyConnection, table: LakeTable, paths: Sequence[str], columns: Sequence[Column]
) -> str:
    """A view named like the table over `paths`, with exactly `columns` plus the partition columns (a column no file
    has is a typed null; no file at all is an empty view)."""
    partitions = f"CAST(NULL AS VARCHAR) AS {MODEL_PARTITION}, CAST(NULL AS VARCHAR) AS {DAY_PARTITION}"
    if not paths:
        typed = ", ".join(f"CAST(NULL AS {_DUCKDB_TYPES[column.glue_type]}) AS {column.name}" for column in columns)
        return f"CREATE OR REPLACE TEMP VIEW {table.value} AS SELECT {typed}, {partitions} WHERE false"
    source = (
        f"read_parquet([{', '.join(_quote(path) for path in paths)}],"
        " hive_partitioning = true, hive_types_autocast = false, union_by_name = true)"
    )
    present = {row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    selected = ", ".join(
        f"CAST({column.name} AS {_DUCKDB_TYPES[column.glue_type]}) AS {column.name}"
        if column.name in present
        else f"CAST(NULL AS {_DUCKDB_TYPES[column.glue_type]}) AS {column.name}"
        for column in columns
    )
    partitions = f"{MODEL_PARTITION}, {DAY_PARTITION}"
    return f"CREATE OR REPLACE TEMP VIEW {table.value} AS SELECT {selected}, {partitions} FROM {source}"


@dataclass(frozen=True, slots=True)
class AthenaEngine:
    """Athena through awswrangler in the stack's workgroup (module docstring)."""

    database: str
    workgroup: str
    session: boto3.Session
    name: str = "athena"

    def query(self, sql: str, scope: Scope) -> pd.DataFrame:
        """Run the transpiled query; its result files are deleted once read."""
        del scope  # Athena reads the catalog's tables; projection prunes the days the text names
        try:
            result = wr.athena.read_sql_query(
                for_athena(sql),
                database=self.database,
                workgroup=self.workgroup,
                ctas_approach=False,
                unload_approach=False,
                keep_files=False,
                boto3_session=self.session,
            )
        except Exception as error:  # awswrangler raises its own and botocore's errors alike
            raise LakeQueryError(f"Athena failed on the lake: {error}") from error
        if not isinstance(result, pd.DataFrame):
            raise LakeQueryError("Athena returned chunks where one frame was asked for")
        return result
