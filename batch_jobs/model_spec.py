"""The default model spec: what the retrain job trains. Replace it to train your own model.

The contract a replacement keeps: `build_model(schema, spec)` returns an unfitted scikit-learn classifier whose
`predict_proba` takes a DataFrame with the schema's columns (numeric as float64 with NaN for missing, categorical
as pandas' string dtype with NaN for missing: `feature_frame` makes one) and whose positive class is 1 in the
target column `TARGET`. The fitted object is pickled into the serving image, which ships scikit-learn, numpy,
scipy and pandas but not this package: it must be built from those libraries' classes only (no custom
transformers, no lambdas).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.features import FeatureSpec, InputSchema, SchemaError

TARGET = "churned"
#: What a missing categorical value becomes before one-hot encoding (a category of its own).
MISSING_CATEGORY = "__missing__"

ModelKind = Literal["logistic_regression", "hist_gradient_boosting"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Hyper-parameters of the default model.

    `decision_threshold`: a score at or above it is labelled 1. None (the default) lets the retrain job choose it
    at training time so that the model labels as many training rows positive as there are positive labels: the
    score halfway between the k-th and (k+1)-th highest out-of-fold training score, k the number of positives
    (`batch_jobs.training.fitting.choose_threshold`). For a calibrated model that is the positive rate the gate's
    positive-rate check expects (a band around the holdout's prevalence); a fixed 0.5 would label far fewer rows
    positive than a 20 % outcome has. A number in (0, 1) is used as it is, for a threshold set by business costs.
    Either way the value is written into the manifest (and the release's baseline and reference profile) and the
    serving Lambda applies it, so changing it needs a new model version.
    """

    kind: ModelKind = "logistic_regression"
    random_state: int = 0
    decision_threshold: float | None = None
    target: str = TARGET

    def __post_init__(self) -> None:
        if self.decision_threshold is not None and not 0.0 < self.decision_threshold < 1.0:
            raise ValueError("decision_threshold must be in (0, 1), or None to match the training prevalence")


DEFAULT_SPEC = ModelSpec()


def build_model(schema: InputSchema, spec: ModelSpec = DEFAULT_SPEC) -> Any:
    """An unfitted Pipeline: impute and scale numerics, impute and one-hot categoricals, then the classifier."""
    dense = spec.kind == "hist_gradient_boosting"
    transformers: list[tuple[str, Any, list[str]]] = []
    numeric = list(schema.names_of("numeric"))
    categorical = list(schema.names_of("categorical"))
    if numeric:
        numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        transformers.append(("numeric", numeric_steps, numeric))
    if categorical:
        categorical_steps = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=not dense)),
            ]
        )
        transformers.append(("categorical", categorical_steps, categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0 if dense else 0.3)
    classifier: Any
    if spec.kind == "logistic_regression":
        classifier = LogisticRegression(max_iter=1000, random_state=spec.random_state)
    else:
        classifier = HistGradientBoostingClassifier(random_state=spec.random_state)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def infer_input_schema(
    frame: pd.DataFrame, *, target: str = TARGET, exclude: Iterable[str] = (), all_nullable: bool = False
) -> InputSchema:
    """The input schema of a training frame: every column but the target and `exclude`, in frame order.

    Numeric dtypes (not boolean) are numeric features; string, object and category dtypes are categorical, with
    the categories seen. A feature is nullable where the frame has missing values in it, or everywhere with
    `all_nullable` (the pipeline imputes any feature, so this only loosens request validation).
    """
    skipped = {target, *exclude}
    specs: list[FeatureSpec] = []
    for name in frame.columns:
        if name in skipped:
            continue
        column = frame[name]
        if not isinstance(name, str):
            raise SchemaError(f"column names must be strings, got {name!r}")
        nullable = all_nullable or bool(column.isna().any())
        if pd.api.types.is_bool_dtype(column.dtype):
            raise SchemaError(f"column {name!r} is boolean: encode it as a number (0/1) or as strings")
        if pd.api.types.is_numeric_dtype(column.dtype):
            specs.append(FeatureSpec(name, "numeric", nullable))
            continue
        if not (
            pd.api.types.is_string_dtype(column.dtype)
            or pd.api.types.is_object_dtype(column.dtype)
            or isinstance(column.dtype, pd.CategoricalDtype)
        ):
            raise SchemaError(f"column {name!r} has unsupported dtype {column.dtype}")
        values = pd.unique(column.dropna().to_numpy(dtype=object))
        if not all(isinstance(value, str) for value in values):
            raise SchemaError(f"categorical column {name!r} holds values that are not strings")
        specs.append(FeatureSpec(name, "categorical", nullable, tuple(sorted(values))))
    return InputSchema(tuple(specs))


def feature_frame(frame: pd.DataFrame, schema: InputSchema) -> pd.DataFrame:
    """The schema's columns in model order with the dtypes the model expects (float64; string with NaN).

    A numeric feature's value that is not a finite number is missing (NaN): the quality check has counted such
    values and refused data with too many (`QualityConfig.max_invalid_rate`).
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise SchemaError(f"frame lacks feature columns {missing}")
    return pd.DataFrame(
        {
            spec.name: _finite_numbers(frame[spec.name]) if spec.kind == "numeric" else frame[spec.name].astype("str")
            for spec in schema.features
        },
        index=frame.index,
    )


def _finite_numbers(column: pd.Series[Any]) -> pd.Series[float]:
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    return values.where(np.isfinite(values))
