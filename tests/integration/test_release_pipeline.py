"""The release pipeline's entry points (`python -m deploy ...`, run by buildspec.yml) against moto's
server: verify fails closed, the alias moves (all at once, or a canary that an alarm rolls back), the registry
and the bus record the deployment."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.synthetic import generate_churn
from batch_jobs import model_spec
from batch_jobs.release import Publisher
from batch_jobs.training.adapters import ObjectStore
from core.artifacts import write_artifact
from core.events import EventBus
from core.layout import VERSION_FILES, release_object_key
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger
from core.registry import Registry
from deploy.alias import CanaryPlan, ServingFunction, shift_alias
from deploy.cli import main as deploy

pytestmark = pytest.mark.integration

MODEL = "churn"
FUNCTION = "serving"
REPOSITORY = "autoretrain-serving"
CREATED = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def release_version(
    session: boto3.Session,
    resources: LocalResources,
    workdir: Path,
    minutes: int = 0,
    *,
    shadow_triggers: frozenset[Trigger] = frozenset(),
) -> str:
    """A small model released the way the retrain job releases one (in shadow beside the champion when its trigger,
    on_demand, is in `shadow_triggers`); returns its version."""
    frame = generate_churn(400, seed=minutes)
    schema = model_spec.infer_input_schema(frame, all_nullable=True)
    estimator = model_spec.build_model(schema).fit(model_spec.feature_frame(frame, schema), frame["churned"])
    directory = workdir / f"v{minutes}"
    created = CREATED + timedelta(minutes=minutes)
    manifest = write_artifact(
        directory, estimator, model_name=MODEL, input_schema=schema, decision_threshold=0.5, created_at=created
    )
    for name in VERSION_FILES:
        if not (directory / name).exists():
            (directory / name).write_text("{}")
    registry = Registry(session.client("dynamodb"), resources.registry_table)
    record = registry.register_candidate(
        ModelVersionRecord(
            model_name=MODEL,
            version=manifest.model_version,
            trigger=Trigger.ON_DEMAND,
            created_at=created,
            training_start=created,
            training_end=created,
            train_rows=400,
            holdout_rows=0,
            data_fingerprint="0" * 64,
            code_version="test",
        )
    )
    registry.record_gate_decision(MODEL, record.version, passed=True, reasons=["passed"])
    publisher = Publisher(
        ObjectStore(session.client("s3"), resources.model_bucket),
        registry,
        EventBus(session.client("events"), resources.event_bus),
        MODEL,
        shadow_triggers=shadow_triggers,
    )
    publisher.release(registry.get(MODEL, record.version), directory)
    return manifest.model_version


def extract_release(session: boto3.Session, resources: LocalResources, target: Path) -> Path:
    body = session.client("s3").get_object(Bucket=resources.model_bucket, Key=release_object_key(MODEL))["Body"]
    zipfile.ZipFile(io.BytesIO(body.read())).extractall(target)
    return target


@pytest.fixture
def pipeline_env(deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AUTORETRAIN_SERVING_FUNCTION", FUNCTION)
    monkeypatch.setenv("AUTORETRAIN_SERVING_ALIAS", "live")
    return deployed_env


@pytest.fixture
def serving(aws_session: boto3.Session, pipeline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An ECR repository and the image-based serving function with its alias on version 1 (the bootstrap image)."""
    ecr = aws_session.client("ecr")
    repository = ecr.create_repository(repositoryName=REPOSITORY)["repository"]["repositoryUri"]
    monkeypatch.setenv("AUTORETRAIN_ECR_REPOSITORY_URI", repository)
    role = aws_session.client("iam").create_role(
        RoleName=f"serving-{pipeline_env['AUTORETRAIN_MODEL_BUCKET']}"[:64],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    functions = aws_session.client("lambda")
    created = functions.create_function(
        FunctionName=FUNCTION,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": f"{repository}:bootstrap"},
        Publish=True,
    )
    functions.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=created["Version"])
    yield repository
    functions.delete_function(FunctionName=FUNCTION)
    ecr.delete_repository(repositoryName=REPOSITORY, force=True)


