"""The catastrophic checks: one pass over the window summarises it, then each signal is judged on the summary.

Pure: no AWS, no environment, no clock. Every check returns a `SignalResult` whose verdict is `firing`, `ok` or
`insufficient_data` (too little data to judge: never an alert). The wording of `headline` and `normal` is what a
person reads in the alert, so it states the numbers: observed value, normal band and how the band was derived.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.baseline import MonitoringBaseline
from core.odds import odds_band
from core.quarantine import (
    QuarantineEntry,
    QuarantineLine,
    QuarantineSource,
    QuarantineTotals,
    non_finite_features,
)
from core.records import RecordKind
from lambdas.alerting import stats
from lambdas.alerting.models import AlertPolicy, Band, Signal, SignalResult, Verdict

#: How many offending features or values a message lists.
TOP = 5
#: Characters of a feature name or value an alert shows.
SHOWN_CHARS = 100
_MAX_FLOAT = sys.float_info.max
_SURROGATE = re.compile("[\ud800-\udfff]")


class Row(Protocol):
    """What the checks read from a logged prediction (`core.segments.PredictionRow`)."""

    @property
    def score(self) -> float: ...

    @property
    def predicted_label(self) -> int: ...

    @property
    def latency_ms(self) -> float | None: ...

    @property
    def features(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class QuarantineSummary:
    """Payload records the ETL refused during the window (read from `quarantine/` objects).

    Records with a non-finite feature never reach the payload table (the contract refuses them), so this is the
    only place they can be counted.
    """

    objects: int = 0
    records: int = 0
    non_finite_records: int = 0
    non_finite_by_feature: Mapping[str, int] = field(default_factory=dict)
    truncated: bool = False


def summarise_quarantine(lines: Iterable[QuarantineLine], *, objects: int, truncated: bool) -> QuarantineSummary:
    """Count refused payload records and those refused for a non-finite feature, object by object (`core.quarantine`;
    the lines of one object share their source bucket, key and ETag).

    An object's summary line counts every refused record exactly, listed or not: its listed entries are then not
    counted again. An object without one (written by older code, within the caps) is counted from its listed entries.
    An older summary (caps passed, no non-finite counts) gives the object's records; its non-finite records are its
    listed ones plus, per feature, those its reason counts show beyond them: a lower bound.
    """
    counts: dict[QuarantineSource, _ObjectCount] = {}
    for line in lines:
        if line.source.record_kind not in (None, RecordKind.PAYLOAD):
            continue
        count = counts.setdefault(line.source, _ObjectCount())
        if isinstance(line, QuarantineTotals):
            count.totals = count.totals or line
        else:
            count.add(line)
    summary = _QuarantineCounts()
    for count in counts.values():
        count.add_to(summary)
    return QuarantineSummary(objects, summary.records, summary.non_finite, dict(summary.by_feature), truncated)


@dataclass(slots=True)
class _QuarantineCounts:
    records: int = 0
    non_finite: int = 0
    by_feature: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _ObjectCount:
    """One quarantine object: its summary line if it has one, and its listed entries counted."""

    totals: QuarantineTotals | None = None
    listed: _QuarantineCounts = field(default_factory=_QuarantineCounts)

    def add(self, entry: QuarantineEntry) -> None:
        self.listed.records += 1
        if names := non_finite_features(entry.reasons):
            self.listed.non_finite += 1
            self.listed.by_feature.update(names)

    def add_to(self, summary: _QuarantineCounts) -> None:
        totals, listed = self.totals, self.listed
        if totals is None:
            summary.records += listed.records
            summary.non_finite += listed.non_finite
            summary.by_feature.update(listed.by_feature)
            return
        summary.records += totals.quarantined
        if totals.non_finite_records is not None:
            summary.non_finite += totals.non_finite_records
            summary.by_feature.update(totals.non_finite_by_feature)
            return
        counted: Counter[str] = Counter()
        for reason, count in totals.reason_counts.items():
            counted.update(dict.fromkeys(non_finite_features((reason,)), count))
        unlisted = {name: count - listed.by_feature[name] for name, count in counted.items()}
        unlisted = {name: count for name, count in unlisted.items() if count > 0}
        summary.non_finite += listed.non_finite + max(unlisted.values(), default=0)
        summary.by_feature.update(listed.by_feature)
        summary.by_feature.update(unlisted)


@dataclass(slots=True)
class WindowSummary:
    """Everything the checks need from the window's rows, gathered in one pass."""

    rows: int = 0
    positives: int = 0
    scores: stats.RunningMoments = field(default_factory=stats.RunningMoments)
    latencies: list[float] = field(default_factory=list)
    nulls: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    absent: Counter[str] = field(default_factory=Counter)
    wrong_type: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)
    schema_rows: int = 0
    unseen_rows: int = 0
    unseen_values: dict[str, Counter[str]] = field(default_factory=dict)


