"""`autoretrain rollback --to VERSION` against moto's server: an earlier, retired version is re-released through the
release path, recorded in the registry and on the bus, and the pipeline's steps deploy it again."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from autoretrain.emulator import LocalResources
from autoretrain.synthetic import generate_churn
from batch_jobs import release, retrain
from core.events import EventBus
from core.layout import release_object_key
from core.model_lifecycle import ModelStatus
from core.registry import Registry
from deploy.marking import mark_deployed
from deploy.verify import verify_release

pytestmark = pytest.mark.integration

MODEL = "churn"
NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
FAST = retrain.RetrainConfig(lookback=timedelta(days=14))


@pytest.fixture
def env(deployed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("AUTORETRAIN_CODE_VERSION", "v1.2.3-test")
    return deployed_env


@pytest.fixture
def tap(aws_session: boto3.Session, resources: LocalResources) -> str:
    """An SQS queue receiving every autoretrain event on the bus; returns its URL."""
    sqs = aws_session.client("sqs")
    url = sqs.create_queue(QueueName=f"{resources.event_bus}-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bridge = aws_session.client("events")
    bridge.put_rule(Name="tap", EventBusName=resources.event_bus, EventPattern=json.dumps({"source": ["autoretrain"]}))
    bridge.put_targets(Rule="tap", EventBusName=resources.event_bus, Targets=[{"Id": "q", "Arn": arn}])
    return str(url)


def drain(session: boto3.Session, url: str) -> list[dict[str, Any]]:
    sqs, received = session.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return received


def deployed_versions(
    session: boto3.Session, resources: LocalResources, capsys: pytest.CaptureFixture[str], count: int = 2
) -> list[str]:
    """`count` retrains, each deployed: the last is champion, the earlier ones retired."""
    s3 = session.client("s3")
    registry = Registry(session.client("dynamodb"), resources.registry_table)
    bus = EventBus(session.client("events"), resources.event_bus)
    versions = []
    # The second retrain has new data (a new initial set) and a reason to replace the champion (decay), as a
    # retrain must to be released.
    for seed, (trigger, now) in enumerate((("initial", NOW - timedelta(days=3)), ("performance", NOW))[:count], 11):
        s3.put_object(
            Bucket=resources.payload_bucket,
            Key=f"training/{MODEL}/initial.csv",
            Body=generate_churn(3000, seed=seed).to_csv(index=False).encode(),
        )
        assert retrain.main(["--trigger", trigger, "--now", now.isoformat()], config=FAST) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["outcome"] == "released", result
        mark_deployed(registry, bus, model_name=MODEL, version=result["version"], function_version="1", alias="live")
        versions.append(result["version"])
    return versions


@pytest.mark.usefixtures("env")
def test_rollback_re_releases_the_retired_version_and_the_pipeline_deploys_it(
    aws_session: boto3.Session,
    resources: LocalResources,
    tap: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = deployed_versions(aws_session, resources, capsys)
    drain(aws_session, tap)
    registry = Registry(aws_session.client("dynamodb"), resources.registry_table)

    assert release.main(["--to", first, "--reason", "complaints about the new model"]) == 0

    restored = registry.get(MODEL, first)
    s3 = aws_session.client("s3")
    newest = s3.get_object(Bucket=resources.model_bucket, Key=release_object_key(MODEL))
    zipfile.ZipFile(io.BytesIO(newest["Body"].read())).extractall(tmp_path)
    release_json = json.loads((tmp_path / "release.json").read_text())
    history = s3.list_object_versions(Bucket=resources.model_bucket, Prefix=release_object_key(MODEL))["Versions"]
    (event,) = drain(aws_session, tap)
    assert restored.status is ModelStatus.RELEASED
    assert restored.history[-1].reason == f"rollback from {second}: complaints about the new model"
    assert release_json["version"] == first
    assert release_json["sha256"] == restored.sha256
    assert release_json["trigger"] == "rollback"
    assert len(history) == 3
    assert event["detail-type"] == "ModelRolledBack"
    assert event["detail"] == {
        "model_name": MODEL,
        "to_version": first,
        "from_version": second,
        "reason": "complaints about the new model",
    }
    assert verify_release(tmp_path, registry, MODEL).release.version == first
    mark_deployed(
        registry,
        EventBus(aws_session.client("events"), resources.event_bus),
        model_name=MODEL,
        version=first,
        function_version="3",
        alias="live",
    )
    champion = registry.champion(MODEL)
    assert champion is not None
    assert champion.version == first
    assert registry.get(MODEL, second).status is ModelStatus.RETIRED


def test_rollback_to_the_champion_is_refused_and_writes_nothing(
    env: dict[str, str],
    aws_session: boto3.Session,
    resources: LocalResources,
    tap: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (champion,) = deployed_versions(aws_session, resources, capsys, count=1)
    drain(aws_session, tap)

    code = release.main(["--to", champion])

    output = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    history = aws_session.client("s3").list_object_versions(
        Bucket=resources.model_bucket, Prefix=release_object_key(MODEL)
    )["Versions"]
    assert code == 1
    assert output["rolled_back"] is False
    assert "is champion" in output["reason"]
    assert len(history) == 1
    assert drain(aws_session, tap) == []
