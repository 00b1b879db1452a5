"""PayloadStore against moto's server: batch writes under throttling, the object ledger, and the alerting aggregates
read back (`aggregates`, `count`): newest bucket first, across midnight, page by page, bucket-aligned.

Items are built by the payload-ETL's real code (`tests.payload_etl_fakes.load_object`) from payload records.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from autoretrain.emulator import LocalResources
from core.aggregates import Aggregate, aggregate_pk, aggregate_sk, merged
from core.payload_store import PayloadStore, PayloadStoreError, TransientStoreError
from core.records import format_timestamp
from core.retry import RetryPolicy
from tests.payload_etl_fakes import aggregates_of, load_object

pytestmark = pytest.mark.integration

MODEL = "churn"
BUCKET = "payload-bucket"
FIVE = timedelta(minutes=5)


class _Body:
    """The raw body of a canned HTTP response, as botocore reads it."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Any:
        yield self._content


class ThrottleFirstCalls:
    """A botocore `before-send` handler: answers the first `count` BatchWriteItem calls with HTTP 400 throttling."""

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.throttled = 0
        self.passed = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.remaining == 0:
            self.passed += 1
            return None  # send the request to moto
        self.remaining -= 1
        self.throttled += 1
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }
        ).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-RequestId"] = "throttled"
        return AWSResponse(request.url, 400, headers, _Body(body))


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def prediction(request_id: str, moment: datetime, *, score: float = 0.25) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "v1",
        "timestamp": format_timestamp(moment),
        "features": {"x": 1, "plan": "pro"},
        "prediction": {"score": score, "label": int(score >= 0.5)},
        "latency_ms": 12.5,
    }


def jsonl(documents: Sequence[object]) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def items_of(documents: Sequence[dict[str, Any]], *, name: str = "a", model: str = MODEL) -> list[Any]:
    """The aggregate items the ETL writes for one object holding `documents` (one per 5-minute bucket)."""
    loaded = load_object(jsonl(documents), key=f"payloads/model={model}/{name}.jsonl", bucket=BUCKET, etag=f"e-{name}")
    assert loaded.quarantined == []
    return loaded.items


def series(count: int, start: datetime, step: timedelta, *, prefix: str = "r") -> list[dict[str, Any]]:
    return [prediction(f"{prefix}-{index:05d}", start + index * step, score=index % 10 / 10) for index in range(count)]


def items_for(count: int, start: datetime, step: timedelta, *, name: str = "a") -> list[Any]:
    return items_of(series(count, start, step, prefix=name), name=name)


def store(session: boto3.Session, resources: LocalResources, **options: Any) -> PayloadStore:
    return PayloadStore(session.client("dynamodb"), resources.payload_table, **options)


class Queries:
    """A botocore `after-call` handler: the items each Query call returned."""

    def __init__(self) -> None:
        self.pages: list[int] = []

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.pages.append(len(parsed.get("Items", [])))

    @property
    def calls(self) -> int:
        """Query calls made."""
        return len(self.pages)


def counted_store(session: boto3.Session, resources: LocalResources) -> tuple[PayloadStore, Queries]:
    client = session.client("dynamodb")
    queries = Queries()
    client.meta.events.register("after-call.dynamodb.Query", queries)
    return PayloadStore(client, resources.payload_table), queries


def read(payloads: PayloadStore, start: datetime, end: datetime, **options: Any) -> list[tuple[datetime, Aggregate]]:
    return list(payloads.aggregates(MODEL, start, end, **options))


# --- writes --------------------------------------------------------------------------------------------------


def test_throttled_batch_writes_are_retried_until_every_item_lands(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    # botocore's own retries off, so our backoff is what gets the items through.
    client = aws_session.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    throttle = ThrottleFirstCalls(3)
    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle)  # type: ignore[arg-type]
    sleeps = Sleeps()
    payloads = PayloadStore(client, resources.payload_table, sleep=sleeps, rng=random.Random(7))
    start = datetime(2026, 11, 23, tzinfo=UTC)
    items = items_for(60, start, timedelta(hours=1))  # one prediction an hour: 60 buckets, 60 items
    assert len(items) == 60
    calls = payloads.put_items(items)
    assert throttle.throttled == 3
    assert calls == throttle.throttled + throttle.passed == 6  # 3 batches of <= 25, the first one sent 4 times
    assert len(sleeps.delays) == 3
    assert payloads.count(MODEL, start, start + timedelta(days=3)) == 60


