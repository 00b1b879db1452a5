"""`StackSource` against moto's server: registry items, drift-check results and lake files written by the project's
own writers, read back as the dashboard's frames."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from autoretrain.dashboard.sources import SOURCE_ENV, Section, open_source
from autoretrain.dashboard.stack import StackSettings, StackSource
from autoretrain.dashboard.views import PAGES
from autoretrain.emulator import LocalResources
from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfiler
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.monitoring.adapters import ModelBucket
from batch_jobs.monitoring.outputs import DriftCheckResult
from batch_jobs.monitoring.policy import Decision, Outcome, RetrainTrigger, TriggerPolicy
from core.layout import report_object_key, result_object_key, s3_uri
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger
from core.registry import Registry
from tests.lake_files import MODEL, add_feature_columns, write_labels, write_predictions

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "autoretrain" / "dashboard" / "app.py"
T0 = datetime(2026, 3, 2, tzinfo=UTC)
V1, V2 = "20260301T230000Z-aaaaaa", "20260315T040000Z-bbbbbb"
SHA = "ab" * 32


def _candidate(version: str, created: datetime, trigger: Trigger) -> ModelVersionRecord:
    return ModelVersionRecord(
        model_name=MODEL,
        version=version,
        trigger=trigger,
        created_at=created,
        training_start=created - timedelta(days=30),
        training_end=created - timedelta(days=1),
        train_rows=1000,
        holdout_rows=200,
        data_fingerprint="sha256:" + "0f" * 32,
        code_version="git:abc",
    )


def _release(registry: Registry, version: str, created: datetime, trigger: Trigger, auc: float) -> None:
    registry.register_candidate(_candidate(version, created, trigger))
    registry.record_metrics(MODEL, version, challenger={"auc": auc}, champion={"auc": 0.8})
    registry.record_gate_decision(MODEL, version, passed=True, reasons=[f"better beyond noise: auc {auc}"])
    registry.record_artifact(MODEL, version, uri=f"s3://models/models/{MODEL}/{version}/model.pkl", sha256=SHA)
    registry.transition(MODEL, version, ModelStatus.RELEASED, "gate passed")
    registry.promote(MODEL, version, "deployed")


def _result(run_id: str, at: datetime, bucket: str, shifted: bool) -> DriftCheckResult:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"age": rng.normal(size=400), "charges": rng.normal(size=400)})
    current = pd.DataFrame({"age": rng.normal(1.0 if shifted else 0.0, size=400), "charges": rng.normal(size=400)})
    scores = rng.random(400)
    profile = ReferenceProfiler().fit(reference, scores=scores, holdout_metrics={"auc": 0.8}).profile_
    config = DriftConfig(multivariate=False, n_bootstrap=50)
    drift = DriftSuite(config).run(profile, current, rng.random(400))
    performance = evaluate_performance(
        (rng.random(400) < scores).astype(float), scores, profile.holdout_metrics, config
    )
    return DriftCheckResult(
        model_name=MODEL,
        run_id=run_id,
        champion_version=V1,
        checked_at=at,
        verdict="drift" if drift.dataset_drift else "no_drift",
        summary="a check",
        window={"start": "a", "end": "b", "n_rows": 400},
        matured_window={"start": "a", "end": "b", "n_rows": 400, "n_labelled": 400, "label_delay_days": 7},
        min_rows=200,
        drift=drift,
        performance=performance,
        performance_decay=performance.decay,
        decision=Decision(
            retrain_requested=False,
            outcome=Outcome.NO_DECISION,
            trigger=None if not shifted else RetrainTrigger.DRIFT,
            reason="one check",
            streak=1,
            requests_in_period=0,
            last_request_at=None,
        ),
        policy=TriggerPolicy(),
        report_uri=s3_uri(bucket, report_object_key(MODEL, run_id)),
        result_uri=s3_uri(bucket, result_object_key(MODEL, run_id)),
    )


@pytest.fixture
def stack_source(aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]) -> StackSource:
    registry = Registry(aws_session.client("dynamodb"), resources.registry_table)
    _release(registry, V1, T0 - timedelta(hours=1), Trigger.INITIAL, 0.81)
    _release(registry, V2, T0 + timedelta(days=13), Trigger.DRIFT, 0.84)
    registry.transition(
        MODEL, V1, ModelStatus.RELEASED, f"rollback from {V2}: drill", expected_from=ModelStatus.RETIRED
    )
    registry.promote(MODEL, V1, "rolled back")

    bucket = ModelBucket(aws_session.client("s3"))
    for day, shifted in ((1, False), (2, True)):
        run_id = f"2026030{day + 1}T030000Z"
        result = _result(run_id, T0 + timedelta(days=day, hours=3), resources.model_bucket, shifted)
        bucket.put_text(
            resources.model_bucket, result_object_key(MODEL, run_id), json.dumps(result.to_json()), "application/json"
        )
        bucket.put_text(resources.model_bucket, report_object_key(MODEL, run_id), "<html></html>", "text/html")

    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    rows = [
        {"request_id": f"r{i}", "ts": T0 + timedelta(minutes=10 * i), "age": float(i), "score": 0.05 + 0.9 * (i % 2)}
        for i in range(60)
    ]
    write_predictions(aws_session, resources.payload_bucket, rows)
    write_labels(aws_session, resources.payload_bucket, [(f"r{i}", i % 2, T0 + timedelta(days=8)) for i in range(50)])
    return StackSource(aws_session, StackSettings.from_env(deployed_env), clock=lambda: T0 + timedelta(days=10))


def test_operations_come_from_the_registry(stack_source: StackSource) -> None:
    ops = stack_source.operations()

    assert ops.retrains["version"].tolist() == [V1, V2]
    assert ops.retrains["outcome"].tolist() == ["champion", "retired"]
    assert ops.gate_decisions["challenger_auc"].tolist() == [0.81, 0.84]
    assert ops.rollbacks[["from_version", "to_version"]].to_dict("records") == [{"from_version": V2, "to_version": V1}]
    released = ops.releases.loc[ops.releases["status"] == "champion", "version"].tolist()
    assert released == [V1, V2, V1]
    assert ops.alerts is None


def test_drift_checks_come_from_the_stored_results(stack_source: StackSource) -> None:
    checks = stack_source.drift_checks()
    shift = stack_source.feature_shift()

    assert checks["verdict"].tolist() == ["no_drift", "drift"]
    assert checks["realised_auc"].notna().all()
    assert set(shift["feature"]) == {"age", "charges"}
    drifted = shift.loc[shift["drifted"], ["at", "feature"]]
    assert drifted["feature"].tolist() == ["age"]
    assert drifted["at"].tolist() == [pd.Timestamp(T0 + timedelta(days=2, hours=3))]
    assert shift["effect_size"].notna().all()


def test_labelled_predictions_come_from_the_lake(stack_source: StackSource) -> None:
    predictions = stack_source.predictions()

    assert len(predictions) == 50  # the ten unlabelled ones are not read
    assert predictions["label"].tolist() == [i % 2 for i in range(50)]
    assert predictions["score"].tolist() == pytest.approx([0.05 + 0.9 * (i % 2) for i in range(50)])


def test_sections_a_stack_does_not_keep_are_absent(stack_source: StackSource) -> None:
    assert stack_source.section(Section.BUSINESS_IMPACT) is None
    assert stack_source.section(Section.SHADOW) is None


def test_the_stack_scheme_opens_a_stack_source(deployed_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOURCE_ENV, "stack:")

    source = open_source("stack:", deployed_env)

    assert isinstance(source, StackSource)
    assert "churn" in source.label


@pytest.mark.parametrize("page", [page.slug for page in PAGES])
def test_every_page_runs_over_a_stack(stack_source: StackSource, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOURCE_ENV, "stack:")
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.query_params["page"] = page

    app.run()

    assert not app.exception
    assert not app.error
    assert app.header[0].value == next(item.title for item in PAGES if item.slug == page)


def test_a_read_is_reused_until_the_refresh_period_passes(
    stack_source: StackSource, aws_session: boto3.Session, resources: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = stack_source.drift_checks()
    aws_session.client("s3").delete_object(
        Bucket=resources.model_bucket, Key=result_object_key(MODEL, "20260303T030000Z")
    )

    assert len(stack_source.drift_checks()) == len(before) == 2
    monkeypatch.setattr("autoretrain.dashboard.stack.REFRESH_SECONDS", -1.0)
    assert len(stack_source.drift_checks()) == 1
