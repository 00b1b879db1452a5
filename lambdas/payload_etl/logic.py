"""One S3 object version -> lake files, alerting aggregates, quarantine entries and a ledger mark. Pure
orchestration.

No boto3 and no environment here: the adapters come in as arguments (`ObjectStore`, `PayloadSink`, `LakeSink`,
`BaselineSource` below) and raise our own errors; the limits (`EtlLimits`, from the function's memory) too. Order of
effects, chosen so that every step is idempotent and a failure anywhere makes the whole invocation fail (Lambda
retries it) without losing or doubling anything:

1. ledger check: if this bucket/key/ETag was loaded before (S3 delivers at least once), write nothing;
2. open the object (if it was deleted or overwritten since the event, skip it: a newer version has its own event).
   One stored larger than the limit is not read. One that may pass a limit (a gzip object, whose size once
   decompressed is unknown; a plain one with more bytes than lines allowed) is screened first: read once, to its
   end or to the first limit it passes, then, if within the limits, opened again to be loaded. One past a limit
   is quarantined as a whole: nothing of it is written, and it never fails the invocation;
3. stream it, putting its loaded records in the lake, one Parquet file per day and chunk as they fill
   (`extract.LakeRows`; deterministic keys: a retry overwrites the same files) and, a payload object, summarising
   them per 5-minute bucket against their versions' baselines (`extract.ObjectAggregates`). A payload object's
   feature columns come from the lake's catalog first (cached by the adapter for a few minutes);
4. put the aggregates, the object's refused records counted in its arrival's bucket (deterministic keys from the
   bucket and the object version: a retry re-puts the same items, with the same content);
5. write the quarantine object (one per source object version, deterministic content: a retry overwrites it): a
   summary that counts every refused record, then its first entries in full, up to the caps;
6. mark the object loaded in the ledger, with its counts: only once its lake files and aggregates are written, so
   a crash before the mark writes them again on the retry.

A bad record or object never fails the invocation; a transient AWS error always does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from core.aggregates import Judge
from core.lake import source_digest
from core.layout import UnknownKeyError, is_model_name, model_partition_of, quarantine_object_key, record_kind_of
from core.quarantine import QuarantineEntry, QuarantineSource, QuarantineTotals
from core.records import RecordKind
from lambdas.payload_etl.extract import (
    GZIP_MAGIC,
    LakeRows,
    ObjectAggregates,
    QuarantineLog,
    Tally,
    load_object,
    needs_screening,
    peek,
    screen_object,
    stored_size_refusal,
)
from lambdas.payload_etl.limits import DEFAULT_LIMITS, EtlLimits
from lambdas.payload_etl.models import LakeChunk, LakeOutput, ObjectBody, ObjectRef, ObjectResult, ObjectStatus

if TYPE_CHECKING:
    from core.payload_store import Item

logger = logging.getLogger(__name__)


class ObjectUnavailableError(Exception):
    """The object version named by the event can no longer be read (deleted, or overwritten since)."""


class ObjectStore(Protocol):
    """Reads source objects and writes quarantine objects."""

    def open(self, ref: ObjectRef, piece_bytes: int) -> AbstractContextManager[ObjectBody]:
        """The object version, streamed in pieces of at most `piece_bytes`; raises `ObjectUnavailableError` if it
        is gone or superseded."""
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


class BaselineSource(Protocol):
    """The monitoring baselines of the model versions in the model bucket (`core.baseline`)."""

    def judge(self, model_name: str, version: str) -> Judge | None:
        """The version's baseline as the aggregates judge records against it; None if it cannot be read (the
        version's rows are then counted with their scores only)."""
        ...


class LakeSink(Protocol):
    """The payload lake (`core.lake`), as the ETL writes it (`lambdas.payload_etl.lake.S3Lake`)."""

    def feature_types(self) -> Mapping[str, str]:
        """The predictions table's feature columns (column name -> Glue type), as the catalog held them at most a
        few minutes ago."""
        ...

    def columns_missing(self) -> None:
        """Records carried a feature without a column: read the catalog again sooner (a release may have added it)."""
        ...

    def write(self, chunk: LakeChunk) -> None:
        """Write (or overwrite) one Parquet file."""
        ...


