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

Payload logging. Every scored request is logged as payload records (core.records, one JSON line each) through the
model's Amazon Data Firehose delivery stream ($AUTORETRAIN_PAYLOAD_STREAM), which writes them into the payload
bucket under `payloads/model=<m>/dt=<arrival day>/` (GZIP-compressed JSON Lines, read by the payload ETL). The lines
go out before the response is returned, in one PutRecordBatch call per invocation (more only past Firehose's 500
records or 4 MiB a call), many lines per Firehose record (at most 1,000 KiB each): `lambdas.serving.batching`.
Why Firehose: the function cannot buffer records itself (Lambda freezes an execution environment between
invocations and ends it without notice, so a buffer would lose predictions already returned), and an S3 object per
invocation means many tiny objects (a PUT at $0.005 per 1000 and an ETL run each). Firehose buffers durably:
PutRecordBatch returns only once Firehose has stored the records durably, and it then writes one object per
buffer (its size or interval, whichever comes first), retrying S3 for up to a day. Cost: ingestion is billed per GB
with every record rounded up to 5 KB (about $0.029 per GB in us-east-1), so a record packing an invocation's lines
costs what its bytes do, where a record per prediction (a few hundred bytes) would be billed as 5 KB. The call adds
one round trip to Firehose to each invocation, as the S3 PUT it replaces did. Records Firehose reports failed
(`FailedPutCount`, a per-record `ErrorCode`) are re-sent, only those, with exponential backoff and full jitter
(at most 5 calls, under a second of waiting); a call throttled as a whole is retried by botocore itself. When the
retries run out, Firehose refuses the call (ClientError) or cannot be reached (BotoCoreError), the invocation fails
with PayloadLogError and returns no prediction: an answered request is a logged request. Some of its records may be
stored already; the default request ids derive from Lambda's request id, which Lambda keeps when it retries an
invocation, so a retry logs the same ids again and the lake's queries read a request logged twice once
(core.lake).

