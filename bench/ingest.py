"""Ingest at volume: a load generator on loopback through serving's payload log into Firehose (moto's server), the
payload-ETL's DynamoDB writes per object, and what one alerting run reads at 10 million predictions a day.

- Sustained rate: sender threads call serving's own payload log (`lambdas.serving.adapters.PayloadLog`: one
  `PutRecordBatch` per invocation of `INSTANCES_PER_REQUEST` predictions) as fast as the emulator answers, for
  `PREDICTIONS` predictions; the rate is predictions per wall second, against the 5,000 a second the issue asks for.
  moto writes each call as one S3 object at once; it does not throttle, so this shows the path's own capacity on this
  machine. AWS's side is a quota: a Direct PUT stream in us-east-1 takes 500,000 records, 2,000 requests and 5 MiB
  a second by default (other regions: 100,000, 1,000 and 1 MiB) — 5,000 predictions a second of about 600 bytes
  are 3 MB/s, within it when callers send 3 or more predictions a request (or with a quota increase).
- DynamoDB writes per partition: the ETL loads a sample of the delivered objects (the real handler, with the
  version's baseline in the model bucket); each object writes its aggregate items (one per 5-minute bucket it
  touches) and a ledger item. In AWS, Firehose writes one object per buffer (`ingest_buffer_seconds` 60 s or
  `ingest_buffer_mb` 64 MB, whichever fills first), so at a rate R the day's aggregate partition
  (`AGG#<model>#<day>`) takes objects/s x items/object x write units/item; DynamoDB sustains 1,000 write units a
  second per partition. The figure is that limit over the measured need (headroom; target >= 10).
- Alerting reads at 10 M/day: the payload table is filled with the items the ETL writes at that rate (one object a
  minute, each item a body measured above), for the run's window and the same window on each of 7 previous days;
  one run's reads (`choose_window` over `PayloadStore.aggregates`, then the history counts) are counted in items.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from autoretrain.emulator import Emulator, patched_environ, provision
from autoretrain.local_runner import S3NotificationPump
from bench import Metric
from bench.etl import JUDGE, synthetic_lines
from core.aggregates import BUCKET, Aggregate, aggregate_pk, aggregate_sk, bucket_start
from core.baseline import MonitoringBaseline
from core.layout import BASELINE_FILE, model_version_prefix
from core.payload_store import Item, PayloadStore
from lambdas.alerting.logic import choose_window
from lambdas.alerting.models import AlertPolicy

NAME = "ingest"
DESCRIPTION = "Firehose load generator (5,000 predictions/s), ETL writes per partition, alerting reads at 10M/day"
MODEL = "churn"
VERSION = "20261120T030000Z-ab12cd"
PREDICTIONS = 60_000
INSTANCES_PER_REQUEST = 100
SENDERS = 4
TARGET_RATE = 5_000.0
SAMPLE_OBJECTS = 8
PARTITION_WRITE_UNITS = 1_000.0
BUFFER_SECONDS = 60.0
BUFFER_BYTES = 64 * 1024 * 1024
PER_DAY_10M = 10_000_000
HISTORY_DAYS = 7
MAX_ALERT_ITEMS = 300


def _baseline() -> MonitoringBaseline:
    """The baseline of the synthetic lines' version (`bench.etl.JUDGE`'s features)."""
    features = [
        {"name": name, "kind": "numeric" if numeric else "categorical", "nullable": True, "missing_rate": 0.0}
        | ({} if numeric else {"categories": sorted(categories)})
        for name, numeric, categories in JUDGE.specs
    ]
    return MonitoringBaseline.from_json(
        {
            "model_name": MODEL,
            "model_version": VERSION,
            "decision_threshold": 0.5,
            "positive_rate": 0.3,
            "score_mean": 0.5,
            "score_std": 0.29,
            "n_reference": 10_000,
            "features": features,
            "latency_ms_p99": None,
        }
    )


def _send_all(session: boto3.Session, stream: str, lines: list[bytes]) -> float:
    """Send every line through serving's payload log from `SENDERS` threads; the wall seconds it took."""
    from lambdas.serving.adapters import PayloadLog  # noqa: PLC0415  # the serving image's module, loaded on use

    batches = [lines[start : start + INSTANCES_PER_REQUEST] for start in range(0, len(lines), INSTANCES_PER_REQUEST)]
    errors: list[BaseException] = []

    def sender(mine: list[list[bytes]]) -> None:
        log = PayloadLog(session.client("firehose"), stream)
        try:
            for batch in mine:
                log.write(batch)
        except BaseException as error:  # reported below: the bench fails
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(batches[index::SENDERS],)) for index in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"the load generator's calls failed: {errors[0]}")
    return elapsed


