"""The drift suite: every check of one current window against one reference profile, in one result.

One family of tests per run — each feature's distribution, missing-rate and unseen-category tests, the
prediction's score-distribution and positive-rate tests, and the domain classifier — is corrected together
(Benjamini–Hochberg by default). A check drifts only when its adjusted p-value is at most alpha *and* its effect
size reaches its floor; checks without enough data are `insufficient_data` and take no part in the correction.
Performance on matured labels is evaluated on its own (it is a comparison with a baseline, not a drift test).
With an impact basis stored in the profile, each feature's floor follows from the model's sensitivity to it and the
result carries the drift's estimated impact (`batch_jobs.drift.impact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from batch_jobs.drift._stats import FloatArray, adjust_p_values
from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.impact import ImpactBasis, assess_impact, feature_floors
from batch_jobs.drift.multivariate import DomainClassifierDrift, decide_domain
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.drift.profile import ReferenceProfile, binary_labels, numeric_values, value_family
from batch_jobs.drift.results import CheckResult, DomainClassifierResult, DriftResult, PerformanceResult
from batch_jobs.drift.univariate import PendingFeature, PendingPrediction, UnivariateDrift, decide


class DriftInputError(ValueError):
    """The current data cannot be compared with the reference (empty, misaligned, wrong values)."""


class SchemaMismatchError(DriftInputError):
    """The current data lacks profiled columns or holds another type of values in them."""


ArrayLike: TypeAlias = "pd.Series[Any] | FloatArray | Sequence[float]"


class DriftSuite:
    """Runs every drift check of `DriftConfig` (defaults when None) on a current window."""

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = config if config is not None else DriftConfig()

    def run(
        self,
        profile: ReferenceProfile,
        current: pd.DataFrame,
        current_scores: ArrayLike | None = None,
        current_labels: ArrayLike | None = None,
    ) -> DriftResult:
        """Compare `current` (and its scores and matured labels, aligned with its rows) with `profile`."""
        config = self.config
        self._validate(profile, current)
        scores = self._scores(current_scores, len(current))
        labels = self._labels(current_labels, len(current), scores)

        basis = ImpactBasis.of(profile)
        univariate = UnivariateDrift(config, feature_floors(profile, basis, config)).fit(profile)
        features = univariate.score_features(current)
        prediction = univariate.score_prediction(scores) if scores is not None else None
        domain = DomainClassifierDrift(config).fit(profile).score(current) if config.multivariate else None

        decided_features, decided_prediction, decided_domain, n_tests = self._decide(features, prediction, domain)
        performance: PerformanceResult | None = None
        if labels is not None and scores is not None:
            performance = evaluate_performance(labels, scores, profile.holdout_metrics, config)
        drifted = tuple(feature.name for feature in decided_features if feature.drift)
        dataset_drift = bool(
            drifted
            or (decided_prediction is not None and decided_prediction.drift)
            or (decided_domain is not None and decided_domain.drift)
        )
        impact = assess_impact(basis, config, scores, decided_features)
        return DriftResult(
            dataset_drift=dataset_drift,
            drifted_features=drifted,
            n_features=len(decided_features),
            n_reference=profile.n_rows,
            n_current=len(current),
            alpha=config.alpha,
            correction=config.correction,
            n_tests=n_tests,
            features=tuple(decided_features),
            prediction=decided_prediction,
            multivariate=decided_domain,
            performance=performance,
            performance_decay=performance.decay if performance is not None else None,
            config=config.to_dict(),
            impact=impact,
        )

    def _decide(
        self,
        features: list[PendingFeature],
        prediction: PendingPrediction | None,
        domain: DomainClassifierResult | None,
    ) -> tuple[list[Any], Any, DomainClassifierResult | None, int]:
        groups: list[tuple[CheckResult, ...]] = [feature.checks() for feature in features]
        if prediction is not None:
            groups.append(prediction.checks())
        p_values = [check.p_value for group in groups for check in group if check.p_value is not None]
        if domain is not None and domain.p_value is not None:
            p_values.append(domain.p_value)
        adjusted = iter(adjust_p_values(np.asarray(p_values, dtype=np.float64), self.config.correction).tolist())

        decided_groups = [
            tuple(decide(check, next(adjusted) if check.p_value is not None else None) for check in group)
            for group in groups
        ]
        decided_features = [feature.decided(group) for feature, group in zip(features, decided_groups, strict=False)]
        decided_prediction = prediction.decided(decided_groups[-1]) if prediction is not None else None
        decided_domain = None
        if domain is not None:
            decided_domain = decide_domain(domain, next(adjusted) if domain.p_value is not None else None)
        return decided_features, decided_prediction, decided_domain, len(p_values)

    @staticmethod
    def _validate(profile: ReferenceProfile, current: pd.DataFrame) -> None:
        if len(current) == 0:
            raise DriftInputError("the current data has no rows")
        missing = [name for name in profile.feature_names if name not in current.columns]
        if missing:
            raise SchemaMismatchError(f"the current data lacks profiled columns: {', '.join(missing)}")
        problems = []
        for feature in profile.features:
            column = current[feature.name]
            try:
                family = value_family(column)
            except ValueError as e:
                raise SchemaMismatchError(str(e)) from e
            if family is not feature.family and column.notna().any():
                problems.append(f"{feature.name!r} holds {family} values, the reference {feature.family} values")
        if problems:
            raise SchemaMismatchError("column types differ: " + "; ".join(problems))

    @staticmethod
    def _scores(values: ArrayLike | None, n_rows: int) -> FloatArray | None:
        if values is None:
            return None
        series = pd.Series(np.asarray(values) if not isinstance(values, pd.Series) else values)
        if value_family(series).value != "numeric":
            raise DriftInputError("prediction scores must be numbers")
        scores = numeric_values(series)
        if scores.size != n_rows:
            raise DriftInputError(f"{scores.size} prediction scores for {n_rows} current rows")
        return scores

    @staticmethod
    def _labels(values: ArrayLike | None, n_rows: int, scores: FloatArray | None) -> FloatArray | None:
        if values is None:
            return None
        if scores is None:
            raise DriftInputError("labels need the prediction scores they are compared with")
        try:
            labels = binary_labels(pd.Series(np.asarray(values) if not isinstance(values, pd.Series) else values))
        except ValueError as e:
            raise DriftInputError(str(e)) from e
        if labels.size != n_rows:
            raise DriftInputError(f"{labels.size} labels for {n_rows} current rows")
        return labels
