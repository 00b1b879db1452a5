"""The trigger policy's state in the payload table: one item per model, written with optimistic locking.

Item: `pk=DRIFTSTATE#<model>`, `sk=STATE`, `version` (number, +1 per write), `state` (the `PolicyState` as JSON),
`updated_at`. No TTL: the state is small and bounded (recent checks and requests only) and must outlive the data.
A write is conditional on the version read, so of two concurrent runs one wins and the other re-reads and
decides again (and then sees the winner's request under the cooldown).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from batch_jobs.monitoring.policy import (
    VERDICTS,
    CheckRecord,
    Outcome,
    PolicyState,
    RequestRecord,
    RetrainTrigger,
    Verdict,
)
from core.layout import validate_model_name
from core.records import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATE_SK: Final = "STATE"
STATE_FORMAT: Final = 1


def drift_state_pk(model_name: str) -> str:
    """Partition key of a model's trigger-policy state in the payload table."""
    return f"DRIFTSTATE#{validate_model_name(model_name)}"


class StateStoreError(RuntimeError):
    """Reading or writing the policy state failed."""


class StateConflictError(StateStoreError):
    """Another run wrote the state after we read it; nothing was written."""


def state_to_json(state: PolicyState) -> dict[str, Any]:
    """The state as JSON (without its version, which is its own attribute)."""
    return {
        "format": STATE_FORMAT,
        "champion_version": state.champion_version,
        "streak": state.streak,
        "checks": [
            {
                "run_id": check.run_id,
                "at": format_timestamp(check.at),
                "champion_version": check.champion_version,
                "verdict": check.verdict,
                "performance_decay": check.performance_decay,
                "outcome": check.outcome.value,
            }
            for check in state.checks
        ],
        "requests": [
            {
                "run_id": request.run_id,
                "at": format_timestamp(request.at),
                "trigger": request.trigger.value,
                "recovery": request.recovery,
            }
            for request in state.requests
        ],
        "drift_since": _optional_timestamp(state.drift_since),
        "drift_versions": list(state.drift_versions),
        "drift_requested_by": state.drift_requested_by,
        "recovery_since": _optional_timestamp(state.recovery_since),
        "regime_start": _optional_timestamp(state.regime_start),
    }


def _optional_timestamp(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _parse_optional(value: object) -> datetime | None:
    return None if value is None else parse_timestamp(str(value))


def _verdict(value: object) -> Verdict:
    if value not in VERDICTS:
        raise StateStoreError(f"unknown verdict {value!r} in the stored policy state")
    return value  # narrowed by the check above


def state_from_json(document: Mapping[str, Any], version: int) -> PolicyState:
    """Rebuild the state written by `state_to_json`; a malformed item is a `StateStoreError`."""
    if document.get("format") != STATE_FORMAT:
        raise StateStoreError(f"unknown policy state format {document.get('format')!r}")
    try:
        return PolicyState(
            version=version,
            champion_version=document["champion_version"],
            streak=int(document["streak"]),
            checks=tuple(
                CheckRecord(
                    run_id=str(check["run_id"]),
                    at=parse_timestamp(check["at"]),
                    champion_version=str(check["champion_version"]),
                    verdict=_verdict(check["verdict"]),
                    performance_decay=check["performance_decay"],
                    outcome=Outcome(check["outcome"]),
                )
                for check in document["checks"]
            ),
            requests=tuple(
                RequestRecord(
                    run_id=str(request["run_id"]),
                    at=parse_timestamp(request["at"]),
                    trigger=RetrainTrigger(request["trigger"]),
                    recovery=bool(request.get("recovery", False)),
                )
                for request in document["requests"]
            ),
            # States written before drift episodes were kept have none: the next drifting check starts one.
            drift_since=_parse_optional(document.get("drift_since")),
            drift_versions=tuple(str(version) for version in document.get("drift_versions", ())),
            drift_requested_by=document.get("drift_requested_by"),
            # ... nor recoveries: the next decay starts one.
            recovery_since=_parse_optional(document.get("recovery_since")),
            regime_start=_parse_optional(document.get("regime_start")),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise StateStoreError(f"malformed policy state: {error}") from error


class DriftStateStore:
    """Reads and conditionally writes the policy state through a low-level DynamoDB client."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def load(self, model_name: str) -> PolicyState:
        """The stored state (strongly consistent), or an empty state at version 0."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": drift_state_pk(model_name)}, "sk": {"S": STATE_SK}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as error:
            raise StateStoreError(f"reading the drift state of {model_name} failed: {error}") from error
        item = response.get("Item")
        if item is None:
            return PolicyState()
        try:
            document = json.loads(item["state"]["S"])
            version = int(item["version"]["N"])
        except (KeyError, ValueError) as error:
            raise StateStoreError(f"malformed drift state item for {model_name}: {error}") from error
        return state_from_json(document, version)

    def save(self, model_name: str, state: PolicyState, *, expected_version: int, now: datetime) -> None:
        """Write `state` if the stored version is still `expected_version`; else `StateConflictError`."""
        item = {
            "pk": {"S": drift_state_pk(model_name)},
            "sk": {"S": STATE_SK},
            "version": {"N": str(state.version)},
            "state": {"S": json.dumps(state_to_json(state), sort_keys=True)},
            "updated_at": {"S": format_timestamp(now)},
        }
        if expected_version == 0:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StateConflictError(
                    f"the drift state of {model_name} changed after version {expected_version} was read"
                ) from error
            raise StateStoreError(f"writing the drift state of {model_name} failed: {error}") from error
        except BotoCoreError as error:
            raise StateStoreError(f"writing the drift state of {model_name} failed: {error}") from error
