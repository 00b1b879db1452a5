"""The live evaluation: what a deployed model does on live traffic before and beside its retrospective labels.

One run (`batch_jobs.live_evaluation`, daily, before the drift check):

1. **Review export.** Yesterday's predictions that the review design selects (`batch_jobs.monitoring.review`:
   stratified by score, deterministic by request id, so a run repeated for the same day writes the same rows) go to
   `review/model=<m>/dt=<day>/review.csv` in the payload bucket: request id, time, version, arm, score, label, the
   row's stratum and inclusion probability, the features, and an empty `outcome` column. Reviewers fill in the
   outcome and send it back through the labels path as label records marked `"reviewed": true`; the drift check
   estimates performance from them with intervals for the design and feeds its decay rule.
2. **Business impact.** Matured outcomes of the last `impact_days` per arm of the control-group experiment
   (`batch_jobs.monitoring.business`): per ISO week and cumulatively, the outcome rate of each arm, their difference
   with its interval, and the value saved; an `AlertRaised` (signal `business_impact`, routed to the alert topic)
   when the model's arm is worse than control with confidence.
3. **Shadow.** A released version serving in shadow (its registry record's `shadow` has a start and no decision) is
   compared with the champion on the requests both scored (`batch_jobs.monitoring.shadow`); once the comparison
   decides, the decision is recorded in the registry and carried out through the release path: a promotion
   re-releases the version plainly (the pipeline makes it champion), an end retires it and re-releases the
   champion alone.

The result document goes to `reports/<m>/live/<run-id>/result.json` in the model bucket; the run's figures to
CloudWatch.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from batch_jobs.drift.results import finite_or_none
from batch_jobs.gate import GateConfig
from batch_jobs.monitoring.business import BusinessImpact, ImpactConfig, measure_business_impact
from batch_jobs.monitoring.ports import EventSink, MetricsSink, ReportWriter
from batch_jobs.monitoring.review import ReviewDesign
from batch_jobs.monitoring.shadow import ShadowConfig, ShadowDecision, ShadowOutcome, compare_shadow, decide_promotion
from core import metric_names
from core.events import DetailType
from core.lake import day_of
from core.layout import live_result_object_key, review_object_key
from core.metric_names import Dimension, Metric
from core.model_lifecycle import ModelStatus, ModelVersionRecord
from core.records import format_timestamp, parse_timestamp

logger = logging.getLogger(__name__)

#: The signal of the business-impact alert (`core.routing.LIVE_EVALUATION_SIGNALS` routes it to the alert topic).
BUSINESS_IMPACT_SIGNAL = "business_impact"
#: The review file's columns before the features, and the one a reviewer fills in.
REVIEW_COLUMNS = (
    "request_id",
    "ts",
    "model_version",
    "arm",
    "score",
    "predicted_label",
    "stratum",
    "inclusion_probability",
)
OUTCOME_COLUMN = "outcome"


class LiveLake(Protocol):
    """The lake reads of a live evaluation (`batch_jobs.live_evaluation.LakeLiveReads`). Frames have one row per
    request id; times are UTC."""

    def review_rows(self, model_name: str, start: datetime, end: datetime, design: ReviewDesign) -> pd.DataFrame:
        """Every prediction of [start, end) the design selects: `REVIEW_COLUMNS` but the stratum and probability,
        plus the features by name."""
        ...

    def outcomes(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> pd.DataFrame:
        """Predictions of [start, end) with a label observed by `labels_until`: `arm`, `client_id`, `ts`, `label`
        (a bounded sample of a large window, uniform over requests, so over both arms alike)."""
        ...

    def shadow_rows(
        self, model_name: str, version: str, start: datetime, end: datetime, *, labels_until: datetime
    ) -> pd.DataFrame:
        """Predictions of [start, end) that `version` scored in shadow: `score`, `predicted_label`, `latency_ms`,
        `shadow_score`, `shadow_label`, `shadow_latency_ms`, `ts`, and `label` (NaN where none is observed by
        `labels_until`)."""
        ...


class LiveRegistry(Protocol):
    """The model registry (`core.registry.Registry`)."""

    def champion(self, model_name: str) -> ModelVersionRecord | None:
        """The model's champion, or None."""
        ...

    def list_versions(self, model_name: str) -> list[ModelVersionRecord]:
        """Every version of the model."""
        ...

    def record_shadow(self, model_name: str, version: str, shadow: Mapping[str, Any]) -> ModelVersionRecord:
        """Replace a released (or, once ended, retired) version's shadow record."""
        ...

    def transition(self, model_name: str, version: str, to_status: ModelStatus, reason: str) -> ModelVersionRecord:
        """Move a version to another status."""
        ...


