"""Event rules: routing's patterns on the custom bus, their targets, the failed-job rule and EventBridge's role."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from core.events import DetailType
from core.routing import EVENT_ROUTES, EventRoute, Target
from infra.events import RETRAIN_INPUT_PATHS, RETRAIN_TEMPLATE, failed_job_pattern
from infra.job_specs import Job, parameters_to_supply
from infra.mocks import RecordedResource, Recording

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
#: The fields of EventBridge's event envelope, the only top-level keys a pattern can match on.
ENVELOPE_FIELDS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
#: EventBridge's comparison operators (as `[{"operator": value}]` in a list of alternatives).
OPERATORS = {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"}
PUT_RULE_MAX_PATTERN_LENGTH = 4096  # PutRule's EventPattern length constraint


def pattern_problems(pattern: Mapping[str, Any], path: str = "") -> list[str]:
    """Why EventBridge would refuse or never match this pattern: each field maps to a non-empty object of fields or
    a non-empty array of alternatives (scalars, or single-operator objects); `$or` holds an array of patterns."""
    problems = [f"{path or 'pattern'}: an empty object"] if not pattern else []
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            problems.extend(_or_problems(where, value, path))
        elif isinstance(value, Mapping):
            problems.extend(pattern_problems(value, where))
        elif not isinstance(value, list) or not value:
            problems.append(f"{where}: must be an object or a non-empty array, got {value!r}")
        else:
            problems.extend(_alternative_problems(where, alternative) for alternative in value)
    if not path:
        problems.extend(f"{key}: not a field of an event" for key in set(pattern) - ENVELOPE_FIELDS - {"$or"})
    return [problem for problem in problems if problem]


def _or_problems(where: str, options: Any, path: str) -> list[str]:
    if not isinstance(options, list) or len(options) < 2:
        return [f"{where}: needs an array of at least 2 patterns"]
    problems: list[str] = []
    for option in options:
        problems.extend(pattern_problems(option, path) if isinstance(option, Mapping) else [f"{where}: {option!r}"])
    return problems


def _alternative_problems(where: str, alternative: Any) -> str:
    if isinstance(alternative, Mapping):
        if len(alternative) == 1 and set(alternative) <= OPERATORS:
            return ""
        return f"{where}: {alternative!r} is not one comparison operator"
    if alternative is None or isinstance(alternative, str | int | float | bool):
        return ""
    return f"{where}: {alternative!r} is neither a value nor an operator"


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


def test_every_rule_pattern_is_valid_eventbridge_pattern_syntax(stack: Recording) -> None:
    rules = [rule for rule in stack.of_type(RULE) if rule.name.startswith("autoretrain-rules-")]
    assert len(rules) == len(EVENT_ROUTES) + 1
    for rule in rules:
        text = rule.inputs["eventPattern"]
        assert len(text) <= PUT_RULE_MAX_PATTERN_LENGTH
        assert pattern_problems(json.loads(text)) == [], rule.name


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ({"source": "autoretrain"}, "source: must be an object or a non-empty array"),
        ({"detail": {"trigger": []}}, "detail.trigger: must be an object or a non-empty array"),
        ({"detail": {"trigger": [{"startswith": "d"}]}}, "detail.trigger: {'startswith': 'd'} is not one comparison"),
        ({"trigger": ["drift"]}, "trigger: not a field of an event"),
    ],
)
def test_the_pattern_check_catches_what_eventbridge_refuses(pattern: dict[str, Any], problem: str) -> None:
    assert [found for found in pattern_problems(pattern) if found.startswith(problem)]


def test_only_retrain_requests_of_the_drift_check_reach_the_topic_not_each_drift_check(stack: Recording) -> None:
    notified = [route for route in EVENT_ROUTES if route.target is Target.ALERT_TOPIC]
    assert all(DetailType.DRIFT_CHECK_COMPLETED not in route.detail_types for route in notified)
    assert json.loads(_rule(stack, "notify-retrain-requests").inputs["eventPattern"]) == {
        "source": ["autoretrain"],
        "detail-type": ["RetrainRequested"],
        "detail": {"trigger": ["drift", "performance"]},
    }


def test_detail_fields_routes_filter_on_are_fields_the_retrain_job_reads_from_the_event() -> None:
    read = {path.removeprefix("$.detail.") for path in RETRAIN_INPUT_PATHS.values()}
    for route in EVENT_ROUTES:
        if route.detail_types == (DetailType.RETRAIN_REQUESTED,):
            assert set(route.detail) <= read, route.name


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
        "regime_start": "$.detail.regime_start",
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
