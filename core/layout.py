"""Where things live in the payload and model buckets (DESIGN.md, "Storage")."""

from __future__ import annotations

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


#: Prefixes whose new objects trigger the payload-ETL Lambda, with the kind of record each holds.
ETL_PREFIXES: dict[str, RecordKind] = {
    PayloadPrefix.PAYLOADS.value: RecordKind.PAYLOAD,
    PayloadPrefix.LABELS.value: RecordKind.LABEL,
}

_MODEL_PARTITION = re.compile(r"(?:^|/)model=([^/]+)/")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownKeyError(ValueError):
    """An object key is outside the prefixes the ETL reads."""


def validate_model_name(name: str) -> str:
    """A model name is used in keys and table partitions: letters, digits, `_`, `.`, `-`; 1-64 characters."""
    if not _MODEL_NAME.match(name):
        raise ValueError(f"model name {name!r} must match {_MODEL_NAME.pattern}")
    return name


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


def payload_object_key(model_name: str, moment: datetime, object_id: str, *, gzip: bool = False) -> str:
    """`payloads/model=<m>/dt=<YYYY-MM-DD>/<id>.jsonl[.gz]`."""
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    return f"{PayloadPrefix.PAYLOADS}model={model_name}/dt={moment:%Y-%m-%d}/{object_id}{suffix}"


def label_object_key(model_name: str, moment: datetime, object_id: str, *, gzip: bool = False) -> str:
    """`labels/model=<m>/dt=<YYYY-MM-DD>/<id>.jsonl[.gz]`."""
    suffix = ".jsonl.gz" if gzip else ".jsonl"
    return f"{PayloadPrefix.LABELS}model={model_name}/dt={moment:%Y-%m-%d}/{object_id}{suffix}"


def quarantine_object_key(source_key: str, source_etag: str) -> str:
    """One quarantine object per source object version: redelivery overwrites it with the same content."""
    return f"{PayloadPrefix.QUARANTINE}{source_key}.{source_etag.strip(chr(34))}.errors.jsonl"


def training_prefix(model_name: str) -> str:
    """`training/<m>/`: the initial training set."""
    return f"{PayloadPrefix.TRAINING}{model_name}/"


def model_version_prefix(model_name: str, version: str) -> str:
    """`models/<m>/<version>/` in the model bucket."""
    return f"models/{model_name}/{version}/"


def release_object_key(model_name: str) -> str:
    """`release/<m>.zip`: the versioned object whose new versions start the deploy pipeline."""
    return f"release/{model_name}.zip"


def report_object_key(model_name: str, run_id: str) -> str:
    """`reports/<m>/<run-id>/report.html`."""
    return f"reports/{model_name}/{run_id}/report.html"
