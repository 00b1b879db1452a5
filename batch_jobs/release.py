"""Publishing an approved model version, and rolling back to an earlier one (`autoretrain rollback --to VERSION`).

A release, in this order (each step idempotent, so a retried job completes a half-done release):

1. `models/<m>/<version>/{reference.parquet, baseline.json, sample.json, manifest.json, model.pkl}` go to the
   model bucket (model.pkl last); the registry records model.pkl's URI, SHA-256 and S3 version id.
2. The version moves `candidate -> released` (the registry refuses unless the gate passed and the artefact is
   recorded).
3. A new version of `release/<m>.zip` is written: `release.json` ({model_name, version, artifact_uri, sha256,
   s3_version_id, trigger}), `model.pkl`, `manifest.json` and `sample.json` (reference rows with the scores the
   retrain job computed, for the pipeline's smoke test: the serving image has no Parquet reader). Its new S3
   version starts the deploy pipeline, whose first step checks the registry: the status change comes before the
   object, so the pipeline never sees a release the registry does not know yet.
4. `ModelReleased` goes to the bus.

A rollback re-releases a retired version's stored artefact through the same path: its model.pkl (the exact S3
version the registry recorded) must still hash to the recorded SHA-256, the version moves `retired -> released`
(with the reason in its history), a new `release/<m>.zip` version points at it, and `ModelRolledBack` goes to
the bus. The pipeline then deploys it like any release and `mark-deployed` makes it the champion again.
"""

from __future__ import annotations

import argparse
import hmac
import io
import json
import logging
import sys
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batch_jobs.training.adapters import ObjectStore, StorageError, StoredObject
from core.artifacts import ModelManifest, sha256_hex
from core.aws import shared_session
from core.events import DetailType, EventBus
from core.layout import (
    BASELINE_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    REFERENCE_FILE,
    SAMPLE_FILE,
    VERSION_FILES,
    model_version_prefix,
    parse_s3_uri,
    release_object_key,
    validate_model_name,
    version_file_key,
)
from core.model_lifecycle import ModelStatus, ModelVersionRecord, RegistryError, Trigger
from core.registry import Registry
from core.release_bundle import CHAMPION_FOLDER, RELEASE_FILE, RELEASED_FILES, ReleaseError, ReleaseManifest
from core.settings import EnvVar, require_env

LOGGER = logging.getLogger(__name__)

CONTENT_TYPES = {
    REFERENCE_FILE: "application/vnd.apache.parquet",
    BASELINE_FILE: "application/json",
    SAMPLE_FILE: "application/json",
    MANIFEST_FILE: "application/json",
    MODEL_FILE: "application/octet-stream",
}
#: User metadata on `release/<m>.zip` naming the version inside (a retry compares it instead of rewriting).
VERSION_METADATA = "model-version"
SHA_METADATA = "model-sha256"
#: ... and the champion a shadow release runs beside (empty for a plain release).
SHADOW_METADATA = "shadow-of"
#: The trigger a champion's re-release carries when a shadow period ends without a promotion.
SHADOW_ENDED_TRIGGER = "shadow_ended"
#: CodePipeline shows this object metadata as the source revision's summary.
SUMMARY_METADATA = "codepipeline-artifact-revision-summary"
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


class ArtifactMismatchError(ReleaseError):
    """The stored artefact's SHA-256 differs from the registry's: it is not released."""


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """Where a release went."""

    record: ModelVersionRecord
    release: StoredObject
    event_detail: Mapping[str, Any]


def build_release_zip(release: ReleaseManifest, files: Mapping[str, bytes]) -> bytes:
    """The release zip: `release.json` plus `files`; the same content always gives the same bytes."""
    buffer = io.BytesIO()
    entries = {RELEASE_FILE: release.dumps().encode(), **files}
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name])
    return buffer.getvalue()


#: The triggers whose releases serve in shadow first when the stack runs shadow periods: not a recovery from
#: performance decay (the champion is failing: keeping it answering while the shadow proves itself is what the gate
#: exists to avoid), not the first model, not a rollback.
SHADOW_TRIGGERS = frozenset({Trigger.SCHEDULE, Trigger.DRIFT, Trigger.ON_DEMAND})


