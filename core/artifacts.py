"""The model artefact: `model.pkl` (the pickled estimator) and `manifest.json` (what it is and its SHA-256).

A pickle runs code when it is loaded, so it is loaded only after its bytes match the SHA-256 the manifest
records and, when the caller has one, the SHA-256 the registry recorded at release (`expected_sha256`). The
bytes are read once, hashed, compared and only then unpickled: nothing is re-read between check and use.

The manifest also carries the model's heuristic (`Heuristic`): the rule the control arm of the business-impact
experiment is answered with (`core.assignment`), travelling with the model because serving cannot read the model
spec. Formats (JSON, the manifest's `heuristic` member):

- `{"kind": "base_rate", "score": 0.21, "label": 0}`: every client gets this score and label. Training writes the
  training rows' positive rate with label 0: no targeting (the default the issue names).
- `{"kind": "feature_threshold", "feature": "tenure_months", "below": 6, "score_below": 0.45,
  "score_otherwise": 0.15}`: a client whose numeric feature is below `below` is targeted (label 1, `score_below`);
  everyone else, a missing value included, is not (label 0, `score_otherwise`). The feature must be a numeric
  feature of the manifest's input schema.

A manifest written before heuristics existed has none: it reads as `LEGACY_HEURISTIC`, the base-rate rule with
score 0 and label 0 (still no targeting; the training rate is not known any more, and no decision reads the score).

Pure apart from file I/O in the directory it is given; standard library only (the serving image ships it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import pickle
import platform
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from core.features import InputSchema, SchemaError
from core.layout import MANIFEST_FILE, MODEL_FILE, validate_model_name
from core.records import FeatureValue, format_timestamp, parse_timestamp

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
#: Optional manifest keys (absent in manifests written before them).
_OPTIONAL_MANIFEST_KEYS = frozenset({"heuristic"})


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


def _probability_problem(name: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        return f"heuristic {name} must be a number in [0, 1], got {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class BaseRateHeuristic:
    """Every client gets `score` and `label` (label 0: no targeting)."""

    score: float
    label: int = 0
    kind: Literal["base_rate"] = "base_rate"

    def __post_init__(self) -> None:
        problems = [problem for problem in (_probability_problem("score", self.score),) if problem]
        if isinstance(self.label, bool) or self.label not in (0, 1):
            problems.append(f"heuristic label must be 0 or 1, got {self.label!r}")
        if problems:
            raise ManifestError("; ".join(problems))

    def answer(self, features: Mapping[str, FeatureValue]) -> tuple[float, int]:
        """The (score, label) the control arm answers for these features."""
        return float(self.score), self.label

    def schema_problems(self, schema: InputSchema) -> list[str]:
        """Why this rule cannot be applied to the schema's inputs (never: it reads no feature)."""
        return []

    def to_json(self) -> dict[str, Any]:
        """The rule as the manifest's `heuristic` member."""
        return {"kind": self.kind, "score": float(self.score), "label": self.label}