def _is_usable_number(value: object) -> bool:
    """A number a float column can hold: not a boolean, finite, within the double range (a record stored before the
    contract refused a 400-digit integer or a `NaN` token is a wrongly typed value, not a crash)."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -_MAX_FLOAT <= value <= _MAX_FLOAT


def _shown(text: str) -> str:
    """A key or value as an alert may show it: lone surrogates escaped (UTF-8 and SNS refuse them), at most
    `SHOWN_CHARS` characters."""
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def summarise(rows: Iterable[Row], baseline: MonitoringBaseline) -> WindowSummary:
    """One pass over the rows: counts, score moments, latencies, per-feature nulls, schema problems, unseen values.

    Reads whatever a stored record holds without raising: an unusable number (beyond the double range, not finite)
    counts as a wrongly typed value; unknown keys and unseen values are counted under `_shown` text."""
    summary = WindowSummary()
    specs = [(f.name, f.kind == "numeric", frozenset(f.categories)) for f in baseline.features]
    known = frozenset(f.name for f in baseline.features)
    unseen_values: dict[str, Counter[str]] = {}
    for row in rows:
        summary.rows += 1
        summary.positives += row.predicted_label
        summary.scores.add(row.score)
        if row.latency_ms is not None:
            summary.latencies.append(row.latency_ms)
        features = row.features
        bad_schema = has_unseen = False
        known_here = 0
        for name, numeric, categories in specs:
            if name not in features:
                summary.absent[name] += 1
                bad_schema = True
                continue
            known_here += 1
            summary.present[name] += 1
            value = features[name]
            if value is None or (not numeric and value == "" and "" not in categories):
                summary.nulls[name] += 1
            elif numeric:
                if not _is_usable_number(value):
                    summary.wrong_type[name] += 1
                    bad_schema = True
            elif not isinstance(value, str):
                summary.wrong_type[name] += 1
                bad_schema = True
            elif value not in categories:
                unseen_values.setdefault(name, Counter())[_shown(value)] += 1
                has_unseen = True
        if len(features) > known_here:
            summary.extra.update(_shown(name) for name in features if name not in known)
            bad_schema = True
        summary.schema_rows += bad_schema
        summary.unseen_rows += has_unseen
    summary.unseen_values = unseen_values
    return summary


# --- formatting helpers ---------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def _top(counter: Mapping[str, int], total: int) -> str:
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    return ", ".join(f"'{name}' {_pct(count / total)}" for name, count in ordered)


def _insufficient(signal: Signal, title: str, sample_size: int, reason: str) -> SignalResult:
    return SignalResult(signal, Verdict.INSUFFICIENT_DATA, title, sample_size, reason=reason)


# --- the checks ------------------------------------------------------------------------------------------------


def check_volume(observed: int, history: Sequence[int], policy: AlertPolicy, window_text: str) -> SignalResult:
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
        headline=f"{observed} predictions were logged {window_text} ({ratio:.2f}x the typical {typical:g}).",
        normal=(
            f"{band.low:g} to {band.high:g} predictions: the wider of the Poisson band (alpha {policy.alpha:g}) and "
            f"{policy.volume_collapse_ratio:g}x-{policy.volume_spike_ratio:g}x the median ({typical:g}) of the same "
            f"window on the previous {len(history)} days."
        ),
        details=(f"history counts, newest day first: {', '.join(str(count) for count in history)}",),
    )


def check_constant_predictions(
    summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy
) -> SignalResult:
    """Scores that no longer vary: one distinct value, or a standard deviation far below the training one."""
    title = "constant predictions"
    n = summary.rows
    if n < policy.min_rows:
        return _insufficient(Signal.CONSTANT_PREDICTIONS, title, n, f"{n} predictions, {policy.min_rows} needed")
    floor = max(policy.constant_std_floor, policy.constant_std_ratio * baseline.score_std)
    std = summary.scores.std
    firing = summary.scores.distinct == 1 or std < floor
    distinct = "a single distinct value" if summary.scores.distinct == 1 else "more than one distinct value"
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


def check_positive_rate(summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
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


def check_missing_features(summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
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


def check_non_finite_features(n_loaded: int, quarantine: QuarantineSummary, policy: AlertPolicy) -> SignalResult:
    """Records refused for a NaN or infinite feature, as a share of all payload records of the window."""
    title = "non-finite features"
    total = n_loaded + quarantine.records
    if total < policy.min_rows:
        return _insufficient(Signal.NON_FINITE_FEATURES, title, total, f"{total} records, {policy.min_rows} needed")
    share = quarantine.non_finite_records / total
    firing = share >= policy.non_finite_share_floor and quarantine.non_finite_records > 0
    details = [f"records per feature: {_top(quarantine.non_finite_by_feature, total)}"] if firing else []
    if quarantine.truncated:
        details.append(f"only the first {quarantine.objects} quarantine objects were read: the share is a lower bound")
    return SignalResult(
        Signal.NON_FINITE_FEATURES,
        Verdict.FIRING if firing else Verdict.OK,
        title,
        total,
        observed=share,
        expected=Band(0.0, policy.non_finite_share_floor, 0.0),
        unit="share of records",
        headline=(
            f"{quarantine.non_finite_records} of {total} payload records ({_pct(share)}) carried a NaN or infinite "
            "feature and were quarantined by the ETL (they are not in the payload table)."
        ),
        normal=f"below {_pct(policy.non_finite_share_floor)} of records (training had none).",
        details=tuple(details),
    )


def check_unseen_categories(summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """The share of records with a category never seen in training, above a floor."""
    title = "unseen categories"
    n = summary.rows
    if not any(feature.kind == "categorical" for feature in baseline.features):
        return _insufficient(Signal.UNSEEN_CATEGORIES, title, n, "the model has no categorical feature")
    if n < policy.min_rows:
        return _insufficient(Signal.UNSEEN_CATEGORIES, title, n, f"{n} predictions, {policy.min_rows} needed")
    share = summary.unseen_rows / n
    firing = share >= policy.unseen_share_floor
    details = tuple(
        f"'{name}': {', '.join(repr(value) for value, _ in values.most_common(TOP))} ({values.total()} records)"
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


def check_schema_violations(summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """Records whose features do not match the model's feature list: missing or extra keys, wrong value types."""
    title = "schema violations"
    n = summary.rows
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


