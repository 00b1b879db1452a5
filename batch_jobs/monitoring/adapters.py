"""Adapters of the drift-check and live-evaluation jobs: the model bucket (S3), CloudWatch metrics and the lake's
reads of live evaluation. Each takes its client in its constructor and turns `ClientError` into our errors. (The
registry, the payload table, the event bus and the policy state have their adapters in `core.registry`,
`core.payload_store`, `core.events` and `batch_jobs.monitoring.state`.)"""

from __future__ import annotations

import io
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from batch_jobs.drift import ReferenceProfile
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.lake.queries import PREDICTION_DAY
from batch_jobs.lake.windows import LakeWindows
from batch_jobs.monitoring.outputs import MAX_METRICS_PER_CALL, metric_batches
from batch_jobs.monitoring.review import ReviewDesign
from core.artifacts import ARTIFACT_FILES, LoadedModel, load_verified_model
from core.layout import REFERENCE_FILE, s3_uri
from core.metric_names import METRIC_NAMESPACE

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client


class ModelBucketError(RuntimeError):
    """Reading from or writing to the model bucket failed."""


class MissingObjectError(ModelBucketError):
    """An object the champion should have (its reference profile, its model) is not in the bucket."""


class MetricsError(RuntimeError):
    """CloudWatch refused or failed to take the metric data."""


class ModelBucket:
    """The champion's files (reference profile, verified model) and the reports, in the model bucket."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def _get(self, bucket: str, key: str) -> bytes:
        try:
            body: bytes = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise MissingObjectError(f"s3://{bucket}/{key} does not exist") from error
            raise ModelBucketError(f"reading s3://{bucket}/{key} failed: {error}") from error
        except BotoCoreError as error:
            raise ModelBucketError(f"reading s3://{bucket}/{key} failed: {error}") from error
        return body

    def reference_profile(self, bucket: str, prefix: str) -> ReferenceProfile:
        """The reference profile stored beside a model (`<prefix>reference.parquet`)."""
        key = f"{prefix}{REFERENCE_FILE}"
        data = self._get(bucket, key)
        try:
            return ReferenceProfile.from_parquet(io.BytesIO(data))
        except (ValueError, OSError) as error:
            raise ModelBucketError(f"s3://{bucket}/{key} is not a readable reference profile: {error}") from error

    def load_model(self, bucket: str, prefix: str, expected_sha256: str | None) -> LoadedModel:
        """The model beside the profile, unpickled only after its SHA-256 matches its manifest and the registry."""
        with tempfile.TemporaryDirectory(prefix="autoretrain-champion-") as directory:
            for name in ARTIFACT_FILES:
                Path(directory, name).write_bytes(self._get(bucket, f"{prefix}{name}"))
            return load_verified_model(directory, expected_sha256)

    def put_text(self, bucket: str, key: str, text: str, content_type: str) -> str:
        """Write one object (the bucket's default encryption applies) and return its URI."""
        try:
            self._client.put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType=content_type)
        except (ClientError, BotoCoreError) as error:
            raise ModelBucketError(f"writing s3://{bucket}/{key} failed: {error}") from error
        return s3_uri(bucket, key)


class MetricsPublisher:
    """Publishes metric data to CloudWatch under one namespace, in calls within PutMetricData's limits."""

    def __init__(self, client: CloudWatchClient, namespace: str = METRIC_NAMESPACE) -> None:
        self._client = client
        self._namespace = namespace

    def publish(self, data: list[dict[str, Any]]) -> int:
        """Put every datum; return the number of calls made."""
        batches = metric_batches(data, MAX_METRICS_PER_CALL)
        for batch in batches:
            try:
                self._client.put_metric_data(Namespace=self._namespace, MetricData=batch)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as error:
                raise MetricsError(f"PutMetricData to {self._namespace} failed: {error}") from error
        return len(batches)


class LakeLiveReads:
    """The live evaluation's lake (`batch_jobs.monitoring.live.LiveLake`) and the drift check's reviewed labels
    (`batch_jobs.monitoring.ports.ReviewedWindows`) over the jobs' lake windows (`batch_jobs.lake.windows`), which
    know SQL but no review design: this adapter turns the design into the SQL of its selection and strata."""

    def __init__(self, windows: LakeWindows) -> None:
        self._windows = windows

    def review_rows(self, model_name: str, start: datetime, end: datetime, design: ReviewDesign) -> pd.DataFrame:
        """Every prediction of [start, end) the design selects, with the features by name."""
        frame = self._windows.selected_frame(model_name, start, end, design.sql_condition())
        options, keys = frame.options, frame.keys
        assert options is not None  # selected_frame reads both
        assert keys is not None
        rows = pd.DataFrame(
            {
                "request_id": keys.request_id,
                "ts": frame.time,
                "model_version": np.asarray(frame.model_version, dtype=object),
                "arm": np.asarray(options.arm, dtype=object),
                "score": frame.score,
                "predicted_label": frame.predicted_label,
            }
        )
        return pd.concat([rows, frame.features.reset_index(drop=True)], axis=1)

    def stratum_counts(
        self, model_name: str, start: datetime, end: datetime, design: ReviewDesign
    ) -> dict[tuple[str, int], int]:
        """The window's predictions per UTC day and stratum of the design."""
        counts = self._windows.grouped_counts(model_name, start, end, [PREDICTION_DAY, design.sql_stratum()])
        return {(str(day), int(str(stratum))): n for (day, stratum), n in counts.items()}

    def reviewed_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        """The window's predictions with a reviewed label."""
        return self._windows.reviewed_frame(model_name, start, end, labels_until=labels_until)

    def outcomes(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> pd.DataFrame:
        """The matured window's labelled predictions (a bounded sample): arm, client id, time and label."""
        frame = self._windows.labelled_frame(model_name, start, end, labels_until=labels_until, options=True)
        options = frame.options
        assert options is not None  # asked for
        return pd.DataFrame(
            {
                "arm": np.asarray(options.arm, dtype=object),
                "client_id": np.asarray(options.client_id, dtype=object),
                "ts": frame.time,
                "label": np.asarray(frame.label, dtype=np.float64),
            }
        )

    def shadow_rows(
        self, model_name: str, version: str, start: datetime, end: datetime, *, labels_until: datetime
    ) -> pd.DataFrame:
        """The predictions `version` scored in shadow, both answers, and the labels observed so far."""
        return self._windows.shadowed_frame(model_name, version, start, end, labels_until=labels_until)
