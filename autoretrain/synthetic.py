"""A churn-like data set with a known generating model, for the demo, the benchmarks and the tests.

Each row is one customer. Features are drawn independently per row (apart from the dependencies below):

- ``contract``: month-to-month 55 %, one-year 25 %, two-year 20 %.
- ``plan``: basic 45 %, standard 35 %, premium 20 %.
- ``payment_method``: card 40 %, bank_transfer 30 %, electronic_check 20 %, mailed_check 10 %.
- ``region``: north 30 %, south 25 %, east 25 %, west 20 % (no effect on churn: a pure noise feature).
- ``tenure_months``: Exponential(mean 26) rounded down, capped at 72.
- ``monthly_charges``: 30 / 60 / 95 for basic / standard / premium, plus Normal(0, 8), at least 10.
- ``support_calls``: Poisson(1.2), plus Poisson(0.8) more on month-to-month contracts.
- ``usage_hours``: Gamma(shape 4, scale 10), mean 40.
- ``days_since_last_login``: Exponential(mean 7) rounded down.

The target ``churned`` is Bernoulli(sigmoid(logit)) with::

    logit = intercept
          + Σ_numeric  coef[f] · (x_f − CENTER[f]) / SCALE[f]
          + Σ_categorical  coef[f"{f}={value}"]

using `DEFAULT_COEFFICIENTS` and `DEFAULT_INTERCEPT` (prevalence about 20 %, like real churn). Coefficients
not listed are zero. Values then go missing completely at random (`MISSING_RATES`): the outcome depends on the
true value, the observed column shows a missing value (NaN; for categoricals pandas' missing string).

Scenario knobs, each applied to the generating model, never to the labels directly:

- `CovariateShift`: moves a numeric feature's distribution (``x ↦ center + scale·(x − center) + shift``) before
  the outcome is drawn, so P(churn | x) is unchanged and only P(x) drifts.
- `CategoryShift`: replaces a categorical feature's category probabilities.
- `ConceptShift`: overrides coefficients and moves the intercept, so P(churn | x) changes while P(x) does not.
- ``corrupted_features``: features whose observed column is entirely missing (a broken upstream pipeline);
  the outcome still follows the true values.

Deterministic for a seed (numpy's ``Generator``) and vectorised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pandas as pd

TARGET = "churned"
PROBABILITY_COLUMN = "churn_probability"

NUMERIC_FEATURES: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "usage_hours",
    "days_since_last_login",
)
CATEGORY_PROBABILITIES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "contract": MappingProxyType({"month-to-month": 0.55, "one-year": 0.25, "two-year": 0.20}),
        "plan": MappingProxyType({"basic": 0.45, "standard": 0.35, "premium": 0.20}),
        "payment_method": MappingProxyType(
            {"card": 0.40, "bank_transfer": 0.30, "electronic_check": 0.20, "mailed_check": 0.10}
        ),
        "region": MappingProxyType({"north": 0.30, "south": 0.25, "east": 0.25, "west": 0.20}),
    }
)
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(CATEGORY_PROBABILITIES)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

#: Centre and scale that standardise each numeric feature inside the logit (fixed, not sample statistics).
CENTER: Mapping[str, float] = MappingProxyType(
    {
        "tenure_months": 24.0,
        "monthly_charges": 60.0,
        "support_calls": 1.6,
        "usage_hours": 40.0,
        "days_since_last_login": 7.0,
    }
)
SCALE: Mapping[str, float] = MappingProxyType(
    {
        "tenure_months": 20.0,
        "monthly_charges": 25.0,
        "support_calls": 1.3,
        "usage_hours": 20.0,
        "days_since_last_login": 7.0,
    }
)
DEFAULT_INTERCEPT = -2.2
DEFAULT_COEFFICIENTS: Mapping[str, float] = MappingProxyType(
    {
        "tenure_months": -0.9,
        "monthly_charges": 0.6,
        "support_calls": 0.7,
        "usage_hours": -0.5,
        "days_since_last_login": 0.5,
        "contract=month-to-month": 0.9,
        "contract=two-year": -1.0,
        "payment_method=electronic_check": 0.4,
        "plan=premium": -0.2,
    }
)
MISSING_RATES: Mapping[str, float] = MappingProxyType(
    {"usage_hours": 0.05, "days_since_last_login": 0.02, "payment_method": 0.03}
)

_PLAN_CHARGES = MappingProxyType({"basic": 30.0, "standard": 60.0, "premium": 95.0})


@dataclass(frozen=True, slots=True)
class CovariateShift:
    """Move a numeric feature's distribution: ``x ↦ center + scale·(x − center) + shift`` (center: `CENTER`)."""

    feature: str
    shift: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.feature not in NUMERIC_FEATURES:
            raise ValueError(f"covariate shift needs a numeric feature {NUMERIC_FEATURES}, got {self.feature!r}")
        if not np.isfinite(self.shift) or not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError("shift must be finite and scale finite and positive")


