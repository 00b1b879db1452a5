"""The payload lake's contract (DESIGN.md, "Data plane"): where its Parquet files live, the columns of its two
tables, how a feature becomes a typed column, the sampling key, and the Glue table definition that infra, the
demo's emulator and the writers share. Standard library only.

Layout, in the payload bucket beside the raw JSON Lines (which stay the durable record):

    lake/predictions/model=<m>/dt=<YYYY-MM-DD>/part-<source>-<n>.parquet    one per source object, day and chunk
    lake/predictions/model=<m>/dt=<YYYY-MM-DD>/compacted-<digest>-<n>.parquet   written by the compaction step
    lake/labels/model=<m>/dt=<YYYY-MM-DD>/...                                 the same, `dt` the label's day
    lake/_compaction/<table>/model=<m>/dt=<YYYY-MM-DD>/<digest>.json  a compaction under way: its inputs, outputs

`dt` is the UTC day of the prediction's `timestamp` (of a label's `observed_at`). File names are deterministic
(`source` is a digest of the source object's bucket, key and ETag), so a redelivered object overwrites its own
files instead of adding rows; a request logged twice in two objects is read once by the queries (the earliest
record wins). Partitions are found by projection, not registered (`glue_table_input`): a new day needs no catalog
call, so neither the ETL nor a query waits on Glue, and the layout above is the projection's template.

A prediction's optional members (experiment arm, the control arm's heuristic answer, a shadow challenger's answer)
are the `OPTION_COLUMNS`, a label's review flag the `reviewed` column; files written before they existed lack them,
and every reader takes a missing column as null.

Features are columns named by `feature_column` (numeric features `double`, categorical ones `string`) from the
champion's serving schema; a feature added later is a new column (older files lack it and read as null). A record's
feature value that has no typed column, or does not fit its column's type, is kept as JSON in `unparsed_features`,
so nothing the ETL accepted is lost and the jobs count it as a type mismatch exactly as before.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

LAKE_PREFIX = "lake/"
#: The sampling key's range: `sample_key(request_id)` is uniform on [0, SAMPLE_KEY_SPACE).
SAMPLE_KEY_SPACE = 2**32
#: The partition columns, in path order; both are strings (`dt` is `YYYY-MM-DD`).
MODEL_PARTITION = "model"
DAY_PARTITION = "dt"
DAY_FORMAT = "%Y-%m-%d"
#: Prefix of every feature column; no base column starts with it.
FEATURE_COLUMN_PREFIX = "f_"
#: Base column holding, as a JSON object, feature values without a typed column or that do not fit its type.
UNPARSED_FEATURES = "unparsed_features"

PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
#: The first day partition projection enumerates (a record's time is in [2000, 2100): `core.record_limits`).
PROJECTION_FIRST_DAY = "2000-01-01"
#: Glue's limit on a column comment (a feature name may be longer: the column name, not the comment, is the key).
GLUE_COMMENT_CHARS = 255

_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]{0,61}")
_UNSAFE = re.compile(r"[^a-z0-9_]+")


class LakeTable(StrEnum):
    """The lake's two tables (their Glue names and their folders under `lake/`)."""

    PREDICTIONS = "predictions"
    LABELS = "labels"


@dataclass(frozen=True, slots=True)
class Column:
    """A column and its Glue (Hive) type."""

    name: str
    glue_type: str
    comment: str = ""


