"""What a release zip holds (`release/<m>.zip`): shared by the release job and the pipeline. Standard library only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RELEASE_FILE = "release.json"
SAMPLE_FILE = "sample.json"


class ReleaseError(RuntimeError):
    """A release or rollback cannot proceed, or a release zip is malformed; nothing was released or deployed."""


@dataclass(frozen=True, slots=True)
class ReleaseManifest:
    """`release.json`: which model version a release object carries and where its artefact is."""

    model_name: str
    version: str
    artifact_uri: str
    sha256: str
    s3_version_id: str | None
    trigger: str

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON object."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "artifact_uri": self.artifact_uri,
            "sha256": self.sha256,
            "s3_version_id": self.s3_version_id,
            "trigger": self.trigger,
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
        return cls(
            model_name=document["model_name"],
            version=document["version"],
            artifact_uri=document["artifact_uri"],
            sha256=document["sha256"],
            s3_version_id=version_id,
            trigger=document["trigger"],
        )
