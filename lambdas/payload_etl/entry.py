"""The payload-ETL Lambda's handler: S3 ObjectCreated notifications in, counts per object out.

Settings are read once, and clients created once, on the first invocation of a container (not at import: boto3
alone takes a quarter of a second to import, the AWS SDK for pandas behind the lake writer (`lake`) two seconds and
a hundred MB, and an import must not need AWS settings).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.payload_store import PayloadStore
from core.settings import PayloadEtlSettings
from lambdas.payload_etl.adapters import S3Baselines, S3ObjectStore
from lambdas.payload_etl.events import parse_s3_event
from lambdas.payload_etl.limits import EtlLimits
from lambdas.payload_etl.logic import LakeSink, process_object
from lambdas.payload_etl.models import InvocationResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EtlRuntime:
    """What a warm container keeps between invocations."""

    settings: PayloadEtlSettings
    limits: EtlLimits
    objects: S3ObjectStore
    store: PayloadStore
    lake: LakeSink
    baselines: S3Baselines


@functools.cache
def cold_start() -> EtlRuntime:
    """Settings and limits (from the function's memory) from the environment and the clients, once per
    container."""
    import boto3  # noqa: PLC0415  # deferred: ~250 ms of import that a bare import of this module must not pay
    from botocore.config import Config  # noqa: PLC0415

    from lambdas.payload_etl.lake import GlueFeatureColumns, S3Lake  # noqa: PLC0415  # deferred, as boto3: ~2 s

    settings = PayloadEtlSettings.from_env()
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
    session = boto3.session.Session()
    s3 = session.client("s3", config=config)
    return EtlRuntime(
        settings=settings,
        limits=EtlLimits.from_env(os.environ),
        objects=S3ObjectStore(s3),
        store=PayloadStore(
            session.client("dynamodb", config=config),
            settings.payload_table,
            ledger_retention_days=settings.payload_retention_days,
        ),
        lake=S3Lake(session, GlueFeatureColumns(session.client("glue", config=config), settings.lake_database)),
        baselines=S3Baselines(s3, settings.model_bucket),
    )


def reset_cold_start() -> None:
    """Forget the settings and clients (tests and the local runner start each stack afresh)."""
    cold_start.cache_clear()


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Load every object the notification names; a transient AWS error fails the invocation (Lambda retries)."""
    notification = parse_s3_event(event)
    if notification.test_event:
        logger.info("ignored the s3:TestEvent sent when the notification was configured")
        return InvocationResult(objects=(), test_event=True).to_json()
    runtime = cold_start()
    results = tuple(
        process_object(
            ref,
            objects=runtime.objects,
            store=runtime.store,
            lake=runtime.lake,
            baselines=runtime.baselines,
            retention_days=runtime.settings.payload_retention_days,
            limits=runtime.limits,
        )
        for ref in notification.objects
    )
    return InvocationResult(objects=results).to_json()
