"""Events on the custom EventBridge bus (source `autoretrain`) and the adapter that publishes them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

EVENT_SOURCE = "autoretrain"
#: `RetrainRequested`'s `regime_start` when the request is no recovery after decay (the field is always present:
#: the rule's input transformer passes it to the retrain job as a Batch parameter, `--regime-start`).
NO_REGIME = "none"


class DetailType(StrEnum):
    """Every event autoretrain emits; the `detail-type` EventBridge rules match on."""

    DRIFT_CHECK_COMPLETED = "DriftCheckCompleted"
    RETRAIN_REQUESTED = "RetrainRequested"
    MODEL_REJECTED = "ModelRejected"
    MODEL_RELEASED = "ModelReleased"
    MODEL_DEPLOYED = "ModelDeployed"
    MODEL_ROLLED_BACK = "ModelRolledBack"
    ALERT_RAISED = "AlertRaised"


class EventPublishError(RuntimeError):
    """EventBridge refused or failed to accept an event; the caller should fail so its run is retried."""


class EventBus:
    """Publishes autoretrain events to one bus."""

    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any], *, time: datetime | None = None) -> str:
        """Put one event and return its id; raise `EventPublishError` if it was not accepted."""
        entry: PutEventsRequestEntryTypeDef = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type.value,
            "Detail": json.dumps(detail, sort_keys=True, default=str),
            "EventBusName": self._bus_name,
        }
        if time is not None:
            entry["Time"] = time
        try:
            response = self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as error:
            raise EventPublishError(f"could not publish {detail_type.value}: {error}") from error
        result = response["Entries"][0]
        if response.get("FailedEntryCount", 0) or "EventId" not in result:
            raise EventPublishError(
                f"EventBridge rejected {detail_type.value}: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
            )
        return result["EventId"]
