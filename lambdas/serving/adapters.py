"""Adapters of the serving Lambda: the payload log (an Amazon Data Firehose delivery stream) and the model baked
into the image."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from core.artifacts import LoadedModel, has_artifact, load_verified_model
from core.retry import RetryPolicy
from lambdas.serving.batching import (
    DEFAULT_RETRY,
    RecordFailure,
    batch_records,
    deliver,
    failures_of,
    pack_records,
)
from lambdas.serving.models import ModelMismatchError, PayloadLogError

LOGGER = logging.getLogger(__name__)


class FirehoseClient(Protocol):
    """The one call of boto3's Firehose client the payload log makes (`boto3.client("firehose")`)."""

    def put_record_batch(self, *, DeliveryStreamName: str, Records: Sequence[Mapping[str, bytes]]) -> Any:  # noqa: N803
        """PutRecordBatch: `{"FailedPutCount": n, "RequestResponses": [{"RecordId"} | {"ErrorCode", ...}]}`."""


class PayloadLog:
    """Sends one invocation's payload lines to the model's Firehose delivery stream, packed into as few records
    and PutRecordBatch calls as Firehose's limits allow (`lambdas.serving.batching`); records Firehose reports
    failed are re-sent with backoff. Firehose answers a call only once it has stored the records durably."""

    def __init__(
        self,
        firehose: FirehoseClient,
        stream: str,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._firehose = firehose
        self._stream = stream
        self._retry = retry
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()  # noqa: S311  # jitter, not security

    def write(self, lines: Sequence[bytes]) -> None:
        """Deliver the lines (each a JSON line ending in a newline); raises PayloadLogError when Firehose refuses
        a call or retries leave records unsent (records of earlier calls may then be stored already)."""
        for batch in batch_records(pack_records(lines)):
            deliver(batch, self._send, policy=self._retry, sleep=self._sleep, rng=self._rng, what=self._stream)

    def _send(self, records: Sequence[bytes]) -> list[RecordFailure]:
        try:
            response = self._firehose.put_record_batch(
                DeliveryStreamName=self._stream, Records=[{"Data": record} for record in records]
            )
        except (ClientError, BotoCoreError) as error:
            raise PayloadLogError(f"PutRecordBatch to {self._stream} failed: {error}") from error
        return failures_of(response)


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


def load_shadow_model(model_dir: str | os.PathLike[str], champion: LoadedModel) -> LoadedModel | None:
    """The verified shadow challenger in `model_dir`, or None if the directory holds no model (an image released
    without a challenger while the stack shadows: nothing to shadow, with a warning).

    Verified exactly as the champion is (`load_baked_model`: SHA-256 before unpickling, the served model's name,
    ModelMismatchError for another). Whether it can score the champion's requests is `logic.check_shadow`'s call.
    """
    if not has_artifact(model_dir):
        LOGGER.warning("no shadow challenger in %s: serving the champion alone", model_dir)
        return None
    shadow = load_baked_model(model_dir, champion.manifest.model_name)
    if shadow is None:  # has_artifact said there is one; only a race with the file system gets here
        return None
    LOGGER.info(
        "shadow challenger %s scores beside champion %s", shadow.manifest.model_version, champion.manifest.model_version
    )
    return shadow
