"""Where things live in the payload and model buckets (DESIGN.md, "Storage"), and how an `s3://` URI names them."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum

from core.records import RecordKind


class PayloadPrefix(StrEnum):
    """Top-level prefixes of the payload bucket."""

    PAYLOADS = "payloads/"
    LABELS = "labels/"
    QUARANTINE = "quarantine/"
    TRAINING = "training/"
    INGEST_ERRORS = "ingest-errors/"
    REVIEW = "review/"


#: Prefixes whose new objects trigger the payload-ETL Lambda, with the kind of record each holds.
ETL_PREFIXES: dict[str, RecordKind] = {
    PayloadPrefix.PAYLOADS.value: RecordKind.PAYLOAD,
    PayloadPrefix.LABELS.value: RecordKind.LABEL,
}

#: The files of a model version directory (`models/<m>/<version>/`), written together by the retrain job.
MODEL_FILE = "model.pkl"  # the pickled estimator (`core.artifacts`)
MANIFEST_FILE = "manifest.json"  # what the model is and its SHA-256 (`core.artifacts.ModelManifest`)
REFERENCE_FILE = "reference.parquet"  # the drift check's reference profile
BASELINE_FILE = "baseline.json"  # the alerting Lambda's baseline (`core.baseline.MonitoringBaseline`)
SAMPLE_FILE = "sample.json"  # reference rows and their scores, for the release pipeline's smoke test
#: The version directory's files in upload order: model.pkl last, so its presence means the rest is there.
VERSION_FILES = (REFERENCE_FILE, BASELINE_FILE, SAMPLE_FILE, MANIFEST_FILE, MODEL_FILE)

REPORT_FILE = "report.html"  # a drift check's report, and beside it
RESULT_FILE = "result.json"  # its result document
_S3_SCHEME = "s3://"

_MODEL_PARTITION = re.compile(r"(?:^|/)model=([^/]+)/")
_DAY_PARTITION = re.compile(r"(?:^|/)dt=([^/]+)/")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownKeyError(ValueError):
    """An object key is outside the prefixes the ETL reads."""


def validate_model_name(name: str) -> str:
    """A model name is used in keys and table partitions: letters, digits, `_`, `.`, `-`; 1-64 characters."""
    if not is_model_name(name):
        raise ValueError(f"model name {name!r} must match {_MODEL_NAME.pattern}")
    return name


def is_model_name(name: str) -> bool:
    """Whether `name` is a valid model name (`validate_model_name`)."""
    return _MODEL_NAME.fullmatch(name) is not None


def record_kind_of(key: str) -> RecordKind:
    """The kind of records an object holds, from its key's prefix."""
    for prefix, kind in ETL_PREFIXES.items():
        if key.startswith(prefix):
            return kind
    raise UnknownKeyError(f"object key {key!r} is not under {sorted(ETL_PREFIXES)}")


def model_partition_of(key: str) -> str | None:
    """The `model=<m>` partition named in a key, if any."""
    match = _MODEL_PARTITION.search(key)
    return match.group(1) if match else None


def day_partition_of(key: str) -> str | None:
    """The `dt=<day>` partition named in a key, if any (its text, not yet checked to be a date)."""
    match = _DAY_PARTITION.search(key)
    return match.group(1) if match else None


def payload_object_key(model_name: str, moment: datetime, object_id: str, *, gzip: bool = False) -> str:
    """`payloads/model=<m>/dt=<YYYY-MM-DD>/<id>.jsonl[.gz]`."""
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    return f"{PayloadPrefix.PAYLOADS}model={model_name}/dt={moment:%Y-%m-%d}/{object_id}{suffix}"


def payload_stream_prefix(model_name: str) -> str:
    """The S3 prefix the model's Firehose delivery stream writes under: `payloads/model=<m>/dt=<arrival day>/`
    (Firehose's `!{timestamp:...}` namespace, its approximate arrival time in UTC)."""
    return f"{PayloadPrefix.PAYLOADS}model={model_name}/dt=!{{timestamp:yyyy-MM-dd}}/"


