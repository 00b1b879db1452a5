"""The payload table adapter: what the payload-ETL writes and what the monitoring and retraining code reads.

Item layout (see `autoretrain.tables`):
- prediction: `pk=REQ#<model>#<request_id>`, `sk=PREDICTION`, `gsi1pk=<model>#<YYYY-MM-DD>`,
  `gsi1sk=<timestamp>#<request_id>`, `expires_at` (epoch seconds: timestamp + retention), `model_version`,
  `timestamp` (canonical UTC), `score`, `label` (the predicted label), `latency_ms` (when given) and `record`:
  the source JSON line exactly as received, so unknown keys and all features are kept.
- label: same `pk`, `sk=LABEL`, `label` (ground truth), `observed_at`, `expires_at` (observed_at + retention),
  `record`. A label is its own item, so it may arrive before or after its prediction and is joined at read time;
  a redelivered payload only rewrites its own PREDICTION item and never touches a label.
- loaded object (the ledger): `pk=OBJECT#<bucket>/<key>`, `sk=<etag>`, written after an object version was
  fully loaded and checked before reading one, so a redelivered object writes nothing.

Reads never scan: a time window is one paginated `Query` per UTC day on the `by_time` index, and the labels of
those predictions are `BatchGetItem` calls on the same partition keys (100 keys per call).

Standard library and botocore only: the payload-ETL Lambda ships this module in its zip.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from autoretrain.contracts import FeatureValue, format_timestamp
from autoretrain.tables import BY_TIME_INDEX, LABEL_SK, object_pk, request_pk, window_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, QueryInputTypeDef, QueryOutputTypeDef

    Item = dict[str, AttributeValueTypeDef]
else:
    Item = dict

T = TypeVar("T")

#: DynamoDB's limits per BatchWriteItem and BatchGetItem call.
WRITE_BATCH_SIZE = 25
GET_BATCH_SIZE = 100

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


@dataclass(frozen=True, slots=True)
class PredictionRow:
    """One logged prediction, as stored in the payload table."""

    request_id: str
    model_name: str
    model_version: str
    timestamp: str
    score: float
    predicted_label: int
    latency_ms: float | None
    features: Mapping[str, FeatureValue]


@dataclass(frozen=True, slots=True)
class LabelRow:
    """The ground truth stored for one request."""

    request_id: str
    label: int
    observed_at: str


@dataclass(frozen=True, slots=True)
class LabelledPrediction:
    """A prediction and its label, when one has arrived."""

    prediction: PredictionRow
    label: LabelRow | None


def _day_range(start: datetime, end: datetime) -> list[str]:
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def _prediction_row(item: Mapping[str, Any]) -> PredictionRow:
    _, model_name, request_id = item["pk"]["S"].split("#", 2)
    latency = item.get("latency_ms")
    record = json.loads(item["record"]["S"])
    return PredictionRow(
        request_id=request_id,
        model_name=model_name,
        model_version=item["model_version"]["S"],
        timestamp=item["timestamp"]["S"],
        score=float(item["score"]["N"]),
        predicted_label=int(item["label"]["N"]),
        latency_ms=None if latency is None else float(latency["N"]),
        features=record["features"],
    )


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
    ) -> list[PredictionRow]:
        """Predictions of one model with `start <= timestamp < end` (aware datetimes; millisecond precision).

        One paginated `Query` per UTC day on the `by_time` index (`page_size` items per page at most, else
        DynamoDB's 1 MB pages); rows come in time order.
        """
        return [
            _prediction_row(item)
            for page in self._window_pages(model_name, start, end, page_size=page_size)
            for item in page.get("Items", [])
        ]

    def count_window(self, model_name: str, start: datetime, end: datetime) -> int:
        """How many predictions `query_window` would return, with `Select=COUNT` (no items read back)."""
        return sum(page.get("Count", 0) for page in self._window_pages(model_name, start, end, count_only=True))

    def _window_pages(
        self,
        model_name: str,
        start: datetime,
        end: datetime,
        *,
        page_size: int | None = None,
        count_only: bool = False,
    ) -> Iterator[QueryOutputTypeDef]:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return
        low = format_timestamp(start)
        # "<ts>#<request_id>" sorts after "<ts>", so BETWEEN low AND high keeps ts >= start and ts < end.
        high = format_timestamp(end)
        for day in _day_range(start, end):
            request: QueryInputTypeDef = {
                "TableName": self._table,
                "IndexName": BY_TIME_INDEX,
                "KeyConditionExpression": "gsi1pk = :day AND gsi1sk BETWEEN :low AND :high",
                "ExpressionAttributeValues": {
                    ":day": {"S": window_pk(model_name, day)},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
            }
            if page_size is not None:
                request["Limit"] = page_size
            if count_only:
                request["Select"] = "COUNT"
            while True:
                page = self._call("Query", lambda request=request: self._client.query(**request))  # type: ignore[misc]
                yield page
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def labels_for(self, model_name: str, request_ids: Iterable[str]) -> dict[str, LabelRow]:
        """The labels that have arrived for these requests, by request id (BatchGetItem, 100 keys per call)."""
        unique = list(dict.fromkeys(request_ids))
        labels: dict[str, LabelRow] = {}

        def send(keys: list[Item]) -> list[Item]:
            response = self._call(
                "BatchGetItem",
                lambda: self._client.batch_get_item(RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}),
            )
            for item in response.get("Responses", {}).get(self._table, []):
                request_id = item["pk"]["S"].split("#", 2)[2]
                labels[request_id] = LabelRow(
                    request_id=request_id, label=int(item["label"]["N"]), observed_at=item["observed_at"]["S"]
                )
            unprocessed = response.get("UnprocessedKeys", {}).get(self._table)
            return [] if unprocessed is None else list(unprocessed["Keys"])

        keys: list[Item] = [
            {"pk": {"S": request_pk(model_name, request_id)}, "sk": {"S": LABEL_SK}} for request_id in unique
        ]
        for batch in _chunks(keys, GET_BATCH_SIZE):
            send_until_done(batch, send, policy=self._retry, sleep=self._sleep, rng=self._rng, what="keys")
        return labels

    def labelled_window(self, model_name: str, start: datetime, end: datetime) -> list[LabelledPrediction]:
        """The window's predictions, each with its label if one has arrived (whenever it arrived)."""
        predictions = self.query_window(model_name, start, end)
        labels = self.labels_for(model_name, (row.request_id for row in predictions))
        return [LabelledPrediction(row, labels.get(row.request_id)) for row in predictions]
