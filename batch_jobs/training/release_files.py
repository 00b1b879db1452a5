"""The files a released version carries beside its artefact: the reference profile (drift check), the monitoring
baseline (alerting) and the smoke-test sample (deploy pipeline). Local files only; no I/O beyond `directory`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from batch_jobs import model_spec
from batch_jobs.baseline import build_monitoring_baseline
from batch_jobs.drift import ReferenceProfiler
from batch_jobs.drift.impact import build_impact_basis, with_impact_basis
from batch_jobs.gate import GateDecision
from batch_jobs.training import fitting
from core.features import InputSchema
from core.layout import BASELINE_FILE, REFERENCE_FILE, SAMPLE_FILE
from core.release_bundle import SmokeSample

#: A holdout smaller than this is too few rows to be the drift reference alone: the training rows join it.
REFERENCE_MIN_ROWS = 1000


def reference_rows(train: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """The rows the drift reference is built from: the holdout (the newest matured days, what the model was
    validated on), with the training rows when the holdout alone is under `REFERENCE_MIN_ROWS`."""
    if len(holdout) >= REFERENCE_MIN_ROWS:
        return holdout
    return pd.concat([train, holdout], ignore_index=True, sort=False)


def write_release_files(
    directory: Path,
    *,
    model_name: str,
    version: str,
    model: Any,
    schema: InputSchema,
    target: str,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    holdout_scores: np.ndarray[Any, np.dtype[np.float64]],
    decision: GateDecision,
    sample_rows: int,
) -> None:
    """reference.parquet, baseline.json and sample.json beside the artefact in `directory`.

    The reference profile (with the challenger's holdout metrics and its impact basis: score calibrator, expected
    performance, sensitivity profile — `batch_jobs.drift.impact`) is of the newest data the model was validated
    on, its holdout (`reference_rows`), so that the drift check compares traffic with what the model was last
    shown to handle and a release that adapts to a drift clears it; the baseline's score statistics and the sample
    (its first `sample_rows` rows, with the scores the smoke test must reproduce) come from the holdout too.
    """
    features = model_spec.feature_frame(train, schema)
    reference = reference_rows(train, holdout)
    metrics = {name: value for name, value in decision.challenger.as_mapping().items() if value is not None}
    threshold = decision.challenger.threshold
    reference_scores = fitting.score(model, reference, schema)
    profiler = ReferenceProfiler(decision_threshold=threshold).fit(
        model_spec.feature_frame(reference, schema),
        scores=reference_scores,
        target=fitting.labels_of(reference, target),
        holdout_metrics=metrics,
        schema={spec.name: spec.kind for spec in schema.features},
    )
    basis = build_impact_basis(
        model=model,
        schema=schema,
        threshold=threshold,
        holdout_features=model_spec.feature_frame(holdout, schema),
        holdout_labels=fitting.labels_of(holdout, target).astype(np.float64),
        holdout_scores=holdout_scores,
    )
    with_impact_basis(profiler.profile_, basis).to_parquet(directory / REFERENCE_FILE)
    baseline = build_monitoring_baseline(
        model_name=model_name,
        model_version=version,
        decision_threshold=threshold,
        schema=schema,
        training_features=features,
        reference_scores=holdout_scores,
    )
    (directory / BASELINE_FILE).write_text(baseline.dumps())
    sample = model_spec.feature_frame(holdout.head(sample_rows), schema)
    records = sample.astype(object).where(sample.notna(), None).to_dict("records")
    smoke_sample = SmokeSample(
        model_version=version,
        input_schema=schema,
        instances=tuple({"features": row} for row in records),
        expected_scores=tuple(float(value) for value in holdout_scores[: len(records)]),
    )
    (directory / SAMPLE_FILE).write_text(smoke_sample.dumps())
