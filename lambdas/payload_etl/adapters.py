"""The S3 side of the payload-ETL: stream a source object version, write a quarantine object, read the baselines
the alerting aggregates judge records against.

The client comes in through the constructor; `ClientError` (and a broken stream) becomes our own errors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from core.aggregates import Judge
from core.baseline import BaselineError, MonitoringBaseline
from core.layout import BASELINE_FILE, model_version_prefix
from lambdas.payload_etl.logic import ObjectUnavailableError
from lambdas.payload_etl.models import ObjectBody, ObjectRef

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client

_GONE_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SUPERSEDED_CODES = frozenset({"PreconditionFailed", "412"})
#: How long a baseline that could not be read is not asked for again (seconds).
MISSING_TTL_S = 60.0
LOGGER = logging.getLogger(__name__)


class ObjectStoreError(RuntimeError):
    """An S3 request failed (access, throttling, network); the invocation fails and Lambda retries it."""


class S3ObjectStore:
    """Source objects and quarantine objects in the payload bucket."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    @contextmanager
    def open(self, ref: ObjectRef, piece_bytes: int) -> Iterator[ObjectBody]:
        """Exactly the version the event names (`IfMatch` on its ETag), streamed in pieces of at most
        `piece_bytes`; the connection is released on leaving the block, whether the body was read or not."""
        try:
            response = self._client.get_object(Bucket=ref.bucket, Key=ref.key, IfMatch=f'"{ref.etag}"')
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _GONE_CODES:
                raise ObjectUnavailableError(f"object no longer exists ({code})") from error
            if code in _SUPERSEDED_CODES:
                raise ObjectUnavailableError(
                    f"object was overwritten since the event (ETag {ref.etag} no longer current); "
                    "the new version has its own event"
                ) from error
            raise ObjectStoreError(f"GetObject s3://{ref.bucket}/{ref.key} failed: {error}") from error
        except BotoCoreError as error:
            raise ObjectStoreError(f"GetObject s3://{ref.bucket}/{ref.key} failed: {error}") from error
        stream = response["Body"]
        try:
            yield ObjectBody(size=response["ContentLength"], chunks=_pieces(ref, stream, piece_bytes))
        finally:
            stream.close()

    def put_quarantine(self, bucket: str, key: str, body: bytes) -> None:
        """Write one quarantine object (JSON Lines); the bucket's default encryption applies."""
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        except (ClientError, BotoCoreError) as error:
            raise ObjectStoreError(f"PutObject s3://{bucket}/{key} failed: {error}") from error


def _pieces(ref: ObjectRef, stream: StreamingBody, piece_bytes: int) -> Iterator[bytes]:
    """The body's bytes; a connection that breaks or times out mid-body is an `ObjectStoreError` (retried)."""
    try:
        yield from stream.iter_chunks(piece_bytes)
    except BotoCoreError as error:
        raise ObjectStoreError(f"reading s3://{ref.bucket}/{ref.key} failed: {error}") from error


class S3Baselines:
    """`logic.BaselineSource`: each version's `baseline.json` in the model bucket, read once per container.

    A version's files are uploaded before it can be served, so a baseline that is missing (or malformed) stays
    unread for `MISSING_TTL_S` only: the version's rows are meanwhile counted with their scores alone.
    """

    def __init__(self, client: S3Client, bucket: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._bucket = bucket
        self._clock = clock
        self._judges: dict[tuple[str, str], Judge] = {}
        self._missing: dict[tuple[str, str], float] = {}

    def judge(self, model_name: str, version: str) -> Judge | None:
        """The version's judge, or None if its baseline cannot be read now (a throttled or failed read raises
        `ObjectStoreError`: the invocation is retried)."""
        key = (model_name, version)
        if key in self._judges:
            return self._judges[key]
        if self._clock() < self._missing.get(key, float("-inf")):
            return None
        object_key = f"{model_version_prefix(model_name, version)}{BASELINE_FILE}"
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=object_key)["Body"].read()
            judge = Judge.of(MonitoringBaseline.loads(body))
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) not in _GONE_CODES:
                raise ObjectStoreError(f"GetObject s3://{self._bucket}/{object_key} failed: {error}") from error
            LOGGER.warning("no baseline at s3://%s/%s: its rows are counted without it", self._bucket, object_key)
            self._missing[key] = self._clock() + MISSING_TTL_S
            return None
        except BaselineError as error:
            LOGGER.warning("baseline s3://%s/%s is malformed: %s", self._bucket, object_key, error)
            self._missing[key] = self._clock() + MISSING_TTL_S
            return None
        except BotoCoreError as error:
            raise ObjectStoreError(f"GetObject s3://{self._bucket}/{object_key} failed: {error}") from error
        self._judges[key] = judge
        return judge
