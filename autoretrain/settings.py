"""The deployment contract between infra and code: every Lambda and job reads its resources from these."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class EnvVar(StrEnum):
    """Environment variable names that infra sets and code reads."""

    PAYLOAD_BUCKET = "AUTORETRAIN_PAYLOAD_BUCKET"
    MODEL_BUCKET = "AUTORETRAIN_MODEL_BUCKET"
    PAYLOAD_TABLE = "AUTORETRAIN_PAYLOAD_TABLE"
    REGISTRY_TABLE = "AUTORETRAIN_REGISTRY_TABLE"
    ALERT_TOPIC_ARN = "AUTORETRAIN_ALERT_TOPIC_ARN"
    EVENT_BUS = "AUTORETRAIN_EVENT_BUS"
    MODEL_NAME = "AUTORETRAIN_MODEL_NAME"
    PAYLOAD_RETENTION_DAYS = "AUTORETRAIN_PAYLOAD_RETENTION_DAYS"


class MissingSettingError(RuntimeError):
    """A required environment variable is absent or empty."""


def require_env(name: EnvVar, environ: Mapping[str, str] | None = None) -> str:
    """Return a required setting, or raise naming the variable that is missing."""
    value = (os.environ if environ is None else environ).get(name.value, "")
    if not value:
        raise MissingSettingError(f"environment variable {name.value} is not set")
    return value


@dataclass(frozen=True, slots=True)
class PayloadEtlSettings:
    """What the payload-ETL Lambda needs."""

    payload_table: str
    payload_retention_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PayloadEtlSettings:
        """Read the settings once (at cold start)."""
        days = require_env(EnvVar.PAYLOAD_RETENTION_DAYS, environ)
        if not days.isdigit() or int(days) < 1:
            raise MissingSettingError(f"{EnvVar.PAYLOAD_RETENTION_DAYS.value} must be a positive integer")
        return cls(payload_table=require_env(EnvVar.PAYLOAD_TABLE, environ), payload_retention_days=int(days))


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """What the serving Lambda needs."""

    payload_bucket: str
    model_name: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        """Read the settings once (at cold start)."""
        return cls(
            payload_bucket=require_env(EnvVar.PAYLOAD_BUCKET, environ),
            model_name=require_env(EnvVar.MODEL_NAME, environ),
        )
