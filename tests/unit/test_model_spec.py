"""The default model spec: it learns the synthetic churn model and pickles into library classes only."""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import ModelKind, ModelSpec, build_model, feature_frame, infer_input_schema
from core.features import SchemaError

#: Top-level modules a pickled default model may reference: the serving image ships exactly these.
SERVING_LIBRARIES = {"sklearn", "numpy", "scipy", "pandas", "builtins", "copyreg", "_codecs", "collections"}


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    """Gradient boosting slows down tenfold when its OpenMP threads compete for 2 busy cores."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return generate_churn(4_000, seed=11)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return generate_churn(4_000, seed=12)


def _fit(frame: pd.DataFrame, spec: ModelSpec) -> Any:
    schema = infer_input_schema(frame)
    return build_model(schema, spec).fit(feature_frame(frame, schema), frame[TARGET])


@pytest.mark.parametrize("kind", ["logistic_regression", "hist_gradient_boosting"])
def test_model_learns_churn_well_above_chance(train: pd.DataFrame, holdout: pd.DataFrame, kind: ModelKind) -> None:
    model = _fit(train, ModelSpec(kind=kind))
    scores = model.predict_proba(feature_frame(holdout, infer_input_schema(train)))[:, 1]
    assert roc_auc_score(holdout[TARGET], scores) > 0.75


def test_training_is_reproducible_for_a_random_state(train: pd.DataFrame) -> None:
    spec = ModelSpec(kind="hist_gradient_boosting", random_state=5)
    first, second = _fit(train, spec), _fit(train, spec)
    frame = feature_frame(train.head(200), infer_input_schema(train))
    np.testing.assert_array_equal(first.predict_proba(frame), second.predict_proba(frame))


def test_pickled_model_references_only_serving_libraries(train: pd.DataFrame) -> None:
    referenced: set[str] = set()

    class RecordingUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            referenced.add(module.split(".", maxsplit=1)[0])
            return super().find_class(module, name)

    RecordingUnpickler(io.BytesIO(pickle.dumps(_fit(train, ModelSpec())))).load()
    assert "sklearn" in referenced
    assert referenced <= SERVING_LIBRARIES


def test_model_scores_unseen_categories_and_missing_values(train: pd.DataFrame) -> None:
    schema = infer_input_schema(train)
    model = _fit(train, ModelSpec())
    odd = train.head(2).copy()
    odd["plan"] = ["enterprise", None]
    odd["usage_hours"] = np.nan
    scores = model.predict_proba(feature_frame(odd, schema))[:, 1]
    assert np.all(np.isfinite(scores))


def test_inferred_schema_has_kinds_categories_and_nullability(train: pd.DataFrame) -> None:
    schema = infer_input_schema(train)
    assert TARGET not in schema.names
    assert schema.feature("contract").categories == ("month-to-month", "one-year", "two-year")
    assert schema.feature("tenure_months").kind == "numeric"
    assert (schema.feature("usage_hours").nullable, schema.feature("tenure_months").nullable) == (True, False)


def test_all_nullable_makes_every_feature_nullable(train: pd.DataFrame) -> None:
    assert all(feature.nullable for feature in infer_input_schema(train, all_nullable=True).features)


def test_excluded_columns_are_not_features() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "row_id": [1, 2], TARGET: [0, 1]})
    assert infer_input_schema(frame, exclude=["row_id"]).names == ("a",)


def test_boolean_column_is_refused() -> None:
    with pytest.raises(SchemaError, match="boolean"):
        infer_input_schema(pd.DataFrame({"flag": [True, False], TARGET: [0, 1]}))


def test_categorical_column_of_non_strings_is_refused() -> None:
    frame = pd.DataFrame({"code": pd.Series(["a", 3], dtype=object), TARGET: [0, 1]})
    with pytest.raises(SchemaError, match="not strings"):
        infer_input_schema(frame)


def test_feature_frame_requires_every_schema_column(train: pd.DataFrame) -> None:
    with pytest.raises(SchemaError, match="lacks feature columns"):
        feature_frame(train.drop(columns=["plan"]), infer_input_schema(train))


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1])
def test_decision_threshold_outside_the_unit_interval_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="decision_threshold"):
        ModelSpec(decision_threshold=threshold)