def _etl_sample(session: boto3.Session, bucket: str, table: str) -> tuple[list[Mapping[str, Any]], int]:
    """Load `SAMPLE_OBJECTS` of the delivered objects with the real ETL handler; the aggregate items they wrote."""
    from lambdas.payload_etl import handler, reset_cold_start  # noqa: PLC0415

    reset_cold_start()
    pump = S3NotificationPump(session.client("s3"), bucket, (f"payloads/model={MODEL}/",))
    events = list(pump.new_events())[:SAMPLE_OBJECTS]
    for event in events:
        result = handler(event, None)
        if result["objects"][0]["quarantined"]:
            raise RuntimeError(f"the ETL quarantined records of the bench's own lines: {result}")
    dynamodb = session.client("dynamodb")
    items: list[Mapping[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        items += [item for item in page["Items"] if item["pk"]["S"].startswith("AGG#")]
    return items, len(events)


def _write_units(item: Mapping[str, Any]) -> int:
    """DynamoDB write units of one item (1 per KB, attribute names and values counted)."""
    size = sum(len(name) + len(json.dumps(value)) for name, value in item.items())
    return max(1, math.ceil(size / 1024))


class _CountingStore(PayloadStore):
    """The payload store, counting the items its queries return (what DynamoDB bills a read for)."""

    items_read = 0
    queries = 0

    def _query(self, request: Any) -> Iterator[Mapping[str, Any]]:
        self.queries += 1
        for item in super()._query(request):
            self.items_read += 1
            yield item


def _minute_at_10m() -> Aggregate:
    """The aggregate of one Firehose object at 10 M/day: a minute of predictions (the synthetic lines)."""
    aggregate = Aggregate()
    for line in synthetic_lines(PER_DAY_10M // (24 * 60), seed=7):
        document = json.loads(line)
        prediction = document["prediction"]
        aggregate.add(
            VERSION, prediction["score"], prediction["label"], document["latency_ms"], document["features"], JUDGE
        )
    return aggregate


def _fill_10m(session: boto3.Session, table: str, minute: Aggregate, end: datetime) -> None:
    """Aggregate items as the ETL writes them at 10 M/day (one object a minute: 5 per bucket), for the hour before
    `end` on the run's day and each history day."""
    store = PayloadStore(session.client("dynamodb"), table)
    rows, body = minute.rows, minute.dumps()
    starts = [
        end - timedelta(days=day) - BUCKET * (bucket + 1) for day in range(HISTORY_DAYS + 1) for bucket in range(12)
    ]
    items: list[Item] = [
        {
            "pk": {"S": aggregate_pk(MODEL, f"{start:%Y-%m-%d}")},
            "sk": {"S": aggregate_sk(start, uuid.uuid4().hex)},
            "rows": {"N": str(rows)},
            "body": {"S": body},
            "expires_at": {"N": "4102444800"},
        }
        for start in starts
        for _source in range(5)
    ]
    store.put_items(items)


def run() -> list[Metric]:
    """Measure and return the figures."""
    # Time-ordered, as traffic arrives: an object then spans a minute or two, not the day.
    ordered = sorted(synthetic_lines(PREDICTIONS), key=lambda line: json.loads(line)["timestamp"])
    lines = [f"{line}\n".encode() for line in ordered]
    line_bytes = sum(len(line) for line in lines) / len(lines)
    emulator = Emulator()
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            session = boto3.session.Session()
            resources = provision(session, prefix=f"bench{uuid.uuid4().hex[:8]}", model_name=MODEL)
            with patched_environ(resources.environment(MODEL)):
                session.client("s3").put_object(
                    Bucket=resources.model_bucket,
                    Key=f"{model_version_prefix(MODEL, VERSION)}{BASELINE_FILE}",
                    Body=_baseline().dumps().encode(),
                )
                elapsed = _send_all(session, resources.payload_stream, lines)
                items, objects = _etl_sample(session, resources.payload_bucket, resources.payload_table)
                units = [_write_units(item) for item in items]
                minute = _minute_at_10m()
                end = bucket_start(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
                _fill_10m(session, resources.payload_table, minute, end)
                store = _CountingStore(session.client("dynamodb"), resources.payload_table)
                policy = AlertPolicy(history_days=HISTORY_DAYS)
                window = choose_window(store.aggregates(MODEL, end - policy.max_window, end), end, policy)
                for day in range(1, HISTORY_DAYS + 1):
                    store.count(MODEL, window.start - timedelta(days=day), end - timedelta(days=day))
    finally:
        emulator.stop()
    rate = PREDICTIONS / elapsed
    # At the target rate, Firehose flushes a buffer every `flush` seconds; each object writes `items/object` items.
    flush = min(BUFFER_SECONDS, BUFFER_BYTES / (TARGET_RATE * line_bytes))
    items_per_object = len(items) / max(objects, 1)
    peak_units = (1.0 / flush) * items_per_object * max(units) + 1.0 / flush  # + the ledger item
    return [
        Metric(
            "sustained rate / 5,000 a second",
            rate / TARGET_RATE,
            "",
            target=1.0,
            note=f"{rate:,.0f} predictions/s on loopback: {PREDICTIONS:,} in {INSTANCES_PER_REQUEST}-instance requests"
            f" from {SENDERS} threads, {line_bytes:.0f} B a prediction",
        ),
        Metric(
            "aggregate items per object",
            items_per_object,
            "",
            note=f"{len(items)} items from {objects} objects of {INSTANCES_PER_REQUEST} time-ordered predictions; "
            f"largest {max(units)} write unit(s)",
        ),
        Metric(
            "partition write headroom at 5,000/s",
            PARTITION_WRITE_UNITS / peak_units,
            "x",
            target=10.0,
            note=f"one object per {flush:.0f} s (buffer {BUFFER_SECONDS:.0f} s / {BUFFER_BYTES >> 20} MB): "
            f"{peak_units:.2f} write units/s on the day's partition, of 1,000",
        ),
        Metric(
            "items one alerting run reads at 10M/day",
            float(store.items_read),
            "items",
            target=MAX_ALERT_ITEMS + 1,
            higher_is_better=False,
            note=f"{store.queries} queries; window {round((window.end - window.start) / timedelta(minutes=1))} min "
            f"with {window.summary.rows:,} predictions, {HISTORY_DAYS} history days",
        ),
    ]
