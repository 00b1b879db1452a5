"""The manifest's heuristic: the control arm's rule travels with the model, validated; old manifests still load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.artifacts import (
    LEGACY_HEURISTIC,
    BaseRateHeuristic,
    FeatureThresholdHeuristic,
    ManifestError,
    ModelManifest,
    base_rate_heuristic,
    heuristic_from_json,
    read_manifest,
    write_artifact,
)
from core.features import FeatureSpec, InputSchema
from core.layout import MANIFEST_FILE

SCHEMA = InputSchema(
    (FeatureSpec("tenure_months", "numeric", nullable=True), FeatureSpec("plan", "categorical", True, ("a", "b")))
)
CREATED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
THRESHOLD = {"kind": "feature_threshold", "feature": "tenure_months", "below": 6, "score_below": 0.45,
             "score_otherwise": 0.15}  # fmt: skip


def _write(directory: Path, **kwargs: Any) -> ModelManifest:
    return write_artifact(
        directory,
        {"weights": [1.0]},
        model_name="churn",
        input_schema=SCHEMA,
        decision_threshold=0.4,
        created_at=CREATED,
        **kwargs,
    )


def test_training_writes_the_base_rate_with_no_targeting(tmp_path: Path) -> None:
    _write(tmp_path, heuristic=base_rate_heuristic(0.21))
    document = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert document["heuristic"] == {"kind": "base_rate", "score": 0.21, "label": 0}
    assert read_manifest(tmp_path).heuristic == BaseRateHeuristic(0.21, 0)


def test_a_manifest_without_a_heuristic_reads_as_the_legacy_base_rate(tmp_path: Path) -> None:
    _write(tmp_path)
    path = tmp_path / MANIFEST_FILE
    document = json.loads(path.read_text())
    del document["heuristic"]
    path.write_text(json.dumps(document))
    manifest = read_manifest(tmp_path)
    assert manifest.heuristic == LEGACY_HEURISTIC
    assert manifest.heuristic.answer({"tenure_months": 1.0}) == (0.0, 0)


def test_a_feature_threshold_rule_round_trips_and_targets_below_it(tmp_path: Path) -> None:
    rule = heuristic_from_json(THRESHOLD)
    manifest = _write(tmp_path, heuristic=rule)
    assert read_manifest(tmp_path).heuristic == rule == manifest.heuristic
    assert rule.answer({"tenure_months": 3}) == (0.45, 1)
    assert rule.answer({"tenure_months": 6.0}) == (0.15, 0)
    assert rule.answer({"tenure_months": None}) == (0.15, 0)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"kind": "oracle"}, "kind must be one of"),
        ({"kind": "base_rate", "score": 0.2}, r"missing \['label'\]"),
        ({"kind": "base_rate", "score": 0.2, "label": 0, "why": 1}, r"unknown \['why'\]"),
        ({"kind": "base_rate", "score": 1.2, "label": 0}, "score must be a number in"),
        ({"kind": "base_rate", "score": 0.2, "label": 2}, "label must be 0 or 1"),
        ({"kind": "base_rate", "score": True, "label": 0}, "score must be a number"),
        ({**THRESHOLD, "below": "six"}, "below must be a finite number"),
        ({**THRESHOLD, "feature": ""}, "feature must be a non-empty string"),
        ({**THRESHOLD, "score_otherwise": -0.1}, "score_otherwise must be a number"),
        ([], "must be a JSON object"),
    ],
)
def test_a_malformed_heuristic_is_refused_naming_the_problem(document: object, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        heuristic_from_json(document)


@pytest.mark.parametrize(
    ("feature", "problem"), [("usage", "'usage' is not in the input schema"), ("plan", "'plan' is not numeric")]
)
def test_a_threshold_on_a_feature_the_schema_lacks_or_not_numeric_is_refused(
    tmp_path: Path, feature: str, problem: str
) -> None:
    with pytest.raises(ManifestError, match=problem):
        _write(tmp_path, heuristic=FeatureThresholdHeuristic(feature, 6.0, 0.4, 0.1))


def test_the_base_rate_is_clipped_to_a_probability() -> None:
    assert (base_rate_heuristic(-0.0).score, base_rate_heuristic(1.0).score) == (0.0, 1.0)
