"""`backtest.html`: one self-contained page (inline CSS and SVG, no script, no external asset) with the summary table,
each replay's daily metric and its 7-day mean as curves, the deploys and detected changes marked, and the policy's
retrains with the gate's reasons. Pure: `render_html(result) -> str`; `comparison_html(result)` is the table and the
curves alone (the demo's report embeds them, with `STYLE`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

from autoretrain.backtest.result import COLUMNS, BacktestResult, ReplayDetail

COLOURS: Mapping[str, str] = {
    "policy": "#1f6fb4",
    "never": "#7f7f7f",
    "scheduled": "#e08214",
    "drift_always": "#c62828",
    "oracle": "#2e7d32",
}
BEST_COLOUR = "#9e9e9e"
WIDTH, HEIGHT = 980, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
ROLLING_DAYS = 7

#: The CSS of the comparison (`comparison_html`), scoped to its `div.backtest`.
STYLE = """
.backtest table{border-collapse:collapse;font-size:13px}
.backtest th,.backtest td{border:1px solid #ddd;padding:4px 8px;text-align:right}.backtest th{background:#f5f5f5}
.backtest td:first-child,.backtest th:first-child{text-align:left}
.backtest .note{color:#555;font-size:13px}.backtest .legend span{display:inline-block;margin-right:14px;font-size:13px}
.backtest .swatch{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
"""
_CSS = (
    """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1040px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:13px}
dt{font-weight:600;font-size:13px}dd{margin:0 0 6px 16px;font-size:13px;color:#444}
"""
    + STYLE
)


def _rolling(values: Sequence[float | None], days: int) -> list[float | None]:
    out: list[float | None] = []
    for end in range(len(values)):
        window = [value for value in values[max(0, end - days + 1) : end + 1] if value is not None]
        out.append(sum(window) / len(window) if window else None)
    return out


def _finite(values: Sequence[float | None]) -> list[float]:
    return [value for value in values if value is not None and math.isfinite(value)]


def _chart(
    result: BacktestResult, series: Mapping[str, Sequence[float | None]], title: str, svg_id: str | None = None
) -> str:
    days = len(result.days)
    values = [value for line in series.values() for value in _finite(line)]
    if not days or not values:
        return f"<p class='note'>{escape(title)}: no day has a defined {escape(result.metric)}.</p>"
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.005)
    low, high = low - pad, high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: float) -> float:
        return LEFT + (day / max(days - 1, 1)) * plot_w

    def y(value: float) -> float:
        return TOP + (1 - (value - low) / (high - low)) * plot_h

    identity = "" if svg_id is None else f' id="{escape(svg_id)}"'
    parts = [
        f'<svg{identity} width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" style="max-width:100%;height:auto">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ccc"/>',
    ]
    ticks = [low + (high - low) * tick / 4 for tick in range(5)]
    parts.extend(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>'
        f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" font-size="11" text-anchor="end">{value:.3f}</text>'
        for value in ticks
    )
    parts.extend(
        f'<text x="{x(day):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle">'
        f"{escape(result.days[day][5:])}</text>"
        for day in range(0, days, max(1, days // 10))
    )
    parts.extend(
        f'<line x1="{x(change):.1f}" x2="{x(change):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#8e24aa" '
        f'stroke-dasharray="4 3"><title>change detected {escape(result.days[change])}</title></line>'
        for change in result.detected_changes
    )
    drawn = sorted(series.items(), key=lambda item: item[0] == "policy")  # the policy on top of the baselines
    for name, line in drawn:
        colour = COLOURS.get(name, BEST_COLOUR)
        dash = ' stroke-dasharray="5 4"' if name not in COLOURS else ""
        segments: list[str] = []
        current: list[str] = []
        for day, value in enumerate(line):
            if value is None or not math.isfinite(value):
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            current.append(f"{x(day):.1f},{y(value):.1f}")
        if current:
            segments.append(" ".join(current))
        parts.extend(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6"{dash} points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
            for points in segments
        )
    parts.append(_deploy_marks(result, series, x, y))
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="11">{escape(title)} (dashed purple: change detected by the '
        "policy's check; triangles: deploys)</text></svg>"
    )
    return "".join(parts)


def _deploy_marks(
    result: BacktestResult,
    series: Mapping[str, Sequence[float | None]],
    x: Callable[[float], float],
    y: Callable[[float], float],
) -> str:
    marks = []
    initial_days = int(result.history["initial_days"])
    for detail in result.details:
        line = series.get(detail.name.value)
        if line is None:
            continue
        for deploy in detail.deploys:
            offset = deploy.day - initial_days
            value = line[offset] if 0 <= offset < len(line) else None
            if value is None or not math.isfinite(value):
                continue
            worse = " (made things worse)" if deploy.worse else ""
            marks.append(
                f'<path d="M{x(offset):.1f},{y(value) - 7:.1f} l-4,7 h8 z" fill="{COLOURS[detail.name.value]}">'
                f"<title>{escape(detail.name.value)} deploys {escape(deploy.deployed)}{worse}</title></path>"
            )
    return "".join(marks)


def _date(result: BacktestResult, day: int) -> str:
    offset = day - int(result.history["initial_days"])
    return result.days[offset] if 0 <= offset < len(result.days) else ""


def _table(result: BacktestResult) -> str:
    headers = "".join(f"<th>{escape(header.format(metric=result.metric))}</th>" for _, header in COLUMNS)
    rows = []
    for summary in result.summaries:
        cells = summary.row()
        colour = COLOURS.get(summary.name.value, "#000")
        first = f'<td><span class="swatch" style="background:{colour}"></span>{escape(cells["replay"])}</td>'
        rest = "".join(f"<td>{escape(cells[key])}</td>" for key, _ in COLUMNS[1:])
        rows.append(f'<tr title="{escape(summary.description)}">{first}{rest}</tr>')
    return f"<table><tr>{headers}</tr>{''.join(rows)}</table>"


def _retrains(result: BacktestResult, detail: ReplayDetail) -> str:
    if not detail.retrains:
        return "<p class='note'>No retrain.</p>"
    rows = []
    for retrain in detail.retrains:
        reasons = "; ".join(retrain.reasons)
        rows.append(
            f"<tr><td>{escape(_date(result, retrain.day))}</td><td>{escape(retrain.trigger)}</td>"
            f"<td>{escape(retrain.candidate or '–')}</td><td>{escape(retrain.outcome.value)}</td>"
            f"<td style='text-align:left'>{escape(reasons[:600])}</td></tr>"
        )
    return (
        "<table><tr><th>end of day</th><th>trigger</th><th>candidate</th><th>outcome</th><th>reasons</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def comparison_html(result: BacktestResult, *, plot_id: str | None = None) -> str:
    """Every replay's row of the summary table (every column), then its daily metric and 7-day mean as curves beside
    the best candidate's, in a `div.backtest` (`STYLE`); the charts' ids are `plot_id`-daily and -rolling."""
    daily = {detail.name.value: detail.daily_metric for detail in result.details}
    series = {**daily, "best candidate": result.best_daily_metric}
    smooth = {name: _rolling(values, ROLLING_DAYS) for name, values in series.items()}
    legend = "".join(
        f'<span><span class="swatch" style="background:{COLOURS.get(name, BEST_COLOUR)}"></span>{escape(name)}</span>'
        for name in series
    )
    ids = (None, None) if plot_id is None else (f"{plot_id}-daily", f"{plot_id}-rolling")
    return (
        f"<div class='backtest'>{_table(result)}"
        f"<h3>Daily {escape(result.metric)}</h3><div class='legend'>{legend}</div>"
        f"{_chart(result, series, f'daily {result.metric} of the served model', ids[0])}"
        f"<h3>{ROLLING_DAYS}-day mean</h3>"
        f"{_chart(result, smooth, f'{ROLLING_DAYS}-day mean of the daily {result.metric}', ids[1])}</div>"
    )


def render_html(result: BacktestResult) -> str:
    """The report (module docstring)."""
    history = result.history
    definitions = "".join(
        f"<dt>{escape(name)}</dt><dd>{escape(text)}</dd>" for name, text in result.definitions.items()
    )
    policy = result.detail("policy")
    settings = escape(
        ", ".join(
            f"{key} {result.settings[key]}"
            for key in ("label_delay_days", "initial_days", "window_days", "schedule_days", "cost_per_deploy")
        )
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>autoretrain backtest</title><style>{_CSS}</style></head><body>"
        "<h1>autoretrain backtest</h1>"
        f"<p class='note'>{history['rows']:,} predictions from {escape(history['first_day'])} to "
        f"{escape(history['last_day'])}; the first {history['initial_days']} days are the initial training set, "
        f"{len(result.days)} days replayed. Settings: {settings}; training window "
        f"{escape(str(result.settings['window']['strategy']))}. Metric: {escape(result.metric)}, per day on every "
        "label of that day's predictions, in hindsight.</p>"
        f"{comparison_html(result)}"
        f"<h2>The policy's retrains</h2>{_retrains(result, policy)}"
        f"<h2>Definitions</h2><dl>{definitions}</dl>"
        "</body></html>\n"
    )
