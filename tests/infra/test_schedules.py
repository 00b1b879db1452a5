"""Schedules: expressions from config (validated), targets, the Batch universal target, scheduled time, roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.routing import SCHEDULES, ScheduleRoute, Target
from infra.config import Settings, SettingsError
from infra.job_specs import JOB_OF_TARGET, Job, parameters_to_supply
from infra.mocks import RecordedResource, Recording
from infra.schedules import BATCH_SUBMIT_JOB_TARGET, SCHEDULED_TIME, job_parameters, submit_job_input

SCHEDULE = "aws:scheduler/schedule:Schedule"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}
ROUTES = {route.name: route for route in SCHEDULES}


def _schedule(stack: Recording, route: str) -> RecordedResource:
    return stack.find(SCHEDULE, f"autoretrain-schedules-{route}")


def _policy_of(stack: Recording, role_arn: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(stack.role_policy(role_arn).inputs["policy"])["Statement"]
    return statements


def test_there_is_one_schedule_per_route_in_the_group(stack: Recording) -> None:
    group = stack.find("aws:scheduler/scheduleGroup:ScheduleGroup", "autoretrain-schedules-group").outputs["name"]
    schedules = stack.of_type(SCHEDULE)
    assert len(schedules) == len(SCHEDULES)
    assert {schedule.inputs["groupName"] for schedule in schedules} == {group}


@pytest.mark.parametrize("route", SCHEDULES, ids=lambda route: route.name)
def test_expression_comes_from_its_config_key(
    stack: Recording, dev_config: dict[str, str], route: ScheduleRoute
) -> None:
    expected = dev_config.get(f"autoretrain:{route.config_key}", route.default_expression)
    assert _schedule(stack, route.name).inputs["scheduleExpression"] == expected


def test_changed_expression_reaches_the_schedule(alternative_stack: Recording) -> None:
    assert _schedule(alternative_stack, "drift-check").inputs["scheduleExpression"] == "cron(30 1 * * ? *)"


def test_defaults_are_routings_expressions() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert {route.config_key: settings.schedule_expression(route.config_key) for route in SCHEDULES} == {
        route.config_key: route.default_expression for route in SCHEDULES
    }


@pytest.mark.parametrize(
    "expression", ["every 10 minutes", "rate(1 minutes)", "cron(0 3 * * *)", "cron(0 3 * * MON *)", "rate(0 hours)"]
)
def test_invalid_expressions_are_refused_by_key(expression: str) -> None:
    with pytest.raises(SettingsError, match="autoretrain:alertingSchedule"):
        Settings.from_mapping({**MINIMAL, "autoretrain:alertingSchedule": expression})


def test_flexible_time_windows_are_off(stack: Recording) -> None:
    assert {schedule.inputs["flexibleTimeWindow"]["mode"] for schedule in stack.of_type(SCHEDULE)} == {"OFF"}


def test_every_schedule_retries_and_dead_letters(stack: Recording) -> None:
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-schedules-dead-letters").outputs["arn"]
    for schedule in stack.of_type(SCHEDULE):
        target = schedule.inputs["target"]
        assert target["deadLetterConfig"] == {"arn": queue}
        assert target["retryPolicy"]["maximumRetryAttempts"] >= 1


def test_alerting_schedule_invokes_the_function_with_its_scheduled_time(stack: Recording) -> None:
    target = _schedule(stack, "alerting").inputs["target"]
    function = stack.find("aws:lambda/function:Function", "autoretrain-alerting-function").outputs["arn"]
    assert target["arn"] == function
    assert json.loads(target["input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}


@pytest.mark.parametrize(("route", "job"), [("drift-check", Job.DRIFT_CHECK), ("proactive-retrain", Job.RETRAIN)])
def test_job_schedules_submit_through_the_batch_universal_target(stack: Recording, route: str, job: Job) -> None:
    target = _schedule(stack, route).inputs["target"]
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue").outputs["arn"]
    definition = stack.find("aws:batch/jobDefinition:JobDefinition", f"autoretrain-jobs-{job.value}").outputs["arn"]
    request = json.loads(target["input"])
    assert target["arn"] == BATCH_SUBMIT_JOB_TARGET == "arn:aws:scheduler:::aws-sdk:batch:submitJob"
    assert (request["JobQueue"], request["JobDefinition"]) == (queue, definition)
    assert request["JobName"].replace("-", "").isalnum()
    assert request["Parameters"]["now"] == SCHEDULED_TIME


def test_scheduled_retrain_says_it_was_the_schedule(stack: Recording) -> None:
    parameters = json.loads(_schedule(stack, "proactive-retrain").inputs["target"]["input"])["Parameters"]
    assert parameters["trigger"] == "schedule"
    assert "proactive-retrain" in parameters["reason"]


@pytest.mark.parametrize("route", [route for route in SCHEDULES if route.target in JOB_OF_TARGET])
def test_job_schedules_supply_every_parameter_without_a_default(route: ScheduleRoute) -> None:
    supplied = set(job_parameters(route, route.default_expression))
    assert parameters_to_supply(JOB_OF_TARGET[route.target]) <= supplied


def test_submit_job_input_uses_submitjob_request_names() -> None:
    request = json.loads(
        submit_job_input(ROUTES["drift-check"], "cron(0 3 * * ? *)", queue_arn="q", definition_arn="d")
    )
    assert set(request) == {"JobName", "JobQueue", "JobDefinition", "Parameters"}


def test_alerting_role_may_only_invoke_the_alerting_function(stack: Recording) -> None:
    target = _schedule(stack, "alerting").inputs["target"]
    grants = {(tuple(s["Action"]), tuple(s["Resource"])) for s in _policy_of(stack, target["roleArn"])}
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-schedules-dead-letters").outputs["arn"]
    assert grants == {(("lambda:InvokeFunction",), (target["arn"],)), (("sqs:SendMessage",), (queue,))}


def test_job_role_may_only_submit_our_jobs_to_our_queue(stack: Recording) -> None:
    target = _schedule(stack, "drift-check").inputs["target"]
    assert _schedule(stack, "proactive-retrain").inputs["target"]["roleArn"] == target["roleArn"]
    (submit,) = [s for s in _policy_of(stack, target["roleArn"]) if s["Action"] == ["batch:SubmitJob"]]
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue").outputs["arn"]
    definitions = {d.outputs["arn"] for d in stack.of_type("aws:batch/jobDefinition:JobDefinition")}
    assert set(submit["Resource"]) == {queue, *definitions}


def test_each_target_type_has_its_own_role_trusting_only_the_scheduler(stack: Recording) -> None:
    roles = {schedule.inputs["target"]["roleArn"] for schedule in stack.of_type(SCHEDULE)}
    assert len(roles) == len({Target.ALERTING_FUNCTION, "batch"})
    for role in stack.of_type("aws:iam/role:Role"):
        if role.outputs["arn"] in roles:
            (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
            assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
            assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
