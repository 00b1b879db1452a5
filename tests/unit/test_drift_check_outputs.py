"""What a drift check leaves behind, built from its result: metric data, their batches, event details, the report."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfiler
from batch_jobs.drift.impact import EstimateTracking, TrackedMetric
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.monitoring.outputs import (
    MAX_METRICS_PER_CALL,
    DriftCheckResult,
    completed_detail,
    metric_batches,
    metric_data,
    render_report,
    retrain_detail,
)
from batch_jobs.monitoring.policy import Decision, Outcome, RetrainTrigger, TriggerPolicy
from core.events import NO_REGIME
from core.settings import DriftCheckSettings, InvalidSettingError

NOW = datetime(2026, 12, 1, 3, tzinfo=UTC)
WINDOW = {"start": "2026-11-29T03:00:00.000Z", "end": "2026-12-01T03:00:00.000Z", "n_rows": 400}
MATURED = {"start": "a", "end": "b", "n_rows": 300, "n_labelled": 300, "label_delay_days": 2}


def decision(requested: bool) -> Decision:
    return Decision(
        retrain_requested=requested,
        outcome=Outcome.REQUESTED if requested else Outcome.NO_DECISION,
        trigger=RetrainTrigger.DRIFT if requested else None,
        reason="2 consecutive drifting check(s), 2 needed" if requested else "insufficient data: no decision",
        streak=2,
        requests_in_period=1 if requested else 0,
        last_request_at=NOW if requested else None,
    )


@pytest.fixture(scope="module")
def suite_result() -> Any:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"tenure": rng.normal(size=400), "charges": rng.normal(size=400)})
    current = pd.DataFrame({"tenure": rng.normal(1.0, size=400), "charges": rng.normal(size=400)})
    scores = rng.random(400)
    profile = ReferenceProfiler().fit(reference, scores=scores, holdout_metrics={"auc": 0.8}).profile_
    config = DriftConfig(multivariate=False, n_bootstrap=50)
    performance = evaluate_performance(
        (rng.random(400) < scores).astype(float), scores, profile.holdout_metrics, config
    )
    drift = DriftSuite(config).run(profile, current, rng.random(400))
    return drift, performance


def result(drift: Any = None, performance: Any = None, *, requested: bool = False) -> DriftCheckResult:
    return DriftCheckResult(
        model_name="churn",
        run_id="20261201T030000Z",
        champion_version="v1",
        checked_at=NOW,
        verdict="insufficient_data" if drift is None else ("drift" if drift.dataset_drift else "no_drift"),
        summary="a summary <b>escaped</b>",
        window=WINDOW,
        matured_window=MATURED,
        min_rows=200,
        drift=drift,
        performance=performance,
        performance_decay=None if performance is None else performance.decay,
        decision=decision(requested),
        policy=TriggerPolicy(),
        report_uri="s3://models/reports/churn/20261201T030000Z/report.html",
        result_uri="s3://models/reports/churn/20261201T030000Z/result.json",
    )


def names(data: list[dict[str, Any]]) -> list[str]:
    return [datum["MetricName"] for datum in data]


def test_metric_batches_stay_within_the_put_metric_data_limit_and_keep_every_datum() -> None:
    data = [{"MetricName": f"m{index}"} for index in range(2 * MAX_METRICS_PER_CALL + 1)]
    batches = metric_batches(data)
    assert [len(batch) for batch in batches] == [1000, 1000, 1]
    assert [datum for batch in batches for datum in batch] == data


def test_every_feature_gets_its_drift_flag_and_effect_size_with_a_feature_dimension(suite_result: Any) -> None:
    drift, _ = suite_result
    data = metric_data(result(drift))
    per_feature = {
        (datum["MetricName"], datum["Dimensions"][1]["Value"]) for datum in data if len(datum["Dimensions"]) == 2
    }
    assert per_feature == {
        (name, feature) for name in ("FeatureDrift", "FeatureDriftEffectSize") for feature in ("tenure", "charges")
    }
    flags = {datum["Dimensions"][1]["Value"]: datum["Value"] for datum in data if datum["MetricName"] == "FeatureDrift"}
    assert flags == {"tenure": 1.0, "charges": 0.0}
    assert all(datum["Dimensions"][0] == {"Name": "ModelName", "Value": "churn"} for datum in data)
    assert all(datum["Timestamp"] == NOW for datum in data)


def test_performance_metrics_are_published_when_labels_sufficed(suite_result: Any) -> None:
    drift, performance = suite_result
    assert {"ModelAUC", "ModelLogLoss", "ModelBrierScore", "ModelCalibrationError", "PerformanceDecay"} <= set(
        names(metric_data(result(drift, performance)))
    )


def test_an_insufficient_check_publishes_counts_and_no_drift_flags() -> None:
    data = metric_data(result())
    assert names(data) == ["RowsChecked", "LabelledRows", "InsufficientData", "RetrainRequested"]
    assert data[2]["Value"] == 1.0


def test_the_completed_event_follows_the_contract_and_adds_the_decision(suite_result: Any) -> None:
    drift, _ = suite_result
    detail = completed_detail(result(drift))
    assert set(detail) == {
        "model_name",
        "run_id",
        "champion_version",
        "verdict",
        "dataset_drift",
        "performance_decay",
        "drifted_features",
        "report_uri",
        "n_current",
        "n_labelled",
        "window_start",
        "window_end",
        "decision",
        "impact",
    }
    assert (detail["dataset_drift"], detail["drifted_features"]) == (True, ["tenure"])
    assert detail["impact"] in ("impactful", "harmless", "unknown")


def test_a_retrain_request_follows_the_contract() -> None:
    detail = retrain_detail(result(requested=True))
    assert set(detail) == {"model_name", "trigger", "reason", "requested_at", "regime_start"}
    assert (detail["trigger"], detail["requested_at"]) == ("drift", "2026-12-01T03:00:00.000Z")
    assert detail["regime_start"] == NO_REGIME  # always present: the rule passes it to the job as a parameter


def test_a_recovery_request_names_its_regime_start() -> None:
    checked = result(requested=True)
    recovery = replace(checked.decision, trigger=RetrainTrigger.PERFORMANCE, regime_start=NOW - timedelta(days=9))
    detail = retrain_detail(replace(checked, decision=recovery))
    assert (detail["trigger"], detail["regime_start"]) == ("performance", "2026-11-22T03:00:00.000Z")


def test_no_retrain_request_can_be_built_for_a_check_that_did_not_request() -> None:
    with pytest.raises(ValueError, match="did not request"):
        retrain_detail(result())


def test_the_report_leads_with_the_decision_and_escapes_text(suite_result: Any) -> None:
    drift, _ = suite_result
    html = render_report(result(drift))
    assert html.index('id="decision"') < html.index("tenure")
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html
    assert "<b>escaped" not in html


def test_the_result_json_is_strict_and_names_the_policy(suite_result: Any) -> None:
    drift, performance = suite_result
    document = result(drift, performance).to_json()
    assert document["policy"] == {
        "consecutive_checks": 2,
        "cooldown_days": 3.0,
        "max_requests": 2,
        "period_days": 14.0,
        "label_delay_days": 7.0,
        "adapt_days": 7.0,
        "recovery_days": 7.0,
    }
    assert document["checked_at"] == "2026-12-01T03:00:00.000Z"
    assert document["performance"]["n_labels"] == 400


def test_without_feature_metrics_only_the_per_model_series_are_published(suite_result: Any) -> None:
    drift, _ = suite_result
    data = metric_data(result(drift), per_feature=False)
    assert data
    assert all(len(datum["Dimensions"]) == 1 for datum in data)
    assert {"DatasetDrift", "DriftedFeatures"} <= set(names(data))


def test_the_feature_metrics_setting_is_read_and_validated() -> None:
    required = {
        "AUTORETRAIN_MODEL_BUCKET": "m",
        "AUTORETRAIN_PAYLOAD_TABLE": "p",
        "AUTORETRAIN_REGISTRY_TABLE": "r",
        "AUTORETRAIN_EVENT_BUS": "b",
        "AUTORETRAIN_MODEL_NAME": "churn",
    }
    assert DriftCheckSettings.from_env(required).feature_metrics is False
    assert DriftCheckSettings.from_env({**required, "AUTORETRAIN_FEATURE_METRICS": "true"}).feature_metrics is True
    with pytest.raises(InvalidSettingError, match="AUTORETRAIN_FEATURE_METRICS"):
        DriftCheckSettings.from_env({**required, "AUTORETRAIN_FEATURE_METRICS": "yes"})


TRACKING = EstimateTracking(
    n_rows=300,
    confidence_level=0.95,
    metrics=(
        TrackedMetric("auc", 0.81, 0.77, 0.85, 0.72),
        TrackedMetric("log_loss", 0.44, 0.4, 0.48, 0.45),
        TrackedMetric("positive_rate", 0.3, 0.26, 0.34, 0.29),
    ),
)


def test_the_report_sets_the_label_free_estimate_beside_the_realised_metrics(suite_result: Any) -> None:
    drift, performance = suite_result
    html = render_report(replace(result(drift, performance), tracking=TRACKING))
    section = html.split('<section id="tracking">')[1].split("</section>")[0]
    assert html.index('id="decision"') < html.index('id="tracking"') < html.index('id="features"')
    assert "<td>AUC</td><td>0.81</td><td>0.72</td><td>[0.77, 0.85]</td>" in section
    assert '<span class="outside">no: outside</span>' in section  # the AUC fell outside its interval
    assert section.count('<span class="within">yes</span>') == 2
    assert escape(TRACKING.assumption) in section


def test_a_report_without_tracking_or_drift_still_renders(suite_result: Any) -> None:
    _, performance = suite_result
    html = render_report(result(None, performance))
    assert '<section id="tracking">' in html
    assert "Not available" in html.split('<section id="tracking">')[1]
    assert "<style>" in html


def test_the_decision_names_the_drifts_estimated_impact_when_the_result_has_one(suite_result: Any) -> None:
    drift, _ = suite_result
    assert drift.dataset_drift
    with_impact = render_report(result(drift)).split('<section id="decision">')[1].split("</section>")[0]
    without = render_report(result(replace(drift, impact=None))).split('<section id="decision">')[1]
    assert "<th>estimated impact of the drift</th><td>Impact unknown" in with_impact  # no calibrator: unknown
    assert "estimated impact" not in without.split("</section>")[0]
