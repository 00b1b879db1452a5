"""The S3 side of the payload-ETL: stream a source object version, write a quarantine object.

The client comes in through the constructor; `ClientError` (and a broken stream) becomes our own errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.payload_etl.logic import ObjectUnavailableError
from lambdas.payload_etl.models import ObjectBody, ObjectRef

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3.client import S3Client

_GONE_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SUPERSEDED_CODES = frozenset({"PreconditionFailed", "412"})


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
