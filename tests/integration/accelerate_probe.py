"""Run by `test_accelerate.py` in a fresh interpreter: the same DynamoDB reads (and one XML error) before and after
`autoretrain.demo.accelerate.install`, printed as one JSON document (the patch is process-wide and permanent). The
items are shaped like the payload table's alerting aggregates: a partition per model and day, a time-ordered sort
key."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3

from autoretrain.demo import accelerate
from autoretrain.emulator import Emulator, patched_environ, provision


def binary_body(number: int) -> bytes:
    """Deterministic bytes that are not text (a zero byte, 0xff, UTF-8 of non-ASCII text), growing with `number`."""
    return b"\x00\xff" + json.dumps({"n": number, "text": "é" * number}, ensure_ascii=False).encode() + bytes([number])


def _key(day: str, minute: int, number: int) -> dict[str, Any]:
    return {"pk": {"S": f"AGG#churn#{day}"}, "sk": {"S": f"10:{minute:02d}#{number:024d}"}}


def _item(day: str, minute: int, number: int) -> dict[str, Any]:
    return {
        **_key(day, minute, number),
        "record_count": {"N": str(number)},
        "body": {"B": binary_body(number)},
        "expires_at": {"N": "1900000000.0"},
    }


def _reads(client: Any, table: str) -> list[Any]:
    def clean(response: dict[str, Any]) -> dict[str, Any]:
        response.pop("ResponseMetadata", None)
        cleaned: dict[str, Any] = json.loads(json.dumps(response, default=lambda value: value.hex()))
        return cleaned

    query = {
        "TableName": table,
        "KeyConditionExpression": "pk = :day AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {
            ":day": {"S": "AGG#churn#2026-03-02"},
            ":low": {"S": "10:05"},
            ":high": {"S": "10:40"},
        },
    }
    results = [clean(client.query(**query))]
    page = client.query(**query, Limit=2)
    results.append(clean(dict(page)))
    results.append(clean(client.query(**query, ExclusiveStartKey=page["LastEvaluatedKey"])))
    results.append(clean(client.query(**query, Select="COUNT")))
    results.append(clean(client.query(**query, ProjectionExpression="sk, record_count")))
    results.append(clean(client.scan(TableName=table)))
    key = _key("2026-03-02", 15, 3)
    results.append(clean(client.get_item(TableName=table, Key=key)))
    results.append(clean(client.batch_get_item(RequestItems={table: {"Keys": [key]}})))
    return results


def _xml_error(endpoint: str) -> dict[str, str]:
    """An XML error (S3's missing bucket) as sent: the request id moto writes into the body and into its header."""
    try:
        urllib.request.urlopen(f"{endpoint}/no-such-bucket-autoretrain/key", timeout=30)  # the emulator on loopback
    except urllib.error.HTTPError as error:
        return {"body": error.read().decode(), "header": str(error.headers["x-amzn-requestid"])}
    raise AssertionError("a missing bucket was found")


def main() -> int:
    """Print {"before": [...], "after": [...]} for the same data and reads."""
    emulator = Emulator()
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            session = boto3.session.Session()
            resources = provision(session)
            client = session.client("dynamodb")
            table = resources.payload_table
            for number in range(1, 9):
                client.put_item(TableName=table, Item=_item("2026-03-02", number * 5, number))
            client.put_item(TableName=table, Item=_item("2026-03-03", 5, 20))
            before = _reads(client, table)
            xml_before = _xml_error(emulator.endpoint_url)
            accelerate.install([table])
            after = _reads(client, table)
            xml_after = _xml_error(emulator.endpoint_url)
            # An in-place update, a put and a delete: the accelerated reads must follow each.
            client.update_item(
                TableName=table,
                Key=_key("2026-03-02", 20, 4),
                UpdateExpression="SET record_count = :other",
                ExpressionAttributeValues={":other": {"N": "44"}},
            )
            client.put_item(TableName=table, Item=_item("2026-03-02", 33, 30))
            client.delete_item(TableName=table, Key=_key("2026-03-02", 25, 5))
            changed = _reads(client, table)
    finally:
        emulator.stop()
    json.dump(
        {"before": before, "after": after, "changed": changed, "xml_before": xml_before, "xml_after": xml_after},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