def push_image(session: boto3.Session, tag: str) -> str:
    """Register an image under `tag` in ECR (what `docker push` does); returns its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": f"sha256:{tag[-6:]:0>64}", "size": 1, "mediaType": "application/json"},
        "layers": [],
    }
    image = session.client("ecr").put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag=tag)
    return str(image["image"]["imageId"]["imageDigest"])


def alias_of(session: boto3.Session) -> dict[str, Any]:
    return dict(session.client("lambda").get_alias(FunctionName=FUNCTION, Name="live"))


def test_verify_accepts_the_released_artefact_and_stages_only_the_model(
    pipeline_env: dict[str, str], aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    version = release_version(aws_session, resources, tmp_path)
    release_dir = extract_release(aws_session, resources, tmp_path / "release")

    code = deploy(
        [
            "verify",
            "--release-dir",
            str(release_dir),
            "--model-dir",
            str(tmp_path / "model"),
            "--env-file",
            str(tmp_path / "release.env"),
        ]
    )

    assert code == 0
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == ["manifest.json", "model.pkl"]
    assert f"export MODEL_VERSION={version}\n" in (tmp_path / "release.env").read_text()


def test_verify_refuses_a_tampered_model(
    pipeline_env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    release_version(aws_session, resources, tmp_path)
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    with (release_dir / "model.pkl").open("ab") as model:
        model.write(b"\x00")

    code = deploy(
        [
            "verify",
            "--release-dir",
            str(release_dir),
            "--model-dir",
            str(tmp_path / "model"),
            "--env-file",
            str(tmp_path / "release.env"),
        ]
    )

    assert code == 1
    assert "SHA-256" in capsys.readouterr().out
    assert not (tmp_path / "model").exists()
    assert not (tmp_path / "release.env").exists()


def test_verify_refuses_a_version_that_is_no_longer_released(
    pipeline_env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    version = release_version(aws_session, resources, tmp_path)
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    Registry(aws_session.client("dynamodb"), resources.registry_table).transition(
        MODEL, version, ModelStatus.RETIRED, "withdrawn"
    )

    code = deploy(
        [
            "verify",
            "--release-dir",
            str(release_dir),
            "--model-dir",
            str(tmp_path / "model"),
            "--env-file",
            str(tmp_path / "release.env"),
        ]
    )

    assert code == 1
    assert "is retired, not released" in capsys.readouterr().out


def test_shift_alias_moves_the_alias_to_the_image_digest_and_records_the_previous_version(
    serving: str, aws_session: boto3.Session, tmp_path: Path
) -> None:
    digest = push_image(aws_session, "20261101T030000Z-abcdef")

    code = deploy(
        [
            "shift-alias",
            "--image-tag",
            "20261101T030000Z-abcdef",
            "--version",
            "20261101T030000Z-abcdef",
            "--state-file",
            str(tmp_path / "state.json"),
        ]
    )

    state = json.loads((tmp_path / "state.json").read_text())
    function = aws_session.client("lambda").get_function(FunctionName=FUNCTION, Qualifier="live")
    assert code == 0
    assert state == {
        "function_version": "2",
        "previous_function_version": "1",
        "image_uri": f"{serving}@{digest}",
        "mode": "all-at-once",
    }
    assert alias_of(aws_session)["FunctionVersion"] == "2"
    assert function["Code"]["ImageUri"] == f"{serving}@{digest}"


def test_canary_is_rolled_back_when_an_alarm_fires(
    serving: str, aws_session: boto3.Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloudwatch = aws_session.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="serving-errors",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="serving-errors", StateValue="ALARM", StateReason="test")
    monkeypatch.setenv("AUTORETRAIN_DEPLOY_ALARMS", "serving-errors")
    monkeypatch.setenv("AUTORETRAIN_CANARY_PERCENT", "10")
    monkeypatch.setenv("AUTORETRAIN_CANARY_MINUTES", "5")
    push_image(aws_session, "20261101T030000Z-abcdef")

    code = deploy(
        [
            "shift-alias",
            "--image-tag",
            "20261101T030000Z-abcdef",
            "--version",
            "20261101T030000Z-abcdef",
            "--state-file",
            str(tmp_path / "state.json"),
        ]
    )

    alias = alias_of(aws_session)
    assert code == 1
    assert alias["FunctionVersion"] == "1"
    assert alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}
    assert not (tmp_path / "state.json").exists()


def test_canary_completes_when_the_alarms_stay_quiet(serving: str, aws_session: boto3.Session) -> None:
    aws_session.client("cloudwatch").put_metric_alarm(
        AlarmName="serving-quiet",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    digest = push_image(aws_session, "20261101T030000Z-abcdef")
    now = [0.0]
    weights_seen: list[dict[str, float]] = []

    def sleep(seconds: float) -> None:
        weights_seen.append(dict(alias_of(aws_session)["RoutingConfig"]["AdditionalVersionWeights"]))
        now[0] += seconds

    function = ServingFunction(aws_session.client("lambda"), aws_session.client("cloudwatch"), FUNCTION)
    result = shift_alias(
        function,
        alias="live",
        image_uri=f"{serving}@{digest}",
        description="churn v",
        canary=CanaryPlan(percent=10, bake_seconds=60, alarms=("serving-quiet",), poll_seconds=30),
        sleep=sleep,
        clock=lambda: now[0],
    )

    assert (result.function_version, result.previous_function_version) == ("2", "1")
    assert weights_seen == [{"2": 0.1}, {"2": 0.1}]
    assert alias_of(aws_session)["FunctionVersion"] == "2"
    assert alias_of(aws_session).get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}


def test_mark_deployed_makes_the_version_champion_retires_the_previous_and_emits_model_deployed(
    pipeline_env: dict[str, str], aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    sqs = aws_session.client("sqs")
    url = sqs.create_queue(QueueName=f"{resources.event_bus}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bridge = aws_session.client("events")
    bridge.put_rule(
        Name="deployed", EventBusName=resources.event_bus, EventPattern=json.dumps({"detail-type": ["ModelDeployed"]})
    )
    bridge.put_targets(Rule="deployed", EventBusName=resources.event_bus, Targets=[{"Id": "q", "Arn": arn}])
    registry = Registry(aws_session.client("dynamodb"), resources.registry_table)
    old = release_version(aws_session, resources, tmp_path, minutes=0)
    registry.promote(MODEL, old, "deployed earlier")
    new = release_version(aws_session, resources, tmp_path, minutes=1)
    (tmp_path / "state.json").write_text(json.dumps({"function_version": "7", "previous_function_version": "6"}))

    code = deploy(["mark-deployed", "--version", new, "--state-file", str(tmp_path / "state.json")])

    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert code == 0
    champion = registry.champion(MODEL)
    assert champion is not None
    assert champion.version == new
    assert registry.get(MODEL, old).status is ModelStatus.RETIRED
    assert json.loads(message["Body"])["detail"] == {
        "model_name": MODEL,
        "version": new,
        "previous_version": old,
        "function_version": "7",
        "alias": "live",
    }
