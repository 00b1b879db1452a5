"""summary.json and the terminal summary: what was injected, when it was detected and by what. Pure.

Performance "before and after" a release is measured on the simulator's ground truth (every served
prediction's eventual label): the AUC of the predictions served in the 7 days before the release and in the
7 days after it. The system itself sees those labels only after the label delay; the drift checks' own
matured-label AUCs (with bootstrap intervals) are listed per check.

Each check also carries its drift's estimated impact (`batch_jobs.drift.impact`: the champion's expected AUC on the
current window, estimated without labels, and its drop from the reference) and the tracking of that estimate: on the
matured window, the estimate made from the scores alone beside the AUC the labels realised, and whether the realised
AUC fell in the interval the estimate gave it. The estimate assumes no concept shift, so the tracking is split by the
scenario's phases (`phase_of`): it should hold under the covariate shift and fail under the concept shift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from autoretrain.demo.runner import DemoConfig, DemoLog
from autoretrain.demo.scenario import INCIDENT_FEATURE, EventKind, Scenario
from batch_jobs.drift.results import ImpactVerdict
from core.records import ARM_CONTROL

PERFORMANCE_SPAN = timedelta(days=7)
#: The phases a check's matured window is classified into (`phase_of`), in the order the report shows them.
OTHER_PHASE: Final = "other"
PHASES: Final = (EventKind.COVARIATE_SHIFT, EventKind.CONCEPT_SHIFT, OTHER_PHASE)
PHASE_DEFINITION: Final = (
    "A check is classified by the rows of its matured window (when they were served): concept shift = some were "
    "served between the concept shift and the next injected event (the label backfill), retrains included; covariate "
    "shift = none were, and some were served after the covariate shift started (the inputs moved, P(churn | x) did "
    "not; the empty-feature incident falls inside); other = every row from the quiet period or after the concept "
    "shift's phase."
)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def auc_of(frame: pd.DataFrame) -> float | None:
    """AUC of `score` against the ground truth, or None without both classes. The truth is the churn nobody acted
    on (`untreated_label`) where the frame has it: a retained churner the model found is its success, not its
    error."""
    truth = frame["untreated_label"] if "untreated_label" in frame else frame.get("label")
    if frame.empty or truth is None or truth.nunique() < 2:
        return None
    return round(float(roc_auc_score(truth, frame["score"])), 4)


def _served_between(predictions: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The model-arm requests served in [start, end) (a control-arm client was answered by the heuristic)."""
    if predictions.empty:
        return predictions
    served = (predictions["served_at"] >= start) & (predictions["served_at"] < end)
    if "arm" in predictions:
        served &= predictions["arm"].ne(ARM_CONTROL)
    return predictions.loc[served]


def matured_auc(check: Mapping[str, Any]) -> dict[str, Any] | None:
    """The AUC a drift check measured on matured labels, with its interval and the champion's baseline."""
    performance = (check.get("result") or {}).get("performance")
    if not performance:
        return None
    for metric in performance.get("metrics", []):
        if metric.get("name") == "auc" and metric.get("value") is not None:
            return {key: metric.get(key) for key in ("value", "ci_low", "ci_high", "baseline")}
    return None


def _auc_item(items: Iterable[Mapping[str, Any]]) -> Mapping[str, Any]:
    return next((item for item in items if item.get("name") == "auc"), {})


def impact_of(check: Mapping[str, Any]) -> dict[str, Any] | None:
    """A drift check's estimated impact: the verdict, the champion's expected AUC on the current window with its
    interval (and the interval its realised AUC should fall in), the reference's, and the expected AUC drop with its
    one-sided upper bound and margin; None for a check without one (the suite did not run, or an older result)."""
    impact = ((check.get("result") or {}).get("drift") or {}).get("impact")
    if not impact:
        return None
    auc = _auc_item((impact.get("estimate") or {}).get("metrics", []))
    return {
        "verdict": impact.get("verdict"),
        "expected_auc": impact.get("current_expected"),
        "expected_auc_low": auc.get("ci_low"),
        "expected_auc_high": auc.get("ci_high"),
        "realised_low": auc.get("realised_low"),
        "realised_high": auc.get("realised_high"),
        "reference_expected_auc": impact.get("reference_expected"),
        "drop": impact.get("drop"),
        "drop_upper": impact.get("drop_upper"),
        "margin": impact.get("margin"),
        "confidence_level": impact.get("confidence_level"),
    }


