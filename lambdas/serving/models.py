"""Typed request pieces, results, errors and response documents of the serving Lambda."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from core.records import FeatureValue, PayloadRecord


class ErrorCode(StrEnum):
    """The `error.code` of a non-200 response."""

    INVALID_REQUEST = "invalid_request"
    NO_MODEL = "no_model"


class InvalidRequestError(ValueError):
    """The request does not satisfy the contract; `problems` lists the problems found (`total` of them: past a cap
    the list ends with a line counting the rest)."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)
        self.total = len(problems) if total is None else total


class ModelOutputError(RuntimeError):
    """The model returned something that is not a probability of class 1 (the invocation fails)."""


class PayloadLogError(RuntimeError):
    """The payload log could not be written; the predictions are not returned."""


class ModelMismatchError(RuntimeError):
    """The baked-in model is not the model this function is configured to serve."""


class PayloadSink(Protocol):
    """Where an invocation's payload records go before its predictions are returned (the handler's port)."""

    def write(self, lines: Sequence[bytes]) -> None:
        """Store the lines durably (each one JSON line ending in a newline) or raise PayloadLogError."""


@dataclass(frozen=True, slots=True)
class Instance:
    """One validated request to score; `client_id` identifies its client for the control group (None: unknown)."""

    request_id: str
    features: Mapping[str, FeatureValue]
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Experiment:
    """The business-impact experiment serving runs: `share` of the clients (sticky by client id, salted with the
    model name: `core.assignment`) are answered with the model's heuristic; `client_id_feature`, when not empty, is
    the feature whose value identifies a client that sends no `client_id`."""

    share: float
    salt: str
    client_id_feature: str = ""


@dataclass(frozen=True, slots=True)
class ServedPrediction:
    """One answer, as returned to the client."""

    request_id: str
    score: float
    label: int
    model_version: str
    arm: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The prediction as the response's JSON object (`arm` only when the client was assigned one)."""
        document: dict[str, Any] = {
            "request_id": self.request_id,
            "score": self.score,
            "label": self.label,
            "model_version": self.model_version,
        }
        if self.arm is not None:
            document["arm"] = self.arm
        return document


@dataclass(frozen=True, slots=True)
class ServeOutcome:
    """The answers of one invocation and the payload records to log before returning them.

    `shadow_error` says why the shadow challenger could not score this invocation (its records then carry no
    shadow answer); None when it scored or there is no shadow.
    """

    predictions: tuple[ServedPrediction, ...]
    records: tuple[PayloadRecord, ...]
    shadow_error: str | None = None


def prediction_response(outcome: ServeOutcome) -> dict[str, Any]:
    """The 200 response."""
    return {"statusCode": 200, "predictions": [prediction.to_json() for prediction in outcome.predictions]}


def error_response(status: int, code: ErrorCode, message: str, problems: tuple[str, ...] = ()) -> dict[str, Any]:
    """A 4xx/5xx response: `{"statusCode", "error": {"code", "message", "problems"}}`."""
    return {"statusCode": status, "error": {"code": code.value, "message": message, "problems": list(problems)}}


def invalid_request_response(error: InvalidRequestError) -> dict[str, Any]:
    """The 400 response listing every problem of the request."""
    count = error.total
    message = f"the request has {count} problem{'s' if count != 1 else ''}; nothing was scored"
    return error_response(400, ErrorCode.INVALID_REQUEST, message, error.problems)


def no_model_response() -> dict[str, Any]:
    """The 503 response of the bootstrap image, before the first model is released."""
    return error_response(
        503, ErrorCode.NO_MODEL, "no champion model deployed yet: this is the bootstrap image, awaiting a release"
    )
