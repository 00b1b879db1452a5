"""An embedded AWS emulator (moto's server on a loopback port) provisioned like the stack.

Used by the tests and by `autoretrain demo`. Code under test reaches it only through the standard
`AWS_ENDPOINT_URL`; nothing here changes how the runtime code talks to AWS.

One change to how moto's own server runs, not visible in what it answers: moto's list of its service packages
is read from disk once (it lists and `stat`s its package directory on every request to tell a service name from
a host name: about a tenth of a request's CPU time). The server also counts the requests it answers
(`Emulator.requests`, which the demo reports), with their bytes and billing units by service and operation
(`Emulator.request_counts`, which `autoretrain cost` measures with).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from moto import backends
from moto.server import ThreadedMotoServer

from core.buckets import MODEL_BUCKET, PAYLOAD_BUCKET, BucketSpec
from core.lake import LakeTable, glue_database_name, glue_table_input
from core.layout import payload_stream_error_prefix, payload_stream_name, payload_stream_prefix
from core.settings import EnvVar
from core.tables import PAYLOAD_TABLE, REGISTRY_TABLE, TableSpec

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

EMULATOR_REGION = "us-east-1"
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True, slots=True)
class LocalResources:
    """Physical names of the resources provisioned on the emulator."""

    payload_bucket: str
    model_bucket: str
    payload_table: str
    registry_table: str
    alert_topic_arn: str
    event_bus: str
    lake_database: str
    payload_stream: str

    def environment(self, model_name: str, payload_retention_days: int = 90) -> dict[str, str]:
        """The deployment contract's environment variables, as infra sets them on AWS."""
        return {
            EnvVar.PAYLOAD_BUCKET.value: self.payload_bucket,
            EnvVar.MODEL_BUCKET.value: self.model_bucket,
            EnvVar.PAYLOAD_TABLE.value: self.payload_table,
            EnvVar.REGISTRY_TABLE.value: self.registry_table,
            EnvVar.ALERT_TOPIC_ARN.value: self.alert_topic_arn,
            EnvVar.EVENT_BUS.value: self.event_bus,
            EnvVar.MODEL_NAME.value: model_name,
            EnvVar.PAYLOAD_RETENTION_DAYS.value: str(payload_retention_days),
            EnvVar.LAKE_DATABASE.value: self.lake_database,
            EnvVar.LAKE_ENGINE.value: "duckdb",
            EnvVar.PAYLOAD_STREAM.value: self.payload_stream,
        }


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_LIST_OF_MOTO_MODULES())


_LIST_OF_MOTO_MODULES = backends.list_of_moto_modules


#: The SigV4 credential scope: `<key>/<date>/<region>/<service>/aws4_request`.
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_CREDENTIAL = re.compile(r"X-Amz-Credential=[^&]*?%2F([a-z0-9-]+)%2Faws4_request", re.IGNORECASE)
#: JSON-protocol services whose requests the counter reads for billing units (bodies are small).
_INSPECTED_SERVICES = frozenset({"dynamodb", "firehose", "events"})
#: DynamoDB's request units: a write unit per KB of an item, a read unit per 4 KB (strongly consistent; half for
#: eventually consistent reads), transactions twice that.
_WRITE_UNIT_BYTES = 1024
_READ_UNIT_BYTES = 4096
#: Firehose bills ingestion in 5 KB increments per record.
_FIREHOSE_INCREMENT_BYTES = 5 * 1024


@dataclass
class OperationCount:
    """What the emulator answered for one (service, operation): requests, bytes in and out, and billing units
    read from the requests where the service bills by more than the request (`units`: DynamoDB's `write_units`,
    `read_units`, `items_written`, `item_bytes_written`, `items_read`; Firehose's `records`, `record_bytes`,
    `billed_bytes` (each record rounded up to 5 KB); EventBridge's `entries`)."""

    requests: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    units: dict[str, float] = field(default_factory=dict)

    def add_units(self, units: Mapping[str, float]) -> None:
        """Add billing units to the running totals."""
        for name, value in units.items():
            self.units[name] = self.units.get(name, 0.0) + value

    def copy(self) -> OperationCount:
        """An independent copy."""
        return OperationCount(self.requests, self.request_bytes, self.response_bytes, dict(self.units))


