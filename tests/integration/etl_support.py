"""Helpers for the payload-ETL's emulator tests: put an object as S3 would notify it, write a version's baseline, and
read back what the ETL wrote (the lake's Parquet files, the aggregate items, the ledger)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pyarrow.parquet as pq

from autoretrain.emulator import LocalResources
from core.aggregates import Aggregate
from core.baseline import MonitoringBaseline
from core.lake import LakeTable, table_prefix
from core.layout import BASELINE_FILE, model_version_prefix
from core.payload_store import PayloadStore
from core.tables import object_pk

EVENTS = Path(__file__).parents[1] / "events"


def jsonl(*documents: object) -> bytes:
    return "".join(json.dumps(document) + "\n" for document in documents).encode()


def put_object(session: boto3.Session, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    """Put a real object and return the S3 notification S3 would send for it (key URL-encoded; the sample event's
    `eventTime`, 2026-11-23T10:05:00Z)."""
    etag = session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
    event: dict[str, Any] = json.loads((EVENTS / "s3_object_created.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = bucket
    record["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["object"].update(key=quote_plus(key, safe="/"), eTag=etag.strip('"'), size=len(body))
    return event


def etag_of(event: dict[str, Any]) -> str:
    return str(event["Records"][0]["s3"]["object"]["eTag"])


def put_baseline(session: boto3.Session, resources: LocalResources, baseline: MonitoringBaseline) -> None:
    """Upload a version's baseline.json where the ETL reads it."""
    key = model_version_prefix(baseline.model_name, baseline.model_version) + BASELINE_FILE
    session.client("s3").put_object(Bucket=resources.model_bucket, Key=key, Body=baseline.dumps().encode())


def table_items(session: boto3.Session, table: str) -> list[dict[str, Any]]:
    pages = session.client("dynamodb").get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def aggregate_items(session: boto3.Session, table: str) -> list[dict[str, Any]]:
    """Every alerting aggregate item, in key order."""
    items = [item for item in table_items(session, table) if item["pk"]["S"].startswith("AGG#")]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def store(session: boto3.Session, resources: LocalResources) -> PayloadStore:
    return PayloadStore(session.client("dynamodb"), resources.payload_table)


def window(
    session: boto3.Session, resources: LocalResources, model: str, start: datetime, end: datetime
) -> dict[datetime, Aggregate]:
    """The aggregates of [start, end) as alerting reads them, merged per bucket, oldest first."""
    buckets: dict[datetime, Aggregate] = {}
    for bucket, aggregate in store(session, resources).aggregates(model, start, end):
        buckets.setdefault(bucket, Aggregate()).merge(aggregate)
    return dict(sorted(buckets.items()))


def lake_rows(session: boto3.Session, bucket: str, table: LakeTable = LakeTable.PREDICTIONS) -> list[dict[str, Any]]:
    """Every row of the table's Parquet files, sorted by request id."""
    s3 = session.client("s3")
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=table_prefix(table))
    keys = sorted(entry["Key"] for page in listed for entry in page.get("Contents", []))
    rows = [
        row
        for key in keys
        for row in pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())).to_pylist()
    ]
    return sorted(rows, key=lambda row: str(row["request_id"]))


def lake_request_ids(session: boto3.Session, bucket: str, table: LakeTable = LakeTable.PREDICTIONS) -> list[str]:
    return [str(row["request_id"]) for row in lake_rows(session, bucket, table)]


def features_of(row: dict[str, Any]) -> dict[str, Any]:
    """A prediction row's features: its typed columns with a value, then `unparsed_features`."""
    features = {name[2:]: value for name, value in row.items() if name.startswith("f_") and value is not None}
    unparsed = row.get("unparsed_features")
    return features | (json.loads(unparsed) if unparsed is not None else {})


def clear_ledger(session: boto3.Session, resources: LocalResources, key: str, etag: str) -> None:
    """Forget that an object was loaded, as if the ledger mark had never been written."""
    session.client("dynamodb").delete_item(
        TableName=resources.payload_table,
        Key={"pk": {"S": object_pk(resources.payload_bucket, key)}, "sk": {"S": etag}},
    )
