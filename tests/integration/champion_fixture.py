"""A real champion on the emulator, built with the project's own pieces, and traffic served by it.

`install_champion` trains the default model on synthetic churn data (cached per process: a few thousand rows,
one thread), writes `model.pkl` + `manifest.json` with `core.artifacts`, profiles the training data into
`reference.parquet`, uploads the three to `models/<m>/<version>/` in the model bucket and takes the version
through the registry's real lifecycle (candidate -> gate passed + artefact recorded -> released -> champion).

`serve` turns a frame of customers into payload records as the serving Lambda logs them (the champion's score
and label); `load_records` puts JSON Lines objects in the payload bucket and hands each to the real payload-ETL
handler as the S3 notification AWS would send, so the payload table is filled exactly as in production. Both
need the deployment environment (`deployed_env`) set, as the handler reads it.
"""

from __future__ import annotations

import functools
import json
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from autoretrain.emulator import LocalResources
from autoretrain.local_runner import s3_object_created_event
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.drift import ReferenceProfiler
from batch_jobs.drift.impact import build_impact_basis, with_impact_basis
from batch_jobs.metrics import classification_metrics
from batch_jobs.model_spec import build_model, feature_frame, infer_input_schema
from core.artifacts import write_artifact
from core.features import InputSchema
from core.layout import MANIFEST_FILE, MODEL_FILE, label_object_key, model_version_prefix, payload_object_key
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger
from core.records import format_timestamp
from core.registry import Registry
from lambdas.payload_etl import handler, reset_cold_start

TRAINED_AT = datetime(2026, 11, 1, tzinfo=UTC)
TRAIN_ROWS = 3000
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted model and the files that describe it (bytes, ready to upload)."""

    estimator: Any
    schema: InputSchema
    version: str
    sha256: str
    files: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class Champion:
    """The champion installed on the emulator."""

    model_name: str
    version: str
    artifact_uri: str
    sha256: str
    estimator: Any
    schema: InputSchema

    def scores(self, customers: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        """The champion's churn probability for each customer."""
        with threadpool_limits(1):
            probabilities = self.estimator.predict_proba(feature_frame(customers, self.schema))
        return np.asarray(probabilities[:, 1], dtype=np.float64)


@functools.cache
def trained_model(model_name: str = "churn", seed: int = 0) -> TrainedModel:
    """Train and describe the default model once per process (2/3 train, 1/3 holdout for the baseline metrics)."""
    data = generate_churn(TRAIN_ROWS, seed=seed)
    schema = infer_input_schema(data, all_nullable=True)
    features = feature_frame(data, schema)
    cut = TRAIN_ROWS * 2 // 3
    with threadpool_limits(1):
        estimator = build_model(schema).fit(features.iloc[:cut], data[TARGET].iloc[:cut])
        scores = estimator.predict_proba(features)[:, 1]
    labels = data[TARGET].to_numpy(dtype=np.float64)
    holdout = classification_metrics(labels[cut:], scores[cut:])
    profile = (
        ReferenceProfiler(decision_threshold=DECISION_THRESHOLD)
        .fit(features, scores=scores, target=labels, holdout_metrics=holdout)
        .profile_
    )
    basis = build_impact_basis(
        model=estimator,
        schema=schema,
        threshold=DECISION_THRESHOLD,
        holdout_features=features.iloc[cut:],
        holdout_labels=labels[cut:],
        holdout_scores=scores[cut:],
    )
    profile = with_impact_basis(profile, basis)
    with tempfile.TemporaryDirectory() as directory:
        manifest = write_artifact(
            directory,
            estimator,
            model_name=model_name,
            input_schema=schema,
            decision_threshold=DECISION_THRESHOLD,
            created_at=TRAINED_AT,
        )
        profile.to_parquet(Path(directory, "reference.parquet"))
        files = {name: Path(directory, name).read_bytes() for name in (MODEL_FILE, MANIFEST_FILE, "reference.parquet")}
    return TrainedModel(estimator, schema, manifest.model_version, manifest.artifact_sha256, files)


