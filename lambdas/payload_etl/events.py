"""S3 event notifications -> typed object references.

Only two shapes are valid: an S3 notification with `ObjectCreated:*` records, and the `s3:TestEvent` S3 sends once
when a notification is configured (ignored). Anything else is a wiring error and fails loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_plus

from lambdas.payload_etl.models import ObjectRef

S3_TEST_EVENT = "s3:TestEvent"


class EventShapeError(ValueError):
    """The event is not an S3 ObjectCreated notification (nor S3's test event)."""


@dataclass(frozen=True, slots=True)
class S3Notification:
    """The objects an S3 notification names; empty for the test event."""

    objects: tuple[ObjectRef, ...]
    test_event: bool = False


def _ref(record: Mapping[str, Any], position: int) -> ObjectRef:
    if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        raise EventShapeError(
            f"record {position} is not an S3 ObjectCreated notification "
            f"(eventSource={record.get('eventSource')!r}, eventName={record.get('eventName')!r})"
        )
    try:
        s3 = record["s3"]
        bucket = str(s3["bucket"]["name"])
        entry = s3["object"]
        key = unquote_plus(str(entry["key"]))  # keys arrive URL-encoded (a space is '+')
        etag = str(entry["eTag"]).strip('"')
        size = int(entry.get("size", 0))
    except (KeyError, TypeError, ValueError) as error:
        raise EventShapeError(f"record {position} lacks s3.bucket.name, s3.object.key or s3.object.eTag") from error
    return ObjectRef(bucket=bucket, key=key, etag=etag, size=size, arrival_epoch=_epoch(record.get("eventTime")))


def _epoch(value: object) -> int | None:
    """An `eventTime` (`2026-03-02T10:00:00.000Z`) in epoch seconds, None if absent or not a time."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(moment.timestamp()) if moment.tzinfo is not None else None


def parse_s3_event(event: Mapping[str, Any]) -> S3Notification:
    """The object versions an S3 notification names, in order."""
    if event.get("Event") == S3_TEST_EVENT:
        return S3Notification(objects=(), test_event=True)
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise EventShapeError("not an S3 event notification: no 'Records' list")
    return S3Notification(objects=tuple(_ref(record, position) for position, record in enumerate(records, 1)))
