"""The CloudWatch metrics the drift-check and live-evaluation jobs publish: namespace, names, dimensions and units,
defined once.

The job's publisher (`batch_jobs.monitoring.outputs`) writes them; the stack's dashboard, alarms and the job role's
`cloudwatch:namespace` condition (`infra/`) read them. A metric's dimensions are listed in the order the job sends
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

METRIC_NAMESPACE: Final = "autoretrain"


class Dimension(StrEnum):
    """Dimension names of our metrics."""

    MODEL_NAME = "ModelName"
    FEATURE = "Feature"


class Unit(StrEnum):
    """CloudWatch units our metrics use (CloudWatch spells "no unit" as `None`)."""

    NONE = "None"
    COUNT = "Count"


PER_MODEL: Final = (Dimension.MODEL_NAME,)
PER_FEATURE: Final = (Dimension.MODEL_NAME, Dimension.FEATURE)


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of namespace `METRIC_NAMESPACE`: its name, its dimensions' names (in order) and its unit."""

    name: str
    dimensions: tuple[Dimension, ...] = PER_MODEL
    unit: Unit = Unit.NONE


ROWS_CHECKED: Final = Metric("RowsChecked", unit=Unit.COUNT)
LABELLED_ROWS: Final = Metric("LabelledRows", unit=Unit.COUNT)
INSUFFICIENT_DATA: Final = Metric("InsufficientData")
RETRAIN_REQUESTED: Final = Metric("RetrainRequested")
DATASET_DRIFT: Final = Metric("DatasetDrift")
DRIFTED_FEATURES: Final = Metric("DriftedFeatures", unit=Unit.COUNT)
PREDICTION_DRIFT: Final = Metric("PredictionDrift")
DOMAIN_CLASSIFIER_AUC: Final = Metric("DomainClassifierAUC")
FEATURE_DRIFT: Final = Metric("FeatureDrift", PER_FEATURE)
FEATURE_DRIFT_EFFECT_SIZE: Final = Metric("FeatureDriftEffectSize", PER_FEATURE)
MODEL_AUC: Final = Metric("ModelAUC")
MODEL_LOG_LOSS: Final = Metric("ModelLogLoss")
MODEL_BRIER_SCORE: Final = Metric("ModelBrierScore")
MODEL_CALIBRATION_ERROR: Final = Metric("ModelCalibrationError")
PERFORMANCE_DECAY: Final = Metric("PerformanceDecay")
#: Label-free: the champion's expected AUC on the current window (calibrated scores), its drop from the reference,
#: and whether the drift found matters (0/1, when the suite ran on a model with an impact basis).
EXPECTED_AUC: Final = Metric("ExpectedAUC")
EXPECTED_AUC_DROP: Final = Metric("ExpectedAUCDrop")
IMPACTFUL_DRIFT: Final = Metric("ImpactfulDrift")
#: Design-based AUC on the current window's reviewed labels (when enough came back).
REVIEWED_AUC: Final = Metric("ReviewedAUC")
#: The live evaluation: the day's review sample, the model's cumulative benefit over the control group (outcome-rate
#: difference, positive when the model helps) and its value, and a shadow's label agreement with the champion.
REVIEW_SAMPLE_ROWS: Final = Metric("ReviewSampleRows", unit=Unit.COUNT)
BUSINESS_BENEFIT: Final = Metric("BusinessBenefit")
BUSINESS_VALUE_SAVED: Final = Metric("BusinessValueSaved")
SHADOW_AGREEMENT: Final = Metric("ShadowAgreement")

#: Published on every check: the window's volume and what the check decided.
VOLUME_METRICS: Final = (ROWS_CHECKED, LABELLED_ROWS, INSUFFICIENT_DATA, RETRAIN_REQUESTED)
#: Published when the drift suite ran (0/1 flags and the drifted-feature count).
DRIFT_METRICS: Final = (DATASET_DRIFT, PREDICTION_DRIFT, DRIFTED_FEATURES)
#: Performance on matured labels, published when enough labels matured.
PERFORMANCE_METRICS: Final = (MODEL_AUC, MODEL_LOG_LOSS, MODEL_BRIER_SCORE, MODEL_CALIBRATION_ERROR)
#: Impact, published when the suite ran on a model with an impact basis.
IMPACT_METRICS: Final = (EXPECTED_AUC, EXPECTED_AUC_DROP, IMPACTFUL_DRIFT)
#: Every metric the drift-check job publishes.
DRIFT_CHECK_METRICS: Final = (
    *VOLUME_METRICS,
    *DRIFT_METRICS,
    DOMAIN_CLASSIFIER_AUC,
    FEATURE_DRIFT,
    FEATURE_DRIFT_EFFECT_SIZE,
    *PERFORMANCE_METRICS,
    PERFORMANCE_DECAY,
    *IMPACT_METRICS,
    REVIEWED_AUC,
)
#: Every metric the live-evaluation job publishes.
LIVE_EVALUATION_METRICS: Final = (REVIEW_SAMPLE_ROWS, BUSINESS_BENEFIT, BUSINESS_VALUE_SAVED, SHADOW_AGREEMENT)
