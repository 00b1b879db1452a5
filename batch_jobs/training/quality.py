"""Quality checks on training data: the job refuses to train on data that fails any of them. Pure.

Every check runs (none stops at the first failure), so a refusal lists every reason at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from batch_jobs.training.frames import feature_columns
from core.features import InputSchema
from core.odds import odds_band


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """Thresholds of the quality checks.

    - `min_rows` (1,000) training rows and `min_class_rows` (50) of the rarer class: less cannot train and
      validate a model worth releasing.
    - `max_missing_rate` (0.5): a feature missing in more than half the rows is a broken upstream, not data.
    - `max_label_rate_odds_ratio` (3.0): the share of positive labels may differ from the reference label rate
      (the champion's training data) by at most this factor in odds (20 % -> between 7.7 % and 43 %); inverted
      or mislabelled ground truth lands far outside.
    - `max_invalid_rate` (0.01): values of a numeric feature that are not numbers or not finite are treated as
      missing (counted in the report's `invalid_values`) up to this share of rows; more is a broken upstream.
      A handful of such records, which the record contract cannot refuse (it does not know the model's schema),
      must not block every retrain whose look-back holds them.
    """

    min_rows: int = 1000
    min_class_rows: int = 50
    max_missing_rate: float = 0.5
    max_label_rate_odds_ratio: float = 3.0
    max_invalid_rate: float = 0.01

    def __post_init__(self) -> None:
        if self.min_rows < 1 or self.min_class_rows < 1:
            raise ValueError("min_rows and min_class_rows must be at least 1")
        if not 0.0 < self.max_missing_rate <= 1.0:
            raise ValueError("max_missing_rate must be in (0, 1]")
        if self.max_label_rate_odds_ratio < 1.0:
            raise ValueError("max_label_rate_odds_ratio must be >= 1")
        if not 0.0 <= self.max_invalid_rate < 1.0:
            raise ValueError("max_invalid_rate must be in [0, 1)")


@dataclass(frozen=True, slots=True)
class QualityReport:
    """The verdict on the training data, every failed check's reason, and the numbers behind it."""

    passed: bool
    reasons: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)


def check_quality(
    frame: pd.DataFrame,
    *,
    schema: InputSchema,
    target: str,
    config: QualityConfig,
    reference_label_rate: float | None = None,
) -> QualityReport:
    """Check a training frame against the serving schema and `config`; never raises on bad data."""
    reasons: list[str] = []
    n_rows = len(frame)
    details: dict[str, Any] = {"rows": n_rows}
    if n_rows < config.min_rows:
        reasons.append(f"rows: {n_rows} training rows, at least {config.min_rows} required")

    columns = feature_columns(frame, target)
    missing = [name for name in schema.names if name not in columns]
    unexpected = [name for name in columns if name not in schema.names]
    if missing:
        reasons.append(f"schema: features {missing} of the serving schema are missing from the data")
    if unexpected:
        reasons.append(f"schema: columns {unexpected} are not in the serving schema")

    reasons.extend(_label_problems(frame, target, config, reference_label_rate, details))

    missing_rates: dict[str, float] = {}
    invalid_values: dict[str, int] = {}
    for spec in schema.features:
        if spec.name not in frame.columns or n_rows == 0:
            continue
        column = frame[spec.name]
        if spec.kind == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            not_numbers = int((column.notna().to_numpy() & np.isnan(values)).sum())
            infinite = int(np.isinf(values).sum())
            allowed = config.max_invalid_rate * n_rows
            if not_numbers > allowed:
                reasons.append(f"schema: numeric feature {spec.name!r} has {not_numbers} values that are not numbers")
            if infinite > allowed:
                reasons.append(f"finite: numeric feature {spec.name!r} has {infinite} non-finite values")
            if not_numbers + infinite:
                invalid_values[spec.name] = not_numbers + infinite
            rate = float((~np.isfinite(values)).mean())
        else:
            rate = float(column.isna().mean())
        missing_rates[spec.name] = round(rate, 6)
        if rate > config.max_missing_rate:
            reasons.append(
                f"missing: feature {spec.name!r} is missing in {rate:.1%} of rows "
                f"(at most {config.max_missing_rate:.0%} allowed): corrupted upstream data?"
            )
    details["missing_rates"] = missing_rates
    if invalid_values:
        details["invalid_values"] = invalid_values
    return QualityReport(passed=not reasons, reasons=tuple(reasons), details=details)


def _label_problems(
    frame: pd.DataFrame,
    target: str,
    config: QualityConfig,
    reference_label_rate: float | None,
    details: dict[str, Any],
) -> list[str]:
    if target not in frame.columns:
        return [f"labels: the target column {target!r} is missing"]
    labels = pd.to_numeric(frame[target], errors="coerce")
    valid = labels.isin((0, 1))
    problems = []
    if not valid.all():
        problems.append(f"labels: {int((~valid).sum())} labels are missing or not 0/1")
    positives = int((labels == 1).sum())
    negatives = int((labels == 0).sum())
    details.update(positives=positives, negatives=negatives)
    if min(positives, negatives) < config.min_class_rows:
        problems.append(
            f"labels: {positives} positive and {negatives} negative rows, at least {config.min_class_rows} of each "
            "required"
        )
    if positives + negatives and reference_label_rate is not None and 0.0 < reference_label_rate < 1.0:
        rate = positives / (positives + negatives)
        low, high = odds_band(reference_label_rate, config.max_label_rate_odds_ratio)
        details.update(label_rate=rate, label_rate_band=[low, high], reference_label_rate=reference_label_rate)
        if not low <= rate <= high:
            problems.append(
                f"labels: positive label rate {rate:.1%} is outside [{low:.1%}, {high:.1%}] around the reference "
                f"rate {reference_label_rate:.1%}: mislabelled or inverted ground truth?"
            )
    return problems
