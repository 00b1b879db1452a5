"""`mark-deployed`: the deployed version becomes the champion (the previous one retired) and `ModelDeployed`."""

from __future__ import annotations

from typing import Any

from core.events import DetailType, EventBus
from core.registry import Registry


def mark_deployed(
    registry: Registry, bus: EventBus, *, model_name: str, version: str, function_version: str, alias: str
) -> dict[str, Any]:
    """Promote `version` (atomically retiring the previous champion) and publish `ModelDeployed`; idempotent."""
    previous = registry.champion(model_name)
    registry.promote(model_name, version, f"deployed as function version {function_version} behind alias {alias}")
    detail = {
        "model_name": model_name,
        "version": version,
        "previous_version": previous.version if previous is not None and previous.version != version else None,
        "function_version": function_version,
        "alias": alias,
    }
    bus.publish(DetailType.MODEL_DEPLOYED, detail)
    return detail
