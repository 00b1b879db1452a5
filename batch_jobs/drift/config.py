"""Configuration of the drift suite: one frozen dataclass whose defaults are justified here.

Defaults and why:

- ``alpha = 0.05`` with ``correction = benjamini_hochberg``: one family of tests per run (every feature's
  distribution, missing-rate and unseen-category tests, the prediction's two tests and the domain classifier).
  Under no drift at all, Benjamini–Hochberg bounds the chance of *any* false alarm in the run by ``alpha``
  (under independence or positive dependence of the tests), while keeping more power than Bonferroni when
  several features really drift. Bonferroni (``correction = bonferroni``) bounds that chance under any
  dependence, at the cost of power.
- ``wasserstein_threshold = 0.1``: the Wasserstein-1 distance between reference and current, divided by the
  reference standard deviation. For a pure location shift it *is* the shift in standard deviations, so 0.1 is
  half of Cohen's (1988) "small" effect d = 0.2; it is also Evidently's default for numeric drift. A numeric
  feature drifts only when KS is significant and this distance is at least 0.1 sd.
- ``psi_threshold = 0.1``: Population Stability Index on the pooled categories (categorical features, and
  numeric ones when ``numeric_effect = "psi"``). The credit-scoring convention (Siddiqi 2006; Yurdakul 2018)
  reads PSI < 0.1 as no significant change, 0.1–0.2 as moderate and > 0.2 as significant; we flag from
  "moderate" on, because a monitor should warn before a change is severe. PSI of a numeric feature on the
  reference deciles is always reported as a secondary effect size.
- ``proportion_threshold = 0.1``: Cohen's h = |2·asin√p₁ − 2·asin√p₂| for rates (missing rate, share of unseen
  categories, predicted positive rate). h is variance-stabilising, so one floor means the same near 0 and near
  0.5: 0.1 is half of Cohen's "small" h = 0.2 and corresponds to 0 % → 0.25 %, 10 % → 13.2 % or 50 % → 55 %.
- ``min_samples = 200``: below 200 current (or reference) rows for a check — after dropping missing values for a
  distribution — the verdict is ``insufficient_data``, never drift. At n = 200 against a 5,000-row reference
  KS detects a 0.3 sd shift with power ≈ 0.95 at α = 0.05 (simulated); fewer rows give mostly noise.
- ``domain_max_rows = 2500`` per side, ``domain_folds = 3``, ``domain_auc_threshold = 0.55``: the classifier
  sees at most 2,500 reference and 2,500 current rows. Its p-value uses a bound valid under any correlation
  between folds (see `multivariate`): the standard deviation of one fold's null AUC, here
  √((n₀+n₁+1)/(12·n₀·n₁)) ≈ 0.0142 with 833 rows per side and fold, so an AUC at the 0.55 floor is 3.5 standard
  deviations above chance (p ≈ 2·10⁻⁴, significant after correction over ~100 tests) and anything the
  classifier separates better is found with power ≈ 1. Three folds rather than five: the bound depends on the
  size of one fold, so fewer, larger folds give a tighter bound, and three fits cost less than five. An AUC of
  0.55 is the usual "barely better than chance" line for a domain classifier; more rows would only cost time.
- ``impact_margin = 0.008`` (expected AUC) with ``impact_confidence = 0.99``: a drift verdict carries its estimated
  impact (`batch_jobs.drift.impact`): the drop of the champion's *expected* AUC from its reference to the current
  window, estimated without labels from calibrated scores (CBPE). Drift is impactful unless that drop is
  significantly below the margin (the one-sided 99 % upper bound of the drop, window and reference noise combined,
  is under 0.008): the burden of proof is on harmlessness, and at 99 % because calling a costly drift harmless
  (a retrain missed until labels mature) is worse than calling a harmless one impactful (a retrain the gate then
  finds not needed). With 10,000 rows and a large reference the drop's standard error is about 0.0015, so a window is
  harmless when its drop is estimated under about 0.0045: a shift costing 0.002 passes as harmless ≈ 95 % of the
  time, one costing nothing ≈ 99.9 %, one costing 0.01 practically never; with 1,000 rows (error ≈ 0.0045) a window
  is harmless only when its expected AUC *rose* by about 0.0025, so drift that costs anything stays impactful. A
  small reference (the holdout) adds its own error to every window of that release. `make bench`'s `impact` entry
  measures all of this.
- ``sensitivity_floors = True``, ``floor_range = (0.25, 1.0)``: with a sensitivity profile stored with the model,
  each feature's distribution floor is the effect size at which the profile says the model loses
  ``impact_margin`` AUC (labels held fixed), bounded to 0.25–1 × the global floor (0.025–0.1 sd or PSI): a
  feature the model leans on is watched more closely, and no feature less closely than before (a shift of a feature
  the model ignores is kept from triggering a retrain by its impact, not by a higher floor), so the suite flags
  at least what it flagged with one global floor. Floors only decide whether a significant difference is large
  enough; the tests and the Benjamini–Hochberg correction over the run's family are unchanged, so with no drift the
  chance of any false alarm in a run stays bounded by ``alpha`` whatever the floors.
- ``performance_min_labels = 200``, ``performance_min_per_class = 10``, ``n_bootstrap = 500``,
  ``confidence_level = 0.95``; margins AUC 0.02, log loss 0.05, Brier 0.01, ECE 0.02 (absolute): a metric decays
  when its bootstrap interval of (current − baseline) lies beyond the margin on the bad side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from batch_jobs.drift.results import Correction


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Hyper-parameters of the drift suite (see the module docstring for the defaults' justification)."""

    alpha: float = 0.05
    correction: Correction = Correction.BENJAMINI_HOCHBERG
    min_samples: int = 200
    numeric_effect: Literal["wasserstein", "psi"] = "wasserstein"
    wasserstein_threshold: float = 0.1
    psi_threshold: float = 0.1
    proportion_threshold: float = 0.1
    min_expected_count: float = 5.0
    multivariate: bool = True
    domain_max_rows: int = 2500
    domain_folds: int = 3
    domain_auc_threshold: float = 0.55
    domain_max_iter: int = 30
    domain_max_bins: int = 63
    domain_threads: int | None = 1
    domain_top_features: int = 5
    performance_min_labels: int = 200
    performance_min_per_class: int = 10
    n_bootstrap: int = 500
    confidence_level: float = 0.95
    auc_margin: float = 0.02
    log_loss_margin: float = 0.05
    brier_margin: float = 0.01
    ece_margin: float = 0.02
    ece_bins: int = 10
    impact_margin: float = 0.008
    impact_confidence: float = 0.99
    sensitivity_floors: bool = True
    floor_range: tuple[float, float] = (0.25, 1.0)
    random_state: int = 0

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not 0.0 < self.alpha < 1.0:
            problems.append(f"alpha must be in (0, 1), got {self.alpha}")
        if not 0.0 < self.confidence_level < 1.0:
            problems.append(f"confidence_level must be in (0, 1), got {self.confidence_level}")
        if self.min_samples < 2:
            problems.append(f"min_samples must be at least 2, got {self.min_samples}")
        if self.domain_folds < 2:
            problems.append(f"domain_folds must be at least 2, got {self.domain_folds}")
        if self.domain_max_rows < self.domain_folds:
            problems.append("domain_max_rows must be at least domain_folds")
        if not 0.5 <= self.domain_auc_threshold < 1.0:
            problems.append(f"domain_auc_threshold must be in [0.5, 1), got {self.domain_auc_threshold}")
        if not 0.0 < self.impact_confidence < 1.0:
            problems.append(f"impact_confidence must be in (0, 1), got {self.impact_confidence}")
        if self.impact_margin < 0:
            problems.append("impact_margin must not be negative")
        if not 0.0 < self.floor_range[0] <= self.floor_range[1] <= 1.0:
            problems.append(f"floor_range must be 0 < low <= high <= 1 (floors never rise), got {self.floor_range}")
        if self.n_bootstrap < 10:
            problems.append(f"n_bootstrap must be at least 10, got {self.n_bootstrap}")
        if self.numeric_effect not in ("wasserstein", "psi"):
            problems.append(f"numeric_effect must be 'wasserstein' or 'psi', got {self.numeric_effect!r}")
        floors = ("wasserstein_threshold", "psi_threshold", "proportion_threshold", "min_expected_count")
        problems.extend(f"{name} must not be negative" for name in floors if getattr(self, name) < 0)
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-compatible data (stated in every result)."""
        document = dataclasses.asdict(self)
        document["correction"] = str(self.correction)
        document["floor_range"] = list(self.floor_range)
        return document