def check_latency(summary: WindowSummary, baseline: MonitoringBaseline, policy: AlertPolicy) -> SignalResult:
    """p99 latency (nearest rank) over the budget."""
    title = "latency over budget"
    n = len(summary.latencies)
    if n < policy.min_latency_rows:
        return _insufficient(
            Signal.LATENCY, title, n, f"{n} predictions with a latency, {policy.min_latency_rows} needed for a p99"
        )
    p99 = stats.nearest_rank_quantile(summary.latencies, 0.99)
    reference = "" if baseline.latency_ms_p99 is None else f"; p99 at release {baseline.latency_ms_p99:.0f} ms"
    return SignalResult(
        Signal.LATENCY,
        Verdict.FIRING if p99 > policy.latency_budget_ms else Verdict.OK,
        title,
        n,
        observed=p99,
        expected=Band(None, policy.latency_budget_ms, baseline.latency_ms_p99),
        unit="ms (p99)",
        headline=f"the p99 latency over {n} predictions is {p99:.0f} ms.",
        normal=f"p99 at most {policy.latency_budget_ms:.0f} ms (the configured budget{reference}).",
    )


def evaluate(
    summary: WindowSummary,
    *,
    history: Sequence[int],
    quarantine: QuarantineSummary,
    baseline: MonitoringBaseline,
    policy: AlertPolicy,
    window_text: str,
) -> tuple[SignalResult, ...]:
    """Every check, in `Signal` order."""
    return (
        check_volume(summary.rows, history, policy, window_text),
        check_constant_predictions(summary, baseline, policy),
        check_positive_rate(summary, baseline, policy),
        check_missing_features(summary, baseline, policy),
        check_non_finite_features(summary.rows, quarantine, policy),
        check_unseen_categories(summary, baseline, policy),
        check_schema_violations(summary, baseline, policy),
        check_latency(summary, baseline, policy),
    )
