"""Test helpers: a monitoring baseline of a two-feature churn model (numeric `tenure`, categorical `plan`)."""

from __future__ import annotations

from core.baseline import MonitoringBaseline

BASELINE = MonitoringBaseline.from_json(
    {
        "model_name": "churn",
        "model_version": "v1",
        "decision_threshold": 0.5,
        "positive_rate": 0.3,
        "score_mean": 0.45,
        "score_std": 0.25,
        "n_reference": 5000,
        "features": [
            {"name": "tenure", "kind": "numeric", "nullable": True, "missing_rate": 0.0, "categories": []},
            {"name": "plan", "kind": "categorical", "nullable": True, "missing_rate": 0.0, "categories": ["pro"]},
        ],
        "latency_ms_p99": None,
    }
)
