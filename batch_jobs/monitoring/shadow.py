"""A challenger in shadow: compared with the champion on the same live requests, and the promotion decision. Pure:
a frame of logged requests in, frozen dataclasses out.

While a challenger runs in shadow, serving scores every request with both models, answers with the champion and
logs both predictions. `compare_shadow` measures, on those requests:

- how often the two models' labels agree, and how their score distributions differ: the two-sample
  Kolmogorov–Smirnov statistic (scipy) and the mean score difference (shadow − champion). The two samples are the
  same requests scored twice, not independent samples, so the KS p-value is descriptive only; the statistic is the
  largest gap between the two score distributions;
- each model's latency (p50, p95, in milliseconds, as logged);
- on the requests whose outcome is known (matured or reviewed `label`), the gate's primary metric (AUC by
  default) of each model and a *paired* bootstrap interval of the difference (shadow − champion): each replicate
  resamples the labelled requests once and scores both models on it, as the release gate does
  (`batch_jobs.metrics.paired_bootstrap_values`), so the noise the two models share (which requests happened to
  be labelled) cancels and the interval is much narrower than one from two independent bootstraps.

`decide_promotion` then applies the gate's rules (`batch_jobs.gate`) to live traffic, with the gate's settings
(`GateConfig`: metric, margin, confidence, resamples, label floors, constant-score floors, `min_gain`):

1. catastrophic checks, absolute and judged first: a shadow score that is not a finite probability in [0, 1]
   (any), and, once `min_requests` requests are in, shadow scores that are constant in practice (fewer distinct
   values or a smaller standard deviation than the gate allows) or labels agreeing with the champion's on fewer than
   `min_agreement` of the requests — any of them keeps the champion (`keep_champion`);
2. `continue_shadow` until the shadow has run `min_days` days and seen `min_requests` requests, and while fewer
   labelled requests than the gate's holdout floor (or of either class than its class floor) are in;
3. then, as the gate: non-inferiority fails (the interval's bound on the challenger's worse side beyond `margin`)
   or the challenger is significantly worse, if by less than the margin: `keep_champion`; better beyond noise (the
   whole interval more than `min_gain` in the challenger's favour): `promote`; the champion known to be failing
   (`champion_failing`, a reason) and the challenger not worse: `promote`; otherwise `keep_champion`, not better
   beyond noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import ks_2samp

from batch_jobs.drift.results import finite_or_none, to_dict
from batch_jobs.gate import BootstrapInterval, GateConfig, IntervalRule, Metric, interval_rule
from batch_jobs.metrics import paired_bootstrap_values, percentile_interval, roc_auc, row_losses

FloatArray = NDArray[np.float64]

#: Columns `compare_shadow` needs; `latency_ms`, `shadow_latency_ms`, `ts` and `label` are optional.
REQUIRED_COLUMNS: Final = ("score", "predicted_label", "shadow_score", "shadow_label")


class ShadowOutcome(StrEnum):
    """What a shadow period decided."""

    PROMOTE = "promote"
    KEEP_CHAMPION = "keep_champion"
    CONTINUE_SHADOW = "continue_shadow"


@dataclass(frozen=True, slots=True)
class ShadowConfig:
    """How long a challenger stays in shadow, and the floor of agreement only a broken challenger misses.

    - `min_requests`, `min_days`: at least 1,000 requests and 3 days (so weekday patterns are mixed in and labels of
      the first day may have matured or been reviewed) before any decision but a catastrophic one.
    - `min_agreement`: two working models whose thresholds match the prevalence agree on most requests; below 50 %
      agreement the challenger is answering another question (a label inverted, a feature shifted).
    The statistical settings (metric, margin, confidence, resamples, label floors) are the gate's: `GateConfig`.
    """

    min_requests: int = 1000
    min_days: float = 3.0
    min_agreement: float = 0.5

    def __post_init__(self) -> None:
        problems = []
        if self.min_requests < 1:
            problems.append(f"min_requests must be >= 1, got {self.min_requests}")
        if not (math.isfinite(self.min_days) and self.min_days >= 0):
            problems.append(f"min_days must be a finite number >= 0, got {self.min_days}")
        if not 0 <= self.min_agreement <= 1:
            problems.append(f"min_agreement must be in [0, 1], got {self.min_agreement}")
        if problems:
            raise ValueError("invalid ShadowConfig: " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """A model's logged latency in milliseconds; None without logged latencies."""

    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class ShadowComparison:
    """Champion and shadow challenger on the same live requests (see the module docstring).

    `difference` is the paired bootstrap of (shadow − champion) on `metric` over the labelled requests (None when
    they lack a class); `gate` holds the settings it was computed with and the decision applies.
    """

    requests: int
    days: float
    started_at: str
    now: str
    first_request: str | None
    last_request: str | None
    agreement: float | None
    ks_statistic: float | None
    ks_p_value: float | None
    mean_score_difference: float | None
    champion_latency: LatencySummary
    shadow_latency: LatencySummary
    shadow_invalid: int
    shadow_distinct: int
    shadow_std: float | None
    labelled: int
    positives: int
    metric: str
    champion_metric: float | None
    shadow_metric: float | None
    difference: BootstrapInterval | None
    gate: GateConfig

    def to_json(self) -> dict[str, Any]:
        """The comparison as strict JSON data (no NaN: undefined numbers are None)."""
        return to_dict(self)


