"""The monitoring baseline (`baseline.json`): what the alerting Lambda compares live traffic with. Pure.

The alerting Lambda is a light zip (no pandas): it reads this small JSON with its own standard-library reader, so
the field list is a contract (wave-2 agreement): `model_name`, `model_version`, `decision_threshold`,
`positive_rate` (share of scores at or above the threshold), `score_mean`, `score_std`, `n_reference` (rows the
score statistics come from), `features` (`name`, `kind`, `nullable`, `missing_rate` on the training data,
`categories` for categorical features) and `latency_ms_p99` (null until known).

The score statistics come from the out-of-time holdout: the newest matured production rows (or the newest slice
of the initial set), which look more like tomorrow's traffic than the training rows do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from core.features import InputSchema


@dataclass(frozen=True, slots=True)
class MonitoringBaseline:
    """The baseline document (see the module docstring for the fields)."""

    model_name: str
    model_version: str
    decision_threshold: float
    positive_rate: float
    score_mean: float
    score_std: float
    n_reference: int
    features: tuple[dict[str, Any], ...]
    latency_ms_p99: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON object."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "decision_threshold": self.decision_threshold,
            "positive_rate": self.positive_rate,
            "score_mean": self.score_mean,
            "score_std": self.score_std,
            "n_reference": self.n_reference,
            "features": [dict(feature) for feature in self.features],
            "latency_ms_p99": self.latency_ms_p99,
        }

    def dumps(self) -> str:
        """Canonical JSON text (strict: no NaN)."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2, allow_nan=False) + "\n"


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
        entry: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind,
            "nullable": spec.nullable,
            "missing_rate": round(missing, 6),
        }
        if spec.kind == "categorical":
            entry["categories"] = list(spec.categories)
        features.append(entry)
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
