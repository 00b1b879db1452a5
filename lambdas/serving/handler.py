"""Serving Lambda handler (container image, entry point `lambdas.serving.handler.handler`).

Request (direct invocation payload), either a batch::

    {"instances": [{"request_id": "a1", "features": {"tenure_months": 3, "contract": "month-to-month", ...}},
                   {"features": {...}}]}

or a single instance::

    {"request_id": "a1", "features": {...}}

`request_id` is optional (at most 256 characters, unique within the request); without one the instance gets
`<invocation id>-<index>`, which Lambda's own retries of the same invocation reproduce. At most 1000 instances.
`features` must name exactly the features of the model's input schema (its manifest): numbers for numeric
features (finite; booleans are not numbers), strings for categorical ones, null only where the schema says
the feature is nullable. Categories never seen in training are accepted: the model ignores them and
monitoring reports them. The record contract's limits (`core.record_limits`: string lengths, UTF-8, a number's
range, the whole record's length) are checked before scoring, as the payload ETL checks them, so what is logged
is what the ETL loads.

Responses::

    200 {"statusCode": 200, "predictions": [{"request_id": "a1", "score": 0.31, "label": 0,
                                              "model_version": "20261120T030000Z-ab12cd"}]}
    400 {"statusCode": 400, "error": {"code": "invalid_request", "message": "...",
                                      "problems": ["instances[0]: missing feature 'plan'", ...]}}
    503 {"statusCode": 503, "error": {"code": "no_model", "message": "no champion model deployed yet: ...",
                                      "problems": []}}

`score` is the model's probability of the positive class; `label` is 1 when `score >= decision_threshold`
(from the manifest). A 400 lists every problem of every instance at once (up to `MAX_LISTED_PROBLEMS`, names and
values quoted bounded), and nothing of that request is scored or logged; no JSON input fails the invocation.
The 503 comes from the bootstrap image, built before the first model is released.

Payload logging. Every scored request is logged as a payload record (core.records) in ONE JSON Lines
object per invocation at `s3://$AUTORETRAIN_PAYLOAD_BUCKET/payloads/model=<m>/dt=<day>/<invocation uuid>.jsonl`,
written before the response is returned. Why not buffer records across invocations and write fewer, larger
objects: Lambda freezes an execution environment between invocations and terminates it without notice, so a
buffer would lose predictions that were already returned; a prediction the client has seen must already be
durably logged, or monitoring and the label join silently miss it. The price is one S3 PUT (about 10-30 ms and
$0.005 per 1000) per invocation; clients that send many instances per request amortise it. For very high
volume, put Amazon Data Firehose in front of the bucket instead (it batches durably). If the PUT fails, the
invocation fails (PayloadLogError) and returns no prediction: a prediction that cannot be logged is not served.
The object's name and the default request ids derive from Lambda's request id, which Lambda keeps when it
retries an invocation: a retry rewrites the same object (same day) with the same request ids, which the ETL
deduplicates.

Other failures (a model whose SHA-256 does not match its manifest, a model of another name, missing settings)
fail the invocation: they are deployment errors, not client errors.

Environment: AUTORETRAIN_PAYLOAD_BUCKET, AUTORETRAIN_MODEL_NAME, and AUTORETRAIN_MODEL_DIR (default /opt/model).
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from core.artifacts import LoadedModel
from core.layout import payload_object_key
from core.settings import ServingSettings
from lambdas.serving.adapters import PayloadLog, load_baked_model
from lambdas.serving.logic import encode_jsonl, invocation_uuid, serve
from lambdas.serving.models import (
    InvalidRequestError,
    invalid_request_response,
    no_model_response,
    prediction_response,
)

MODEL_DIR_ENV = "AUTORETRAIN_MODEL_DIR"
DEFAULT_MODEL_DIR = "/opt/model"

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class Service:
    """What one execution environment loads once: settings, the verified model (if any), the payload log."""

    settings: ServingSettings
    model: LoadedModel | None
    payload_log: PayloadLog


@functools.cache
def cold_start() -> Service:
    """Read settings, verify and load the baked-in model and create the S3 client, once per environment."""
    settings = ServingSettings.from_env()
    model = load_baked_model(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR), settings.model_name)
    return Service(settings, model, PayloadLog(boto3.client("s3"), settings.payload_bucket))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Score a request, log its payload records, return the predictions (contract: module docstring)."""
    return handle(event, context, cold_start(), datetime.now(UTC))


def handle(event: dict[str, Any], context: Any, service: Service, now: datetime) -> dict[str, Any]:
    """The handler's body at a given time (`now` stamps the payload records and names their object's day)."""
    if service.model is None:
        return no_model_response()
    invocation_id = invocation_uuid(getattr(context, "aws_request_id", None))
    model_name = service.settings.model_name
    try:
        outcome = serve(event, service.model, model_name=model_name, invocation_id=invocation_id, now=now)
    except InvalidRequestError as error:
        LOGGER.info("request rejected", extra={"problems": list(error.problems)})
        return invalid_request_response(error)
    service.payload_log.write(payload_object_key(model_name, now, invocation_id), encode_jsonl(outcome.records))
    LOGGER.info("served", extra={"instances": len(outcome.predictions), "invocation_id": invocation_id})
    return prediction_response(outcome)
