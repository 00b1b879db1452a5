"""What one drift check leaves behind, built purely from its result: the JSON result, the HTML report, the
CloudWatch metric data and the event details.

CloudWatch metrics (defined in `core.metric_names`: namespace `autoretrain`, timestamp = the check's `now`):

| metric                     | dimensions           | when                                   |
|----------------------------|----------------------|----------------------------------------|
| `RowsChecked`              | ModelName            | always (predictions in the window)     |
| `LabelledRows`             | ModelName            | always (matured labelled predictions)  |
| `InsufficientData`         | ModelName            | always (1 when the check decided nothing) |
| `RetrainRequested`         | ModelName            | always (1 when this check requested)   |
| `DatasetDrift`             | ModelName            | the suite ran (0/1)                    |
| `DriftedFeatures`          | ModelName            | the suite ran (count)                  |
| `PredictionDrift`          | ModelName            | the suite ran (0/1)                    |
| `DomainClassifierAUC`      | ModelName            | the classifier had enough rows         |
| `FeatureDrift`             | ModelName, Feature   | per feature, the suite ran (0/1); only with `feature_metrics` |
| `FeatureDriftEffectSize`   | ModelName, Feature   | per feature with an effect size; only with `feature_metrics` |
| `ModelAUC`, `ModelLogLoss`, `ModelBrierScore`, `ModelCalibrationError` | ModelName | enough matured labels |
| `PerformanceDecay`         | ModelName            | enough matured labels (0/1)            |
| `ExpectedAUC`, `ExpectedAUCDrop`, `ImpactfulDrift` | ModelName | the suite ran on a model with an impact basis |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any, Final

from batch_jobs.drift import DriftResult, PerformanceResult
from batch_jobs.drift.impact import EstimateTracking
from batch_jobs.drift.report import STYLE, render_html, tracking_html
from batch_jobs.drift.univariate import WASSERSTEIN
from batch_jobs.monitoring.policy import Decision, TriggerPolicy, Verdict
from batch_jobs.monitoring.regime import RegimeEstimate
from batch_jobs.monitoring.review import ReviewedDecay, ReviewedPerformance
from core import metric_names
from core.events import NO_REGIME
from core.metric_names import Dimension, Metric
from core.records import format_timestamp

#: CloudWatch accepts at most 1,000 metric data per PutMetricData call (and 1 MB; ours are ~200 bytes each).
MAX_METRICS_PER_CALL: Final = 1000
#: The CloudWatch metric of each performance metric, by the name `batch_jobs.drift.performance` gives it.
PERFORMANCE_METRICS: Final = {
    "auc": metric_names.MODEL_AUC,
    "log_loss": metric_names.MODEL_LOG_LOSS,
    "brier": metric_names.MODEL_BRIER_SCORE,
    "ece": metric_names.MODEL_CALIBRATION_ERROR,
}


@dataclass(frozen=True, slots=True)
class ReviewedEvaluation:
    """Performance on the current window's reviewed labels (design-based, `batch_jobs.monitoring.review`) and the
    decay rule's verdict on it; `start`/`end` bound the window's predictions."""

    performance: ReviewedPerformance
    decay: ReviewedDecay
    start: str
    end: str
    #: With decay, where it began as the reviewed rows show it (the recovery's regime when matured labels show none).
    regime: RegimeEstimate | None = None

    def to_json(self) -> dict[str, Any]:
        """As strict JSON data."""
        return {
            "window": {"start": self.start, "end": self.end},
            "performance": self.performance.to_json(),
            "decay": self.decay.to_json(),
        }


@dataclass(frozen=True, slots=True)
class DriftCheckResult:
    """Everything one drift check found and decided (the `result.json` beside the report)."""

    model_name: str
    run_id: str
    champion_version: str
    checked_at: datetime
    verdict: Verdict
    summary: str
    window: dict[str, Any]
    matured_window: dict[str, Any]
    min_rows: int
    drift: DriftResult | None
    performance: PerformanceResult | None
    performance_decay: bool | None
    decision: Decision
    policy: TriggerPolicy
    report_uri: str
    result_uri: str
    #: Where the decay began, when the check found decay (`batch_jobs.monitoring.regime`).
    regime: RegimeEstimate | None = None
    #: The label-free estimate on the matured rows beside their realised metrics (`batch_jobs.drift.impact`).
    tracking: EstimateTracking | None = None
    #: Performance on reviewed labels and its decay verdict (with a review sample).
    reviewed: ReviewedEvaluation | None = None

    @property
    def dataset_drift(self) -> bool:
        """Whether the suite found drift (false when it did not run)."""
        return self.drift is not None and self.drift.dataset_drift

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """The features that drifted."""
        return () if self.drift is None else self.drift.drifted_features

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-compatible data (strict: no NaN)."""
        return {
            "model_name": self.model_name,
            "run_id": self.run_id,
            "champion_version": self.champion_version,
            "checked_at": format_timestamp(self.checked_at),
            "verdict": self.verdict,
            "summary": self.summary,
            "dataset_drift": self.dataset_drift,
            "drifted_features": list(self.drifted_features),
            "performance_decay": self.performance_decay,
            "window": self.window,
            "matured_window": self.matured_window,
            "min_rows": self.min_rows,
            "decision": self.decision.to_json(),
            "policy": self.policy.to_json(),
            "report_uri": self.report_uri,
            "result_uri": self.result_uri,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "performance": None if self.performance is None else self.performance.to_dict(),
            "regime": None if self.regime is None else self.regime.to_json(),
            "tracking": None if self.tracking is None else self.tracking.to_json(),
            "reviewed": None if self.reviewed is None else self.reviewed.to_json(),
        }


