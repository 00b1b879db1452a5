"""S3 notifications -> typed object references."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lambdas.payload_etl.events import EventShapeError, parse_s3_event
from lambdas.payload_etl.models import ObjectRef

EVENTS = Path(__file__).parents[1] / "events"


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return document


def test_an_object_created_event_names_the_object_with_its_key_url_decoded() -> None:
    event = sample("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["key"] = "payloads/model%3Dchurn/dt%3D2026-11-23/batch+1%2Bx.jsonl"
    (ref,) = parse_s3_event(event).objects
    assert ref == ObjectRef(
        bucket="example-payload-bucket",
        key="payloads/model=churn/dt=2026-11-23/batch 1+x.jsonl",
        etag="d41d8cd98f00b204e9800998ecf8427e",
        size=1024,
        arrival_epoch=int(datetime(2026, 11, 23, 10, 5, tzinfo=UTC).timestamp()),  # its eventTime
    )


@pytest.mark.parametrize(
    ("event_time", "epoch"),
    [
        ("2026-11-23T10:05:00.000Z", 1_795_428_300),
        ("2026-11-23T11:05:00.999+01:00", 1_795_428_300),
        ("2026-11-23T10:05:00", None),  # no offset: not a time S3 sends
        ("yesterday", None),
        (1_795_428_300, None),
        (None, None),
    ],
)
def test_the_arrival_time_is_the_events_time_in_epoch_seconds_or_none(event_time: object, epoch: int | None) -> None:
    event = sample("s3_object_created.json")
    if event_time is None:
        del event["Records"][0]["eventTime"]
    else:
        event["Records"][0]["eventTime"] = event_time
    assert parse_s3_event(event).objects[0].arrival_epoch == epoch


def test_a_quoted_etag_is_unquoted() -> None:
    event = sample("s3_object_created.json")
    event["Records"][0]["s3"]["object"]["eTag"] = '"abc"'
    assert parse_s3_event(event).objects[0].etag == "abc"


def test_the_s3_test_event_names_no_objects() -> None:
    notification = parse_s3_event(sample("s3_test_event.json"))
    assert notification.test_event
    assert notification.objects == ()


def test_an_object_removed_event_is_refused() -> None:
    with pytest.raises(EventShapeError, match="not an S3 ObjectCreated notification"):
        parse_s3_event(sample("s3_object_removed.json"))


def test_an_event_without_records_is_refused() -> None:
    with pytest.raises(EventShapeError, match="no 'Records' list"):
        parse_s3_event({"detail-type": "Object Created"})


def test_a_record_without_an_etag_is_refused() -> None:
    event = sample("s3_object_created.json")
    del event["Records"][0]["s3"]["object"]["eTag"]
    with pytest.raises(EventShapeError, match="record 1 lacks"):
        parse_s3_event(event)
