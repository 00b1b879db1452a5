"""The monitoring baseline (`baseline.json`): what the alerting Lambda compares live traffic with.

The retrain job computes it (`batch_jobs.baseline`) and writes it beside the model; the alerting Lambda reads it.
Both use this one document. Standard library only: the alerting zip ships this module.

Fields: `model_name`, `model_version`, `decision_threshold`, `positive_rate` (share of scores at or above the
threshold), `score_mean`, `score_std`, `n_reference` (rows the score statistics come from), `features` (`name`,
`kind`, `nullable`, `missing_rate` on the training data, `categories` for categorical features) and
`latency_ms_p99` (null until known). Unknown keys are ignored, so a newer writer does not break an older reader.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

from core.features import FEATURE_KINDS, FeatureKind


class BaselineError(ValueError):
    """A baseline.json document is malformed; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class FeatureBaseline:
    """One input feature as the model saw it in training."""

    name: str
    kind: FeatureKind
    nullable: bool
    missing_rate: float
    categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The feature as a JSON object (`categories` only for a categorical feature, or if there are any)."""
        document: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "nullable": self.nullable,
            "missing_rate": self.missing_rate,
        }
        if self.kind == "categorical" or self.categories:
            document["categories"] = list(self.categories)
        return document


@dataclass(frozen=True, slots=True)
class MonitoringBaseline:
    """The baseline document of one model version (see the module docstring for the fields)."""

    model_name: str
    model_version: str
    decision_threshold: float
    positive_rate: float
    score_mean: float
    score_std: float
    n_reference: int
    features: tuple[FeatureBaseline, ...]
    latency_ms_p99: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The document as a JSON object."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "decision_threshold": self.decision_threshold,
            "positive_rate": self.positive_rate,
            "score_mean": self.score_mean,
            "score_std": self.score_std,
            "n_reference": self.n_reference,
            "features": [feature.to_json() for feature in self.features],
            "latency_ms_p99": self.latency_ms_p99,
        }

    def dumps(self) -> str:
        """Canonical JSON text (sorted keys; strict: no NaN)."""
        return json.dumps(self.to_json(), sort_keys=True, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, document: object) -> MonitoringBaseline:
        """Validate a decoded baseline.json; `BaselineError` lists every problem."""
        if not isinstance(document, dict):
            raise BaselineError([f"baseline must be a JSON object, got {type(document).__name__}"])
        problems: list[str] = []
        strings = {name: _string(document, name, problems) for name in ("model_name", "model_version")}
        numbers = {
            name: _number(document, name, problems, low=0.0, high=high)
            for name, high in (
                ("decision_threshold", 1.0),
                ("positive_rate", 1.0),
                ("score_mean", 1.0),
                ("score_std", 1.0),
                ("n_reference", math.inf),
            )
        }
        latency = document.get("latency_ms_p99")
        if latency is not None and (not _is_number(latency) or latency < 0):
            problems.append(f"'latency_ms_p99' must be null or a non-negative number, got {latency!r}")
        features = _features(document.get("features"), problems)
        if problems:
            raise BaselineError(problems)
        return cls(
            model_name=strings["model_name"],
            model_version=strings["model_version"],
            decision_threshold=numbers["decision_threshold"],
            positive_rate=numbers["positive_rate"],
            score_mean=numbers["score_mean"],
            score_std=numbers["score_std"],
            n_reference=int(numbers["n_reference"]),
            features=features,
            latency_ms_p99=None if latency is None else float(latency),
        )

    @classmethod
    def loads(cls, text: str | bytes) -> MonitoringBaseline:
        """Parse baseline.json's text or bytes; `BaselineError` if it is not JSON or not a valid baseline."""
        try:
            document = json.loads(text)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise BaselineError([f"baseline is not JSON: {error}"]) from error
        return cls.from_json(document)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _string(document: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value:
        problems.append(f"'{name}' must be a non-empty string, got {value!r}")
        return ""
    return value


def _number(document: Mapping[str, Any], name: str, problems: list[str], *, low: float, high: float) -> float:
    value = document.get(name)
    if not _is_number(value) or not low <= value <= high:
        problems.append(f"'{name}' must be a number in [{low:g}, {high:g}], got {value!r}")
        return 0.0
    return float(value)


def _features(value: object, problems: list[str]) -> tuple[FeatureBaseline, ...]:
    if not isinstance(value, list) or not value:
        problems.append("'features' must be a non-empty list")
        return ()
    features: list[FeatureBaseline] = []
    for index, entry in enumerate(value):
        where = f"features[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object")
            continue
        name, kind, nullable = entry.get("name"), entry.get("kind"), entry.get("nullable")
        raw_rate: object = entry.get("missing_rate", 0.0)
        missing_rate = float(raw_rate) if _is_number(raw_rate) else -1.0
        categories = entry.get("categories", [])
        start = len(problems)
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name must be a non-empty string")
        if kind not in FEATURE_KINDS:
            problems.append(f"{where}.kind must be 'numeric' or 'categorical', got {kind!r}")
        if not isinstance(nullable, bool):
            problems.append(f"{where}.nullable must be a boolean")
        if not 0.0 <= missing_rate <= 1.0:
            problems.append(f"{where}.missing_rate must be a number in [0, 1], got {raw_rate!r}")
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            problems.append(f"{where}.categories must be a list of strings")
        if len(problems) == start:
            features.append(
                FeatureBaseline(str(name), cast(FeatureKind, kind), bool(nullable), missing_rate, tuple(categories))
            )
    names = [feature.name for feature in features]
    if len(set(names)) != len(names):
        problems.append("feature names must be unique")
    return tuple(features)
