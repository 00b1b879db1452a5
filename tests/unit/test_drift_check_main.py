"""The drift-check entry point's arguments, settings and exit codes (no AWS needed: it fails before any call)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autoretrain.cli import main as cli_main
from batch_jobs.drift_check import build_parser, main
from batch_jobs.monitoring.pipeline import DriftCheckRequest, run_id_for
from batch_jobs.monitoring.policy import TriggerPolicy
from core.settings import DriftCheckSettings, EnvVar, MissingSettingError

REQUIRED = {
    EnvVar.MODEL_BUCKET.value: "models",
    EnvVar.PAYLOAD_TABLE.value: "payloads",
    EnvVar.REGISTRY_TABLE.value: "registry",
    EnvVar.EVENT_BUS.value: "bus",
    EnvVar.MODEL_NAME.value: "churn",
}


def test_now_without_an_offset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--now", "2026-12-01T03:00:00"])
    assert exit_info.value.code == 2
    assert "has no UTC offset" in capsys.readouterr().err


def test_now_accepts_the_scheduler_time_format() -> None:
    arguments = build_parser().parse_args(["--now", "2026-12-01T03:00:00Z", "--window-days", "3"])
    assert (arguments.now, arguments.window_days) == (datetime(2026, 12, 1, 3, tzinfo=UTC), 3)


def test_a_missing_setting_fails_with_exit_code_1_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in EnvVar:
        monkeypatch.delenv(name.value, raising=False)
    assert main(["--now", "2026-12-01T03:00:00Z"]) == 1
    assert EnvVar.MODEL_BUCKET.value in caplog.text


def test_settings_default_to_a_week_window_and_the_policy_defaults() -> None:
    settings = DriftCheckSettings.from_env(REQUIRED)
    assert (settings.window_days, settings.label_delay_days) == (7, 7)
    assert (settings.consecutive_checks, settings.cooldown_days, settings.max_retrains, settings.cap_period_days) == (
        2,
        3,
        2,
        14,
    )


def test_a_cap_of_zero_retrains_is_refused() -> None:
    with pytest.raises(MissingSettingError, match=EnvVar.RETRAIN_CAP.value):
        DriftCheckSettings.from_env({**REQUIRED, EnvVar.RETRAIN_CAP.value: "0"})


def test_the_run_id_is_the_check_time_so_a_retry_reuses_it() -> None:
    moment = datetime(2026, 12, 1, 3, 0, 0, 999_000, tzinfo=UTC)
    request = DriftCheckRequest("churn", moment, 7, 7, TriggerPolicy())
    assert request.run_id == run_id_for(moment) == "20261201T030000Z"


def test_the_job_is_an_autoretrain_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["drift-check", "--help"])
    assert exit_info.value.code == 0
    assert build_parser().format_usage().split()[1:3] == capsys.readouterr().out.split()[1:3]
