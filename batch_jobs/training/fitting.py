"""Fitting the challenger from the model spec, or updating the champion incrementally; scoring; the decision
threshold. Pure.

The model spec (`batch_jobs.model_spec`, replaceable by users) builds an unfitted classifier. A spec whose final
estimator has `partial_fit` (e.g. `SGDClassifier`) or a `warm_start` parameter (e.g. `LogisticRegression`) can
instead be updated from the champion: the champion's fitted preprocessing is kept as it is (so its input
encoding, and therefore the serving schema's categories, stay the same) and only the final estimator learns
from the new rows. The result goes through the same gate as a refit.

Either way the rows may carry weights (`sample_weight`, e.g. a representative window's importance weights:
`batch_jobs.training.representative`). They go to the final estimator only, through the Pipeline's
`<last step>__sample_weight` fit parameter (the preprocessing's medians, scales and categories are fitted on the
rows unweighted). Both kinds of the default spec (`LogisticRegression`, `HistGradientBoostingClassifier`) accept
sample weights, as do `SGDClassifier.partial_fit` and a warm-started `LogisticRegression`; a replacement spec
whose final estimator does not is fitted on a weighted resample instead: as many rows as there are, drawn with
replacement with probability proportional to their weight, seeded by the spec's `random_state`.

The decision threshold is the spec's when it sets one. Otherwise (the default) `choose_threshold` matches the
training prevalence: the threshold is the score above which the share of training rows equals the share of
positive labels in them, measured on out-of-fold scores (`THRESHOLD_FOLDS` stratified folds, each scored by a
model fitted the same way on the other folds), so that an in-sample over-confident model does not bias it. A
calibrated model then labels about as many rows positive as there are positives, which is what the gate's
positive-rate check expects (a band around the holdout's prevalence).
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter

from batch_jobs import model_spec
from core.features import InputSchema

#: Stratified folds of the out-of-fold scores a default decision threshold is chosen on.
THRESHOLD_FOLDS: Final = 5
#: The open interval (0, 1) a threshold must lie in (the manifest refuses 0 and 1).
_LOWEST_THRESHOLD: Final = math.nextafter(0.0, 1.0)
_HIGHEST_THRESHOLD: Final = math.nextafter(1.0, 0.0)


#: How a model is fitted on rows (a refit from the spec, or an update of the champion).
Fit = Callable[[pd.DataFrame], Any]


class IncrementalUpdateError(ValueError):
    """The champion cannot be updated incrementally (its final estimator has neither partial_fit nor warm_start)."""


def labels_of(frame: pd.DataFrame, target: str) -> NDArray[np.int64]:
    """The target column as 0/1 integers."""
    labels: NDArray[np.int64] = frame[target].to_numpy(dtype=np.int64)
    return labels


def fit_model(
    train: pd.DataFrame,
    schema: InputSchema,
    spec: model_spec.ModelSpec,
    sample_weight: NDArray[np.float64] | None = None,
) -> Any:
    """A new model from the spec, fitted on `train`'s schema columns, each row weighted by `sample_weight` (one
    non-negative weight per row, in `train`'s order; None: all equal) as the module docstring says."""
    model = model_spec.build_model(schema, spec)
    features, labels = model_spec.feature_frame(train, schema), labels_of(train, spec.target)
    if sample_weight is None:
        model.fit(features, labels)
        return model
    weights = _checked_weights(sample_weight, len(train))
    if accepts_sample_weight(model):
        model.fit(features, labels, **_weight_parameter(model, weights))
        return model
    rows = weighted_resample(weights, spec.random_state)
    model.fit(features.iloc[rows], labels[rows])
    return model


def accepts_sample_weight(model: Any) -> bool:
    """Whether the model's final estimator takes `sample_weight` in `fit`."""
    return bool(has_fit_parameter(_final_estimator(model), "sample_weight"))


def weighted_resample(weights: NDArray[np.float64], random_state: int) -> NDArray[np.intp]:
    """As many row positions as there are weights, drawn with replacement in proportion to them (seeded)."""
    rows: NDArray[np.intp] = np.random.default_rng(random_state).choice(
        weights.size, size=weights.size, replace=True, p=weights / weights.sum()
    )
    return np.sort(rows)


def weighted(fit: Callable[..., Any], train: pd.DataFrame, weights: NDArray[np.float64] | None) -> Fit:
    """`fit` (taking a frame and `sample_weight=`) as a function of rows of `train` alone (the whole of it, or a
    fold of it as `choose_threshold` fits): each row weighted by its weight in `weights` (aligned with `train`),
    found by its index label. `fit` itself when `weights` is None."""
    if weights is None:
        unweighted: Fit = fit
        return unweighted
    if not train.index.is_unique:
        raise ValueError("weighted fits find rows by index label: the training frame's index must be unique")
    by_row = pd.Series(_checked_weights(weights, len(train)), index=train.index)

    def fit_weighted(rows: pd.DataFrame) -> Any:
        return fit(rows, sample_weight=by_row.loc[rows.index].to_numpy(dtype=np.float64))

    return fit_weighted


def _checked_weights(weights: NDArray[np.float64], rows: int) -> NDArray[np.float64]:
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (rows,):
        raise ValueError(f"need one sample weight per row ({rows}), got shape {values.shape}")
    if not (np.isfinite(values).all() and (values >= 0).all() and values.sum() > 0):
        raise ValueError("sample weights must be finite, non-negative and not all zero")
    return values


