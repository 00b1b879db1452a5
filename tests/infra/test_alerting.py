"""The alerting Lambda: package, runtime, environment and exactly the access its checks need."""

from __future__ import annotations

import json

import pulumi

from core.settings import DEFAULT_RUNBOOK_URL, AlertingSettings, EnvVar
from infra.alerting import alerting_policy
from infra.bundles import ALERTING_BUNDLE, archive_files
from infra.mocks import RecordedResource, Recording
from tests.infra.grants import grants, role_grants

FUNCTION = "aws:lambda/function:Function"
PAYLOADS = "arn:aws:s3:::payloads-abc"
MODELS = "arn:aws:s3:::models-abc"
TABLE = "arn:aws:dynamodb:eu-west-1:1:table/payloads"
REGISTRY = "arn:aws:dynamodb:eu-west-1:1:table/registry"
TOPIC = "arn:aws:sns:eu-west-1:1:alerts"
KEY = "arn:aws:kms:eu-west-1:1:key/k"
BUS = "arn:aws:events:eu-west-1:1:event-bus/bus"
LOGS = "arn:aws:logs:eu-west-1:1:log-group:alerting"


def _function(stack: Recording) -> RecordedResource:
    return stack.find(FUNCTION, "autoretrain-alerting-function")


def _alerting_grants() -> dict[str, set[str]]:
    document = alerting_policy(
        model_name="churn",
        model_bucket_arn=MODELS,
        payload_table_arn=TABLE,
        registry_table_arn=REGISTRY,
        topic_arn=TOPIC,
        key_arn=KEY,
        event_bus_arn=BUS,
        log_group_arn=LOGS,
    )
    return grants(document)


def test_alerting_runs_the_contract_handler_on_arm(stack: Recording) -> None:
    inputs = _function(stack).inputs
    assert (inputs["handler"], inputs["runtime"], inputs["architectures"]) == (
        "lambdas.alerting.handler",
        "python3.13",
        ["arm64"],
    )
    assert inputs["handler"] == ALERTING_BUNDLE.handler


def test_alerting_code_is_the_alerting_bundle(stack: Recording) -> None:
    code = _function(stack).inputs["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assert {name: getattr(asset, "path", None) for name, asset in code.assets.items()} == {
        name: str(path) for name, path in archive_files(ALERTING_BUNDLE).items()
    }


def test_alerting_environment_satisfies_its_settings(stack: Recording) -> None:
    variables = _function(stack).inputs["environment"]["variables"]
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    settings = AlertingSettings.from_env(variables)
    assert settings.alert_topic_arn == topic
    assert settings.runbook_url == DEFAULT_RUNBOOK_URL


def test_runbook_url_comes_from_config(alternative_stack: Recording) -> None:
    variables = _function(alternative_stack).inputs["environment"]["variables"]
    assert variables["AUTORETRAIN_RUNBOOK_URL"] == "https://wiki.example.com/autoretrain/runbook"


def test_alerting_queries_the_aggregates_on_the_table_and_the_champion_on_the_registry() -> None:
    assert _alerting_grants()["dynamodb:Query"] == {TABLE, REGISTRY, f"{REGISTRY}/index/by_status"}


def test_alerting_keeps_alert_state_in_the_payload_table() -> None:
    allowed = _alerting_grants()
    assert allowed["dynamodb:PutItem"] == allowed["dynamodb:BatchGetItem"] == {TABLE}
    assert TABLE in allowed["dynamodb:GetItem"]


def test_alerting_reads_only_its_models_baselines_and_nothing_of_the_payload_bucket() -> None:
    allowed = _alerting_grants()
    assert allowed["s3:GetObject"] == {f"{MODELS}/models/churn/*/baseline.json"}
    assert [action for action in allowed if action.startswith("s3:")] == ["s3:GetObject"]
    assert not any(resource.startswith(PAYLOADS) for resources in allowed.values() for resource in resources)


def test_alerting_grants_in_the_stack_are_the_policy_builders(stack: Recording) -> None:
    function = _function(stack).inputs
    allowed = role_grants(stack, function["role"])
    payload_bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    model_bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-models").outputs["arn"]
    table = stack.find("aws:dynamodb/table:Table", "autoretrain-payloads-table").outputs["arn"]
    assert allowed["s3:GetObject"] == {f"{model_bucket}/models/churn/*/baseline.json"}
    assert "s3:ListBucket" not in allowed
    assert not any(resource.startswith(payload_bucket) for resources in allowed.values() for resource in resources)
    assert not any("/index/" in resource for resource in allowed["dynamodb:Query"] if resource.startswith(table))


def test_alerting_windows_come_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    variables = _function(stack).inputs["environment"]["variables"]
    settings = AlertingSettings.from_env(variables)
    assert (settings.window_minutes, settings.max_window_minutes, settings.ingest_lag_minutes) == (
        int(dev_config["autoretrain:alertWindowMinutes"]),
        int(dev_config["autoretrain:alertMaxWindowMinutes"]),
        int(dev_config["autoretrain:ingestLagMinutes"]),
    )
    assert {name: variables[name] for name in (EnvVar.ALERT_WINDOW_MINUTES, EnvVar.INGEST_LAG_MINUTES)} == {
        "AUTORETRAIN_ALERT_WINDOW_MINUTES": "10",
        "AUTORETRAIN_INGEST_LAG_MINUTES": "3",
    }


def test_changed_windows_reach_the_function_and_its_schedule(alternative_stack: Recording) -> None:
    variables = _function(alternative_stack).inputs["environment"]["variables"]
    assert (
        variables["AUTORETRAIN_ALERT_WINDOW_MINUTES"],
        variables["AUTORETRAIN_ALERT_MAX_WINDOW_MINUTES"],
        variables["AUTORETRAIN_INGEST_LAG_MINUTES"],
    ) == ("15", "720", "6")
    schedule = alternative_stack.find("aws:scheduler/schedule:Schedule", "autoretrain-schedules-alerting")
    assert schedule.inputs["scheduleExpression"] == "rate(15 minutes)"


def test_alerting_runs_once_per_shortest_window(stack: Recording) -> None:
    schedule = stack.find("aws:scheduler/schedule:Schedule", "autoretrain-schedules-alerting")
    assert schedule.inputs["scheduleExpression"] == "rate(10 minutes)"


def test_alerting_may_publish_to_the_encrypted_topic_and_the_bus() -> None:
    allowed = _alerting_grants()
    assert allowed["sns:Publish"] == {TOPIC}
    assert allowed["kms:GenerateDataKey*"] == allowed["kms:Decrypt"] == {KEY}
    assert allowed["events:PutEvents"] == {BUS}


def test_alerting_policy_in_the_stack_names_the_stack_key(stack: Recording) -> None:
    key = stack.find("aws:kms/key:Key", "autoretrain-alerts-key").outputs["arn"]
    policy = stack.find("aws:iam/rolePolicy:RolePolicy", "autoretrain-alerting-policy")
    (statement,) = [s for s in json.loads(policy.inputs["policy"])["Statement"] if s["Sid"] == "EncryptAlerts"]
    assert statement["Resource"] == [key]