#: (service, operation) -> its counts.
RequestCounts = dict[tuple[str, str], OperationCount]


def service_of(environ: Mapping[str, object]) -> str:
    """The AWS service a request is signed for (the SigV4 credential scope, header or presigned query)."""
    match = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if match is None:
        match = _QUERY_CREDENTIAL.search(str(environ.get("QUERY_STRING", "")))
    return match.group(1) if match else "unknown"


#: Query parameters of a bucket GET that lists its objects (any other names a bucket sub-resource).
_LIST_PARAMETERS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "continuation-token",
        "max-keys",
        "marker",
        "start-after",
        "encoding-type",
        "fetch-owner",
        "versions",
        "key-marker",
        "version-id-marker",
    }
)
_BUCKET_OPERATIONS = {"HEAD": "HeadBucket", "PUT": "PutBucket", "DELETE": "DeleteBucket", "GET": "GetBucket"}
_OBJECT_OPERATIONS = {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


def s3_operation(method: str, path: str, query: str, environ: Mapping[str, object]) -> str:
    """An S3 request's operation from its method and whether its (path-style) path names an object or the bucket:
    `GetObject` vs `ListObjects`, `PutObject` vs `CopyObject` (a copy source header) or `UploadPart`, and so on."""
    parameters = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if "/" not in path.strip("/"):
        return _s3_bucket_operation(method, parameters)
    if method == "PUT":
        if "partNumber" in parameters:
            return "UploadPart"
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "CopyObject"
        return "PutObjectTagging" if "tagging" in parameters else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in parameters else "CompleteMultipartUpload"
    return _OBJECT_OPERATIONS.get(method, method.title() + "Object")


def _s3_bucket_operation(method: str, parameters: Mapping[str, str]) -> str:
    if method == "GET" and not set(parameters) - _LIST_PARAMETERS:
        return "ListObjectVersions" if "versions" in parameters else "ListObjects"
    if method == "POST" and "delete" in parameters:
        return "DeleteObjects"
    subresource = sorted(set(parameters) - _LIST_PARAMETERS)
    return _BUCKET_OPERATIONS.get(method, method.title() + "Bucket") + "".join(part.title() for part in subresource[:1])


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _item_bytes(item: object) -> int:
    """An item's size as DynamoDB counts it, approximated by its attribute names and values' JSON length."""
    return len(json.dumps(item, separators=(",", ":")))


def _write_units(size: int) -> int:
    return max(1, -(-size // _WRITE_UNIT_BYTES))


def _read_units(size: int, *, consistent: bool) -> float:
    units = max(1, -(-size // _READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def _written(sizes: list[int], factor: int = 1) -> dict[str, float]:
    return {
        "write_units": factor * sum(map(_write_units, sizes)),
        "items_written": len(sizes),
        "item_bytes_written": sum(sizes),
    }


def _read(items: list[Any], *, consistent: bool, per_item: bool, factor: int = 1) -> dict[str, float]:
    sizes = [_item_bytes(item) for item in items]
    units = (
        sum(_read_units(size, consistent=consistent) for size in sizes)
        if per_item
        else _read_units(sum(sizes), consistent=consistent)
    )
    return {"read_units": factor * units, "items_read": len(items)}


def _batch_write_sizes(request: Mapping[str, Any]) -> list[int]:
    return [
        _item_bytes(entry.get("PutRequest", {}).get("Item", entry.get("DeleteRequest", {}).get("Key", {})))
        for entries in request.get("RequestItems", {}).values()
        for entry in entries
    ]


def _transact_write(request: Mapping[str, Any], _: Mapping[str, Any]) -> dict[str, float]:
    entries: list[Mapping[str, Any]] = [next(iter(entry.values()), {}) for entry in request.get("TransactItems", [])]
    return _written([_item_bytes(entry.get("Item", entry.get("Key", {}))) for entry in entries], 2)


def _batch_get(request: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, float]:
    specs = list(request.get("RequestItems", {}).values())
    keys = [key for spec in specs for key in spec.get("Keys", [])]
    found: list[Any] = [item for items in response.get("Responses", {}).values() for item in items]
    missing: list[Any] = [{}] * max(0, len(keys) - len(found))
    return _read(found + missing, consistent=any(spec.get("ConsistentRead") for spec in specs), per_item=True)


def _consistent(request: Mapping[str, Any]) -> bool:
    return bool(request.get("ConsistentRead"))


_DynamoDBUnits = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, float]]
_DYNAMODB_UNITS: dict[str, _DynamoDBUnits] = {
    "PutItem": lambda request, _: _written([_item_bytes(request.get("Item", {}))]),
    "DeleteItem": lambda request, _: _written([_item_bytes(request.get("Key", {}))]),
    "UpdateItem": lambda request, _: _written(
        [_item_bytes(request.get("Key", {})) + _item_bytes(request.get("ExpressionAttributeValues", {}))]
    ),
    "BatchWriteItem": lambda request, _: _written(_batch_write_sizes(request)),
    "TransactWriteItems": _transact_write,
    "GetItem": lambda request, response: _read(
        [response.get("Item", {})], consistent=_consistent(request), per_item=True
    ),
    "BatchGetItem": _batch_get,
    "Query": lambda request, response: _read(
        list(response.get("Items", [])), consistent=_consistent(request), per_item=False
    ),
    "Scan": lambda request, response: _read(
        list(response.get("Items", [])), consistent=_consistent(request), per_item=False
    ),
    "TransactGetItems": lambda _, response: _read(
        [entry.get("Item", {}) for entry in response.get("Responses", [])], consistent=True, per_item=True, factor=2
    ),
}


def dynamodb_units(operation: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, float]:
    """DynamoDB's billing units of one call, from its request and response documents (see `OperationCount`).

    Item sizes are approximated by their JSON length; an update is counted on its key and new values (DynamoDB bills
    the larger of the item before and after); a read that finds nothing still costs its minimum."""
    units = _DYNAMODB_UNITS.get(operation)
    return {} if units is None else units(request, response)


def firehose_units(request: Mapping[str, Any]) -> dict[str, float]:
    """Firehose's billing units of a PutRecord/PutRecordBatch: records, their bytes, and their bytes rounded up to
    5 KB each (what ingestion is billed on)."""
    records = request.get("Records") or ([request["Record"]] if "Record" in request else [])
    sizes = [len(base64.b64decode(str(record.get("Data", "")))) for record in records]
    billed = sum(-(-size // _FIREHOSE_INCREMENT_BYTES) * _FIREHOSE_INCREMENT_BYTES for size in sizes)
    return {"records": len(sizes), "record_bytes": sum(sizes), "billed_bytes": billed}


class _CountingApp:
    """WSGI middleware: counts the requests, and their bytes and billing units by (service, operation), before
    handing them to the application.

    The service comes from the SigV4 credential scope; the operation from `X-Amz-Target` (JSON protocols), the
    `Action` form field (query protocols: SNS), the path's last segment (Smithy RPC v2 CBOR) or, for S3, the method
    and whether the path names an object or the bucket (`s3_operation`). Request bytes are the body's length as
    sent (`X-Amz-Decoded-Content-Length` for S3's chunked uploads), response bytes what the server sent back. With
    `billing_units`, DynamoDB's, Firehose's and EventBridge's bodies are read for their billing units too.
    """

    def __init__(self, app: WSGIApplication, *, billing_units: bool = False) -> None:
        self._app = app
        self._billing_units = billing_units
        self._lock = threading.Lock()
        self.requests = 0
        self.operations: RequestCounts = {}

    def snapshot(self) -> RequestCounts:
        """A copy of the counts so far."""
        with self._lock:
            return {key: count.copy() for key, count in self.operations.items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        service = service_of(environ)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        length = int(environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0)
        body = b""
        content_type = str(environ.get("CONTENT_TYPE", ""))
        inspects = self._billing_units and service in _INSPECTED_SERVICES
        reads_body = inspects or content_type.startswith("application/x-www-form-urlencoded")
        if reads_body and length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        operation = self._operation(service, method, environ, body)
        with self._lock:
            self.requests += 1
            count = self.operations.setdefault((service, operation), OperationCount())
            count.requests += 1
            count.request_bytes += length
        if not inspects:
            return self._respond(self._app(environ, start_response), service, operation)
        if service == "firehose" and operation in ("PutRecord", "PutRecordBatch"):
            self._add_units(service, operation, firehose_units(_json(body)))
        if service == "events" and operation == "PutEvents":
            self._add_units(service, operation, {"entries": len(_json(body).get("Entries", []))})
        response = self._app(environ, start_response)
        if service == "dynamodb":
            chunks = list(response)
            if hasattr(response, "close"):
                response.close()
            self._add_units(service, operation, dynamodb_units(operation, _json(body), _json(b"".join(chunks))))
            self._add_response_bytes(service, operation, sum(map(len, chunks)))
            return chunks
        return self._respond(response, service, operation)

    @staticmethod
    def _operation(service: str, method: str, environ: WSGIEnvironment, body: bytes) -> str:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target:
            return target.rsplit(".", 1)[-1]
        path = urllib.parse.unquote(str(environ.get("PATH_INFO", "")))
        query = str(environ.get("QUERY_STRING", ""))
        if service == "s3":
            return s3_operation(method, path, query, environ)
        fields = dict(urllib.parse.parse_qsl(query))
        if body and str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
            fields.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        if "Action" in fields:
            return fields["Action"]
        if "/operation/" in path:
            return path.rsplit("/", 1)[-1]
        return f"{method} {path.split('/')[1] if path.count('/') else path}".strip()

    def _add_units(self, service: str, operation: str, units: Mapping[str, float]) -> None:
        with self._lock:
            self.operations.setdefault((service, operation), OperationCount()).add_units(units)

    def _add_response_bytes(self, service: str, operation: str, size: int) -> None:
        with self._lock:
            self.operations.setdefault((service, operation), OperationCount()).response_bytes += size

    def _respond(self, response: Iterable[bytes], service: str, operation: str) -> Iterable[bytes]:
        if isinstance(response, list | tuple):  # answered whole: count it now, not when the server has sent it
            self._add_response_bytes(service, operation, sum(map(len, response)))
            return response
        return self._counted(response, service, operation)

    def _counted(self, response: Iterable[bytes], service: str, operation: str) -> Iterator[bytes]:
        size = 0
        try:
            for chunk in response:
                size += len(chunk)
                yield chunk
        finally:
            if hasattr(response, "close"):
                response.close()
            self._add_response_bytes(service, operation, size)


class Emulator:
    """moto's server in a thread on 127.0.0.1 with an OS-chosen port."""

    def __init__(self, *, billing_units: bool = False) -> None:
        """`billing_units`: also read DynamoDB's, Firehose's and EventBridge's requests (and DynamoDB's responses)
        for their billing units (`OperationCount.units`; `autoretrain cost` asks for them, the demo does not pay for
        the parsing)."""
        backends.list_of_moto_modules = _moto_modules  # the same list, read once
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._billing_units = billing_units
        self._counter: _CountingApp | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._server.start()
        wsgi_server = self._server._server  # moto keeps its werkzeug server private
        if wsgi_server is not None:  # werkzeug looks its application up on every request
            self._counter = _CountingApp(wsgi_server.app, billing_units=self._billing_units)
            wsgi_server.app = self._counter
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    @property
    def requests(self) -> int:
        """HTTP requests the server has answered since it started."""
        return 0 if self._counter is None else self._counter.requests

    def request_counts(self) -> RequestCounts:
        """Requests, bytes and billing units by (service, operation) since the server started (a copy)."""
        return {} if self._counter is None else self._counter.snapshot()

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()

    def environment(self) -> dict[str, str]:
        """Standard AWS variables that point boto3 at this emulator with dummy credentials."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, "AWS_DEFAULT_REGION": EMULATOR_REGION, **EMULATOR_CREDENTIALS}


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, restoring the previous values after."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def create_bucket(session: boto3.Session, spec: BucketSpec, name: str) -> str:
    """Create a bucket as the stack defines it (versioning where the spec asks for it)."""
    s3 = session.client("s3")
    s3.create_bucket(Bucket=name)
    if spec.versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def create_table(session: boto3.Session, spec: TableSpec, name: str) -> str:
    """Create a table from the same definition infra uses, with its TTL attribute."""
    dynamodb = session.client("dynamodb")
    dynamodb.create_table(**spec.create_table_kwargs(name))
    if spec.ttl_attribute:
        dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute}
        )
    return name


def create_lake(session: boto3.Session, bucket: str, database: str) -> str:
    """Create the lake's Glue database and its tables from the same definitions infra uses (`core.lake`)."""
    glue = session.client("glue")
    glue.create_database(DatabaseInput={"Name": database})
    for table in LakeTable:
        glue.create_table(DatabaseName=database, TableInput=glue_table_input(bucket, table))  # type: ignore[arg-type]
    return database


def create_payload_stream(session: boto3.Session, bucket: str, model_name: str, name: str) -> str:
    """Create the model's Firehose delivery stream into the payload bucket, with the prefixes infra gives it.

    moto writes each `PutRecordBatch` as one object at once (no buffering, no compression) and does not expand the
    prefix's `!{...}` expressions: the ETL reads such an object as it reads the ones Firehose writes.
    """
    session.client("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose-payloads",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": payload_stream_prefix(model_name),
            "ErrorOutputPrefix": payload_stream_error_prefix(model_name),
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64},
            "CompressionFormat": "GZIP",
        },
    )
    return name


def release(session: boto3.Session, resources: LocalResources) -> None:
    """Delete what counts against a quota of moto's (50 Firehose streams an account, shared by every emulator of the
    process): tests and measurements that provision a stack each call this when done with it."""
    session.client("firehose").delete_delivery_stream(DeliveryStreamName=resources.payload_stream)


def provision(session: boto3.Session, prefix: str = "autoretrain", *, model_name: str = "churn") -> LocalResources:
    """Create the stack's buckets, tables, lake catalog, topic, bus and the model's payload stream on the emulator
    and return their names."""
    topic_arn = session.client("sns").create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    bus_name = f"{prefix}-bus"
    session.client("events").create_event_bus(Name=bus_name)
    payload_bucket = create_bucket(session, PAYLOAD_BUCKET, f"{prefix}-{PAYLOAD_BUCKET.logical_name}")
    return LocalResources(
        payload_bucket=payload_bucket,
        model_bucket=create_bucket(session, MODEL_BUCKET, f"{prefix}-{MODEL_BUCKET.logical_name}"),
        payload_table=create_table(session, PAYLOAD_TABLE, f"{prefix}-{PAYLOAD_TABLE.logical_name}"),
        registry_table=create_table(session, REGISTRY_TABLE, f"{prefix}-{REGISTRY_TABLE.logical_name}"),
        alert_topic_arn=topic_arn,
        event_bus=bus_name,
        lake_database=create_lake(session, payload_bucket, glue_database_name(prefix)),
        payload_stream=create_payload_stream(
            session, payload_bucket, model_name, payload_stream_name(prefix, model_name)
        ),
    )
