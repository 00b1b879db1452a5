"""The emulator counts requests and their bytes by service and operation, and billing units when asked."""

from __future__ import annotations

import boto3
import pytest

from autoretrain.emulator import Emulator, patched_environ, provision, release

pytestmark = pytest.mark.integration


def test_requests_bytes_and_units_are_counted_by_service_and_operation() -> None:
    emulator = Emulator(billing_units=True)
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            session = boto3.session.Session()
            resources = provision(session, prefix="counted")
            s3 = session.client("s3")
            before = emulator.request_counts()
            total_before = emulator.requests
            s3.put_object(Bucket=resources.payload_bucket, Key="a/b.txt", Body=b"x" * 1000)
            s3.get_object(Bucket=resources.payload_bucket, Key="a/b.txt")["Body"].read()
            s3.list_objects_v2(Bucket=resources.payload_bucket, Prefix="a/")
            session.client("firehose").put_record_batch(
                DeliveryStreamName=resources.payload_stream, Records=[{"Data": b"y" * 100}, {"Data": b"z" * 6000}]
            )
            session.client("dynamodb").put_item(
                TableName=resources.registry_table, Item={"pk": {"S": "a" * 2000}, "sk": {"S": "b"}}
            )
            session.client("sns").publish(TopicArn=resources.alert_topic_arn, Message="hello")
            counts = emulator.request_counts()
            assert emulator.requests - total_before == 6
            release(session, resources)
    finally:
        emulator.stop()

    def new(service: str, operation: str) -> tuple[int, int, int, dict[str, float]]:
        count = counts[(service, operation)]
        earlier = before.get((service, operation))
        requests = count.requests - (earlier.requests if earlier else 0)
        return requests, count.request_bytes, count.response_bytes, count.units

    assert new("s3", "PutObject")[:2] == (1, 1000)
    assert new("s3", "GetObject")[0] == 1
    assert new("s3", "GetObject")[2] >= 1000
    assert new("s3", "ListObjects")[0] == 1
    assert new("firehose", "PutRecordBatch")[3] == {"records": 2, "record_bytes": 6100, "billed_bytes": 15360}
    assert new("dynamodb", "PutItem")[3]["write_units"] == 2
    assert new("sns", "Publish")[0] == 1


def test_without_billing_units_the_counter_reads_no_bodies() -> None:
    emulator = Emulator()
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            session = boto3.session.Session()
            resources = provision(session, prefix="plain")
            session.client("dynamodb").put_item(
                TableName=resources.registry_table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}}
            )
            count = emulator.request_counts()[("dynamodb", "PutItem")]
            release(session, resources)
    finally:
        emulator.stop()
    assert count.requests == 1
    assert count.units == {}
