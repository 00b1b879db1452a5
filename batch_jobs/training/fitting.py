"""Fitting the challenger from the model spec, or updating the champion incrementally; scoring. Pure.

The model spec (`batch_jobs.model_spec`, replaceable by users) builds an unfitted classifier. A spec whose final
estimator has `partial_fit` (e.g. `SGDClassifier`) or a `warm_start` parameter (e.g. `LogisticRegression`) can
instead be updated from the champion: the champion's fitted preprocessing is kept as it is (so its input
encoding, and therefore the serving schema's categories, stay the same) and only the final estimator learns
from the new rows. The result goes through the same gate as a refit.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

from autoretrain.features import InputSchema
from batch_jobs import model_spec


class IncrementalUpdateError(ValueError):
    """The champion cannot be updated incrementally (its final estimator has neither partial_fit nor warm_start)."""


def labels_of(frame: pd.DataFrame, target: str) -> NDArray[np.int64]:
    """The target column as 0/1 integers."""
    labels: NDArray[np.int64] = frame[target].to_numpy(dtype=np.int64)
    return labels


def fit_model(train: pd.DataFrame, schema: InputSchema, spec: model_spec.ModelSpec) -> Any:
    """A new model from the spec, fitted on `train`'s schema columns."""
    model = model_spec.build_model(schema, spec)
    model.fit(model_spec.feature_frame(train, schema), labels_of(train, spec.target))
    return model


def score(model: Any, frame: pd.DataFrame, schema: InputSchema) -> NDArray[np.float64]:
    """The model's probability of class 1 for each row."""
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"the model's classes {classes} do not include the positive class 1")
    probabilities = np.asarray(model.predict_proba(model_spec.feature_frame(frame, schema)), dtype=np.float64)
    return probabilities[:, classes.index(1)]


def _final_estimator(model: Any) -> Any:
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def supports_incremental(model: Any) -> bool:
    """Whether the model's final estimator can learn from new rows without starting over."""
    final = _final_estimator(model)
    get_params = getattr(final, "get_params", None)
    return hasattr(final, "partial_fit") or (callable(get_params) and "warm_start" in get_params(deep=False))


def update_incrementally(champion: Any, train: pd.DataFrame, schema: InputSchema, target: str) -> Any:
    """A copy of the champion whose final estimator continued learning on `train` (the champion is unchanged)."""
    if not supports_incremental(champion):
        raise IncrementalUpdateError(
            f"{type(_final_estimator(champion)).__name__} has neither partial_fit nor warm_start: refit instead"
        )
    model = copy.deepcopy(champion)
    features, labels = model_spec.feature_frame(train, schema), labels_of(train, target)
    if isinstance(model, Pipeline):
        encoded = model[:-1].transform(features)
        final = model.steps[-1][1]
    else:
        encoded, final = features, model
    if hasattr(final, "partial_fit"):
        final.partial_fit(encoded, labels, classes=np.array([0, 1]))
    else:
        final.set_params(warm_start=True)
        final.fit(encoded, labels)
    return model
