"""Record contracts: the payload a prediction leaves behind and the label that arrives later.

Pure and standard-library only (the payload-ETL Lambda ships this module). Parsing never raises on the first
problem: a `ContractViolationError` lists every problem it found, so a quarantined record carries its full reason.
Unknown top-level keys are kept in `extra`, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

FeatureValue = float | int | str | bool | None

PAYLOAD_FIELDS = ("request_id", "model_name", "model_version", "timestamp", "features", "prediction", "latency_ms")
LABEL_FIELDS = ("request_id", "model_name", "label", "observed_at")
MAX_ID_LENGTH = 256


class RecordKind(StrEnum):
    """What an object under the payload bucket holds; decided by its key prefix."""

    PAYLOAD = "payload"
    LABEL = "label"


class ContractViolationError(ValueError):
    """A record violates its contract; `problems` lists every violation found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's output for one request."""

    score: float
    label: int


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    """One served prediction: its inputs, output and timing."""

    request_id: str
    model_name: str
    model_version: str
    timestamp: str
    features: Mapping[str, FeatureValue]
    prediction: Prediction
    latency_ms: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object the contract describes."""
        document: dict[str, Any] = dict(self.extra)
        document.update(
            request_id=self.request_id,
            model_name=self.model_name,
            model_version=self.model_version,
            timestamp=self.timestamp,
            features=dict(self.features),
            prediction={"score": self.prediction.score, "label": self.prediction.label},
            latency_ms=self.latency_ms,
        )
        return document


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """Ground truth for one earlier prediction, identified by `request_id` alone."""

    request_id: str
    model_name: str
    label: int
    observed_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object the contract describes."""
        document: dict[str, Any] = dict(self.extra)
        document.update(
            request_id=self.request_id, model_name=self.model_name, label=self.label, observed_at=self.observed_at
        )
        return document


def format_timestamp(moment: datetime) -> str:
    """Canonical UTC timestamp with milliseconds: fixed width, so text order is time order."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that states its offset (`Z` or `+hh:mm`); naive times are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return moment.astimezone(UTC)


def _check_identifier(document: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = document.get(name)
    if value is None:
        problems.append(f"missing field '{name}'")
        return ""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"'{name}' must be a non-empty string, got {type(value).__name__}")
        return ""
    if len(value) > MAX_ID_LENGTH:
        problems.append(f"'{name}' is longer than {MAX_ID_LENGTH} characters")
        return ""
    return value


def _check_time(document: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = document.get(name)
    if value is None:
        problems.append(f"missing field '{name}'")
        return ""
    if not isinstance(value, str):
        problems.append(f"'{name}' must be an ISO 8601 string, got {type(value).__name__}")
        return ""
    try:
        return format_timestamp(parse_timestamp(value))
    except ValueError as error:
        problems.append(f"'{name}' is not an ISO 8601 timestamp with offset: {error}")
        return ""


def _check_binary_label(value: object, name: str, problems: list[str]) -> int:
    if value is None:
        problems.append(f"missing field '{name}'")
        return 0
    if isinstance(value, bool) or value not in (0, 1):
        problems.append(f"'{name}' must be 0 or 1, got {value!r}")
        return 0
    return int(value)


def _is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_features(value: object, problems: list[str]) -> dict[str, FeatureValue]:
    if value is None:
        problems.append("missing field 'features'")
        return {}
    if not isinstance(value, dict) or not value:
        problems.append("'features' must be a non-empty object")
        return {}
    for name, feature in value.items():
        if isinstance(feature, float) and not math.isfinite(feature):
            problems.append(f"feature '{name}' is not finite ({feature!r})")
        elif feature is not None and not isinstance(feature, int | float | str | bool):
            problems.append(f"feature '{name}' must be a number, string, boolean or null, got {type(feature).__name__}")
    return value


def _check_prediction(value: object, problems: list[str]) -> Prediction:
    if value is None:
        problems.append("missing field 'prediction'")
        return Prediction(0.0, 0)
    if not isinstance(value, dict):
        problems.append(f"'prediction' must be an object, got {type(value).__name__}")
        return Prediction(0.0, 0)
    score = value.get("score")
    if not _is_finite_number(score) or not 0.0 <= score <= 1.0:  # type: ignore[operator]
        problems.append(f"'prediction.score' must be a finite number in [0, 1], got {score!r}")
        score = 0.0
    label = _check_binary_label(value.get("label"), "prediction.label", problems)
    return Prediction(float(score), label)  # type: ignore[arg-type]


def parse_payload(document: object) -> PayloadRecord:
    """Validate a decoded JSON value against the payload contract."""
    if not isinstance(document, dict):
        raise ContractViolationError([f"a payload record must be a JSON object, got {type(document).__name__}"])
    problems: list[str] = []
    request_id = _check_identifier(document, "request_id", problems)
    model_name = _check_identifier(document, "model_name", problems)
    model_version = _check_identifier(document, "model_version", problems)
    timestamp = _check_time(document, "timestamp", problems)
    features = _check_features(document.get("features"), problems)
    prediction = _check_prediction(document.get("prediction"), problems)
    latency = document.get("latency_ms")
    if latency is not None and (not _is_finite_number(latency) or latency < 0):
        problems.append(f"'latency_ms' must be a non-negative finite number, got {latency!r}")
    if problems:
        raise ContractViolationError(problems)
    extra = {key: value for key, value in document.items() if key not in PAYLOAD_FIELDS}
    return PayloadRecord(
        request_id=request_id,
        model_name=model_name,
        model_version=model_version,
        timestamp=timestamp,
        features=features,
        prediction=prediction,
        latency_ms=None if latency is None else float(latency),
        extra=extra,
    )


def parse_label(document: object) -> LabelRecord:
    """Validate a decoded JSON value against the label contract."""
    if not isinstance(document, dict):
        raise ContractViolationError([f"a label record must be a JSON object, got {type(document).__name__}"])
    problems: list[str] = []
    request_id = _check_identifier(document, "request_id", problems)
    model_name = _check_identifier(document, "model_name", problems)
    label = _check_binary_label(document.get("label"), "label", problems)
    observed_at = _check_time(document, "observed_at", problems)
    if problems:
        raise ContractViolationError(problems)
    extra = {key: value for key, value in document.items() if key not in LABEL_FIELDS}
    return LabelRecord(request_id=request_id, model_name=model_name, label=label, observed_at=observed_at, extra=extra)
