"""`verify`: does the release zip carry exactly the artefact the registry released? Fail closed."""

from __future__ import annotations

import hashlib
import hmac
import json
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.artifacts import ARTIFACT_FILES, ArtifactError, ModelManifest
from core.layout import MANIFEST_FILE, MODEL_FILE
from core.model_lifecycle import ModelStatus, VersionNotFoundError
from core.registry import Registry
from core.release_bundle import CHAMPION_FOLDER, RELEASE_FILE, ReleaseError, ReleaseManifest

#: A released version may be deployed; a champion may be deployed again (a retried pipeline run).
DEPLOYABLE = frozenset({ModelStatus.RELEASED, ModelStatus.CHAMPION})


class VerificationError(ReleaseError):
    """The release does not match the registry: it must not be deployed."""


@dataclass(frozen=True, slots=True)
class VerifiedRelease:
    """A release that matched the registry; a shadow release's `champion` too (its files under `CHAMPION_FOLDER`)."""

    release: ReleaseManifest
    manifest: ModelManifest
    status: ModelStatus
    champion: ModelManifest | None = None

    @property
    def primary(self) -> ModelManifest:
        """The model the image answers with: the champion of a shadow release, else the released version."""
        return self.champion or self.manifest


def _read(directory: Path, name: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except FileNotFoundError as error:
        raise VerificationError(f"the release has no {name}") from error


def verify_release(release_dir: Path, registry: Registry, model_name: str) -> VerifiedRelease:
    """Check the release in `release_dir` against the registry; raise VerificationError on any doubt.

    model.pkl's SHA-256 must equal the registry's record, release.json's and the manifest's; the record must be
    released (or champion), of this model, with the same artefact URI and S3 version id as release.json. A shadow
    release's champion files must be those of the registry's current champion, named by `shadow_of`.
    """
    try:
        release = ReleaseManifest.loads(_read(release_dir, RELEASE_FILE))
        manifest = ModelManifest.loads(_read(release_dir, MANIFEST_FILE))
    except (ReleaseError, ArtifactError) as error:
        raise VerificationError(str(error)) from error
    status = _verify_artifact(release_dir, release, manifest, registry, model_name)
    if release.shadow_of is None:
        return VerifiedRelease(release, manifest, status)
    champion = _verify_champion(release_dir, model_name, release.shadow_of, registry)
    return VerifiedRelease(release, manifest, status, champion)


def _verify_champion(release_dir: Path, model_name: str, version: str, registry: Registry) -> ModelManifest:
    """The champion files of a shadow release: the registry's champion, hashing to its recorded SHA-256."""
    directory = release_dir / CHAMPION_FOLDER
    try:
        manifest = ModelManifest.loads(_read(directory, MANIFEST_FILE))
        record = registry.get(model_name, version)
    except (ArtifactError, VersionNotFoundError, ValueError) as error:
        raise VerificationError(f"the shadow release's champion {version}: {error}") from error
    if manifest.model_name != model_name or manifest.model_version != version:
        raise VerificationError(f"the shadow release's champion files are not {model_name} {version}")
    if record.status is not ModelStatus.CHAMPION:
        raise VerificationError(f"the shadow release runs beside {version}, which is {record.status}, not champion")
    actual = hashlib.sha256(_read(directory, MODEL_FILE)).hexdigest()
    for source, expected in (("the registry", record.sha256 or ""), (MANIFEST_FILE, manifest.artifact_sha256)):
        if not hmac.compare_digest(actual, expected):
            raise VerificationError(f"the champion's {MODEL_FILE} has SHA-256 {actual}, {source} says {expected}")
    return manifest


def _verify_artifact(
    release_dir: Path, release: ReleaseManifest, manifest: ModelManifest, registry: Registry, model_name: str
) -> ModelStatus:
    if release.model_name != model_name or manifest.model_name != model_name:
        raise VerificationError(f"the release is for {release.model_name!r}, this pipeline deploys {model_name!r}")
    if manifest.model_version != release.version:
        raise VerificationError(f"manifest version {manifest.model_version} is not release {release.version}")
    try:
        record = registry.get(model_name, release.version)
    except (VersionNotFoundError, ValueError) as error:
        raise VerificationError(f"{model_name} {release.version} is not in the registry: {error}") from error
    if record.status not in DEPLOYABLE:
        raise VerificationError(f"{model_name} {release.version} is {record.status}, not released: not deployed")
    if not record.sha256:
        raise VerificationError(f"{model_name} {release.version} has no recorded SHA-256")
    actual = hashlib.sha256(_read(release_dir, MODEL_FILE)).hexdigest()
    for source, expected in (
        ("the registry", record.sha256),
        (RELEASE_FILE, release.sha256),
        (MANIFEST_FILE, manifest.artifact_sha256),
    ):
        if not hmac.compare_digest(actual, expected):
            raise VerificationError(f"{MODEL_FILE} has SHA-256 {actual}, {source} says {expected}: not deployed")
    if (record.artifact_uri, record.s3_version_id) != (release.artifact_uri, release.s3_version_id):
        raise VerificationError(
            f"{RELEASE_FILE} names {release.artifact_uri} ({release.s3_version_id}), the registry "
            f"{record.artifact_uri} ({record.s3_version_id})"
        )
    return record.status


def _copy(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        shutil.copyfile(source / name, target / name)


def stage_model(release_dir: Path, model_dir: Path, verified: VerifiedRelease, shadow_dir: Path | None = None) -> None:
    """Copy the artefacts' files (model.pkl and manifest.json only) for the image build: the answering model into
    `model_dir` (MODEL_DIR), and for a shadow release the champion there and the released version into
    `shadow_dir` (SHADOW_DIR; VerificationError without one)."""
    if verified.champion is None:
        _copy(release_dir, model_dir)
        return
    if shadow_dir is None:
        raise VerificationError(f"{verified.release.version} is a shadow release: give --shadow-dir")
    _copy(release_dir / CHAMPION_FOLDER, model_dir)
    _copy(release_dir, shadow_dir)


def shell_exports(verified: VerifiedRelease) -> str:
    """`export NAME=value` lines for the buildspec (values quoted, though versions and hashes need no quoting).

    `MODEL_*` name the released version; `SERVING_*` the model the image answers with (the champion of a shadow
    release, `SHADOW_OF` non-empty, else the same version); `IMAGE_TAG` the image (a shadow release's image differs
    from the plain release of the same version that a promotion deploys)."""
    release, primary = verified.release, verified.primary
    values = {
        "MODEL_VERSION": release.version,
        "MODEL_SHA256": release.sha256,
        "RELEASE_TRIGGER": release.trigger,
        "SHADOW_OF": release.shadow_of or "",
        "SERVING_VERSION": primary.model_version,
        "SERVING_SHA256": primary.artifact_sha256,
        "IMAGE_TAG": release.version if release.shadow_of is None else f"{release.version}-beside-{release.shadow_of}",
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())


def summary(verified: VerifiedRelease) -> str:
    """One JSON line for the build log."""
    return json.dumps({"verified": True, **verified.release.to_json(), "status": verified.status.value})
