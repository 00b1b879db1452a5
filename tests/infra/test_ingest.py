"""The payload stream: Firehose's destination, prefixes, buffering, encryption, error logging, role and alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.layout import (
    ETL_PREFIXES,
    PAYLOAD_STREAM_FILE_EXTENSION,
    PayloadPrefix,
    payload_stream_error_prefix,
    payload_stream_name,
    payload_stream_prefix,
)
from core.settings import PAYLOAD_ETL_MEMORY_MB
from infra.ingest import (
    BUCKET_KEY_ACTIONS,
    BUFFER_MB,
    StreamPrefixError,
    firehose_policy,
    freshness_alarm_seconds,
    ingest_lag_floor_minutes,
    prefix_problems,
    static_prefix,
    stream_name,
)
from infra.mocks import RecordedResource, Recording
from infra.policies import BucketKey
from lambdas.payload_etl.limits import EtlLimits
from tests.infra.grants import grants

STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "arn:aws:s3:::payloads-abc"
LOG_STREAM = "arn:aws:logs:eu-west-1:123456789012:log-group:ingest-logs:log-stream:S3Delivery"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/k"


def _stream(stack: Recording) -> RecordedResource:
    return stack.find(STREAM, "autoretrain-ingest-stream")


def _destination(stack: Recording) -> dict[str, Any]:
    destination: dict[str, Any] = _stream(stack).inputs["extendedS3Configuration"]
    return destination


def _role(stack: Recording) -> RecordedResource:
    return stack.find("aws:iam/role:Role", "autoretrain-ingest-role")


def _statements(stack: Recording) -> dict[str, dict[str, Any]]:
    policy = stack.find("aws:iam/rolePolicy:RolePolicy", "autoretrain-ingest-policy")
    return {statement["Sid"]: statement for statement in json.loads(policy.inputs["policy"])["Statement"]}


# --- The stream ------------------------------------------------------------------------------------------------------


def test_one_direct_put_stream_per_model_named_by_the_layout(stack: Recording) -> None:
    (stream,) = stack.of_type(STREAM)
    assert stream.inputs["name"] == payload_stream_name("autoretrain-dev", "churn") == "autoretrain-dev-payloads-churn"
    assert stream.inputs["destination"] == "extended_s3"
    # Direct PUT: no Kinesis or MSK source.
    assert "kinesisSourceConfiguration" not in stream.inputs
    assert "mskSourceConfiguration" not in stream.inputs


def test_stream_delivers_into_the_payload_bucket_with_its_own_role(stack: Recording) -> None:
    destination = _destination(stack)
    assert destination["bucketArn"] == stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    assert destination["roleArn"] == _role(stack).outputs["arn"]


def test_stream_writes_the_payload_layout_and_its_errors_elsewhere(stack: Recording) -> None:
    destination = _destination(stack)
    assert destination["prefix"] == payload_stream_prefix("churn") == "payloads/model=churn/dt=!{timestamp:yyyy-MM-dd}/"
    assert destination["errorOutputPrefix"] == payload_stream_error_prefix("churn")
    assert destination["customTimeZone"] == "UTC"
    assert (
        destination["errorOutputPrefix"]
        == "ingest-errors/model=churn/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    )


def test_stream_writes_gzip_json_lines_objects(stack: Recording) -> None:
    destination = _destination(stack)
    assert destination["compressionFormat"] == "GZIP"
    assert destination["fileExtension"] == PAYLOAD_STREAM_FILE_EXTENSION == ".jsonl.gz"
    # No conversion, no processing: the objects are the records serving sent, as JSON Lines.
    assert "dataFormatConversionConfiguration" not in destination
    assert "processingConfiguration" not in destination
    assert "dynamicPartitioningConfiguration" not in destination


def test_stream_buffering_comes_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    destination = _destination(stack)
    assert destination["bufferingInterval"] == int(dev_config["autoretrain:ingestBufferSeconds"]) == 60
    assert destination["bufferingSize"] == int(dev_config["autoretrain:ingestBufferMb"]) == 64


def test_changed_buffering_reaches_the_stream(alternative_stack: Recording) -> None:
    destination = _destination(alternative_stack)
    assert (destination["bufferingInterval"], destination["bufferingSize"]) == (300, 128)


def test_stream_is_encrypted_at_rest_with_an_aws_owned_key(stack: Recording) -> None:
    assert _stream(stack).inputs["serverSideEncryption"] == {"enabled": True, "keyType": "AWS_OWNED_CMK"}


def test_stream_logs_delivery_errors_to_its_own_log_stream(stack: Recording, dev_config: dict[str, str]) -> None:
    group = stack.find("aws:cloudwatch/logGroup:LogGroup", "autoretrain-ingest-logs")
    log_stream = stack.find("aws:cloudwatch/logStream:LogStream", "autoretrain-ingest-delivery-log")
    assert group.inputs["retentionInDays"] == int(dev_config["autoretrain:logRetentionDays"])
    assert log_stream.inputs["logGroupName"] == group.outputs["name"]
    assert _destination(stack)["cloudwatchLoggingOptions"] == {
        "enabled": True,
        "logGroupName": group.outputs["name"],
        "logStreamName": log_stream.outputs["name"],
    }


def test_stream_waits_for_its_role_policy(stack: Recording) -> None:
    policy = stack.find("aws:iam/rolePolicy:RolePolicy", "autoretrain-ingest-policy")
    assert policy.urn in _stream(stack).dependencies


# --- The role --------------------------------------------------------------------------------------------------------


def test_only_firehose_of_this_account_may_assume_the_role(stack: Recording) -> None:
    (statement,) = json.loads(_role(stack).inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole"]
    # Firehose's documented confused-deputy guard: the account's ID as the external ID.
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "123456789012"}}


def test_role_may_only_write_the_models_prefixes_and_its_log_stream(stack: Recording) -> None:
    bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    log_stream = stack.find("aws:cloudwatch/logStream:LogStream", "autoretrain-ingest-delivery-log").outputs["arn"]
    assert log_stream.endswith(":log-group:" + log_stream.split(":log-group:")[1])
    assert ":log-stream:S3Delivery" in log_stream
    assert _statements(stack) == {
        "FindPayloadBucket": {
            "Sid": "FindPayloadBucket",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": [bucket],
        },
        "DeliverPayloadObjects": {
            "Sid": "DeliverPayloadObjects",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"{bucket}/ingest-errors/model=churn/*", f"{bucket}/payloads/model=churn/*"],
        },
        "LogDeliveryErrors": {
            "Sid": "LogDeliveryErrors",
            "Effect": "Allow",
            "Action": ["logs:PutLogEvents"],
            "Resource": [log_stream],
        },
    }


def test_firehose_policy_uses_a_bucket_key_only_through_s3_for_its_objects() -> None:
    document = firehose_policy(
        bucket_arn=BUCKET,
        object_prefixes=["payloads/model=churn/"],
        log_stream_arn=LOG_STREAM,
        bucket_key=BucketKey(arn=KEY, region="eu-west-1"),
    )
    (statement,) = [s for s in json.loads(document)["Statement"] if s["Sid"] == "EncryptPayloadObjects"]
    assert statement["Action"] == sorted(BUCKET_KEY_ACTIONS) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Resource"] == [KEY]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [f"{BUCKET}/payloads/model=churn/*"]},
    }


def test_firehose_policy_has_no_key_statement_for_an_sse_s3_bucket() -> None:
    document = firehose_policy(bucket_arn=BUCKET, object_prefixes=["payloads/"], log_stream_arn=LOG_STREAM)
    assert not any(action.startswith("kms:") for action in grants(document))


# --- Prefix rules ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["churn", "m", "a" * 64, "Model_1.v-2"])
def test_the_layouts_prefixes_follow_firehoses_rules(model: str) -> None:
    assert (
        prefix_problems(payload_stream_prefix(model), payload_stream_error_prefix(model), reader_prefixes=ETL_PREFIXES)
        == []
    )


#: A prefix and an error prefix Firehose accepts, for the cases below to spoil one at a time.
GOOD = "payloads/m/dt=!{timestamp:yyyy-MM-dd}/"
ERRORS = "errors/!{firehose:error-output-type}/"


@pytest.mark.parametrize(
    ("prefix", "error_prefix", "problem"),
    [
        (GOOD, "", "error prefix is required"),
        (GOOD, "errors/!{timestamp:yyyy}/", "must use !{firehose:error-output-type}"),
        ("payloads/m/!{firehose:error-output-type}/!{timestamp:yyyy}/", ERRORS, "only be used in the error prefix"),
        ("payloads/m/", ERRORS, "Firehose appends yyyy/MM/dd/HH/"),
        ("payloads/m/!{partitionKeyFromQuery:model}/!{timestamp:yyyy}/", ERRORS, "dynamic partitioning"),
        ("payloads/m/!{firehose:uuid}/!{timestamp:yyyy}/", ERRORS, "has no 'uuid'"),
        ("payloads/m/!{oops/!{timestamp:yyyy}/", ERRORS, "may only start"),
        ("payloads/" + "x" * 520 + "/!{timestamp:yyyy}/", ERRORS, "512 characters"),
        (GOOD.rstrip("/"), ERRORS, "must end in '/'"),
        ("lake/m/dt=!{timestamp:yyyy-MM-dd}/", ERRORS, "not under a prefix the payload ETL reads"),
        (GOOD, "payloads/" + ERRORS, "under a prefix the payload ETL reads"),
    ],
)
def test_prefixes_firehose_or_the_layout_would_refuse_are_named(prefix: str, error_prefix: str, problem: str) -> None:
    problems = prefix_problems(prefix, error_prefix, reader_prefixes=ETL_PREFIXES)
    assert any(problem in text for text in problems), problems


def test_the_error_prefix_length_counts_the_longest_error_type() -> None:
    # 512 characters with the error type's 24: a prefix that only fits with a short type is refused.
    filler = "e" * (512 - len("/format-conversion-failed/") + 1)
    problems = prefix_problems(
        "payloads/m/dt=!{timestamp:yyyy}/", f"{filler}/!{{firehose:error-output-type}}/", reader_prefixes=ETL_PREFIXES
    )
    assert any("512 characters" in text for text in problems)


def test_static_prefix_is_what_every_evaluated_key_starts_with() -> None:
    assert static_prefix(payload_stream_prefix("churn")) == "payloads/model=churn/"
    assert static_prefix(payload_stream_error_prefix("churn")) == "ingest-errors/model=churn/"
    assert static_prefix("plain/prefix/") == "plain/prefix/"


def test_the_error_prefix_lies_under_ingest_errors_outside_what_the_etl_reads() -> None:
    assert payload_stream_error_prefix("churn").startswith(PayloadPrefix.INGEST_ERRORS.value)
    assert not any(PayloadPrefix.INGEST_ERRORS.value.startswith(prefix) for prefix in ETL_PREFIXES)


def test_stream_names_follow_firehoses_rule() -> None:
    assert stream_name("autoretrain-prod", "a" * 64) == ("autoretrain-prod-payloads-" + "a" * 64)[:64]
    with pytest.raises(StreamPrefixError, match="not a Firehose stream name"):
        stream_name("autoretrain prod", "churn")


def test_the_ingest_lag_floor_covers_the_buffer_and_a_minute() -> None:
    assert [ingest_lag_floor_minutes(seconds) for seconds in (0, 1, 60, 61, 900)] == [1, 2, 2, 3, 16]


# --- Alarms ----------------------------------------------------------------------------------------------------------


def _alarm(stack: Recording, key: str) -> RecordedResource:
    return stack.find(ALARM, f"autoretrain-ingest-{key}")


def test_freshness_alarm_fires_well_above_the_buffer_interval(stack: Recording) -> None:
    alarm = _alarm(stack, "freshness").inputs
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        "Maximum",
    )
    assert alarm["dimensions"] == {"DeliveryStreamName": _stream(stack).outputs["name"]}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 900)
    assert alarm["treatMissingData"] == "notBreaching"


def test_freshness_threshold_grows_with_the_buffer() -> None:
    assert [freshness_alarm_seconds(seconds) for seconds in (0, 60, 300, 900)] == [900, 900, 900, 2700]
    assert all(freshness_alarm_seconds(seconds) >= 3 * seconds for seconds in range(0, 901, 30))


def test_failed_delivery_alarm_fires_below_full_success(stack: Recording) -> None:
    alarm = _alarm(stack, "delivery-failures").inputs
    assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
        "AWS/Firehose",
        "DeliveryToS3.Success",
        "Minimum",
    )
    assert alarm["dimensions"] == {"DeliveryStreamName": _stream(stack).outputs["name"]}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["treatMissingData"] == "notBreaching"


@pytest.mark.parametrize("key", ["freshness", "delivery-failures"])
def test_stream_alarms_notify_the_alert_topic(stack: Recording, key: str) -> None:
    topic = stack.find("aws:sns/topic:Topic", "autoretrain-alerts-topic").outputs["arn"]
    alarm = _alarm(stack, key).inputs
    assert alarm["alarmActions"] == alarm["okActions"] == [topic]


def test_the_largest_buffer_firehose_may_write_is_one_object_the_etl_loads() -> None:
    # Firehose applies the buffer size before compression: an object decompresses to about ingestBufferMb MiB (the
    # most infra.config accepts), which the ETL must load rather than quarantine as too large.
    limits = EtlLimits.for_memory(PAYLOAD_ETL_MEMORY_MB)
    assert (BUFFER_MB.stop - 1) * 1024 * 1024 < limits.max_object_bytes
