"""The payload table adapter: what the payload-ETL writes (the alerting aggregates, `core.aggregates`, and the
object ledger `pk=OBJECT#<bucket>/<key>`, `sk=<etag>`, written after an object version was fully loaded and checked
before reading one, so a redelivered object writes nothing) and what the alerting Lambda reads.

Reads never scan: a window's aggregates are one `Query` per UTC day, newest bucket first, a page at a time; a
count reads only the items' `rows`. Predictions and labels themselves live in the lake (`core.lake`), where the jobs
read them.

Standard library and botocore only: the payload-ETL Lambda ships this module in its zip.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from core.aggregates import BUCKET, Aggregate, AggregateFormatError, aggregate_pk, bucket_start
from core.records import format_timestamp
from core.retry import RetryPolicy
from core.tables import object_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef

    Item = dict[str, AttributeValueTypeDef]
else:
    Item = dict

T = TypeVar("T")

#: The largest page an aggregates query asks for.
MAX_PAGE_ITEMS = 400
#: DynamoDB's limit per BatchWriteItem call.
WRITE_BATCH_SIZE = 25

#: Error codes that mean "try again later" rather than "this request is wrong".
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)


class PayloadStoreError(RuntimeError):
    """A payload-table request failed in a way retrying will not fix (bad request, missing table, access)."""


class TransientStoreError(PayloadStoreError):
    """The table throttled or failed transiently and our bounded retries ran out; the caller should fail so that
    the whole invocation is retried later."""


class ThrottledError(Exception):
    """A `send` function's whole request was throttled; the retry loop resends the same batch."""


DEFAULT_RETRY = RetryPolicy()


def send_until_done(
    pending: list[T],
    send: Callable[[list[T]], list[T]],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    rng: random.Random,
    what: str = "items",
) -> int:
    """Call `send(pending)` until it returns nothing left unprocessed; return the number of calls made.

    `send` returns the part of its batch that was not processed (DynamoDB's UnprocessedItems or UnprocessedKeys),
    or raises `ThrottledError` when the whole request was throttled. Between calls it sleeps per `policy`; when
    `policy.max_attempts` calls leave work unprocessed it raises `TransientStoreError`.
    """
    attempts = 0
    while True:
        attempts += 1
        with contextlib.suppress(ThrottledError):  # throttled: the whole batch is still pending
            pending = send(pending)
        if not pending:
            return attempts
        if attempts >= policy.max_attempts:
            raise TransientStoreError(f"{len(pending)} {what} still unprocessed after {attempts} attempts")
        sleep(policy.delay(attempts, rng))


