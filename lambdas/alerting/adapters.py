"""The alerting Lambda's AWS side: S3 reads, alert state, SNS (the aggregates: `core.payload_store`). Clients come
in through the constructors; `ClientError` becomes our own errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from core.aggregates import Aggregate
from core.layout import parse_s3_uri
from core.payload_store import PayloadStore
from core.records import format_timestamp, parse_timestamp
from core.tables import alert_pk
from lambdas.alerting.logic import AlertingError, DeliveryError
from lambdas.alerting.models import AlertState, AlertStatus, Signal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient

STATE_SK = "STATE"
MODELS_PREFIX = "models/"
_KEPT_VERSION_FILES = 8
_KEPT_DAYS = 64
_MAX_BATCH_GET_ATTEMPTS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StateStoreError(RuntimeError):
    """Reading or writing an alert state failed."""


class S3ObjectReader:
    """Reads small objects (the champion's baseline.json). A model version's files never change once written
    (`models/<m>/<version>/`), so the container keeps the last few it read."""

    def __init__(self, client: S3Client) -> None:
        self._client = client
        self._versions: dict[str, bytes] = {}

    def read(self, uri: str) -> bytes:
        """The object's bytes; `AlertingError` if it is missing or unreadable."""
        try:
            bucket, key = parse_s3_uri(uri)
        except ValueError as error:
            raise AlertingError(str(error)) from error
        if uri in self._versions:
            return self._versions[uri]
        try:
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as error:
            raise AlertingError(f"cannot read {uri}: {error}") from error
        if key.startswith(MODELS_PREFIX):
            if len(self._versions) >= _KEPT_VERSION_FILES:
                self._versions.clear()
            self._versions[uri] = body
        return body


class AggregateStore:
    """`logic.Buckets` over the payload table (`core.payload_store.PayloadStore`): a window's aggregates as they
    are; the volume history (`count` of the same window on previous days) read ahead `read_ahead_items` items at a
    time and kept by the container, because a previous day's buckets no longer change, so the next runs' history is
    mostly read already (at 10 M predictions a day: about 30 minutes of a previous day per 30 items, one query per
    history day every third run). An object that arrives more than a day late is not in a count read before it."""

    def __init__(self, store: PayloadStore, *, read_ahead_items: int = 30) -> None:
        self._store = store
        self._items = read_ahead_items
        self._known: dict[tuple[str, str], tuple[datetime, datetime, dict[datetime, int]]] = {}

    def aggregates(self, model_name: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, Aggregate]]:
        """The aggregates of the buckets in [start, end), newest first (read as they are)."""
        return self._store.aggregates(model_name, start, end)

    def count(self, model_name: str, start: datetime, end: datetime) -> int:
        """The predictions in the buckets of [start, end) (bucket-aligned)."""
        total = 0
        moment = start
        while moment < end:
            day_end = datetime.combine(moment.astimezone(UTC).date() + timedelta(days=1), time.min, UTC)
            total += self._count_day(model_name, moment, min(end, day_end), day_end)
            moment = day_end
        return total

    def _count_day(self, model_name: str, start: datetime, end: datetime, day_end: datetime) -> int:
        key = (model_name, f"{start.astimezone(UTC):%Y-%m-%d}")
        low, high, counts = self._known.get(key, (start, start, {}))
        if not low <= start <= high:
            low, high, counts = start, start, {}
        while high < end:
            more, high = self._store.bucket_counts(model_name, high, day_end, items=self._items)
            counts.update(more)
        if len(self._known) >= _KEPT_DAYS and key not in self._known:
            self._known.clear()
        self._known[key] = (low, high, counts)
        return sum(rows for bucket, rows in counts.items() if start <= bucket < end)


class DynamoAlertStates:
    """Alert states in the payload table: `pk=ALERT#<model>#<signal>`, `sk=STATE`, conditional on `revision`."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, model_name: str, signal: Signal) -> dict[str, Any]:
        return {"pk": {"S": alert_pk(model_name, signal.value)}, "sk": {"S": STATE_SK}}

    def get_many(self, model_name: str, signals: Sequence[Signal]) -> dict[Signal, AlertState]:
        """The states that exist among these signals (one strongly consistent BatchGetItem, retried if partial)."""
        by_pk = {alert_pk(model_name, signal.value): signal for signal in signals}
        keys: list[Any] = [self._key(model_name, signal) for signal in signals]
        states: dict[Signal, AlertState] = {}
        for _ in range(_MAX_BATCH_GET_ATTEMPTS):
            if not keys:
                return states
            try:
                response = self._client.batch_get_item(
                    RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                )
            except (ClientError, BotoCoreError) as error:
                raise StateStoreError(f"reading alert states of {model_name} failed: {error}") from error
            for item in response.get("Responses", {}).get(self._table, []):
                states[by_pk[item["pk"]["S"]]] = _state(item)
            unprocessed = response.get("UnprocessedKeys", {}).get(self._table)
            keys = [] if unprocessed is None else list(unprocessed["Keys"])
        raise StateStoreError(f"reading alert states of {model_name}: {len(keys)} keys still unprocessed")

    def put(self, model_name: str, signal: Signal, state: AlertState, *, expected_revision: int | None) -> bool:
        """Write `state` if the stored revision is `expected_revision` (None: no item yet); False if it changed."""
        item: dict[str, Any] = {
            **self._key(model_name, signal),
            "status": {"S": state.status.value},
            "since": {"S": format_timestamp(state.since)},
            "last_sent_at": {"S": format_timestamp(state.last_sent_at)},
            "revision": {"N": str(state.revision)},
            "model_version": {"S": state.model_version},
            "summary": {"S": state.summary[:1000]},
        }
        try:
            if expected_revision is None:
                self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="revision = :expected",
                    ExpressionAttributeValues={":expected": {"N": str(expected_revision)}},
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StateStoreError(f"writing alert state {model_name}/{signal.value} failed: {error}") from error
        except BotoCoreError as error:
            raise StateStoreError(f"writing alert state {model_name}/{signal.value} failed: {error}") from error
        return True

    def restore(self, model_name: str, signal: Signal, previous: AlertState | None, *, written_revision: int) -> None:
        """Undo our write of `written_revision` if it is still the latest: put `previous` back, or, when there was no
        state, a `resolved` one (it acts exactly like no state: the next firing verdict sends FIRING). A conditional
        PutItem either way, so the function needs no DeleteItem permission.
        """
        if previous is None:
            previous = AlertState(AlertStatus.RESOLVED, since=_EPOCH, last_sent_at=_EPOCH, revision=0)
        self.put(
            model_name, signal, replace(previous, revision=written_revision + 1), expected_revision=written_revision
        )


def _state(item: Mapping[str, Any]) -> AlertState:
    return AlertState(
        status=AlertStatus(item["status"]["S"]),
        since=parse_timestamp(item["since"]["S"]),
        last_sent_at=parse_timestamp(item["last_sent_at"]["S"]),
        revision=int(item["revision"]["N"]),
        model_version=item.get("model_version", {}).get("S", ""),
        summary=item.get("summary", {}).get("S", ""),
    )


class SnsNotifier:
    """Publishes alert messages to the alert topic."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> str:
        """Send one message; `DeliveryError` if SNS refuses it."""
        try:
            return self._client.publish(TopicArn=self._topic_arn, Subject=subject, Message=message)["MessageId"]
        except (ClientError, BotoCoreError) as error:
            raise DeliveryError(f"SNS publish to {self._topic_arn} failed: {error}") from error