class Publisher:
    """Writes versions and release objects to the model bucket and moves them through the registry.

    `shadow_triggers`: the releases of versions trained for these triggers are shadow releases (`ReleaseManifest`:
    served beside the champion until the live evaluation promotes or ends them); empty, no shadow periods.
    """

    def __init__(
        self,
        store: ObjectStore,
        registry: Registry,
        bus: EventBus,
        model_name: str,
        *,
        shadow_triggers: frozenset[Trigger] = frozenset(),
    ) -> None:
        self._store = store
        self._registry = registry
        self._bus = bus
        self._model = validate_model_name(model_name)
        self._shadow_triggers = shadow_triggers

    def release(self, record: ModelVersionRecord, directory: Path) -> ReleaseOutcome:
        """Publish a candidate that passed the gate (or finish a release a previous run started)."""
        version = record.version
        files = {name: (directory / name).read_bytes() for name in VERSION_FILES}
        digest = sha256_hex(files[MODEL_FILE])
        manifest = ModelManifest.loads(files[MANIFEST_FILE])
        if manifest.artifact_sha256 != digest or manifest.model_version != version:
            raise ArtifactMismatchError(f"{directory} does not hold the artefact of {version}")
        if record.status is ModelStatus.CANDIDATE:
            stored = self._upload(version, files)
            record = self._registry.record_artifact(
                self._model, version, uri=stored.uri, sha256=digest, s3_version_id=stored.version_id
            )
            record = self._registry.transition(
                self._model, version, ModelStatus.RELEASED, f"gate passed ({record.trigger})"
            )
        elif record.status is not ModelStatus.RELEASED:
            raise ReleaseError(f"{self._model} {version} is {record.status}: only a candidate can be released")
        champion = self._registry.champion(self._model) if record.trigger in self._shadow_triggers else None
        if champion is not None and champion.version != version:
            return self._publish_release(
                record, files, record.trigger.value, DetailType.MODEL_RELEASED, beside=champion
            )
        return self._publish_release(record, files, record.trigger.value, DetailType.MODEL_RELEASED)

    def promote_shadow(self, version: str, reason: str) -> ReleaseOutcome:
        """Re-release a version that served in shadow as a plain release: the pipeline deploys it and makes it the
        champion. Its shadow record (`reason` included) is the live evaluation's to write."""
        record = self._registry.get(self._model, version)
        if record.status is not ModelStatus.RELEASED:
            raise ReleaseError(f"{self._model} {version} is {record.status}: only a released version is promoted")
        LOGGER.info("promoting %s from shadow: %s", version, reason)
        return self._publish_release(record, self._verified_files(record), record.trigger.value, None)

    def end_shadow(self, version: str, reason: str) -> ReleaseOutcome:
        """Retire a version that served in shadow without being promoted, and re-release the champion alone (the
        pipeline redeploys it without the shadow)."""
        champion = self._registry.champion(self._model)
        if champion is None:
            raise ReleaseError(f"{self._model} has no champion to keep")
        outcome = self._publish_release(champion, self._verified_files(champion), SHADOW_ENDED_TRIGGER, None)
        self._registry.transition(self._model, version, ModelStatus.RETIRED, f"shadow ended: {reason}")
        return outcome

    def rollback(self, to_version: str, reason: str) -> ReleaseOutcome:
        """Re-release a retired (or released, not yet deployed) version's verified artefact."""
        record = self._registry.get(self._model, to_version)
        champion = self._registry.champion(self._model)
        if record.status not in (ModelStatus.RETIRED, ModelStatus.RELEASED):
            raise ReleaseError(
                f"{self._model} {to_version} is {record.status}: only a retired or released version can be rolled "
                "back to"
            )
        files = self._verified_files(record)
        if record.status is ModelStatus.RETIRED:
            from_version = champion.version if champion else "none"
            record = self._registry.transition(
                self._model,
                to_version,
                ModelStatus.RELEASED,
                f"rollback from {from_version}: {reason}",
                expected_from=ModelStatus.RETIRED,
            )
        outcome = self._publish_release(record, files, Trigger.ROLLBACK.value, None)
        detail = {
            "model_name": self._model,
            "to_version": to_version,
            "from_version": champion.version if champion else None,
            "reason": reason,
        }
        self._bus.publish(DetailType.MODEL_ROLLED_BACK, detail)
        return ReleaseOutcome(outcome.record, outcome.release, detail)

    def _verified_files(self, record: ModelVersionRecord) -> dict[str, bytes]:
        if not record.artifact_uri or not record.sha256:
            raise ReleaseError(f"{self._model} {record.version} has no recorded artefact")
        try:
            bucket, key = parse_s3_uri(record.artifact_uri)
        except ValueError as error:
            raise ReleaseError(str(error)) from error
        if bucket != self._store.bucket:
            raise ReleaseError(f"{record.artifact_uri} is not in the model bucket {self._store.bucket}")
        model = self._store.get(key, record.s3_version_id)
        actual = sha256_hex(model)
        if not hmac.compare_digest(actual, record.sha256):
            raise ArtifactMismatchError(
                f"{record.artifact_uri} has SHA-256 {actual}, the registry recorded {record.sha256}: not released"
            )
        manifest = self._store.get(version_file_key(key, MANIFEST_FILE))
        if ModelManifest.loads(manifest).artifact_sha256 != record.sha256:
            raise ArtifactMismatchError(f"the manifest beside {record.artifact_uri} describes another artefact")
        sample = self._store.get(version_file_key(key, SAMPLE_FILE))
        return {MODEL_FILE: model, MANIFEST_FILE: manifest, SAMPLE_FILE: sample}

    def _upload(self, version: str, files: Mapping[str, bytes]) -> StoredObject:
        prefix = model_version_prefix(self._model, version)
        stored: StoredObject | None = None
        for name in VERSION_FILES:
            stored = self._store.put(prefix + name, files[name], content_type=CONTENT_TYPES[name])
        assert stored is not None  # VERSION_FILES is not empty
        return stored

    def _publish_release(
        self,
        record: ModelVersionRecord,
        files: Mapping[str, bytes],
        trigger: str,
        event: DetailType | None,
        *,
        beside: ModelVersionRecord | None = None,
    ) -> ReleaseOutcome:
        """Write the release object for `record` (a shadow release `beside` the champion when given)."""
        if not record.artifact_uri or not record.sha256:
            raise ReleaseError(f"{self._model} {record.version} has no recorded artefact")
        release = ReleaseManifest(
            model_name=self._model,
            version=record.version,
            artifact_uri=record.artifact_uri,
            sha256=record.sha256,
            s3_version_id=record.s3_version_id,
            trigger=trigger,
            shadow_of=None if beside is None else beside.version,
        )
        shadow_of = release.shadow_of or ""
        key = release_object_key(self._model)
        current = self._store.head(key)
        if (
            current is not None
            and current.metadata.get(VERSION_METADATA) == record.version
            and current.metadata.get(SHA_METADATA) == record.sha256
            and current.metadata.get(SHADOW_METADATA, "") == shadow_of
        ):
            stored = current  # a retry: this version is already the newest release object
            LOGGER.info("release object already carries %s", record.version)
        else:
            entries = {name: files[name] for name in RELEASED_FILES}
            if beside is not None:
                champion_files = self._verified_files(beside)
                entries |= {CHAMPION_FOLDER + name: champion_files[name] for name in RELEASED_FILES}
            mode = f"in shadow beside {shadow_of}, " if shadow_of else ""
            stored = self._store.put(
                key,
                build_release_zip(release, entries),
                content_type="application/zip",
                metadata={
                    VERSION_METADATA: record.version,
                    SHA_METADATA: record.sha256,
                    SHADOW_METADATA: shadow_of,
                    SUMMARY_METADATA: f"{self._model} {record.version} ({mode}{trigger})",
                },
            )
        detail = {
            "model_name": self._model,
            "version": record.version,
            "artifact_uri": record.artifact_uri,
            "sha256": record.sha256,
            "release_uri": stored.uri,
            "release_s3_version_id": stored.version_id,
            "trigger": trigger,
            "shadow_of": release.shadow_of,
        }
        if event is not None:
            self._bus.publish(event, detail)
        return ReleaseOutcome(record, stored, detail)


