"""The serving Lambda's payload log against moto's Firehose over HTTP (each PutRecordBatch: one S3 object)."""

from __future__ import annotations

import uuid

import boto3
import pytest

from autoretrain.emulator import LocalResources
from lambdas.serving.adapters import PayloadLog
from lambdas.serving.models import PayloadLogError

pytestmark = pytest.mark.integration


def _objects(session: boto3.Session, resources: LocalResources) -> dict[str, bytes]:
    s3 = session.client("s3")
    listing = s3.list_objects_v2(Bucket=resources.payload_bucket, Prefix="payloads/")
    return {
        item["Key"]: s3.get_object(Bucket=resources.payload_bucket, Key=item["Key"])["Body"].read()
        for item in listing.get("Contents", [])
    }


def _lines(count: int, width: int = 60) -> list[bytes]:
    return [f'{{"request_id":"r-{index:06d}","pad":"{"x" * width}"}}\n'.encode() for index in range(count)]


def test_an_invocations_lines_arrive_as_one_object_under_the_models_prefix(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    lines = _lines(1000)
    PayloadLog(aws_session.client("firehose"), resources.payload_stream).write(lines)
    objects = _objects(aws_session, resources)
    assert len(objects) == 1
    (key, body), *_ = objects.items()
    assert key.startswith("payloads/model=churn/dt=")
    assert body.splitlines(keepends=True) == lines


def test_lines_beyond_one_calls_limit_arrive_whole_over_several_calls(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    lines = _lines(24, width=200_000)  # 4.8 MB: more than one PutRecordBatch takes
    PayloadLog(aws_session.client("firehose"), resources.payload_stream).write(lines)
    objects = _objects(aws_session, resources)
    assert len(objects) == 2
    delivered = [line for body in objects.values() for line in body.splitlines(keepends=True)]
    assert sorted(delivered) == lines


def test_nothing_to_log_makes_no_call(aws_session: boto3.Session, resources: LocalResources) -> None:
    PayloadLog(aws_session.client("firehose"), resources.payload_stream).write([])
    assert _objects(aws_session, resources) == {}


def test_a_stream_that_does_not_exist_fails_the_write(aws_session: boto3.Session, resources: LocalResources) -> None:
    log = PayloadLog(aws_session.client("firehose"), f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(PayloadLogError, match="ResourceNotFoundException"):
        log.write(_lines(1))
