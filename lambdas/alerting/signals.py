"""The catastrophic checks, each judged on the window's merged aggregate (`core.aggregates`, written at ingest).

Pure: no AWS, no environment, no clock. Every check returns a `SignalResult` whose verdict is `firing`, `ok` or
`insufficient_data` (too little data to judge: never an alert). The wording of `headline` and `normal` is what a
person reads in the alert, so it states the numbers: observed value, normal band and how the band was derived.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from core.aggregates import LATENCY_BINS_PER_DECADE, OTHER, Aggregate, Judge
from core.baseline import MonitoringBaseline
from core.odds import odds_band
from lambdas.alerting import stats
from lambdas.alerting.models import AlertPolicy, Band, Signal, SignalResult, Verdict

#: How many offending features or values a message lists.
TOP = 5


class Row(Protocol):
    """A logged prediction, as `summarise` reads it."""

    @property
    def model_version(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def predicted_label(self) -> int: ...

    @property
    def latency_ms(self) -> float | None: ...

    @property
    def features(self) -> Mapping[str, Any]: ...


def summarise(rows: Iterable[Row], baseline: MonitoringBaseline) -> Aggregate:
    """The aggregate of raw rows, every row judged against `baseline`: what the payload-ETL's aggregates of the same
    records, merged, equal (the reference the tests compare them with)."""
    judge = Judge.of(baseline)
    aggregate = Aggregate()
    for row in rows:
        aggregate.add(row.model_version, row.score, row.predicted_label, row.latency_ms, row.features, judge)
    return aggregate


# --- formatting helpers ---------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def _top(counter: Mapping[str, int], total: int) -> str:
    ordered = sorted(
        ((name, count) for name, count in counter.items() if name != OTHER), key=lambda item: (-item[1], item[0])
    )
    shown = ", ".join(f"'{name}' {_pct(count / total)}" for name, count in ordered[:TOP])
    rest = sum(count for _, count in ordered[TOP:]) + counter.get(OTHER, 0)
    return f"{shown} and others {_pct(rest / total)}" if rest else shown


def _insufficient(signal: Signal, title: str, sample_size: int, reason: str) -> SignalResult:
    return SignalResult(signal, Verdict.INSUFFICIENT_DATA, title, sample_size, reason=reason)


# --- the checks ------------------------------------------------------------------------------------------------


def check_volume(observed: int, history: Sequence[int], policy: AlertPolicy) -> SignalResult:
    """Collapse or spike: the window's count against the same window on previous days.

    Typical = median of the history windows that saw traffic. Band = the wider of the Poisson band at `alpha`
    around it and [collapse_ratio, spike_ratio] x typical, so ordinary day-to-day variation at high volume (wider
    than Poisson) never fires, and at low volume only a count the Poisson law itself rules out does.
    """
    title = "volume"
    with_traffic = [count for count in history if count > 0]
    if len(with_traffic) < policy.volume_min_history_windows:
        return _insufficient(
            Signal.VOLUME,
            title,
            observed,
            f"only {len(with_traffic)} of {len(history)} history windows saw traffic; "
            f"{policy.volume_min_history_windows} are needed to know what normal volume is",
        )
    typical = stats.median(with_traffic)
    if typical < policy.volume_min_expected:
        return _insufficient(
            Signal.VOLUME,
            title,
            observed,
            f"typical volume is {typical:g} predictions per window, below the {policy.volume_min_expected:g} "
            "needed to tell a collapse from chance",
        )
    poisson_low, poisson_high = stats.poisson_band(typical, policy.alpha)
    low = min(float(poisson_low), policy.volume_collapse_ratio * typical)
    high = max(float(poisson_high), policy.volume_spike_ratio * typical)
    band = Band(math.ceil(low), math.floor(high), typical)
    firing = not band.contains(observed)
    kind = "collapse" if observed < band.low else "spike"  # type: ignore[operator]
    ratio = observed / typical
    return SignalResult(
        Signal.VOLUME,
        Verdict.FIRING if firing else Verdict.OK,
        f"volume {kind}" if firing else title,
        observed,
        observed=float(observed),
        expected=band,
        unit="predictions",
        headline=f"{observed} predictions were logged ({ratio:.2f}x the typical {typical:g}).",
        normal=(
            f"{band.low:g} to {band.high:g} predictions: the wider of the Poisson band (alpha {policy.alpha:g}) and "
            f"{policy.volume_collapse_ratio:g}x-{policy.volume_spike_ratio:g}x the median ({typical:g}) of the same "
            f"window on the previous {len(history)} days."
        ),
        details=(f"history counts, newest day first: {', '.join(str(count) for count in history)}",),
    )


def check_constant_predictions(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """Scores that no longer vary: one distinct value, or a standard deviation far below the training one."""
    title = "constant predictions"
    n = summary.rows
    if n < policy.min_rows:
        return _insufficient(Signal.CONSTANT_PREDICTIONS, title, n, f"{n} predictions, {policy.min_rows} needed")
    floor = max(policy.constant_std_floor, policy.constant_std_ratio * baseline.score_std)
    std = summary.scores.std
    firing = summary.scores.constant or std < floor
    distinct = "a single distinct value" if summary.scores.constant else "more than one distinct value"
    return SignalResult(
        Signal.CONSTANT_PREDICTIONS,
        Verdict.FIRING if firing else Verdict.OK,
        title,
        n,
        observed=std,
        expected=Band(floor, None, baseline.score_std),
        unit="score std",
        headline=(
            f"the score's standard deviation over {n} predictions is {std:.4g} ({distinct}; "
            f"mean score {summary.scores.mean:.4f})."
        ),
        normal=(
            f"a standard deviation of at least {floor:.4g} ({policy.constant_std_ratio:g}x the training standard "
            f"deviation {baseline.score_std:.4g}); training mean score {baseline.score_mean:.4f}."
        ),
    )


def check_positive_rate(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """The predicted positive rate outside both its exact binomial band and an odds-ratio band around training's."""
    title = "positive rate out of band"
    n, p0 = summary.rows, baseline.positive_rate
    if n < policy.min_rows:
        return _insufficient(Signal.POSITIVE_RATE, title, n, f"{n} predictions, {policy.min_rows} needed")
    if not 0.0 < p0 < 1.0:
        return _insufficient(
            Signal.POSITIVE_RATE, title, n, f"the baseline positive rate is {p0:g}; there is no band around it"
        )
    count_low, count_high = stats.binomial_band(n, p0, policy.alpha)
    odds_low, odds_high = odds_band(p0, policy.positive_rate_odds_ratio)
    # Firing needs both: outside the binomial band (significant) and outside the odds band (large). Both bands
    # contain p0, so "outside both" is "outside their hull".
    band = Band(min(count_low / n, odds_low), max(count_high / n, odds_high), p0)
    rate = summary.positives / n
    return SignalResult(
        Signal.POSITIVE_RATE,
        Verdict.OK if band.contains(rate) else Verdict.FIRING,
        title,
        n,
        observed=rate,
        expected=band,
        unit="positive rate",
        headline=f"{summary.positives} of {n} predictions were positive ({_pct(rate)}).",
        normal=(
            f"{_pct(band.low or 0.0)} to {_pct(band.high or 1.0)} around the training rate {_pct(p0)}: outside both "
            f"the exact binomial band (alpha {policy.alpha:g}) and odds within {policy.positive_rate_odds_ratio:g}x."
        ),
    )