def render_quarantine(ref: ObjectRef, kind: RecordKind | None, log: QuarantineLog) -> bytes:
    """The quarantine object (`core.quarantine`), deterministic: first the summary line, which counts every refused
    record (`quarantined`, `listed`, `omitted`), them by reason and those with a non-finite feature, then one JSON
    line per listed refused record (or one for the whole object)."""
    source = QuarantineSource(ref.bucket, ref.key, ref.etag, kind)
    totals = QuarantineTotals(
        source,
        quarantined=log.count,
        listed=len(log.entries),
        omitted=log.omitted,
        reason_counts=log.reason_counts,
        other_reasons=log.other_reasons,
        non_finite_records=log.non_finite_records,
        non_finite_by_feature=log.non_finite_by_feature,
        other_non_finite_features=log.other_non_finite_features,
    )
    lines = [totals.to_json()]
    lines += (
        QuarantineEntry(source, entry.line, entry.reasons, entry.raw, entry.raw_chars).to_json()
        for entry in log.entries
    )
    return ("\n".join(lines) + "\n").encode("utf-8")


def _skipped(ref: ObjectRef, reason: str) -> ObjectResult:
    logger.warning(
        "skipped s3://%s/%s: %s",
        ref.bucket,
        ref.key,
        reason,
        extra={"bucket": ref.bucket, "key": ref.key, "etag": ref.etag, "status": ObjectStatus.SKIPPED.value},
    )
    return ObjectResult(ref.bucket, ref.key, ref.etag, ObjectStatus.SKIPPED, reason=reason)


def _load(
    ref: ObjectRef,
    kind: RecordKind,
    *,
    objects: ObjectStore,
    limits: EtlLimits,
    tally: Tally,
    lake: LakeRows,
    aggregates: ObjectAggregates,
) -> None:
    """Screen the object if it needs it, then stream it into the lake and the aggregates."""

    def load(chunks: Iterable[bytes]) -> None:
        load_object(chunks, source=ref, kind=kind, tally=tally, limits=limits, lake=lake, aggregates=aggregates)

    with objects.open(ref, limits.read_bytes) as body:
        refusal = stored_size_refusal(body.size, limits)
        if refusal is None:
            head, chunks = peek(body.chunks, len(GZIP_MAGIC))
            if not needs_screening(head, body.size, limits):
                load(chunks)
                return
            refusal = screen_object(chunks, limits=limits)
    if refusal is not None:
        tally.quarantine.refuse_object(refusal)
        return
    with objects.open(ref, limits.read_bytes) as body:  # within the limits: read it again, to load it
        load(body.chunks)


def process_object(  # the ports, the settings and the object
    ref: ObjectRef,
    *,
    objects: ObjectStore,
    store: PayloadSink,
    lake: LakeSink,
    baselines: BaselineSource,
    retention_days: int,
    limits: EtlLimits = DEFAULT_LIMITS,
) -> ObjectResult:
    """Load one object version into the lake and the alerting aggregates (see the module docstring for the order of
    effects)."""
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
    tally = Tally.for_limits(limits)
    feature_types = lake.feature_types() if kind is RecordKind.PAYLOAD else {}
    rows = LakeRows(ref, kind, LakeOutput(feature_types, lake.write), limits)
    model_name = model_partition_of(ref.key) or ""
    aggregates = ObjectAggregates(lambda version: baselines.judge(model_name, version))
    try:
        _load(ref, kind, objects=objects, limits=limits, tally=tally, lake=rows, aggregates=aggregates)
    except ObjectUnavailableError as error:
        return _skipped(ref, str(error))
    if rows.unknown_features:
        lake.columns_missing()
    write_calls = 0
    if kind is RecordKind.PAYLOAD and is_model_name(model_name):
        aggregates.add_refused(tally.quarantine, ref.arrival_epoch)
        write_calls = store.put_items(
            aggregates.items(model_name, source_digest(ref.bucket, ref.key, ref.etag), retention_days)
        )
    quarantined = tally.quarantine.count
    if quarantined:
        objects.put_quarantine(
            ref.bucket, quarantine_object_key(ref.key, ref.etag), render_quarantine(ref, kind, tally.quarantine)
        )
    store.mark_loaded(
        ref.bucket,
        ref.key,
        ref.etag,
        records=tally.records,
        loaded=tally.loaded,
        duplicates=tally.duplicates,
        quarantined=quarantined,
    )
    result = ObjectResult(
        bucket=ref.bucket,
        key=ref.key,
        etag=ref.etag,
        status=ObjectStatus.LOADED,
        records=tally.records,
        loaded=tally.loaded,
        duplicates=tally.duplicates,
        quarantined=quarantined,
        blank_lines=tally.blank_lines,
        write_calls=write_calls,
        lake_files=rows.files,
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
            "quarantine_omitted": tally.quarantine.omitted,
            "blank_lines": result.blank_lines,
            "write_calls": write_calls,
            "lake_files": rows.files,
            "lake_unparsed_records": rows.unparsed_records,
        },
    )
    return result
