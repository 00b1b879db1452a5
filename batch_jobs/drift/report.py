"""Self-contained HTML report of a `DriftResult`: inline CSS and inline SVG charts, no scripts, fonts or links,
so it opens offline. Every piece of text from the data is escaped.

With an impact estimate (`DriftResult.impact`, `batch_jobs.drift.impact`) the report opens its findings with it: the
verdict in words, the expected AUC's drop against its margin, the window's expected metrics, what the estimate
assumes, each feature's shift beside the floor it was judged against and what the champion's sensitivity profile
says such a shift costs, and the profile itself. `tracking_html` renders the estimate beside the realised metrics of
a matured window (used by the drift check's report).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from batch_jobs.drift import sensitivity
from batch_jobs.drift.estimate import EstimatedPerformance
from batch_jobs.drift.impact import EstimateTracking
from batch_jobs.drift.results import (
    CheckResult,
    DomainClassifierResult,
    DriftResult,
    FeatureDrift,
    FeatureImpact,
    Histogram,
    ImpactResult,
    ImpactVerdict,
    PerformanceResult,
    PredictionDrift,
)
from batch_jobs.drift.univariate import PSI, WASSERSTEIN

#: The report's CSS (a page that embeds its sections adds it once).
STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d5de}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0}
th,td{border:1px solid #d0d5de;padding:.25rem .45rem;text-align:right}
th{background:#f1f3f7}td:first-child,th:first-child{text-align:left}
.drift{color:#b3261e;font-weight:600}.no_drift,.no_decay{color:#1e7b34}.insufficient_data,.no_baseline{color:#8a6d00}
.decay{color:#b3261e;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #e3e6ec;padding:.5rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
.impactful{color:#b3261e;font-weight:600}.harmless{color:#1e7b34;font-weight:600}.unknown{color:#8a6d00}
.assumption{border-left:4px solid #8a6d00;background:#fff8e1;padding:.5rem .8rem;margin:.6rem 0}
.note{color:#555;font-size:.85rem}.outside{color:#b3261e;font-weight:600}.within{color:#1e7b34}
"""
#: The metrics an estimate holds, as the report names them.
METRIC_LABELS: Final = {"auc": "AUC", "log_loss": "log loss", "positive_rate": "positive rate"}
#: The configuration key of the global floor of each distribution effect size.
_GLOBAL_FLOORS: Final = {WASSERSTEIN: "wasserstein_threshold", PSI: "psi_threshold"}
_REFERENCE_COLOUR = "#8c96a8"
_CURRENT_COLOUR = "#e07b39"


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if value != 0 and (abs(value) < 10 ** -(digits - 1) or abs(value) >= 10**6):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _verdict(value: str) -> str:
    text = escape(value)
    return f'<span class="{text}">{text}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _check_cells(check: CheckResult | None) -> list[str]:
    if check is None:
        return ["–"] * 9
    return [
        _verdict(check.verdict),
        escape(check.test),
        _number(check.statistic),
        _number(check.p_value),
        _number(check.p_value_adjusted),
        escape(check.effect_size_name),
        _number(check.effect_size),
        _number(check.effect_size_threshold),
        f"{check.n_reference:,} / {check.n_current:,}",
    ]


_CHECK_HEADERS = [
    "verdict",
    "test",
    "statistic",
    "p-value",
    "adjusted p",
    "effect size",
    "value",
    "floor",
    "n ref / cur",
]


def bar_chart(title: str, histogram: Histogram, width: int = 460, height: int = 170) -> str:
    """Reference vs current shares as grouped bars in inline SVG (each bar has an escaped tooltip)."""
    if not histogram.labels:
        return f'<div class="chart"><strong>{escape(title)}</strong><p>no values</p></div>'
    top, bottom, left = 10, 20, 34
    plot_height = height - top - bottom
    peak = max([*histogram.reference, *histogram.current, 1e-12])
    slot = (width - left) / len(histogram.labels)
    bar = max(slot * 0.4, 1.0)
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width}" y2="{top + plot_height}" stroke="#999"/>',
        f'<text x="0" y="{top + 8}" font-size="10">{peak:.0%}</text>',
        f'<text x="0" y="{top + plot_height}" font-size="10">0%</text>',
    ]
    for i, (label, ref, cur) in enumerate(zip(histogram.labels, histogram.reference, histogram.current, strict=True)):
        x = left + i * slot + slot * 0.1
        for offset, share, colour, side in (
            (0.0, ref, _REFERENCE_COLOUR, "reference"),
            (bar, cur, _CURRENT_COLOUR, "current"),
        ):
            h = plot_height * share / peak
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(label)} — {side}: {share:.2%}</title></rect>'
            )
    first, last = histogram.labels[0], histogram.labels[-1]
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="10">{escape(first)}</text>')
    parts.append(f'<text x="{width}" y="{height - 4}" font-size="10" text-anchor="end">{escape(last)}</text>')
    parts.append("</svg>")
    return f'<div class="chart"><strong>{escape(title)}</strong><br>{"".join(parts)}</div>'


