"""Adapters of the serving Lambda: the payload log in S3 and the model baked into the image."""

from __future__ import annotations

import logging
import os
from importlib import metadata
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from core.artifacts import LoadedModel, has_artifact, load_verified_model
from lambdas.serving.models import ModelMismatchError, PayloadLogError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOGGER = logging.getLogger(__name__)
JSONL_CONTENT_TYPE = "application/x-ndjson"


class PayloadLog:
    """Writes one invocation's payload records as one JSON Lines object in the payload bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write(self, key: str, body: bytes) -> None:
        """PUT the object; the same key and body again is a harmless overwrite. Raises PayloadLogError."""
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=JSONL_CONTENT_TYPE)
        except (ClientError, BotoCoreError) as error:
            raise PayloadLogError(f"could not write s3://{self._bucket}/{key}: {error}") from error


def load_baked_model(model_dir: str | os.PathLike[str], model_name: str) -> LoadedModel | None:
    """The verified model in `model_dir`, or None if the image has none (the bootstrap image).

    A model whose SHA-256 does not match its manifest raises (core.artifacts.ArtifactIntegrityError);
    so does a model of another name than the one this function serves.
    """
    if not has_artifact(model_dir):
        LOGGER.warning("no model in %s: serving the bootstrap 'no champion model deployed yet' response", model_dir)
        return None
    model = load_verified_model(model_dir)
    manifest = model.manifest
    if manifest.model_name != model_name:
        raise ModelMismatchError(f"the image holds model {manifest.model_name!r}, this function serves {model_name!r}")
    try:
        installed = metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        installed = "not installed"
    if installed != manifest.sklearn_version:
        LOGGER.warning(
            "model %s was trained with scikit-learn %s, this image has %s",
            manifest.model_version,
            manifest.sklearn_version,
            installed,
        )
    LOGGER.info("loaded model %s %s", manifest.model_name, manifest.model_version)
    return model