@dataclass(frozen=True, slots=True)
class CategoryShift:
    """Replace a categorical feature's category probabilities (normalised; categories may be new)."""

    feature: str
    probabilities: Mapping[str, float]

    def __post_init__(self) -> None:
        if self.feature not in CATEGORICAL_FEATURES:
            raise ValueError(f"category shift needs a categorical feature {CATEGORICAL_FEATURES}")
        weights = np.array(list(self.probabilities.values()), dtype=float)
        if weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("category probabilities must be non-negative, finite and not all zero")


@dataclass(frozen=True, slots=True)
class ConceptShift:
    """Change P(churn | x): override coefficients (term names as in `DEFAULT_COEFFICIENTS`) and the intercept."""

    coefficients: Mapping[str, float] = field(default_factory=dict)
    intercept_delta: float = 0.0

    def __post_init__(self) -> None:
        known = set(NUMERIC_FEATURES) | {
            f"{name}={category}" for name, table in CATEGORY_PROBABILITIES.items() for category in table
        }
        unknown = sorted(set(self.coefficients) - known)
        if unknown:
            raise ValueError(f"unknown coefficient terms {unknown}")


def _categorical(rng: np.random.Generator, probabilities: Mapping[str, float], n_rows: int) -> npt.NDArray[np.str_]:
    categories = np.array(list(probabilities), dtype=str)
    weights = np.array(list(probabilities.values()), dtype=float)
    return rng.choice(categories, size=n_rows, p=weights / weights.sum())


def _logit(
    columns: Mapping[str, npt.NDArray[np.generic]], coefficients: Mapping[str, float], intercept: float
) -> npt.NDArray[np.float64]:
    logit = np.full(len(columns[FEATURES[0]]), intercept, dtype=float)
    for term, coefficient in coefficients.items():
        if term in NUMERIC_FEATURES:
            values = columns[term].astype(float)
            logit += coefficient * (values - CENTER[term]) / SCALE[term]
        else:
            name, category = term.split("=", 1)
            logit += coefficient * (columns[name] == category)
    return logit


def generate_churn(
    n_rows: int,
    *,
    seed: int,
    covariate_shifts: Iterable[CovariateShift] = (),
    category_shifts: Iterable[CategoryShift] = (),
    concept_shift: ConceptShift | None = None,
    corrupted_features: Iterable[str] = (),
    include_probability: bool = False,
) -> pd.DataFrame:
    """Draw `n_rows` customers from the generating model in this module's docstring.

    Columns: `FEATURES` in order, then `TARGET` (0/1), then `PROBABILITY_COLUMN` (the true churn probability)
    if `include_probability` — an oracle for tests, never a feature to train on.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be non-negative")
    corrupted = set(corrupted_features)
    if not corrupted <= set(FEATURES):
        raise ValueError(f"unknown corrupted features {sorted(corrupted - set(FEATURES))}")
    rng = np.random.default_rng(seed)
    category_probabilities = dict(CATEGORY_PROBABILITIES)
    for category_shift in category_shifts:
        category_probabilities[category_shift.feature] = category_shift.probabilities

    columns: dict[str, npt.NDArray[np.generic]] = {
        name: _categorical(rng, category_probabilities[name], n_rows) for name in CATEGORICAL_FEATURES
    }
    month_to_month = columns["contract"] == "month-to-month"
    base_charge = np.select(
        [columns["plan"] == plan for plan in _PLAN_CHARGES], list(_PLAN_CHARGES.values()), default=60.0
    )
    columns["tenure_months"] = np.minimum(np.floor(rng.exponential(26.0, n_rows)), 72.0)
    columns["monthly_charges"] = np.maximum(base_charge + rng.normal(0.0, 8.0, n_rows), 10.0)
    columns["support_calls"] = (rng.poisson(1.2, n_rows) + rng.poisson(0.8, n_rows) * month_to_month).astype(float)
    columns["usage_hours"] = rng.gamma(4.0, 10.0, n_rows)
    columns["days_since_last_login"] = np.floor(rng.exponential(7.0, n_rows))
    for covariate_shift in covariate_shifts:
        center = CENTER[covariate_shift.feature]
        values = columns[covariate_shift.feature].astype(float)
        columns[covariate_shift.feature] = center + covariate_shift.scale * (values - center) + covariate_shift.shift

    coefficients = dict(DEFAULT_COEFFICIENTS)
    intercept = DEFAULT_INTERCEPT
    if concept_shift is not None:
        coefficients.update(concept_shift.coefficients)
        intercept += concept_shift.intercept_delta
    probability = 1.0 / (1.0 + np.exp(-_logit(columns, coefficients, intercept)))
    churned = (rng.random(n_rows) < probability).astype(np.int64)

    frame = pd.DataFrame({name: columns[name] for name in FEATURES})
    for name in CATEGORICAL_FEATURES:
        frame[name] = frame[name].astype("str")
    missing_draws = rng.random((n_rows, len(FEATURES)))
    for position, name in enumerate(FEATURES):
        rate = 1.0 if name in corrupted else MISSING_RATES.get(name, 0.0)
        if rate > 0.0:
            frame[name] = frame[name].mask(missing_draws[:, position] < rate)
    frame[TARGET] = churned
    if include_probability:
        frame[PROBABILITY_COLUMN] = probability
    return frame
