"""Pure serving logic: parse and validate a request, score it, build the payload records.

No boto3 and no environment here: the handler passes in the loaded model, the clock and the ids.

Validation happens before scoring and is the record contract's (`core.record_limits`, through
`core.features.check_features` and `core.records.payload_line_bound`): whatever JSON arrives, a request either
fails with `InvalidRequestError` listing its problems (names and values quoted bounded, at most
`MAX_LISTED_PROBLEMS` of them) or makes payload records the ETL loads.

Live evaluation (issue #17). With an `Experiment`, each instance whose client is known (its `client_id` member, else
the configured client-id feature's value) is assigned an arm (`core.assignment`): a control client is answered with
the model's heuristic (`core.artifacts.Heuristic`), a model client with the model; the record's `prediction` is the
champion's output either way (monitoring sees every request), plus `arm` and, for control, `heuristic`. With a shadow
challenger, the batch is scored by it too and each record carries its answer (`shadow`); a shadow that fails leaves
the invocation's records without one and is reported in `ServeOutcome.shadow_error`, never failing the request.
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
from core.assignment import assign_arm, client_key
from core.features import InputSchema, check_features
from core.record_limits import MAX_RECORD_CHARS, identifier_problems, preview, record_length_problem
from core.records import (
    ARM_CONTROL,
    FeatureValue,
    PayloadRecord,
    Prediction,
    ShadowPrediction,
    format_timestamp,
    payload_line,
    payload_line_bound,
)
from lambdas.serving.models import (
    Experiment,
    Instance,
    InvalidRequestError,
    ModelMismatchError,
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
_EVENT_KEYS = frozenset({"instances", "features", "request_id", "client_id"})
_INSTANCE_KEYS = frozenset({"request_id", "client_id", "features"})


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
        problems.append(
            f"unknown top-level keys {_keys(unknown)}; expected 'instances' or 'features' (+ 'request_id', 'client_id')"
        )
    if "instances" in event:
        if "features" in event or "request_id" in event or "client_id" in event:
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
    event: object,
    schema: InputSchema,
    invocation_id: str,
    *,
    model_name: str = "",
    model_version: str = "",
    client_id_feature: str = "",
    experiment: bool = False,
    shadow_version: str | None = None,
) -> tuple[Instance, ...]:
    """Validate a request against the schema and the record contract; raise InvalidRequestError listing every
    problem found (never anything else, whatever the JSON).

    A missing `request_id` becomes `<invocation_id>-<index>`, so a retried invocation reuses the same ids.
    `client_id` is optional (null is as absent) and validated like `request_id`; without one, the value of
    `client_id_feature` (when given) identifies the client (`core.assignment.client_key`). `model_name` and
    `model_version` are what the payload records will carry: with them, the length of each record's line is checked
    against `MAX_RECORD_CHARS` too, with room for the experiment's members (`experiment`) and a shadow answer of
    `shadow_version`.
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
        client_id = raw.get("client_id")  # null: no client id, as when absent
        if client_id is not None:
            client_problems = identifier_problems("client_id", client_id)
            problems.extend(f"{location}: {problem}" for problem in client_problems)
            id_problems += client_problems
        if "features" not in raw:
            problems.append(f"{location}: missing 'features'")
            continue
        features = raw["features"]
        feature_problems = check_features(schema, features)
        problems.extend(f"{location}: {problem}" for problem in feature_problems)
        if feature_problems or id_problems:
            continue
        if client_id is None and client_id_feature:
            client_id = _feature_client(features.get(client_id_feature))
        chars = payload_line_bound(
            request_id,
            model_name,
            model_version,
            features,
            experiment=experiment,
            shadow_version=shadow_version,
            client_id=client_id if experiment else None,
        )
        if chars > MAX_RECORD_CHARS:
            problems.append(f"{location}: {record_length_problem(chars)} (its payload record, at most)")
            continue
        instances.append(Instance(request_id, cast(Mapping[str, FeatureValue], features), client_id))
    if problems:
        raise _refusal(problems)
    return tuple(instances)


def _feature_client(value: FeatureValue) -> str | None:
    """The client id a client-id feature's value gives (`core.assignment.client_key`); None for a value no record
    could carry as an id (too long, blank): the client is unknown, so it is served outside the experiment."""
    client_id = client_key(value)
    if client_id is None or identifier_problems("client_id", client_id):
        return None
    return client_id


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


