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
from core.release_bundle import RELEASE_FILE, ReleaseError, ReleaseManifest

#: A released version may be deployed; a champion may be deployed again (a retried pipeline run).
DEPLOYABLE = frozenset({ModelStatus.RELEASED, ModelStatus.CHAMPION})


class VerificationError(ReleaseError):
    """The release does not match the registry: it must not be deployed."""


@dataclass(frozen=True, slots=True)
class VerifiedRelease:
    """A release that matched the registry."""

    release: ReleaseManifest
    manifest: ModelManifest
    status: ModelStatus


def _read(directory: Path, name: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except FileNotFoundError as error:
        raise VerificationError(f"the release has no {name}") from error


def verify_release(release_dir: Path, registry: Registry, model_name: str) -> VerifiedRelease:
    """Check the release in `release_dir` against the registry; raise VerificationError on any doubt.

    model.pkl's SHA-256 must equal the registry's record, release.json's and the manifest's; the record must be
    released (or champion), of this model, with the same artefact URI and S3 version id as release.json.
    """
    try:
        release = ReleaseManifest.loads(_read(release_dir, RELEASE_FILE))
        manifest = ModelManifest.loads(_read(release_dir, MANIFEST_FILE))
    except (ReleaseError, ArtifactError) as error:
        raise VerificationError(str(error)) from error
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
    return VerifiedRelease(release, manifest, record.status)


def stage_model(release_dir: Path, model_dir: Path) -> None:
    """Copy the artefact's files (model.pkl and manifest.json only) into `model_dir`, the image build's MODEL_DIR."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        shutil.copyfile(release_dir / name, model_dir / name)


def shell_exports(verified: VerifiedRelease) -> str:
    """`export NAME=value` lines for the buildspec (values quoted, though versions and hashes need no quoting)."""
    values = {
        "MODEL_VERSION": verified.release.version,
        "MODEL_SHA256": verified.release.sha256,
        "RELEASE_TRIGGER": verified.release.trigger,
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())


def summary(verified: VerifiedRelease) -> str:
    """One JSON line for the build log."""
    return json.dumps({"verified": True, **verified.release.to_json(), "status": verified.status.value})
