"""What a release zip holds (`release/<m>.zip`): shared by the release job and the pipeline. Standard library only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from core.features import InputSchema, SchemaError
from core.layout import MANIFEST_FILE, MODEL_FILE, SAMPLE_FILE

RELEASE_FILE = "release.json"
#: The files of the version directory a release zip carries beside `release.json`.
RELEASED_FILES = (MODEL_FILE, MANIFEST_FILE, SAMPLE_FILE)
#: A shadow release also carries the champion it runs beside, under this folder (its released files).
CHAMPION_FOLDER = "champion/"


class ReleaseError(RuntimeError):
    """A release or rollback cannot proceed, or a release zip is malformed; nothing was released or deployed."""


@dataclass(frozen=True, slots=True)
class ReleaseManifest:
    """`release.json`: which model version a release object carries and where its artefact is.

    `shadow_of`: set on a shadow release, the champion version the released version is served beside (in shadow:
    scored on every request, never answering); the zip then also carries the champion's files under
    `CHAMPION_FOLDER`, and the pipeline deploys both without making the released version champion.
    """

    model_name: str
    version: str
    artifact_uri: str
    sha256: str
    s3_version_id: str | None
    trigger: str
    shadow_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON object."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "sha256": self.sha256,
            "s3_version_id": self.s3_version_id,
            "trigger": self.trigger,
            **({"shadow_of": self.shadow_of} if self.shadow_of is not None else {}),
        }

    def dumps(self) -> str:
        """Canonical JSON text."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2) + "\n"

    @classmethod
    def loads(cls, text: str | bytes) -> ReleaseManifest:
        """Parse `release.json`; raises ReleaseError on anything malformed."""
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ReleaseError(f"{RELEASE_FILE} is not valid JSON: {error}") from error
        if not isinstance(document, dict):
            raise ReleaseError(f"{RELEASE_FILE} must be a JSON object")
        fields = ("model_name", "version", "artifact_uri", "sha256", "trigger")
        bad = [name for name in fields if not isinstance(document.get(name), str) or not document[name]]
        if bad:
            raise ReleaseError(f"{RELEASE_FILE} lacks {bad}")
        version_id = document.get("s3_version_id")
        if version_id is not None and not isinstance(version_id, str):
            raise ReleaseError(f"{RELEASE_FILE} s3_version_id must be a string or null")
        shadow_of = document.get("shadow_of")
        if shadow_of is not None and (not isinstance(shadow_of, str) or not shadow_of):
            raise ReleaseError(f"{RELEASE_FILE} shadow_of must be a version or absent")
        return cls(
            model_name=document["model_name"],
            version=document["version"],
            artifact_uri=document["artifact_uri"],
            sha256=document["sha256"],
            s3_version_id=version_id,
            trigger=document["trigger"],
            shadow_of=shadow_of,
        )


@dataclass(frozen=True, slots=True)
class SmokeSample:
    """`sample.json`: holdout rows as serving requests take them, and the scores the released model must reproduce.

    Written by the retrain job beside the artefact; read by the release pipeline's smoke test inside the image.
    """

    model_version: str
    input_schema: InputSchema
    instances: tuple[dict[str, Any], ...]  # each `{"features": {...}}`, as a serving request's instances
    expected_scores: tuple[float, ...]

    def dumps(self) -> str:
        """JSON text (no NaN: a missing value is null)."""
        document = {
            "model_version": self.model_version,
            "input_schema": self.input_schema.to_json(),
            "instances": list(self.instances),
            "expected_scores": list(self.expected_scores),
        }
        return json.dumps(document, allow_nan=False) + "\n"

    @classmethod
    def loads(cls, text: str | bytes) -> SmokeSample:
        """Parse `sample.json`; raises ReleaseError on anything malformed."""
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ReleaseError(f"{SAMPLE_FILE} is not valid JSON: {error}") from error
        if not isinstance(document, dict):
            raise ReleaseError(f"{SAMPLE_FILE} must be a JSON object")
        instances, scores = document.get("instances") or [], document.get("expected_scores") or []
        problems = []
        if not isinstance(document.get("model_version"), str):
            problems.append("model_version must be a string")
        if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
            problems.append("instances must be a list of objects")
        if not isinstance(scores, list) or not all(type(value) in (int, float) for value in scores):
            problems.append("expected_scores must be a list of numbers")
        try:
            schema = InputSchema.from_json(document.get("input_schema"))
        except (SchemaError, KeyError, TypeError, ValueError) as error:
            problems.append(f"input_schema: {error}")
        if problems:
            raise ReleaseError(f"{SAMPLE_FILE}: {'; '.join(problems)}")
        return cls(document["model_version"], schema, tuple(instances), tuple(float(value) for value in scores))