def completed_detail(result: DriftCheckResult) -> dict[str, Any]:
    """The `DriftCheckCompleted` event's detail (the wave-2 contract, plus the policy's `decision`)."""
    return {
        "model_name": result.model_name,
        "run_id": result.run_id,
        "champion_version": result.champion_version,
        "verdict": result.verdict,
        "dataset_drift": result.dataset_drift,
        "performance_decay": result.performance_decay,
        "drifted_features": list(result.drifted_features),
        "report_uri": result.report_uri,
        "n_current": int(result.window["n_rows"]),
        "n_labelled": int(result.matured_window["n_labelled"]),
        "window_start": result.window["start"],
        "window_end": result.window["end"],
        "decision": result.decision.to_json(),
        "impact": (
            result.drift.impact.verdict.value
            if result.drift is not None and result.drift.dataset_drift and result.drift.impact is not None
            else None
        ),
    }


def impact_text(drift: DriftResult) -> str:
    """What a drift is estimated to cost, in a sentence for the summary, the alert and the retrain request: the
    expected AUC's drop with its bound and margin, then each drifted feature's shift and its sensitivity cost."""
    impact = drift.impact
    if impact is None or impact.drop is None or impact.drop_upper is None:
        return "Impact unknown (no calibrator with the champion, or no scores): drift is acted on as drift."
    judged = "impactful" if impact.impactful else "harmless"
    parts = [
        f"Estimated impact: expected AUC {impact.reference_expected:.3f} -> {impact.current_expected:.3f} "
        f"(drop {impact.drop:+.4f}, {impact.confidence_level:.0%} upper bound {impact.drop_upper:+.4f} vs margin "
        f"{impact.margin:.3f}: {judged}; no labels, assumes no concept shift)."
    ]
    shifted = []
    for feature in impact.features:
        if not feature.drift or feature.effect_size is None:
            continue
        unit = " sd" if feature.effect_size_name == WASSERSTEIN else f" {feature.effect_size_name}"
        cost = "" if feature.auc_cost is None else f", AUC -{feature.auc_cost:.3f} if its relation to the outcome broke"
        shifted.append(f"{feature.name} shifted {feature.effect_size:.3f}{unit} (floor {feature.floor:.3f}{cost})")
    if shifted:
        parts.append("Shifts: " + "; ".join(shifted) + ".")
    return " ".join(parts)


def retrain_detail(result: DriftCheckResult) -> dict[str, Any]:
    """The `RetrainRequested` event's detail; only for a check whose decision requested a retrain."""
    trigger, regime_start = result.decision.trigger, result.decision.regime_start
    if not result.decision.retrain_requested or trigger is None:
        raise ValueError("this check did not request a retrain")
    reason = f"drift check {result.run_id} of {result.champion_version}: {result.decision.reason}"
    if result.drift is not None and result.drift.dataset_drift:
        reason += ". " + impact_text(result.drift)
    return {
        "model_name": result.model_name,
        "trigger": trigger.value,
        "reason": reason,
        "requested_at": format_timestamp(result.checked_at),
        "regime_start": NO_REGIME if regime_start is None else format_timestamp(regime_start),
    }