def tracking_of(check: Mapping[str, Any]) -> dict[str, Any] | None:
    """The AUC estimated without labels on a check's matured window beside the AUC its labels realised, the interval
    the realised AUC should fall in and whether it did; None without tracking (too few labels, no calibrator, or an
    older result)."""
    tracking = (check.get("result") or {}).get("tracking")
    if not tracking:
        return None
    auc = _auc_item(tracking.get("metrics", []))
    if not auc:
        return None
    return {
        "estimated": auc.get("estimated"),
        "realised": auc.get("realised"),
        "realised_low": auc.get("realised_low"),
        "realised_high": auc.get("realised_high"),
        "within": auc.get("within"),
        "n_rows": tracking.get("n_rows"),
    }


def outcome_of(check: Mapping[str, Any]) -> str | None:
    """What the trigger policy decided for a check (`batch_jobs.monitoring.policy.Outcome`), None without a result."""
    outcome = ((check.get("result") or {}).get("decision") or {}).get("outcome")
    return None if outcome is None else str(outcome)


def phase_of(scenario: Scenario, start: datetime, end: datetime) -> str:
    """The phase of a matured window of rows served in `[start, end)` (`PHASE_DEFINITION`): `concept_shift`,
    `covariate_shift` or `other`."""
    events = scenario.injected_events()
    starts = {event.kind: event.at for event in events}
    concept = starts[EventKind.CONCEPT_SHIFT]
    concept_end = min(
        (event.at for event in events if event.at > concept and event.kind != EventKind.ROLLBACK), default=scenario.end
    )
    if start < concept_end and end > concept:
        return EventKind.CONCEPT_SHIFT
    if start < concept and end > starts[EventKind.COVARIATE_SHIFT]:
        return EventKind.COVARIATE_SHIFT
    return OTHER_PHASE


def served_span(window: Mapping[str, Any] | None) -> tuple[datetime, datetime] | None:
    """A check's window as (`start`, `end`): when its rows were served; None without one."""
    if not window or not window.get("start") or not window.get("end"):
        return None
    return _time(str(window["start"])), _time(str(window["end"]))


def served_middle(window: Mapping[str, Any] | None) -> datetime | None:
    """The middle of a check's window (`start`, `end`: when its rows were served), None without one."""
    span = served_span(window)
    return None if span is None else span[0] + (span[1] - span[0]) / 2


