"""Test helpers: monitoring baselines (`baseline_of`), and the one most tests use, of a two-feature churn model
(numeric `tenure`, categorical `plan`)."""

from __future__ import annotations

from typing import Any

from core.baseline import MonitoringBaseline


def numeric(name: str) -> dict[str, Any]:
    """A numeric feature of a baseline document, never missing in training."""
    return {"name": name, "kind": "numeric", "nullable": True, "missing_rate": 0.0, "categories": []}


def categorical(name: str, *categories: str) -> dict[str, Any]:
    """A categorical feature of a baseline document with these training categories, never missing in training."""
    return {"name": name, "kind": "categorical", "nullable": True, "missing_rate": 0.0, "categories": list(categories)}


def baseline_of(
    features: list[dict[str, Any]], *, model_name: str = "churn", model_version: str = "v1"
) -> MonitoringBaseline:
    """A baseline with these features and the tests' usual score statistics (threshold 0.5, positive rate 0.3)."""
    return MonitoringBaseline.from_json(
        {
            "model_name": model_name,
            "model_version": model_version,
            "decision_threshold": 0.5,
            "positive_rate": 0.3,
            "score_mean": 0.45,
            "score_std": 0.25,
            "n_reference": 5000,
            "features": features,
            "latency_ms_p99": None,
        }
    )


BASELINE = baseline_of([numeric("tenure"), categorical("plan", "pro")])