Initialisation. Inside Lambda (AWS_LAMBDA_FUNCTION_NAME set), importing this module does the one-off work: the
settings, the SHA-256-verified model load (which imports scikit-learn and the model's modules as it unpickles), the
Firehose client, and one warm-up request of a made-up instance served through the same code, not logged (pandas'
and scikit-learn's first-call costs). That is Lambda's init phase, which provisioned concurrency runs before any
request arrives: the first request imports and unpickles nothing. A deployment error there (a model whose SHA-256
does not match its manifest, a model of another name, missing settings) fails the init phase, so every invocation
of the function fails. Elsewhere (tests, the demo) `cold_start()` does the same work on first use;
`cold_start.cache_clear()` starts over.

Control group (issue #17). With AUTORETRAIN_CONTROL_SHARE above 0, each instance may name its client: a `client_id`
member beside `request_id` (validated like it; null is as absent) or, when AUTORETRAIN_CLIENT_ID_FEATURE names a
feature of the schema, that feature's value. The client is assigned stickily to an arm (`core.assignment`, salted
with the model name: the same arm on every request, day and release); a control client is answered with the model's
heuristic (its manifest's `heuristic`), a model client with the model. The response's prediction then carries
`"arm": "control"` or `"arm": "model"` (score and label are the arm's answer); the payload record's `prediction` is
always the champion's, plus `arm` and, for control, `heuristic: {"score", "label"}`. An instance without a client id
gets no arm and is answered by the model::

    {"request_id": "a1", "score": 0.21, "label": 0, "model_version": "...", "arm": "control"}

Shadow challenger. With AUTORETRAIN_SHADOW_DIR naming a model directory that holds a model, the init phase loads it
verified like the champion and fails unless it is of the same model name and input schema. Each invocation scores
the batch with both and answers with the champion; each record carries `shadow: {"model_version", "score", "label",
"latency_ms"}` (its latency: the shadow's own scoring of the batch, which the invocation's duration includes). A
shadow that raises or returns no finite probabilities fails nothing: the invocation is logged without shadow answers
and a warning line names the error and counts the instances left unshadowed. A directory without a model (a release
built without a challenger while the stack shadows) means no shadow, with a warning at init.

Environment: AUTORETRAIN_PAYLOAD_STREAM, AUTORETRAIN_MODEL_NAME, AUTORETRAIN_MODEL_DIR (default /opt/model),
AUTORETRAIN_CONTROL_SHARE (default 0), AUTORETRAIN_CLIENT_ID_FEATURE (default none), AUTORETRAIN_SHADOW_DIR (default
none; the image's shadow directory is core.settings.SHADOW_MODEL_DIR); the
image caps the numeric libraries' threads at one (OMP_NUM_THREADS and the like: scoring a request's few rows gains
nothing from a thread pool and pays for waking and synchronising it on every prediction).
"""

from __future__ import annotations

import codecs
import functools
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from core.artifacts import LoadedModel
from core.settings import ServingSettings
from lambdas.serving.adapters import PayloadLog, load_baked_model, load_shadow_model
from lambdas.serving.logic import (
    check_client_id_feature,
    check_shadow,
    encode_lines,
    invocation_uuid,
    serve,
    warm_up_request,
)
from lambdas.serving.models import (
    Experiment,
    InvalidRequestError,
    PayloadSink,
    invalid_request_response,
    no_model_response,
    prediction_response,
)

MODEL_DIR_ENV = "AUTORETRAIN_MODEL_DIR"
DEFAULT_MODEL_DIR = "/opt/model"
#: Set by Lambda in every execution environment: importing this module there is the init phase.
LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"
WARM_UP_INVOCATION_ID = "00000000-0000-4000-8000-000000000000"

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class Service:
    """What one execution environment loads once: settings, the verified model (if any), the payload log and the
    verified shadow challenger (if any)."""

    settings: ServingSettings
    model: LoadedModel | None
    payload_log: PayloadSink
    shadow: LoadedModel | None = None

    @property
    def experiment(self) -> Experiment | None:
        """The control-group experiment the settings ask for (None: share 0, no control group)."""
        settings = self.settings
        if settings.control_share <= 0.0:
            return None
        return Experiment(settings.control_share, settings.model_name, settings.client_id_feature)


@functools.cache
def cold_start() -> Service:
    """Read settings, verify and load the baked-in model (and the shadow challenger, if configured and present),
    create the Firehose client and serve one unlogged warm-up request, once per environment (inside Lambda: at
    import, in the init phase)."""
    settings = ServingSettings.from_env()
    model = load_baked_model(os.environ.get(MODEL_DIR_ENV, DEFAULT_MODEL_DIR), settings.model_name)
    shadow = None
    if model is not None:
        check_client_id_feature(model.manifest.input_schema, settings.client_id_feature)
        if settings.shadow_dir:
            shadow = load_shadow_model(settings.shadow_dir, model)
            if shadow is not None:
                check_shadow(model, shadow)
    service = Service(settings, model, PayloadLog(boto3.client("firehose"), settings.payload_stream), shadow)
    if model is not None:
        warm_up(model, settings.model_name, shadow=shadow, experiment=service.experiment)
    codecs.lookup("idna")  # the first connection encodes the endpoint's host name with it, importing it then
    return service


def warm_up(
    model: LoadedModel,
    model_name: str,
    *,
    shadow: LoadedModel | None = None,
    experiment: Experiment | None = None,
) -> None:
    """Serve a made-up request through the serving code and encode its records, logging nothing: the lazy
    imports and first-call costs of pandas and scikit-learn (of the shadow's too) are paid here rather than by the
    first request."""
    outcome = serve(
        warm_up_request(model.manifest.input_schema),
        model,
        model_name=model_name,
        invocation_id=WARM_UP_INVOCATION_ID,
        now=datetime.now(UTC),
        experiment=experiment,
        shadow=shadow,
    )
    if outcome.shadow_error is not None:
        LOGGER.warning("the shadow challenger failed its warm-up request", extra={"error": outcome.shadow_error})
    encode_lines(outcome.records)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Score a request, log its payload records, return the predictions (contract: module docstring)."""
    return handle(event, context, cold_start(), datetime.now(UTC))


def handle(event: dict[str, Any], context: Any, service: Service, now: datetime) -> dict[str, Any]:
    """The handler's body at a given time (`now` stamps the payload records)."""
    if service.model is None:
        return no_model_response()
    invocation_id = invocation_uuid(getattr(context, "aws_request_id", None))
    try:
        outcome = serve(
            event,
            service.model,
            model_name=service.settings.model_name,
            invocation_id=invocation_id,
            now=now,
            experiment=service.experiment,
            shadow=service.shadow,
        )
    except InvalidRequestError as error:
        LOGGER.info("request rejected", extra={"problems": list(error.problems)})
        return invalid_request_response(error)
    service.payload_log.write(encode_lines(outcome.records))
    unshadowed = len(outcome.predictions) if outcome.shadow_error is not None else 0
    if unshadowed:
        LOGGER.warning(
            "shadow scoring failed; the records are logged without shadow answers",
            extra={
                "invocation_id": invocation_id,
                "shadow_failed_instances": unshadowed,
                "error": outcome.shadow_error,
            },
        )
    LOGGER.info(
        "served",
        extra={
            "instances": len(outcome.predictions),
            "invocation_id": invocation_id,
            "shadow_failed_instances": unshadowed,
        },
    )
    return prediction_response(outcome)


if os.environ.get(LAMBDA_FUNCTION_ENV):  # Lambda's init phase (provisioned concurrency runs it ahead of traffic)
    cold_start()