#: The predictions' columns of a record's optional members (`core.records.payload_options`, in its order): null
#: where the record has none. Files written before them lack them, and read them as null.
OPTION_COLUMNS = (
    Column("arm", "string", "the business-impact experiment's arm, model or control; null: no experiment"),
    Column("heuristic_score", "double", "the control arm's answer (the heuristic), control rows only"),
    Column("heuristic_label", "int", "the control arm's answer (the heuristic), control rows only"),
    Column("shadow_version", "string", "the shadow challenger that also scored the request"),
    Column("shadow_score", "double", "the shadow challenger's score"),
    Column("shadow_label", "int", "the shadow challenger's label"),
    Column("shadow_latency_ms", "double", "the shadow challenger's latency"),
    Column("client_id", "string", "the client the experiment assigned to its arm (sticky per client)"),
)
#: `OPTION_COLUMNS`' names, in order.
OPTION_NAMES = tuple(column.name for column in OPTION_COLUMNS)
#: The labels' column of a record's `reviewed` flag (false when absent; files written before it read it as null).
REVIEWED = "reviewed"
#: Every table's base columns, in file order (feature columns follow a prediction's base columns).
BASE_COLUMNS: dict[LakeTable, tuple[Column, ...]] = {
    LakeTable.PREDICTIONS: (
        Column("request_id", "string"),
        Column("model_version", "string"),
        Column("ts", "timestamp", "the prediction's time, UTC, milliseconds"),
        Column("score", "double"),
        Column("predicted_label", "int"),
        Column("latency_ms", "double"),
        Column("sample_key", "bigint", "uniform on [0, 2^32) from the request id: samples and joins agree"),
        Column(UNPARSED_FEATURES, "string", "JSON object of feature values with no typed column or of another type"),
        *OPTION_COLUMNS,
    ),
    LakeTable.LABELS: (
        Column("request_id", "string"),
        Column("label", "int"),
        Column("observed_at", "timestamp", "when the label was observed, UTC, milliseconds"),
        Column("sample_key", "bigint", "the same key as the prediction's"),
        Column(REVIEWED, "boolean", "true when a human reviewer gave the label (the review sample)"),
    ),
}
PARTITION_COLUMNS = (Column(MODEL_PARTITION, "string"), Column(DAY_PARTITION, "string"))
#: Partition projection's template of a partition's folder under the table's location.
PARTITION_TEMPLATE = f"{MODEL_PARTITION}=${{{MODEL_PARTITION}}}/{DAY_PARTITION}=${{{DAY_PARTITION}}}/"
#: A feature kind's column type.
FEATURE_GLUE_TYPES = {"numeric": "double", "categorical": "string"}


def sample_key(request_id: str) -> int:
    """The request's sampling key: the first four bytes of SHA-256 of its id, uniform on [0, 2^32). A prediction and
    its labels share it, so a sample of both by `sample_key < k` keeps every pair whole, and a request logged twice
    is in or out of a sample as one."""
    digest = hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big")


def sample_threshold(rate: float) -> int:
    """The `sample_key` bound that keeps a fraction `rate` (0 < rate <= 1) of requests."""
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"a sampling rate is in (0, 1], not {rate}")
    return min(SAMPLE_KEY_SPACE, max(1, round(rate * SAMPLE_KEY_SPACE)))


def feature_column(name: str) -> str:
    """The lake column of a feature: `f_<name>` when the name is a plain lower-case identifier, else `f_` + its
    safe part + a digest of the whole name (Glue and Athena fold case and allow only `[a-z0-9_]` unquoted, so two
    names differing in case or punctuation must not share a column). The column's comment keeps the name."""
    if _PLAIN_NAME.fullmatch(name):
        return FEATURE_COLUMN_PREFIX + name
    safe = _UNSAFE.sub("_", name.lower()).strip("_")[:40]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{FEATURE_COLUMN_PREFIX}{safe}_{digest}" if safe else f"{FEATURE_COLUMN_PREFIX}{digest}"


def feature_columns(features: tuple[tuple[str, str], ...]) -> tuple[Column, ...]:
    """The typed columns of `(name, kind)` features (kind `numeric` or `categorical`), the name as the comment."""
    return tuple(Column(feature_column(name), FEATURE_GLUE_TYPES[kind], name) for name, kind in features)


def glue_database_name(stack_prefix: str) -> str:
    """The lake's Glue database for a stack: lower case, `[a-z0-9_]` (Athena refuses others unquoted), <= 255."""
    return (_UNSAFE.sub("_", stack_prefix.lower()).strip("_") or "autoretrain")[:250] + "_lake"


def day_of(moment: datetime | date) -> str:
    """The `dt` partition value of a time (UTC) or a day."""
    return moment.strftime(DAY_FORMAT)


def table_prefix(table: LakeTable) -> str:
    """`lake/<table>/`."""
    return f"{LAKE_PREFIX}{table.value}/"


def partition_prefix(table: LakeTable, model_name: str, day: str) -> str:
    """`lake/<table>/model=<m>/dt=<day>/`: one day's files of one model."""
    return f"{table_prefix(table)}{MODEL_PARTITION}={model_name}/{DAY_PARTITION}={day}/"