def _summary(result: DriftResult) -> str:
    drifted = ", ".join(escape(name) for name in result.drifted_features) or "none"
    rows = [
        ["dataset drift", _verdict("drift" if result.dataset_drift else "no_drift")],
        ["drifted features", drifted],
        ["features", str(result.n_features)],
        ["reference rows / current rows", f"{result.n_reference:,} / {result.n_current:,}"],
        ["significance level (alpha)", _number(result.alpha)],
        ["multiple-testing correction", f"{escape(result.correction)} over {result.n_tests} tests"],
        [
            "performance decay",
            "no labels"
            if result.performance_decay is None
            else _verdict("decay" if result.performance_decay else "no_decay"),
        ],
    ]
    return '<section id="summary"><h2>Summary</h2>' + _table(["", ""], rows) + "</section>"


def _features(features: Sequence[FeatureDrift]) -> str:
    rows = []
    for feature in features:
        missing = feature.missing_rate
        unseen = feature.unseen_categories
        rows.append(
            [
                escape(feature.name),
                escape(feature.kind),
                _verdict(feature.verdict),
                *_check_cells(feature.distribution),
                f"{_number(missing.reference_value)} → {_number(missing.current_value)} ({_verdict(missing.verdict)})",
                "–"
                if unseen is None
                else f"{_number(unseen.current_value)} ({_verdict(unseen.verdict)})"
                + (f"<br>{escape(', '.join(feature.unseen_examples))}" if feature.unseen_examples else ""),
            ]
        )
    headers = ["feature", "kind", "overall", *_CHECK_HEADERS, "missing rate ref → cur", "unseen share"]
    return '<section id="features"><h2>Per-feature drift</h2>' + _table(headers, rows) + "</section>"


def _prediction(prediction: PredictionDrift | None) -> str:
    if prediction is None:
        body = "<p>No prediction scores were given.</p>"
    else:
        rows = [
            [escape(check.check), *_check_cells(check)]
            for check in (prediction.score_distribution, prediction.positive_rate)
        ]
        rate = prediction.positive_rate
        body = (
            f"<p>Overall: {_verdict(prediction.verdict)}; positive rate (score ≥ "
            f"{_number(prediction.decision_threshold)}) {_number(rate.reference_value)} → {_number(rate.current_value)}"
            "</p>" + _table(["check", *_CHECK_HEADERS], rows) + bar_chart("prediction score", prediction.histogram)
        )
    return f'<section id="prediction"><h2>Prediction drift</h2>{body}</section>'


def _multivariate(domain: DomainClassifierResult | None) -> str:
    if domain is None:
        body = "<p>The domain classifier was not run.</p>"
    else:
        rows = [
            [
                _verdict(domain.verdict),
                escape(domain.model),
                _number(domain.auc),
                ", ".join(_number(a, 3) for a in domain.auc_folds),
                _number(domain.statistic),
                _number(domain.p_value),
                _number(domain.p_value_adjusted),
                _number(domain.auc_threshold),
                f"{domain.n_reference:,} / {domain.n_current:,}",
            ]
        ]
        headers = ["verdict", "model", "CV AUC", "fold AUCs", "z", "p-value", "adjusted p", "AUC floor", "n ref / cur"]
        features = (
            _table(
                ["feature", "AUC drop when permuted"],
                [[escape(item.name), _number(item.importance)] for item in domain.top_features],
            )
            if domain.top_features
            else "<p>No separating features reported (AUC below its floor).</p>"
        )
        body = _table(headers, rows) + "<h3>Top separating features</h3>" + features
    return f'<section id="multivariate"><h2>Multivariate drift (domain classifier)</h2>{body}</section>'