def _chunks(values: Sequence[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class PayloadStore:
    """Writes and reads the payload table through a low-level DynamoDB client (`boto3.client("dynamodb")`)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        ledger_retention_days: int = 30,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retry = retry
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # noqa: S311  # jitter, not security
        self._clock = clock
        self._ledger_retention_days = ledger_retention_days

    @property
    def table_name(self) -> str:
        """The physical table name."""
        return self._table

    # --- writes ---------------------------------------------------------------------------------------------

    def put_items(self, items: Sequence[Item]) -> int:
        """Put items in batches of 25, retrying unprocessed items and throttling; return the number of calls.

        Items must have distinct keys (DynamoDB refuses a batch that repeats one). Raises `TransientStoreError`
        when retries run out and `PayloadStoreError` on a request DynamoDB refuses.
        """
        calls = 0
        for batch in _chunks(items, WRITE_BATCH_SIZE):
            calls += send_until_done(
                batch, self._send_writes, policy=self._retry, sleep=self._sleep, rng=self._rng, what="writes"
            )
        return calls

    def _send_writes(self, batch: list[Item]) -> list[Item]:
        try:
            response = self._client.batch_write_item(
                RequestItems={self._table: [{"PutRequest": {"Item": item}} for item in batch]}
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in TRANSIENT_ERROR_CODES:
                raise ThrottledError(str(error)) from error
            raise PayloadStoreError(f"BatchWriteItem on {self._table} failed: {error}") from error
        except BotoCoreError as error:
            raise TransientStoreError(f"BatchWriteItem on {self._table} failed: {error}") from error
        unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
        return [request["PutRequest"]["Item"] for request in unprocessed if "PutRequest" in request]

    def is_loaded(self, bucket: str, key: str, etag: str) -> bool:
        """Whether this object version was already loaded (a strongly consistent read of the ledger)."""
        response = self._call(
            "GetItem",
            lambda: self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": object_pk(bucket, key)}, "sk": {"S": etag}},
                ConsistentRead=True,
                ProjectionExpression="pk",
            ),
        )
        return "Item" in response

    def mark_loaded(
        self, bucket: str, key: str, etag: str, *, records: int, loaded: int, duplicates: int, quarantined: int
    ) -> None:
        """Record that an object version was loaded, with its counts; the entry expires like the data."""
        now = self._clock()
        item: Item = {
            "pk": {"S": object_pk(bucket, key)},
            "sk": {"S": etag},
            "loaded_at": {"S": format_timestamp(datetime.fromtimestamp(now, UTC))},
            "expires_at": {"N": str(math.floor(now) + self._ledger_retention_days * 86_400)},
            "records": {"N": str(records)},
            "loaded": {"N": str(loaded)},
            "duplicates": {"N": str(duplicates)},
            "quarantined": {"N": str(quarantined)},
        }
        self._call("PutItem", lambda: self._client.put_item(TableName=self._table, Item=item))

    def _call(self, operation: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in TRANSIENT_ERROR_CODES:
                raise TransientStoreError(f"{operation} on {self._table} failed: {error}") from error
            raise PayloadStoreError(f"{operation} on {self._table} failed: {error}") from error
        except BotoCoreError as error:
            raise TransientStoreError(f"{operation} on {self._table} failed: {error}") from error

    # --- reads ----------------------------------------------------------------------------------------------

    def aggregates(
        self, model_name: str, start: datetime, end: datetime, *, page_size: int = 20
    ) -> Iterator[tuple[datetime, Aggregate]]:
        """The alerting aggregates of the buckets in [start, end) (bucket-aligned, aware), newest bucket first, the
        items of one bucket together: one `Query` per UTC day, read in pages of `page_size` items, doubling up to
        `MAX_PAGE_ITEMS`, so a caller that stops early reads little more than it used (DynamoDB bills a page's
        items)."""
        for day, low, high in _day_ranges(start, end):
            request = self._day_query(model_name, day, low, high)
            request["ScanIndexForward"] = False
            request["Limit"] = page_size
            for item in self._query(request):
                bucket = _bucket_of(day, item)
                try:
                    aggregate = Aggregate.loads(item["body"]["S"])
                except (AggregateFormatError, KeyError) as error:
                    where = f"{item['pk']['S']} {item['sk']['S']}"
                    raise PayloadStoreError(f"aggregate {where} is unreadable: {error}") from error
                yield bucket, aggregate

    def count(self, model_name: str, start: datetime, end: datetime) -> int:
        """Predictions in the buckets of [start, end) (bucket-aligned): the items' `rows`, nothing else read."""
        total = 0
        for day, low, high in _day_ranges(start, end):
            request = self._day_query(model_name, day, low, high, projection="#rows")
            total += sum(int(item["rows"]["N"]) for item in self._query(request))
        return total

    def bucket_counts(
        self, model_name: str, start: datetime, end: datetime, *, items: int
    ) -> tuple[dict[datetime, int], datetime]:
        """Predictions per bucket from `start` towards `end` (bucket-aligned, within one UTC day), reading about
        `items` items: the counts, and the time up to which they are complete (every bucket before it read whole;
        `end` when the range was read to its end). Reads more only when one bucket alone holds more items."""
        ((day, low, high),) = _day_ranges(start, end)
        request = self._day_query(model_name, day, low, high, projection="sk, #rows")
        request["Limit"] = items
        counts: dict[datetime, int] = {}
        while True:
            page = self._call("Query", lambda request=request: self._client.query(**request))  # type: ignore[misc]
            for item in page.get("Items", []):
                bucket = _bucket_of(day, item)
                counts[bucket] = counts.get(bucket, 0) + int(item["rows"]["N"])
            if "LastEvaluatedKey" not in page:
                return counts, end
            last = max(counts)
            if last > start:  # the newest bucket read may have more items: complete up to it
                counts.pop(last)
                return counts, last
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _day_query(
        self, model_name: str, day: str, low: str, high: str, *, projection: str | None = None
    ) -> QueryInputTypeDef:
        """A `Query` of one day's aggregates with sort keys in [low, high] (`projection` may name `#rows`)."""
        request: QueryInputTypeDef = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": aggregate_pk(model_name, day)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
        }
        if projection is not None:
            request["ProjectionExpression"] = projection
            request["ExpressionAttributeNames"] = {"#rows": "rows"}  # ROWS is a reserved word
        return request

    def _query(self, request: QueryInputTypeDef) -> Iterator[Mapping[str, Any]]:
        while True:
            page = self._call("Query", lambda request=request: self._client.query(**request))  # type: ignore[misc]
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if "Limit" in request:
                request["Limit"] = min(2 * request["Limit"], MAX_PAGE_ITEMS)


def _bucket_of(day: str, item: Mapping[str, Any]) -> datetime:
    """The start of an aggregate item's bucket: its day and its sort key's `HH:MM`."""
    return datetime.fromisoformat(f"{day}T{item['sk']['S'][:5]}:00+00:00")


def _day_ranges(start: datetime, end: datetime) -> list[tuple[str, str, str]]:
    """(day, lowest sort key, highest sort key) of the buckets of [start, end), newest day first."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if bucket_start(start) != start or bucket_start(end) != end:
        raise ValueError(f"[{start}, {end}) is not aligned on {BUCKET} buckets")
    ranges = []
    last = end.astimezone(UTC) - BUCKET
    first = start.astimezone(UTC)
    while last >= first:
        day_start = last.replace(hour=0, minute=0, second=0, microsecond=0)
        low = max(first, day_start)
        ranges.append((f"{last:%Y-%m-%d}", f"{low:%H:%M}", f"{last:%H:%M}#~"))  # '~' sorts after the hex digest
        last = day_start - BUCKET
    return ranges
