"""Computing the monitoring baseline (`core.baseline.MonitoringBaseline`, written as `baseline.json`) from data.

The score statistics come from the out-of-time holdout: the newest matured production rows (or the newest slice
of the initial set), which look more like tomorrow's traffic than the training rows do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from core.baseline import FeatureBaseline, MonitoringBaseline
from core.features import InputSchema


def build_monitoring_baseline(
    *,
    model_name: str,
    model_version: str,
    decision_threshold: float,
    schema: InputSchema,
    training_features: pd.DataFrame,
    reference_scores: ArrayLike,
    latency_ms_p99: float | None = None,
) -> MonitoringBaseline:
    """The baseline of a model: its score statistics on `reference_scores`, feature missing rates on the training
    data (missing: null or, for numbers, not finite) and the schema's kinds, nullability and categories."""
    scores = np.asarray(reference_scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or not np.isfinite(scores).all():
        raise ValueError("reference scores must be a non-empty 1-D array of finite numbers")
    features = []
    for spec in schema.features:
        column = training_features[spec.name]
        if spec.kind == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            missing = float((~np.isfinite(values)).mean()) if values.size else 0.0
        else:
            missing = float(column.isna().mean()) if len(column) else 0.0
        features.append(FeatureBaseline(spec.name, spec.kind, spec.nullable, round(missing, 6), spec.categories))
    return MonitoringBaseline(
        model_name=model_name,
        model_version=model_version,
        decision_threshold=float(decision_threshold),
        positive_rate=float((scores >= decision_threshold).mean()),
        score_mean=float(scores.mean()),
        score_std=float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
        n_reference=int(scores.size),
        features=tuple(features),
        latency_ms_p99=latency_ms_p99,
    )
