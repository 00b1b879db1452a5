"""The model artefact: manifest format, model versions, and SHA-256 verification before unpickling."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ManifestError,
    ModelManifest,
    load_verified_model,
    make_model_version,
    read_manifest,
    validate_model_version,
    write_artifact,
)
from core.features import FeatureSpec, InputSchema
from core.layout import MANIFEST_FILE, MODEL_FILE

SCHEMA = InputSchema(
    (FeatureSpec("tenure", "numeric", nullable=False), FeatureSpec("plan", "categorical", True, ("a", "b")))
)
CREATED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
DIGEST = "ab12cd" + "0" * 58


class MarkerOnUnpickle:
    """Unpickling this creates a directory: a stand-in for a malicious pickle's side effect."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


def _write(directory: Path, estimator: object = None) -> ModelManifest:
    return write_artifact(
        directory,
        {"weights": [1.0, 2.0]} if estimator is None else estimator,
        model_name="churn",
        input_schema=SCHEMA,
        decision_threshold=0.4,
        created_at=CREATED,
    )


def test_model_version_is_utc_time_and_hash_prefix() -> None:
    assert make_model_version(CREATED, DIGEST) == "20261120T030000Z-ab12cd"


def test_model_version_converts_other_offsets_to_utc() -> None:
    moment = datetime(2026, 11, 20, 4, 0, tzinfo=timezone(timedelta(hours=1)))
    assert make_model_version(moment, DIGEST.upper()) == "20261120T030000Z-ab12cd"


def test_model_version_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_model_version(datetime(2026, 11, 20), DIGEST)


def test_model_version_refuses_a_malformed_hash() -> None:
    with pytest.raises(ValueError, match="64 hex"):
        make_model_version(CREATED, "xyz")


def test_manifest_round_trips_through_json(tmp_path: Path) -> None:
    manifest = _write(tmp_path)
    assert ModelManifest.loads(manifest.dumps()) == manifest
    assert read_manifest(tmp_path) == manifest


def test_manifest_records_versions_and_threshold(tmp_path: Path) -> None:
    manifest = _write(tmp_path)
    assert (manifest.model_version, manifest.created_at, manifest.decision_threshold) == (
        make_model_version(CREATED, manifest.artifact_sha256),
        "2026-11-20T03:00:00.000Z",
        0.4,
    )
    assert manifest.sklearn_version.count(".") >= 1
    assert manifest.python_version.count(".") == 2


def test_manifest_with_unknown_format_version_is_refused(tmp_path: Path) -> None:
    document = _write(tmp_path).to_json()
    document["format_version"] = 2
    with pytest.raises(ManifestError, match="unknown manifest format version 2"):
        ModelManifest.from_json(document)


def test_manifest_with_unknown_key_is_refused(tmp_path: Path) -> None:
    document = {**_write(tmp_path).to_json(), "owner": "someone"}
    with pytest.raises(ManifestError, match=r"unknown \['owner'\]"):
        ModelManifest.from_json(document)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("artifact_sha256", "abc", "artifact_sha256"),
        ("decision_threshold", 1.5, "decision_threshold"),
        ("model_version", "v1", "model version"),
        ("model_name", "bad name", "model name"),
        ("created_at", "2026-11-20T03:00:00", "UTC offset"),
    ],
)
def test_manifest_with_invalid_field_is_refused(tmp_path: Path, field: str, value: object, message: str) -> None:
    manifest = _write(tmp_path)
    with pytest.raises(ManifestError, match=message):
        ModelManifest.from_json({**manifest.to_json(), field: value})


def test_manifest_that_is_not_json_is_refused() -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        ModelManifest.loads("{nope")


def test_recorded_hash_is_of_the_written_bytes(tmp_path: Path) -> None:
    manifest = _write(tmp_path)
    assert hashlib.sha256((tmp_path / MODEL_FILE).read_bytes()).hexdigest() == manifest.artifact_sha256


def test_write_leaves_only_the_two_artefact_files(tmp_path: Path) -> None:
    _write(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [MANIFEST_FILE, MODEL_FILE]


def test_verified_model_is_loaded_with_its_manifest(tmp_path: Path) -> None:
    manifest = _write(tmp_path)
    loaded = load_verified_model(tmp_path, expected_sha256=manifest.artifact_sha256.upper())
    assert (loaded.estimator, loaded.manifest) == ({"weights": [1.0, 2.0]}, manifest)


def test_marker_pickle_creates_its_marker_when_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(MarkerOnUnpickle(marker)))  # the control for the tests below
    assert marker.exists()


def test_tampered_model_is_refused_before_unpickling(tmp_path: Path) -> None:
    _write(tmp_path / "artefact")
    marker = tmp_path / "pwned"
    (tmp_path / "artefact" / MODEL_FILE).write_bytes(pickle.dumps(MarkerOnUnpickle(marker)))
    with pytest.raises(ArtifactIntegrityError, match="does not match the manifest"):
        load_verified_model(tmp_path / "artefact")
    assert not marker.exists()


def test_model_not_matching_the_registry_hash_is_refused_before_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _write(tmp_path / "artefact", MarkerOnUnpickle(marker))  # manifest and file agree; the registry does not
    with pytest.raises(ArtifactIntegrityError, match="does not match the expected"):
        load_verified_model(tmp_path / "artefact", expected_sha256="0" * 64)
    assert not marker.exists()


def test_malformed_expected_hash_is_refused(tmp_path: Path) -> None:
    _write(tmp_path)
    with pytest.raises(ArtifactIntegrityError, match="not 64 hex"):
        load_verified_model(tmp_path, expected_sha256="é" * 64)


def test_directory_without_manifest_has_no_artefact(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match=MANIFEST_FILE):
        load_verified_model(tmp_path)


def test_manifest_without_model_file_has_no_artefact(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / MODEL_FILE).unlink()
    with pytest.raises(ArtifactNotFoundError, match=MODEL_FILE):
        load_verified_model(tmp_path)


def test_manifest_text_is_canonical(tmp_path: Path) -> None:
    manifest = _write(tmp_path)
    text = (tmp_path / MANIFEST_FILE).read_text()
    assert text == json.dumps(manifest.to_json(), sort_keys=True, indent=2) + "\n"


def test_a_model_version_with_a_trailing_line_break_is_refused() -> None:
    version = make_model_version(CREATED, "a" * 64)
    assert validate_model_version(version) == version
    with pytest.raises(ValueError, match="does not match"):
        validate_model_version(version + "\n")
