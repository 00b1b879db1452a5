"""The model artefact: `model.pkl` (the pickled estimator) and `manifest.json` (what it is and its SHA-256).

A pickle runs code when it is loaded, so it is loaded only after its bytes match the SHA-256 the manifest
records and, when the caller has one, the SHA-256 the registry recorded at release (`expected_sha256`). The
bytes are read once, hashed, compared and only then unpickled: nothing is re-read between check and use.

Pure apart from file I/O in the directory it is given; standard library only (the serving image ships it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import platform
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from core.features import InputSchema, SchemaError
from core.layout import MANIFEST_FILE, MODEL_FILE, validate_model_name
from core.records import format_timestamp, parse_timestamp

#: The files an artefact directory holds (what the serving image bakes in and `load_verified_model` reads).
ARTIFACT_FILES = (MANIFEST_FILE, MODEL_FILE)
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({FORMAT_VERSION})

_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MANIFEST_KEYS = frozenset(
    {
        "format_version",
        "model_name",
        "model_version",
        "artifact_sha256",
        "created_at",
        "input_schema",
        "decision_threshold",
        "sklearn_version",
        "python_version",
    }
)


class ArtifactError(Exception):
    """Base of the artefact errors."""


class ArtifactNotFoundError(ArtifactError, FileNotFoundError):
    """The directory holds no artefact (no manifest or no model file)."""


class ManifestError(ArtifactError, ValueError):
    """The manifest is malformed or of an unknown format version."""


class ArtifactIntegrityError(ArtifactError):
    """The model file's SHA-256 does not match the manifest or the registry's record; it was not unpickled."""


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def make_model_version(moment: datetime, content_sha256: str) -> str:
    """`YYYYMMDDTHHMMSSZ-<first 6 hex of the content hash>`, e.g. `20261120T030000Z-ab12cd` (UTC; sorts by time)."""
    if moment.tzinfo is None:
        raise ValueError("model version needs a timezone-aware datetime")
    digest = content_sha256.lower()
    if not _SHA256.fullmatch(digest):
        raise ValueError("content_sha256 must be 64 hex characters")
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest[:6]}"


def validate_model_version(version: str) -> str:
    """Return `version` if it has the model version format, else raise ValueError."""
    if not _VERSION.fullmatch(version):
        raise ValueError(f"model version {version!r} does not match {_VERSION.pattern}")
    return version


@dataclass(frozen=True, slots=True)
class ModelManifest:
    """What a model artefact is: its identity, its file's hash, its input contract and how it was built."""

    model_name: str
    model_version: str
    artifact_sha256: str
    created_at: str
    input_schema: InputSchema
    decision_threshold: float
    sklearn_version: str
    python_version: str
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems: list[str] = []
        for check, value in (
            (validate_model_name, self.model_name),
            (validate_model_version, self.model_version),
            (parse_timestamp, self.created_at),
        ):
            try:
                check(value)
            except (ValueError, TypeError) as error:
                problems.append(str(error))
        if not isinstance(self.artifact_sha256, str) or not _SHA256.fullmatch(self.artifact_sha256):
            problems.append("artifact_sha256 must be 64 lower-case hex characters")
        if isinstance(self.decision_threshold, bool) or not isinstance(self.decision_threshold, int | float):
            problems.append("decision_threshold must be a number")
        elif not 0.0 < self.decision_threshold < 1.0:
            problems.append("decision_threshold must be in (0, 1)")
        if self.format_version not in SUPPORTED_FORMAT_VERSIONS:
            problems.append(
                f"unknown manifest format version {self.format_version!r}; this code reads "
                f"{sorted(SUPPORTED_FORMAT_VERSIONS)}"
            )
        if problems:
            raise ManifestError("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object."""
        return {
            "format_version": self.format_version,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "artifact_sha256": self.artifact_sha256,
            "created_at": self.created_at,
            "input_schema": self.input_schema.to_json(),
            "decision_threshold": self.decision_threshold,
            "sklearn_version": self.sklearn_version,
            "python_version": self.python_version,
        }

    def dumps(self) -> str:
        """Canonical JSON text (sorted keys): the same manifest always gives the same bytes."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, document: object) -> ModelManifest:
        """Parse a manifest; unknown format versions and unknown keys are refused."""
        if not isinstance(document, dict):
            raise ManifestError(f"a manifest must be a JSON object, got {type(document).__name__}")
        version = document.get("format_version")
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise ManifestError(
                f"unknown manifest format version {version!r}; this code reads {sorted(SUPPORTED_FORMAT_VERSIONS)}"
            )
        missing = sorted(_MANIFEST_KEYS - set(document))
        unknown = sorted(set(document) - _MANIFEST_KEYS)
        if missing or unknown:
            raise ManifestError(f"manifest keys: missing {missing}, unknown {unknown}")
        try:
            schema = InputSchema.from_json(document["input_schema"])
        except SchemaError as error:
            raise ManifestError(f"manifest input_schema: {error}") from error
        for key in (
            "model_name",
            "model_version",
            "artifact_sha256",
            "created_at",
            "sklearn_version",
            "python_version",
        ):
            if not isinstance(document[key], str):
                raise ManifestError(f"manifest {key} must be a string")
        return cls(
            model_name=document["model_name"],
            model_version=document["model_version"],
            artifact_sha256=document["artifact_sha256"],
            created_at=document["created_at"],
            input_schema=schema,
            decision_threshold=document["decision_threshold"],
            sklearn_version=document["sklearn_version"],
            python_version=document["python_version"],
            format_version=version,
        )

    @classmethod
    def loads(cls, text: str | bytes) -> ModelManifest:
        """Parse manifest JSON text."""
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ManifestError(f"manifest is not valid JSON: {error}") from error
        return cls.from_json(document)


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified, unpickled estimator with its manifest."""

    estimator: Any
    manifest: ModelManifest


def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def _write_atomically(path: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_artifact(
    directory: str | os.PathLike[str],
    estimator: object,
    *,
    model_name: str,
    input_schema: InputSchema,
    decision_threshold: float,
    created_at: datetime,
    model_version: str | None = None,
) -> ModelManifest:
    """Pickle `estimator` into `directory/model.pkl` and describe it in `directory/manifest.json`.

    The SHA-256 is of exactly the bytes written. Without `model_version`, one is made from `created_at` and
    that hash. Each file is replaced atomically; the manifest is written last, so a directory with a manifest
    has the model it describes.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
    digest = sha256_hex(data)
    manifest = ModelManifest(
        model_name=model_name,
        model_version=model_version or make_model_version(created_at, digest),
        artifact_sha256=digest,
        created_at=format_timestamp(created_at),
        input_schema=input_schema,
        decision_threshold=float(decision_threshold),
        sklearn_version=_installed_version("scikit-learn"),
        python_version=platform.python_version(),
    )
    _write_atomically(target / MODEL_FILE, data)
    _write_atomically(target / MANIFEST_FILE, manifest.dumps().encode())
    return manifest


def read_manifest(directory: str | os.PathLike[str]) -> ModelManifest:
    """The manifest in `directory`; ArtifactNotFoundError if there is none."""
    path = Path(directory) / MANIFEST_FILE
    try:
        text = path.read_bytes()
    except FileNotFoundError as error:
        raise ArtifactNotFoundError(f"no {MANIFEST_FILE} in {directory}") from error
    return ModelManifest.loads(text)


def has_artifact(directory: str | os.PathLike[str]) -> bool:
    """Whether `directory` holds a manifest (the bootstrap serving image has none)."""
    return (Path(directory) / MANIFEST_FILE).is_file()


def load_verified_model(directory: str | os.PathLike[str], expected_sha256: str | None = None) -> LoadedModel:
    """Load `directory/model.pkl` only if its SHA-256 matches the manifest and `expected_sha256` (if given).

    Raises ArtifactNotFoundError, ManifestError, or ArtifactIntegrityError — the last before anything is
    unpickled.
    """
    expected = None if expected_sha256 is None else expected_sha256.strip().lower()
    if expected is not None and not _SHA256.fullmatch(expected):
        raise ArtifactIntegrityError(f"expected SHA-256 {expected_sha256!r} is not 64 hex characters; not loaded")
    manifest = read_manifest(directory)
    path = Path(directory) / MODEL_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ArtifactNotFoundError(f"{MANIFEST_FILE} in {directory} has no {MODEL_FILE} beside it") from error
    actual = sha256_hex(data)
    if not hmac.compare_digest(actual, manifest.artifact_sha256):
        raise ArtifactIntegrityError(
            f"{path}: SHA-256 {actual} does not match the manifest's {manifest.artifact_sha256}; not loaded"
        )
    if expected is not None and not hmac.compare_digest(actual, expected):
        raise ArtifactIntegrityError(f"{path}: SHA-256 {actual} does not match the expected {expected}; not loaded")
    return LoadedModel(estimator=pickle.loads(data), manifest=manifest)  # noqa: S301  # verified just above
