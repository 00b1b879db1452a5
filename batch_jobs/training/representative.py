"""Representative training sets: importance weights that make a pool of training rows look like current production.
Pure.

A domain classifier (scikit-learn's `HistGradientBoostingClassifier`: native missing values and categorical
splits, as the drift check's domain classifier in `batch_jobs.drift.multivariate`) learns to tell the pool's rows
(class 0) from the target's (class 1, the current production rows; no labels are used). Each row's propensity
p = P(target | x) is *out of fold*: `FOLDS` folds, the row scored by a model fitted on the others, so a row's own
membership does not inflate it. A target row that is also a pool row (the retrain job's final fit weighs a window
that contains current production) is kept in the same fold as its pool copy for the same reason. The classifier is
deliberately smooth (50 rounds of 7-leaf trees, at least 100 rows a leaf, learning rate 0.05): on a pool that
already looks like the target, a flexible one's noise alone spreads the weights. On 9,000 pool and 900 target rows
of one distribution, 15-leaf trees at rate 0.1 gave weights from 0.10 to 6.2 and an effective sample size of 83 %
of the rows; these settings give 0.46 to 2.4 and 96 %, and on a pool of two clusters (the target one of them) the
same separation (mean weight 1.74 against 0.26).

With n₀ pool and n₁ target rows, p / (1 − p) · n₀ / n₁ estimates the density ratio q(x) / p(x) of target to pool:
the importance weight that makes a weighted fit on the pool a fit on the target's distribution of x (a covariate
shift; how y depends on x is whatever the pool's rows say about it where the target has its mass).

The ratio is clipped to `DEFAULT_CLIP` = [0.1, 10] before it is normalised to mean 1. The weights' variance is
what an importance-weighted fit pays for its lower bias: its effective sample size (Σw)² / Σw² falls as the
weights spread, and a few rows the classifier was over-confident about (p near 1 gives an unbounded ratio) would
otherwise dominate the fit. With every weight in [a, b] the Kantorovich inequality bounds the effective share:
(Σw)² / (n · Σw²) ≥ 4ab / (a + b)², 3.9 % at [0.1, 10]; no row counts for more than 100 of the lightest, and no part
of history is dropped altogether (the lowest weight keeps the model defined where current production has not
been). The result reports the effective sample size and the share of rows the clip bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import PredefinedSplit, cross_val_predict

from batch_jobs import model_spec
from core.features import InputSchema

#: The bounds of the density ratio before it is normalised (module docstring).
DEFAULT_CLIP: Final = (0.1, 10.0)
#: Folds of the out-of-fold propensities.
FOLDS: Final = 3
#: Categories encoded individually per feature (the tree model's categorical limit is 255 codes); the rest share one.
MAX_CATEGORY_CODES: Final = 254
#: Propensities are kept this far from 0 and 1 so that their odds are finite (the clip bounds them anyway).
_EPSILON: Final = 1e-9


@dataclass(frozen=True, slots=True)
class ImportanceWeights:
    """One weight per pool row (mean 1), and how far the pool had to be reweighted.

    - `propensity_auc`: the out-of-fold AUC of the domain classifier (0.5: the pool already looks like the target);
    - `effective_rows`: (Σw)² / Σw², the rows an unweighted fit with the same variance would have;
    - `clipped_share`: the share of pool rows whose density ratio lay outside `clip` (and was bounded by it).
    """

    weights: NDArray[np.float64]
    propensity_auc: float
    effective_rows: float
    clipped_share: float
    clip: tuple[float, float]

    def evidence(self) -> dict[str, Any]:
        """The weights' summary as JSON (recorded with the window choice)."""
        return {
            "method": "domain-classifier importance weights",
            "rows": int(self.weights.size),
            "propensity_auc": self.propensity_auc,
            "effective_rows": self.effective_rows,
            "clipped_share": self.clipped_share,
            "clip": list(self.clip),
            "weight_min": float(self.weights.min()),
            "weight_max": float(self.weights.max()),
        }


