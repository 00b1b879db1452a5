"""Fitting from the model spec and the incremental path (partial_fit / warm_start) from a champion."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.training import fitting

TRAIN = generate_churn(1500, seed=1)
NEW = generate_churn(1500, seed=2)
TEST = generate_churn(1500, seed=3)
SCHEMA = model_spec.infer_input_schema(TRAIN, all_nullable=True)


def champion() -> Pipeline:
    model: Pipeline = fitting.fit_model(TRAIN, SCHEMA, model_spec.DEFAULT_SPEC)
    return model


def test_warm_start_update_learns_from_new_rows_and_leaves_the_champion_unchanged() -> None:
    original = champion()
    before = pickle.dumps(original)

    updated = fitting.update_incrementally(original, NEW, SCHEMA, TARGET)

    assert pickle.dumps(original) == before
    assert not np.array_equal(updated[-1].coef_, original[-1].coef_)
    assert roc_auc_score(TEST[TARGET], fitting.score(updated, TEST, SCHEMA)) > 0.7


def test_partial_fit_estimators_are_updated_with_partial_fit() -> None:
    model = model_spec.build_model(SCHEMA)
    model.steps[-1] = ("classifier", SGDClassifier(loss="log_loss", random_state=0))
    model.fit(model_spec.feature_frame(TRAIN, SCHEMA), TRAIN[TARGET])
    iterations = model[-1].t_

    updated = fitting.update_incrementally(model, NEW, SCHEMA, TARGET)

    assert updated[-1].t_ == iterations + len(NEW)


def test_an_estimator_without_partial_fit_or_warm_start_is_refused() -> None:
    model = model_spec.build_model(SCHEMA)
    model.steps[-1] = ("classifier", KNeighborsClassifier())
    model.fit(model_spec.feature_frame(TRAIN, SCHEMA), TRAIN[TARGET])

    assert not fitting.supports_incremental(model)
    with pytest.raises(fitting.IncrementalUpdateError, match="KNeighborsClassifier"):
        fitting.update_incrementally(model, NEW, SCHEMA, TARGET)
