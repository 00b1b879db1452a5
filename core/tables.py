"""DynamoDB table definitions, used by infra, the emulator provisioning and the code that reads and writes.

Payload table: records are stored in *segments*, not one item per record. A segment holds the valid records of
one kind from one S3 object version that fall in one UTC hour (of the prediction's `timestamp`, or of the label's
`observed_at`), verbatim in one JSON body (`core.segments`), at most `SEGMENT_MAX_BYTES` of it (UTF-8):

| item         | pk                       | sk                      | gsi1pk (by_time)             | gsi1sk            |
|--------------|--------------------------|-------------------------|------------------------------|-------------------|
| predictions  | `SEG#<bucket>/<key>`     | `<etag>#<hour>#<chunk>` | `<model>#<YYYY-MM>`          | `<first>#<digest>`|
| labels       | `SEG#<bucket>/<key>`     | `<etag>#<hour>#<chunk>` | `<model>#LABEL#<YYYY-MM>`    | `<first>#<digest>`|
| ledger       | `OBJECT#<bucket>/<key>`  | `<etag>`                | -                            | -                 |
| alert state  | `ALERT#<model>#<signal>` | `STATE`                 | -                            | -                 |

`<chunk>` numbers the segments of one hour of an object version (`segment_sk`, at least four digits): 0, 1, 2, ...
as each fills; when the ETL writes its open segments early (they passed their memory budget, a constant, the same at
every memory size), an hour's next segment starts at `n * CHUNKS_PER_GENERATION` (`lambdas.payload_etl.extract`)
for the n-th early write. The numbers follow from the object's records alone, so reprocessing an object re-puts the
same keys.

A segment also carries `last_ts` (its newest record's time), `record_count`, `body` (its records' lines and their
canonical times: `core.segments`) and `expires_at` (newest record + retention). Why segments: a client that
logs predictions in batches writes one item per batch-hour instead of one per prediction (DynamoDB bills writes per
item and per KB, and a window read returns a few items instead of thousands); a client that logs one prediction per
request gets one small segment per request, as before.

The index is partitioned by model and UTC month: every write of a moment goes to one partition whatever its
granularity, and a month keeps a 120-day read to five queries. A time window `[start, end)` is one `Query` per
UTC month on `by_time` with `gsi1sk BETWEEN <hour of start> AND
<end>`: a segment never spans an hour, so no segment that holds a record of the window is missed. Segments wholly
inside the window are counted without being decoded. Labels are joined to predictions at read time by
`request_id`, from the label segments observed from one day before the window (clock skew) to the reader's
"now"; a later `observed_at` replaces an earlier label for the same request.

Registry table: `pk` = model name, `sk` = version; `by_status` index on `model_status` = `<model>#<status>`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

AttributeType = Literal["S", "N", "B"]

TTL_ATTRIBUTE = "expires_at"
BY_TIME_INDEX = "by_time"
BY_STATUS_INDEX = "by_status"
#: Bytes of records (UTF-8) per segment at most (DynamoDB's item limit is 400 KB, attribute names included).
SEGMENT_MAX_BYTES = 320 * 1024


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


def segment_pk(bucket: str, key: str) -> str:
    """Partition key of the segments loaded from one S3 object."""
    return f"SEG#{bucket}/{key}"


def segment_sk(etag: str, hour: str, chunk: int) -> str:
    """Sort key of one segment of an object version: its UTC hour (`YYYY-MM-DDTHH`) and chunk number."""
    return f"{etag}#{hour}#{chunk:04d}"


def window_pk(model_name: str, moment: str) -> str:
    """`by_time` partition of a model's prediction segments of one UTC month: `moment` is a canonical time, an
    hour or a day (`YYYY-MM...`)."""
    return f"{model_name}#{moment[:7]}"


def label_window_pk(model_name: str, moment: str) -> str:
    """`by_time` partition of a model's label segments observed in one UTC month (see `window_pk`)."""
    return f"{model_name}#LABEL#{moment[:7]}"


def window_sk(first_timestamp: str, pk: str, sk: str) -> str:
    """Sort key of the `by_time` index: the segment's first canonical timestamp, so a range is a time window,
    then a digest of its key (an index sort key is limited to 1,024 bytes; an S3 key alone may be that long)."""
    digest = hashlib.sha256(f"{pk}\n{sk}".encode()).hexdigest()[:24]
    return f"{first_timestamp}#{digest}"


def object_pk(bucket: str, key: str) -> str:
    """Partition key of the ledger item recording that an object version was loaded."""
    return f"OBJECT#{bucket}/{key}"


def alert_pk(model_name: str, signal: str) -> str:
    """Partition key of an alert's cooldown state."""
    return f"ALERT#{model_name}#{signal}"
