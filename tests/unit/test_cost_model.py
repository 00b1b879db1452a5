"""The cost model on a hand-made profile and stack: monotone in traffic, overhead without the serving compute,
Firehose's 5 KB rounding, Athena's 10 MB minimum, the targets' verdicts, the profile's fit and JSON."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from autoretrain.cost.model import (
    ATHENA_MIN_BYTES,
    DAYS_PER_MONTH,
    FIREHOSE_INCREMENT,
    GB,
    TB,
    Assumptions,
    CostLine,
    Estimate,
    estimate,
    firehose_billed_bytes,
    payload_objects_per_day,
    verdicts,
)
from autoretrain.cost.prices import PRICES, with_overrides
from autoretrain.cost.stack import LambdaFunction, StackInventory, runs_per_day
from autoretrain.cost.usage import LakeScan, Observation, StageProfile, Storage, UsageProfile, fit_stage

RECORD_BYTES = 481.0


def _stage(name: str, driver: str, fixed: dict[str, float], per_unit: dict[str, float] | None = None) -> StageProfile:
    return StageProfile(name, driver, fixed, per_unit or {}, 10, 1.0)


def _profile(*, drift_scan: tuple[float, ...] = (50.0, 10.0), writer: str = "firehose") -> UsageProfile:
    serving_fixed = {"cpu_seconds": 0.01, "aws_calls": 1.0, "log_bytes": 100.0}
    if writer == "firehose":
        serving_fixed |= {"firehose:PutRecordBatch:requests": 1.0, "firehose:PutRecordBatch:records": 1.0}
        serving_unit = {"firehose:PutRecordBatch:record_bytes": RECORD_BYTES, "cpu_seconds": 0.0001}
    else:
        serving_fixed |= {"s3:PutObject:requests": 1.0}
        serving_unit = {"s3:PutObject:request_bytes": RECORD_BYTES, "cpu_seconds": 0.0001}
    etl = {
        "s3:GetObject:requests": 1.0,
        "s3:PutObject:requests": 1.0,
        "dynamodb:BatchWriteItem:write_units": 2.0,
        "dynamodb:BatchWriteItem:item_bytes_written": 500.0,
        "cpu_seconds": 0.05,
        "aws_calls": 5.0,
        "log_bytes": 500.0,
    }
    return UsageProfile(
        measured_at="2026-12-03T00:00:00+00:00",
        replay={"predictions": 1000, "payload_objects": 50, "requests": 50, "hours": 4},
        payload_writer=writer,
        stages={
            "serving": _stage("serving", "instances per request", serving_fixed, serving_unit),
            "etl_payloads": _stage("etl_payloads", "records per object", etl, {"cpu_seconds": 1e-5}),
            "etl_labels": _stage("etl_labels", "labels per object", etl, {"cpu_seconds": 1e-6}),
            "alerting": _stage(
                "alerting",
                "rows read per run",
                {"cpu_seconds": 0.1, "aws_calls": 10.0, "dynamodb:Query:read_units": 5.0},
                {"dynamodb:Query:read_units": 0.01},
            ),
            "drift_check": _stage("drift_check", "run", {"wall_seconds": 5.0, "monitoring:PutMetricData:requests": 2}),
            "retrain": _stage("retrain", "run", {"wall_seconds": 10.0}),
            "compact_lake": _stage("compact_lake", "run", {"wall_seconds": 2.0, "s3:CopyObject:requests": 3.0}),
        },
        storage=Storage(480.0, 80.0, 60.0, 130.0, 20.0, 100.0),
        scans={
            "drift_check": LakeScan(len(drift_scan), drift_scan, 3.0, 1000),
            "retrain": LakeScan(1, (40.0,), 3.0, 1000),
        },
        custom_metrics=5,
        firehose_buffer_seconds=60,
        firehose_buffer_mb=64,
    )


INVENTORY = StackInventory(
    functions={
        "serving": LambdaFunction(1024, "x86_64"),
        "etl": LambdaFunction(768, "arm64"),
        "alerting": LambdaFunction(512, "arm64"),
    },
    job_vcpu=1.0,
    job_memory_mib=4096,
    job_runs_per_day={"drift-check": 1.0, "retrain": 1 / 7, "compact-lake": 24.0},
    alerting_runs_per_day=144.0,
    alert_window_minutes=10,
    alarms=8,
    dashboards=1,
    kms_keys=1,
    email_subscriptions=1,
    pipeline_type="V2",
    pipeline_actions=3,
    codebuild_compute="BUILD_GENERAL1_MEDIUM",
    canary_minutes=10,
    log_retention_days=30,
    object_retention_days=400,
    payload_retention_days=90,
    drift_window_days=7,
    retrain_lookback_days=120,
    firehose_buffer_seconds=60,
    firehose_buffer_mb=64,
)


def _at(volume: float, profile: UsageProfile | None = None, **assumptions: float) -> Estimate:
    return estimate(profile or _profile(), INVENTORY, Assumptions(predictions_per_day=volume, **assumptions))


def _line(result: Estimate, service: str, starts: str) -> CostLine:
    (line,) = [line for line in result.lines if line.service == service and line.item.startswith(starts)]
    return line


def test_cost_and_overhead_never_fall_as_traffic_grows() -> None:
    estimates = [_at(volume) for volume in (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)]
    totals = [item.total for item in estimates]
    overheads = [item.overhead for item in estimates]
    assert totals == sorted(totals)
    assert overheads == sorted(overheads)
    assert totals[-1] > 10 * totals[2]


def test_overhead_is_everything_but_the_serving_functions_own_compute() -> None:
    result = _at(1e6)
    excluded = [line for line in result.lines if not line.overhead]
    assert {(line.service, line.item.split(" ")[0]) for line in excluded} == {("Lambda", "serving")}
    assert {line.item.split(" (")[0] for line in excluded} == {"serving requests", "serving compute"}
    assert result.total - result.overhead == pytest.approx(sum(line.usd for line in excluded))
    waiting = _line(result, "Lambda", "serving waiting on payload logging")
    assert waiting.overhead
    assert waiting.usd > 0


def test_firehose_bills_each_record_rounded_up_to_5_kb() -> None:
    profile = _profile()
    assert firehose_billed_bytes(profile, 1) == FIREHOSE_INCREMENT  # 481 bytes billed as 5 KB
    # 100 instances packed into one record of 48,100 bytes: 10 increments, not 100
    assert firehose_billed_bytes(profile, 100) == 10 * FIREHOSE_INCREMENT
    result = _at(1e6)
    line = _line(result, "Firehose", "ingestion")
    assert line.quantity == pytest.approx(1e6 * FIREHOSE_INCREMENT * DAYS_PER_MONTH / GB)
    assert line.usd == pytest.approx(line.quantity * PRICES["firehose_ingest_gb"].usd)
    batched = _line(_at(1e6, instances_per_request=100), "Firehose", "ingestion")
    assert batched.usd == pytest.approx(line.usd / 10)


def test_athena_charges_at_least_10_mb_a_query() -> None:
    result = _at(100)  # 700 predictions in a drift check's window: far below 10 MB
    runs = INVENTORY.job_runs_per_day["drift-check"] * DAYS_PER_MONTH
    retrains = INVENTORY.job_runs_per_day["retrain"] * DAYS_PER_MONTH
    expected = (2 * runs + retrains) * ATHENA_MIN_BYTES
    assert _line(result, "Athena", "bytes scanned").quantity == pytest.approx(expected / TB)
    busy = _at(1e7)
    scanned = (60.0 * 1e7 * 7 * runs + 40.0 * 1e7 * 120 * retrains) / TB
    assert _line(busy, "Athena", "bytes scanned").quantity == pytest.approx(scanned)


def test_firehose_writes_an_object_per_buffer_interval_or_size_and_serving_one_per_invocation() -> None:
    profile = _profile()
    assert payload_objects_per_day(profile, INVENTORY, 500, 500 * RECORD_BYTES) == 500  # fewer requests than minutes
    assert payload_objects_per_day(profile, INVENTORY, 1e6, 1e6 * RECORD_BYTES) == 1440
    assert payload_objects_per_day(profile, INVENTORY, 1e9, 1e9 * RECORD_BYTES) == pytest.approx(
        1e9 * RECORD_BYTES / (64 * 1024**2)
    )
    direct = _profile(writer="s3")
    assert payload_objects_per_day(direct, INVENTORY, 1e6, 0.0) == 1e6


def test_the_etls_requests_follow_objects_not_predictions() -> None:
    quiet, busy = _at(1e5), _at(1e7)
    assert quiet.facts["payload objects/day"] == busy.facts["payload objects/day"] == 1440
    assert _line(quiet, "S3 requests", "PUT").usd == pytest.approx(_line(busy, "S3 requests", "PUT").usd)


def test_targets_are_judged_at_10k_and_10m_predictions_a_day() -> None:
    def made(volume: float, overhead: float) -> Estimate:
        return Estimate(Assumptions(volume), (CostLine("CloudWatch", "x", 1, "unit", overhead),))

    judged = verdicts([made(10_000, 14.99), made(1_000_000, 1e6), made(10_000_000, 200.01)])
    assert [(item.predictions_per_day, item.limit_usd, item.met) for item in judged] == [
        (10_000, 15.0, True),
        (10_000_000, 200.0, False),
    ]


def test_a_price_override_changes_only_its_line() -> None:
    prices = with_overrides({"cloudwatch_dashboard_month": 6.0})
    base, dearer = _at(1e4), estimate(_profile(), INVENTORY, Assumptions(1e4), prices)
    assert dearer.total - base.total == pytest.approx(3.0)
    with pytest.raises(KeyError):
        with_overrides({"no_such_price": 1.0})


def test_schedules_become_runs_a_day() -> None:
    assert runs_per_day("rate(10 minutes)") == 144
    assert runs_per_day("cron(0 3 * * ? *)") == 1
    assert runs_per_day("cron(0 4 ? * SUN *)") == pytest.approx(1 / 7)


def test_a_stage_is_fitted_as_fixed_plus_per_unit() -> None:
    observations = [Observation(n, {"requests": 2.0, "bytes": 100.0 + 50.0 * n}) for n in (1, 10, 100, 5)]
    stage = fit_stage("etl", "records", observations)
    assert stage.fixed == pytest.approx({"requests": 2.0, "bytes": 100.0})
    assert stage.per_unit == pytest.approx({"bytes": 50.0})
    assert stage.at(1000) == pytest.approx({"requests": 2.0, "bytes": 50_100.0})


def test_the_profile_round_trips_through_json(tmp_path: Path) -> None:
    profile = replace(_profile(), notes=("a note",))
    path = tmp_path / "profile.json"
    profile.save(path)
    assert UsageProfile.load(path) == profile