def install_champion(session: boto3.Session, resources: LocalResources, model_name: str = "churn") -> Champion:
    """Upload the trained model's files and make it the registry's champion, through the real lifecycle."""
    trained = trained_model(model_name)
    s3 = session.client("s3")
    prefix = model_version_prefix(model_name, trained.version)
    version_ids = {
        name: s3.put_object(Bucket=resources.model_bucket, Key=prefix + name, Body=body).get("VersionId")
        for name, body in trained.files.items()
    }
    uri = f"s3://{resources.model_bucket}/{prefix}{MODEL_FILE}"
    registry = Registry(session.client("dynamodb"), resources.registry_table)
    registry.register_candidate(
        ModelVersionRecord(
            model_name=model_name,
            version=trained.version,
            trigger=Trigger.INITIAL,
            created_at=TRAINED_AT,
            training_start=TRAINED_AT - timedelta(days=30),
            training_end=TRAINED_AT,
            train_rows=TRAIN_ROWS * 2 // 3,
            holdout_rows=TRAIN_ROWS - TRAIN_ROWS * 2 // 3,
            data_fingerprint="synthetic-churn-seed-0",
            code_version="test",
        )
    )
    registry.record_gate_decision(model_name, trained.version, passed=True, reasons=["initial model"])
    registry.record_artifact(
        model_name, trained.version, uri=uri, sha256=trained.sha256, s3_version_id=version_ids[MODEL_FILE]
    )
    registry.transition(model_name, trained.version, ModelStatus.RELEASED, "initial release")
    registry.promote(model_name, trained.version, "initial deploy")
    return Champion(model_name, trained.version, uri, trained.sha256, trained.estimator, trained.schema)


def _feature_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def serve(
    champion: Champion,
    customers: pd.DataFrame,
    timestamps: Sequence[datetime],
    *,
    model_version: str | None = None,
    scores: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """Payload records as the serving Lambda logs them: the champion's score and label (or given `scores`)."""
    names = list(champion.schema.names)
    values = champion.scores(customers) if scores is None else np.asarray(scores, dtype=np.float64)
    records = []
    for index, (row, moment, score) in enumerate(
        zip(customers[names].itertuples(index=False), timestamps, values, strict=True)
    ):
        records.append(
            {
                "request_id": f"req-{moment:%Y%m%d%H%M%S}-{index:06d}-{uuid.uuid4().hex[:8]}",
                "model_name": champion.model_name,
                "model_version": model_version or champion.version,
                "timestamp": format_timestamp(moment),
                "features": {name: _feature_value(value) for name, value in zip(names, row, strict=True)},
                "prediction": {"score": float(score), "label": int(score >= DECISION_THRESHOLD)},
                "latency_ms": 5.0,
            }
        )
    return records


def labels_for(records: Iterable[Mapping[str, Any]], outcomes: Iterable[int], delay: timedelta) -> list[dict[str, Any]]:
    """Ground-truth records for served predictions, observed `delay` after each prediction."""
    return [
        {
            "request_id": record["request_id"],
            "model_name": record["model_name"],
            "label": int(outcome),
            "observed_at": format_timestamp(datetime.fromisoformat(record["timestamp"]) + delay),
        }
        for record, outcome in zip(records, outcomes, strict=True)
    ]


def spread(start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` evenly spaced times in [start, end)."""
    step = (end - start) / count
    return [start + index * step for index in range(count)]


def load_records(
    session: boto3.Session, resources: LocalResources, records: Sequence[Mapping[str, Any]], *, labels: bool = False
) -> dict[str, Any]:
    """Put the records as one JSON Lines object per UTC day and run the real payload-ETL handler on each."""
    s3 = session.client("s3")
    by_day: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_day.setdefault(str(record["observed_at" if labels else "timestamp"])[:10], []).append(record)
    reset_cold_start()
    totals = {"loaded": 0, "quarantined": 0}
    for day, documents in sorted(by_day.items()):
        moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
        model = str(documents[0]["model_name"])
        object_id = uuid.uuid4().hex
        key = (label_object_key if labels else payload_object_key)(model, moment, object_id)
        body = "".join(json.dumps(document) + "\n" for document in documents).encode()
        etag = s3.put_object(Bucket=resources.payload_bucket, Key=key, Body=body)["ETag"]
        event = s3_object_created_event(resources.payload_bucket, key, size=len(body), etag=etag, event_time=moment)
        result = handler(event, None)
        totals["loaded"] += result["loaded"]
        totals["quarantined"] += result["quarantined"]
    reset_cold_start()
    return totals
