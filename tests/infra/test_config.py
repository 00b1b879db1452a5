"""Stack settings: the example config is complete and valid; bad values are refused with the key named."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from batch_jobs.training.job import RetrainConfig
from core.settings import (
    AlertingSettings,
    DriftCheckSettings,
    LakeSettings,
    MissingSettingError,
    RetrainSettings,
    ServingSettings,
    ShadowPeriodSettings,
)
from deploy.alias import CanaryPlan
from infra.config import (
    ALERT_HISTORY_DAYS,
    LABEL_DELAY_DAYS,
    LOG_RETENTION_DAYS,
    MIN_LAKE_SAMPLE_ROWS,
    RETRAIN_LOOKBACK_DAYS,
    Settings,
    SettingsError,
    config_keys,
    job_memory_estimate_mib,
    min_payload_retention_days,
)
from infra.release import MAX_CANARY_MINUTES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_STACK_CONFIG = REPO_ROOT / "Pulumi.dev.yaml"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}


def test_example_stack_config_sets_every_key_the_settings_read() -> None:
    keys = set(yaml.safe_load(DEV_STACK_CONFIG.read_text())["config"])
    assert keys == set(config_keys())


def test_every_key_in_the_example_stack_config_has_a_comment_above_it() -> None:
    lines = DEV_STACK_CONFIG.read_text().splitlines()
    undocumented = [
        line.strip()
        for index, line in enumerate(lines)
        if re.match(r"^  [a-z]+:[A-Za-z]+:", line) and not lines[index - 1].lstrip().startswith("#")
    ]
    assert undocumented == []


def test_example_stack_config_parses_to_its_values(dev_config: dict[str, str]) -> None:
    settings = Settings.from_mapping(dev_config)
    assert (settings.region, settings.model_name, settings.log_retention_days) == ("eu-west-1", "churn", 30)
    assert settings.deletion_protection is True
    assert dict(settings.tags) == {"owner": "ml-platform", "environment": "dev"}


def test_defaults_apply_when_only_required_keys_are_set() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert settings.payload_retention_days == 90
    assert settings.object_retention_days >= settings.payload_retention_days


@pytest.mark.parametrize("missing", ["aws:region", "autoretrain:modelName"])
def test_missing_required_key_is_refused_by_name(missing: str) -> None:
    values = {key: value for key, value in MINIMAL.items() if key != missing}
    with pytest.raises(SettingsError, match=f"{missing} is required"):
        Settings.from_mapping(values)


def test_log_retention_outside_cloudwatch_values_is_refused() -> None:
    with pytest.raises(SettingsError, match="autoretrain:logRetentionDays must be one of CloudWatch's values"):
        Settings.from_mapping({**MINIMAL, "autoretrain:logRetentionDays": "31"})


def test_never_expiring_logs_are_refused() -> None:
    assert 0 not in LOG_RETENTION_DAYS
    with pytest.raises(SettingsError, match="logRetentionDays"):
        Settings.from_mapping({**MINIMAL, "autoretrain:logRetentionDays": "0"})


def test_objects_must_outlive_the_table_window() -> None:
    values = {**MINIMAL, "autoretrain:payloadRetentionDays": "120", "autoretrain:objectRetentionDays": "60"}
    with pytest.raises(SettingsError, match="objectRetentionDays must be at least 120"):
        Settings.from_mapping(values)


def test_non_integer_value_is_refused_by_key() -> None:
    with pytest.raises(SettingsError, match="autoretrain:servingMemoryMb: must be an integer, got 'lots'"):
        Settings.from_mapping({**MINIMAL, "autoretrain:servingMemoryMb": "lots"})


def test_non_boolean_value_is_refused_by_key() -> None:
    with pytest.raises(SettingsError, match="autoretrain:deletionProtection: must be true or false"):
        Settings.from_mapping({**MINIMAL, "autoretrain:deletionProtection": "yes"})


def test_serving_memory_outside_lambda_range_is_refused() -> None:
    with pytest.raises(SettingsError, match="servingMemoryMb must be between 128 and 10240"):
        Settings.from_mapping({**MINIMAL, "autoretrain:servingMemoryMb": "64"})


def test_keeping_fewer_than_two_images_is_refused() -> None:
    with pytest.raises(SettingsError, match="servingKeepImages must be at least 2"):
        Settings.from_mapping({**MINIMAL, "autoretrain:servingKeepImages": "1"})


def test_invalid_model_name_is_refused() -> None:
    with pytest.raises(SettingsError, match="autoretrain:modelName"):
        Settings.from_mapping({**MINIMAL, "autoretrain:modelName": "churn/v2"})


def test_reserved_tag_prefix_is_refused() -> None:
    with pytest.raises(SettingsError, match="tags key 'aws:owner'"):
        Settings.from_mapping({**MINIMAL, "autoretrain:tags": '{"aws:owner": "me"}'})


def test_tags_that_are_not_a_mapping_of_strings_are_refused() -> None:
    with pytest.raises(SettingsError, match="autoretrain:tags: must be a mapping of strings to strings"):
        Settings.from_mapping({**MINIMAL, "autoretrain:tags": '["owner"]'})


def test_every_problem_is_reported_at_once() -> None:
    values = {**MINIMAL, "autoretrain:logRetentionDays": "2", "autoretrain:quarantineRetentionDays": "0"}
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping(values)
    assert len(caught.value.problems) == 2


def test_settings_are_validated_when_changed_too() -> None:
    with pytest.raises(SettingsError, match="noncurrentVersionDays"):
        replace(Settings.from_mapping(MINIMAL), noncurrent_version_days=0)


def test_project_and_model_tags_cannot_be_overridden_by_user_tags() -> None:
    settings = Settings.from_mapping({**MINIMAL, "autoretrain:tags": '{"project": "other", "team": "ml"}'})
    assert settings.default_tags == {"project": "autoretrain", "model": "churn", "team": "ml"}


# --- Look-back, retention and TTL, validated against each other -----------------------------------------------------


def test_retrain_look_back_is_the_retrain_jobs() -> None:
    # infra may not import the jobs (the layers contract); the copy in infra.config is pinned here.
    assert RetrainConfig().lookback == timedelta(days=RETRAIN_LOOKBACK_DAYS)


def test_label_delay_and_alert_history_are_the_codes_defaults() -> None:
    environment = {
        "AUTORETRAIN_PAYLOAD_BUCKET": "b",
        "AUTORETRAIN_MODEL_BUCKET": "m",
        "AUTORETRAIN_PAYLOAD_TABLE": "p",
        "AUTORETRAIN_REGISTRY_TABLE": "r",
        "AUTORETRAIN_EVENT_BUS": "e",
        "AUTORETRAIN_MODEL_NAME": "churn",
        "AUTORETRAIN_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t",
    }
    assert RetrainSettings.from_env(environment).label_delay_days == LABEL_DELAY_DAYS
    assert DriftCheckSettings.from_env(environment).label_delay_days == LABEL_DELAY_DAYS
    assert AlertingSettings.from_env(environment).history_days == ALERT_HISTORY_DAYS


def test_objects_and_lake_must_hold_the_retrain_window() -> None:
    window = RETRAIN_LOOKBACK_DAYS + LABEL_DELAY_DAYS
    values = {**MINIMAL, "autoretrain:payloadRetentionDays": "30"}
    with pytest.raises(SettingsError, match=f"objectRetentionDays must be at least {window}, got {window - 1}"):
        Settings.from_mapping({**values, "autoretrain:objectRetentionDays": str(window - 1)})
    assert (
        Settings.from_mapping({**values, "autoretrain:objectRetentionDays": str(window)}).object_retention_days
        == window
    )


def test_payload_table_ttl_must_cover_the_alerting_history_and_widest_window() -> None:
    # 7 history days + a 1,440-minute widest window + a 3-minute lag reach 3 minutes into a ninth day.
    assert min_payload_retention_days(max_window_minutes=1440, ingest_lag_minutes=3) == ALERT_HISTORY_DAYS + 2
    with pytest.raises(SettingsError, match=f"payloadRetentionDays must be at least {ALERT_HISTORY_DAYS + 2}"):
        Settings.from_mapping({**MINIMAL, "autoretrain:payloadRetentionDays": str(ALERT_HISTORY_DAYS + 1)})
    settings = Settings.from_mapping({**MINIMAL, "autoretrain:payloadRetentionDays": str(ALERT_HISTORY_DAYS + 2)})
    assert settings.payload_retention_days == ALERT_HISTORY_DAYS + 2


def test_a_narrower_widest_window_needs_a_shorter_ttl() -> None:
    values = {
        **MINIMAL,
        "autoretrain:alertMaxWindowMinutes": "60",
        "autoretrain:payloadRetentionDays": str(ALERT_HISTORY_DAYS + 1),
    }
    assert Settings.from_mapping(values).payload_retention_days == ALERT_HISTORY_DAYS + 1


def test_defaults_hold_every_window() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert settings.object_retention_days >= RETRAIN_LOOKBACK_DAYS + LABEL_DELAY_DAYS
    assert settings.payload_retention_days >= min_payload_retention_days(
        max_window_minutes=settings.alert_max_window_minutes, ingest_lag_minutes=settings.ingest_lag_minutes
    )


# --- The lake's sample cap and the jobs' memory ----------------------------------------------------------------------


def test_sample_rows_default_and_minimum_are_the_codes() -> None:
    environment = {"AUTORETRAIN_PAYLOAD_BUCKET": "b", "AUTORETRAIN_LAKE_DATABASE": "d"}
    assert Settings.from_mapping(MINIMAL).lake_sample_rows == LakeSettings.from_env(environment).sample_rows
    assert LakeSettings.from_env({**environment, "AUTORETRAIN_LAKE_SAMPLE_ROWS": str(MIN_LAKE_SAMPLE_ROWS)})
    with pytest.raises(MissingSettingError):
        LakeSettings.from_env({**environment, "AUTORETRAIN_LAKE_SAMPLE_ROWS": str(MIN_LAKE_SAMPLE_ROWS - 1)})


def test_sample_rows_below_what_the_jobs_accept_are_refused() -> None:
    with pytest.raises(SettingsError, match=f"lakeSampleRows must be at least {MIN_LAKE_SAMPLE_ROWS}"):
        Settings.from_mapping({**MINIMAL, "autoretrain:lakeSampleRows": str(MIN_LAKE_SAMPLE_ROWS - 1)})


def test_default_job_size_holds_the_default_sample() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert (settings.job_vcpu, settings.job_memory_mib, settings.lake_sample_rows) == (1.0, 4096, 200_000)
    assert job_memory_estimate_mib(settings.lake_sample_rows) <= settings.job_memory_mib


def test_a_sample_cap_the_job_memory_cannot_hold_is_refused() -> None:
    values = {**MINIMAL, "autoretrain:lakeSampleRows": "1000000"}
    with pytest.raises(SettingsError, match="jobMemoryMib must be at least 9349 for lakeSampleRows 1000000"):
        Settings.from_mapping(values)
    sized = {**values, "autoretrain:jobVcpu": "2", "autoretrain:jobMemoryMib": "10240"}
    assert Settings.from_mapping(sized).lake_sample_rows == 1_000_000


def test_job_memory_grows_with_the_sample_not_the_traffic() -> None:
    assert job_memory_estimate_mib(200_000) == 1536 + 1563
    assert job_memory_estimate_mib(400_000) - job_memory_estimate_mib(200_000) == 1562


# --- The ETL's managed layer -----------------------------------------------------------------------------------------


def test_a_region_without_the_managed_layer_is_refused() -> None:
    with pytest.raises(SettingsError, match="'us-gov-west-1' has no AWS SDK for pandas managed layer"):
        Settings.from_mapping({**MINIMAL, "aws:region": "us-gov-west-1"})


def test_layer_version_must_be_positive() -> None:
    with pytest.raises(SettingsError, match="awsSdkPandasLayerVersion must be at least 1"):
        Settings.from_mapping({**MINIMAL, "autoretrain:awsSdkPandasLayerVersion": "0"})


def test_the_canary_is_on_by_default_and_the_incremental_fit_off() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert (settings.canary_percent, settings.canary_minutes) == (10, 10)
    assert settings.incremental_retrain is False


@pytest.mark.parametrize("percent", ["100", "150", "-5"])
def test_a_canary_share_outside_1_to_99_is_refused(percent: str) -> None:
    with pytest.raises(SettingsError, match="canaryPercent must be between 1 and 99"):
        Settings.from_mapping({**MINIMAL, "autoretrain:canaryPercent": percent})


@pytest.mark.parametrize("minutes", ["0", "-1", str(MAX_CANARY_MINUTES + 1)])
def test_a_canary_needs_a_bake_time_the_build_can_wait_for(minutes: str) -> None:
    with pytest.raises(SettingsError, match=f"canaryMinutes must be between 1 and {MAX_CANARY_MINUTES}"):
        Settings.from_mapping({**MINIMAL, "autoretrain:canaryMinutes": minutes})


def test_canary_percent_zero_turns_the_canary_off_and_ignores_the_bake_time() -> None:
    values = {**MINIMAL, "autoretrain:canaryPercent": "0", "autoretrain:canaryMinutes": "0"}
    assert Settings.from_mapping(values).canary_percent == 0


def test_every_canary_the_config_accepts_is_one_the_deploy_code_runs() -> None:
    for percent, minutes in ((1, 1), (99, MAX_CANARY_MINUTES)):
        settings = Settings.from_mapping(
            {**MINIMAL, "autoretrain:canaryPercent": str(percent), "autoretrain:canaryMinutes": str(minutes)}
        )
        plan = CanaryPlan(settings.canary_percent, settings.canary_minutes * 60.0, ("serving-errors",))
        assert plan.percent == percent


# --- Ingest buffering and alerting windows ---------------------------------------------------------------------------


def test_ingest_and_window_defaults_are_the_codes() -> None:
    settings = Settings.from_mapping(MINIMAL)
    code = AlertingSettings(
        payload_bucket="b", payload_table="p", registry_table="r", alert_topic_arn="t", event_bus="e", model_name="m"
    )
    assert (settings.alert_window_minutes, settings.alert_max_window_minutes, settings.ingest_lag_minutes) == (
        code.window_minutes,
        code.max_window_minutes,
        code.ingest_lag_minutes,
    )
    assert (settings.ingest_buffer_seconds, settings.ingest_buffer_mb) == (60, 64)
    assert settings.schedule_expression("alertingSchedule") == "rate(10 minutes)"


@pytest.mark.parametrize(("seconds", "accepted"), [("-1", False), ("0", True), ("900", True), ("901", False)])
def test_buffer_interval_must_be_within_firehoses_limits(seconds: str, accepted: bool) -> None:
    # Firehose API reference, BufferingHints.IntervalInSeconds: 0-900.
    values = {**MINIMAL, "autoretrain:ingestBufferSeconds": seconds, "autoretrain:ingestLagMinutes": "16"}
    if accepted:
        assert Settings.from_mapping(values).ingest_buffer_seconds == int(seconds)
    else:
        with pytest.raises(SettingsError, match="ingestBufferSeconds must be between 0 and 900"):
            Settings.from_mapping(values)


@pytest.mark.parametrize(("size", "accepted"), [("0", False), ("1", True), ("128", True), ("129", False)])
def test_buffer_size_must_be_within_firehoses_limits(size: str, accepted: bool) -> None:
    # Firehose API reference, BufferingHints.SizeInMBs: 1-128.
    values = {**MINIMAL, "autoretrain:ingestBufferMb": size}
    if accepted:
        assert Settings.from_mapping(values).ingest_buffer_mb == int(size)
    else:
        with pytest.raises(SettingsError, match="ingestBufferMb must be between 1 and 128"):
            Settings.from_mapping(values)


@pytest.mark.parametrize(("seconds", "floor"), [("60", 2), ("61", 3), ("300", 6), ("900", 16)])
def test_ingest_lag_must_cover_the_buffer_and_a_minute(seconds: str, floor: int) -> None:
    values = {**MINIMAL, "autoretrain:ingestBufferSeconds": seconds}
    with pytest.raises(SettingsError, match=f"ingestLagMinutes must be at least {floor} .*got {floor - 1}"):
        Settings.from_mapping({**values, "autoretrain:ingestLagMinutes": str(floor - 1)})
    assert Settings.from_mapping({**values, "autoretrain:ingestLagMinutes": str(floor)}).ingest_lag_minutes == floor


def test_the_widest_window_must_be_at_least_the_shortest() -> None:
    values = {**MINIMAL, "autoretrain:alertWindowMinutes": "30", "autoretrain:alertMaxWindowMinutes": "20"}
    with pytest.raises(SettingsError, match=r"alertMaxWindowMinutes must be at least alertWindowMinutes \(30\)"):
        Settings.from_mapping(values)
    same = Settings.from_mapping({**values, "autoretrain:alertMaxWindowMinutes": "30"})
    assert same.alert_max_window_minutes == same.alert_window_minutes == 30


@pytest.mark.parametrize("key", ["alertWindowMinutes", "alertMaxWindowMinutes"])
@pytest.mark.parametrize("minutes", ["0", "-5", "7", "12"])
def test_windows_must_be_whole_aggregate_buckets(key: str, minutes: str) -> None:
    with pytest.raises(SettingsError, match=f"{key} must be a positive multiple of 5"):
        Settings.from_mapping({**MINIMAL, f"autoretrain:{key}": minutes})


def test_live_evaluation_is_off_by_default_with_the_codes_defaults() -> None:
    settings = Settings.from_mapping(MINIMAL)
    assert (settings.control_share, settings.client_id_feature, settings.shadow_enabled) == (0.0, "", False)
    period = ShadowPeriodSettings()
    assert (settings.shadow_min_requests, settings.shadow_min_days) == (period.min_requests, period.min_days)
    assert ServingSettings("stream", "churn").control_share == settings.control_share


def test_live_evaluation_settings_are_read() -> None:
    settings = Settings.from_mapping(
        {
            **MINIMAL,
            "autoretrain:controlShare": "0.1",
            "autoretrain:clientIdFeature": "customer_id",
            "autoretrain:shadowEnabled": "true",
            "autoretrain:shadowMinRequests": "5000",
            "autoretrain:shadowMinDays": "14",
        }
    )
    assert (settings.control_share, settings.client_id_feature, settings.shadow_enabled) == (0.1, "customer_id", True)
    assert (settings.shadow_min_requests, settings.shadow_min_days) == (5000, 14)


@pytest.mark.parametrize("share", ["1", "1.5", "-0.1", "nan"])
def test_a_control_share_outside_zero_to_one_is_refused(share: str) -> None:
    with pytest.raises(SettingsError, match="autoretrain:controlShare must be at least 0"):
        Settings.from_mapping({**MINIMAL, "autoretrain:controlShare": share})


def test_a_control_share_that_is_not_a_number_is_refused_by_key() -> None:
    with pytest.raises(SettingsError, match="autoretrain:controlShare: must be a number"):
        Settings.from_mapping({**MINIMAL, "autoretrain:controlShare": "a tenth"})


def test_a_client_id_feature_that_cannot_be_a_feature_name_is_refused() -> None:
    with pytest.raises(SettingsError, match="autoretrain:clientIdFeature: feature name"):
        Settings.from_mapping({**MINIMAL, "autoretrain:clientIdFeature": "x" * 2000})


@pytest.mark.parametrize("key", ["shadowMinRequests", "shadowMinDays"])
def test_a_shadow_period_of_nothing_is_refused(key: str) -> None:
    with pytest.raises(SettingsError, match=f"autoretrain:{key} must be at least 1"):
        Settings.from_mapping({**MINIMAL, f"autoretrain:{key}": "0"})


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"AUTORETRAIN_CONTROL_SHARE": "1"}, "must be a number in"),
        ({"AUTORETRAIN_CONTROL_SHARE": "ten"}, "must be a number, got"),
        ({"AUTORETRAIN_CONTROL_SHARE": "inf"}, "must be a finite number"),
    ],
)
def test_the_serving_function_refuses_a_bad_control_share(environ: dict[str, str], problem: str) -> None:
    base = {"AUTORETRAIN_PAYLOAD_STREAM": "s", "AUTORETRAIN_MODEL_NAME": "churn"}
    with pytest.raises(MissingSettingError, match=problem):
        ServingSettings.from_env({**base, **environ})
