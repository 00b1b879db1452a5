"""PayloadStore against moto's server: batch writes under throttling, time windows over segments, label joins."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from autoretrain.emulator import LocalResources
from core.payload_store import (
    LABEL_CLOCK_SKEW,
    PayloadStore,
    PayloadStoreError,
    RetryPolicy,
    TransientStoreError,
)
from core.records import RecordKind, format_timestamp
from tests.payload_etl_fakes import load_object

pytestmark = pytest.mark.integration

MODEL = "churn"
BUCKET = "payload-bucket"
MS = timedelta(milliseconds=1)


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


def prediction(request_id: str, moment: datetime, *, padding: int = 0, version: str = "v1") -> dict[str, Any]:
    features: dict[str, Any] = {"x": 1, "plan": "pro"}
    if padding:
        features["notes"] = "n" * padding
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": version,
        "timestamp": format_timestamp(moment),
        "features": features,
        "prediction": {"score": 0.25, "label": 1},
    }


def label(request_id: str, observed_at: datetime, value: int = 1) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "label": value,
        "observed_at": format_timestamp(observed_at),
    }


def jsonl(documents: Sequence[object]) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def segments(documents: Sequence[object], *, name: str = "a", kind: RecordKind = RecordKind.PAYLOAD) -> list[Any]:
    """The items the ETL builds for one object holding `documents`."""
    prefix = "payloads" if kind is RecordKind.PAYLOAD else "labels"
    body = jsonl(documents)
    key = f"{prefix}/model={MODEL}/dt=x/{name}.jsonl"
    extraction = load_object(body, key=key, bucket=BUCKET, etag=f"etag-{name}", retention_days=30)
    assert extraction.quarantined == []
    return extraction.items


def series(count: int, start: datetime, step: timedelta, *, prefix: str = "r", padding: int = 0) -> list[Any]:
    return [prediction(f"{prefix}-{index:05d}", start + index * step, padding=padding) for index in range(count)]


def items_for(count: int, start: datetime, step: timedelta) -> list[Any]:
    return segments(series(count, start, step))


def store(session: boto3.Session, resources: LocalResources) -> PayloadStore:
    return PayloadStore(session.client("dynamodb"), resources.payload_table)


def inside(documents: Sequence[dict[str, Any]], start: datetime, end: datetime) -> list[tuple[str, str]]:
    """(timestamp, request_id) of the documents in [start, end), in time order."""
    low, high = format_timestamp(start), format_timestamp(end)
    return sorted(
        (document["timestamp"], document["request_id"]) for document in documents if low <= document["timestamp"] < high
    )


# --- writes --------------------------------------------------------------------------------------------------


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
    items = items_for(60, start, timedelta(hours=1))  # one segment an hour: 60 items
    assert len(items) == 60
    calls = store.put_items(items)
    assert throttle.throttled == 3
    assert calls == throttle.throttled + throttle.passed == 6  # 3 batches of <= 25, the first one sent 4 times
    assert len(sleeps.delays) == 3
    assert len(store.query_window(MODEL, start, start + timedelta(days=3))) == 60


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


def test_putting_the_same_segments_twice_stores_each_record_once(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    items = items_for(50, start, timedelta(minutes=30))
    payloads.put_items(items)
    payloads.put_items(items)
    end = start + timedelta(days=2)
    assert payloads.count_window(MODEL, start, end) == len(payloads.query_window(MODEL, start, end)) == 50


# --- time windows --------------------------------------------------------------------------------------------

#: Records every 7 seconds from 22:50 to 02:10 across midnight, padded so that a full hour takes two chunks,
#: written in shuffled order so that each chunk's records are scattered over its whole hour.
SPREAD_START = datetime(2026, 11, 22, 22, 50, tzinfo=UTC)
SPREAD_STEP = timedelta(seconds=7)
SPREAD_COUNT = int(timedelta(hours=3, minutes=20) / SPREAD_STEP)


def spread() -> list[dict[str, Any]]:
    documents = series(SPREAD_COUNT, SPREAD_START, SPREAD_STEP, padding=600)
    random.Random(11).shuffle(documents)
    return documents


def load_spread(payloads: PayloadStore) -> list[dict[str, Any]]:
    documents = spread()
    items = segments(documents)
    assert len(items) > 6  # more than one chunk in some hours
    payloads.put_items(items)
    return documents


#: Windows over the spread, by what they test: `(start, end)` in UTC.
WINDOWS: dict[str, tuple[datetime, datetime]] = {
    name: (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    for name, (start, end) in {
        "mid-hour to mid-hour across midnight": (
            datetime(2026, 11, 22, 23, 17, 33, 500_000),
            datetime(2026, 11, 23, 1, 41, 10),
        ),
        "aligned hours": (datetime(2026, 11, 22, 23), datetime(2026, 11, 23, 1)),
        "aligned days": (datetime(2026, 11, 23), datetime(2026, 11, 24)),
        "one record's millisecond": (datetime(2026, 11, 22, 23, 1, 40), datetime(2026, 11, 22, 23, 1, 40, 1000)),
        "one minute inside an hour": (datetime(2026, 11, 23, 0, 20), datetime(2026, 11, 23, 0, 21, 0, 1000)),
        "across an hour boundary": (datetime(2026, 11, 23, 0, 59, 59, 999_000), datetime(2026, 11, 23, 1, 0, 0, 1000)),
        "starting before the data": (datetime(2026, 11, 20), datetime(2026, 11, 22, 23, 0, 0, 1000)),
        "everything": (datetime(2026, 11, 1), datetime(2026, 12, 1)),
        "before the data": (datetime(2026, 11, 22, 21), datetime(2026, 11, 22, 22, 50)),
        "after the data": (datetime(2026, 11, 23, 2, 10), datetime(2026, 11, 24)),
    }.items()
}


def test_a_window_returns_exactly_its_records_in_time_order(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    documents = load_spread(payloads)
    wrong: dict[str, tuple[int, int]] = {}  # window -> (rows returned, rows expected)
    for name, (start, end) in WINDOWS.items():
        rows = [(row.timestamp, row.request_id) for row in payloads.query_window(MODEL, start, end)]
        if rows != inside(documents, start, end):
            wrong[name] = (len(rows), len(inside(documents, start, end)))
    assert wrong == {}
    assert len(inside(documents, *WINDOWS["one record's millisecond"])) == 1


def test_a_window_count_equals_the_rows_the_window_query_returns(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    documents = load_spread(payloads)
    counts = {
        name: (payloads.count_window(MODEL, start, end), len(payloads.query_window(MODEL, start, end)))
        for name, (start, end) in WINDOWS.items()
    }
    expected = {name: (len(inside(documents, start, end)),) * 2 for name, (start, end) in WINDOWS.items()}
    assert counts == expected


def test_the_window_boundaries_are_start_included_end_excluded(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    first = datetime(2026, 11, 22, 12, tzinfo=UTC)
    payloads.put_items(items_for(72, first, timedelta(hours=1)))  # 3 days, one per hour
    start, end = datetime(2026, 11, 22, 20, tzinfo=UTC), datetime(2026, 11, 24, 3, tzinfo=UTC)
    rows = payloads.query_window(MODEL, start, end)
    expected = [format_timestamp(first + timedelta(hours=hour)) for hour in range(8, 39)]
    assert [row.timestamp for row in rows] == expected


def test_a_row_carries_the_record_as_logged(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    moment = datetime(2026, 11, 23, 10, 0, 0, 123_000, tzinfo=UTC)
    document = prediction("r-1", moment, version="v7") | {"latency_ms": 12.5, "session": "s-9"}
    document["features"] = {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True, "coupon": None}
    document["prediction"] = {"score": 1e-200, "label": 0}
    payloads.put_items(segments([document]))
    (row,) = payloads.query_window(MODEL, moment, moment + MS)
    assert (row.request_id, row.model_name, row.model_version, row.timestamp) == (
        "r-1",
        MODEL,
        "v7",
        "2026-11-23T10:00:00.123Z",
    )
    assert (row.score, row.predicted_label, row.latency_ms) == (1e-200, 0, 12.5)
    assert row.features == document["features"]


def test_a_request_in_two_objects_is_read_once_its_earliest_record_wins(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    later = [prediction("r-1", start + timedelta(hours=2), version="replayed"), prediction("r-2", start + MS)]
    earlier = [prediction("r-1", start + timedelta(minutes=5), version="original"), prediction("r-3", start)]
    payloads.put_items(segments(later, name="later"))
    payloads.put_items(segments(earlier, name="earlier"))
    rows = payloads.query_window(MODEL, start, start + timedelta(days=1))
    assert [(row.request_id, row.model_version) for row in rows] == [
        ("r-3", "v1"),
        ("r-2", "v1"),
        ("r-1", "original"),
    ]


def test_a_window_is_columns_in_time_then_request_id_order_without_duplicates(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    tie = start + timedelta(minutes=30)

    def logged(request_id: str, moment: datetime, version: str, x: int) -> dict[str, Any]:
        document = prediction(request_id, moment, version=version)
        document["features"]["x"] = x
        return document

    # Three objects whose records interleave in time and share timestamps; "r-b" and "r-d" are logged twice.
    first = [logged("r-d", tie, "v1", 1), logged("r-b", tie + MS, "v1", 2), logged("r-z", start, "v1", 3)]
    second = [
        logged("r-c", tie, "v2", 4),
        logged("r-b", tie, "v2", 5),
        logged("r-e", start + timedelta(hours=1), "v2", 6),
    ]
    third = [logged("r-a", tie, "v3", 7), logged("r-d", tie + timedelta(hours=1), "v3", 8)]
    for name, documents in (("first", first), ("second", second), ("third", third)):
        payloads.put_items(segments(documents, name=name))

    rows = payloads.query_window(MODEL, start, start + timedelta(hours=2))

    assert rows.request_id == ["r-z", "r-a", "r-b", "r-c", "r-d", "r-e"]
    assert rows.timestamp == [format_timestamp(start)] + [format_timestamp(tie)] * 4 + [
        format_timestamp(start + timedelta(hours=1))
    ]
    assert rows.model_version == ["v1", "v3", "v2", "v2", "v1", "v2"]  # r-b and r-d: their earliest records
    assert rows.features["x"] == [3, 7, 5, 4, 1, 6]  # every column moved with its row
    assert rows.score == [0.25] * 6
    assert rows.predicted_label == [1] * 6
    assert rows.latency_ms == [None] * 6
    assert [row.request_id for row in rows] == rows.request_id
    assert len(rows) == len(set(rows.request_id)) == 6
    assert payloads.count_window(MODEL, start, start + timedelta(hours=2)) == 8  # duplicates counted twice


def test_absent_and_null_features_survive_a_window_read(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    documents = [prediction(f"r-{index}", start + timedelta(minutes=20 * index)) for index in range(6)]
    del documents[1]["features"]["x"]  # absent in the first hour's segment
    documents[2]["features"]["x"] = None  # null in the first hour's segment
    documents[4]["features"]["coupon"] = "c-1"  # a name first logged in the second hour's segment
    documents[5]["features"]["coupon"] = None
    del documents[5]["features"]["plan"]
    payloads.put_items(segments(documents))

    rows = payloads.query_window(MODEL, start, start + timedelta(hours=3))

    assert [row.features for row in rows] == [document["features"] for document in documents]
    assert rows.features["x"] == [1, None, None, 1, 1, 1]
    assert rows.features["coupon"] == [None, None, None, None, "c-1", None]
    assert rows.absent == {"x": {1}, "coupon": {0, 1, 2, 3}, "plan": {5}}
    # A window that starts after the absent row renumbers the rows that lack a name.
    later = payloads.query_window(MODEL, start + timedelta(minutes=40), start + timedelta(hours=3))
    assert later.request_id == ["r-2", "r-3", "r-4", "r-5"]
    assert later.absent == {"coupon": {0, 1}, "plan": {3}}
    assert [row.features for row in later] == [document["features"] for document in documents[2:]]


def test_records_of_several_objects_come_back_merged_in_time_order(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, 10, tzinfo=UTC)
    odd = series(40, start + timedelta(minutes=1), timedelta(minutes=2), prefix="odd")
    even = series(40, start, timedelta(minutes=2), prefix="even")
    payloads.put_items(segments(odd, name="odd"))
    payloads.put_items(segments(even, name="even"))
    window_start, window_end = start + timedelta(minutes=13), start + timedelta(minutes=61)
    rows = payloads.query_window(MODEL, window_start, window_end)
    assert [(row.timestamp, row.request_id) for row in rows] == inside(odd + even, window_start, window_end)
    assert len(rows) == 48


def test_a_window_query_follows_pagination(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    payloads.put_items(items_for(130, start, timedelta(minutes=40)))  # ~87 hours: 87 segments over 4 days
    rows = payloads.query_window(MODEL, start, start + timedelta(days=5), page_size=4)
    assert [row.request_id for row in rows] == [f"r-{index:05d}" for index in range(130)]


def test_another_models_records_are_not_in_the_window(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    documents = [prediction("r-1", start) | {"model_name": "fraud"}]
    body = jsonl(documents)
    other = load_object(body, key="payloads/model=fraud/a.jsonl", bucket=BUCKET, etag="etag", retention_days=30)
    payloads.put_items(other.items)
    assert list(payloads.query_window(MODEL, start, start + timedelta(days=1))) == []
    assert payloads.count_window(MODEL, start, start + timedelta(days=1)) == 0
    assert len(payloads.query_window("fraud", start, start + timedelta(days=1))) == 1


def test_an_empty_or_reversed_window_is_empty(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    start = datetime(2026, 11, 23, tzinfo=UTC)
    payloads.put_items(items_for(10, start, timedelta(minutes=1)))
    assert len(payloads.query_window(MODEL, start, start + timedelta(days=1))) == 10  # the data is there
    assert list(payloads.query_window(MODEL, start, start)) == []
    assert list(payloads.query_window(MODEL, start + timedelta(hours=1), start)) == []
    assert payloads.count_window(MODEL, start + timedelta(hours=1), start) == 0


def test_a_naive_window_bound_is_refused(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    with pytest.raises(ValueError, match="timezone-aware"):
        payloads.query_window(MODEL, datetime(2026, 11, 23), datetime(2026, 11, 24, tzinfo=UTC))


def test_a_missing_table_raises_a_store_error_naming_it(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = PayloadStore(aws_session.client("dynamodb"), "no-such-table")
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        payloads.is_loaded("bucket", "key", "etag")
    with pytest.raises(PayloadStoreError, match="no-such-table"):
        payloads.query_window(MODEL, datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 24, tzinfo=UTC))


# --- labels --------------------------------------------------------------------------------------------------

WINDOW_START = datetime(2026, 11, 23, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 24, tzinfo=UTC)


def put_labels(payloads: PayloadStore, documents: Sequence[object], name: str) -> None:
    payloads.put_items(segments(documents, name=name, kind=RecordKind.LABEL))


def test_labels_between_returns_every_label_observed_in_the_range(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    first = datetime(2026, 12, 1, tzinfo=UTC)
    documents = [label(f"r-{i:05d}", first + i * timedelta(minutes=47), i % 2) for i in range(0, 250, 2)]
    put_labels(payloads, documents, "many")
    start, end = first + timedelta(hours=10), first + timedelta(days=3, hours=5)
    found = payloads.labels_between(MODEL, start, end)
    expected = {
        document["request_id"]
        for document in documents
        if format_timestamp(start) <= document["observed_at"] < format_timestamp(end)
    }
    assert set(found) == expected
    assert 20 < len(expected) < 125
    assert found["r-00014"].label == 0
    assert found["r-00014"].observed_at == format_timestamp(first + 14 * timedelta(minutes=47))


@pytest.mark.parametrize("order", ["earlier first", "later first"])
def test_the_later_observed_label_wins_whatever_the_load_order(
    aws_session: boto3.Session, resources: LocalResources, order: str
) -> None:
    payloads = store(aws_session, resources)
    hour = WINDOW_START + timedelta(hours=10)
    payloads.put_items(segments([prediction("r-1", WINDOW_START), prediction("r-2", WINDOW_START + MS)]))
    # r-1: corrected two days later. r-2: corrected within the hour, by an object whose segment starts later
    # than the segment holding the correction (segments are read in the order of their first label).
    earlier = [label("r-1", WINDOW_START + timedelta(hours=5), 0), label("r-2", hour + timedelta(minutes=50), 1)]
    earlier.append(label("r-x", hour + timedelta(minutes=5)))
    later = [label("r-1", WINDOW_START + timedelta(days=2), 1), label("r-2", hour + timedelta(minutes=20), 0)]
    later.append(label("r-y", hour + timedelta(minutes=10)))
    loads = [("a", earlier), ("b", later)]
    for name, documents in loads if order == "earlier first" else reversed(loads):
        put_labels(payloads, documents, name)
    found = payloads.labels_between(MODEL, WINDOW_START, WINDOW_START + timedelta(days=5))
    assert (found["r-1"].label, found["r-1"].observed_at) == (1, format_timestamp(WINDOW_START + timedelta(days=2)))
    assert (found["r-2"].label, found["r-2"].observed_at) == (1, format_timestamp(hour + timedelta(minutes=50)))
    rows = payloads.labelled_window(MODEL, WINDOW_START, WINDOW_END, labels_until=WINDOW_START + timedelta(days=5))
    assert [row.label for row in rows] == [found["r-1"], found["r-2"]]
    assert rows.predictions.request_id == ["r-1", "r-2"]
    assert rows.label == [1, 1]
    assert rows.observed_at == [
        format_timestamp(WINDOW_START + timedelta(days=2)),
        format_timestamp(hour + timedelta(minutes=50)),
    ]


def test_a_label_is_joined_as_of_labels_until(aws_session: boto3.Session, resources: LocalResources) -> None:
    payloads = store(aws_session, resources)
    until = WINDOW_END + timedelta(days=2)
    payloads.put_items(
        segments([prediction(f"r-{index}", WINDOW_START + timedelta(hours=index)) for index in range(4)])
    )
    put_labels(
        payloads,
        [
            label("r-0", until - MS, 1),  # just before: joined
            label("r-1", until, 1),  # at labels_until: not yet
            label("r-2", until + timedelta(days=3), 1),  # long after: not yet
            label("r-3", WINDOW_END, 0),  # joined, and not replaced by the correction after labels_until
        ],
        "first",
    )
    put_labels(payloads, [label("r-3", until + timedelta(hours=1), 1)], "correction")
    rows = payloads.labelled_window(MODEL, WINDOW_START, WINDOW_END, labels_until=until)
    joined = {row.prediction.request_id: None if row.label is None else row.label.label for row in rows}
    assert joined == {"r-0": 1, "r-1": None, "r-2": None, "r-3": 0}
    assert rows.predictions.request_id == ["r-0", "r-1", "r-2", "r-3"]
    assert rows.label == [1, None, None, 0]
    assert rows.observed_at == [format_timestamp(until - MS), None, None, format_timestamp(WINDOW_END)]
    matured = rows.labelled_by(format_timestamp(WINDOW_END))
    assert (matured.predictions.request_id, matured.label) == (["r-3"], [0])


def test_a_label_observed_more_than_the_clock_skew_before_the_window_is_not_joined(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    payloads.put_items(
        segments([prediction(f"r-{index}", WINDOW_START + timedelta(hours=index)) for index in range(4)])
    )
    earliest = WINDOW_START - LABEL_CLOCK_SKEW
    put_labels(
        payloads,
        [
            label("r-0", earliest - MS),  # too early: a label of some other, older request
            label("r-1", earliest),  # at the limit: joined
            label("r-2", WINDOW_START - timedelta(minutes=5)),  # the labeller's clock runs a little fast: joined
            label("r-3", earliest - timedelta(days=3)),
        ],
        "skewed",
    )
    rows = payloads.labelled_window(MODEL, WINDOW_START, WINDOW_END, labels_until=WINDOW_END + timedelta(days=1))
    assert [row.prediction.request_id for row in rows if row.label is not None] == ["r-1", "r-2"]


def test_labels_of_requests_outside_the_window_are_not_returned(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    payloads.put_items(segments([prediction("r-in", WINDOW_START), prediction("r-out", WINDOW_END)]))
    put_labels(payloads, [label("r-in", WINDOW_END), label("r-out", WINDOW_END)], "labels")
    rows = payloads.labelled_window(MODEL, WINDOW_START, WINDOW_END, labels_until=WINDOW_END + timedelta(days=1))
    assert [(row.prediction.request_id, row.label is not None) for row in rows] == [("r-in", True)]


def test_windows_and_labels_across_month_and_year_boundaries(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    payloads = store(aws_session, resources)
    moments = [datetime(2026, 12, 31, 23, 50, tzinfo=UTC), datetime(2027, 1, 1, 0, 10, tzinfo=UTC)]
    moments += [datetime(2027, 1, 31, 23, 59, tzinfo=UTC), datetime(2027, 2, 1, 0, 0, tzinfo=UTC)]
    documents = [prediction(f"m-{index}", moment) for index, moment in enumerate(moments)]
    payloads.put_items(segments(documents))
    put_labels(
        payloads, [label(f"m-{index}", moment + timedelta(minutes=5)) for index, moment in enumerate(moments)], "l"
    )

    start, end = datetime(2026, 12, 31, 23, 0, tzinfo=UTC), datetime(2027, 2, 1, 0, 0, 1, tzinfo=UTC)
    assert [row.request_id for row in payloads.query_window(MODEL, start, end)] == ["m-0", "m-1", "m-2", "m-3"]
    assert payloads.count_window(MODEL, start, end) == 4
    assert [row.request_id for row in payloads.query_window(MODEL, moments[1], moments[3])] == ["m-1", "m-2"]
    joined = payloads.labelled_window(MODEL, start, end, labels_until=end + timedelta(hours=1))
    assert [row.label is not None for row in joined] == [True, True, True, True]
