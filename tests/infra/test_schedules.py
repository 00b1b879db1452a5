"""Schedules: expressions from config (validated), targets, the Batch universal target, scheduled time, roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.routing import SCHEDULES, Target
from infra.config import Settings, SettingsError, alerting_schedule_expression, schedule_config_keys
from infra.job_specs import JOB_OF_TARGET, MAINTENANCE_SCHEDULES, Job, JobSchedule, job_schedules, parameters_to_supply
from infra.mocks import RecordedResource, Recording
from infra.schedules import BATCH_SUBMIT_JOB_TARGET, SCHEDULED_TIME, job_parameters, submit_job_input

SCHEDULE = "aws:scheduler/schedule:Schedule"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}
JOB_SCHEDULES = {schedule.name: schedule for schedule in job_schedules()}
#: Every schedule the stack creates: (name, config key, default expression).
ALL_SCHEDULES = [(route.name, route.config_key, route.default_expression) for route in SCHEDULES] + [
    (schedule.name, schedule.config_key, schedule.default_expression) for schedule in MAINTENANCE_SCHEDULES
]


def _schedule(stack: Recording, route: str) -> RecordedResource:
    return stack.find(SCHEDULE, f"autoretrain-schedules-{route}")


def _policy_of(stack: Recording, role_arn: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(stack.role_policy(role_arn).inputs["policy"])["Statement"]
    return statements


def test_there_is_one_schedule_per_route_and_maintenance_schedule_in_the_group(stack: Recording) -> None:
    group = stack.find("aws:scheduler/scheduleGroup:ScheduleGroup", "autoretrain-schedules-group").outputs["name"]
    schedules = stack.of_type(SCHEDULE)
    assert sorted(schedule.name for schedule in schedules) == sorted(
        f"autoretrain-schedules-{name}" for name, _, _ in ALL_SCHEDULES
    )
    assert {schedule.inputs["groupName"] for schedule in schedules} == {group}


@pytest.mark.parametrize(("name", "config_key", "default"), ALL_SCHEDULES, ids=[name for name, _, _ in ALL_SCHEDULES])
def test_expression_comes_from_its_config_key(
    stack: Recording, dev_config: dict[str, str], name: str, config_key: str, default: str
) -> None:
    expected = dev_config.get(f"autoretrain:{config_key}", default)
    assert _schedule(stack, name).inputs["scheduleExpression"] == expected


def test_schedule_config_keys_are_unique() -> None:
    assert len(set(schedule_config_keys())) == len(ALL_SCHEDULES)


def test_every_job_has_a_schedule_or_an_event_that_submits_it() -> None:
    # The retrain job is also submitted by RetrainRequested (infra.events); every job is scheduled somewhere.
    assert {schedule.job for schedule in job_schedules()} == set(Job)


def test_lake_compaction_runs_hourly_by_default() -> None:
    (compaction,) = [schedule for schedule in MAINTENANCE_SCHEDULES if schedule.job is Job.COMPACT_LAKE]
    assert Settings.from_mapping(MINIMAL).compact_lake_schedule == compaction.default_expression == "rate(1 hour)"


def test_changed_expression_reaches_the_schedule(alternative_stack: Recording) -> None:
    assert _schedule(alternative_stack, "drift-check").inputs["scheduleExpression"] == "cron(30 1 * * ? *)"


def test_defaults_are_the_schedules_expressions() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert {key: settings.schedule_expression(key) for _, key, _ in ALL_SCHEDULES} == {
        key: default for _, key, default in ALL_SCHEDULES
    }


@pytest.mark.parametrize(
    "expression", ["every 10 minutes", "rate(1 minutes)", "cron(0 3 * * *)", "cron(0 3 * * MON *)", "rate(0 hours)"]
)
@pytest.mark.parametrize("key", ["driftCheckSchedule", "compactLakeSchedule"])
def test_invalid_expressions_are_refused_by_key(expression: str, key: str) -> None:
    with pytest.raises(SettingsError, match=f"autoretrain:{key}"):
        Settings.from_mapping({**MINIMAL, f"autoretrain:{key}": expression})


def test_the_alerting_schedule_is_no_longer_a_setting() -> None:
    # It follows alertWindowMinutes: a stack that still sets it is told so, not silently ignored.
    with pytest.raises(SettingsError, match=r"alertingSchedule is no longer read: .*alertWindowMinutes"):
        Settings.from_mapping({**MINIMAL, "autoretrain:alertingSchedule": "rate(10 minutes)"})


@pytest.mark.parametrize(("minutes", "expression"), [("5", "rate(5 minutes)"), ("60", "rate(60 minutes)")])
def test_the_alerting_schedule_follows_the_alert_window(minutes: str, expression: str) -> None:
    settings = Settings.from_mapping({**MINIMAL, "autoretrain:alertWindowMinutes": minutes})
    assert settings.schedule_expression("alertingSchedule") == expression


def test_a_one_minute_rate_is_singular() -> None:
    assert alerting_schedule_expression(1) == "rate(1 minute)"


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


@pytest.mark.parametrize(
    ("route", "job"),
    [("drift-check", Job.DRIFT_CHECK), ("proactive-retrain", Job.RETRAIN), ("compact-lake", Job.COMPACT_LAKE)],
)
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


def test_routed_job_schedules_keep_routings_job_and_payload() -> None:
    for route in SCHEDULES:
        if route.target in JOB_OF_TARGET:
            schedule = JOB_SCHEDULES[route.name]
            assert (schedule.job, dict(schedule.payload)) == (JOB_OF_TARGET[route.target], dict(route.payload))


@pytest.mark.parametrize("schedule", job_schedules(), ids=lambda schedule: schedule.name)
def test_job_schedules_supply_every_parameter_without_a_default(schedule: JobSchedule) -> None:
    supplied = set(job_parameters(schedule, schedule.default_expression))
    assert parameters_to_supply(schedule.job) <= supplied


def test_submit_job_input_uses_submitjob_request_names() -> None:
    request = json.loads(
        submit_job_input(JOB_SCHEDULES["drift-check"], "cron(0 3 * * ? *)", queue_arn="q", definition_arn="d")
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
    assert _schedule(stack, "compact-lake").inputs["target"]["roleArn"] == target["roleArn"]
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