def check_missing_features(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """A feature whose null share is far above training's (exact one-sided binomial test and an absolute floor)."""
    title = "missing features"
    n = summary.rows
    if n < policy.min_rows:
        return _insufficient(Signal.MISSING_FEATURES, title, n, f"{n} predictions, {policy.min_rows} needed")
    judged: dict[str, tuple[float, float, float]] = {}  # name -> (observed rate, limit, baseline rate)
    for feature in baseline.features:
        present = summary.present[feature.name]
        if present < policy.min_rows:
            continue  # a feature absent from the records is a schema violation, judged there
        significant = stats.binomial_upper(present, feature.missing_rate, policy.alpha) / present
        limit = min(1.0, max(significant, feature.missing_rate + policy.missing_rate_increase))
        judged[feature.name] = (summary.nulls[feature.name] / present, limit, feature.missing_rate)
    if not judged:
        return _insufficient(Signal.MISSING_FEATURES, title, n, "no feature is present in enough records to judge")
    # Worst first: the largest excess over its limit.
    ranked = sorted(judged.items(), key=lambda item: (item[1][1] - item[1][0], item[0]))
    offenders = [(name, figures) for name, figures in ranked if figures[0] > figures[1]]
    worst_rate, worst_limit, _ = ranked[0][1]
    lines = tuple(
        f"'{name}': {_pct(rate)} empty, normal at most {_pct(limit)} (training {_pct(base)})"
        for name, (rate, limit, base) in offenders[:TOP]
    )
    names = ", ".join(f"'{name}'" for name, _ in offenders[:TOP])
    return SignalResult(
        Signal.MISSING_FEATURES,
        Verdict.FIRING if offenders else Verdict.OK,
        title,
        n,
        observed=worst_rate,
        expected=Band(0.0, worst_limit),
        unit="missing rate",
        headline=(
            f"{len(offenders)} feature(s) arrive empty far more often than in training: {names}."
            if offenders
            else f"no feature is empty much more often than in training ({n} predictions)."
        ),
        normal=(
            f"each feature's null share at most its training share + {_pct(policy.missing_rate_increase)} and within "
            f"its exact binomial band (alpha {policy.alpha:g})."
        ),
        details=lines,
    )


def check_non_finite_features(summary: Aggregate, policy: AlertPolicy) -> SignalResult:
    """Records refused for a NaN or infinite feature, as a share of all payload records of the window (loaded and
    refused: the ETL counts every refused record in the aggregates, listed in its quarantine object or not)."""
    title = "non-finite features"
    total = summary.rows + summary.refused
    if total < policy.min_rows:
        return _insufficient(Signal.NON_FINITE_FEATURES, title, total, f"{total} records, {policy.min_rows} needed")
    share = summary.non_finite / total
    firing = share >= policy.non_finite_share_floor and summary.non_finite > 0
    details = [f"records per feature: {_top(summary.non_finite_by_feature, total)}"] if firing else []
    return SignalResult(
        Signal.NON_FINITE_FEATURES,
        Verdict.FIRING if firing else Verdict.OK,
        title,
        total,
        observed=share,
        expected=Band(0.0, policy.non_finite_share_floor, 0.0),
        unit="share of records",
        headline=(
            f"{summary.non_finite} of {total} payload records ({_pct(share)}) carried a NaN or infinite "
            "feature and were quarantined by the ETL (they are not in the lake)."
        ),
        normal=f"below {_pct(policy.non_finite_share_floor)} of records (training had none).",
        details=tuple(details),
    )


def check_unseen_categories(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """The share of records with a category never seen in training, above a floor."""
    title = "unseen categories"
    n = summary.judged
    if not any(feature.kind == "categorical" for feature in baseline.features):
        return _insufficient(Signal.UNSEEN_CATEGORIES, title, n, "the model has no categorical feature")
    if n < policy.min_rows:
        return _insufficient(Signal.UNSEEN_CATEGORIES, title, n, f"{n} predictions, {policy.min_rows} needed")
    share = summary.unseen_rows / n
    firing = share >= policy.unseen_share_floor
    details = tuple(
        f"'{name}': {', '.join(repr(value) for value, _ in values.most_common(TOP) if value != OTHER)} "
        f"({values.total()} records)"
        for name, values in sorted(summary.unseen_values.items(), key=lambda item: -item[1].total())[:TOP]
    )
    return SignalResult(
        Signal.UNSEEN_CATEGORIES,
        Verdict.FIRING if firing else Verdict.OK,
        title,
        n,
        observed=share,
        expected=Band(0.0, policy.unseen_share_floor, 0.0),
        unit="share of records",
        headline=f"{summary.unseen_rows} of {n} predictions ({_pct(share)}) carry a category never seen in training.",
        normal=f"below {_pct(policy.unseen_share_floor)} of records (unseen categories are rare tail values).",
        details=details if firing else (),
    )


def check_schema_violations(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """Records whose features do not match the model's feature list: missing or extra keys, wrong value types."""
    title = "schema violations"
    n = summary.judged
    if n < policy.min_rows:
        return _insufficient(Signal.SCHEMA_VIOLATIONS, title, n, f"{n} predictions, {policy.min_rows} needed")
    share = summary.schema_rows / n
    firing = share >= policy.schema_share_floor
    details = []
    if summary.absent:
        details.append(f"missing keys: {_top(summary.absent, n)}")
    if summary.extra:
        details.append(f"unknown keys: {_top(summary.extra, n)}")
    if summary.wrong_type:
        details.append(f"wrongly typed values: {_top(summary.wrong_type, n)}")
    return SignalResult(
        Signal.SCHEMA_VIOLATIONS,
        Verdict.FIRING if firing else Verdict.OK,
        title,
        n,
        observed=share,
        expected=Band(0.0, policy.schema_share_floor, 0.0),
        unit="share of records",
        headline=(
            f"{summary.schema_rows} of {n} predictions ({_pct(share)}) do not match the model's "
            f"{len(baseline.features)} input features."
        ),
        normal=f"below {_pct(policy.schema_share_floor)} of records (serving validates requests against the schema).",
        details=tuple(details) if firing else (),
    )


def check_latency(summary: Aggregate, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """p99 latency (nearest rank, read from the aggregates' histogram: the upper edge of its bin, at most 12 % above
    the exact value) over the budget."""
    title = "latency over budget"
    n = summary.latency_rows
    if n < policy.min_latency_rows:
        return _insufficient(
            Signal.LATENCY, title, n, f"{n} predictions with a latency, {policy.min_latency_rows} needed for a p99"
        )
    p99 = summary.latency_quantile(0.99)
    reference = "" if baseline.latency_ms_p99 is None else f"; p99 at release {baseline.latency_ms_p99:.0f} ms"
    return SignalResult(
        Signal.LATENCY,
        Verdict.FIRING if p99 > policy.latency_budget_ms else Verdict.OK,
        title,
        n,
        observed=p99,
        expected=Band(None, policy.latency_budget_ms, baseline.latency_ms_p99),
        unit="ms (p99)",
        headline=(
            f"the p99 latency over {n} predictions is at most {p99:.0f} ms (the upper edge of its histogram bin, "
            f"{LATENCY_BINS_PER_DECADE} bins a decade)."
        ),
        normal=f"p99 at most {policy.latency_budget_ms:.0f} ms (the configured budget{reference}).",
    )


def evaluate(
    summary: Aggregate,
    *,
    history: Sequence[int],
    baseline: MonitoringBaseline,
    policy: AlertPolicy,
    window_text: str,
) -> tuple[SignalResult, ...]:
    """Every check, in `Signal` order, each naming the window (`window_text`)."""
    results = (
        check_volume(summary.rows, history, policy),
        check_constant_predictions(summary, baseline, policy),
        check_positive_rate(summary, baseline, policy),
        check_missing_features(summary, baseline, policy),
        check_non_finite_features(summary, policy),
        check_unseen_categories(summary, baseline, policy),
        check_schema_violations(summary, baseline, policy),
        check_latency(summary, baseline, policy),
    )
    return tuple(replace(result, window=window_text) for result in results)