def _weight_parameter(model: Any, weights: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """The fit parameter that routes `weights` to the final estimator: `<last step>__sample_weight` in a Pipeline."""
    return {f"{model.steps[-1][0]}__sample_weight" if isinstance(model, Pipeline) else "sample_weight": weights}


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


def update_incrementally(
    champion: Any,
    train: pd.DataFrame,
    schema: InputSchema,
    target: str,
    sample_weight: NDArray[np.float64] | None = None,
) -> Any:
    """A copy of the champion whose final estimator continued learning on `train`, each row weighted by
    `sample_weight` (None: all equal; an estimator without sample weights learns from a weighted resample, seeded
    0); the champion is unchanged."""
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
    method = final.partial_fit if hasattr(final, "partial_fit") else final.fit
    extra: dict[str, Any] = {"classes": np.array([0, 1])} if hasattr(final, "partial_fit") else {}
    if sample_weight is not None:
        weights = _checked_weights(sample_weight, len(train))
        if "sample_weight" in inspect.signature(method).parameters:
            extra["sample_weight"] = weights
        else:
            rows = weighted_resample(weights, 0)
            encoded = encoded.iloc[rows] if isinstance(encoded, pd.DataFrame) else encoded[rows]
            labels = labels[rows]
    if not hasattr(final, "partial_fit"):
        final.set_params(warm_start=True)
    method(encoded, labels, **extra)
    return model


ThresholdRule = Literal["explicit", "training_prevalence"]


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The decision threshold a model version is released with, and how it was chosen.

    `rule` is `explicit` (the spec's) or `training_prevalence`; for the latter, `training_prevalence` is the share
    of positive labels in the training rows and `training_positive_rate` the share of their out-of-fold scores at
    or above `value` (equal to the prevalence unless scores tie at the threshold).
    """

    value: float
    rule: ThresholdRule
    training_prevalence: float | None = None
    training_positive_rate: float | None = None
    folds: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The choice as JSON (recorded in the version's evidence)."""
        return {
            "value": self.value,
            "rule": self.rule,
            "training_prevalence": self.training_prevalence,
            "training_positive_rate": self.training_positive_rate,
            "folds": self.folds,
        }


def prevalence_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold at which the share of `scores` >= it equals the share of positive `labels`.

    With k positives among n rows it lies halfway between the k-th and (k+1)-th highest score, so exactly k rows
    are labelled positive (more only if scores tie there); clipped into the open interval (0, 1). Raises
    `ValueError` unless the labels hold both classes and the scores are finite, one per label.
    """
    values = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if values.ndim != 1 or values.shape != y.shape:
        raise ValueError(f"need one score per label, got shapes {values.shape} and {y.shape}")
    if not np.isfinite(values).all():
        raise ValueError("scores must be finite")
    positives = int(np.count_nonzero(y == 1))
    if not 0 < positives < y.size:
        raise ValueError(f"labels must hold both classes to match a prevalence, got {positives} of {y.size} positive")
    descending = np.sort(values)[::-1]
    upper, lower = descending[positives - 1], descending[positives]
    middle = lower + (upper - lower) / 2
    if not lower < middle <= upper:  # adjacent floats: the halfway point rounds onto one of them
        middle = upper
    return float(np.clip(middle, _LOWEST_THRESHOLD, _HIGHEST_THRESHOLD))


def out_of_fold_scores(
    train: pd.DataFrame,
    labels: NDArray[np.int64],
    *,
    fit: Callable[[pd.DataFrame], Any],
    score: Callable[[Any, pd.DataFrame], NDArray[np.float64]],
    folds: int,
    random_state: int,
) -> NDArray[np.float64]:
    """Each row's score by a model fitted (with `fit`) on the other folds of a stratified, shuffled split."""
    scores = np.full(len(train), np.nan, dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    for fit_rows, scored_rows in splitter.split(np.zeros(len(train)), labels):
        model = fit(train.iloc[fit_rows])
        scores[scored_rows] = score(model, train.iloc[scored_rows])
    return scores


def choose_threshold(
    spec: model_spec.ModelSpec,
    train: pd.DataFrame,
    *,
    fit: Callable[[pd.DataFrame], Any],
    score: Callable[[Any, pd.DataFrame], NDArray[np.float64]],
    folds: int = THRESHOLD_FOLDS,
) -> ThresholdChoice:
    """The spec's decision threshold if it sets one, else the training prevalence's (see the module docstring).

    `fit` must fit the challenger the way the job does (a refit from the spec, or an incremental update of the
    champion) so the out-of-fold scores are those of the same kind of model; `folds` is lowered to the number
    of rows of the rarer class when that is smaller (at least 2 are needed).
    """
    if spec.decision_threshold is not None:
        return ThresholdChoice(float(spec.decision_threshold), "explicit")
    labels = labels_of(train, spec.target)
    positives = int(labels.sum())
    usable_folds = min(folds, positives, labels.size - positives)
    if usable_folds < 2:
        raise ValueError(
            f"choosing a threshold needs at least 2 rows of each class, got {positives} of {labels.size} positive"
        )
    scores = out_of_fold_scores(train, labels, fit=fit, score=score, folds=usable_folds, random_state=spec.random_state)
    value = prevalence_threshold(scores, labels)
    return ThresholdChoice(
        value=value,
        rule="training_prevalence",
        training_prevalence=positives / labels.size,
        training_positive_rate=float((scores >= value).mean()),
        folds=usable_folds,
    )
