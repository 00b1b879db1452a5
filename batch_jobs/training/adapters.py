"""S3 adapters of the retrain job and the release: the initial training set and the model bucket's objects.

They take a boto3 S3 client and turn `ClientError` into `StorageError`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from core.layout import s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TRAINING_SUFFIXES = (".parquet", ".csv", ".csv.gz")


class StorageError(RuntimeError):
    """An S3 request failed (or an object is not what it should be)."""


class ObjectNotFoundError(StorageError):
    """The object (or object version) does not exist."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class TrainingSetReader:
    """Reads the initial training set: every Parquet or CSV object under a prefix, concatenated in key order."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def read(self, prefix: str) -> pd.DataFrame | None:
        """The training set under `prefix`, or None if it holds no Parquet/CSV object."""
        try:
            keys = sorted(
                item["Key"]
                for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix)
                for item in page.get("Contents", [])
                if item["Key"].endswith(TRAINING_SUFFIXES)
            )
            parts = [self._read_one(key) for key in keys]
        except (ClientError, BotoCoreError) as error:
            raise StorageError(
                f"reading the training set under s3://{self._bucket}/{prefix} failed: {error}"
            ) from error
        return pd.concat(parts, ignore_index=True) if parts else None

    def _read_one(self, key: str) -> pd.DataFrame:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        if key.endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(body))
        return pd.read_csv(io.BytesIO(body), compression="gzip" if key.endswith(".gz") else None)


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object's bytes-free description: where it is and which version."""

    bucket: str
    key: str
    version_id: str | None
    metadata: Mapping[str, str]

    @property
    def uri(self) -> str:
        """`s3://bucket/key`."""
        return s3_uri(self.bucket, self.key)


class ObjectStore:
    """Puts and gets objects of one (versioned) bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put(
        self, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> StoredObject:
        """Write an object; returns its new version id (None on an unversioned bucket)."""
        try:
            response = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=dict(metadata or {})
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"writing s3://{self.bucket}/{key} failed: {error}") from error
        return StoredObject(self.bucket, key, response.get("VersionId"), dict(metadata or {}))

    def get(self, key: str, version_id: str | None = None) -> bytes:
        """An object's bytes (a given version if `version_id`)."""
        try:
            if version_id:
                response = self._s3.get_object(Bucket=self.bucket, Key=key, VersionId=version_id)
            else:
                response = self._s3.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read()
        except ClientError as error:
            if _code(error) in {"NoSuchKey", "NoSuchVersion", "404"}:
                raise ObjectNotFoundError(f"s3://{self.bucket}/{key} (version {version_id}) does not exist") from error
            raise StorageError(f"reading s3://{self.bucket}/{key} failed: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"reading s3://{self.bucket}/{key} failed: {error}") from error

    def head(self, key: str) -> StoredObject | None:
        """The latest version's id and metadata, or None if there is no such object."""
        try:
            response = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise StorageError(f"reading s3://{self.bucket}/{key} failed: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"reading s3://{self.bucket}/{key} failed: {error}") from error
        return StoredObject(self.bucket, key, response.get("VersionId"), dict(response.get("Metadata", {})))
