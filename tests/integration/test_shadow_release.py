"""Shadow releases through the release pipeline's entry points, against moto's server: a release for a shadow trigger
carries the champion beside it, verify checks both and stages the champion as the answering model and the release as
the shadow, mark-deployed starts the shadow period without changing the champion, and the live evaluation's two
endings (promote: a plain re-release the pipeline makes champion; end: the version retired and the champion re-released
alone) go through the same path."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import boto3
import pytest

from autoretrain.emulator import LocalResources
from batch_jobs.release import SHADOW_ENDED_TRIGGER, Publisher
from batch_jobs.training.adapters import ObjectStore
from core.artifacts import ModelManifest
from core.events import EventBus
from core.layout import MANIFEST_FILE, MODEL_FILE, release_object_key
from core.model_lifecycle import ModelStatus, Trigger
from core.registry import Registry
from core.release_bundle import CHAMPION_FOLDER, RELEASE_FILE, ReleaseManifest
from deploy.cli import main as deploy
from tests.integration.test_release_pipeline import MODEL, extract_release, pipeline_env, release_version

pytestmark = pytest.mark.integration

SHADOWED = frozenset({Trigger.ON_DEMAND})
#: The registry, the champion's version and the version released in shadow beside it.
Shadowed = tuple[Registry, str, str]
__all__ = ["pipeline_env"]  # the deploy commands' environment (a fixture)


def _publisher(session: boto3.Session, resources: LocalResources, registry: Registry) -> Publisher:
    return Publisher(
        ObjectStore(session.client("s3"), resources.model_bucket),
        registry,
        EventBus(session.client("events"), resources.event_bus),
        MODEL,
        shadow_triggers=SHADOWED,
    )


def _verify(release_dir: Path, workdir: Path) -> tuple[int, dict[str, str]]:
    code = deploy(
        [
            "verify",
            "--release-dir", str(release_dir),
            "--model-dir", str(workdir / "model"),
            "--shadow-dir", str(workdir / "shadow"),
            "--env-file", str(workdir / "release.env"),
        ]
    )  # fmt: skip
    exports = {}
    if (workdir / "release.env").exists():
        for line in (workdir / "release.env").read_text().splitlines():
            name, _, value = line.removeprefix("export ").partition("=")
            exports[name] = value.strip("'")
    return code, exports


def _staged_version(directory: Path) -> str:
    return ModelManifest.loads((directory / MANIFEST_FILE).read_bytes()).model_version


@pytest.fixture
def champion_and_shadow(
    pipeline_env: dict[str, str], aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> Shadowed:
    """A champion, and a newer version released for a shadow trigger beside it."""
    registry = Registry(aws_session.client("dynamodb"), resources.registry_table)
    champion = release_version(aws_session, resources, tmp_path, minutes=0)
    registry.promote(MODEL, champion, "deployed earlier")
    shadow = release_version(aws_session, resources, tmp_path, minutes=1, shadow_triggers=SHADOWED)
    return registry, champion, shadow


def test_a_shadow_release_carries_the_champion_and_the_pipeline_stages_both(
    champion_and_shadow: Shadowed, aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    registry, champion, shadow = champion_and_shadow
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    release = ReleaseManifest.loads((release_dir / RELEASE_FILE).read_bytes())

    code, exports = _verify(release_dir, tmp_path)

    assert (release.version, release.shadow_of) == (shadow, champion)
    assert code == 0
    assert _staged_version(tmp_path / "model") == champion  # the image answers with the champion
    assert _staged_version(tmp_path / "shadow") == shadow
    assert exports["SHADOW_OF"] == champion
    assert (exports["SERVING_VERSION"], exports["MODEL_VERSION"]) == (champion, shadow)
    assert exports["IMAGE_TAG"] == f"{shadow}-beside-{champion}"

    (tmp_path / "state.json").write_text(json.dumps({"function_version": "3"}))
    marked = deploy(
        [
            "mark-deployed", "--version", shadow, "--shadow-of", champion,
            "--state-file", str(tmp_path / "state.json"), "--now", "2026-11-02T00:00:00Z",
        ]
    )  # fmt: skip

    assert marked == 0
    assert registry.get(MODEL, shadow).shadow == {
        "champion": champion,
        "started_at": "2026-11-02T00:00:00.000Z",
        "function_version": "3",
    }
    assert registry.get(MODEL, shadow).status is ModelStatus.RELEASED
    assert (registry.champion(MODEL) or registry.get(MODEL, shadow)).version == champion


def test_verify_refuses_a_shadow_release_whose_champion_files_were_tampered_with(
    champion_and_shadow: Shadowed, aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    (release_dir / CHAMPION_FOLDER / MODEL_FILE).write_bytes(b"not the champion")

    code, _ = _verify(release_dir, tmp_path)

    assert code == 1
    assert not (tmp_path / "model").exists()


def test_verify_refuses_a_shadow_release_beside_a_version_that_is_no_longer_champion(
    champion_and_shadow: Shadowed, aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    registry, champion, _ = champion_and_shadow
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    registry.transition(MODEL, champion, ModelStatus.RETIRED, "replaced meanwhile")

    code, _ = _verify(release_dir, tmp_path)

    assert code == 1


def test_a_promoted_shadow_is_re_released_plainly_and_becomes_champion_when_deployed(
    champion_and_shadow: Shadowed, aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    registry, champion, shadow = champion_and_shadow
    publisher = _publisher(aws_session, resources, registry)

    outcome = publisher.promote_shadow(shadow, "better beyond noise on live traffic")
    release_dir = extract_release(aws_session, resources, tmp_path / "release")
    code, exports = _verify(release_dir, tmp_path)
    (tmp_path / "state.json").write_text(json.dumps({"function_version": "4"}))
    marked = deploy(
        ["mark-deployed", "--version", shadow, "--shadow-of", "", "--state-file", str(tmp_path / "state.json")]
    )

    assert outcome.event_detail["shadow_of"] is None
    assert not (release_dir / CHAMPION_FOLDER).exists()
    assert code == 0
    assert exports["SHADOW_OF"] == ""
    assert exports["IMAGE_TAG"] == shadow
    assert _staged_version(tmp_path / "model") == shadow
    assert marked == 0
    assert registry.get(MODEL, shadow).status is ModelStatus.CHAMPION
    assert registry.get(MODEL, champion).status is ModelStatus.RETIRED


def test_an_ended_shadow_is_retired_and_the_champion_re_released_alone(
    champion_and_shadow: Shadowed, aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    registry, champion, shadow = champion_and_shadow
    publisher = _publisher(aws_session, resources, registry)

    publisher.end_shadow(shadow, "not better beyond noise on live traffic")
    body = aws_session.client("s3").get_object(Bucket=resources.model_bucket, Key=release_object_key(MODEL))["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
        release = ReleaseManifest.loads(archive.read(RELEASE_FILE))
        names = archive.namelist()

    assert registry.get(MODEL, shadow).status is ModelStatus.RETIRED
    assert registry.get(MODEL, shadow).history[-1].reason == "shadow ended: not better beyond noise on live traffic"
    assert (release.version, release.shadow_of, release.trigger) == (champion, None, SHADOW_ENDED_TRIGGER)
    assert not any(name.startswith(CHAMPION_FOLDER) for name in names)


def test_a_release_for_a_trigger_that_is_not_shadowed_is_plain(
    deployed_env: dict[str, str], aws_session: boto3.Session, resources: LocalResources, tmp_path: Path
) -> None:
    registry = Registry(aws_session.client("dynamodb"), resources.registry_table)
    champion = release_version(aws_session, resources, tmp_path, minutes=0)
    registry.promote(MODEL, champion, "deployed earlier")
    release_version(aws_session, resources, tmp_path, minutes=1, shadow_triggers=frozenset({Trigger.PERFORMANCE}))

    release_dir = extract_release(aws_session, resources, tmp_path / "release")

    assert ReleaseManifest.loads((release_dir / RELEASE_FILE).read_bytes()).shadow_of is None
