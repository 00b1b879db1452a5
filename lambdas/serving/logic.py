"""Pure serving logic: parse and validate a request, score it, build the payload records.

No boto3 and no environment here: the handler passes in the loaded model, the clock and the ids.

Validation happens before scoring and is the record contract's (`core.record_limits`, through
`core.features.check_features` and `core.records.payload_line_bound`): whatever JSON arrives, a request either
fails with `InvalidRequestError` listing its problems (names and values quoted bounded, at most
`MAX_LISTED_PROBLEMS` of them) or makes payload records the ETL loads.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import numpy as np
import pandas as pd

from core.artifacts import LoadedModel
from core.features import InputSchema, check_features
from core.record_limits import MAX_RECORD_CHARS, identifier_problems, preview, record_length_problem
from core.records import FeatureValue, PayloadRecord, Prediction, format_timestamp, payload_line, payload_line_bound
from lambdas.serving.models import (
    Instance,
    InvalidRequestError,
    ModelOutputError,
    ServedPrediction,
    ServeOutcome,
)

#: Largest batch one invocation scores (Lambda's 6 MB payload limit binds at about this size anyway).
MAX_INSTANCES = 1000
#: Problems a 400 lists one by one; the rest are counted in one more line.
MAX_LISTED_PROBLEMS = 1000
#: Unknown keys an "unknown keys" problem quotes.
_LISTED_KEYS = 5
_EVENT_KEYS = frozenset({"instances", "features", "request_id"})
_INSTANCE_KEYS = frozenset({"request_id", "features"})


def invocation_uuid(aws_request_id: str | None) -> str:
    """The invocation's id: Lambda's request id (stable across Lambda's own retries), else a fresh uuid4."""
    if aws_request_id:
        try:
            return str(uuid.UUID(aws_request_id))
        except ValueError:
            pass
    return str(uuid.uuid4())


def _raw_instances(event: object, problems: list[str]) -> list[tuple[str, object]]:
    """(location, raw instance) pairs of either event form; problems with the envelope go to `problems`."""
    if not isinstance(event, dict):
        problems.append(f"the request must be a JSON object, got {type(event).__name__}")
        return []
    unknown = sorted(set(map(str, event)) - _EVENT_KEYS)
    if unknown:
        problems.append(f"unknown top-level keys {_keys(unknown)}; expected 'instances' or 'features' (+ 'request_id')")
    if "instances" in event:
        if "features" in event or "request_id" in event:
            problems.append("give either 'instances' or a single 'features' object, not both")
        instances = event["instances"]
        if not isinstance(instances, list) or not instances:
            problems.append("'instances' must be a non-empty array")
            return []
        if len(instances) > MAX_INSTANCES:
            problems.append(f"'instances' has {len(instances)} items; at most {MAX_INSTANCES} per request")
            return []
        return [(f"instances[{index}]", instance) for index, instance in enumerate(instances)]
    if "features" in event:
        return [("request", event)]
    problems.append("the request has neither 'instances' nor 'features'")
    return []


def _keys(names: list[str]) -> str:
    """Unknown keys as a problem quotes them: the first few, bounded, and how many more."""
    shown = ", ".join(preview(name) for name in names[:_LISTED_KEYS])
    more = f" and {len(names) - _LISTED_KEYS} more" if len(names) > _LISTED_KEYS else ""
    return f"[{shown}]{more}"


def _refusal(problems: list[str]) -> InvalidRequestError:
    """The error listing at most `MAX_LISTED_PROBLEMS` problems, the rest counted (a 400 must stay far below
    Lambda's 6 MB response limit)."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return InvalidRequestError(problems)
    more = f"... and {len(problems) - MAX_LISTED_PROBLEMS} more problems"
    return InvalidRequestError([*problems[:MAX_LISTED_PROBLEMS], more], total=len(problems))


def parse_request(
    event: object, schema: InputSchema, invocation_id: str, *, model_name: str = "", model_version: str = ""
) -> tuple[Instance, ...]:
    """Validate a request against the schema and the record contract; raise InvalidRequestError listing every
    problem found (never anything else, whatever the JSON).

    A missing `request_id` becomes `<invocation_id>-<index>`, so a retried invocation reuses the same ids.
    `model_name` and `model_version` are what the payload records will carry: with them, the length of each
    record's line is checked against `MAX_RECORD_CHARS` too.
    """
    problems: list[str] = []
    instances: list[Instance] = []
    seen: set[str] = set()
    for index, (location, raw) in enumerate(_raw_instances(event, problems)):
        if not isinstance(raw, dict):
            problems.append(f"{location}: must be an object with 'features', got {type(raw).__name__}")
            continue
        if location != "request":
            unknown = sorted(set(map(str, raw)) - _INSTANCE_KEYS)
            if unknown:
                problems.append(f"{location}: unknown keys {_keys(unknown)}")
        request_id = raw.get("request_id", f"{invocation_id}-{index}")
        id_problems = identifier_problems("request_id", request_id)
        problems.extend(f"{location}: {problem}" for problem in id_problems)
        if not id_problems:
            if request_id in seen:
                problems.append(f"{location}: duplicate request_id {preview(request_id)}")
            seen.add(request_id)
        if "features" not in raw:
            problems.append(f"{location}: missing 'features'")
            continue
        features = raw["features"]
        feature_problems = check_features(schema, features)
        problems.extend(f"{location}: {problem}" for problem in feature_problems)
        if feature_problems or id_problems:
            continue
        chars = payload_line_bound(request_id, model_name, model_version, features)
        if chars > MAX_RECORD_CHARS:
            problems.append(f"{location}: {record_length_problem(chars)} (its payload record, at most)")
            continue
        instances.append(Instance(request_id, cast(Mapping[str, FeatureValue], features)))
    if problems:
        raise _refusal(problems)
    return tuple(instances)


def feature_frame(schema: InputSchema, rows: Iterable[Mapping[str, FeatureValue]]) -> pd.DataFrame:
    """Validated feature dicts as the model's input frame: schema order, float64 and string dtypes, NaN missing.

    The same dtypes as `batch_jobs.model_spec.feature_frame` gives the training data: serving and training
    must not disagree on how a missing value looks.
    """
    materialised = list(rows)
    return pd.DataFrame(
        {
            spec.name: pd.Series(
                [row[spec.name] for row in materialised], dtype="float64" if spec.kind == "numeric" else "str"
            )
            for spec in schema.features
        }
    )


def predict_scores(model: LoadedModel, instances: tuple[Instance, ...]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Probability of class 1 for each instance; ModelOutputError if the model's output is not one."""
    estimator = model.estimator
    classes = list(getattr(estimator, "classes_", []))
    if 1 not in classes:
        raise ModelOutputError(f"the model's classes {classes} do not include the positive class 1")
    frame = feature_frame(model.manifest.input_schema, (instance.features for instance in instances))
    probabilities = np.asarray(estimator.predict_proba(frame), dtype=float)
    if probabilities.shape != (len(instances), len(classes)):
        raise ModelOutputError(f"predict_proba returned shape {probabilities.shape} for {len(instances)} rows")
    scores = probabilities[:, classes.index(1)]
    if not np.all(np.isfinite(scores)) or np.any((scores < 0.0) | (scores > 1.0)):
        raise ModelOutputError("the model returned scores that are not finite probabilities")
    return scores


def serve(
    event: object,
    model: LoadedModel,
    *,
    model_name: str,
    invocation_id: str,
    now: datetime,
    clock: Callable[[], float] = time.perf_counter,
) -> ServeOutcome:
    """Validate, score and describe one invocation. Latency covers validation and scoring of the batch."""
    started = clock()
    manifest = model.manifest
    instances = parse_request(
        event,
        manifest.input_schema,
        invocation_id,
        model_name=model_name,
        model_version=manifest.model_version,
    )
    scores = predict_scores(model, instances)
    latency_ms = max((clock() - started) * 1000.0, 0.0)
    labels = (scores >= manifest.decision_threshold).astype(int)
    timestamp = format_timestamp(now)
    predictions: list[ServedPrediction] = []
    records: list[PayloadRecord] = []
    for instance, score, label in zip(instances, scores.tolist(), labels.tolist(), strict=True):
        predictions.append(ServedPrediction(instance.request_id, score, label, manifest.model_version))
        records.append(
            PayloadRecord(
                request_id=instance.request_id,
                model_name=model_name,
                model_version=manifest.model_version,
                timestamp=timestamp,
                features=instance.features,
                prediction=Prediction(score=score, label=label),
                latency_ms=latency_ms,
            )
        )
    return ServeOutcome(tuple(predictions), tuple(records))


def encode_lines(records: Iterable[PayloadRecord]) -> list[bytes]:
    """Each record as one UTF-8 JSON line ending in a newline. Non-finite numbers and lone surrogates cannot occur
    (validated) and would raise."""
    return [f"{payload_line(record)}\n".encode() for record in records]


def encode_jsonl(records: Iterable[PayloadRecord]) -> bytes:
    """JSON Lines, one record per line, UTF-8 (the lines of `encode_lines`, joined)."""
    return b"".join(encode_lines(records))


def warm_up_request(schema: InputSchema) -> dict[str, Any]:
    """A valid one-instance request for `schema` (numbers 0.0, a training category or a placeholder string), which
    the init phase serves once, unlogged, so the first real request pays no first-call costs."""
    features: dict[str, FeatureValue] = {
        spec.name: 0.0 if spec.kind == "numeric" else (spec.categories[0] if spec.categories else "warm-up")
        for spec in schema.features
    }
    return {"request_id": "warm-up", "features": features}
