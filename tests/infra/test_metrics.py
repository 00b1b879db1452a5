"""The metric contract between the drift-check job and the stack: what the dashboard and the alarms watch is what
the job publishes (`core.metric_names`), with the same dimensions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfiler
from batch_jobs.drift.estimate import ScoreCalibrator, estimate_performance
from batch_jobs.drift.impact import ImpactBasis, with_impact_basis
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.monitoring.outputs import DriftCheckResult, ReviewedEvaluation, metric_data
from batch_jobs.monitoring.policy import Decision, Outcome, TriggerPolicy
from batch_jobs.monitoring.review import estimate_reviewed, reviewed_decay
from core.metric_names import DRIFT_CHECK_METRICS, METRIC_NAMESPACE
from infra.mocks import Recording

#: A metric as CloudWatch identifies it within our namespace: its name and its dimensions' names.
MetricKey = tuple[str, frozenset[str]]
ROWS = 400
#: The schema and metric name of a SEARCH expression: `SEARCH('{namespace,dim,...} MetricName="name" ...', ...)`.
SEARCH = re.compile(r"\{(?P<schema>[^}]*)\}\s+MetricName=\"(?P<name>[^\"]+)\"")


@pytest.fixture(scope="module")
def published() -> list[dict[str, Any]]:
    """Every datum of one drift check on which everything ran: drift suite with the domain classifier, prediction
    drift, impact, performance on enough matured labels, and on reviewed labels."""
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"tenure": rng.normal(size=ROWS), "charges": rng.normal(size=ROWS)})
    current = pd.DataFrame({"tenure": rng.normal(1.0, size=ROWS), "charges": rng.normal(size=ROWS)})
    scores = rng.random(ROWS)
    profile = ReferenceProfiler().fit(reference, scores=scores, holdout_metrics={"auc": 0.8}).profile_
    calibrator = ScoreCalibrator.fit(scores, (rng.random(ROWS) < scores).astype(float))
    basis = ImpactBasis(calibrator, estimate_performance(scores, calibrator), sensitivity=None)
    profile = with_impact_basis(profile, basis)
    config = DriftConfig(n_bootstrap=20)
    drift = DriftSuite(config).run(profile, current, rng.random(ROWS))
    performance = evaluate_performance(
        (rng.random(ROWS) < scores).astype(float), scores, profile.holdout_metrics, config
    )
    now = datetime(2026, 12, 1, 3, tzinfo=UTC)
    result = DriftCheckResult(
        model_name="churn",
        run_id="20261201T030000Z",
        champion_version="v1",
        checked_at=now,
        verdict="drift" if drift.dataset_drift else "no_drift",
        summary="",
        window={"start": "a", "end": "b", "n_rows": ROWS},
        matured_window={"start": "a", "end": "b", "n_rows": ROWS, "n_labelled": ROWS, "label_delay_days": 2},
        min_rows=200,
        drift=drift,
        performance=performance,
        performance_decay=performance.decay,
        decision=Decision(False, Outcome.NO_DECISION, None, "", 0, 0, None),
        policy=TriggerPolicy(),
        report_uri="s3://models/reports/churn/r/report.html",
        result_uri="s3://models/reports/churn/r/result.json",
        reviewed=_reviewed(rng),
    )
    return metric_data(result)


def _reviewed(rng: np.random.Generator) -> ReviewedEvaluation:
    """A judgement on 300 reviewed labels of two strata (enough for an AUC)."""
    scores = rng.random(300)
    labels = (rng.random(300) < scores).astype(float)
    strata = (scores >= 0.5).astype(int)
    performance = estimate_reviewed(scores, labels, strata, [3000, 1000], n_bootstrap=20)
    return ReviewedEvaluation(performance, reviewed_decay(performance, 0.8), "a", "b")


def _published_keys(data: list[dict[str, Any]]) -> set[MetricKey]:
    return {(datum["MetricName"], frozenset(item["Name"] for item in datum["Dimensions"])) for datum in data}


def _dashboard_keys(stack: Recording) -> set[MetricKey]:
    body = json.loads(
        stack.find("aws:cloudwatch/dashboard:Dashboard", "autoretrain-monitoring-dashboard").inputs["dashboardBody"]
    )
    keys: set[MetricKey] = set()
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                match = SEARCH.search(line[0]["expression"])
                assert match is not None, line[0]
                namespace, *dimensions = match["schema"].split(",")
                if namespace == METRIC_NAMESPACE:
                    keys.add((match["name"], frozenset(dimensions)))
            elif line[0] == METRIC_NAMESPACE:
                # [namespace, name, dimension, value, dimension, value, ..., {options}?]
                pairs = [part for part in line[2:] if isinstance(part, str)]
                keys.add((line[1], frozenset(pairs[::2])))
    return keys


def _alarm_keys(stack: Recording) -> set[MetricKey]:
    return {
        (alarm.inputs["metricName"], frozenset(alarm.inputs["dimensions"]))
        for alarm in stack.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if alarm.inputs["namespace"] == METRIC_NAMESPACE
    }


def test_the_job_publishes_exactly_the_shared_metrics_with_their_dimensions_and_units(
    published: list[dict[str, Any]],
) -> None:
    sent = {
        (datum["MetricName"], tuple(item["Name"] for item in datum["Dimensions"]), datum["Unit"]) for datum in published
    }
    assert sent == {(metric.name, tuple(metric.dimensions), metric.unit.value) for metric in DRIFT_CHECK_METRICS}


def test_every_metric_on_the_dashboard_is_one_the_job_publishes(
    stack: Recording, published: list[dict[str, Any]]
) -> None:
    shown = _dashboard_keys(stack)
    assert len(shown) > 10
    assert shown <= _published_keys(published)


def test_every_alarm_on_our_metrics_watches_one_the_job_publishes(
    stack: Recording, published: list[dict[str, Any]]
) -> None:
    watched = _alarm_keys(stack)
    assert watched == {("DatasetDrift", frozenset({"ModelName"})), ("ModelAUC", frozenset({"ModelName"}))}
    assert watched <= _published_keys(published)