class ShadowReleases(Protocol):
    """The release path's shadow endings (`batch_jobs.release.Publisher`)."""

    def promote_shadow(self, version: str, reason: str) -> object:
        """Re-release the version plainly: the pipeline deploys it as champion."""
        ...

    def end_shadow(self, version: str, reason: str) -> object:
        """Retire the version and re-release the champion alone."""
        ...


@dataclass(frozen=True, slots=True)
class LiveEvaluationRequest:
    """One run: the model, its time, and what it evaluates.

    - `review`: the review design (None: no review sample is exported).
    - `label_delay`: outcomes count as matured once the prediction is this old.
    - `impact_days`: the business impact's span of matured predictions (its weeks and cumulative figures).
    - `impact`: how the impact is measured; `shadow` and `gate`: how a shadow period is judged.
    """

    model_name: str
    now: datetime
    review: ReviewDesign | None
    label_delay: timedelta = timedelta(days=7)
    impact_days: int = 56
    impact: ImpactConfig = field(default_factory=ImpactConfig)
    shadow: ShadowConfig = field(default_factory=ShadowConfig)
    gate: GateConfig = field(default_factory=GateConfig)


@dataclass(frozen=True, slots=True)
class LivePorts:
    """Everything a run talks to; the review file goes to `payload_bucket`, the result to `report_bucket`."""

    registry: LiveRegistry
    lake: LiveLake
    files: ReportWriter
    payload_bucket: str
    report_bucket: str
    metrics: MetricsSink
    events: EventSink
    releases: ShadowReleases


@dataclass(frozen=True, slots=True)
class ReviewExport:
    """The day's review file: its day, rows per stratum and where it went."""

    day: str
    rows: int
    by_stratum: tuple[int, ...]
    uri: str | None
    design: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "day": self.day,
            "rows": self.rows,
            "by_stratum": list(self.by_stratum),
            "uri": self.uri,
            "design": dict(self.design),
        }


def _short(value: float | None, digits: int = 6) -> float | None:
    """A figure rounded for people and for DynamoDB (which holds no magnitude below 1e-130: a KS p-value can be)."""
    finite = finite_or_none(value)
    return None if finite is None else round(finite, digits)


@dataclass(frozen=True, slots=True)
class ShadowRun:
    """A shadow period's state after this run: the version, since when, the decision (continue included) and what
    was done; `ended_at` when the decision ended the period."""

    version: str
    champion: str
    started_at: str
    decision: ShadowDecision
    action: str
    ended_at: str | None = None

    def period(self) -> dict[str, Any]:
        """The period as people read it (the report, the dashboard, the registry's record): who, how long, the
        comparison's figures and the decision with its reasons."""
        comparison = self.decision.comparison
        difference = comparison.difference
        return {
            "champion": self.champion,
            "challenger": self.version,
            "started": self.started_at,
            "ended": self.ended_at,
            "requests": comparison.requests,
            "days": _short(comparison.days, 2),
            "labelled": comparison.labelled,
            "agreement": _short(comparison.agreement, 4),
            "score_ks": {"statistic": _short(comparison.ks_statistic, 4), "p_value": _short(comparison.ks_p_value)},
            "latency_ms": {
                "champion_p50": _short(comparison.champion_latency.p50, 2),
                "shadow_p50": _short(comparison.shadow_latency.p50, 2),
            },
            "auc": {"champion": _short(comparison.champion_metric, 4), "shadow": _short(comparison.shadow_metric, 4)},
            "auc_difference": {
                "value": None if difference is None else _short(difference.difference, 4),
                "low": None if difference is None else _short(difference.lower, 4),
                "high": None if difference is None else _short(difference.upper, 4),
            },
            "decision": self.decision.outcome.value,
            "action": self.action,
            "reasons": list(self.decision.reasons),
        }

    def to_json(self) -> dict[str, Any]:
        """As JSON: the period, and the whole decision with its comparison."""
        return {
            "version": self.version,
            "champion": self.champion,
            "started_at": self.started_at,
            "action": self.action,
            "period": self.period(),
            "decision": self.decision.to_json(),
        }


