"""DynamoDB table definitions, used by infra, the emulator provisioning and the code that reads and writes.

Payload table (one partition per request, a sparse time index per model and day):

| item            | pk                          | sk           | gsi1pk (by_time)      | gsi1sk                    |
|-----------------|-----------------------------|--------------|-----------------------|---------------------------|
| prediction      | `REQ#<model>#<request_id>`  | `PREDICTION` | `<model>#<YYYY-MM-DD>`| `<timestamp>#<request_id>`|
| label           | `REQ#<model>#<request_id>`  | `LABEL`      | -                     | -                         |
| loaded object   | `OBJECT#<bucket>/<key>`     | `<etag>`     | -                     | -                         |
| alert state     | `ALERT#<model>#<signal>`    | `STATE`      | -                     | -                         |

A time window is one `Query` on `by_time` per day it spans; the labels of those predictions are one
`BatchGetItem` on the same partition keys. A label is its own item, so it may arrive before or after its
prediction and is never lost or overwritten by a redelivered payload.

Registry table: `pk` = model name, `sk` = version; `by_status` index on `model_status` = `<model>#<status>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]

TTL_ATTRIBUTE = "expires_at"
BY_TIME_INDEX = "by_time"
BY_STATUS_INDEX = "by_status"
PREDICTION_SK = "PREDICTION"
LABEL_SK = "LABEL"


@dataclass(frozen=True, slots=True)
class KeySchema:
    """A partition key and an optional sort key."""

    partition: str
    sort: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalIndex:
    """A global secondary index projecting all attributes."""

    name: str
    keys: KeySchema


@dataclass(frozen=True, slots=True)
class TableSpec:
    """Everything about a table that both infra and the emulator need."""

    logical_name: str
    keys: KeySchema
    attributes: dict[str, AttributeType]
    indexes: tuple[GlobalIndex, ...] = ()
    ttl_attribute: str | None = None

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 `create_table` (on-demand), as the emulator provisions it."""
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind} for name, kind in self.attributes.items()
            ],
            "KeySchema": _key_schema(self.keys),
        }
        if self.indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {"IndexName": index.name, "KeySchema": _key_schema(index.keys), "Projection": {"ProjectionType": "ALL"}}
                for index in self.indexes
            ]
        return kwargs


def _key_schema(keys: KeySchema) -> list[dict[str, str]]:
    schema = [{"AttributeName": keys.partition, "KeyType": "HASH"}]
    if keys.sort is not None:
        schema.append({"AttributeName": keys.sort, "KeyType": "RANGE"})
    return schema


PAYLOAD_TABLE = TableSpec(
    logical_name="payloads",
    keys=KeySchema("pk", "sk"),
    attributes={"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"},
    indexes=(GlobalIndex(BY_TIME_INDEX, KeySchema("gsi1pk", "gsi1sk")),),
    ttl_attribute=TTL_ATTRIBUTE,
)

REGISTRY_TABLE = TableSpec(
    logical_name="registry",
    keys=KeySchema("pk", "sk"),
    attributes={"pk": "S", "sk": "S", "model_status": "S"},
    indexes=(GlobalIndex(BY_STATUS_INDEX, KeySchema("model_status", "sk")),),
)

ALL_TABLES = (PAYLOAD_TABLE, REGISTRY_TABLE)


def request_pk(model_name: str, request_id: str) -> str:
    """Partition key shared by a prediction and its label."""
    return f"REQ#{model_name}#{request_id}"


def window_pk(model_name: str, day: str) -> str:
    """Partition key of the `by_time` index: one partition per model and UTC day (`YYYY-MM-DD`)."""
    return f"{model_name}#{day}"


def window_sk(timestamp: str, request_id: str) -> str:
    """Sort key of the `by_time` index: canonical timestamp first, so a range is a time window."""
    return f"{timestamp}#{request_id}"


def object_pk(bucket: str, key: str) -> str:
    """Partition key of the ledger item recording that an object version was loaded."""
    return f"OBJECT#{bucket}/{key}"


def alert_pk(model_name: str, signal: str) -> str:
    """Partition key of an alert's cooldown state."""
    return f"ALERT#{model_name}#{signal}"
