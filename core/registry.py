"""The model registry's DynamoDB adapter: one item per model version, its lineage, gate decision and status history.

What a version is and which status changes are allowed live in `core.model_lifecycle` (pure Python); this module
stores those records and enforces the lifecycle's rules with conditional writes.

Item layout in the registry table (`core.tables.REGISTRY_TABLE`):

| item                | pk           | sk          | model_status (by_status index) |
|---------------------|--------------|-------------|--------------------------------|
| a model version     | `<model>`    | `<version>` | `<model>#<status>`             |
| champion pointer    | `<model>`    | `#champion` | - (not indexed)                |

Status changes are conditional writes on the current status, so two writers cannot both move a version; a move to
`released` is also conditional on a passing gate decision and a recorded artefact. The champion pointer names the
one champion of a model; every change that makes or unmakes a champion updates it in the same `TransactWriteItems`
as the versions involved, so two champions can never exist, even while the (eventually consistent) `by_status`
index lags. Versions cannot start with `#`, so the pointer never collides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from core.layout import validate_model_name
from core.model_lifecycle import (
    ConflictError,
    ModelStatus,
    ModelVersionRecord,
    RegistryError,
    ReleaseBlockedError,
    StatusChange,
    Trigger,
    VersionExistsError,
    VersionNotFoundError,
    check_transition,
    finite_metrics,
    new_candidate,
    require_aware,
    validate_sha256,
    validate_version,
)
from core.records import format_precise_timestamp, parse_timestamp
from core.tables import BY_STATUS_INDEX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateTypeDef

CHAMPION_POINTER_SK: Final = "#champion"
_SERIALIZER = TypeSerializer()
_DYNAMO_MIN_MAGNITUDE: Final = 1e-128
_DYNAMO_MAX_MAGNITUDE: Final = 1e125
_MAX_EXACT_INTEGER: Final = 2**53
_DESERIALIZER = TypeDeserializer()


class Registry:
    """Adapter over the registry table (DynamoDB low-level client); turns `ClientError` into `RegistryError`s."""

    def __init__(self, client: DynamoDBClient, table_name: str, clock: Callable[[], datetime] | None = None) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock if clock is not None else _utc_now

    # -- reads -----------------------------------------------------------------------------------------------

    def get(self, model_name: str, version: str) -> ModelVersionRecord:
        """The version's record (strongly consistent read); `VersionNotFoundError` if it does not exist."""
        item = self._get_item(model_name, validate_version(version))
        if item is None:
            raise VersionNotFoundError(f"{model_name} {version} is not registered")
        return _from_item(item)

    def list_versions(self, model_name: str) -> list[ModelVersionRecord]:
        """Every version of a model, in version order (one paginated `Query` on the model's partition)."""
        items = self._query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": validate_model_name(model_name)}},
            ConsistentRead=True,
        )
        return [_from_item(item) for item in items if item["sk"]["S"] != CHAMPION_POINTER_SK]

    def champion(self, model_name: str) -> ModelVersionRecord | None:
        """The model's champion, found with a `Query` on the `by_status` index, or None if there is none.

        The index is eventually consistent: each hit is re-read consistently and kept only if it still is the
        champion, so a stale hit is never returned; a champion promoted a moment ago may not be visible yet.
        """
        hits = self._query(
            IndexName=BY_STATUS_INDEX,
            KeyConditionExpression="model_status = :status",
            ExpressionAttributeValues={":status": {"S": _status_key(model_name, ModelStatus.CHAMPION)}},
        )
        current = [self._get_item(model_name, hit["sk"]["S"]) for hit in hits]
        champions = [_from_item(item) for item in current if item and item["status"]["S"] == ModelStatus.CHAMPION]
        if len(champions) > 1:
            raise RegistryError(f"{model_name} has {len(champions)} champions; the champion pointer is bypassed")
        return champions[0] if champions else None

    # -- writes ----------------------------------------------------------------------------------------------

    def register_candidate(self, record: ModelVersionRecord, reason: str = "registered") -> ModelVersionRecord:
        """Store a new version as a candidate; `VersionExistsError` if that version is already registered."""
        record = new_candidate(record, reason)
        item = _to_item(record)
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if _error_code(error) == "ConditionalCheckFailedException":
                raise VersionExistsError(f"{record.model_name} {record.version} is already registered") from error
            raise RegistryError(f"registering {record.model_name} {record.version} failed: {error}") from error
        return record

    def record_metrics(
        self,
        model_name: str,
        version: str,
        *,
        challenger: Mapping[str, float | None],
        champion: Mapping[str, float | None],
    ) -> ModelVersionRecord:
        """Store the challenger's and the champion's metrics on the same holdout (candidates only).

        A metric that could not be computed (None) is left out; a non-finite one is a `ValueError`.
        """
        return self._update_candidate(
            model_name,
            version,
            update="SET challenger_metrics = :challenger, champion_metrics = :champion, updated_at = :at",
            values={
                ":challenger": _serialize(finite_metrics(challenger, "challenger")),
                ":champion": _serialize(finite_metrics(champion, "champion")),
            },
        )

    def record_gate_decision(
        self,
        model_name: str,
        version: str,
        *,
        passed: bool,
        reasons: Sequence[str],
        details: Mapping[str, Any] | None = None,
    ) -> ModelVersionRecord:
        """Store the gate's verdict, its reasons and (optionally) the full decision as JSON.

        Only a candidate gets a verdict, and only once: writing the same verdict again is a no-op-equivalent
        overwrite (a retried job), writing the opposite verdict is a `ConflictError`.
        """
        return self._update_candidate(
            model_name,
            version,
            update="SET gate_passed = :passed, gate_reasons = :reasons, gate_details = :details, updated_at = :at",
            values={
                ":passed": {"BOOL": passed},
                ":reasons": _serialize([str(reason) for reason in reasons]),
                ":details": _serialize(dict(details or {})),
            },
            extra_condition="(attribute_not_exists(gate_passed) OR gate_passed = :passed)",
        )

    def record_artifact(
        self, model_name: str, version: str, *, uri: str, sha256: str, s3_version_id: str | None = None
    ) -> ModelVersionRecord:
        """Store where the version's artefact is and its SHA-256 (candidates only; the same values may be rewritten)."""
        validate_sha256(sha256)
        if not uri:
            raise ValueError("artifact uri is empty")
        update = "SET artifact_uri = :uri, sha256 = :sha, updated_at = :at"
        values: dict[str, Any] = {":uri": {"S": uri}, ":sha": {"S": sha256}}
        if s3_version_id is not None:
            update += ", s3_version_id = :vid"
            values[":vid"] = {"S": s3_version_id}
        return self._update_candidate(
            model_name,
            version,
            update=update,
            values=values,
            extra_condition="(attribute_not_exists(sha256) OR sha256 = :sha)",
        )

    def record_shadow(self, model_name: str, version: str, shadow: Mapping[str, Any]) -> ModelVersionRecord:
        """Store a released version's shadow record (its start, later its comparison and decision), replacing the
        previous one. Only a released version is served in shadow, and a retired one may have been (its period's
        decision is recorded after it ended it): any other status is a `ConflictError`."""
        validate_model_name(model_name)
        validate_version(version)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(model_name, version),
                UpdateExpression="SET shadow = :shadow, updated_at = :at",
                ConditionExpression="#status IN (:released, :retired)",
                ReturnValues="ALL_NEW",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":shadow": _serialize(dict(shadow)),
                    ":released": {"S": ModelStatus.RELEASED.value},
                    ":retired": {"S": ModelStatus.RETIRED.value},
                    ":at": {"S": _format_time(self._clock())},
                },
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise RegistryError(f"updating {model_name} {version} failed: {error}") from error
            current = self.get(model_name, version)
            raise ConflictError(
                f"{model_name} {version} is {current.status}; only a released or retired version has a shadow record"
            ) from error
        return _from_item(response["Attributes"])

    def transition(
        self,
        model_name: str,
        version: str,
        to_status: ModelStatus,
        reason: str,
        *,
        expected_from: ModelStatus | None = None,
    ) -> ModelVersionRecord:
        """Move a version to `to_status`, appending to its history, with a write conditional on its current status.

        With `expected_from` the caller states the status it saw (no read before the write); otherwise the current
        status is read first. Illegal moves raise `IllegalTransitionError` before any write; a concurrent change
        raises `ConflictError`. Repeating a transition that already happened returns the record unchanged.
        Moves into or out of `champion` also update the champion pointer in the same transaction; promoting a
        version retires the previous champion atomically (see `promote`).
        """
        to_status = ModelStatus(to_status)
        validate_model_name(model_name)
        validate_version(version)
        if expected_from is None:
            current = self.get(model_name, version)
            if current.status is to_status:
                return current
            expected_from = current.status
        expected_from = ModelStatus(expected_from)
        check_transition(expected_from, to_status)
        if to_status is ModelStatus.CHAMPION:
            return self.promote(model_name, version, reason)
        change = self._change_update(model_name, version, expected_from, to_status, reason)
        try:
            if expected_from is not ModelStatus.CHAMPION:
                return _from_item(self._client.update_item(**change, ReturnValues="ALL_NEW")["Attributes"])
            self._transact([{"Update": change}, {"Update": self._pointer_update(model_name, version, None)}])
        except ConflictError as conflict:
            return self._explain_refusal(model_name, version, expected_from, to_status, conflict)
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise RegistryError(f"updating {model_name} {version} failed: {error}") from error
            return self._explain_refusal(model_name, version, expected_from, to_status, error)
        return self.get(model_name, version)

    def promote(self, model_name: str, version: str, reason: str, *, replaces: str | None = None) -> ModelVersionRecord:
        """Make a released version the champion and retire the previous one, in one transaction.

        `replaces` is the champion the caller expects to replace; by default the champion pointer is read
        (consistently). If either version or the champion changed meanwhile, nothing is written and
        `ConflictError` is raised. Promoting the current champion again returns it unchanged.
        """
        current = self.get(model_name, version)
        if current.status is ModelStatus.CHAMPION:
            return current
        check_transition(current.status, ModelStatus.CHAMPION)
        previous = replaces if replaces is not None else self._pointer(model_name)
        actions: list[TransactWriteItemTypeDef] = [
            {"Update": self._change_update(model_name, version, ModelStatus.RELEASED, ModelStatus.CHAMPION, reason)},
            {"Update": self._pointer_update(model_name, previous, version)},
        ]
        if previous is not None:
            retire = self._change_update(
                model_name, previous, ModelStatus.CHAMPION, ModelStatus.RETIRED, f"replaced by {version}: {reason}"
            )
            actions.append({"Update": retire})
        try:
            self._transact(actions)
        except ConflictError:
            latest = self.get(model_name, version)
            if latest.status is ModelStatus.CHAMPION:  # a concurrent, identical promotion won: same end state
                return latest
            raise
        return self.get(model_name, version)

    # -- internals -------------------------------------------------------------------------------------------

    def _key(self, model_name: str, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": model_name}, "sk": {"S": sort_key}}

    def _get_item(self, model_name: str, sort_key: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=self._key(validate_model_name(model_name), sort_key), ConsistentRead=True
            )
        except ClientError as error:
            raise RegistryError(f"reading {model_name} {sort_key} failed: {error}") from error
        return response.get("Item")

    def _query(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        try:
            for page in self._client.get_paginator("query").paginate(TableName=self._table, **kwargs):
                items.extend(page["Items"])
        except ClientError as error:
            raise RegistryError(f"querying the registry failed: {error}") from error
        return items

    def _pointer(self, model_name: str) -> str | None:
        item = self._get_item(model_name, CHAMPION_POINTER_SK)
        if item is None or "champion_version" not in item:
            return None
        return str(item["champion_version"]["S"])

    def _change_update(
        self, model_name: str, version: str, from_status: ModelStatus, to_status: ModelStatus, reason: str
    ) -> UpdateTypeDef:
        """A conditional UpdateItem moving one version from `from_status` to `to_status`."""
        at = self._clock()
        condition = "#status = :from"
        values: dict[str, Any] = {
            ":from": {"S": from_status.value},
            ":to": {"S": to_status.value},
            ":model_status": {"S": _status_key(model_name, to_status)},
            ":at": {"S": _format_time(at)},
            ":entry": _serialize([_history_entry(StatusChange(to_status, at, reason))]),
        }
        if to_status is ModelStatus.RELEASED:
            condition += " AND gate_passed = :true AND attribute_exists(sha256) AND attribute_exists(artifact_uri)"
            values[":true"] = {"BOOL": True}
        return {
            "TableName": self._table,
            "Key": self._key(model_name, version),
            "UpdateExpression": (
                "SET #status = :to, model_status = :model_status, updated_at = :at, "
                "history = list_append(history, :entry)"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }

    def _pointer_update(self, model_name: str, previous: str | None, new: str | None) -> UpdateTypeDef:
        """Move the champion pointer from `previous` to `new` (None: no champion), conditional on `previous`."""
        values: dict[str, Any] = {":at": {"S": _format_time(self._clock())}}
        if previous is None:
            condition = "attribute_not_exists(champion_version)"
        else:
            condition = "champion_version = :previous"
            values[":previous"] = {"S": previous}
        if new is None:
            update = "SET updated_at = :at REMOVE champion_version"
        else:
            update = "SET champion_version = :new, updated_at = :at"
            values[":new"] = {"S": new}
        return {
            "TableName": self._table,
            "Key": self._key(model_name, CHAMPION_POINTER_SK),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }

    def _transact(self, actions: list[TransactWriteItemTypeDef]) -> None:
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if _error_code(error) != "TransactionCanceledException":
                raise RegistryError(f"registry transaction failed: {error}") from error
            reasons = error.response.get("CancellationReasons", [])
            failed = [
                _describe_action(action)
                for action, cancellation in zip(actions, reasons, strict=False)
                if cancellation.get("Code") not in (None, "None")
            ]
            detail = "; ".join(failed) if failed else str(error)
            raise ConflictError(f"registry changed concurrently, nothing written: {detail}") from error

    def _update_candidate(
        self,
        model_name: str,
        version: str,
        *,
        update: str,
        values: Mapping[str, Any],
        extra_condition: str | None = None,
    ) -> ModelVersionRecord:
        validate_model_name(model_name)
        validate_version(version)
        condition = "#status = :candidate" + (f" AND {extra_condition}" if extra_condition else "")
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(model_name, version),
                UpdateExpression=update,
                ConditionExpression=condition,
                ReturnValues="ALL_NEW",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    **values,
                    ":candidate": {"S": ModelStatus.CANDIDATE.value},
                    ":at": {"S": _format_time(self._clock())},
                },
            )
        except ClientError as error:
            if _error_code(error) != "ConditionalCheckFailedException":
                raise RegistryError(f"updating {model_name} {version} failed: {error}") from error
            current = self.get(model_name, version)
            if current.status is not ModelStatus.CANDIDATE:
                raise ConflictError(
                    f"{model_name} {version} is {current.status}; only a candidate can be updated"
                ) from error
            raise ConflictError(
                f"{model_name} {version} already holds a different value (gate_passed={current.gate_passed}, "
                f"sha256={current.sha256})"
            ) from error
        return _from_item(response["Attributes"])

    def _explain_refusal(
        self,
        model_name: str,
        version: str,
        expected_from: ModelStatus,
        to_status: ModelStatus,
        error: Exception,
    ) -> ModelVersionRecord:
        """After a refused status change: a no-op if it already happened, else the right typed error."""
        item = self._get_item(model_name, version)
        if item is None:
            raise VersionNotFoundError(f"{model_name} {version} is not registered") from error
        current = _from_item(item)
        if current.status is to_status:
            return current
        if current.status is not expected_from:
            raise ConflictError(
                f"{model_name} {version} is {current.status}, not {expected_from}: it changed concurrently"
            ) from error
        if to_status is ModelStatus.RELEASED:
            raise ReleaseBlockedError(
                f"{model_name} {version} cannot be released: gate passed={current.gate_passed}, "
                f"artifact={'recorded' if current.sha256 and current.artifact_uri else 'missing'}"
            ) from error
        raise ConflictError(f"{model_name} {version} could not move to {to_status}: {error}") from error


# -- conversion: the one place where Python values become DynamoDB attribute values and back ----------------------


def _to_dynamo(value: Any) -> Any:
    """JSON-like Python value -> value `TypeSerializer` accepts (floats become `Decimal`, exactly as printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_EXACT_INTEGER:
        raise ValueError(f"integer {value!r} is beyond ±2**53, where JSON numbers and floats stop being exact")
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot store non-finite number {value!r} in the registry")
        if value != 0.0 and not _DYNAMO_MIN_MAGNITUDE <= abs(value) < _DYNAMO_MAX_MAGNITUDE:
            raise ValueError(f"{value!r} is outside the range DynamoDB numbers can hold")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(key): _to_dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_dynamo(item) for item in value]
    if hasattr(value, "item"):  # numpy scalars
        return _to_dynamo(value.item())
    raise TypeError(f"cannot store {type(value).__name__} in the registry")


def _from_dynamo(value: Any) -> Any:
    """Deserialised DynamoDB value -> JSON-like Python value.

    DynamoDB does not keep 1.0 apart from 1, so an integral number within ±2**53 reads back as int (equal to the
    float it may have been); anything else as float, which is exact for every float that was written.
    """
    if isinstance(value, Decimal):
        integral = value == value.to_integral_value() and abs(value) <= _MAX_EXACT_INTEGER
        return int(value) if integral else float(value)
    if isinstance(value, dict):
        return {key: _from_dynamo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(item) for item in value]
    return value


def _serialize(value: Any) -> dict[str, Any]:
    return dict(_SERIALIZER.serialize(_to_dynamo(value)))


def _history_entry(change: StatusChange) -> dict[str, str]:
    return {"status": change.status.value, "at": _format_time(change.at), "reason": change.reason}


def _to_item(record: ModelVersionRecord) -> dict[str, Any]:
    document: dict[str, Any] = {
        "pk": record.model_name,
        "sk": record.version,
        "model_status": _status_key(record.model_name, record.status),
        "status": record.status.value,
        "trigger": record.trigger.value,
        "created_at": _format_time(record.created_at),
        "updated_at": _format_time(record.created_at),
        "history": [_history_entry(change) for change in record.history],
        "training_start": _format_time(record.training_start),
        "training_end": _format_time(record.training_end),
        "train_rows": record.train_rows,
        "holdout_rows": record.holdout_rows,
        "data_fingerprint": record.data_fingerprint,
        "code_version": record.code_version,
        "challenger_metrics": finite_metrics(record.challenger_metrics, "challenger"),
        "champion_metrics": finite_metrics(record.champion_metrics, "champion"),
        "gate_reasons": list(record.gate_reasons),
        "gate_details": dict(record.gate_details),
        "evidence": dict(record.evidence),
        "shadow": dict(record.shadow),
    }
    optional = {
        "artifact_uri": record.artifact_uri,
        "s3_version_id": record.s3_version_id,
        "sha256": record.sha256,
        "gate_passed": record.gate_passed,
    }
    document.update({name: value for name, value in optional.items() if value is not None})
    return {name: _serialize(value) for name, value in document.items()}


def _from_item(item: Mapping[str, Any]) -> ModelVersionRecord:
    document = {name: _from_dynamo(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
    return ModelVersionRecord(
        model_name=document["pk"],
        version=document["sk"],
        status=ModelStatus(document["status"]),
        trigger=Trigger(document["trigger"]),
        created_at=parse_timestamp(document["created_at"]),
        history=tuple(
            StatusChange(ModelStatus(entry["status"]), parse_timestamp(entry["at"]), entry["reason"])
            for entry in document["history"]
        ),
        training_start=parse_timestamp(document["training_start"]),
        training_end=parse_timestamp(document["training_end"]),
        train_rows=int(document["train_rows"]),
        holdout_rows=int(document["holdout_rows"]),
        data_fingerprint=document["data_fingerprint"],
        code_version=document["code_version"],
        artifact_uri=document.get("artifact_uri"),
        s3_version_id=document.get("s3_version_id"),
        sha256=document.get("sha256"),
        challenger_metrics={key: float(value) for key, value in document["challenger_metrics"].items()},
        champion_metrics={key: float(value) for key, value in document["champion_metrics"].items()},
        gate_passed=document.get("gate_passed"),
        gate_reasons=tuple(document["gate_reasons"]),
        gate_details=document["gate_details"],
        evidence=document["evidence"],
        shadow=document.get("shadow", {}),  # absent on items written before shadow periods existed
    )


def _status_key(model_name: str, status: ModelStatus) -> str:
    return f"{model_name}#{status.value}"


def _describe_action(action: Mapping[str, Any]) -> str:
    update = next(iter(action.values()))
    key = update["Key"]
    values = update.get("ExpressionAttributeValues", {})
    if key["sk"]["S"] == CHAMPION_POINTER_SK:
        expected = values.get(":previous", {}).get("S", "no champion")
        return f"{key['pk']['S']} champion is no longer {expected}"
    return f"{key['pk']['S']} {key['sk']['S']} is no longer {values[':from']['S']}"


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _format_time(moment: datetime) -> str:
    """Fixed-width UTC timestamp with microseconds, so text order is time order."""
    require_aware(moment, "timestamp")
    return format_precise_timestamp(moment)


def _utc_now() -> datetime:
    return datetime.now(UTC)
