"""The alerting Lambda: package, runtime, environment and exactly the access its checks need."""

from __future__ import annotations

import json

import pulumi

from core.settings import DEFAULT_RUNBOOK_URL, AlertingSettings
from infra.alerting import alerting_policy
from infra.bundles import ALERTING_BUNDLE, archive_files
from infra.mocks import RecordedResource, Recording
from tests.infra.grants import grants

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
        payload_bucket_arn=PAYLOADS,
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


def test_alerting_reads_the_window_through_the_time_index_only() -> None:
    assert _alerting_grants()["dynamodb:Query"] == {f"{TABLE}/index/by_time", REGISTRY, f"{REGISTRY}/index/by_status"}


def test_alerting_keeps_alert_state_in_the_payload_table() -> None:
    assert _alerting_grants()["dynamodb:PutItem"] == {TABLE}


def test_alerting_reads_only_baselines_and_its_models_quarantine() -> None:
    allowed = _alerting_grants()
    assert allowed["s3:GetObject"] == {
        f"{MODELS}/models/churn/*/baseline.json",
        f"{PAYLOADS}/quarantine/payloads/model=churn/*",
    }
    assert allowed["s3:ListBucket"] == {PAYLOADS}


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