def _performance(performance: PerformanceResult | None) -> str:
    if performance is None:
        body = "<p>No matured labels were given.</p>"
    else:
        level = f"{performance.confidence_level:.0%}"
        rows = [
            [
                escape(m.name),
                _verdict(m.verdict),
                _number(m.value),
                f"[{_number(m.ci_low)}, {_number(m.ci_high)}]",
                _number(m.baseline),
                _number(m.difference),
                f"[{_number(m.difference_ci_low)}, {_number(m.difference_ci_high)}]",
                _number(m.margin),
            ]
            for m in performance.metrics
        ]
        headers = ["metric", "verdict", "current", f"{level} interval", "baseline", "difference", "interval", "margin"]
        body = (
            f"<p>Overall: {_verdict(performance.verdict)} on {performance.n_labels:,} labels "
            f"({performance.n_positive:,} positive), {performance.n_bootstrap} bootstrap replicates.</p>"
            + _table(headers, rows)
        )
    return f'<section id="performance"><h2>Performance on matured labels</h2>{body}</section>'


def _charts(features: Sequence[FeatureDrift]) -> str:
    legend = (
        f'<p class="legend"><span style="background:{_REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{_CURRENT_COLOUR}"></span>current</p>'
    )
    charts = "".join(bar_chart(f"{feature.name} ({feature.verdict})", feature.histogram) for feature in features)
    return f'<section id="distributions"><h2>Distributions</h2>{legend}<div class="charts">{charts}</div></section>'


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4f}"


def _interval(low: float | None, high: float | None) -> str:
    return f"[{_number(low)}, {_number(high)}]"


def _verdict_sentence(impact: ImpactResult) -> str:
    level = f"{impact.confidence_level:.0%}"
    metric = escape(METRIC_LABELS.get(impact.metric, impact.metric))
    bound = f"the {level} one-sided upper bound of the drop, {_signed(impact.drop_upper)}"
    if impact.verdict is ImpactVerdict.IMPACTFUL:
        return (
            f'<span class="impactful">Impactful</span>: the champion\'s expected {metric} may have dropped by the '
            f"margin or more — {bound}, reaches the margin {_number(impact.margin)}."
        )
    if impact.verdict is ImpactVerdict.HARMLESS:
        return (
            f'<span class="harmless">Harmless</span>: {bound}, is below the margin {_number(impact.margin)}: the '
            "inputs moved in a way the champion handles. Drift without impact is reported, not acted on."
        )
    return (
        '<span class="unknown">Unknown</span>: the champion carries no impact basis (no score calibrator) or the '
        "window had fewer than two scores, so the drift's cost could not be estimated; drift is acted on as drift."
    )


def _estimate_table(document: Mapping[str, Any] | None) -> str:
    """The window's expected metrics with both intervals (`EstimatedPerformance`)."""
    if document is None:
        return "<p>No expected metrics: the cost could not be estimated.</p>"
    try:
        estimate = EstimatedPerformance.from_json(document)
    except (KeyError, TypeError, ValueError) as error:
        return f"<p>The window's expected metrics could not be read: {escape(str(error))}.</p>"
    level = f"{estimate.confidence_level:.0%}"
    rows = [
        [
            escape(METRIC_LABELS.get(item.name, item.name)),
            _number(item.value),
            _interval(item.ci_low, item.ci_high),
            _interval(item.realised_low, item.realised_high),
        ]
        for item in estimate.metrics
    ]
    headers = ["metric", "expected (no labels)", f"{level} interval", f"{level} interval of the realised value"]
    return (
        f"<p>The current window's expected metrics ({estimate.n_rows:,} rows, {estimate.n_bootstrap} replicates). "
        "The first interval is the expected value's over the population the window was drawn from; the second is "
        "where the metric the matured labels of exactly these rows will show should fall if the assumption holds."
        "</p>" + _table(headers, rows)
    )


def _floor_cell(feature: FeatureImpact, drift: FeatureDrift | None, config: Mapping[str, Any]) -> str:
    """The floor a feature was judged against, with the global floor beside it when the sensitivity profile set
    another, and the effect size it applies to when that is not the one shown."""
    name = feature.effect_size_name if drift is None else drift.distribution.effect_size_name
    text = _number(feature.floor)
    if name != feature.effect_size_name:
        text += f" ({escape(name)})"
    key = _GLOBAL_FLOORS.get(name)
    base = config.get(key) if key is not None else None
    if isinstance(base, int | float) and not math.isclose(feature.floor, float(base), rel_tol=1e-9, abs_tol=1e-12):
        text += f"<br>from the sensitivity profile (global {_number(float(base))})"
    return text


