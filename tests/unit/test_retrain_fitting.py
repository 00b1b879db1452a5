"""Fitting from the model spec (with or without sample weights) and the incremental path (partial_fit / warm_start)
from a champion."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.training import fitting
from core.features import InputSchema

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


def with_flipped_copy(frame: pd.DataFrame) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """The frame followed by a copy of it whose labels are flipped (the same medians, scales and categories), with
    weights 1 on the original rows and 0 on the copy."""
    flipped = frame.assign(**{TARGET: 1 - frame[TARGET]})
    both = pd.concat([frame, flipped], ignore_index=True)
    return both, np.repeat(np.array([1.0, 0.0]), len(frame))


def test_zero_weights_leave_the_model_fitted_on_the_other_rows() -> None:
    both, weights = with_flipped_copy(TRAIN)

    weighted = fitting.fit_model(both, SCHEMA, model_spec.DEFAULT_SPEC, sample_weight=weights)

    alone = fitting.fit_model(TRAIN, SCHEMA, model_spec.DEFAULT_SPEC)
    np.testing.assert_allclose(weighted[-1].coef_, alone[-1].coef_, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fitting.score(weighted, TEST, SCHEMA), fitting.score(alone, TEST, SCHEMA), atol=1e-6)


@pytest.mark.parametrize("kind", ["logistic_regression", "hist_gradient_boosting"])
def test_every_model_kind_of_the_spec_takes_sample_weights(kind: model_spec.ModelKind) -> None:
    model = model_spec.build_model(SCHEMA, model_spec.ModelSpec(kind=kind))

    assert fitting.accepts_sample_weight(model)


def test_an_estimator_without_sample_weights_is_fitted_on_a_weighted_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    def nearest_neighbour(schema: InputSchema, spec: model_spec.ModelSpec) -> Pipeline:
        model: Pipeline = build_model(schema, spec)
        model.steps[-1] = ("classifier", KNeighborsClassifier(n_neighbors=1))
        return model

    build_model = model_spec.build_model
    monkeypatch.setattr(model_spec, "build_model", nearest_neighbour)
    weights = TRAIN[TARGET].to_numpy(dtype=np.float64)  # zero on every negative row

    model = fitting.fit_model(TRAIN, SCHEMA, model_spec.DEFAULT_SPEC, sample_weight=weights)

    assert not fitting.accepts_sample_weight(model)
    assert list(model.classes_) == [1]  # it saw positive rows only
    assert model[-1].n_samples_fit_ == len(TRAIN)


def test_weighted_fits_of_a_fold_take_the_weights_of_its_rows() -> None:
    seen: list[NDArray[np.float64]] = []

    def fit(rows: pd.DataFrame, sample_weight: NDArray[np.float64]) -> None:
        seen.append(sample_weight)

    weights = np.arange(len(TRAIN), dtype=np.float64) + 1.0
    fitting.weighted(fit, TRAIN, weights)(TRAIN.iloc[[5, 2, 9]])

    np.testing.assert_array_equal(seen[0], [6.0, 3.0, 10.0])


def test_the_threshold_is_chosen_on_out_of_fold_scores_of_weighted_fits() -> None:
    both, weights = with_flipped_copy(TRAIN)
    fit = fitting.weighted(partial(fitting.fit_model, schema=SCHEMA, spec=model_spec.DEFAULT_SPEC), both, weights)
    score = partial(fitting.score, schema=SCHEMA)

    choice = fitting.choose_threshold(model_spec.DEFAULT_SPEC, both, fit=fit, score=score)

    # Unweighted, each copy cancels its original: every fold's model scores about 0.5, and so does the threshold
    # (0.49997). Weighted, the folds learn the original rows, and the threshold (half the rows are positive: the
    # median score) lies between the scores of their positives and their negatives (0.11).
    original_scores = fitting.score(fit(both), TRAIN, SCHEMA)
    positives = TRAIN[TARGET].to_numpy() == 1
    assert np.median(original_scores[positives]) > choice.value > np.median(original_scores[~positives])


def test_sample_weights_of_an_incremental_update_go_to_the_final_estimator() -> None:
    both, weights = with_flipped_copy(NEW)

    weighted = fitting.update_incrementally(champion(), both, SCHEMA, TARGET, sample_weight=weights)

    alone = fitting.update_incrementally(champion(), NEW, SCHEMA, TARGET)
    np.testing.assert_allclose(weighted[-1].coef_, alone[-1].coef_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("weights", [np.ones(3), -np.ones(1500), np.zeros(1500), np.full(1500, np.nan)])
def test_sample_weights_must_be_one_finite_non_negative_weight_per_row(weights: NDArray[np.float64]) -> None:
    with pytest.raises(ValueError, match="weight"):
        fitting.fit_model(TRAIN, SCHEMA, model_spec.DEFAULT_SPEC, sample_weight=weights)
