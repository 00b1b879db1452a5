"""Event rules: routing's patterns on the custom bus, their targets, the failed-job rule and EventBridge's role."""

from __future__ import annotations

import json

import pytest

from autoretrain.events import DetailType
from autoretrain.routing import EVENT_ROUTES, EventRoute, Target
from infra.batch import Job, parameters_to_supply
from infra.events import RETRAIN_INPUT_PATHS, RETRAIN_TEMPLATE, failed_job_pattern
from infra.mocks import RecordedResource, Recording

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"


def _rule(stack: Recording, route: str) -> RecordedResource:
    return stack.find(RULE, f"autoretrain-rules-{route}")


def _target(stack: Recording, route: str) -> RecordedResource:
    return stack.find(TARGET, f"autoretrain-rules-{route}-target")


def _topic_arn(stack: Recording) -> str:
    arn: str = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    return arn


def test_there_is_one_rule_per_route_on_the_custom_bus(stack: Recording) -> None:
    bus = stack.find("aws:cloudwatch/eventBus:EventBus", "autoretrain-events-bus").outputs["name"]
    for route in EVENT_ROUTES:
        assert _rule(stack, route.name).inputs["eventBusName"] == bus


@pytest.mark.parametrize("route", EVENT_ROUTES, ids=lambda route: route.name)
def test_rule_pattern_is_routings(stack: Recording, route: EventRoute) -> None:
    assert json.loads(_rule(stack, route.name).inputs["eventPattern"]) == route.pattern()


@pytest.mark.parametrize(
    "route", [route for route in EVENT_ROUTES if route.target is Target.ALERT_TOPIC], ids=lambda route: route.name
)
def test_alert_routes_publish_to_the_topic_with_a_readable_message(stack: Recording, route: EventRoute) -> None:
    target = _target(stack, route.name)
    assert target.inputs["arn"] == _topic_arn(stack)
    transformer = target.inputs["inputTransformer"]
    assert transformer["inputPaths"]["model"] == "$.detail.model_name"
    # As EventBridge fills a JSON template: a bare placeholder takes the JSON value, a quoted one the text.
    message = transformer["inputTemplate"].replace(": <detail>", ': {"model_name": "churn"}')
    for name in transformer["inputPaths"]:
        message = message.replace(f"<{name}>", "x")
    document = json.loads(message)
    assert document["subject"] == "autoretrain x for model x at x"
    assert document["detail"] == {"model_name": "churn"}


def test_retrain_requested_submits_the_retrain_job(stack: Recording) -> None:
    (route,) = [route for route in EVENT_ROUTES if route.target is Target.RETRAIN_JOB]
    assert route.detail_types == (DetailType.RETRAIN_REQUESTED,)
    target = _target(stack, route.name)
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue").outputs["arn"]
    definition = stack.find("aws:batch/jobDefinition:JobDefinition", "autoretrain-jobs-retrain").outputs["arn"]
    assert target.inputs["arn"] == queue
    assert target.inputs["batchTarget"]["jobDefinition"] == definition
    assert target.inputs["batchTarget"]["jobName"]


def test_retrain_target_passes_trigger_reason_and_time_as_job_parameters(stack: Recording) -> None:
    transformer = _target(stack, "retrain-requested").inputs["inputTransformer"]
    assert transformer["inputPaths"] == {
        "trigger": "$.detail.trigger",
        "reason": "$.detail.reason",
        "now": "$.detail.requested_at",
    }
    filled = transformer["inputTemplate"]
    for name in transformer["inputPaths"]:
        filled = filled.replace(f"<{name}>", json.dumps(f"value of {name}"))
    assert json.loads(filled) == {"Parameters": {name: f"value of {name}" for name in RETRAIN_INPUT_PATHS}}


def test_retrain_target_supplies_every_parameter_the_job_has_no_default_for() -> None:
    supplied = set(json.loads(RETRAIN_TEMPLATE.replace("<", '"').replace(">", '"'))["Parameters"])
    assert parameters_to_supply(Job.RETRAIN) <= supplied


def test_eventbridge_role_may_only_submit_the_retrain_job_to_the_queue(stack: Recording) -> None:
    target = _target(stack, "retrain-requested")
    (role,) = [role for role in stack.of_type("aws:iam/role:Role") if role.outputs["arn"] == target.inputs["roleArn"]]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    (policy,) = [p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.outputs["name"]]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue").outputs["arn"]
    assert statement["Action"] == ["batch:SubmitJob"]
    assert set(statement["Resource"]) == {queue, target.inputs["batchTarget"]["jobDefinition"]}


def test_every_target_retries_and_dead_letters(stack: Recording) -> None:
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-rules-dead-letters").outputs["arn"]
    targets = [target for target in stack.of_type(TARGET) if target.name.startswith("autoretrain-rules-")]
    assert len(targets) == len(EVENT_ROUTES) + 1
    for target in targets:
        assert target.inputs["deadLetterConfig"] == {"arn": queue}
        assert target.inputs["retryPolicy"]["maximumRetryAttempts"] >= 1
        assert 60 <= target.inputs["retryPolicy"]["maximumEventAgeInSeconds"] <= 86400


def test_dead_letter_queue_accepts_only_our_rules(stack: Recording) -> None:
    policy = stack.find("aws:sqs/queuePolicy:QueuePolicy", "autoretrain-rules-dead-letters-policy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    rules = {rule.outputs["arn"] for rule in stack.of_type(RULE) if rule.name.startswith("autoretrain-rules-")}
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == rules


def test_failed_batch_job_rule_watches_our_queue_on_the_default_bus(stack: Recording) -> None:
    rule = _rule(stack, "failed-batch-job")
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue").outputs["arn"]
    assert "eventBusName" not in rule.inputs
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.batch"],
        "detail-type": ["Batch Job State Change"],
        "detail": {"status": ["FAILED"], "jobQueue": [queue]},
    }


def test_failed_batch_job_alerts_with_the_job_and_reason(stack: Recording) -> None:
    target = _target(stack, "failed-batch-job")
    assert target.inputs["arn"] == _topic_arn(stack)
    paths = target.inputs["inputTransformer"]["inputPaths"]
    assert (paths["job"], paths["reason"]) == ("$.detail.jobName", "$.detail.statusReason")


def test_failed_job_pattern_matches_only_failures_of_the_queue() -> None:
    pattern = json.loads(failed_job_pattern("arn:aws:batch:eu-west-1:1:job-queue/q"))
    assert pattern["detail"] == {"status": ["FAILED"], "jobQueue": ["arn:aws:batch:eu-west-1:1:job-queue/q"]}
