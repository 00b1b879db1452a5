"""Compaction of the lake's small files (`core.lake`): each day's part files, and the earlier compacted files of the day
that are not full, merged into compacted files of at most `target_rows` rows and `target_bytes` of Arrow memory (the
Parquet file is a few times smaller), duplicates dropped, the inputs deleted.

    python -m batch_jobs.compact_lake --now <ISO time>      (hourly: the schedule passes its own time)

Why: the ETL writes one part file per source object and day (`core.lake.part_file_key`), and serving logs one
object per invocation, so without compaction a day has as many files as invocations. With one prediction per
invocation (a batch of n divides these by n), before and after the hourly compaction:

| predictions a day | part files a day | part files an hour | files of a day once compacted                  |
|-------------------|------------------|--------------------|------------------------------------------------|
| 10,000            | 10,000           | ~420               | 1 (rewritten each hour while the day fills)    |
| 1,000,000         | 1,000,000        | ~42,000            | 1-2                                            |
| 10,000,000        | 10,000,000       | ~420,000           | ~10 (1M rows each; ~500 KB-5 MB of Parquet per 10k) |

plus, at any time, the parts of the last hour and a quarter (`settle` and the schedule) not yet compacted. At 10M a
day the hour's ~420k parts are what a run reads (in batches of `batch_files` files read concurrently, listed and
deleted 1,000 keys a request); batching objects upstream (Firehose, the target) is what removes them.

How, for each table and each day with at least one part file older than `settle` (15 minutes before `--now`: a
file an ETL retry may still overwrite is left for the next run):
- inputs: the day's settled part files, and its settled compacted files that are not full (their S3 metadata says
  so; one without it counts as not full), in order of their time; nothing to do unless there are two;
- merge: inputs are read in batches (at most `batch_bytes` of Parquet, `batch_files` files), so memory is one output
  file and one batch, never the day. Rows are deduplicated within an output file: a prediction's earliest record
  wins (`ts`, then model version and score, as the queries order them); a label keeps every distinct
  `(request_id, observed_at)` (the latest wins at query time). A duplicate that lands in another output file, or in
  a full file of the day, stays: the queries read a request once whatever the files;
- the outputs are `core.lake.compacted_file_key(table, model, day, digest, n)`, `digest` the SHA-256 of the sorted
  input keys, rows sorted by `sample_key` (a sample reads few row groups), base columns cast to the contract's types;
- crash safety, by a manifest (`core.lake.compaction_manifest_key`, outside the tables): written with the inputs
  before any output, rewritten as complete with the outputs once all are written, then the inputs are deleted, then
  the manifest. A later run first finishes what a crashed one left: a complete manifest's inputs are deleted (its
  outputs hold their rows), an incomplete one's outputs are deleted (its inputs were never touched). So a crash
  between writing and deleting leaves duplicates for at most one run, which the queries dedupe meanwhile. A manifest
  younger than `stale_manifest` belongs to a run still going: its day is left alone (runs must not overlap for
  longer than that: the job's timeout is below it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import awswrangler as wr
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.lake import (
    BASE_COLUMNS,
    MODEL_PARTITION,
    REVIEWED,
    LakeTable,
    compacted_file_key,
    compaction_manifest_key,
    compaction_manifest_prefix,
    is_part_file,
    partition_day,
    table_prefix,
)

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024
#: S3 user metadata on a compacted file: its rows, and whether it is full (no later run merges it again).
ROWS_METADATA = "rows"
FULL_METADATA = "full"
#: Arrow types of the base columns' Glue types (features keep the types their files have).
_ARROW_TYPES = {
    "string": pa.string(),
    "double": pa.float64(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("ms"),
    "boolean": pa.bool_(),
}
#: How each table's duplicates are told apart and which copy is kept (the first in this order).
_DEDUPE: dict[LakeTable, tuple[tuple[str, ...], list[tuple[str, str]]]] = {
    LakeTable.PREDICTIONS: (
        ("request_id",),
        [("request_id", "ascending"), ("ts", "ascending"), ("model_version", "ascending"), ("score", "ascending")],
    ),
    LakeTable.LABELS: (
        ("request_id", "observed_at"),
        [("request_id", "ascending"), ("observed_at", "ascending"), ("label", "descending"), (REVIEWED, "descending")],
    ),
}
_OUTPUT_ORDER = [("sample_key", "ascending"), ("request_id", "ascending")]


@dataclass(frozen=True, slots=True)
class CompactionConfig:
    """Targets and bounds (module docstring)."""

    target_rows: int = 1_000_000
    target_bytes: int = 128 * _MIB
    settle: timedelta = timedelta(minutes=15)
    batch_bytes: int = 64 * _MIB
    batch_files: int = 1_000
    stale_manifest: timedelta = timedelta(hours=2)
    row_group_rows: int = 100_000


@dataclass(frozen=True, slots=True)
class LakeObject:
    """A listed object: its key, size and time; for a compacted file, whether it is full (from its metadata)."""

    key: str
    size: int
    last_modified: datetime
    full: bool = False


@dataclass(frozen=True, slots=True)
class Manifest:
    """A compaction under way: its inputs, and its outputs once all are written (`complete`)."""

    table: LakeTable
    day: str
    digest: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        """The manifest's document."""
        return {
            "table": self.table.value,
            "day": self.day,
            "digest": self.digest,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "complete": self.complete,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Manifest:
        """Parse a manifest written by `to_json`."""
        return cls(
            table=LakeTable(document["table"]),
            day=str(document["day"]),
            digest=str(document["digest"]),
            inputs=tuple(document["inputs"]),
            outputs=tuple(document.get("outputs", ())),
            complete=bool(document.get("complete", False)),
        )


@dataclass(frozen=True, slots=True)
class DayCompaction:
    """What compacting one day did."""

    table: LakeTable
    day: str
    inputs: int
    outputs: int
    rows_in: int
    rows_out: int

    def to_json(self) -> dict[str, Any]:
        """For the job's summary."""
        return {
            "table": self.table.value,
            "day": self.day,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
        }


@dataclass(frozen=True, slots=True)
class CompactionResult:
    """A run: the days compacted, and the compactions of earlier runs it finished (rolled forward or back)."""

    model_name: str
    days: tuple[DayCompaction, ...] = ()
    rolled_forward: int = 0
    rolled_back: int = 0

    def to_json(self) -> dict[str, Any]:
        """The job's summary line."""
        return {
            "model_name": self.model_name,
            "days": [day.to_json() for day in self.days],
            "files_in": sum(day.inputs for day in self.days),
            "files_out": sum(day.outputs for day in self.days),
            "duplicates_dropped": sum(day.rows_in - day.rows_out for day in self.days),
            "rolled_forward": self.rolled_forward,
            "rolled_back": self.rolled_back,
        }


class LakeFiles(Protocol):
    """The lake's objects, as compaction reads and writes them (`S3CompactionFiles`)."""

    def list(self, prefix: str) -> list[LakeObject]:
        """Every object under `prefix` (without `full`)."""
        ...

    def fullness(self, keys: Sequence[str]) -> dict[str, bool]:
        """Whether each compacted file is full (its metadata; False without it)."""
        ...

    def read(self, keys: Sequence[str]) -> pa.Table:
        """The rows of these files together (the union of their columns)."""
        ...

    def write(self, key: str, rows: pa.Table, *, full: bool) -> None:
        """Write (or overwrite) one compacted file with its metadata."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Delete these objects (a missing one is no error)."""
        ...

    def put_manifest(self, key: str, manifest: Manifest) -> None:
        """Write (or overwrite) a manifest."""
        ...

    def get_manifest(self, key: str) -> Manifest | None:
        """A manifest, or None if it is gone."""
        ...


# --- the run ------------------------------------------------------------------------------------------------------


def compact_lake(
    files: LakeFiles, model_name: str, now: datetime, config: CompactionConfig | None = None
) -> CompactionResult:
    """Finish what crashed runs left, then compact every day of both tables that needs it (module docstring)."""
    config = config or CompactionConfig()
    days: list[DayCompaction] = []
    forward = back = 0
    for table in LakeTable:
        busy, rolled = recover(files, table, model_name, now - config.stale_manifest)
        forward, back = forward + rolled[0], back + rolled[1]
        listed = files.list(f"{table_prefix(table)}{MODEL_PARTITION}={model_name}/")
        for day, objects in sorted(_by_day(listed).items()):
            if day in busy:
                continue
            inputs = plan_day(files, objects, now - config.settle)
            if len(inputs) > 1:
                days.append(compact_day(files, table, model_name=model_name, day=day, inputs=inputs, config=config))
    result = CompactionResult(model_name, tuple(days), forward, back)
    logger.info("compaction of %s: %s", model_name, result.to_json())
    return result


def recover(
    files: LakeFiles, table: LakeTable, model_name: str, stale_before: datetime
) -> tuple[set[str], tuple[int, int]]:
    """Finish the compactions of `table` that earlier runs left: roll a complete one forward (delete its inputs), an
    incomplete one back (delete its outputs). Returns the days of manifests too young to touch (a run under way) and
    how many were rolled forward and back."""
    busy: set[str] = set()
    forward = back = 0
    for listed in files.list(compaction_manifest_prefix(table, model_name)):
        manifest = files.get_manifest(listed.key)
        if manifest is None:
            continue
        if listed.last_modified >= stale_before:
            busy.add(manifest.day)
            continue
        if manifest.complete:
            files.delete(manifest.inputs)
            forward += 1
        else:
            prefix = compacted_file_key(table, model_name, manifest.day, manifest.digest, 0)[: -len("00000.parquet")]
            files.delete([obj.key for obj in files.list(prefix)])
            back += 1
        files.delete([listed.key])
        logger.warning("finished an interrupted compaction of %s: %s", manifest.day, manifest.to_json())
    return busy, (forward, back)


def _by_day(objects: Sequence[LakeObject]) -> dict[str, list[LakeObject]]:
    days: dict[str, list[LakeObject]] = {}
    for obj in objects:
        day = partition_day(obj.key)
        if day is not None and obj.key.endswith(".parquet"):
            days.setdefault(day, []).append(obj)
    return days


def plan_day(files: LakeFiles, objects: Sequence[LakeObject], settled_before: datetime) -> list[LakeObject]:
    """A day's inputs: its settled part files and, if there is one, its settled compacted files that are not full,
    in order of time (empty when there is no settled part file)."""
    settled = [obj for obj in objects if obj.last_modified < settled_before]
    parts = [obj for obj in settled if is_part_file(obj.key)]
    if not parts:
        return []
    compacted = [obj for obj in settled if not is_part_file(obj.key)]
    fullness = files.fullness([obj.key for obj in compacted]) if compacted else {}
    small = [obj for obj in compacted if not fullness.get(obj.key, False)]
    return sorted(parts + small, key=lambda obj: (obj.last_modified, obj.key))


def input_digest(keys: Sequence[str]) -> str:
    """The digest naming the compacted files of these inputs."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


def compact_day(
    files: LakeFiles,
    table: LakeTable,
    *,
    model_name: str,
    day: str,
    inputs: Sequence[LakeObject],
    config: CompactionConfig,
) -> DayCompaction:
    """Merge one day's inputs into compacted files, then delete them (module docstring: the manifest's steps)."""
    keys = tuple(obj.key for obj in inputs)
    digest = input_digest(keys)
    manifest_key = compaction_manifest_key(table, model_name, day, digest)
    manifest = Manifest(table, day, digest, keys)
    files.put_manifest(manifest_key, manifest)
    merge = _Merge(files, table, model_name, day, digest, config)
    for batch in _batches(inputs, config):
        merge.add(files.read([obj.key for obj in batch]))
    outputs = merge.finish()
    files.put_manifest(manifest_key, Manifest(table, day, digest, keys, tuple(outputs), complete=True))
    files.delete(keys)
    files.delete([manifest_key])
    result = DayCompaction(table, day, len(keys), len(outputs), merge.rows_in, merge.rows_out)
    logger.info("compacted %s %s: %s", table.value, day, result.to_json())
    return result


def _batches(inputs: Sequence[LakeObject], config: CompactionConfig) -> Iterator[list[LakeObject]]:
    batch: list[LakeObject] = []
    size = 0
    for obj in inputs:
        if batch and (size + obj.size > config.batch_bytes or len(batch) >= config.batch_files):
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += obj.size
    if batch:
        yield batch


@dataclass
class _Merge:
    """Rows of one day streaming into compacted files: buffered until an output file's worth, deduplicated, written."""

    files: LakeFiles
    table: LakeTable
    model_name: str
    day: str
    digest: str
    config: CompactionConfig
    rows_in: int = 0
    rows_out: int = 0
    outputs: list[str] = field(default_factory=list)
    _buffer: list[pa.Table] = field(default_factory=list)
    _buffered: int = 0
    _bytes: int = 0

    def add(self, rows: pa.Table) -> None:
        """Take a batch of input rows; write every output file they fill."""
        self.rows_in += rows.num_rows
        self._buffer.append(rows)
        self._buffered += rows.num_rows
        self._bytes += rows.nbytes
        if self._buffered >= self._cap():
            self._drain(final=False)

    def finish(self) -> list[str]:
        """Write the rest; the keys written."""
        self._drain(final=True)
        return self.outputs

    def _cap(self) -> int:
        """Rows per output file: `target_rows`, fewer if that many would hold more than `target_bytes` in memory."""
        per_row = self._bytes / self._buffered if self._buffered else 0
        by_bytes = int(self.config.target_bytes / per_row) if per_row else self.config.target_rows
        return max(1, min(self.config.target_rows, by_bytes))

    def _drain(self, *, final: bool) -> None:
        if not self._buffer:
            return
        merged = deduplicate(self.table, conform(self.table, self._buffer))
        cap = self._cap()
        while merged.num_rows >= cap or (final and merged.num_rows):
            count = min(cap, merged.num_rows)
            self._write(merged.slice(0, count), full=count >= cap)
            merged = merged.slice(count)
        self._buffer = [merged] if merged.num_rows else []
        self._buffered = merged.num_rows
        self._bytes = merged.nbytes if merged.num_rows else 0

    def _write(self, rows: pa.Table, *, full: bool) -> None:
        key = compacted_file_key(self.table, self.model_name, self.day, self.digest, len(self.outputs))
        self.files.write(key, rows, full=full)
        self.outputs.append(key)
        self.rows_out += rows.num_rows


