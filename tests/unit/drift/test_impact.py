"""Drift that matters (`batch_jobs.drift.impact`): the impact basis stored with a model, the expected-AUC drop a
drift verdict carries, the per-feature floors from the sensitivity profile, and the estimate beside realised labels."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import TARGET, CategoryShift, generate_churn
from batch_jobs import model_spec
from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfile, ReferenceProfiler
from batch_jobs.drift.estimate import ASSUMPTION, ScoreCalibrator, estimate_performance
from batch_jobs.drift.impact import (
    ImpactBasis,
    assess_impact,
    build_impact_basis,
    feature_floors,
    track_estimate,
    with_impact_basis,
)
from batch_jobs.drift.results import ImpactVerdict
from batch_jobs.drift.sensitivity import SensitivityPoint, SensitivityProfile
from batch_jobs.training import fitting
from core.features import InputSchema

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
CONFIG = DriftConfig(multivariate=False)
#: The churn generator's `contract` mix moved towards month-to-month, where churn is high: the model's expected
#: AUC falls (scores bunch where the model separates least).
CONTRACT_SHIFT = CategoryShift("contract", {"month-to-month": 0.9, "one-year": 0.05, "two-year": 0.05})
#: `region` has no effect on churn: a large move of its shares costs the model nothing.
REGION_SHIFT = CategoryShift("region", {"north": 0.7, "south": 0.1, "east": 0.1, "west": 0.1})


class Champion:
    """A model fitted on churn data with its reference profile carrying an impact basis."""

    def __init__(self) -> None:
        train, holdout = generate_churn(6000, seed=1), generate_churn(4000, seed=2)
        self.schema: InputSchema = model_spec.infer_input_schema(train)
        self.model = fitting.fit_model(train, self.schema, model_spec.DEFAULT_SPEC)
        scores = fitting.score(self.model, holdout, self.schema)
        features = model_spec.feature_frame(holdout, self.schema)
        profile = (
            ReferenceProfiler(decision_threshold=0.3)
            .fit(
                features,
                scores=scores,
                target=holdout[TARGET],
                schema={spec.name: spec.kind for spec in self.schema.features},
            )
            .profile_
        )
        basis = build_impact_basis(
            model=self.model,
            schema=self.schema,
            threshold=0.3,
            holdout_features=features,
            holdout_labels=holdout[TARGET].to_numpy(dtype=np.float64),
            holdout_scores=scores,
        )
        assert basis is not None
        self.basis: ImpactBasis = basis
        self.plain = profile
        self.profile = with_impact_basis(profile, self.basis)

    def window(self, rows: int, seed: int, **shifts: Any) -> tuple[pd.DataFrame, FloatArray, FloatArray]:
        """Features, scores and labels of a window drawn with `shifts` (generator keywords)."""
        frame = generate_churn(rows, seed=seed, **shifts)
        features = model_spec.feature_frame(frame, self.schema)
        return features, fitting.score(self.model, frame, self.schema), frame[TARGET].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def champion() -> Champion:
    return Champion()


def test_the_basis_survives_the_reference_profiles_parquet_file(champion: Champion) -> None:
    buffer = io.BytesIO()
    champion.profile.to_parquet(buffer)
    buffer.seek(0)
    back = ImpactBasis.of(ReferenceProfile.from_parquet(buffer))
    assert back is not None
    assert back.to_json() == champion.basis.to_json()


def test_a_profile_written_before_impact_existed_still_reads_and_judges_without_impact(champion: Champion) -> None:
    buffer = io.BytesIO()
    champion.plain.to_parquet(buffer)
    buffer.seek(0)
    profile = ReferenceProfile.from_parquet(buffer)
    features, scores, _ = champion.window(2000, seed=5)
    result = DriftSuite(CONFIG).run(profile, features, scores)
    assert profile.impact_basis is None
    assert result.impact is not None
    assert (result.impact.verdict, result.impact.impactful) == (ImpactVerdict.UNKNOWN, None)


def test_a_shift_the_model_feels_is_impactful_and_one_it_ignores_is_harmless(champion: Champion) -> None:
    felt = DriftSuite(CONFIG).run(
        champion.profile, *champion.window(10_000, seed=7, category_shifts=[CONTRACT_SHIFT])[:2]
    )
    ignored = DriftSuite(CONFIG).run(
        champion.profile, *champion.window(10_000, seed=8, category_shifts=[REGION_SHIFT])[:2]
    )
    assert felt.dataset_drift
    assert "contract" in felt.drifted_features
    assert felt.impact is not None
    assert felt.impact.impactful
    assert felt.impact.drop is not None
    assert felt.impact.drop > CONFIG.impact_margin
    assert ignored.dataset_drift
    assert "region" in ignored.drifted_features
    assert ignored.impact is not None
    assert ignored.impact.verdict is ImpactVerdict.HARMLESS
    assert ignored.impact.drop_upper is not None
    assert ignored.impact.drop_upper < CONFIG.impact_margin
    assert ignored.impact.assumption == ASSUMPTION


def test_the_drop_is_the_reference_expected_auc_minus_the_windows_and_its_bound_lies_above_it(
    champion: Champion,
) -> None:
    _, scores, _ = champion.window(5000, seed=9)
    impact = assess_impact(champion.basis, CONFIG, scores, ())
    current = estimate_performance(scores, champion.basis.calibrator, random_state=CONFIG.random_state)
    reference = champion.basis.reference.metric("auc").value
    assert impact.reference_expected == reference
    assert impact.current_expected == pytest.approx(current.metric("auc").value)
    assert impact.drop == pytest.approx(reference - current.metric("auc").value)
    assert impact.drop_upper is not None
    assert impact.drop is not None
    assert impact.drop_upper > impact.drop


def test_impact_is_unknown_without_scores(champion: Champion) -> None:
    impact = assess_impact(champion.basis, CONFIG, None, ())
    assert impact.verdict is ImpactVerdict.UNKNOWN


def _profile_with(points: tuple[SensitivityPoint, ...], champion: Champion) -> ReferenceProfile:
    sensitivity = SensitivityProfile(
        n_rows=100, seconds=0.0, baseline={"auc": 0.8, "log_loss": 0.4, "positive_rate": 0.2}, points=points
    )
    return with_impact_basis(champion.plain, replace(champion.basis, sensitivity=sensitivity))


def _point(feature: str, effect: float, loss: float, perturbation: str = "shift") -> SensitivityPoint:
    return SensitivityPoint(
        features=(feature,),
        perturbation=perturbation,
        level=effect,
        effect_size=effect,
        delta_auc=-loss,
        delta_log_loss=0.0,
        delta_positive_rate=0.0,
    )


def test_floors_fall_where_the_model_leans_and_never_rise_above_the_global_floor(champion: Champion) -> None:
    leaned = (_point("tenure_months", 0.01, 0.002), _point("tenure_months", 0.05, 0.010))
    steep = (_point("support_calls", 0.01, 0.05),)
    ignored = (_point("usage_hours", 0.5, 0.0001),)
    profile = _profile_with((*leaned, *steep, *ignored), champion)
    floors = feature_floors(profile, ImpactBasis.of(profile), CONFIG)
    low, high = CONFIG.floor_range
    # The profile reaches the 0.008 margin three quarters of the way from 0.01 (0.002) to 0.05 (0.010): at 0.04.
    assert floors["tenure_months"] == pytest.approx(0.04)
    assert floors["support_calls"] == pytest.approx(CONFIG.wasserstein_threshold * low)
    assert floors["usage_hours"] == pytest.approx(CONFIG.wasserstein_threshold * high)
    assert all(CONFIG.wasserstein_threshold * low <= value <= CONFIG.psi_threshold * high for value in floors.values())
    assert "contract" not in floors  # not profiled: the global floor


def test_floors_keep_the_global_floor_when_switched_off(champion: Champion) -> None:
    assert feature_floors(champion.profile, champion.basis, replace(CONFIG, sensitivity_floors=False)) == {}
    assert feature_floors(champion.plain, ImpactBasis.of(champion.plain), CONFIG) == {}


def test_a_lowered_floor_flags_a_small_shift_of_a_leaned_on_feature_that_the_global_floor_passes(
    champion: Champion,
) -> None:
    leaned = (_point("tenure_months", 0.01, 0.004), _point("tenure_months", 0.05, 0.016))
    profile = _profile_with(leaned, champion)
    features, scores, _ = champion.window(20_000, seed=12)
    features["tenure_months"] = features["tenure_months"] * 1.08  # Wasserstein ≈ 0.06 sd: below 0.1, above 0.023
    globally = DriftSuite(replace(CONFIG, sensitivity_floors=False)).run(profile, features, scores)
    per_feature = DriftSuite(CONFIG).run(profile, features, scores)
    assert "tenure_months" not in globally.drifted_features
    assert "tenure_months" in per_feature.drifted_features
    tenure = next(item for item in per_feature.impact.features if item.name == "tenure_months")  # type: ignore[union-attr]
    assert tenure.drift
    assert tenure.floor < CONFIG.wasserstein_threshold
    assert tenure.auc_cost is not None


def test_with_no_drift_the_lowered_floors_keep_false_alarms_within_alpha(champion: Champion) -> None:
    leaned = tuple(_point(name, 0.01, 0.02) for name in ("tenure_months", "usage_hours", "monthly_charges"))
    profile = _profile_with(leaned, champion)
    alarms = [
        DriftSuite(CONFIG).run(profile, *champion.window(2000, seed=100 + seed)[:2]).dataset_drift for seed in range(20)
    ]
    assert sum(alarms) <= 3  # α = 0.05 bounds the run's false-alarm chance: 1 expected, 3+ has p < 0.08


def test_the_estimate_on_labelled_rows_brackets_their_realised_auc_when_the_world_only_moved_its_inputs(
    champion: Champion,
) -> None:
    _, scores, labels = champion.window(4000, seed=21, category_shifts=[CONTRACT_SHIFT])
    tracking = track_estimate(champion.profile, CONFIG, labels, scores)
    assert tracking is not None
    auc = tracking.metric("auc")
    assert auc.realised is not None
    assert auc.within
    assert tracking.to_json()["assumption"] == ASSUMPTION


def test_the_estimate_misses_a_concept_shift_that_only_labels_show(champion: Champion) -> None:
    _, scores, labels = champion.window(4000, seed=22)
    inverted = 1.0 - labels
    tracking = track_estimate(champion.profile, CONFIG, inverted, scores)
    assert tracking is not None
    assert tracking.metric("auc").within is False


def test_tracking_needs_enough_labels_of_each_class(champion: Champion) -> None:
    _, scores, labels = champion.window(150, seed=23)
    assert track_estimate(champion.profile, CONFIG, labels, scores) is None
    assert track_estimate(champion.plain, CONFIG, *champion.window(1000, seed=24)[2:0:-1]) is None


def test_a_holdout_of_one_class_gives_no_basis(champion: Champion) -> None:
    features, scores, _ = champion.window(500, seed=30)
    basis = build_impact_basis(
        model=champion.model,
        schema=champion.schema,
        threshold=0.3,
        holdout_features=features,
        holdout_labels=np.zeros(len(features)),
        holdout_scores=scores,
    )
    assert basis is None


def test_the_calibrator_of_the_basis_is_fitted_on_the_holdout(champion: Champion) -> None:
    assert isinstance(champion.basis.calibrator, ScoreCalibrator)
    assert champion.basis.calibrator.n_rows == 4000
