"""Test helpers: the payload-ETL's ports in memory, and one object run through the real `process_object`.

`MemoryObjectStore`, `MemoryPayloadSink` and `MemoryLake` implement `lambdas.payload_etl.logic.ObjectStore`,
`PayloadSink` and `LakeSink` with dicts; `load_object` puts one body in a fresh set and processes it as the handler
would (ledger check, stored-size check, screening, streaming, lake files, quarantine object, ledger mark), returning
what was written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from core.payload_store import Item
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

    def put(self, bucket: str, key: str, body: bytes, etag: str = ETAG) -> ObjectRef:
        """Store `body` as the current version of the key; its reference, as an event names it."""
        self.objects[(bucket, key)] = (etag, body)
        return ObjectRef(bucket, key, etag, len(body))

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
        self.quarantine[(bucket, key)] = body


@dataclass
class MemoryPayloadSink:
    """The payload table: items by key (a put replaces, as DynamoDB's), every batch sent, and the ledger."""

    items: dict[tuple[str, str], Item] = field(default_factory=dict)
    batches: list[list[Item]] = field(default_factory=list)
    ledger: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)

    def is_loaded(self, bucket: str, key: str, etag: str) -> bool:
        """Whether the ledger holds this object version."""
        return (bucket, key, etag) in self.ledger

    def put_items(self, items: Sequence[Item]) -> int:
        """Put a batch: one call."""
        self.batches.append(list(items))
        for item in items:
            self.items[(item["pk"]["S"], item["sk"]["S"])] = item
        return 1

    def mark_loaded(
        self, bucket: str, key: str, etag: str, *, records: int, loaded: int, duplicates: int, quarantined: int
    ) -> None:
        """Record the object version and its counts in the ledger."""
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

    def feature_types(self) -> Mapping[str, str]:
        """The feature columns (column name -> Glue type)."""
        self.column_reads += 1
        return self.columns

    def columns_missing(self) -> None:
        """Count the report."""
        self.missing_reports += 1

    def write(self, chunk: LakeChunk) -> None:
        """Keep the file."""
        self.files[chunk.key] = chunk

    @property
    def rows(self) -> int:
        """Rows in every file."""
        return sum(chunk.rows for chunk in self.files.values())


def _hour_and_chunk(item: Item) -> tuple[str, int]:
    prefix, _, chunk = str(item["sk"]["S"]).rpartition("#")
    return prefix, int(chunk)


@dataclass(frozen=True)
class Loaded:
    """What processing one object wrote: its result, every item put (in hour and chunk order) and the quarantine
    object (empty if none was written)."""

    result: ObjectResult
    items: list[Item]
    #: The batches put, in order.
    batches: list[list[Item]]
    quarantine_object: bytes
    #: The objects opened (twice for a screened object).
    reads: int
    #: The lake's files.
    lake: MemoryLake

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
) -> Loaded:
    """Process `body`, stored under `key`, with fresh in-memory ports, as the handler processes an event's object
    (`feature_types`: the lake's feature columns, none by default)."""
    objects, store, lake = MemoryObjectStore(), MemoryPayloadSink(), MemoryLake(dict(feature_types or {}))
    ref = objects.put(bucket, key, body, etag)
    result = process_object(ref, objects=objects, store=store, lake=lake, retention_days=retention_days, limits=limits)
    quarantine = b"".join(objects.quarantine.values())
    put = [item for batch in store.batches for item in batch]
    return Loaded(result, sorted(put, key=_hour_and_chunk), store.batches, quarantine, len(objects.opened), lake)