def conform(table: LakeTable, parts: Sequence[pa.Table]) -> pa.Table:
    """Input batches as one table: the union of their columns (a column a file lacks is null), the base columns first
    with the contract's types, then the feature columns in name order."""
    rows = pa.concat_tables(parts, promote_options="permissive")
    base = [column for column in BASE_COLUMNS[table] if column.name in rows.column_names]
    names = [column.name for column in base] + sorted(set(rows.column_names) - {column.name for column in base})
    rows = rows.select(names)
    types = {column.name: _ARROW_TYPES[column.glue_type] for column in base}
    schema = pa.schema([pa.field(name, types.get(name, rows.schema.field(name).type)) for name in names])
    return rows.cast(schema)


def deduplicate(table: LakeTable, rows: pa.Table) -> pa.Table:
    """One row per duplicate key (`_DEDUPE`: the first in its order), sorted by `sample_key`."""
    if not rows.num_rows:
        return rows
    keys, order = _DEDUPE[table]
    order = [(name, way) for name, way in order if name in rows.column_names]  # older files lack later columns
    ordered = rows.sort_by(order)
    first = pa.array([True] * ordered.num_rows) if ordered.num_rows == 1 else _first_of_each(ordered, keys)
    return ordered.filter(first).sort_by(_OUTPUT_ORDER)