@dataclass(frozen=True, slots=True)
class LiveEvaluationResult:
    """What one run found and did."""

    model_name: str
    run_id: str
    now: str
    champion_version: str | None
    review: ReviewExport | None
    business_impact: BusinessImpact | None
    shadow: ShadowRun | None
    result_uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The result document."""
        return {
            "model_name": self.model_name,
            "run_id": self.run_id,
            "now": self.now,
            "champion_version": self.champion_version,
            "review": None if self.review is None else self.review.to_json(),
            "business_impact": None if self.business_impact is None else self.business_impact.to_json(),
            "shadow": None if self.shadow is None else self.shadow.to_json(),
        }

    def summary(self) -> str:
        """One line for the log and the job's output."""
        parts = [f"live evaluation of {self.model_name} at {self.now}"]
        if self.review is not None:
            parts.append(f"review sample of {self.review.day}: {self.review.rows} predictions")
        if self.business_impact is not None:
            parts.append(self.business_impact.message)
        if self.shadow is not None:
            parts.append(f"shadow {self.shadow.version}: {self.shadow.action}")
        return "; ".join(parts)


def run_id_for(now: datetime) -> str:
    """The run's id: its time, to the second (a rerun for the same time overwrites the same result)."""
    return format_timestamp(now)[:19].replace("-", "").replace(":", "") + "Z"


def review_csv(rows: pd.DataFrame, design: ReviewDesign) -> tuple[str, tuple[int, ...]]:
    """The review file's text (CSV: `REVIEW_COLUMNS`, the features, an empty `outcome`) in request-id order, and its
    rows per stratum. A client's text that a spreadsheet would run as a formula (`= + - @` first) is quoted with a
    leading `'`: the file is opened by people."""
    scores = rows["score"].to_numpy(dtype=float)
    frame = rows.assign(
        stratum=design.stratum_of(scores), inclusion_probability=design.inclusion_probability(scores)
    ).sort_values("request_id", kind="stable")
    features = [name for name in frame.columns if name not in REVIEW_COLUMNS]
    frame = frame[[*REVIEW_COLUMNS, *features]].assign(**{OUTCOME_COLUMN: ""})
    for name in ("request_id", *features):
        if not pd.api.types.is_numeric_dtype(frame[name]):
            frame[name] = frame[name].map(_inert)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).map(format_timestamp)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    counts = pd.Series(frame["stratum"]).value_counts().reindex(range(design.n_strata), fill_value=0)
    return buffer.getvalue(), tuple(int(n) for n in counts)


def _inert(value: object) -> object:
    """A text value a spreadsheet would not evaluate (formula injection: a leading `= + - @`, tab or CR)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_review(request: LiveEvaluationRequest, ports: LivePorts, design: ReviewDesign) -> ReviewExport:
    """Write yesterday's review file (a day without selected predictions writes none)."""
    end = request.now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    rows = ports.lake.review_rows(request.model_name, start, end, design)
    day = day_of(start)
    if rows.empty:
        return ReviewExport(day, 0, (0,) * design.n_strata, None, design.to_json())
    text, by_stratum = review_csv(rows, design)
    uri = ports.files.put_text(ports.payload_bucket, review_object_key(request.model_name, day), text, "text/csv")
    return ReviewExport(day, len(rows), by_stratum, uri, design.to_json())


def evaluate_impact(request: LiveEvaluationRequest, ports: LivePorts) -> BusinessImpact | None:
    """The business impact of the matured span; None when no prediction of it was in the experiment."""
    end = request.now - request.label_delay
    start = end - timedelta(days=request.impact_days)
    outcomes = ports.lake.outcomes(request.model_name, start, end, labels_until=request.now)
    if outcomes.empty or not outcomes["arm"].notna().any():
        return None
    return measure_business_impact(outcomes, request.impact)


def shadow_in_progress(versions: Sequence[ModelVersionRecord]) -> ModelVersionRecord | None:
    """The newest released version whose shadow period started and is not decided."""
    shadowing = [
        record
        for record in versions
        if record.status is ModelStatus.RELEASED
        and record.shadow.get("started_at")
        and not record.shadow.get("decision")
    ]
    return max(shadowing, key=lambda record: str(record.shadow["started_at"]), default=None)


