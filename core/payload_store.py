"""The payload table adapter: what the payload-ETL writes and what the monitoring and retraining code reads.

Item layout: `core.tables` (records in segments of one object, one kind and one UTC hour each, plus the
object ledger `pk=OBJECT#<bucket>/<key>`, `sk=<etag>`, written after an object version was fully loaded and
checked before reading one, so a redelivered object writes nothing).

Reads never scan: a time window is one paginated `Query` per UTC month on the `by_time` index. A window comes back
as columns (`core.segments.PredictionColumns`, also a sequence of `PredictionRow`): the ETL checked every
record against the contract before storing it, and a segment whose body is not what the ETL writes is refused
(`SegmentFormatError`). A request logged twice (in two objects) is read once: its earliest record wins. Labels
are joined by `request_id` from the label segments observed between one day before the window and the reader's
"now"; of two labels for one request, the later `observed_at` wins (a corrected label replaces a wrong one).

Standard library and botocore only: the payload-ETL Lambda ships this module in its zip.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from core.records import format_timestamp
from core.segments import (
    LabelColumns,
    LabelledColumns,
    LabelRow,
    PredictionColumns,
)
from core.tables import BY_TIME_INDEX, label_window_pk, object_pk, window_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef

    Item = dict[str, AttributeValueTypeDef]
else:
    Item = dict

T = TypeVar("T")

#: DynamoDB's limit per BatchWriteItem call.
WRITE_BATCH_SIZE = 25
#: A label may be observed this long before its prediction's timestamp (clients' clocks disagree) and still join.
LABEL_CLOCK_SKEW = timedelta(days=1)

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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter and a bounded number of attempts."""

    max_attempts: int = 8
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the `attempt`-th failed call (1-based): uniform in [0, min(max, base * 2^n))."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2.0**attempt))


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


def _month_range(start: datetime, end: datetime) -> list[str]:
    """The UTC months (`YYYY-MM`) that [start, end) touches."""
    first = start.astimezone(UTC)
    last = end.astimezone(UTC) - timedelta(microseconds=1)
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _record_count(item: Mapping[str, Any]) -> int:
    return int(item["record_count"]["N"])


def _inside(item: Mapping[str, Any], low: str, high: str) -> bool:
    """Whether every record of a segment lies in [low, high) (its first time starts its sort key)."""
    return bool(low <= item["gsi1sk"]["S"] and item["last_ts"]["S"] < high)


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

    def query_window(
        self, model_name: str, start: datetime, end: datetime, *, page_size: int | None = None
    ) -> PredictionColumns:
        """Predictions of one model with `start <= timestamp < end` (aware datetimes; millisecond precision).

        One paginated `Query` per UTC month on the `by_time` index (`page_size` segments per page at most, else
        DynamoDB's 1 MB pages); rows come in time order (then request id), one per request id (its earliest record).
        """
        low, high = format_timestamp(start), format_timestamp(end)
        parts = [
            PredictionColumns.decode(item["body"]["S"], model_name=model_name, record_count=_record_count(item))
            for item in self._segments(window_pk, model_name, start, end, page_size=page_size)
        ]
        columns = PredictionColumns.concat(model_name, parts) if parts else PredictionColumns(model_name)
        times, request_ids = columns.timestamp, columns.request_id
        rows = sorted(
            (row for row, moment in enumerate(times) if low <= moment < high),
            key=lambda row: (times[row], request_ids[row]),
        )
        seen: set[str] = set()
        unique = []
        for row in rows:
            if request_ids[row] not in seen:
                seen.add(request_ids[row])
                unique.append(row)
        return columns if unique == list(range(len(columns))) else columns.take(unique)

    def count_window(self, model_name: str, start: datetime, end: datetime) -> int:
        """How many prediction records lie in the window: segments wholly inside it are counted without being
        decoded (a request logged twice counts twice here)."""
        low, high = format_timestamp(start), format_timestamp(end)
        count = 0
        for item in self._segments(window_pk, model_name, start, end):
            if _inside(item, low, high):
                count += _record_count(item)
            else:
                columns = PredictionColumns.decode(
                    item["body"]["S"], model_name=model_name, record_count=_record_count(item)
                )
                count += sum(1 for moment in columns.timestamp if low <= moment < high)
        return count

    def labels_between(self, model_name: str, start: datetime, end: datetime) -> dict[str, LabelRow]:
        """The labels observed in [start, end), by request id; of two for one request, the later one."""
        labels: dict[str, LabelRow] = {}
        low, high = format_timestamp(start), format_timestamp(end)
        for item in self._segments(label_window_pk, model_name, start, end):
            columns = LabelColumns.decode(item["body"]["S"], record_count=_record_count(item))
            for request_id, label, observed_at in zip(
                columns.request_id, columns.label, columns.observed_at, strict=True
            ):
                if not low <= observed_at < high:
                    continue
                known = labels.get(request_id)
                if known is None or known.observed_at <= observed_at:
                    labels[request_id] = LabelRow(request_id, label, observed_at)
        return labels

    def labelled_window(
        self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime
    ) -> LabelledColumns:
        """The window's predictions, each with its label if one was observed before `labels_until` (and not more
        than `LABEL_CLOCK_SKEW` before the window)."""
        predictions = self.query_window(model_name, start, end)
        labels = self.labels_between(model_name, start - LABEL_CLOCK_SKEW, labels_until)
        joined = [labels.get(request_id) for request_id in predictions.request_id]
        return LabelledColumns(
            predictions,
            [None if label is None else label.label for label in joined],
            [None if label is None else label.observed_at for label in joined],
        )

    def _segments(
        self,
        partition: Callable[[str, str], str],
        model_name: str,
        start: datetime,
        end: datetime,
        *,
        page_size: int | None = None,
    ) -> Iterator[Mapping[str, Any]]:
        """The segments that may hold records of [start, end): `gsi1sk` from the hour of `start` up to `end`.

        A segment never spans an hour, so one holding a record at or after `start` begins in that hour or later.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return
        low = format_timestamp(start)[:13]  # "YYYY-MM-DDTHH" sorts before every time of that hour
        # "<ts>#<digest>" sorts after "<ts>", so BETWEEN low AND high keeps first times < end.
        high = format_timestamp(end)
        for month in _month_range(start, end):
            request: QueryInputTypeDef = {
                "TableName": self._table,
                "IndexName": BY_TIME_INDEX,
                "KeyConditionExpression": "gsi1pk = :month AND gsi1sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":month": {"S": partition(model_name, month)},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
            }
            if page_size is not None:
                request["Limit"] = page_size
            while True:
                page = self._call("Query", lambda request=request: self._client.query(**request))  # type: ignore[misc]
                yield from page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
