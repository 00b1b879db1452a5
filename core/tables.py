"""DynamoDB table definitions, used by infra, the emulator provisioning and the code that reads and writes.

Payload table (no index: every read is a `Query` on the table's own keys):

| item              | pk                          | sk                         |
|-------------------|-----------------------------|----------------------------|
| alert aggregate   | `AGG#<model>#<YYYY-MM-DD>`  | `<HH:MM>#<source digest>`  |
| ledger            | `OBJECT#<bucket>/<key>`     | `<etag>`                   |
| alert state       | `ALERT#<model>#<signal>`    | `STATE`                    |
| policy state      | `DRIFTSTATE#<model>`        | `STATE`                    |

The aggregates (`core.aggregates`) summarise one object's predictions of one 5-minute bucket for the alerting
Lambda; the predictions and labels themselves are in the lake (`core.lake`). Items carry `expires_at` (TTL).

Registry table: `pk` = model name, `sk` = version; `by_status` index on `model_status` = `<model>#<status>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]

TTL_ATTRIBUTE = "expires_at"
BY_STATUS_INDEX = "by_status"


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
    attributes={"pk": "S", "sk": "S"},
    ttl_attribute=TTL_ATTRIBUTE,
)

REGISTRY_TABLE = TableSpec(
    logical_name="registry",
    keys=KeySchema("pk", "sk"),
    attributes={"pk": "S", "sk": "S", "model_status": "S"},
    indexes=(GlobalIndex(BY_STATUS_INDEX, KeySchema("model_status", "sk")),),
)

ALL_TABLES = (PAYLOAD_TABLE, REGISTRY_TABLE)


def object_pk(bucket: str, key: str) -> str:
    """Partition key of the ledger item recording that an object version was loaded."""
    return f"OBJECT#{bucket}/{key}"


def alert_pk(model_name: str, signal: str) -> str:
    """Partition key of an alert's cooldown state."""
    return f"ALERT#{model_name}#{signal}"
