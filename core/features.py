"""The model's input schema: which features a request carries, their kinds, and how a request is checked.

Pure and standard-library only: the serving image ships this module, the training job writes the schema into
the model's manifest, and monitoring reads it back. Checking a request never stops at the first problem: it
returns every problem found, so a client fixes its request in one round trip. The limits of a single value (its
length, UTF-8, a number's range) are the record contract's (`core.record_limits`), the ETL's own: a request this
accepts makes a record the ETL loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from core.record_limits import feature_label, feature_name_problems, number_problem, preview, scalar_problems

FeatureKind = Literal["numeric", "categorical"]
FEATURE_KINDS: tuple[str, ...] = get_args(FeatureKind)


class SchemaError(ValueError):
    """A schema document or definition is malformed."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One input feature.

    `categories` are the categories seen in training (sorted); empty for numeric features. A categorical value
    outside them is still valid input: the model ignores it and monitoring reports it as unseen.
    """

    name: str
    kind: FeatureKind
    nullable: bool
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SchemaError("a feature name must be a non-empty string")
        problems = feature_name_problems(self.name)
        if problems:
            raise SchemaError("; ".join(problems))
        if self.kind not in FEATURE_KINDS:
            raise SchemaError(f"feature {self.name!r}: kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.kind == "numeric" and self.categories:
            raise SchemaError(f"feature {self.name!r}: a numeric feature has no categories")
        if not all(isinstance(category, str) for category in self.categories):
            raise SchemaError(f"feature {self.name!r}: categories must be strings")
        if len(set(self.categories)) != len(self.categories):
            raise SchemaError(f"feature {self.name!r}: categories must be unique")

    def to_json(self) -> dict[str, Any]:
        """The feature as a JSON object."""
        return {"name": self.name, "kind": self.kind, "nullable": self.nullable, "categories": list(self.categories)}

    @classmethod
    def from_json(cls, document: object) -> FeatureSpec:
        """Parse a feature written by `to_json`."""
        if not isinstance(document, dict):
            raise SchemaError(f"a feature must be a JSON object, got {type(document).__name__}")
        unknown = sorted(set(document) - {"name", "kind", "nullable", "categories"})
        if unknown:
            raise SchemaError(f"feature has unknown keys {unknown}")
        nullable = document.get("nullable")
        if not isinstance(nullable, bool):
            raise SchemaError(f"feature {document.get('name')!r}: 'nullable' must be a boolean")
        categories = document.get("categories", [])
        if not isinstance(categories, list):
            raise SchemaError(f"feature {document.get('name')!r}: 'categories' must be a list")
        return cls(
            name=document.get("name"),  # type: ignore[arg-type]  # checked in __post_init__
            kind=document.get("kind"),  # type: ignore[arg-type]
            nullable=nullable,
            categories=tuple(categories),
        )


@dataclass(frozen=True, slots=True)
class InputSchema:
    """The ordered features a model takes; the order is the column order the model was trained on."""

    features: tuple[FeatureSpec, ...]

    def __post_init__(self) -> None:
        if not self.features:
            raise SchemaError("an input schema needs at least one feature")
        names = [feature.name for feature in self.features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SchemaError(f"duplicate feature names {duplicates}")

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in model order."""
        return tuple(feature.name for feature in self.features)

    def names_of(self, kind: FeatureKind) -> tuple[str, ...]:
        """Names of the features of one kind, in model order."""
        return tuple(feature.name for feature in self.features if feature.kind == kind)

    def feature(self, name: str) -> FeatureSpec:
        """The feature called `name`; KeyError if there is none."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The schema as a JSON object."""
        return {"features": [feature.to_json() for feature in self.features]}

    @classmethod
    def from_json(cls, document: object) -> InputSchema:
        """Parse a schema written by `to_json`."""
        if not isinstance(document, dict) or not isinstance(document.get("features"), list):
            raise SchemaError("an input schema must be a JSON object with a 'features' list")
        unknown = sorted(set(document) - {"features"})
        if unknown:
            raise SchemaError(f"input schema has unknown keys {unknown}")
        return cls(tuple(FeatureSpec.from_json(item) for item in document["features"]))

    @classmethod
    def of(cls, features: Iterable[FeatureSpec]) -> InputSchema:
        """Build a schema from any iterable of features."""
        return cls(tuple(features))


def _numeric_problem(value: object) -> str | None:
    if isinstance(value, bool):
        return f"must be a number, got boolean {value!r}"
    if isinstance(value, int | float):
        return number_problem(value)
    return f"must be a number, got {_json_type(value)}"


def _json_type(value: object) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def check_features(schema: InputSchema, features: object) -> list[str]:
    """Every problem with one request's features against the schema; an empty list means valid.

    Problems: not an object, a missing feature, an unknown feature, null where the feature is not nullable,
    a numeric feature that is not a finite double (booleans are not numbers; `core.record_limits`), a categorical
    feature that is not a string, or one longer than the contract allows or not encodable as UTF-8. Unseen
    categories are not problems. Names and values are quoted bounded (`core.record_limits.preview`).
    """
    if not isinstance(features, Mapping):
        return [f"'features' must be an object, got {_json_type(features)}"]
    values = cast(Mapping[str, object], features)
    problems: list[str] = []
    for spec in schema.features:
        if spec.name not in values:
            problems.append(f"missing feature '{spec.name}'")
            continue
        value = values[spec.name]
        if value is None:
            if not spec.nullable:
                problems.append(f"{feature_label(spec.name)} must not be null")
            continue
        if spec.kind == "numeric":
            problem = _numeric_problem(value)
        elif isinstance(value, str):
            problems += scalar_problems(spec.name, value)
            continue
        else:
            problem = f"must be a string, got {_json_type(value)}"
        if problem:
            problems.append(f"{feature_label(spec.name)} {problem}")
    known = set(schema.names)
    problems.extend(f"unknown feature {preview(name)}" for name in sorted(map(str, values)) if name not in known)
    return problems