@dataclass(frozen=True, slots=True)
class ShadowDecision:
    """The promotion decision with its reasons and the comparison it rests on."""

    outcome: ShadowOutcome
    reasons: tuple[str, ...]
    catastrophic: bool
    champion_failing: str | None
    comparison: ShadowComparison
    config: ShadowConfig

    @property
    def promotes(self) -> bool:
        """Whether the challenger is to replace the champion."""
        return self.outcome is ShadowOutcome.PROMOTE

    def to_json(self) -> dict[str, Any]:
        """The decision as strict JSON data."""
        return to_dict(self)


def _column(frame: pd.DataFrame, name: str) -> FloatArray:
    values: FloatArray = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _latency(frame: pd.DataFrame, name: str) -> LatencySummary:
    if name not in frame.columns:
        return LatencySummary(None, None)
    values = _column(frame, name)
    values = values[np.isfinite(values)]
    if not values.size:
        return LatencySummary(None, None)
    p50, p95 = np.percentile(values, [50, 95])
    return LatencySummary(float(p50), float(p95))


def _metric_value(metric: Metric, y: NDArray[np.bool_], scores: FloatArray) -> float:
    if metric is Metric.AUC:
        return roc_auc(y, scores)
    return float(row_losses(metric, y, scores).mean())


def _time_range(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    if "ts" not in frame.columns or not len(frame):
        return None, None
    times = pd.to_datetime(frame["ts"], utc=True).dropna()
    if times.empty:
        return None, None
    return times.min().isoformat(), times.max().isoformat()


def compare_shadow(
    frame: pd.DataFrame,
    config: ShadowConfig,
    *,
    started_at: datetime,
    now: datetime,
    gate_config: GateConfig,
) -> ShadowComparison:
    """Compare the champion with the shadow challenger on the requests logged since `started_at`.

    `frame` has a row per request both models scored: `score`, `predicted_label` (champion), `shadow_score`,
    `shadow_label` (challenger), optionally `latency_ms`, `shadow_latency_ms`, `ts` and `label` (the outcome, NaN
    where unknown). A NaN shadow score counts as a failed shadow prediction; rows the shadow never saw must be left
    out by the caller. `config` is accepted for symmetry with `decide_promotion` (the comparison does not depend on
    it). ValueError on a missing column or `now` before `started_at`.
    """
    del config  # the comparison is the same whatever the decision's thresholds
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"shadow requests lack column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    if now < started_at:
        raise ValueError(f"now ({now.isoformat()}) is before the shadow started ({started_at.isoformat()})")
    champion, shadow = _column(frame, "score"), _column(frame, "shadow_score")
    valid_shadow = np.isfinite(shadow) & (shadow >= 0) & (shadow <= 1)
    valid_champion = np.isfinite(champion) & (champion >= 0) & (champion <= 1)
    both = valid_shadow & valid_champion
    labels_known = frame["predicted_label"].notna().to_numpy() & frame["shadow_label"].notna().to_numpy()
    champion_labels = frame["predicted_label"].to_numpy()[labels_known]
    shadow_labels = frame["shadow_label"].to_numpy()[labels_known]
    agreement = float((champion_labels == shadow_labels).mean()) if labels_known.any() else None
    ks_statistic = ks_p_value = None
    if valid_champion.any() and valid_shadow.any():
        result = ks_2samp(champion[valid_champion], shadow[valid_shadow])
        ks_statistic, ks_p_value = float(result.statistic), float(result.pvalue)
    outcome = _column(frame, "label") if "label" in frame.columns else np.full(len(frame), np.nan)
    labelled = both & np.isfinite(outcome)
    y = outcome[labelled]
    if y.size and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("label must be 0 or 1 (or NaN where unknown)")
    y_true = y.astype(bool)
    metric = gate_config.primary_metric
    positives = int(y_true.sum())
    champion_metric = shadow_metric = None
    difference = None
    if y_true.size:
        champion_metric = finite_or_none(_metric_value(metric, y_true, champion[labelled]))
        shadow_metric = finite_or_none(_metric_value(metric, y_true, shadow[labelled]))
    if 0 < positives < y_true.size:
        difference = _paired_difference(gate_config, y_true, champion[labelled], shadow[labelled])
    shadow_scores = shadow[valid_shadow]
    first, last = _time_range(frame)
    return ShadowComparison(
        requests=len(frame),
        days=(now - started_at).total_seconds() / 86_400,
        started_at=started_at.isoformat(),
        now=now.isoformat(),
        first_request=first,
        last_request=last,
        agreement=agreement,
        ks_statistic=finite_or_none(ks_statistic),
        ks_p_value=finite_or_none(ks_p_value),
        mean_score_difference=finite_or_none(float((shadow[both] - champion[both]).mean())) if both.any() else None,
        champion_latency=_latency(frame, "latency_ms"),
        shadow_latency=_latency(frame, "shadow_latency_ms"),
        shadow_invalid=int((~valid_shadow).sum()),
        shadow_distinct=int(np.unique(shadow_scores).size),
        shadow_std=finite_or_none(float(shadow_scores.std())) if shadow_scores.size else None,
        labelled=int(y_true.size),
        positives=positives,
        metric=str(metric),
        champion_metric=champion_metric,
        shadow_metric=shadow_metric,
        difference=difference,
        gate=gate_config,
    )


def _paired_difference(
    gate: GateConfig, y: NDArray[np.bool_], champion: FloatArray, shadow: FloatArray
) -> BootstrapInterval | None:
    """The paired bootstrap of (shadow − champion) on the gate's primary metric, as the gate computes it."""
    metric = gate.primary_metric
    rng = np.random.default_rng(gate.random_state)
    champion_values, shadow_values = paired_bootstrap_values(
        metric, y, champion, shadow, n_resamples=gate.n_bootstrap, rng=rng
    )
    differences = shadow_values - champion_values
    valid = differences[np.isfinite(differences)]
    if not valid.size:
        return None
    lower, upper = percentile_interval(valid, gate.confidence)
    return BootstrapInterval(
        metric=str(metric),
        difference=_metric_value(metric, y, shadow) - _metric_value(metric, y, champion),
        lower=lower,
        upper=upper,
        confidence=gate.confidence,
        resamples=gate.n_bootstrap,
        valid_resamples=int(valid.size),
        margin=gate.margin,
    )


def _catastrophic(comparison: ShadowComparison, config: ShadowConfig) -> list[str]:
    """The absolute checks only a broken challenger fails."""
    gate = comparison.gate
    problems = []
    if comparison.shadow_invalid:
        problems.append(
            f"finite: {comparison.shadow_invalid} of {comparison.requests} shadow scores are not finite "
            "probabilities in [0, 1]"
        )
    if comparison.requests >= config.min_requests:
        spread = comparison.shadow_std or 0.0
        if comparison.shadow_distinct < gate.min_distinct_predictions or spread < gate.min_prediction_std:
            problems.append(
                f"not_constant: the shadow has {comparison.shadow_distinct} distinct scores (at least "
                f"{gate.min_distinct_predictions} required) and standard deviation {spread:.2e} (at least "
                f"{gate.min_prediction_std:.0e} required)"
            )
        if comparison.agreement is not None and comparison.agreement < config.min_agreement:
            problems.append(
                f"agreement: the shadow's labels agree with the champion's on {comparison.agreement:.1%} of "
                f"requests, at least {config.min_agreement:.0%} required"
            )
    return problems


def decide_promotion(
    comparison: ShadowComparison, config: ShadowConfig, *, champion_failing: str | None = None
) -> ShadowDecision:
    """Promote the shadow challenger, keep the champion, or keep the shadow running (see the module docstring).
    `champion_failing` says why the champion is known to be failing (None: it is not known to be)."""

    def decided(outcome: ShadowOutcome, reasons: list[str], catastrophic: bool = False) -> ShadowDecision:
        return ShadowDecision(outcome, tuple(reasons), catastrophic, champion_failing, comparison, config)

    catastrophic = _catastrophic(comparison, config)
    if catastrophic:
        return decided(
            ShadowOutcome.KEEP_CHAMPION,
            [
                f"keep the champion: the shadow challenger fails a catastrophic check: {problem}"
                for problem in catastrophic
            ],
            catastrophic=True,
        )
    gate = comparison.gate
    progress = (
        f"{comparison.requests} of {config.min_requests} requests, {comparison.days:.1f} of {config.min_days:g} days"
    )
    if comparison.requests < config.min_requests or comparison.days < config.min_days:
        return decided(ShadowOutcome.CONTINUE_SHADOW, [f"continue shadow: still collecting ({progress})"])
    minority = min(comparison.positives, comparison.labelled - comparison.positives)
    interval = comparison.difference
    if comparison.labelled < gate.min_holdout_rows or minority < gate.min_class_rows or interval is None:
        return decided(
            ShadowOutcome.CONTINUE_SHADOW,
            [
                f"continue shadow: too few labels to judge: {comparison.labelled} labelled requests with "
                f"{comparison.positives} positive, at least {gate.min_holdout_rows} and {gate.min_class_rows} of each "
                f"class required ({progress})"
            ],
        )
    return decided(*_rule(comparison, interval, champion_failing))


def _rule(
    comparison: ShadowComparison, interval: BootstrapInterval, champion_failing: str | None
) -> tuple[ShadowOutcome, list[str]]:
    """The gate's rule on the paired interval of (shadow − champion)."""
    gate = comparison.gate
    metric = Metric(interval.metric)
    summary = (
        f"{metric} on {comparison.labelled} labelled live requests: shadow {comparison.shadow_metric:.4f} vs champion "
        f"{comparison.champion_metric:.4f}, difference {interval.difference:+.4f} ({interval.confidence:.0%} paired "
        f"bootstrap CI {interval.lower:+.4f} to {interval.upper:+.4f}, {interval.valid_resamples}/"
        f"{interval.resamples} resamples)"
    )
    if metric.higher_is_better:
        non_inferior = interval.lower > -gate.margin
        rule = f"lower bound must be above {-gate.margin:+.4f}"
    else:
        non_inferior = interval.upper < gate.margin
        rule = f"upper bound must be below {gate.margin:+.4f}"
    if not non_inferior:
        return ShadowOutcome.KEEP_CHAMPION, [
            f"keep the champion: non_inferiority fails, the challenger may be worse beyond the margin "
            f"{gate.margin:g} ({rule}); {summary}"
        ]
    decided, wording = interval_rule(interval, gate.min_gain, champion_failing)
    if decided is IntervalRule.WORSE:
        return ShadowOutcome.KEEP_CHAMPION, [
            f"keep the champion: {wording}, so the champion stays whatever its state; {summary}"
        ]
    if decided is IntervalRule.NOT_BETTER:
        return ShadowOutcome.KEEP_CHAMPION, [f"keep the champion: {wording}; {summary}"]
    return ShadowOutcome.PROMOTE, [f"promote: {wording}; {summary}"]