def build_parser() -> argparse.ArgumentParser:
    """`autoretrain rollback --to VERSION [--reason TEXT]`."""
    parser = argparse.ArgumentParser(
        prog="autoretrain rollback", description="Re-release an earlier model version through the release pipeline."
    )
    parser.add_argument("--to", dest="to_version", required=True, help="the (retired) model version to restore")
    parser.add_argument("--reason", default="on-demand rollback", help="recorded in the registry and the event")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Roll back to `--to VERSION`; exit 0 when the release object is written, 1 when the rollback is refused."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    model_name = require_env(EnvVar.MODEL_NAME)
    session = shared_session()
    publisher = Publisher(
        ObjectStore(session.client("s3"), require_env(EnvVar.MODEL_BUCKET)),
        Registry(session.client("dynamodb"), require_env(EnvVar.REGISTRY_TABLE)),
        EventBus(session.client("events"), require_env(EnvVar.EVENT_BUS)),
        model_name,
    )
    try:
        outcome = publisher.rollback(arguments.to_version, arguments.reason)
    except (ReleaseError, RegistryError, StorageError) as error:
        LOGGER.error("rollback refused: %s", error)
        print(json.dumps({"rolled_back": False, "reason": str(error)}))
        return 1
    summary = {**outcome.event_detail, "release_uri": outcome.release.uri}
    print(json.dumps({"rolled_back": True, **summary, "release_s3_version_id": outcome.release.version_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