@dataclass(frozen=True, slots=True)
class FeatureThresholdHeuristic:
    """Clients whose numeric `feature` is below `below` are targeted (label 1, `score_below`); the others, a missing
    value included, are not (label 0, `score_otherwise`)."""

    feature: str
    below: float
    score_below: float
    score_otherwise: float
    kind: Literal["feature_threshold"] = "feature_threshold"

    def __post_init__(self) -> None:
        problems = [
            problem
            for problem in (
                _probability_problem("score_below", self.score_below),
                _probability_problem("score_otherwise", self.score_otherwise),
            )
            if problem
        ]
        if not isinstance(self.feature, str) or not self.feature:
            problems.append("heuristic feature must be a non-empty string")
        below_is_number = isinstance(self.below, int | float) and not isinstance(self.below, bool)
        if not below_is_number or not math.isfinite(self.below):
            problems.append(f"heuristic below must be a finite number, got {self.below!r}")
        if problems:
            raise ManifestError("; ".join(problems))

    def answer(self, features: Mapping[str, FeatureValue]) -> tuple[float, int]:
        """The (score, label) the control arm answers for these features."""
        value = features.get(self.feature)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < self.below:
            return float(self.score_below), 1
        return float(self.score_otherwise), 0

    def schema_problems(self, schema: InputSchema) -> list[str]:
        """Why this rule cannot be applied to the schema's inputs: its feature must be a numeric one of them."""
        try:
            spec = schema.feature(self.feature)
        except KeyError:
            return [f"heuristic feature {self.feature!r} is not in the input schema"]
        return [] if spec.kind == "numeric" else [f"heuristic feature {self.feature!r} is not numeric"]

    def to_json(self) -> dict[str, Any]:
        """The rule as the manifest's `heuristic` member."""
        return {
            "kind": self.kind,
            "feature": self.feature,
            "below": self.below,
            "score_below": float(self.score_below),
            "score_otherwise": float(self.score_otherwise),
        }


#: The control arm's rule (module docstring).
Heuristic = BaseRateHeuristic | FeatureThresholdHeuristic
#: What a manifest without a heuristic (written before they existed) reads as: no targeting, score 0.
LEGACY_HEURISTIC = BaseRateHeuristic(score=0.0, label=0)
_HEURISTIC_KEYS: dict[str, frozenset[str]] = {
    "base_rate": frozenset({"kind", "score", "label"}),
    "feature_threshold": frozenset({"kind", "feature", "below", "score_below", "score_otherwise"}),
}


def base_rate_heuristic(positive_rate: float) -> BaseRateHeuristic:
    """The default rule: the training rows' positive rate as everyone's score, label 0 (no targeting)."""
    return BaseRateHeuristic(score=min(max(float(positive_rate), 0.0), 1.0), label=0)


def heuristic_from_json(document: object) -> Heuristic:
    """Parse a manifest's `heuristic` member (module docstring); ManifestError names what is wrong."""
    if not isinstance(document, dict):
        raise ManifestError(f"manifest heuristic must be a JSON object, got {type(document).__name__}")
    kind = document.get("kind")
    if not isinstance(kind, str) or kind not in _HEURISTIC_KEYS:
        raise ManifestError(f"manifest heuristic kind must be one of {sorted(_HEURISTIC_KEYS)}, got {kind!r}")
    expected = _HEURISTIC_KEYS[kind]
    missing, unknown = sorted(expected - set(document)), sorted(set(document) - expected)
    if missing or unknown:
        raise ManifestError(f"manifest heuristic ({kind}) keys: missing {missing}, unknown {unknown}")
    if kind == "base_rate":
        return BaseRateHeuristic(score=document["score"], label=document["label"])
    return FeatureThresholdHeuristic(
        feature=document["feature"],
        below=document["below"],
        score_below=document["score_below"],
        score_otherwise=document["score_otherwise"],
    )


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
    heuristic: Heuristic = LEGACY_HEURISTIC

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
        problems.extend(self.heuristic.schema_problems(self.input_schema))
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
            "heuristic": self.heuristic.to_json(),
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
        unknown = sorted(set(document) - _MANIFEST_KEYS - _OPTIONAL_MANIFEST_KEYS)
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
            heuristic=heuristic_from_json(document["heuristic"]) if "heuristic" in document else LEGACY_HEURISTIC,
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
    heuristic: Heuristic = LEGACY_HEURISTIC,
) -> ModelManifest:
    """Pickle `estimator` into `directory/model.pkl` and describe it in `directory/manifest.json`.

    The SHA-256 is of exactly the bytes written. Without `model_version`, one is made from `created_at` and
    that hash. `heuristic` is the control arm's rule (training passes `base_rate_heuristic` of its rows' positive
    rate). Each file is replaced atomically; the manifest is written last, so a directory with a manifest
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
        heuristic=heuristic,
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
