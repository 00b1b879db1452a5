"""Self-contained HTML report of a `DriftResult`: inline CSS and inline SVG charts, no scripts, fonts or links,
so it opens offline. Every piece of text from the data is escaped."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from batch_jobs.drift.results import (
    CheckResult,
    DomainClassifierResult,
    DriftResult,
    FeatureDrift,
    Histogram,
    PerformanceResult,
    PredictionDrift,
)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1d2330;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d5de}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0}
th,td{border:1px solid #d0d5de;padding:.25rem .45rem;text-align:right}
th{background:#f1f3f7}td:first-child,th:first-child{text-align:left}
.drift{color:#b3261e;font-weight:600}.no_drift,.no_decay{color:#1e7b34}.insufficient_data,.no_baseline{color:#8a6d00}
.decay{color:#b3261e;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #e3e6ec;padding:.5rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
"""
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


def render_html(result: DriftResult, title: str = "Drift report") -> str:
    """The whole report as one HTML document."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        + _summary(result)
        + _features(result.features)
        + _prediction(result.prediction)
        + _multivariate(result.multivariate)
        + _performance(result.performance)
        + _charts(result.features)
        + "</body></html>"
    )