def test_throttling_beyond_the_retry_budget_raises_a_transient_error(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    client = aws_session.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(
        "before-send.dynamodb.BatchWriteItem",
        ThrottleFirstCalls(100),  # type: ignore[arg-type]  # the stubs say None; botocore documents a response
    )
    payloads = PayloadStore(client, resources.payload_table, retry=RetryPolicy(max_attempts=3), sleep=Sleeps())
    with pytest.raises(TransientStoreError, match="after 3 attempts"):
        payloads.put_items(items_for(5, datetime(2026, 11, 23, tzinfo=UTC), timedelta(seconds=1)))


def test_putting_an_objects_items_twice_counts_its_predictions_once(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    items = items_for(50, start, timedelta(minutes=30))
    payloads.put_items(items)
    payloads.put_items(items)
    end = start + timedelta(days=2)
    assert payloads.count(MODEL, start, end) == sum(aggregate.rows for _, aggregate in read(payloads, start, end)) == 50


def test_the_ledger_knows_an_object_version_once_it_is_marked_loaded(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources, clock=lambda: 1_700_000_000.0)
    assert payloads.is_loaded("b", "payloads/k.jsonl", "etag-1") is False
    payloads.mark_loaded("b", "payloads/k.jsonl", "etag-1", records=3, loaded=2, duplicates=0, quarantined=1)
    assert payloads.is_loaded("b", "payloads/k.jsonl", "etag-1") is True
    assert payloads.is_loaded("b", "payloads/k.jsonl", "etag-2") is False  # another version of the same key


# --- reading the aggregates ----------------------------------------------------------------------------------

#: Three objects whose records interleave from 23:20 to 00:40 across midnight (two day partitions).
MIDNIGHT = datetime(2026, 11, 23, tzinfo=UTC)


def interleaved() -> dict[str, list[dict[str, Any]]]:
    start = MIDNIGHT - timedelta(minutes=40)
    return {
        name: series(40, start + offset * timedelta(seconds=20), timedelta(minutes=2), prefix=name)
        for offset, name in enumerate(("a", "b", "c"))
    }


def load_interleaved(payloads: PayloadStore) -> dict[datetime, Aggregate]:
    """Put the three objects' items; the aggregates they hold, merged per bucket (what a reader must get back)."""
    items = [item for name, documents in interleaved().items() for item in items_of(documents, name=name)]
    payloads.put_items(items)
    return aggregates_of(items)


def test_aggregates_come_newest_bucket_first_across_midnight_a_buckets_items_together(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads, queries = counted_store(aws_session, resources)
    expected = load_interleaved(payloads)
    start, end = MIDNIGHT - timedelta(minutes=30), MIDNIGHT + timedelta(minutes=30)

    got = read(payloads, start, end)

    buckets = [moment for moment, _ in got]
    assert buckets == sorted(buckets, reverse=True)
    assert (buckets[0], buckets[-1]) == (end - FIVE, start)
    assert sorted(Counter(buckets).values()) == [3] * 12  # each bucket's three items (one per object), together
    merged_back = {moment: merged(a for m, a in got if m == moment) for moment in set(buckets)}
    assert {moment: aggregate.to_json() for moment, aggregate in merged_back.items()} == {
        moment: aggregate.to_json() for moment, aggregate in expected.items() if start <= moment < end
    }
    assert queries.calls == 2  # one Query per UTC day
    assert payloads.count(MODEL, start, end) == sum(aggregate.rows for _, aggregate in got) == 90


def test_a_window_is_start_included_end_excluded_on_bucket_boundaries(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    expected = load_interleaved(payloads)
    for start, end in [
        (MIDNIGHT, MIDNIGHT + FIVE),
        (MIDNIGHT - FIVE, MIDNIGHT),
        (MIDNIGHT - timedelta(hours=2), MIDNIGHT - timedelta(minutes=35)),
        (MIDNIGHT - timedelta(days=1), MIDNIGHT + timedelta(days=1)),
    ]:
        got = {moment for moment, _ in read(payloads, start, end)}
        assert got == {moment for moment in expected if start <= moment < end}, (start, end)
        assert payloads.count(MODEL, start, end) == sum(
            aggregate.rows for moment, aggregate in expected.items() if start <= moment < end
        )


def test_aggregates_are_read_a_page_at_a_time_and_a_reader_that_stops_reads_no_more(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads, queries = counted_store(aws_session, resources)
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    payloads.put_items(items_for(30, start, FIVE))  # 30 buckets, one item each
    end = start + 30 * FIVE

    everything = read(payloads, start, end, page_size=4)
    assert [moment for moment, _ in everything] == [end - (index + 1) * FIVE for index in range(30)]
    assert queries.pages[0] == 4  # the first page: `page_size` items (later pages may grow)
    assert (len(queries.pages) > 1, sum(queries.pages)) == (True, 30)
    assert payloads.count(MODEL, start, end) == 30

    calls = queries.calls
    first = list(itertools.islice(payloads.aggregates(MODEL, start, end, page_size=4), 3))
    assert [moment for moment, _ in first] == [end - FIVE, end - 2 * FIVE, end - 3 * FIVE]
    assert queries.calls == calls + 1


def test_another_models_aggregates_are_not_read(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    other = [prediction("r-1", start) | {"model_name": "fraud"}]
    payloads.put_items(items_of(other, model="fraud"))
    assert read(payloads, start, start + timedelta(days=1)) == []
    assert payloads.count(MODEL, start, start + timedelta(days=1)) == 0
    assert [aggregate.rows for _, aggregate in payloads.aggregates("fraud", start, start + timedelta(days=1))] == [1]


def test_an_empty_or_reversed_window_reads_nothing(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads, queries = counted_store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    payloads.put_items(items_for(10, start, timedelta(minutes=1)))
    assert payloads.count(MODEL, start, start + timedelta(days=1)) == 10  # the data is there
    calls = queries.calls
    assert read(payloads, start, start) == []
    assert read(payloads, start + timedelta(hours=1), start) == []
    assert payloads.count(MODEL, start + timedelta(hours=1), start) == 0
    assert queries.calls == calls


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 11, 23, 10, 1, tzinfo=UTC), datetime(2026, 11, 23, 11, tzinfo=UTC), "not aligned"),
        (datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 11, 0, 30, tzinfo=UTC), "not aligned"),
        (datetime(2026, 11, 23, 10, tzinfo=UTC), datetime(2026, 11, 23, 11, 0, 0, 1000, tzinfo=UTC), "not aligned"),
        (datetime(2026, 11, 23), datetime(2026, 11, 24, tzinfo=UTC), "timezone-aware"),
    ],
    ids=["start off a bucket", "end off a bucket", "end a millisecond off", "naive start"],
)
def test_a_window_off_the_buckets_is_refused(
    aws_session: boto3.Session, resources: LocalResources, start: datetime, end: datetime, message: str
) -> None:
    payloads = store(aws_session, resources)
    with pytest.raises(ValueError, match=message):
        read(payloads, start, end)
    with pytest.raises(ValueError, match=message):
        payloads.count(MODEL, start, end)


@pytest.mark.parametrize(
    "body",
    ["{not json", json.dumps({"format": 99, "rows": 1}), json.dumps({"format": 1, "rows": 1}), None],
    ids=["not JSON", "another format", "fields missing", "no body"],
)
def test_an_unreadable_aggregate_raises_a_store_error_naming_its_item(
    aws_session: boto3.Session, resources: LocalResources, body: str | None
) -> None:
    payloads = store(aws_session, resources)
    moment = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    item: dict[str, Any] = {
        "pk": {"S": aggregate_pk(MODEL, "2026-11-23")},
        "sk": {"S": aggregate_sk(moment, "0" * 32)},
        "rows": {"N": "1"},
    }
    if body is not None:
        item["body"] = {"S": body}
    payloads.put_items([item])
    with pytest.raises(PayloadStoreError, match=f"AGG#{MODEL}#2026-11-23 10:05#0+ is unreadable"):
        read(payloads, moment, moment + FIVE)


def test_a_missing_table_raises_a_store_error_naming_it(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = PayloadStore(aws_session.client("dynamodb"), "no-such-table")
    start, end = datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC)
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        payloads.is_loaded("bucket", "key", "etag")
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        read(payloads, start, end)
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        payloads.count(MODEL, start, end)
