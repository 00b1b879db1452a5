"""The decision threshold: the spec's when set, else the one that labels the training prevalence positive."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autoretrain.synthetic import TARGET, ConceptShift, generate_churn
from batch_jobs import model_spec
from batch_jobs.gate import CheckName, GateConfig, evaluate_gate
from batch_jobs.training import fitting

#: ~20 % churn (the generator's default) and ~12 % (its intercept lowered): 0.5 labels too few rows positive.
PREVALENCES = {"churn-20pct": None, "churn-12pct": ConceptShift(intercept_delta=-0.8)}


@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=2, max_size=200, unique_by=lambda row: row[0]))
def test_prevalence_threshold_labels_as_many_rows_positive_as_there_are_positives(
    rows: list[tuple[float, bool]],
) -> None:
    scores = np.array([score for score, _ in rows])
    labels = np.array([int(label) for _, label in rows])
    if labels.min() == labels.max():
        labels[0] = 1 - labels[0]

    descending = np.sort(scores)[::-1]
    positives = int(labels.sum())
    # Only a threshold in the open interval (0, 1) is allowed: scores that need 0 or 1 itself cannot be split.
    assume(descending[positives - 1] > 0.0 and descending[positives] < math.nextafter(1.0, 0.0))

    threshold = fitting.prevalence_threshold(scores, labels)

    assert 0.0 < threshold < 1.0
    assert int((scores >= threshold).sum()) == positives


def test_prevalence_threshold_stays_inside_the_open_unit_interval() -> None:
    assert 0.0 < fitting.prevalence_threshold([0.0, 0.0, 0.0], [1, 0, 0]) < 1.0
    assert 0.0 < fitting.prevalence_threshold([1.0, 1.0, 0.2], [1, 1, 0]) < 1.0


def test_prevalence_threshold_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fitting.prevalence_threshold([0.2, 0.7], [0, 0])


def test_an_explicit_threshold_is_used_as_it_is_and_nothing_is_fitted() -> None:
    def never(*_: object) -> Any:
        raise AssertionError("an explicit threshold needs no out-of-fold scores")

    train = generate_churn(200, seed=1)

    choice = fitting.choose_threshold(model_spec.ModelSpec(decision_threshold=0.42), train, fit=never, score=never)

    assert (choice.value, choice.rule) == (0.42, "explicit")


def test_the_default_spec_leaves_the_threshold_to_training() -> None:
    assert model_spec.DEFAULT_SPEC.decision_threshold is None


@pytest.mark.parametrize("shift", PREVALENCES.values(), ids=PREVALENCES.keys())
def test_default_spec_passes_the_gates_positive_rate_check_on_churn(shift: ConceptShift | None) -> None:
    frame = generate_churn(5000, seed=2, concept_shift=shift)
    train, holdout = frame.iloc[:4000], frame.iloc[4000:]
    schema = model_spec.infer_input_schema(train, all_nullable=True)
    spec = model_spec.DEFAULT_SPEC
    model = fitting.fit_model(train, schema, spec)
    fit, score = partial(fitting.fit_model, schema=schema, spec=spec), partial(fitting.score, schema=schema)

    choice = fitting.choose_threshold(spec, train, fit=fit, score=score)
    decision = evaluate_gate(
        GateConfig(),
        fitting.labels_of(holdout, TARGET),
        None,
        fitting.score(model, holdout, schema),
        challenger_schema=schema.features,
        serving_schema=schema.features,
        challenger_threshold=choice.value,
    )

    assert decision.check(CheckName.POSITIVE_RATE).passed, decision.check(CheckName.POSITIVE_RATE).detail
    assert choice.rule == "training_prevalence"
    assert choice.training_positive_rate == pytest.approx(train[TARGET].mean(), abs=1e-3)


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_row() -> None:
    train = pd.DataFrame({"x": np.arange(10.0), TARGET: [0, 1] * 5})
    fitted_on: list[set[float]] = []

    def fit(rows: pd.DataFrame) -> set[float]:
        fitted_on.append(set(rows["x"]))
        return fitted_on[-1]

    def score(seen: set[float], rows: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.array([float(x in seen) for x in rows["x"]])

    scores = fitting.out_of_fold_scores(
        train, fitting.labels_of(train, TARGET), fit=fit, score=score, folds=5, random_state=0
    )

    assert len(fitted_on) == 5
    np.testing.assert_array_equal(scores, np.zeros(10))