def predict_scores(
    model: LoadedModel, instances: tuple[Instance, ...], frame: pd.DataFrame | None = None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Probability of class 1 for each instance; ModelOutputError if the model's output is not one. `frame`: the
    instances' feature frame of the model's schema, when already built."""
    estimator = model.estimator
    classes = list(getattr(estimator, "classes_", []))
    if 1 not in classes:
        raise ModelOutputError(f"the model's classes {classes} do not include the positive class 1")
    if frame is None:
        frame = feature_frame(model.manifest.input_schema, (instance.features for instance in instances))
    probabilities = np.asarray(estimator.predict_proba(frame), dtype=float)
    if probabilities.shape != (len(instances), len(classes)):
        raise ModelOutputError(f"predict_proba returned shape {probabilities.shape} for {len(instances)} rows")
    scores = probabilities[:, classes.index(1)]
    if not np.all(np.isfinite(scores)) or np.any((scores < 0.0) | (scores > 1.0)):
        raise ModelOutputError("the model returned scores that are not finite probabilities")
    return scores


def check_shadow(champion: LoadedModel, shadow: LoadedModel) -> None:
    """Refuse (ModelMismatchError) a shadow challenger that is not of the champion's model name and input schema:
    it scores the champion's requests, whose records are the champion's model's."""
    mine, theirs = champion.manifest, shadow.manifest
    if theirs.model_name != mine.model_name:
        raise ModelMismatchError(
            f"the shadow challenger is model {theirs.model_name!r}, the champion {mine.model_name!r}: a shadow must "
            "be a challenger of the same model"
        )
    if theirs.input_schema != mine.input_schema:
        raise ModelMismatchError(
            f"the shadow challenger {theirs.model_version} takes another input schema than the champion "
            f"{mine.model_version} (features {list(theirs.input_schema.names)} vs {list(mine.input_schema.names)}, "
            "or their kinds, nullability or categories differ): it could not score the same requests"
        )


def check_client_id_feature(schema: InputSchema, client_id_feature: str) -> None:
    """Refuse (ModelMismatchError) a client-id feature the model's schema does not have."""
    if client_id_feature and client_id_feature not in schema.names:
        raise ModelMismatchError(
            f"the client-id feature {client_id_feature!r} is not a feature of the model's input schema "
            f"{list(schema.names)}"
        )


def _shadow_answers(
    shadow: LoadedModel, instances: tuple[Instance, ...], frame: pd.DataFrame, clock: Callable[[], float]
) -> tuple[list[ShadowPrediction] | None, str | None]:
    """The shadow's answer to each instance, or None and why it could not answer."""
    started = clock()
    try:
        scores = predict_scores(shadow, instances, frame)
    # The shadow is logged, never returned: whatever it raises must not fail the champion's request.
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    latency_ms = max((clock() - started) * 1000.0, 0.0)
    manifest = shadow.manifest
    labels = (scores >= manifest.decision_threshold).astype(int)
    return [
        ShadowPrediction(manifest.model_version, score, label, latency_ms)
        for score, label in zip(scores.tolist(), labels.tolist(), strict=True)
    ], None


def serve(
    event: object,
    model: LoadedModel,
    *,
    model_name: str,
    invocation_id: str,
    now: datetime,
    clock: Callable[[], float] = time.perf_counter,
    experiment: Experiment | None = None,
    shadow: LoadedModel | None = None,
) -> ServeOutcome:
    """Validate, score and describe one invocation. Latency covers validation and the champion's scoring of the
    batch (the shadow's scoring is timed apart, in its answer). `experiment` (with a share above 0) assigns arms,
    `shadow` scores the batch beside the champion (module docstring)."""
    started = clock()
    manifest = model.manifest
    running = experiment is not None and experiment.share > 0.0
    instances = parse_request(
        event,
        manifest.input_schema,
        invocation_id,
        model_name=model_name,
        model_version=manifest.model_version,
        client_id_feature=experiment.client_id_feature if experiment is not None else "",
        experiment=running,
        shadow_version=shadow.manifest.model_version if shadow is not None else None,
    )
    frame = feature_frame(manifest.input_schema, (instance.features for instance in instances))
    scores = predict_scores(model, instances, frame)
    latency_ms = max((clock() - started) * 1000.0, 0.0)
    labels = (scores >= manifest.decision_threshold).astype(int)
    shadows, shadow_error = _shadow_answers(shadow, instances, frame, clock) if shadow is not None else (None, None)
    timestamp = format_timestamp(now)
    predictions: list[ServedPrediction] = []
    records: list[PayloadRecord] = []
    for index, (instance, score, label) in enumerate(zip(instances, scores.tolist(), labels.tolist(), strict=True)):
        arm = None
        heuristic = None
        answer = Prediction(score=score, label=label)
        if running and instance.client_id is not None:
            assert experiment is not None  # running says so
            arm = assign_arm(instance.client_id, share=experiment.share, salt=experiment.salt)
            if arm == ARM_CONTROL:
                heuristic = Prediction(*manifest.heuristic.answer(instance.features))
                answer = heuristic
        predictions.append(
            ServedPrediction(instance.request_id, answer.score, answer.label, manifest.model_version, arm)
        )
        records.append(
            PayloadRecord(
                request_id=instance.request_id,
                model_name=model_name,
                model_version=manifest.model_version,
                timestamp=timestamp,
                features=instance.features,
                prediction=Prediction(score=score, label=label),
                latency_ms=latency_ms,
                arm=arm,
                heuristic=heuristic,
                shadow=shadows[index] if shadows is not None else None,
                client_id=instance.client_id if arm is not None else None,
            )
        )
    return ServeOutcome(tuple(predictions), tuple(records), shadow_error)


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
    return {"request_id": "warm-up", "client_id": "warm-up", "features": features}
