"""Loading the model baked into the serving image."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.artifacts import ArtifactIntegrityError, write_artifact
from core.features import FeatureSpec, InputSchema
from core.layout import MODEL_FILE
from lambdas.serving.adapters import load_baked_model
from lambdas.serving.models import ModelMismatchError

SCHEMA = InputSchema((FeatureSpec("x", "numeric", nullable=False),))


def _write(directory: Path, model_name: str = "churn") -> None:
    write_artifact(
        directory,
        {"stand-in": "estimator"},
        model_name=model_name,
        input_schema=SCHEMA,
        decision_threshold=0.5,
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
    )


def test_image_without_a_model_serves_none(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("bootstrap")
    assert load_baked_model(tmp_path, "churn") is None


def test_baked_model_is_loaded_verified(tmp_path: Path) -> None:
    _write(tmp_path)
    loaded = load_baked_model(tmp_path, "churn")
    assert loaded is not None
    assert loaded.estimator == {"stand-in": "estimator"}


def test_model_of_another_name_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, model_name="fraud")
    with pytest.raises(ModelMismatchError, match="'fraud'"):
        load_baked_model(tmp_path, "churn")


def test_tampered_baked_model_is_refused(tmp_path: Path) -> None:
    _write(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        load_baked_model(tmp_path, "churn")