def importance_weights(
    pool: pd.DataFrame,
    target: pd.DataFrame,
    schema: InputSchema,
    *,
    clip: tuple[float, float] = DEFAULT_CLIP,
    target_in_pool: NDArray[np.intp] | None = None,
    folds: int = FOLDS,
    random_state: int = 0,
) -> ImportanceWeights:
    """Weights for `pool`'s rows (in its order) that make it resemble `target` in the schema's features.

    `target_in_pool` gives, for each target row, its position in `pool` when it is also a pool row (−1 when not),
    so that both copies share a fold. `ValueError` when either side has fewer than `folds` rows or the clip is not
    0 < low ≤ 1 ≤ high.
    """
    low, high = (float(bound) for bound in clip)
    if not 0.0 < low <= 1.0 <= high:
        raise ValueError(f"the clip must satisfy 0 < low <= 1 <= high, got {clip}")
    n_pool, n_target = len(pool), len(target)
    if min(n_pool, n_target) < folds:
        raise ValueError(f"importance weights need {folds} rows on each side, got {n_pool} pool and {n_target} target")
    matrix, categorical = _encode(
        model_spec.feature_frame(pool, schema).reset_index(drop=True),
        model_spec.feature_frame(target, schema).reset_index(drop=True),
        schema,
    )
    domain = np.repeat(np.array([0, 1], dtype=np.int64), [n_pool, n_target])
    groups = np.arange(n_pool + n_target, dtype=np.intp)
    if target_in_pool is not None:
        shared = np.asarray(target_in_pool, dtype=np.intp)
        if shared.shape != (n_target,):
            raise ValueError(f"target_in_pool needs one position per target row, got shape {shared.shape}")
        groups[n_pool:] = np.where(shared >= 0, shared, groups[n_pool:])
    split = PredefinedSplit(_group_folds(groups, domain, folds, random_state))
    classifier = HistGradientBoostingClassifier(
        max_iter=50,
        learning_rate=0.05,
        max_leaf_nodes=7,
        min_samples_leaf=100,
        early_stopping=False,
        categorical_features=categorical if categorical.any() else None,
        random_state=random_state,
    )
    propensity = cross_val_predict(classifier, matrix, domain, cv=split, method="predict_proba")[:, 1]
    p = np.clip(propensity[:n_pool], _EPSILON, 1.0 - _EPSILON)
    ratio = p / (1.0 - p) * (n_pool / n_target)
    clipped = np.clip(ratio, low, high)
    weights = clipped / clipped.mean()
    return ImportanceWeights(
        weights=weights,
        propensity_auc=float(roc_auc_score(domain, propensity)),
        effective_rows=float(weights.sum() ** 2 / np.square(weights).sum()),
        clipped_share=float(np.mean((ratio < low) | (ratio > high))),
        clip=(low, high),
    )


def _group_folds(groups: NDArray[np.intp], domain: NDArray[np.int64], folds: int, seed: int) -> NDArray[np.intp]:
    """Each row's fold: rows of one group share it; groups are dealt round-robin in a seeded random order within
    each stratum (groups with a target row, and groups without), so every fold holds about a `folds`-th of both."""
    codes, uniques = pd.factorize(groups)
    has_target = np.zeros(uniques.size, dtype=np.int64)
    np.maximum.at(has_target, codes, domain)
    order = np.lexsort((np.random.default_rng(seed).random(uniques.size), has_target))
    rank = np.empty(uniques.size, dtype=np.intp)
    starts = np.searchsorted(has_target[order], [0, 1])  # where each stratum begins in `order`
    position = np.arange(uniques.size, dtype=np.intp)
    rank[order] = position - np.where(position >= starts[1], starts[1], starts[0])
    fold: NDArray[np.intp] = (rank % folds)[codes]
    return fold


def _encode(pool: pd.DataFrame, target: pd.DataFrame, schema: InputSchema) -> tuple[NDArray[np.float64], NDArray[Any]]:
    """Both sides as one float matrix (pool rows first) and which columns are categorical: numbers as they are,
    categories as codes of the `MAX_CATEGORY_CODES` most frequent ones (the rest share one code; missing stays
    missing). An all-missing column becomes zeros (the tree model's binning fails on it, and it tells nothing)."""
    both = pd.concat([pool, target], ignore_index=True)
    columns: list[NDArray[np.float64]] = []
    for feature in schema.features:  # a loop over columns; each column is encoded in one vectorised pass
        column = both[feature.name]
        if feature.kind == "numeric":
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            counts = column.value_counts().sort_index(kind="stable").sort_values(ascending=False, kind="stable")
            known = pd.Index(counts.index[:MAX_CATEGORY_CODES], dtype=object)
            values = known.get_indexer(column.to_numpy(dtype=object)).astype(np.float64)
            values[values < 0] = known.size
            values[column.isna().to_numpy()] = np.nan
        if np.isnan(values).all():
            values = np.zeros_like(values)
        columns.append(values)
    categorical = np.array([feature.kind == "categorical" for feature in schema.features], dtype=bool)
    if not columns:
        return np.zeros((len(both), 1)), np.zeros(1, dtype=bool)
    return np.column_stack(columns), categorical
