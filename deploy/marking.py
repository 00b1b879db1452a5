"""`mark-deployed`: the deployed version becomes the champion (the previous one retired) and `ModelDeployed`.
`mark-shadow`: a shadow release is deployed: the released version serves in shadow beside the champion."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.events import DetailType, EventBus
from core.model_lifecycle import ModelStatus
from core.records import format_timestamp
from core.registry import Registry


def mark_deployed(
    registry: Registry, bus: EventBus, *, model_name: str, version: str, function_version: str, alias: str
) -> dict[str, Any]:
    """Promote `version` (atomically retiring the previous champion) and publish `ModelDeployed`; idempotent."""
    previous = registry.champion(model_name)
    registry.promote(model_name, version, f"deployed as function version {function_version} behind alias {alias}")
    _retire_undecided_shadows(registry, model_name, version, f"shadow ended: {version} deployed without it")
    detail = {
        "model_name": model_name,
        "version": version,
        "previous_version": previous.version if previous is not None and previous.version != version else None,
        "function_version": function_version,
        "alias": alias,
    }
    bus.publish(DetailType.MODEL_DEPLOYED, detail)
    return detail


def mark_shadow(
    registry: Registry, *, model_name: str, version: str, champion: str, function_version: str, now: datetime
) -> dict[str, Any]:
    """Record that `version` serves in shadow beside `champion` from `now` (its shadow record's start; the live
    evaluation compares the two from then on). The champion stays champion; a version whose shadow period this one
    replaces before it was decided is retired. Idempotent for the same deploy."""
    current = registry.get(model_name, version).shadow
    if current.get("champion") == champion and current.get("function_version") == function_version:
        return dict(current)
    shadow = {"champion": champion, "started_at": format_timestamp(now), "function_version": function_version}
    registry.record_shadow(model_name, version, shadow)
    _retire_undecided_shadows(registry, model_name, version, f"shadow superseded by {version}")
    return shadow


def _retire_undecided_shadows(registry: Registry, model_name: str, deployed: str, reason: str) -> None:
    """Retire every released version but `deployed` whose shadow period is undecided: the image just deployed no
    longer scores it, so its period ends undecided."""
    for record in registry.list_versions(model_name):
        undecided = record.shadow.get("started_at") and not record.shadow.get("decision")
        if record.version != deployed and record.status is ModelStatus.RELEASED and undecided:
            registry.transition(model_name, record.version, ModelStatus.RETIRED, reason)
