"""The registry records a retrain writes: a trained candidate with its lineage and evidence, or a version that was
never trained because its data failed the quality checks. Pure."""

from __future__ import annotations

from typing import Any

import pandas as pd

from batch_jobs.training import fitting
from batch_jobs.training.frames import HoldoutSplit, TrainingData, fingerprint, initial_fingerprint, time_span
from batch_jobs.training.job import Challenger, RetrainRequest
from batch_jobs.training.quality import QualityReport
from core.artifacts import make_model_version
from core.model_lifecycle import ModelVersionRecord
from core.records import format_timestamp

#: The evidence key of the initial training set's fingerprint (`no_new_data` compares it with a later retrain's).
INITIAL_FINGERPRINT = "initial_fingerprint"
#: Evidence key: the regime start a recovery retrain trained on (ISO 8601), None for any other retrain.
REGIME_START = "regime_start"


def candidate_record(
    request: RetrainRequest,
    *,
    model_name: str,
    code_version: str,
    data: TrainingData,
    split: HoldoutSplit,
    challenger: Challenger,
    quality: QualityReport,
    target: str,
) -> ModelVersionRecord:
    """The trained challenger's record: training span and rows, data fingerprint, code version and evidence."""
    train = challenger.train
    start, end = time_span(train, request.now)
    return ModelVersionRecord(
        model_name=model_name,
        version=challenger.manifest.model_version,
        trigger=request.trigger,
        created_at=request.now,
        training_start=start,
        training_end=end,
        train_rows=len(train),
        holdout_rows=len(split.holdout),
        data_fingerprint=fingerprint(train, [*challenger.schema.names, target]),
        code_version=code_version,
        evidence=candidate_evidence(
            request, data=data, split=split, challenger=challenger, quality=quality, target=target
        ),
    )


def candidate_evidence(
    request: RetrainRequest,
    *,
    data: TrainingData,
    split: HoldoutSplit,
    challenger: Challenger,
    quality: QualityReport,
    target: str,
) -> dict[str, Any]:
    """Why this version looks as it does: the window choice, the holdout, row counts, label rate, fit and threshold."""
    train, choice, holdout = challenger.train, challenger.window, split.holdout
    labels = fitting.labels_of(train, target)
    return {
        "request_reason": request.reason,
        "window": {"name": choice.window.name, "strategy": choice.strategy, **choice.evidence},
        "holdout": {"basis": split.basis, "rows": len(holdout), "positives": int(holdout[target].sum())},
        "rows": {**data.counts, "train": len(train)},
        INITIAL_FINGERPRINT: initial_fingerprint(data.frame, target),
        REGIME_START: None if request.regime_start is None else format_timestamp(request.regime_start),
        "label_rate": float(labels.mean()) if labels.size else None,
        "fit": "incremental" if challenger.incremental else "refit",
        "decision_threshold": challenger.threshold.to_json(),
        "quality": quality.details,
    }


def quality_record(
    request: RetrainRequest,
    *,
    model_name: str,
    code_version: str,
    data: TrainingData | None,
    quality: QualityReport,
) -> ModelVersionRecord:
    """The record of a version that was never trained: its data (None: none could be assembled) failed the checks.

    Its version is made from the request's time and the data's fingerprint, so a retried run finds it again.
    """
    frame = None if data is None else data.frame
    columns = [] if frame is None else [str(name) for name in frame.columns]
    digest = fingerprint(frame, columns) if frame is not None else fingerprint(pd.DataFrame(), [])
    start, end = (request.now, request.now) if frame is None else time_span(frame, request.now)
    return ModelVersionRecord(
        model_name=model_name,
        version=make_model_version(request.now, digest),
        trigger=request.trigger,
        created_at=request.now,
        training_start=start,
        training_end=end,
        train_rows=0 if frame is None else len(frame),
        holdout_rows=0,
        data_fingerprint=digest,
        code_version=code_version,
        evidence={
            "request_reason": request.reason,
            "stage": "quality",
            "rows": {} if data is None else data.counts,
            "quality": quality.details,
        },
    )
