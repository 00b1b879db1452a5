"""The S3 side of the payload-ETL: read a source object version, write a quarantine object.

The client comes in through the constructor; `ClientError` becomes our own errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.payload_etl.logic import ObjectUnavailableError
from lambdas.payload_etl.models import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_GONE_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_SUPERSEDED_CODES = frozenset({"PreconditionFailed", "412"})


class ObjectStoreError(RuntimeError):
    """An S3 request failed (access, throttling, network); the invocation fails and Lambda retries it."""


class S3ObjectStore:
    """Source objects and quarantine objects in the payload bucket."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def read(self, ref: ObjectRef) -> bytes:
        """The bytes of exactly the version the event names (`IfMatch` on its ETag)."""
        try:
            response = self._client.get_object(Bucket=ref.bucket, Key=ref.key, IfMatch=f'"{ref.etag}"')
            return response["Body"].read()
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

    def put_quarantine(self, bucket: str, key: str, body: bytes) -> None:
        """Write one quarantine object (JSON Lines); the bucket's default encryption applies."""
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        except (ClientError, BotoCoreError) as error:
            raise ObjectStoreError(f"PutObject s3://{bucket}/{key} failed: {error}") from error
