"""Test helpers: the payload-ETL's ports in memory, and one object run through the real `process_object`.

`MemoryObjectStore`, `MemoryPayloadSink`, `MemoryLake` and `MemoryBaselines` implement
`lambdas.payload_etl.logic.ObjectStore`, `PayloadSink`, `LakeSink` and `BaselineSource` with dicts; `load_object` puts
one body in a fresh set and processes it as the handler would (ledger check, stored-size check, screening, streaming,
lake files, alerting aggregates, quarantine object, ledger mark), returning what was written: the lake's rows (what
was stored) and the aggregate items (what alerting sees).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.aggregates import Aggregate, Judge, merged
from core.baseline import MonitoringBaseline
from core.lake import LakeTable, table_prefix
from core.payload_store import WRITE_BATCH_SIZE, Item
from lambdas.payload_etl.extract import QuarantinedLine
from lambdas.payload_etl.limits import DEFAULT_LIMITS, EtlLimits
from lambdas.payload_etl.logic import ObjectUnavailableError, process_object
from lambdas.payload_etl.models import LakeChunk, ObjectBody, ObjectRef, ObjectResult

BUCKET = "payload-bucket"
ETAG = "0123456789abcdef0123456789abcdef"


@dataclass
class MemoryObjectStore:
    """Source objects by bucket and key (one current version each) and the quarantine objects written."""

    objects: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    quarantine: dict[tuple[str, str], bytes] = field(default_factory=dict)
    #: Every object version opened, in order (a screened object is opened twice).
    opened: list[ObjectRef] = field(default_factory=list)
    #: Every write, in order (shared with the other ports by `load_object`).
    journal: list[str] = field(default_factory=list)

    def put(self, bucket: str, key: str, body: bytes, etag: str = ETAG, arrival_epoch: int | None = None) -> ObjectRef:
        """Store `body` as the current version of the key; its reference, as an event names it (`arrival_epoch`:
        the event's `eventTime`)."""
        self.objects[(bucket, key)] = (etag, body)
        return ObjectRef(bucket, key, etag, len(body), arrival_epoch)

    @contextmanager
    def open(self, ref: ObjectRef, piece_bytes: int) -> Iterator[ObjectBody]:
        """The version `ref` names, in pieces of `piece_bytes`; `ObjectUnavailableError` if it is gone or
        superseded."""
        etag, body = self.objects.get((ref.bucket, ref.key), ("", b""))
        if etag != ref.etag:
            raise ObjectUnavailableError(f"s3://{ref.bucket}/{ref.key} ({ref.etag}) is gone or superseded")
        self.opened.append(ref)
        yield ObjectBody(len(body), (body[start : start + piece_bytes] for start in range(0, len(body), piece_bytes)))

    def put_quarantine(self, bucket: str, key: str, body: bytes) -> None:
        """Write (or overwrite) one quarantine object."""
        self.journal.append("quarantine")
        self.quarantine[(bucket, key)] = body


@dataclass
class MemoryPayloadSink:
    """The payload table: items by key (a put replaces, as DynamoDB's), every non-empty put, and the ledger."""

    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    batches: list[list[Item]] = field(default_factory=list)
    ledger: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    #: Every write, in order (shared with the other ports by `load_object`).
    journal: list[str] = field(default_factory=list)

    def is_loaded(self, bucket: str, key: str, etag: str) -> bool:
        """Whether the ledger holds this object version."""
        return (bucket, key, etag) in self.ledger

    def put_items(self, items: Sequence[Item]) -> int:
        """Put items (kept as one batch, if any); the BatchWriteItem calls `core.payload_store.PayloadStore` makes
        for them."""
        if items:
            self.journal.append("aggregates")
            self.batches.append(list(items))
        for item in items:
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
        return math.ceil(len(items) / WRITE_BATCH_SIZE)

    def mark_loaded(
        self, bucket: str, key: str, etag: str, *, records: int, loaded: int, duplicates: int, quarantined: int
    ) -> None:
        """Record the object version and its counts in the ledger."""
        self.journal.append("ledger")
        self.ledger[(bucket, key, etag)] = {
            "records": records,
            "loaded": loaded,
            "duplicates": duplicates,
            "quarantined": quarantined,
        }


@dataclass
class MemoryLake:
    """The lake: the predictions table's feature columns, and every file written by key (a write replaces)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    files: dict[str, LakeChunk] = field(default_factory=dict)
    #: How often the ETL asked for the columns, and said some were missing.
    column_reads: int = 0
    missing_reports: int = 0
    #: Every write, in order (shared with the other ports by `load_object`).
    journal: list[str] = field(default_factory=list)

    def feature_types(self) -> Mapping[str, str]:
        """The feature columns (column name -> Glue type)."""
        self.column_reads += 1
        return self.columns

    def columns_missing(self) -> None:
        """Count the report."""
        self.missing_reports += 1

    def write(self, chunk: LakeChunk) -> None:
        """Keep the file."""
        self.journal.append("lake")
        self.files[chunk.key] = chunk

    @property
    def rows(self) -> int:
        """Rows in every file."""
        return sum(chunk.rows for chunk in self.files.values())


@dataclass
class MemoryBaselines:
    """The model bucket's baselines by (model, version); a version without one has no readable baseline."""

    baselines: dict[tuple[str, str], MonitoringBaseline] = field(default_factory=dict)
    #: Every (model, version) asked for, in order.
    asked: list[tuple[str, str]] = field(default_factory=list)

    def judge(self, model_name: str, version: str) -> Judge | None:
        """The version's judge, or None without a baseline."""
        self.asked.append((model_name, version))
        baseline = self.baselines.get((model_name, version))
        return None if baseline is None else Judge.of(baseline)


def lake_rows(lake: MemoryLake, table: LakeTable = LakeTable.PREDICTIONS) -> list[dict[str, Any]]:
    """Every row of the table's files, one dict each, files in key order (day, then chunk), rows in file order."""
    prefix = table_prefix(table)
    return [
        {name: values[row] for name, values in chunk.columns.items()}
        for key, chunk in sorted(lake.files.items())
        if key.startswith(prefix)
        for row in range(chunk.rows)
    ]


def features_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A prediction row's features, as decoded: its typed columns with a value, then `unparsed_features`."""
    features = {name[2:]: value for name, value in row.items() if name.startswith("f_") and value is not None}
    unparsed = row.get("unparsed_features")
    return features | (json.loads(unparsed) if unparsed is not None else {})


def bucket_of(item: Item) -> datetime:
    """The start of an aggregate item's bucket, from its keys (`AGG#<model>#<day>`, `<HH:MM>#<source>`)."""
    day = str(item["pk"]["S"]).rsplit("#", 1)[1]
    return datetime.fromisoformat(f"{day}T{str(item['sk']['S'])[:5]}:00").replace(tzinfo=UTC)


def aggregates_of(items: Sequence[Item]) -> dict[datetime, Aggregate]:
    """Aggregate items merged per bucket, by bucket start."""
    buckets: dict[datetime, Aggregate] = {}
    for item in items:
        aggregate = Aggregate.loads(str(item["body"]["S"]))
        assert int(item["rows"]["N"]) == aggregate.rows
        buckets.setdefault(bucket_of(item), Aggregate()).merge(aggregate)
    return dict(sorted(buckets.items()))


@dataclass(frozen=True)
class Loaded:
    """What processing one object wrote: its result, the aggregate items put (in key order), the quarantine object
    (empty if none was written) and the lake."""

    result: ObjectResult
    #: The alerting aggregate items, sorted by their keys.
    items: list[Item]
    #: The batches put, in order.
    batches: list[list[Item]]
    quarantine_object: bytes
    #: The objects opened (twice for a screened object).
    reads: int
    #: The lake's files.
    lake: MemoryLake
    #: The baselines asked for.
    baselines: MemoryBaselines
    #: Every write, in order: "lake" (a file), "aggregates" (a put), "quarantine", "ledger".
    journal: list[str]

    @property
    def records(self) -> int:
        """Non-blank lines."""
        return self.result.records

    @property
    def duplicates(self) -> int:
        """Lines identical to an earlier one of the same request id."""
        return self.result.duplicates

    @property
    def blank_lines(self) -> int:
        """Blank lines skipped."""
        return self.result.blank_lines

    @property
    def predictions(self) -> list[dict[str, Any]]:
        """The lake's prediction rows (see `lake_rows`)."""
        return lake_rows(self.lake, LakeTable.PREDICTIONS)

    @property
    def labels(self) -> list[dict[str, Any]]:
        """The lake's label rows (see `lake_rows`)."""
        return lake_rows(self.lake, LakeTable.LABELS)

    @property
    def request_ids(self) -> list[str]:
        """The request ids of every lake row, predictions then labels, in `lake_rows` order."""
        return [str(row["request_id"]) for row in self.predictions + self.labels]

    @property
    def aggregates(self) -> dict[datetime, Aggregate]:
        """The aggregate items merged per bucket."""
        return aggregates_of(self.items)

    @property
    def aggregate(self) -> Aggregate:
        """Every aggregate item merged."""
        return merged(self.aggregates.values())

    @property
    def quarantine_lines(self) -> list[dict[str, Any]]:
        """Every line of the quarantine object, parsed."""
        return [json.loads(line) for line in self.quarantine_object.decode("utf-8").splitlines()]

    @property
    def quarantined(self) -> list[QuarantinedLine]:
        """The refused lines the quarantine object lists in full (its summary line left out)."""
        return [
            QuarantinedLine(entry["line"], tuple(entry["reasons"]), entry["raw"], entry["raw_chars"])
            for entry in self.quarantine_lines
            if not entry.get("summary")
        ]


def load_object(
    body: bytes,
    *,
    key: str,
    etag: str = ETAG,
    retention_days: int = 90,
    limits: EtlLimits = DEFAULT_LIMITS,
    bucket: str = BUCKET,
    feature_types: Mapping[str, str] | None = None,
    baselines: Mapping[tuple[str, str], MonitoringBaseline] | None = None,
    arrival_epoch: int | None = None,
) -> Loaded:
    """Process `body`, stored under `key`, with fresh in-memory ports, as the handler processes an event's object
    (`feature_types`: the lake's feature columns, none by default; `baselines` by (model, version), none by default;
    `arrival_epoch`: the event's time)."""
    journal: list[str] = []
    objects, store = MemoryObjectStore(journal=journal), MemoryPayloadSink(journal=journal)
    lake = MemoryLake(dict(feature_types or {}), journal=journal)
    source = MemoryBaselines(dict(baselines or {}))
    ref = objects.put(bucket, key, body, etag, arrival_epoch)
    result = process_object(
        ref, objects=objects, store=store, lake=lake, baselines=source, retention_days=retention_days, limits=limits
    )
    quarantine = b"".join(objects.quarantine.values())
    put = [item for batch in store.batches for item in batch]
    ordered = sorted(put, key=lambda item: (str(item["pk"]["S"]), str(item["sk"]["S"])))
    return Loaded(result, ordered, store.batches, quarantine, len(objects.opened), lake, source, journal)