def _first_of_each(rows: pa.Table, keys: Sequence[str]) -> pa.Array:
    """Whether each row (sorted by `keys` first) starts a new key."""
    changed: pa.Array | None = None
    for name in keys:
        column = rows[name].combine_chunks()
        differs = pc.fill_null(pc.not_equal(column.slice(1), column.slice(0, len(column) - 1)), True)
        changed = differs if changed is None else pc.or_(changed, differs)
    assert changed is not None  # keys is never empty
    return pa.concat_arrays([pa.array([True]), changed])


# --- the adapter --------------------------------------------------------------------------------------------------


class S3CompactionFiles:
    """`LakeFiles` in the payload bucket: listed with the S3 client (keys, sizes and times in one request per 1,000),
    Parquet read, written and deleted through awswrangler, manifests as JSON objects."""

    def __init__(self, session: boto3.Session, bucket: str, config: CompactionConfig | None = None) -> None:
        self._session = session
        self._s3: S3Client = session.client("s3")
        self._bucket = bucket
        self._config = config or CompactionConfig()

    def _uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def list(self, prefix: str) -> list[LakeObject]:
        """Every object under `prefix`."""
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
        return [
            LakeObject(entry["Key"], entry["Size"], entry["LastModified"])
            for page in pages
            for entry in page.get("Contents", [])
        ]

    def fullness(self, keys: Sequence[str]) -> dict[str, bool]:
        """Whether each compacted file is full, from its metadata (HEAD requests, concurrent)."""
        described = wr.s3.describe_objects([self._uri(key) for key in keys], boto3_session=self._session)
        prefix = len(f"s3://{self._bucket}/")
        return {uri[prefix:]: head.get("Metadata", {}).get(FULL_METADATA) == "true" for uri, head in described.items()}

    def read(self, keys: Sequence[str]) -> pa.Table:
        """These files' rows together (read concurrently; their columns' union)."""
        frame = wr.s3.read_parquet(
            [self._uri(key) for key in keys], dtype_backend="pyarrow", boto3_session=self._session
        )
        return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)

    def write(self, key: str, rows: pa.Table, *, full: bool) -> None:
        """One compacted file, with its rows and fullness as S3 metadata."""
        dtype = {
            column.name: column.glue_type
            for column in (*BASE_COLUMNS[LakeTable.PREDICTIONS], *BASE_COLUMNS[LakeTable.LABELS])
            if column.name in rows.column_names and column.glue_type != "timestamp"
        }
        # A `timestamp` dtype would make awswrangler cast to nanoseconds first: the column's own milliseconds are
        # what the file gets, as the ETL writes them (not Spark's INT96).
        wr.s3.to_parquet(
            rows.to_pandas(types_mapper=pd.ArrowDtype),
            path=self._uri(key),
            index=False,
            dtype=dtype,
            boto3_session=self._session,
            s3_additional_kwargs={"Metadata": {ROWS_METADATA: str(rows.num_rows), FULL_METADATA: str(full).lower()}},
            pyarrow_additional_kwargs={
                "use_deprecated_int96_timestamps": False,
                "write_table_args": {"row_group_size": self._config.row_group_rows},
            },
        )

    def delete(self, keys: Sequence[str]) -> None:
        """Delete these objects (1,000 a request, concurrently)."""
        if keys:
            wr.s3.delete_objects([self._uri(key) for key in keys], boto3_session=self._session)

    def put_manifest(self, key: str, manifest: Manifest) -> None:
        """Write a manifest as JSON."""
        body = json.dumps(manifest.to_json(), sort_keys=True).encode()
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")

    def get_manifest(self, key: str) -> Manifest | None:
        """A manifest, or None if it is gone."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return Manifest.from_json(json.loads(body))
