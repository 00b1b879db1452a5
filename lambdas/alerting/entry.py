"""The alerting Lambda's handler: a scheduled tick in, the verdict and action per signal out.

Settings are read once, and clients created once, on the first invocation of a container (not at import).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.events import EventBus
from core.payload_store import PayloadStore
from core.registry import Registry
from core.settings import AlertingSettings
from lambdas.alerting.adapters import AggregateStore, DynamoAlertStates, S3ObjectReader, SnsNotifier
from lambdas.alerting.logic import Ports, run_checks
from lambdas.alerting.models import AlertPolicy, ScheduledInvocation

logger = logging.getLogger(__name__)


class AlertDeliveryError(RuntimeError):
    """Some alerts could not be delivered; the invocation fails so that it shows (and the schedule retries)."""


@dataclass(frozen=True, slots=True)
class AlertingRuntime:
    """What a warm container keeps between invocations."""

    settings: AlertingSettings
    policy: AlertPolicy
    ports: Ports


@functools.cache
def cold_start() -> AlertingRuntime:
    """Settings from the environment and the clients, once per container."""
    import boto3  # noqa: PLC0415  # deferred: an import of this module must not need boto3's start-up or AWS settings
    from botocore.config import Config  # noqa: PLC0415

    settings = AlertingSettings.from_env()
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
    session = boto3.session.Session()
    dynamodb, s3 = session.client("dynamodb", config=config), session.client("s3", config=config)
    policy = AlertPolicy(
        window=timedelta(minutes=settings.window_minutes),
        max_window=timedelta(minutes=settings.max_window_minutes),
        ingest_lag=timedelta(minutes=settings.ingest_lag_minutes),
        history_days=settings.history_days,
        cooldown=timedelta(minutes=settings.cooldown_minutes),
        latency_budget_ms=float(settings.latency_budget_ms),
    )
    ports = Ports(
        registry=Registry(dynamodb, settings.registry_table),
        objects=S3ObjectReader(s3),
        buckets=AggregateStore(PayloadStore(dynamodb, settings.payload_table)),
        states=DynamoAlertStates(dynamodb, settings.payload_table),
        notifier=SnsNotifier(session.client("sns", config=config), settings.alert_topic_arn),
        events=EventBus(session.client("events", config=config), settings.event_bus),
    )
    return AlertingRuntime(settings, policy, ports)


def reset_cold_start() -> None:
    """Forget the settings and clients (tests and the local runner start each stack afresh)."""
    cold_start.cache_clear()


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Check the catastrophic signals on the window ending at the event's scheduled time."""
    invocation = ScheduledInvocation.from_event(event)
    runtime = cold_start()
    result = run_checks(
        invocation.scheduled_time,
        model_name=runtime.settings.model_name,
        policy=runtime.policy,
        runbook_url=runtime.settings.runbook_url,
        ports=runtime.ports,
    )
    if result.failures:
        raise AlertDeliveryError(f"{len(result.failures)} alert(s) not delivered: {'; '.join(result.failures)}")
    return result.to_json()
