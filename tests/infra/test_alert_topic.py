"""AlertTopic: the customer-managed key, the topic, who may publish, and the subscriptions from config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.alert_topic import alert_key_policy, alert_topic_policy, subscription_name, subscriptions
from infra.config import Settings, SettingsError
from infra.mocks import Recording

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
MINIMAL = {"aws:region": REGION, "autoretrain:modelName": "churn"}


def _statement(document: str, sid: str) -> dict[str, Any]:
    statements: list[dict[str, Any]] = json.loads(document)["Statement"]
    (statement,) = [item for item in statements if item["Sid"] == sid]
    return statement


def test_topic_is_encrypted_with_the_stack_key(stack: Recording) -> None:
    key = stack.find("aws:kms/key:Key", "autoretrain-alerts-key")
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]


def test_key_rotates(stack: Recording) -> None:
    assert stack.find("aws:kms/key:Key", "autoretrain-alerts-key").inputs["enableKeyRotation"] is True


def test_key_policy_lets_the_account_administer_the_key() -> None:
    statement = _statement(alert_key_policy(account_id=ACCOUNT, region=REGION), "AccountAdministersKey")
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Action"] == ["kms:*"]


@pytest.mark.parametrize(
    ("sid", "service", "source"),
    [
        ("EventsEncryptsAlerts", "events.amazonaws.com", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/*"),
        ("CloudwatchEncryptsAlerts", "cloudwatch.amazonaws.com", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"),
    ],
)
def test_key_policy_lets_eventbridge_and_cloudwatch_use_the_key_for_this_account(
    sid: str, service: str, source: str
) -> None:
    statement = _statement(alert_key_policy(account_id=ACCOUNT, region=REGION), sid)
    assert statement["Principal"] == {"Service": service}
    assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": source},
    }


def test_key_policy_has_no_other_principals() -> None:
    principals = [
        item["Principal"] for item in json.loads(alert_key_policy(account_id=ACCOUNT, region=REGION))["Statement"]
    ]
    assert len(principals) == 3


@pytest.mark.parametrize("service", ["events.amazonaws.com", "cloudwatch.amazonaws.com"])
def test_topic_policy_lets_the_service_publish_for_this_account_only(service: str) -> None:
    statements = json.loads(alert_topic_policy(topic_arn=TOPIC, account_id=ACCOUNT, region=REGION))["Statement"]
    (statement,) = [item for item in statements if item.get("Principal") == {"Service": service}]
    assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Allow", ["sns:Publish"], [TOPIC])
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"].startswith(
        f"arn:aws:{service.split('.', maxsplit=1)[0]}:{REGION}"
    )


def test_topic_policy_denies_publishing_without_tls() -> None:
    statement = _statement(
        alert_topic_policy(topic_arn=TOPIC, account_id=ACCOUNT, region=REGION), "DenyInsecureTransport"
    )
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", ["sns:Publish"])
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topic_policy_is_attached_to_the_topic(stack: Recording) -> None:
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic")
    policy = stack.find("aws:sns/topicPolicy:TopicPolicy", "autoretrain-alerts-topic-policy")
    assert policy.inputs["arn"] == topic.outputs["arn"]
    assert {item["Resource"][0] for item in json.loads(policy.inputs["policy"])["Statement"]} == {topic.outputs["arn"]}


def test_subscriptions_come_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    expected = {("email", email) for email in json.loads(dev_config["autoretrain:alertEmails"])}
    expected |= {("sms", number) for number in json.loads(dev_config["autoretrain:alertPhoneNumbers"])}
    found = {
        (item.inputs["protocol"], item.inputs["endpoint"])
        for item in stack.of_type("aws:sns/topicSubscription:TopicSubscription")
        if item.inputs["topic"] == topic
    }
    assert expected
    assert found == expected


def test_sms_and_email_subscriptions_follow_a_changed_config(alternative_stack: Recording) -> None:
    recording = alternative_stack
    found = sorted(
        (item.inputs["protocol"], item.inputs["endpoint"])
        for item in recording.of_type("aws:sns/topicSubscription:TopicSubscription")
    )
    assert found == [("email", "a@example.com"), ("email", "b@example.org"), ("sms", "+14155550100")]


def test_duplicate_subscriptions_are_made_once() -> None:
    assert subscriptions(["a@example.com", "a@example.com"], ["+441234567890"]) == [
        ("email", "a@example.com"),
        ("sms", "+441234567890"),
    ]


def test_subscription_names_hide_the_address_and_do_not_depend_on_order() -> None:
    name = subscription_name("alerts", "email", "someone@example.com")
    assert "someone" not in name
    assert name == subscription_name("alerts", "email", "someone@example.com")
    assert name != subscription_name("alerts", "email", "other@example.com")


@pytest.mark.parametrize("number", ["+14155550100", "+447911123456", "+12"])
def test_e164_numbers_are_accepted(number: str) -> None:
    assert Settings.from_mapping({**MINIMAL, "autoretrain:alertPhoneNumbers": json.dumps([number])})


@pytest.mark.parametrize(
    "number", ["14155550100", "+0123456789", "+1 415 555 0100", "+1415555010012345", "+", "+1-415-555-0100"]
)
def test_numbers_that_are_not_e164_are_refused(number: str) -> None:
    with pytest.raises(SettingsError, match=r"alertPhoneNumbers: .* is not an E\.164 number"):
        Settings.from_mapping({**MINIMAL, "autoretrain:alertPhoneNumbers": json.dumps([number])})


@pytest.mark.parametrize("email", ["oncall", "oncall@", "@example.com", "on call@example.com", "a@b"])
def test_bad_email_addresses_are_refused(email: str) -> None:
    with pytest.raises(SettingsError, match=r"alertEmails: .* is not an e-mail address"):
        Settings.from_mapping({**MINIMAL, "autoretrain:alertEmails": json.dumps([email])})


def test_alert_lists_must_be_lists_of_strings() -> None:
    with pytest.raises(SettingsError, match="alertEmails: must be a list of strings"):
        Settings.from_mapping({**MINIMAL, "autoretrain:alertEmails": "oncall@example.com"})