def tracking_by_phase(scenario: Scenario, checks: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per phase (`PHASES`), over the checks whose matured window has a realised AUC beside its estimate: how many
    (`days`, one check a day), in how many the realised AUC fell in the estimate's interval (`within`), and the
    share (None without checks)."""
    counts = {phase: [0, 0] for phase in PHASES}
    for check in checks:
        tracked = tracking_of(check)
        span = served_span((check.get("result") or {}).get("matured_window"))
        if tracked is None or tracked["within"] is None or span is None:
            continue
        count = counts[phase_of(scenario, *span)]
        count[0] += 1
        count[1] += bool(tracked["within"])
    return {
        phase: {"days": days, "within": within, "share": round(within / days, 3) if days else None}
        for phase, (days, within) in counts.items()
    }


def impact_section(scenario: Scenario, checks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """summary.json's `impact`: how many drifting checks were judged impactful, harmless or of unknown impact, and
    how often the realised AUC fell in the label-free estimate's interval, per phase."""
    verdicts = [(impact_of(check) or {}).get("verdict") for check in checks if check.get("verdict") == "drift"]
    impactful, harmless = verdicts.count(ImpactVerdict.IMPACTFUL), verdicts.count(ImpactVerdict.HARMLESS)
    return {
        "checks_impactful": impactful,
        "checks_harmless": harmless,
        "checks_unknown": len(verdicts) - impactful - harmless,
        "tracking": {"by_phase": tracking_by_phase(scenario, checks), "phases": PHASE_DEFINITION},
    }


def feature_effects(check: Mapping[str, Any]) -> dict[str, tuple[float | None, bool]]:
    """Feature -> (distribution effect size, drifted) of one drift check."""
    drift = (check.get("result") or {}).get("drift")
    if not drift:
        return {}
    return {
        feature["name"]: ((feature.get("distribution") or {}).get("effect_size"), bool(feature.get("drift")))
        for feature in drift.get("features", [])
    }


def _first(items: Iterable[Mapping[str, Any]], after: datetime, test: Any) -> Mapping[str, Any] | None:
    return next((item for item in items if _time(item["at"]) >= after and test(item)), None)


def _rounded(value: object) -> object:
    return round(value, 3) if isinstance(value, float) else value


def _first_served(predictions: pd.DataFrame, start: datetime | None, end: datetime | None) -> str | None:
    """When the first prediction served in [start, end) was served (ISO), None if none was."""
    if predictions.empty or start is None:
        return None
    served = predictions["served_at"]
    chosen = served[(served >= start) & (served < end)] if end is not None else served[served >= start]
    return None if chosen.empty else pd.Timestamp(chosen.min()).isoformat()


def _hours(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 3600.0, 2)


def _interval(value: object, low: object, high: object) -> dict[str, Any]:
    return {"value": _rounded(value), "low": _rounded(low), "high": _rounded(high)}


def _impact_documents(log: DemoLog) -> list[dict[str, Any]]:
    """Each live evaluation's business-impact document (in run order), for runs that measured one."""
    return [
        run["result"]["business_impact"]
        for run in log.live_evaluations
        if (run.get("result") or {}).get("business_impact")
    ]


def business_impact_section(config: DemoConfig, log: DemoLog) -> dict[str, Any] | None:
    """The control-group experiment as the last live evaluation measured it: per week, each arm's outcome rate,
    their difference (control − model: positive when the model retains clients) and the value saved, with
    intervals; beside each week the cumulative value saved as the first run after that week measured it."""
    documents = _impact_documents(log)
    if not documents:
        return None
    last = documents[-1]
    cumulative_by_end = {document["cumulative"]["end"]: document["cumulative"] for document in documents}
    weeks = []
    for week in last["weeks"]:
        cumulative = cumulative_by_end.get(week["end"]) or {}
        weeks.append(
            {
                "week_start": week["start"],
                "period": week["period"],
                "model": {"n": week["model"]["units"], "outcome_rate": _rounded(week["model"]["rate"])},
                "control": {"n": week["control"]["units"], "outcome_rate": _rounded(week["control"]["rate"])},
                "difference": _interval(week["benefit"], week["benefit_low"], week["benefit_high"]),
                "value_saved": _interval(week["value_saved"], week["value_saved_low"], week["value_saved_high"]),
                "cumulative_value_saved": _interval(
                    cumulative.get("value_saved"), cumulative.get("value_saved_low"), cumulative.get("value_saved_high")
                ),
                "alert": bool(week["worse"]),
                "sufficient": bool(week["sufficient"]),
            }
        )
    total = last["cumulative"]
    served = log.predictions
    assigned = served.loc[served["arm"].notna()] if "arm" in served else served.iloc[0:0]
    arms_per_client = assigned.groupby("client_id")["arm"].nunique() if len(assigned) else pd.Series(dtype=int)
    return {
        "assumptions": last["assumptions"],
        "clients": {str(arm): int(count) for arm, count in assigned.groupby("arm")["client_id"].nunique().items()},
        "clients_in_both_arms": int((arms_per_client > 1).sum()),
        "serving_versions": int(assigned["model_version"].nunique()) if len(assigned) else 0,
        "control_share": config.control_share,
        "lifetime_value": last["lifetime_value"],
        "unit": last["unit"],
        "confidence": last["confidence"],
        "retention_uplift": config.retention_uplift,
        "weeks": weeks,
        "cumulative": {
            "start": total["start"],
            "end": total["end"],
            "model": total["model"],
            "control": total["control"],
            "difference": _interval(total["benefit"], total["benefit_low"], total["benefit_high"]),
            "value_saved": _interval(total["value_saved"], total["value_saved_low"], total["value_saved_high"]),
            "sufficient": total["sufficient"],
        },
        "cost_of_control": _rounded(total["control_cost"]),
        "cost_of_control_interval": _interval(
            total["control_cost"], total["control_cost_low"], total["control_cost_high"]
        ),
        "alert": bool(last["alert"]),
        "alerts_raised": sum(1 for document in documents if document["alert"]),
        "message": last["message"],
    }


def review_section(log: DemoLog) -> dict[str, Any] | None:
    """The review sample: its design, the files reviewed, and each drift check's design-based estimate."""
    exports = [run["result"]["review"] for run in log.live_evaluations if (run.get("result") or {}).get("review")]
    checks = []
    for check in log.drift_checks:
        reviewed = (check.get("result") or {}).get("reviewed")
        if not reviewed:
            continue
        metrics = {metric["name"]: metric for metric in reviewed["performance"]["metrics"]}
        decay = reviewed["decay"]

        def interval(name: str, metrics: Mapping[str, Mapping[str, Any]] = metrics) -> dict[str, Any]:
            metric = metrics.get(name) or {}
            return _interval(metric.get("value"), metric.get("ci_low"), metric.get("ci_high"))

        checks.append(
            {
                "at": check["at"],
                "n_reviewed": reviewed["performance"]["n_reviewed"],
                "n_positive": reviewed["performance"]["n_positive"],
                "population": reviewed["performance"]["population"],
                "auc": interval("auc"),
                "positive_rate": interval("positive_rate"),
                "verdict": decay["verdict"],
                "floor": decay["min_reviewed"],
                "baseline": decay["baseline"],
                "detail": decay["detail"],
            }
        )
    if not exports and not checks:
        return None
    return {
        "design": exports[-1]["design"] if exports else {},
        "files": len([export for export in exports if export.get("uri")]),
        "rows_exported": sum(int(export["rows"]) for export in exports),
        "labels_returned": sum(int(review["reviewed"]) for review in log.reviews),
        "assumption": (checks and _first_assumption(log)) or None,
        "checks": checks,
    }


def _first_assumption(log: DemoLog) -> str | None:
    for check in log.drift_checks:
        reviewed = (check.get("result") or {}).get("reviewed")
        if reviewed:
            return str(reviewed["performance"].get("assumption"))
    return None


def shadow_section(log: DemoLog) -> dict[str, Any] | None:
    """The shadow periods as the live evaluation described them (`ShadowRun.period`): the last one decided (or the
    one still running), and every decided one."""
    periods = [
        run["result"]["shadow"]["period"] for run in log.live_evaluations if (run.get("result") or {}).get("shadow")
    ]
    if not periods:
        return None
    decided = [period for period in periods if period["ended"]]
    return {**(decided[-1] if decided else periods[-1]), "checks": len(periods), "periods": decided}


def detections(scenario: Scenario, log: DemoLog) -> list[dict[str, Any]]:
    """Each injected event with when and by what it was detected (or handled)."""
    results: list[dict[str, Any]] = []
    checks = [check for check in log.drift_checks if check.get("verdict")]
    for event in scenario.injected_events():
        entry: dict[str, Any] = {**event.to_json(), "detected": False}
        if event.kind == EventKind.COVARIATE_SHIFT:
            after = [check for check in checks if _time(check["at"]) >= event.at]
            found = next((check for check in after if check["verdict"] == "drift"), None)
            if found is not None:
                entry.update(
                    detected=True,
                    detected_at=found["at"],
                    hours_after=_hours(event.at, _time(found["at"])),
                    checks_until_detection=after.index(found) + 1,
                    detected_by="daily drift check (feature drift: "
                    + ", ".join((found.get("result") or {}).get("drifted_features", []))
                    + ")",
                )
            retrain = _first(
                log.retrains,
                event.at,
                lambda item: item.get("trigger") == "drift" and item.get("outcome") == "released",
            )
            if retrain is not None:
                entry["response"] = f"drift retrain released {retrain.get('version')} at {retrain['at']}"
                entry["response_version"] = retrain.get("version")
        elif event.kind == EventKind.INCIDENT:
            firing = [
                alert
                for alert in log.alerts
                if alert["signal"] == "missing_features"
                and event.at <= _time(alert["at"]) <= event.at + timedelta(days=1)
            ]
            first = next((alert for alert in firing if alert["status"] == "firing"), None)
            resolved = next((alert for alert in firing if alert["status"] == "resolved"), None)
            # Alerting can only see what was served: clients send a batch every few hours, so the first affected
            # (and the first clean) predictions are logged some time after the incident starts (and ends).
            entry.update(
                first_affected_served_at=_first_served(log.predictions, event.at, event.until),
                first_clean_served_at=_first_served(log.predictions, event.until, None),
            )
            if first is not None:
                entry.update(
                    detected=True,
                    detected_at=first["at"],
                    hours_after=_hours(event.at, _time(first["at"])),
                    detected_by=f"alerting Lambda: missing_features ('{INCIDENT_FEATURE}' empty)",
                    firing_notices=sum(1 for alert in firing if alert["status"] == "firing" and not alert["reminder"]),
                    reminders=sum(1 for alert in firing if alert["reminder"]),
                    resolved_at=None if resolved is None else resolved["at"],
                )
        elif event.kind == EventKind.CONCEPT_SHIFT:
            # Only a check whose matured window holds predictions served after the shift can have seen it.
            matured_after = event.at + timedelta(days=scenario.label_delay_days)
            decays = [check for check in checks if (check.get("result") or {}).get("performance_decay")]
            found = next((check for check in decays if _time(check["at"]) > matured_after), None)
            entry["decays_before_labels_matured"] = sum(
                1 for check in decays if event.at <= _time(check["at"]) <= matured_after
            )
            if found is not None:
                auc = matured_auc(found) or {}
                metrics = ((found.get("result") or {}).get("performance") or {}).get("metrics", [])
                decayed = ", ".join(metric["name"] for metric in metrics if metric.get("decay")) or "performance"
                entry.update(
                    detected=True,
                    detected_at=found["at"],
                    hours_after=_hours(event.at, _time(found["at"])),
                    detected_by=(
                        f"daily drift check: {decayed} decay on matured labels (AUC {_rounded(auc.get('value'))} "
                        f"vs baseline {_rounded(auc.get('baseline'))})"
                    ),
                )
        elif event.kind == EventKind.CORRUPTED_LABELS:
            retrain = _first(
                log.retrains, scenario.on_demand_retrain_at, lambda item: item.get("trigger") == "on_demand"
            )
            if retrain is not None:
                entry.update(
                    detected=retrain.get("outcome") == "rejected",
                    detected_at=retrain["at"],
                    detected_by="retrain job: "
                    + (
                        "gate rejected the challenger"
                        if retrain.get("outcome") == "rejected"
                        else f"outcome {retrain.get('outcome')}"
                    ),
                    challenger=retrain.get("version"),
                    reasons=retrain.get("reasons", []),
                    champion_kept=_champion_at(log, scenario.on_demand_retrain_at - timedelta(minutes=1))
                    == _champion_at(log, scenario.repair_at),
                )
        elif event.kind == EventKind.ROLLBACK:
            rollback = log.rollbacks[-1] if log.rollbacks else None
            if rollback is not None:
                deployed = _champion_at(log, event.at + timedelta(hours=1))
                entry.update(
                    detected=bool(rollback.get("rolled_back")),
                    detected_at=rollback["at"],
                    detected_by="release pipeline (verify, smoke test, mark-deployed) on the re-released artefact",
                    from_version=rollback.get("from_version"),
                    to_version=rollback.get("to_version"),
                    champion_after=deployed,
                )
        results.append(entry)
    return results


def _champion_at(log: DemoLog, moment: datetime) -> str | None:
    deployed = [deploy for deploy in log.deploys if "failed" not in deploy and _time(deploy["at"]) <= moment]
    return str(deployed[-1]["version"]) if deployed else None


def releases(log: DemoLog, scenario: Scenario) -> list[dict[str, Any]]:
    """Every deploy, with the ground-truth AUC of the week before it and of the week after it (cut short at the
    next injected event, so a release is not judged on a world it was never trained for)."""
    predictions = log.predictions
    changes = sorted(event.at for event in scenario.injected_events() if event.kind != EventKind.ROLLBACK)
    entries = []
    for deploy in log.deploys:
        at = _time(deploy["at"])
        after_end = min([at + PERFORMANCE_SPAN, *[change for change in changes if change > at]])
        entries.append(
            {
                "at": deploy["at"],
                "version": deploy.get("version"),
                "trigger": deploy.get("trigger"),
                "previous_version": deploy.get("previous_version"),
                "failed": deploy.get("failed"),
                "smoke_test_p99_ms": (deploy.get("smoke_test") or {}).get("latency_ms_p99"),
                "auc_week_before": auc_of(_served_between(predictions, at - PERFORMANCE_SPAN, at)),
                "auc_week_after": auc_of(_served_between(predictions, at, after_end)),
                "after_until": after_end.isoformat(),
            }
        )
    return entries


def build_summary(
    config: DemoConfig,
    scenario: Scenario,
    log: DemoLog,
    *,
    wall_seconds: float,
    backtest: Mapping[str, Any] | None = None,
    decay_response: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole summary.json document; `backtest` and `decay_response` are the sections of the backtest of the run's
    history (`autoretrain.demo.history`), None when it was not run."""
    quiet_end = scenario.day(scenario.covariate_day)
    quiet_checks = [check for check in log.drift_checks if _time(check["at"]) < quiet_end]
    quiet_alerts = [alert for alert in log.alerts if _time(alert["at"]) < quiet_end]
    return {
        "run": {
            "days": config.days,
            "seed": config.seed,
            "daily_volume": config.daily_volume,
            "label_delay_days": config.label_delay_days,
            "alerting_schedule": config.alerting_schedule,
            "start": scenario.start.isoformat(),
            "end": scenario.end.isoformat(),
            "predictions": len(log.predictions),
            "emulator_requests": log.emulator_requests,
            "wall_seconds": round(wall_seconds, 1),
        },
        "quiet_period": {
            "until": quiet_end.isoformat(),
            "drift_checks": len(quiet_checks),
            "drifting_checks": sum(1 for check in quiet_checks if check.get("verdict") == "drift"),
            "drift_alarms": sum(1 for check in quiet_checks if check.get("retrain_requested")),
            "alerts": len(quiet_alerts),
        },
        "timings_seconds": {name: round(value, 1) for name, value in sorted(log.timings.items())},
        "injected_events": detections(scenario, log),
        "alerts": log.alerts,
        "retrains": [
            {key: retrain.get(key) for key in ("at", "trigger", "reason", "outcome", "version", "reasons")}
            for retrain in log.retrains
        ],
        "gate_decisions": [
            {
                "version": version["version"],
                "trigger": version["trigger"],
                "created_at": version["created_at"],
                "passed": version["gate_passed"],
                "reasons": version["gate_reasons"],
                "challenger_auc": version["challenger_metrics"].get("auc"),
                "champion_auc": version["champion_metrics"].get("auc"),
                "status": version["status"],
                "window": version["window"],
            }
            for version in log.versions
        ],
        "releases": releases(log, scenario),
        "rollbacks": [
            {key: rollback.get(key) for key in ("at", "from_version", "to_version", "rolled_back", "reason", "refused")}
            for rollback in log.rollbacks
        ],
        "drift_checks": [
            {
                "at": check["at"],
                "verdict": check.get("verdict"),
                "drifted_features": (check.get("result") or {}).get("drifted_features", []),
                "performance_decay": (check.get("result") or {}).get("performance_decay"),
                "retrain_requested": check.get("retrain_requested"),
                "matured_auc": matured_auc(check),
                "champion_version": (check.get("result") or {}).get("champion_version"),
                "outcome": outcome_of(check),
                "impact": impact_of(check),
                "tracking": tracking_of(check),
            }
            for check in log.drift_checks
        ],
        "impact": impact_section(scenario, log.drift_checks),
        "business_impact": business_impact_section(config, log),
        "review": review_section(log),
        "shadow": shadow_section(log),
        "backtest": None if backtest is None else dict(backtest),
        "decay_response": None if decay_response is None else dict(decay_response),
    }


def terminal_summary(summary: Mapping[str, Any], report_path: str) -> str:
    """A few lines for the terminal."""
    run = summary["run"]
    quiet = summary["quiet_period"]
    lines = [
        f"autoretrain demo: {run['days']} days, {run['predictions']:,} predictions, seed {run['seed']}, "
        f"{run['wall_seconds']:.0f} s ({run['emulator_requests']:,} emulator requests)",
        f"  quiet period: {quiet['drift_checks']} drift checks ({quiet['drifting_checks']} drifting), "
        f"{quiet['drift_alarms']} drift alarms (retrain requests), {quiet['alerts']} alerts",
    ]
    for event in summary["injected_events"]:
        when = event["at"][:16].replace("T", " ")
        if event.get("detected"):
            delay = f" (+{event['hours_after']:g} h)" if event.get("hours_after") is not None else ""
            found = f"{event['detected_at'][:16].replace('T', ' ')}{delay} by {event['detected_by']}"
        else:
            found = "NOT detected"
        lines.append(f"  {event['kind']:<22} {when}  ->  {found}")
    gates = summary["gate_decisions"]
    rejected = sum(1 for gate in gates if gate["passed"] is False)
    not_needed = sum(1 for gate in gates if gate["status"] == "not_needed")
    lines.append(
        f"  {len(summary['retrains'])} retrains, {len(gates)} versions ({rejected} rejected, {not_needed} not needed), "
        f"{len(summary['releases'])} deploys, {len(summary['alerts'])} alert notices"
    )
    impact = summary.get("impact") or {}
    if impact:
        by_phase = (impact.get("tracking") or {}).get("by_phase") or {}
        held = ", ".join(
            f"{phase.replace('_', ' ')} {counts['within']}/{counts['days']}"
            for phase, counts in by_phase.items()
            if counts.get("days")
        )
        lines.append(
            f"  drift impact: {impact.get('checks_impactful', 0)} drifting checks impactful, "
            f"{impact.get('checks_harmless', 0)} harmless (not a trigger); label-free AUC estimate within its "
            f"interval: {held or 'no matured checks'}"
        )
    lines.extend(live_evaluation_lines(summary))
    backtest = summary.get("backtest") or {}
    if backtest.get("table"):
        lines.append(f"  backtest of the run's history ({backtest['wall_seconds']:.0f} s):")
        lines.extend(f"    {line}" for line in str(backtest["table"]).splitlines())
    elif backtest.get("error"):
        lines.append(f"  backtest of the run's history: not run ({backtest['error']})")
    lines.append(f"  report: {report_path}")
    return "\n".join(lines)


def live_evaluation_lines(summary: Mapping[str, Any]) -> list[str]:
    """The terminal's lines on the control group, the reviewed sample and the shadow period."""
    lines = []
    impact = summary.get("business_impact")
    if impact:
        total = impact["cumulative"]
        difference, saved = total["difference"], total["value_saved"]
        lines.append(
            f"  business impact: churn {total['model']['rate']:.3f} with the model vs {total['control']['rate']:.3f} "
            f"in the {impact['control_share']:.0%} control group; the model cuts it by {difference['value']:+.3f} "
            f"[{difference['low']:+.3f}, {difference['high']:+.3f}], {saved['value']:,.0f} value units saved "
            f"(control group's cost {impact['cost_of_control']:,.0f}); alert: {'RAISED' if impact['alert'] else 'none'}"
        )
    review = summary.get("review")
    if review and review["checks"]:
        last = review["checks"][-1]
        auc = last["auc"]
        lines.append(
            f"  reviewed sample: {review['labels_returned']:,} reviewed labels; last check AUC {auc['value']} "
            f"[{auc['low']}, {auc['high']}] on {last['n_reviewed']} reviews ({last['verdict']})"
        )
    shadow = summary.get("shadow")
    if shadow:
        lines.append(
            f"  shadow: {shadow['challenger']} beside {shadow['champion']} for {shadow['requests']:,} requests, "
            f"agreement {shadow['agreement']}, AUC difference {shadow['auc_difference']['value']}: {shadow['decision']}"
        )
    return lines


def daily_frame(predictions: pd.DataFrame, start: datetime, days: int) -> pd.DataFrame:
    """Per simulated day: volume, mean score, predicted positive rate, true churn rate, ground-truth AUC."""
    rows = []
    for day in range(days):
        chunk = _served_between(predictions, start + timedelta(days=day), start + timedelta(days=day + 1))
        rows.append(
            {
                "day": day,
                "volume": len(chunk),
                "mean_score": float(chunk["score"].mean()) if len(chunk) else np.nan,
                "positive_rate": float(chunk["predicted"].mean()) if len(chunk) else np.nan,
                "churn_rate": float(chunk["label"].mean()) if len(chunk) else np.nan,
                "auc": auc_of(chunk) if len(chunk) else None,
            }
        )
    return pd.DataFrame(rows)
