"""A small demo-like output directory (`summary.json`, `history.parquet`, `backtest.json`), made up but shaped like
a real run's: for the dashboard's tests and for trying the dashboard without running the demo.

`with_sections=False` leaves out the sections a run may not have (business impact, review, shadow), so the pages'
"not in this run" notices show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from autoretrain.dashboard.sources import BACKTEST_FILE, HISTORY_FILE, SUMMARY_FILE

START: Final = datetime(2026, 3, 2, tzinfo=UTC)
DAYS: Final = 42
FEATURES: Final = ("tenure_months", "monthly_charges", "support_calls")
VERSIONS: Final = ("20260301T230000Z-aaaaaa", "20260322T040000Z-bbbbbb")
#: The day the second version took over, and the days of the made-up covariate shift.
RELEASE_DAY: Final = 21
SHIFT_DAYS: Final = range(14, 20)


def _iso(day: float) -> str:
    return (START + timedelta(days=day)).isoformat()


def _interval(value: float, half: float) -> dict[str, float]:
    return {"value": round(value, 4), "low": round(value - half, 4), "high": round(value + half, 4)}


def drift_checks() -> list[dict[str, Any]]:
    """One check a day from the second day, with per-feature effects, impact, matured and estimated AUC."""
    checks = []
    for day in range(1, DAYS):
        shifted = day in SHIFT_DAYS
        features = [
            {
                "name": name,
                "effect_size": round(0.02 + 0.01 * index + (0.25 if shifted and index < 2 else 0.0), 4),
                "drift": shifted and index < 2,
            }
            for index, name in enumerate(FEATURES)
        ]
        auc = 0.84 - (0.03 if shifted else 0.0)
        checks.append(
            {
                "at": _iso(day + 0.125),
                "champion_version": VERSIONS[day >= RELEASE_DAY],
                "verdict": "insufficient_data" if day < 3 else ("drift" if shifted else "no_drift"),
                "outcome": "retrain_requested" if day == SHIFT_DAYS[1] else "no_signal",
                "retrain_requested": day == SHIFT_DAYS[1],
                "drifted_features": [f["name"] for f in features if f["drift"]],
                "features": features,
                "impact": None
                if day < 3
                else {
                    "verdict": "impactful" if shifted else "harmless",
                    "expected_auc": auc + 0.005,
                    "expected_auc_low": auc - 0.005,
                    "expected_auc_high": auc + 0.015,
                    "drop": 0.02 if shifted else 0.001,
                },
                "matured_auc": None
                if day < 8
                else {"value": auc, "ci_low": auc - 0.02, "ci_high": auc + 0.02, "baseline": 0.84},
                "tracking": None if day < 8 else {"estimated": auc + 0.004},
            }
        )
    return checks


def business_impact() -> dict[str, Any]:
    """Six weeks of both arms, the model's arm ahead but for one alerting week."""
    weeks, total = [], 0.0
    for week in range(DAYS // 7):
        difference = -0.01 if week == 2 else 0.03
        saved = 4000 * difference * 300.0
        total += saved
        weeks.append(
            {
                "week_start": _iso(7 * week),
                "model": {"n": 3600, "outcome_rate": round(0.20 - difference, 4)},
                "control": {"n": 400, "outcome_rate": 0.20},
                "difference": _interval(difference, 0.015),
                "value_saved": _interval(saved, 18000.0),
                "cumulative_value_saved": _interval(total, 18000.0 * (week + 1) ** 0.5),
                "alert": week == 2,
            }
        )
    return {
        "assumptions": "Clients are assigned to an arm at random and stay in it; outcomes mature in 7 days.",
        "control_share": 0.1,
        "lifetime_value": 300.0,
        "cost_of_control": 14400.0,
        "weeks": weeks,
    }


def review() -> dict[str, Any]:
    """A 5 % reviewed sample, stratified by score, checked weekly."""
    return {
        "design": {"share": 0.05, "strata": [0.0, 0.3, 1.0]},
        "checks": [
            {
                "at": _iso(7 * week + 3.125),
                "n_reviewed": 180 + 10 * week,
                "auc": _interval(0.83 + 0.005 * week, 0.04),
                "positive_rate": _interval(0.2, 0.03),
                "verdict": "ok",
                "floor": 150,
            }
            for week in range(DAYS // 7)
        ],
    }


def shadow() -> dict[str, Any]:
    """The second version in shadow for a week before its promotion."""
    return {
        "champion": VERSIONS[0],
        "challenger": VERSIONS[1],
        "started": _iso(RELEASE_DAY - 7),
        "ended": _iso(RELEASE_DAY),
        "requests": 3360,
        "agreement": 0.94,
        "score_ks": {"statistic": 0.05, "p_value": 0.2},
        "latency_ms": {"champion_p50": 11.0, "shadow_p50": 13.5},
        "auc_difference": _interval(0.012, 0.008),
        "decision": "promote",
        "reasons": ["the challenger's AUC is better beyond noise on 1,200 matured labels"],
    }


def operations() -> dict[str, Any]:
    """Alerts, retrains, gate decisions, releases and one rollback."""
    return {
        "alerts": [
            {"at": _iso(16.3), "signal": "missing_features", "severity": "warning", "status": "firing",
             "reminder": False, "summary": "tenure_months arrives empty"},
            {"at": _iso(16.6), "signal": "missing_features", "severity": "warning", "status": "resolved",
             "reminder": False, "summary": "back to normal"},
        ],
        "retrains": [
            {"at": _iso(-1), "trigger": "initial", "outcome": "released", "version": VERSIONS[0],
             "reason": "the first champion", "reasons": ["passed all 8 checks"]},
            {"at": _iso(RELEASE_DAY - 7), "trigger": "drift", "outcome": "released", "version": VERSIONS[1],
             "reason": "drift", "reasons": ["better beyond noise"]},
        ],
        "gate_decisions": [
            {"created_at": _iso(-1), "version": VERSIONS[0], "trigger": "initial", "status": "retired", "passed": True,
             "challenger_auc": 0.84, "champion_auc": None, "window": "all", "reasons": ["passed all 8 checks"]},
            {"created_at": _iso(RELEASE_DAY - 7), "version": VERSIONS[1], "trigger": "drift", "status": "champion",
             "passed": True, "challenger_auc": 0.85, "champion_auc": 0.83, "window": "14d",
             "reasons": ["better beyond noise"]},
        ],
        "releases": [
            {"at": _iso(-1), "version": VERSIONS[0], "trigger": "initial", "previous_version": None, "failed": None,
             "auc_week_before": None, "auc_week_after": 0.84},
            {"at": _iso(RELEASE_DAY), "version": VERSIONS[1], "trigger": "drift", "previous_version": VERSIONS[0],
             "failed": None, "auc_week_before": 0.81, "auc_week_after": 0.85},
        ],
        "rollbacks": [
            {"at": _iso(30), "from_version": VERSIONS[1], "to_version": VERSIONS[0], "reason": "operator drill",
             "rolled_back": True, "refused": None},
        ],
    }  # fmt: skip


def backtest() -> dict[str, Any]:
    """Two replays' daily AUC and their summaries."""
    days = [(START + timedelta(days=day)).date().isoformat() for day in range(7, DAYS)]
    wave = np.sin(np.arange(len(days)) / 3.0) * 0.01
    never = (0.84 + wave - np.where(np.arange(len(days)) > 10, 0.08, 0.0)).round(4).tolist()
    policy = (0.845 + wave).round(4).tolist()
    summaries = [
        {"name": "policy", "mean_metric": float(np.mean(policy)), "regret": 0.001, "net_per_day": 0.84, "retrains": 3,
         "deploys": 1, "worse_deploys": 0, "mean_recovery_days": 1.0, "unrecovered_changes": 0,
         "description": "the policy"},
        {"name": "never", "mean_metric": float(np.mean(never)), "regret": 0.05, "net_per_day": 0.79, "retrains": 0,
         "deploys": 0, "worse_deploys": 0, "mean_recovery_days": None, "unrecovered_changes": 1,
         "description": "never retrain"},
    ]  # fmt: skip
    return {
        "metric": "auc",
        "days": days,
        "detected_changes": [days[10]],
        "replays": [{"name": "policy", "daily_metric": policy}, {"name": "never", "daily_metric": never}],
        "summaries": summaries,
        "assumptions": ["made up for the dashboard's tests"],
    }


def history(rows: int = 4000, seed: int = 7) -> pd.DataFrame:
    """Served predictions over the run with calibrated scores and their labels (the last week's not yet known)."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, DAYS, rows))
    timestamp = pd.to_datetime(START) + pd.to_timedelta(offsets, unit="D")
    score = rng.beta(2.0, 6.0, rows)
    label = pd.array((rng.random(rows) < score).astype("int8"), dtype="Int8")
    label[offsets > DAYS - 7] = pd.NA
    return pd.DataFrame(
        {
            "timestamp": timestamp.astype("datetime64[ms, UTC]"),
            "score": score,
            "churned": label,
            "request_id": [f"r{index}" for index in range(rows)],
            "model_version": np.where(offsets >= RELEASE_DAY, VERSIONS[1], VERSIONS[0]),
        }
    )


def summary(*, with_sections: bool = True) -> dict[str, Any]:
    """The whole `summary.json`."""
    document: dict[str, Any] = {
        "run": {"start": _iso(0), "end": _iso(DAYS), "days": DAYS, "seed": 7},
        "drift_checks": drift_checks(),
        "backtest": {key: value for key, value in backtest().items() if key != "replays"},
        **operations(),
    }
    if with_sections:
        document.update(business_impact=business_impact(), review=review(), shadow=shadow())
    return document


def write_sample(directory: Path, *, with_sections: bool = True) -> Path:
    """Write the sample run into `directory` (created if needed); return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SUMMARY_FILE).write_text(json.dumps(summary(with_sections=with_sections), indent=1))
    (directory / BACKTEST_FILE).write_text(json.dumps(backtest(), indent=1))
    history().to_parquet(directory / HISTORY_FILE, index=False)
    return directory
