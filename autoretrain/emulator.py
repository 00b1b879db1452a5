"""An embedded AWS emulator (moto's server on a loopback port) provisioned like the stack.

Used by the tests and by `autoretrain demo`. Code under test reaches it only through the standard
`AWS_ENDPOINT_URL`; nothing here changes how the runtime code talks to AWS.

One change to how moto's own server runs, not visible in what it answers: moto's list of its service packages
is read from disk once (it lists and `stat`s its package directory on every request to tell a service name from
a host name: about a tenth of a request's CPU time). The server also counts the requests it answers
(`Emulator.requests`), which the demo reports.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


class _CountingApp:
    """WSGI middleware: counts the requests before handing them to the application."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.requests = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self.requests += 1
        return self._app(environ, start_response)


class Emulator:
    """moto's server in a thread on 127.0.0.1 with an OS-chosen port."""

    def __init__(self) -> None:
        backends.list_of_moto_modules = _moto_modules  # the same list, read once
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._counter: _CountingApp | None = None
        self.endpoint_url = ""

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._server.start()
        wsgi_server = self._server._server  # moto keeps its werkzeug server private
        if wsgi_server is not None:  # werkzeug looks its application up on every request
            self._counter = _CountingApp(wsgi_server.app)
            wsgi_server.app = self._counter
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.endpoint_url

    @property
    def requests(self) -> int:
        """HTTP requests the server has answered since it started."""
        return 0 if self._counter is None else self._counter.requests

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
