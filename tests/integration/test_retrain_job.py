"""The retrain job against moto's server: data in S3 and the payload table (loaded by the real ETL handler) in,
a released version with its registry record and release object, or a recorded rejection, out."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.local_runner import s3_object_created_event
from autoretrain.synthetic import FEATURES, TARGET, ConceptShift, generate_churn
from batch_jobs import retrain
from batch_jobs.gate import GateConfig
from batch_jobs.training.quality import QualityConfig
from batch_jobs.training.window import CandidateWindow, WindowConfig
from core.artifacts import ModelManifest, sha256_hex
from core.layout import label_object_key, payload_object_key, release_object_key
from core.model_lifecycle import ModelStatus, Trigger
from core.registry import Registry
from lambdas.payload_etl import handler as etl_handler
from lambdas.payload_etl import reset_cold_start

pytestmark = pytest.mark.integration

MODEL = "churn"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
EventTap = Callable[[], list[dict[str, Any]]]
#: Defaults, but production data is read for 14 days only: each day is one query, and the moto table is slow.
FAST = retrain.RetrainConfig(lookback=timedelta(days=14))


@pytest.fixture
def env(deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("AUTORETRAIN_CODE_VERSION", "v1.2.3-test")
    monkeypatch.setenv("AUTORETRAIN_LABEL_DELAY_DAYS", "7")
    reset_cold_start()
    yield deployed_env
    reset_cold_start()


@pytest.fixture
def events(aws_session: boto3.Session, resources: LocalResources) -> EventTap:
    """Every autoretrain event on the bus, delivered to an SQS queue by a rule (as a subscriber would see them)."""
    sqs = aws_session.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{resources.event_bus}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bridge = aws_session.client("events")
    bridge.put_rule(Name="tap", EventBusName=resources.event_bus, EventPattern=json.dumps({"source": ["autoretrain"]}))
    bridge.put_targets(Rule="tap", EventBusName=resources.event_bus, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def drain() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return drain


def put_training_set(session: boto3.Session, bucket: str, frame: pd.DataFrame) -> None:
    session.client("s3").put_object(
        Bucket=bucket, Key=f"training/{MODEL}/initial.csv", Body=frame.to_csv(index=False).encode()
    )


def load_production(session: boto3.Session, bucket: str, frame: pd.DataFrame, first_day: datetime) -> None:
    """Serve `frame`'s rows as payloads spread evenly over days from `first_day`, labels a day later, and load
    each day's objects through the real payload-ETL handler."""
    per_day = len(frame) // int(frame.attrs["days"])
    times = [first_day + timedelta(days=i // per_day, minutes=i % per_day) for i in range(len(frame))]
    features = frame[list(FEATURES)].astype(object).where(frame[list(FEATURES)].notna(), None).to_dict("records")
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    payloads = [
        {
            "request_id": f"req-{i}",
            "model_name": MODEL,
            "model_version": "20261001T000000Z-abcdef",
            "timestamp": moment.strftime(stamp),
            "features": row,
            "prediction": {"score": 0.5, "label": 1},
        }
        for i, (moment, row) in enumerate(zip(times, features, strict=True))
    ]
    labels = [
        {
            "request_id": f"req-{i}",
            "model_name": MODEL,
            "label": int(y),
            "observed_at": (m + timedelta(1)).strftime(stamp),
        }
        for i, (m, y) in enumerate(zip(times, frame[TARGET], strict=True))
    ]
    s3 = session.client("s3")
    objects: dict[str, list[dict[str, Any]]] = {}  # one object per day: a record's time lies in its key's day
    for document, moment in zip(payloads, times, strict=True):
        objects.setdefault(payload_object_key(MODEL, moment, "replay"), []).append(document)
    for document, moment in zip(labels, times, strict=True):
        objects.setdefault(label_object_key(MODEL, moment + timedelta(1), "replay"), []).append(document)
    for key, documents in objects.items():
        body = "".join(json.dumps(document) + "\n" for document in documents).encode()
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        result = etl_handler(
            s3_object_created_event(bucket, key, size=len(body), etag=etag, event_time=first_day), None
        )
        assert result["objects"][0]["loaded"] == len(documents)


def registry(session: boto3.Session, resources: LocalResources) -> Registry:
    return Registry(session.client("dynamodb"), resources.registry_table)


def run(
    capsys: pytest.CaptureFixture[str],
    now: datetime,
    trigger: str = "initial",
    config: retrain.RetrainConfig = FAST,
) -> dict[str, Any]:
    """Run the job's entry point; return the JSON result it printed."""
    code = retrain.main(["--trigger", trigger, "--reason", "test", "--now", now.isoformat()], config=config)
    assert code == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


def test_initial_retrain_releases_a_complete_version(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    events: EventTap,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_training_set(aws_session, resources.payload_bucket, generate_churn(3000, seed=1))
    result = run(capsys, NOW)
    assert result["outcome"] == "released", result
    record = registry(aws_session, resources).get(MODEL, result["version"])
    s3 = aws_session.client("s3")
    model_key = f"models/{MODEL}/{record.version}/model.pkl"
    stored = s3.get_object(Bucket=resources.model_bucket, Key=model_key, VersionId=str(record.s3_version_id))
    release = s3.get_object(Bucket=resources.model_bucket, Key=release_object_key(MODEL))
    with zipfile.ZipFile(io.BytesIO(release["Body"].read())) as archive:
        release_json = json.loads(archive.read("release.json"))
        manifest = ModelManifest.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
    (released,) = [event["detail"] for event in events() if event["detail-type"] == "ModelReleased"]
    assert (record.status, record.trigger, record.gate_passed, record.code_version) == (
        ModelStatus.RELEASED,
        Trigger.INITIAL,
        True,
        "v1.2.3-test",
    )
    assert record.train_rows == 2400
    assert record.holdout_rows == 600
    assert len(record.data_fingerprint) == 64
    assert record.challenger_metrics["auc"] > 0.7
    assert record.champion_metrics == {}
    assert record.sha256 == sha256_hex(stored["Body"].read()) == manifest.artifact_sha256 == release_json["sha256"]
    assert release_json == {
        "model_name": MODEL,
        "version": record.version,
        "artifact_uri": f"s3://{resources.model_bucket}/{model_key}",
        "sha256": record.sha256,
        "s3_version_id": record.s3_version_id,
        "trigger": "initial",
    }
    assert names == {"release.json", "model.pkl", "manifest.json", "sample.json"}
    assert release["VersionId"] not in (None, "null")
    assert released["version"] == record.version
    assert released["release_s3_version_id"] == release["VersionId"]
    listed = s3.list_objects_v2(Bucket=resources.model_bucket, Prefix=f"models/{MODEL}/{record.version}/")
    assert {item["Key"].rsplit("/", 1)[1] for item in listed["Contents"]} == {
        "model.pkl",
        "manifest.json",
        "reference.parquet",
        "baseline.json",
        "sample.json",
    }


def test_the_default_spec_chooses_a_threshold_the_gates_positive_rate_check_accepts(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ~12 % churn: at a fixed 0.5 the model labels ~3 % of this holdout positive, below the gate's band.
    rarer = generate_churn(5000, seed=2, concept_shift=ConceptShift(intercept_delta=-0.8))
    put_training_set(aws_session, resources.payload_bucket, rarer)

    result = run(capsys, NOW)

    assert result["outcome"] == "released", result
    record = registry(aws_session, resources).get(MODEL, result["version"])
    key = f"models/{MODEL}/{record.version}/manifest.json"
    manifest = ModelManifest.loads(
        aws_session.client("s3").get_object(Bucket=resources.model_bucket, Key=key)["Body"].read()
    )
    chosen = record.evidence["decision_threshold"]
    (positive_rate,) = [check for check in record.gate_details["checks"] if check["name"] == "positive_rate"]
    assert chosen["rule"] == "training_prevalence"
    assert manifest.decision_threshold == pytest.approx(float(chosen["value"]))
    assert float(chosen["training_positive_rate"]) == pytest.approx(float(chosen["training_prevalence"]), abs=1e-3)
    assert positive_rate["passed"] is True


#: Small thresholds for the few hundred production rows these tests load (the moto payload table is slow).
SMALL = retrain.RetrainConfig(
    quality=QualityConfig(min_rows=300, min_class_rows=20),
    gate=GateConfig(min_holdout_rows=120, min_class_rows=15),
    window=WindowConfig(strategy="fixed", fixed=CandidateWindow(28, include_initial=False)),
    lookback=timedelta(days=30),
)


def test_retrain_on_shuffled_labels_is_rejected_and_the_champion_kept(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    events: EventTap,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_training_set(aws_session, resources.payload_bucket, generate_churn(3000, seed=2))
    champion_version = run(capsys, NOW - timedelta(days=30), config=SMALL)["version"]
    store = registry(aws_session, resources)
    store.promote(MODEL, champion_version, "deployed")
    production = generate_churn(22 * 30, seed=3)
    recent = production.index >= 15 * 30  # the newest week (the gate's holdout) keeps its true labels
    rng = np.random.default_rng(0)
    production.loc[~recent, TARGET] = rng.permutation(production.loc[~recent, TARGET].to_numpy())
    production.attrs["days"] = 22
    load_production(aws_session, resources.payload_bucket, production, NOW - timedelta(days=29))
    events()

    result = run(capsys, NOW, trigger="drift", config=SMALL)

    record = store.get(MODEL, result["version"])
    (rejected,) = [event["detail"] for event in events() if event["detail-type"] == "ModelRejected"]
    assert result["outcome"] == "rejected"
    assert record.status is ModelStatus.REJECTED
    assert record.gate_passed is False
    assert any(reason.startswith("non_inferiority") for reason in record.gate_reasons)
    assert record.champion_metrics["auc"] > record.challenger_metrics["auc"] + 0.05
    assert record.evidence["window"]["name"] == "28d"
    assert record.evidence["rows"]["production"] == 22 * 30
    assert rejected == {
        "model_name": MODEL,
        "version": record.version,
        "trigger": "drift",
        "reasons": list(record.gate_reasons),
    }
    champion = store.champion(MODEL)
    assert champion is not None
    assert champion.version == champion_version


def test_mostly_empty_feature_is_refused_before_training(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    events: EventTap,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corrupted = generate_churn(3000, seed=4)
    corrupted.loc[corrupted.index[:2400], "usage_hours"] = np.nan
    put_training_set(aws_session, resources.payload_bucket, corrupted)

    result = run(capsys, NOW)

    record = registry(aws_session, resources).get(MODEL, result["version"])
    listed = aws_session.client("s3").list_objects_v2(Bucket=resources.model_bucket)
    assert result["outcome"] == "rejected"
    assert record.status is ModelStatus.REJECTED
    assert record.sha256 is None
    assert [reason for reason in record.gate_reasons if "usage_hours" in reason] == [
        "quality: missing: feature 'usage_hours' is missing in 81.1% of rows (at most 50% allowed): "
        "corrupted upstream data?"
    ]
    assert listed.get("KeyCount", 0) == 0
    assert [event["detail-type"] for event in events()] == ["ModelRejected"]


def test_cooldown_refuses_a_second_retrain_and_writes_nothing(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    events: EventTap,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_training_set(aws_session, resources.payload_bucket, generate_churn(3000, seed=5))
    run(capsys, NOW)
    events()

    result = run(capsys, NOW + timedelta(hours=3), trigger="schedule")

    assert result["outcome"] == "refused"
    assert result["version"] is None
    assert result["reasons"][0].startswith("cooldown: last retrain 3h ago")
    assert len(registry(aws_session, resources).list_versions(MODEL)) == 1
    assert events() == []


def test_a_retried_run_finishes_without_releasing_twice(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put_training_set(aws_session, resources.payload_bucket, generate_churn(3000, seed=6))
    first = run(capsys, NOW)

    second = run(capsys, NOW)

    versions = aws_session.client("s3").list_object_versions(
        Bucket=resources.model_bucket, Prefix=release_object_key(MODEL)
    )["Versions"]
    assert second["outcome"] == "released"
    assert second["version"] == first["version"]
    assert [version["VersionId"] for version in versions] == [first["release_s3_version_id"]]