def judge_shadow(
    request: LiveEvaluationRequest, ports: LivePorts, record: ModelVersionRecord, champion: str
) -> ShadowRun:
    """Compare the shadow with the champion; carry out a decision that ends the period, then record it (a failure
    in between leaves the period undecided, and the next run decides again). A shadow beside a champion that is no
    longer the champion (a plain deploy or a rollback replaced it) is not served any more: it is retired."""
    started = parse_timestamp(str(record.shadow["started_at"]))
    rows = ports.lake.shadow_rows(request.model_name, record.version, started, request.now, labels_until=request.now)
    comparison = compare_shadow(rows, request.shadow, started_at=started, now=request.now, gate_config=request.gate)
    beside = str(record.shadow.get("champion", ""))
    decision = decide_promotion(comparison, request.shadow)
    run = ShadowRun(record.version, beside, str(record.shadow["started_at"]), decision, "continue")
    if beside != champion:
        ports.registry.transition(
            request.model_name, record.version, ModelStatus.RETIRED, f"shadow ended: {beside} is no longer champion"
        )
        run = replace(run, action=f"ended: {beside} is no longer champion ({champion} is)")
    elif decision.outcome is ShadowOutcome.CONTINUE_SHADOW:
        return run
    elif decision.promotes:
        ports.releases.promote_shadow(record.version, decision.reasons[0])
        run = replace(run, action="promoted: re-released to become champion")
    else:
        ports.releases.end_shadow(record.version, decision.reasons[0])
        run = replace(run, action="ended: retired, the champion re-released alone")
    run = replace(run, ended_at=format_timestamp(request.now))
    ports.registry.record_shadow(request.model_name, record.version, {**record.shadow, "decision": run.period()})
    return run


def _metrics(result: LiveEvaluationResult) -> list[dict[str, Any]]:
    """The run's CloudWatch data (`core.metric_names.LIVE_EVALUATION_METRICS`), those it has a number for."""
    dimensions = [{"Name": Dimension.MODEL_NAME.value, "Value": result.model_name}]
    values: list[tuple[Metric, float | None]] = []
    if result.review is not None:
        values.append((metric_names.REVIEW_SAMPLE_ROWS, float(result.review.rows)))
    impact = result.business_impact
    if impact is not None and impact.cumulative.sufficient:
        values.append((metric_names.BUSINESS_BENEFIT, impact.cumulative.benefit))
        values.append((metric_names.BUSINESS_VALUE_SAVED, impact.cumulative.value_saved))
    if result.shadow is not None:
        values.append((metric_names.SHADOW_AGREEMENT, result.shadow.decision.comparison.agreement))
    return [
        {"MetricName": metric.name, "Dimensions": dimensions, "Value": float(value), "Unit": metric.unit.value}
        for metric, value in values
        if finite_or_none(value) is not None and value is not None
    ]


def run_live_evaluation(request: LiveEvaluationRequest, ports: LivePorts) -> LiveEvaluationResult:
    """One run (module docstring)."""
    champion = ports.registry.champion(request.model_name)
    run_id = run_id_for(request.now)
    result = LiveEvaluationResult(
        model_name=request.model_name,
        run_id=run_id,
        now=format_timestamp(request.now),
        champion_version=None if champion is None else champion.version,
        review=None if request.review is None else export_review(request, ports, request.review),
        business_impact=evaluate_impact(request, ports),
        shadow=None,
    )
    shadowing = shadow_in_progress(ports.registry.list_versions(request.model_name))
    if shadowing is not None and champion is not None:
        result = replace(result, shadow=judge_shadow(request, ports, shadowing, champion.version))
    if result.business_impact is not None and result.business_impact.alert:
        ports.events.publish(DetailType.ALERT_RAISED, _impact_alert(result, result.business_impact), time=request.now)
    key = live_result_object_key(request.model_name, run_id)
    uri = ports.files.put_text(
        ports.report_bucket, key, json.dumps(result.to_json(), sort_keys=True, allow_nan=False), "application/json"
    )
    if data := _metrics(result):
        ports.metrics.publish(data)
    logger.info("%s", result.summary())
    return replace(result, result_uri=uri)


def _impact_alert(result: LiveEvaluationResult, impact: BusinessImpact) -> dict[str, Any]:
    return {
        "model_name": result.model_name,
        "signal": BUSINESS_IMPACT_SIGNAL,
        "status": "firing",
        "reminder": False,
        "severity": "critical",
        "summary": f"{result.model_name}: the model's arm does worse than the control group",
        "message": impact.message,
        "since": result.now,
        "observed": impact.cumulative.benefit,
        "expected": None,
        "result_key": live_result_object_key(result.model_name, result.run_id),
    }


__all__ = ["LiveEvaluationRequest", "LiveEvaluationResult", "LivePorts", "run_live_evaluation"]
