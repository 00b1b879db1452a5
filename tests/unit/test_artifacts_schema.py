"""The input schema stored in the manifest: JSON round trip and refusal of malformed definitions."""

from __future__ import annotations

import json

import pytest

from core.features import FeatureSpec, InputSchema, SchemaError

SCHEMA = InputSchema(
    (
        FeatureSpec("tenure", "numeric", nullable=False),
        FeatureSpec("plan", "categorical", nullable=True, categories=("basic", "premium")),
    )
)


def test_schema_round_trips_through_json_text() -> None:
    assert InputSchema.from_json(json.loads(json.dumps(SCHEMA.to_json()))) == SCHEMA


def test_schema_keeps_feature_order() -> None:
    assert SCHEMA.names == ("tenure", "plan")
    assert SCHEMA.names_of("categorical") == ("plan",)


def test_schema_finds_a_feature_by_name() -> None:
    assert SCHEMA.feature("plan").categories == ("basic", "premium")


def test_duplicate_feature_names_are_refused() -> None:
    with pytest.raises(SchemaError, match="duplicate"):
        InputSchema((FeatureSpec("a", "numeric", False), FeatureSpec("a", "numeric", True)))


def test_empty_schema_is_refused() -> None:
    with pytest.raises(SchemaError, match="at least one"):
        InputSchema(())


def test_unknown_feature_kind_is_refused() -> None:
    with pytest.raises(SchemaError, match="kind must be one of"):
        FeatureSpec.from_json({"name": "a", "kind": "text", "nullable": False, "categories": []})


def test_numeric_feature_with_categories_is_refused() -> None:
    with pytest.raises(SchemaError, match="no categories"):
        FeatureSpec("a", "numeric", False, ("x",))


def test_feature_with_unknown_key_is_refused() -> None:
    with pytest.raises(SchemaError, match="unknown keys"):
        FeatureSpec.from_json({"name": "a", "kind": "numeric", "nullable": False, "unit": "m"})


def test_feature_with_non_boolean_nullable_is_refused() -> None:
    with pytest.raises(SchemaError, match="nullable"):
        FeatureSpec.from_json({"name": "a", "kind": "numeric", "nullable": "yes"})