def payload_stream_error_prefix(model_name: str) -> str:
    """Where Firehose puts what it could not deliver (outside `payloads/`, so the ETL never reads it)."""
    error_type, day = "!{firehose:error-output-type}", "!{timestamp:yyyy-MM-dd}"
    return f"{PayloadPrefix.INGEST_ERRORS}model={model_name}/{error_type}/dt={day}/"


#: The suffix of the objects Firehose writes (GZIP-compressed JSON Lines; the ETL detects gzip by its magic bytes).
PAYLOAD_STREAM_FILE_EXTENSION = ".jsonl.gz"


def payload_stream_name(prefix: str, model_name: str) -> str:
    """The model's Firehose delivery stream (at most 64 characters: the model name is truncated to fit)."""
    return f"{prefix}-payloads-{model_name}"[:64]


def label_object_key(model_name: str, moment: datetime, object_id: str, *, gzip: bool = False) -> str:
    """`labels/model=<m>/dt=<YYYY-MM-DD>/<id>.jsonl[.gz]`."""
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    return f"{PayloadPrefix.LABELS}model={model_name}/dt={moment:%Y-%m-%d}/{object_id}{suffix}"


#: S3's limit on a key's length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


def quarantine_object_key(source_key: str, source_etag: str) -> str:
    """One quarantine object per source object version: redelivery overwrites it with the same content.

    `quarantine/<source key>.<etag>.errors.jsonl`, or, where that would pass S3's limit (a source key near 1,024
    bytes), the start of it cut at a character and a digest of the source key and ETag:
    `quarantine/<start of source key>~<digest>.errors.jsonl`.
    """
    etag = source_etag.strip(chr(34))
    key = f"{PayloadPrefix.QUARANTINE}{source_key}.{etag}.errors.jsonl"
    if len(key.encode()) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(f"{source_key}\n{etag}".encode()).hexdigest()[:32]
    tail = f"~{digest}.errors.jsonl"
    head = f"{PayloadPrefix.QUARANTINE}{source_key}".encode()[: MAX_KEY_BYTES - len(tail)]
    return head.decode("utf-8", "ignore") + tail


def training_prefix(model_name: str) -> str:
    """`training/<m>/`: the initial training set."""
    return f"{PayloadPrefix.TRAINING}{model_name}/"


def model_version_prefix(model_name: str, version: str) -> str:
    """`models/<m>/<version>/` in the model bucket."""
    return f"models/{model_name}/{version}/"


def version_file_key(artifact: str, name: str) -> str:
    """The key (or URI) of file `name` beside `artifact` in its version directory.

    `models/churn/v1/model.pkl`, `baseline.json` -> `models/churn/v1/baseline.json`.
    """
    return f"{artifact.rsplit('/', 1)[0]}/{name}"


def s3_uri(bucket: str, key: str) -> str:
    """`(bucket, key)` -> `s3://bucket/key` (the inverse of `parse_s3_uri`)."""
    return f"{_S3_SCHEME}{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> `(bucket, key)`; ValueError unless both the bucket and the key are non-empty."""
    bucket, slash, key = uri.removeprefix(_S3_SCHEME).partition("/")
    if not uri.startswith(_S3_SCHEME) or not slash or not bucket or not key:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def release_object_key(model_name: str) -> str:
    """`release/<m>.zip`: the versioned object whose new versions start the deploy pipeline."""
    return f"release/{model_name}.zip"


def report_object_key(model_name: str, run_id: str) -> str:
    """`reports/<m>/<run-id>/report.html`: a drift check's HTML report."""
    return f"reports/{model_name}/{run_id}/{REPORT_FILE}"


def result_object_key(model_name: str, run_id: str) -> str:
    """`reports/<m>/<run-id>/result.json`: a drift check's result document, beside its report."""
    return f"reports/{model_name}/{run_id}/{RESULT_FILE}"


def review_object_key(model_name: str, day: str) -> str:
    """`review/model=<m>/dt=<YYYY-MM-DD>/review.csv`: the day's review sample, one file a day (an export run again
    for the same day writes the same rows to the same key)."""
    return f"{PayloadPrefix.REVIEW}model={model_name}/dt={day}/review.csv"


def live_result_object_key(model_name: str, run_id: str) -> str:
    """`reports/<m>/live/<run-id>/result.json`: a live evaluation's result document."""
    return f"reports/{model_name}/live/{run_id}/{RESULT_FILE}"
