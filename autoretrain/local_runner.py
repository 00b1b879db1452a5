"""The local runner's event delivery: what AWS does between our functions, done by hand on the emulator.

moto stores objects but does not invoke Lambda functions on S3 notifications, so the runner lists new objects
under the notified prefixes and hands each to the handler as the S3 event notification AWS would send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def s3_object_created_event(
    bucket: str, key: str, *, size: int, etag: str, event_time: datetime, region: str = "us-east-1"
) -> dict[str, Any]:
    """An `ObjectCreated:Put` notification in the shape S3 delivers it (key URL-encoded, as S3 does)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:autoretrain-local-runner"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "local", "x-amz-id-2": "local"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "payload-etl",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/="),
                        "size": size,
                        "eTag": etag.strip('"'),
                        "sequencer": f"{int(event_time.timestamp() * 1e6):016X}",
                    },
                },
            }
        ]
    }


@dataclass
class S3NotificationPump:
    """Finds objects created under some prefixes since the last call and turns each into its S3 event."""

    s3: S3Client
    bucket: str
    prefixes: tuple[str, ...]
    _delivered: set[tuple[str, str]] = field(default_factory=set)

    def new_events(self, event_time: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Events for objects not delivered before, oldest first, stamped `event_time` (a replay's simulated clock)
        or else the object's `LastModified`."""
        fresh = sorted(self._list_new(), key=lambda item: (item["LastModified"], item["Key"]))
        for item in fresh:
            self._delivered.add((item["Key"], item["ETag"]))
            yield s3_object_created_event(
                self.bucket,
                item["Key"],
                size=item["Size"],
                etag=item["ETag"],
                event_time=event_time or item["LastModified"],
            )

    def _list_new(self) -> Iterable[Any]:
        paginator = self.s3.get_paginator("list_objects_v2")
        for prefix in self.prefixes:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if (item["Key"], item["ETag"]) not in self._delivered:
                        yield item
