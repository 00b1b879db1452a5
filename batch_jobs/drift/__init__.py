"""The drift suite: a reference profile, per-feature and multivariate drift tests, performance on matured labels.

Vocabulary after scikit-learn and alibi-detect: hyper-parameters are given to constructors, learned state lives in
attributes ending in `_`, randomness comes from `random_state`; the *reference* data (training time) is compared
with the *current* data (a production window); every result states its test, statistic, threshold,
multiple-testing correction and sample sizes, and serialises to JSON.
"""

from __future__ import annotations

from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.profile import ReferenceProfile, ReferenceProfiler
from batch_jobs.drift.results import (
    CheckResult,
    Correction,
    DomainClassifierResult,
    DriftResult,
    FeatureDrift,
    FeatureKind,
    PerformanceResult,
    PerformanceVerdict,
    PredictionDrift,
    Verdict,
)
from batch_jobs.drift.suite import DriftInputError, DriftSuite, SchemaMismatchError

__all__ = [
    "CheckResult",
    "Correction",
    "DomainClassifierResult",
    "DriftConfig",
    "DriftInputError",
    "DriftResult",
    "DriftSuite",
    "FeatureDrift",
    "FeatureKind",
    "PerformanceResult",
    "PerformanceVerdict",
    "PredictionDrift",
    "ReferenceProfile",
    "ReferenceProfiler",
    "SchemaMismatchError",
    "Verdict",
]