def _impact_features(result: DriftResult, impact: ImpactResult) -> str:
    by_name = {feature.name: feature for feature in result.features}
    profiled = impact.sensitivity is not None
    rows = [
        [
            escape(feature.name),
            _verdict("drift") if feature.drift else "no",
            escape(feature.effect_size_name),
            _number(feature.effect_size),
            _floor_cell(feature, by_name.get(feature.name), result.config),
            _number(feature.auc_cost) if feature.auc_cost is not None else ("not profiled" if profiled else "–"),
        ]
        for feature in impact.features
    ]
    headers = ["feature", "drift", "effect size", "value", "floor", "AUC cost at this shift"]
    return (
        "<h3>Per feature</h3>"
        + _table(headers, rows)
        + '<p class="note">AUC cost: what the champion\'s sensitivity profile says a shift of this measured size costs '
        "in AUC with the labels held fixed, i.e. were the feature's relation to the outcome not to move with it (a "
        "broken feature, a changed meaning); it is not the estimated impact above. A floor set from the profile is "
        "the effect size at which that cost reaches the margin, bounded around the global floor.</p>"
    )


def _sensitivity_profile(document: Mapping[str, Any] | None) -> str:
    if document is None:
        return "<p>The champion carries no sensitivity profile.</p>"
    try:
        profile = sensitivity.SensitivityProfile.from_json(dict(document))
    except sensitivity.SensitivityFormatError as error:
        return f"<p>The champion's sensitivity profile could not be read: {escape(str(error))}.</p>"
    return sensitivity.render_html(profile)


def _impact(result: DriftResult) -> str:
    """The impact section; empty for a result written before impact existed."""
    impact = result.impact
    if impact is None:
        return ""
    metric = escape(METRIC_LABELS.get(impact.metric, impact.metric))
    rows = [
        [
            f"expected {metric}, reference → current",
            f"{_number(impact.reference_expected)} → {_number(impact.current_expected)}",
        ],
        ["drop (reference − current)", _signed(impact.drop)],
        [f"{impact.confidence_level:.0%} one-sided upper bound of the drop", _signed(impact.drop_upper)],
        ["margin", _number(impact.margin)],
        ["current rows scored", f"{impact.n_current:,}"],
    ]
    return (
        '<section id="impact"><h2>Impact</h2>'
        f"<p>{_verdict_sentence(impact)}</p>"
        f'<p class="assumption"><strong>What this assumes:</strong> {escape(impact.assumption)}</p>'
        + _table(["", ""], rows)
        + _estimate_table(impact.estimate)
        + _impact_features(result, impact)
        + "<h3>The champion's sensitivity profile</h3>"
        + _sensitivity_profile(impact.sensitivity)
        + "</section>"
    )


def tracking_html(tracking: EstimateTracking | None) -> str:
    """The label-free estimate made on a matured window's rows beside the metrics their labels realised, with the
    interval the realised value should fall in and whether it did, and what the estimate assumes (a section)."""
    title = "<h2>Estimated without labels vs realised (matured window)</h2>"
    if tracking is None:
        return (
            f'<section id="tracking">{title}<p>Not available: the matured window had too few labels (or of one '
            "class), or the champion carries no score calibrator.</p></section>"
        )
    level = f"{tracking.confidence_level:.0%}"
    rows = []
    for item in tracking.metrics:
        within = item.within
        if within is None:
            verdict = "–"
        elif within:
            verdict = '<span class="within">yes</span>'
        else:
            verdict = '<span class="outside">no: outside</span>'
        rows.append(
            [
                escape(METRIC_LABELS.get(item.name, item.name)),
                _number(item.estimated),
                _number(item.realised),
                _interval(item.realised_low, item.realised_high),
                verdict,
            ]
        )
    headers = ["metric", "estimated (no labels)", "realised (labels)", f"{level} interval of the realised", "within"]
    return (
        f'<section id="tracking">{title}<p>On the {tracking.n_rows:,} labelled predictions of the matured window: the '
        "estimate the champion's calibrator gives from their scores alone, beside what their labels realised. Where "
        "the estimate's assumption holds, the realised value falls in the interval on most days (the interval covers "
        "the labels' randomness, not the calibrator's own error); a realised value well outside it is what a concept "
        "shift looks like.</p>"
        + _table(headers, rows)
        + f'<p class="assumption"><strong>What the estimate assumes:</strong> {escape(tracking.assumption)}</p>'
        + "</section>"
    )


def render_html(result: DriftResult, title: str = "Drift report") -> str:
    """The whole report as one HTML document."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}{sensitivity.STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        + _summary(result)
        + _impact(result)
        + _features(result.features)
        + _prediction(result.prediction)
        + _multivariate(result.multivariate)
        + _performance(result.performance)
        + _charts(result.features)
        + "</body></html>"
    )