def metric_data(result: DriftCheckResult, *, per_feature: bool = True) -> list[dict[str, Any]]:
    """Every CloudWatch datum of one check (table in the module docstring); the per-feature ones only if
    `per_feature` (each feature is two more custom metrics to pay for)."""
    model, at = result.model_name, result.checked_at

    def datum(metric: Metric, value: float, feature: str | None = None) -> dict[str, Any]:
        values = {Dimension.MODEL_NAME: model, Dimension.FEATURE: feature}
        dimensions = [{"Name": name.value, "Value": values[name]} for name in metric.dimensions]
        return {
            "MetricName": metric.name,
            "Dimensions": dimensions,
            "Timestamp": at,
            "Value": float(value),
            "Unit": metric.unit.value,
        }

    data = [
        datum(metric_names.ROWS_CHECKED, result.window["n_rows"]),
        datum(metric_names.LABELLED_ROWS, result.matured_window["n_labelled"]),
        datum(metric_names.INSUFFICIENT_DATA, float(result.verdict == "insufficient_data")),
        datum(metric_names.RETRAIN_REQUESTED, float(result.decision.retrain_requested)),
    ]
    drift = result.drift
    if drift is not None:
        data.append(datum(metric_names.DATASET_DRIFT, float(drift.dataset_drift)))
        data.append(datum(metric_names.DRIFTED_FEATURES, len(drift.drifted_features)))
        if drift.prediction is not None:
            data.append(datum(metric_names.PREDICTION_DRIFT, float(drift.prediction.drift)))
        if drift.multivariate is not None and drift.multivariate.auc is not None:
            data.append(datum(metric_names.DOMAIN_CLASSIFIER_AUC, drift.multivariate.auc))
        for feature in drift.features if per_feature else ():
            data.append(datum(metric_names.FEATURE_DRIFT, float(feature.drift), feature.name))
            if feature.distribution.effect_size is not None:
                effect_size = feature.distribution.effect_size
                data.append(datum(metric_names.FEATURE_DRIFT_EFFECT_SIZE, effect_size, feature.name))
        impact = drift.impact
        if impact is not None and impact.current_expected is not None and impact.drop is not None:
            data.append(datum(metric_names.EXPECTED_AUC, impact.current_expected))
            data.append(datum(metric_names.EXPECTED_AUC_DROP, impact.drop))
            data.append(datum(metric_names.IMPACTFUL_DRIFT, float(drift.dataset_drift and bool(impact.impactful))))
    performance = result.performance
    if performance is not None and result.performance_decay is not None:
        data.append(datum(metric_names.PERFORMANCE_DECAY, float(performance.decay)))
        data.extend(
            datum(PERFORMANCE_METRICS[metric.name], metric.value)
            for metric in performance.metrics
            if metric.value is not None and metric.name in PERFORMANCE_METRICS
        )
    reviewed = None if result.reviewed is None else result.reviewed.performance.metric("auc").value
    if reviewed is not None:
        data.append(datum(metric_names.REVIEWED_AUC, reviewed))
    return data


def metric_batches(data: list[dict[str, Any]], size: int = MAX_METRICS_PER_CALL) -> list[list[dict[str, Any]]]:
    """The data split into PutMetricData calls of at most `size` data each."""
    if size < 1:
        raise ValueError("batch size must be positive")
    return [data[start : start + size] for start in range(0, len(data), size)]


def _decision_section(result: DriftCheckResult) -> str:
    decision = result.decision
    rows = [
        ("verdict", result.verdict),
        ("retrain requested", "yes" if decision.retrain_requested else "no"),
        ("trigger", decision.trigger.value if decision.trigger else "–"),
        ("why", decision.reason),
        ("current window", f"{result.window['start']} – {result.window['end']}: {result.window['n_rows']:,} rows"),
        (
            "matured labels",
            f"{result.matured_window['start']} – {result.matured_window['end']}: "
            f"{result.matured_window['n_labelled']:,} labelled predictions "
            f"(labels count after {result.matured_window['label_delay_days']} days)",
        ),
        ("policy", ", ".join(f"{key} {value}" for key, value in result.policy.to_json().items())),
    ]
    if result.drift is not None and result.drift.dataset_drift and result.drift.impact is not None:
        rows.insert(4, ("estimated impact of the drift", impact_text(result.drift)))
    if result.reviewed is not None:
        rows.append(("reviewed labels", result.reviewed.decay.detail))
    body = "".join(f"<tr><th>{escape(key)}</th><td>{escape(str(value))}</td></tr>" for key, value in rows)
    return (
        f'<section id="decision"><h2>Decision</h2><p>{escape(result.summary)}</p>'
        f'<table style="text-align:left">{body}</table></section>'
    )


def render_report(result: DriftCheckResult) -> str:
    """The self-contained HTML report: the decision first, then the label-free estimate beside the realised metrics
    on the matured window, then the drift suite's report (when it ran)."""
    title = f"Drift check of {result.model_name} {result.champion_version} ({result.run_id})"
    section = _decision_section(result) + tracking_html(result.tracking)
    if result.drift is not None:
        return render_html(result.drift, title=title).replace("</h1>", "</h1>" + section, 1)
    performance = ""
    if result.performance is not None:
        rows = "".join(
            f"<tr><td>{escape(metric.name)}</td><td>{escape(str(metric.value))}</td>"
            f"<td>{escape(str(metric.baseline))}</td><td>{escape(metric.verdict.value)}</td></tr>"
            for metric in result.performance.metrics
        )
        performance = (
            "<h2>Performance on matured labels</h2><table><tr><th>metric</th><th>value</th><th>baseline</th>"
            f"<th>verdict</th></tr>{rows}</table>"
        )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{section}"
        f"{performance}</body></html>"
    )