def source_digest(bucket: str, key: str, etag: str) -> str:
    """A source object version's digest, which names the lake files made from it."""
    return hashlib.sha256(f"{bucket}/{key}\n{etag}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def partition_day(key: str) -> str | None:
    """The `dt` partition a lake key or URI lies in (`partition_prefix`), None outside a day's partition."""
    folder = key.rpartition("/")[0]
    marker = f"/{DAY_PARTITION}="
    return folder.rsplit(marker, 1)[1] if marker in folder else None


def part_file_key(table: LakeTable, model_name: str, day: str, source: str, chunk: int) -> str:
    """The file holding chunk `chunk` of one source object's rows of one day (deterministic: a retry overwrites)."""
    return f"{partition_prefix(table, model_name, day)}part-{source}-{chunk:05d}.parquet"


def compacted_file_key(table: LakeTable, model_name: str, day: str, digest: str, chunk: int) -> str:
    """A compacted file of one day; `digest` names the set of files it replaces."""
    return f"{partition_prefix(table, model_name, day)}compacted-{digest}-{chunk:05d}.parquet"


def compaction_manifest_prefix(table: LakeTable, model_name: str) -> str:
    """`lake/_compaction/<table>/model=<m>/`: the manifests of one model's compactions under way (outside every
    table's location: no reader sees them)."""
    return f"{LAKE_PREFIX}_compaction/{table.value}/{MODEL_PARTITION}={model_name}/"


def compaction_manifest_key(table: LakeTable, model_name: str, day: str, digest: str) -> str:
    """The manifest of the compaction of one day's files named by `digest` (`compacted_file_key`)."""
    return f"{compaction_manifest_prefix(table, model_name)}{DAY_PARTITION}={day}/{digest}.json"


def is_part_file(key: str) -> bool:
    """Whether a key is an uncompacted part file."""
    return key.rsplit("/", 1)[-1].startswith("part-") and key.endswith(".parquet")


def table_location(bucket: str, table: LakeTable) -> str:
    """The table's `s3://` location (its folder, ending with `/`)."""
    return f"s3://{bucket}/{table_prefix(table)}"


def projection_parameters(bucket: str, table: LakeTable) -> dict[str, str]:
    """Glue table parameters for partition projection matching the layout: `model` is injected (every query names
    it), `dt` is a daily date range from `PROJECTION_FIRST_DAY` to now."""
    return {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        f"projection.{MODEL_PARTITION}.type": "injected",
        f"projection.{DAY_PARTITION}.type": "date",
        f"projection.{DAY_PARTITION}.format": "yyyy-MM-dd",
        f"projection.{DAY_PARTITION}.range": f"{PROJECTION_FIRST_DAY},NOW",
        f"projection.{DAY_PARTITION}.interval": "1",
        f"projection.{DAY_PARTITION}.interval.unit": "DAYS",
        "storage.location.template": table_location(bucket, table) + PARTITION_TEMPLATE,
    }


def glue_table_input(bucket: str, table: LakeTable, features: tuple[Column, ...] = ()) -> dict[str, Any]:
    """The table as Glue's `TableInput` (boto3's shape): an external Parquet table at `table_location`, partition
    keys apart from the columns, partitions by projection. Infra builds its `aws.glue.CatalogTable` from this and
    the demo creates the same table in the emulator."""
    columns = BASE_COLUMNS[table] + (features if table is LakeTable.PREDICTIONS else ())
    return {
        "Name": table.value,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": projection_parameters(bucket, table),
        "PartitionKeys": [_column_input(column) for column in PARTITION_COLUMNS],
        "StorageDescriptor": {
            "Columns": [_column_input(column) for column in columns],
            "Location": table_location(bucket, table),
            "InputFormat": PARQUET_INPUT_FORMAT,
            "OutputFormat": PARQUET_OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE, "Parameters": {"serialization.format": "1"}},
            "Compressed": True,
        },
    }


def _column_input(column: Column) -> dict[str, str]:
    entry = {"Name": column.name, "Type": column.glue_type}
    if column.comment:
        entry["Comment"] = column.comment[:GLUE_COMMENT_CHARS]
    return entry
