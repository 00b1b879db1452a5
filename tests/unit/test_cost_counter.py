"""The emulator's request counter names each request's service and operation and reads its billing units."""

from __future__ import annotations

import base64

import pytest

from autoretrain.emulator import dynamodb_units, firehose_units, s3_operation, service_of

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=testing/20261203/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
)


@pytest.mark.parametrize("service", ["s3", "dynamodb", "firehose", "sns", "monitoring"])
def test_the_service_is_the_credential_scopes(service: str) -> None:
    assert service_of({"HTTP_AUTHORIZATION": SIGNED.format(service=service)}) == service


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("GET", "/bucket/payloads/a.jsonl", "", {}, "GetObject"),
        ("GET", "/bucket", "list-type=2&prefix=payloads%2F", {}, "ListObjects"),
        ("GET", "/bucket/", "list-type=2", {}, "ListObjects"),
        ("PUT", "/bucket/lake/x.parquet", "", {}, "PutObject"),
        ("PUT", "/bucket/lake/y.parquet", "", {"HTTP_X_AMZ_COPY_SOURCE": "/bucket/lake/x.parquet"}, "CopyObject"),
        ("HEAD", "/bucket/lake/x.parquet", "", {}, "HeadObject"),
        ("DELETE", "/bucket/lake/x.parquet", "", {}, "DeleteObject"),
        ("POST", "/bucket", "delete", {}, "DeleteObjects"),
        ("PUT", "/bucket", "versioning", {}, "PutBucketVersioning"),
    ],
)
def test_an_s3_operation_is_its_method_and_whether_it_names_an_object(
    method: str, path: str, query: str, headers: dict[str, str], operation: str
) -> None:
    assert s3_operation(method, path, query, headers) == operation


def test_firehose_records_are_billed_in_5_kb_increments() -> None:
    records = [{"Data": base64.b64encode(b"x" * size).decode()} for size in (1, 5120, 5121)]
    assert firehose_units({"Records": records}) == {
        "records": 3,
        "record_bytes": 1 + 5120 + 5121,
        "billed_bytes": 5120 + 5120 + 10240,
    }


def test_dynamodb_writes_cost_a_unit_per_kb_and_reads_half_a_unit_per_4_kb_eventually_consistent() -> None:
    item = {"pk": {"S": "a" * 2000}}
    assert dynamodb_units("PutItem", {"Item": item}, {})["write_units"] == 2
    batch = {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}] * 3}}
    assert dynamodb_units("BatchWriteItem", batch, {})["write_units"] == 3
    found = {"Items": [{"pk": {"S": "c" * 3000}}, {"pk": {"S": "d" * 3000}}]}
    assert dynamodb_units("Query", {}, found) == {"read_units": 1.0, "items_read": 2}
    assert dynamodb_units("Query", {"ConsistentRead": True}, found)["read_units"] == 2.0
    assert dynamodb_units("GetItem", {}, {})["read_units"] == 0.5  # a miss still costs its minimum
