"""PayloadStore against moto's server: batch writes under throttling, time windows and label joins."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from autoretrain.contracts import RecordKind, format_timestamp
from autoretrain.emulator import LocalResources
from autoretrain.payload_store import PayloadStore, RetryPolicy, TransientStoreError
from lambdas.payload_etl.extract import extract

pytestmark = pytest.mark.integration

MODEL = "churn"


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


def payload_lines(count: int, start: datetime, step: timedelta) -> bytes:
    lines = [
        json.dumps(
            {
                "request_id": f"r-{index:05d}",
                "model_name": MODEL,
                "model_version": "v1",
                "timestamp": format_timestamp(start + index * step),
                "features": {"x": index, "plan": "pro"},
                "prediction": {"score": (index % 100) / 100, "label": index % 2},
            }
        )
        for index in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def items_for(count: int, start: datetime, step: timedelta) -> list[Any]:
    body = payload_lines(count, start, step)
    return extract(body, key=f"payloads/model={MODEL}/dt=x/a.jsonl", kind=RecordKind.PAYLOAD, retention_days=30).items


def test_throttled_batch_writes_are_retried_until_every_item_lands(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    # botocore's own retries off, so our backoff is what gets the items through.
    client = aws_session.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    throttle = ThrottleFirstCalls(3)
    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle)  # type: ignore[arg-type]
    sleeps = Sleeps()
    store = PayloadStore(client, resources.payload_table, sleep=sleeps, rng=random.Random(7))
    start = datetime(2026, 11, 23, tzinfo=UTC)
    calls = store.put_items(items_for(60, start, timedelta(seconds=1)))
    assert throttle.throttled == 3
    assert calls == throttle.throttled + throttle.passed == 6  # 3 batches of <= 25, the first one sent 4 times
    assert len(sleeps.delays) == 3
    assert len(store.query_window(MODEL, start, start + timedelta(days=1))) == 60


def test_throttling_beyond_the_retry_budget_raises_a_transient_error(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    client = aws_session.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(
        "before-send.dynamodb.BatchWriteItem",
        ThrottleFirstCalls(100),  # type: ignore[arg-type]  # the stubs say None; botocore documents a response
    )
    store = PayloadStore(client, resources.payload_table, retry=RetryPolicy(max_attempts=3), sleep=Sleeps())
    with pytest.raises(TransientStoreError, match="after 3 attempts"):
        store.put_items(items_for(5, datetime(2026, 11, 23, tzinfo=UTC), timedelta(seconds=1)))


def test_a_window_spanning_days_returns_exactly_the_rows_inside_it(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    first = datetime(2026, 11, 22, 12, tzinfo=UTC)
    store.put_items(items_for(72, first, timedelta(hours=1)))  # 3 days, one per hour
    start, end = datetime(2026, 11, 22, 20, tzinfo=UTC), datetime(2026, 11, 24, 3, tzinfo=UTC)
    rows = store.query_window(MODEL, start, end)
    expected = [format_timestamp(first + timedelta(hours=hour)) for hour in range(8, 39)]
    assert [row.timestamp for row in rows] == expected  # start included, end excluded, in time order


def test_a_window_count_equals_the_rows_the_window_query_returns(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    first = datetime(2026, 11, 22, 12, tzinfo=UTC)
    store.put_items(items_for(72, first, timedelta(hours=1)))
    start, end = datetime(2026, 11, 22, 20, tzinfo=UTC), datetime(2026, 11, 24, 3, tzinfo=UTC)
    assert store.count_window(MODEL, start, end) == len(store.query_window(MODEL, start, end)) == 31


def test_a_window_query_follows_pagination(aws_session: boto3.Session, resources: LocalResources) -> None:
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    store.put_items(items_for(130, start, timedelta(seconds=10)))
    rows = store.query_window(MODEL, start, start + timedelta(days=1), page_size=25)
    assert [row.request_id for row in rows] == [f"r-{index:05d}" for index in range(130)]


def test_labels_for_more_than_100_requests_are_fetched_in_batches(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    lines = "".join(
        json.dumps(
            {"request_id": f"r-{i:05d}", "model_name": MODEL, "label": i % 2, "observed_at": "2026-12-01T00:00:00Z"}
        )
        + "\n"
        for i in range(0, 250, 2)
    )
    labels = extract(lines.encode(), key=f"labels/model={MODEL}/x.jsonl", kind=RecordKind.LABEL, retention_days=30)
    store.put_items(labels.items)
    found = store.labels_for(MODEL, [f"r-{i:05d}" for i in range(250)])
    assert sorted(found) == [f"r-{i:05d}" for i in range(0, 250, 2)]
    assert found["r-00002"].label == 0


def test_a_naive_window_bound_is_refused(aws_session: boto3.Session, resources: LocalResources) -> None:
    store = PayloadStore(aws_session.client("dynamodb"), resources.payload_table)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.query_window(MODEL, datetime(2026, 11, 23), datetime(2026, 11, 24, tzinfo=UTC))


def test_a_missing_table_raises_a_store_error_naming_it(aws_session: boto3.Session, resources: LocalResources) -> None:
    from autoretrain.payload_store import PayloadStoreError

    store = PayloadStore(aws_session.client("dynamodb"), "no-such-table")
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        store.is_loaded("bucket", "key", "etag")
