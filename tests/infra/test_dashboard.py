"""Dashboard and alarms: what the dashboard shows, which alarms exist, their thresholds and missing-data handling."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core import metric_names
from infra.config import Settings, SettingsError
from infra.dashboard import alarm_specs, dashboard_body, model_dimensions
from infra.mocks import RecordedResource, Recording

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FUNCTIONS = {"etl": "etl-fn", "serving": "serving-fn", "alerting": "alerting-fn"}
RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"


def _body() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        dashboard_body(
            region="eu-west-1",
            model_name="churn",
            functions=FUNCTIONS,
            etl_failure_queue="etl-failures",
            payload_stream="payloads-stream",
        )
    )
    return document


def _metric_names(body: dict[str, Any]) -> set[str]:
    return {
        metric[1]
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], str)
    }


def _alarm(stack: Recording, key: str) -> RecordedResource:
    return stack.find(ALARM, f"autoretrain-monitoring-{key}")


def test_dashboard_shows_lambda_errors_and_duration_for_each_function() -> None:
    body = _body()
    functions = {
        (metric[1], metric[3])
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
        if metric[0] == "AWS/Lambda"
    }
    assert functions == {(name, function) for name in ("Errors", "Duration") for function in FUNCTIONS.values()}


def test_dashboard_shows_the_failure_queue_drift_and_performance() -> None:
    names = _metric_names(_body())
    assert "ApproximateNumberOfMessagesVisible" in names
    shown = (*metric_names.DRIFT_METRICS, metric_names.DOMAIN_CLASSIFIER_AUC, *metric_names.PERFORMANCE_METRICS)
    assert {metric.name for metric in shown} <= names


def test_dashboard_shows_the_payload_streams_records_and_delivery_lag() -> None:
    lines = {
        (metric[1], metric[2], metric[3])
        for widget in _body()["widgets"]
        for metric in widget["properties"]["metrics"]
        if metric[0] == "AWS/Firehose"
    }
    assert lines == {
        (name, "DeliveryStreamName", "payloads-stream")
        for name in ("IncomingRecords", "DeliveryToS3.Records", "DeliveryToS3.DataFreshness")
    }


def test_dashboard_searches_per_feature_effect_sizes_of_the_model() -> None:
    expressions = [
        metric[0]["expression"]
        for widget in _body()["widgets"]
        for metric in widget["properties"]["metrics"]
        if isinstance(metric[0], dict)
    ]
    (expression,) = expressions
    assert metric_names.FEATURE_DRIFT_EFFECT_SIZE.name in expression
    assert "{autoretrain,ModelName,Feature}" in expression
    assert 'ModelName="churn"' in expression


def test_dashboard_widgets_do_not_overlap() -> None:
    cells = [(widget["x"], widget["y"]) for widget in _body()["widgets"]]
    assert len(cells) == len(set(cells))


def test_stack_dashboard_names_the_real_functions(stack: Recording) -> None:
    body = json.loads(
        stack.find("aws:cloudwatch/dashboard:Dashboard", "autoretrain-monitoring-dashboard").inputs["dashboardBody"]
    )
    names = {fn.outputs["name"] for fn in stack.of_type("aws:lambda/function:Function")}
    shown = {m[3] for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "AWS/Lambda"}
    assert shown == names


@pytest.mark.parametrize("label", ["etl", "serving", "alerting"])
def test_each_function_has_an_errors_alarm(stack: Recording, label: str) -> None:
    alarm = _alarm(stack, f"{label}-errors")
    function = stack.find("aws:lambda/function:Function", f"autoretrain-{label}-function").outputs["name"]
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Lambda", "Errors")
    assert alarm.inputs["dimensions"] == {"FunctionName": function}
    assert alarm.inputs["treatMissingData"] == "notBreaching"


def test_etl_failure_queue_alarm_fires_on_any_message(stack: Recording) -> None:
    alarm = _alarm(stack, "etl-failed-events")
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-etl-failures").outputs["name"]
    assert alarm.inputs["dimensions"] == {"QueueName": queue}
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)


def test_drift_alarm_fires_on_dataset_drift(stack: Recording) -> None:
    alarm = _alarm(stack, "dataset-drift")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("autoretrain", "DatasetDrift")
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm.inputs["dimensions"] == {"ModelName": "churn"}


def test_auc_alarm_uses_the_configured_floor(stack: Recording, dev_config: dict[str, str]) -> None:
    alarm = _alarm(stack, "auc-below-floor")
    assert alarm.inputs["metricName"] == "ModelAUC"
    assert alarm.inputs["comparisonOperator"] == "LessThanThreshold"
    assert alarm.inputs["threshold"] == float(dev_config["autoretrain:aucAlarmFloor"])


def test_changed_auc_floor_reaches_the_alarm(alternative_stack: Recording) -> None:
    assert _alarm(alternative_stack, "auc-below-floor").inputs["threshold"] == 0.62


@pytest.mark.parametrize("floor", ["0", "1", "1.5", "high"])
def test_auc_floor_outside_zero_and_one_is_refused(floor: str) -> None:
    with pytest.raises(SettingsError, match="aucAlarmFloor"):
        Settings.from_mapping(
            {"aws:region": "eu-west-1", "autoretrain:modelName": "churn", "autoretrain:aucAlarmFloor": floor}
        )


def test_every_alarm_but_dataset_drift_notifies_the_topic_when_it_fires_and_recovers(stack: Recording) -> None:
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    alarms = [
        alarm
        for alarm in stack.of_type(ALARM)
        if alarm.name.startswith("autoretrain-monitoring-") and alarm.name != "autoretrain-monitoring-dataset-drift"
    ]
    assert len(alarms) == len(FUNCTIONS) + 2
    for alarm in alarms:
        assert alarm.inputs["alarmActions"] == [topic]
        assert alarm.inputs["okActions"] == [topic]


def test_a_single_drifting_check_notifies_no_one(stack: Recording) -> None:
    # README and runbook: only RetrainRequested (trigger drift/performance) reaches people, not one drifting check.
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    alarm = _alarm(stack, "dataset-drift").inputs
    actions = [*alarm.get("alarmActions", []), *alarm.get("okActions", []), *alarm.get("insufficientDataActions", [])]
    assert topic not in actions
    assert actions == []


def test_the_runbook_names_exactly_the_alarms_that_notify_the_topic() -> None:
    section = RUNBOOK.read_text().split("## What reaches the alert topic", 1)[1].split("\n## ", 1)[0]
    items = [item.split("\n\n", 1)[0] for item in section.split("\n- ")]
    (alarms,) = [item for item in items if item.startswith("CloudWatch alarms")]
    specs = alarm_specs(model_name="churn", functions=FUNCTIONS, etl_failure_queue="q", auc_floor=0.7)
    named = set(re.findall(r"`([a-z-]+)`", alarms)) & {spec.key for spec in specs}
    assert named == {spec.key for spec in specs if spec.notifies}
    assert "`dataset-drift` alarm" in section  # and what it does instead


def test_only_the_serving_functions_alarms_guard_a_deploy() -> None:
    specs = alarm_specs(model_name="churn", functions=FUNCTIONS, etl_failure_queue="q", auc_floor=0.7)
    assert [spec.key for spec in specs if spec.deploy_guard] == ["serving-errors"]


def test_every_alarm_chooses_its_missing_data_treatment() -> None:
    specs = alarm_specs(model_name="churn", functions=FUNCTIONS, etl_failure_queue="q", auc_floor=0.7)
    assert {spec.key: spec.treat_missing_data for spec in specs} == {
        "etl-errors": "notBreaching",
        "serving-errors": "notBreaching",
        "alerting-errors": "notBreaching",
        "etl-failed-events": "notBreaching",
        "dataset-drift": "ignore",
        "auc-below-floor": "ignore",
    }


def test_a_per_feature_metric_has_no_single_per_model_series() -> None:
    with pytest.raises(ValueError, match="FeatureDrift"):
        model_dimensions(metric_names.FEATURE_DRIFT, "churn")
