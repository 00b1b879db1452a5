"""One S3 object version -> payload-table items, quarantine entries and a ledger mark. Pure orchestration.

No boto3 and no environment here: the adapters come in as arguments (`ObjectStore`, `PayloadSink` below) and
raise our own errors. Order of effects, chosen so that every step is idempotent and a failure anywhere makes
the whole invocation fail (Lambda retries it) without losing or doubling anything:

1. ledger check: if this bucket/key/ETag was loaded before (S3 delivers at least once), write nothing;
2. read the object (if it was deleted or overwritten since the event, skip it: a newer version has its own event);
3. put its segments in the table in batches of 25 (deterministic keys: a retry re-puts the same items);
4. write the quarantine object (one per source object version, deterministic content: a retry overwrites it);
5. mark the object loaded in the ledger, with its counts.

A bad record never fails the invocation; a transient AWS error always does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from core.layout import UnknownKeyError, quarantine_object_key, record_kind_of
from core.records import RecordKind
from lambdas.payload_etl.extract import QuarantinedLine, Tally, object_batches
from lambdas.payload_etl.models import ObjectRef, ObjectResult, ObjectStatus

if TYPE_CHECKING:
    from core.payload_store import Item

logger = logging.getLogger(__name__)


class ObjectUnavailableError(Exception):
    """The object version named by the event can no longer be read (deleted, or overwritten since)."""


class ObjectStore(Protocol):
    """Reads source objects and writes quarantine objects."""

    def read(self, ref: ObjectRef) -> bytes:
        """The object version's bytes; raises `ObjectUnavailableError` if it is gone or superseded."""
        ...

    def put_quarantine(self, bucket: str, key: str, body: bytes) -> None:
        """Write (or overwrite) one quarantine object."""
        ...


class PayloadSink(Protocol):
    """The payload table, as the ETL uses it (`core.payload_store.PayloadStore`)."""

    def is_loaded(self, bucket: str, key: str, etag: str) -> bool:
        """Whether the ledger holds this object version."""
        ...

    def put_items(self, items: Sequence[Item]) -> int:
        """Put items (retrying), returning the number of calls made."""
        ...

    def mark_loaded(
        self, bucket: str, key: str, etag: str, *, records: int, loaded: int, duplicates: int, quarantined: int
    ) -> None:
        """Record that this object version was loaded."""
        ...


def render_quarantine(ref: ObjectRef, kind: RecordKind | None, lines: Sequence[QuarantinedLine]) -> bytes:
    """The quarantine object: one JSON line per refused record (or one for the whole object), deterministic."""
    entries = (
        json.dumps(
            {
                "source_bucket": ref.bucket,
                "source_key": ref.key,
                "source_etag": ref.etag,
                "record_kind": None if kind is None else kind.value,
                "line": entry.line,
                "reasons": list(entry.reasons),
                "raw": entry.raw,
                "raw_chars": entry.raw_chars,
                "raw_truncated": entry.raw_chars > len(entry.raw),
            },
            ensure_ascii=False,
        )
        for entry in lines
    )
    return ("\n".join(entries) + "\n").encode("utf-8")


def _skipped(ref: ObjectRef, reason: str) -> ObjectResult:
    logger.warning(
        "skipped s3://%s/%s: %s",
        ref.bucket,
        ref.key,
        reason,
        extra={"bucket": ref.bucket, "key": ref.key, "etag": ref.etag, "status": ObjectStatus.SKIPPED.value},
    )
    return ObjectResult(ref.bucket, ref.key, ref.etag, ObjectStatus.SKIPPED, reason=reason)


def process_object(ref: ObjectRef, *, objects: ObjectStore, store: PayloadSink, retention_days: int) -> ObjectResult:
    """Load one object version into the payload table (see the module docstring for the order of effects)."""
    try:
        kind = record_kind_of(ref.key)
    except UnknownKeyError as error:
        return _skipped(ref, str(error))  # e.g. quarantine/ itself: never ours to load, never re-quarantined
    if store.is_loaded(ref.bucket, ref.key, ref.etag):
        logger.info(
            "already loaded s3://%s/%s (%s): nothing written",
            ref.bucket,
            ref.key,
            ref.etag,
            extra={"bucket": ref.bucket, "key": ref.key, "etag": ref.etag, "status": "already_loaded"},
        )
        return ObjectResult(ref.bucket, ref.key, ref.etag, ObjectStatus.ALREADY_LOADED)
    try:
        body = objects.read(ref)
    except ObjectUnavailableError as error:
        return _skipped(ref, str(error))
    tally = Tally()
    write_calls = 0
    for batch in object_batches(body, source=ref, kind=kind, retention_days=retention_days, tally=tally):
        write_calls += store.put_items(batch)
    if tally.quarantined:
        objects.put_quarantine(
            ref.bucket, quarantine_object_key(ref.key, ref.etag), render_quarantine(ref, kind, tally.quarantined)
        )
    store.mark_loaded(
        ref.bucket,
        ref.key,
        ref.etag,
        records=tally.records,
        loaded=tally.loaded,
        duplicates=tally.duplicates,
        quarantined=len(tally.quarantined),
    )
    result = ObjectResult(
        bucket=ref.bucket,
        key=ref.key,
        etag=ref.etag,
        status=ObjectStatus.LOADED,
        records=tally.records,
        loaded=tally.loaded,
        duplicates=tally.duplicates,
        quarantined=len(tally.quarantined),
        blank_lines=tally.blank_lines,
        write_calls=write_calls,
    )
    logger.info(
        "loaded s3://%s/%s: %d loaded, %d duplicates, %d quarantined, %d blank lines skipped",
        ref.bucket,
        ref.key,
        result.loaded,
        result.duplicates,
        result.quarantined,
        result.blank_lines,
        extra={
            "bucket": ref.bucket,
            "key": ref.key,
            "etag": ref.etag,
            "status": result.status.value,
            "record_kind": kind.value,
            "records": result.records,
            "loaded": result.loaded,
            "duplicates": result.duplicates,
            "quarantined": result.quarantined,
            "blank_lines": result.blank_lines,
            "write_calls": write_calls,
        },
    )
    return result
