"""The demo's self-contained HTML report: inline SVG timelines drawn here, no script, no external URL. Pure.

Every plot shares one time axis (simulated days) and shades the injected events, so the eye can go down the
page from "what happened" (scenario) to "what the system saw" (volume, predictions, drift, performance) to
"what it did" (alerts, retrains, gate decisions, releases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

import pandas as pd

from autoretrain.backtest import BacktestResult
from autoretrain.backtest.report import STYLE as BACKTEST_STYLE
from autoretrain.backtest.report import comparison_html
from autoretrain.demo.scenario import EventKind, Scenario
from autoretrain.demo.summary import (
    OTHER_PHASE,
    PHASE_DEFINITION,
    PHASES,
    daily_frame,
    feature_effects,
    impact_of,
    matured_auc,
    outcome_of,
    served_middle,
    tracking_of,
)
from batch_jobs.drift.sensitivity import STYLE as SENSITIVITY_STYLE
from batch_jobs.drift.sensitivity import SensitivityFormatError, SensitivityProfile
from batch_jobs.drift.sensitivity import render_html as render_sensitivity
from batch_jobs.monitoring.policy import Outcome

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 960, 150, 16, 14, 30
EVENT_COLOURS = {
    "covariate_shift": "#f2c14e",
    "empty_feature_incident": "#e4572e",
    "concept_shift": "#7b61ff",
    "corrupted_labels": "#8d6e63",
    "rollback": "#17a398",
}
TRIGGER_COLOURS = {
    "initial": "#555",
    "schedule": "#2e86de",
    "drift": "#f2a51a",
    "performance": "#7b61ff",
    "on_demand": "#8d6e63",
    "rollback": "#17a398",
}
SECTIONS = (
    ("overview", "What happened"),
    ("scenario", "Scenario and detections"),
    ("volume", "Traffic volume"),
    ("predictions", "Predictions and true churn rate"),
    ("feature-drift", "Per-feature drift (daily drift check)"),
    ("performance", "Performance on matured labels"),
    ("impact", "Drift impact: estimated (no labels) vs realised AUC"),
    ("estimate-tracking", "Does the label-free estimate hold? Realised AUC within its interval, by phase"),
    ("sensitivity", "The champion's sensitivity profile"),
    ("business-impact", "Business impact: the model's arm against the control group"),
    ("review", "Reviewed sample: performance from human review, days before labels mature"),
    ("shadow", "Shadow period: a challenger on live traffic before its promotion"),
    ("alerts", "Alerts"),
    ("retrains", "Retrains and gate decisions"),
    ("releases", "Releases"),
    ("backtest", "Backtest of this run's history: the policy beside every baseline"),
    ("decay-response", "After a decay is detected: how long a lagging champion survives (this run)"),
)


@dataclass(frozen=True, slots=True)
class Axis:
    """Simulated time (days from the start) to x pixels, and values to y pixels, for one plot."""

    days: float
    height: int
    low: float
    high: float

    def x(self, day: float) -> float:
        """x of a day."""
        return LEFT + (WIDTH - LEFT - RIGHT) * max(0.0, min(day, self.days)) / self.days

    def y(self, value: float) -> float:
        """y of a value."""
        span = (self.high - self.low) or 1.0
        return TOP + (self.height - TOP - BOTTOM) * (1.0 - (value - self.low) / span)


def _day(scenario: Scenario, moment: str | datetime) -> float:
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return (when - scenario.start).total_seconds() / 86400.0


def _frame(axis: Axis, scenario: Scenario, y_ticks: Sequence[float], y_format: str, label: str) -> list[str]:
    """Grid, axes, tick labels and the shaded injected events."""
    parts = []
    for event in scenario.injected_events():
        start = _day(scenario, event.at)
        end = _day(scenario, event.until) if event.until is not None else start
        colour = EVENT_COLOURS.get(event.kind, "#999")
        x0, x1 = axis.x(start), max(axis.x(end), axis.x(start) + 2.0)
        if event.kind in ("covariate_shift", "concept_shift"):
            x1 = axis.x(axis.days)  # persistent shifts: shaded to the end, lightly
            parts.append(
                f'<rect x="{x0:.1f}" y="{TOP}" width="{x1 - x0:.1f}" height="{axis.height - TOP - BOTTOM}" '
                f'fill="{colour}" opacity="0.08"/>'
            )
        parts.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(2.0, axis.x(end) - x0):.1f}" '
            f'height="{axis.height - TOP - BOTTOM}" fill="{colour}" opacity="0.55"><title>{escape(event.description)}'
            "</title></rect>"
        )
    for value in y_ticks:
        y = axis.y(value)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{format(value, y_format)}</text>'
        )
    step = 7 if axis.days > 21 else 2
    for day in range(0, int(axis.days) + 1, step):
        x = axis.x(day)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis.height - BOTTOM}" y2="{axis.height - BOTTOM + 4}" '
            'stroke="#888"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{axis.height - BOTTOM + 16}" text-anchor="middle" class="tick">d{day}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis.height - BOTTOM}" y2="{axis.height - BOTTOM}" '
        'stroke="#888"/>'
    )
    parts.append(
        f'<text x="14" y="{axis.height / 2:.0f}" transform="rotate(-90 14 {axis.height / 2:.0f})" text-anchor="middle" '
        f'class="axis-label">{escape(label)}</text>'
    )
    return parts


def _svg(name: str, height: int, parts: Sequence[str], title: str) -> str:
    return (
        f'<svg class="plot" id="plot-{name}" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(parts)
        + "</svg>"
    )


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    span = (high - low) or 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(low / step) * step
    return [round(first + index * step, 10) for index in range(count + 2) if first + index * step <= high + 1e-9]


def _polyline(axis: Axis, points: Sequence[tuple[float, float]], colour: str, width: float = 1.8) -> str:
    text = " ".join(f"{axis.x(x):.1f},{axis.y(y):.1f}" for x, y in points if not math.isnan(y))
    return f'<polyline points="{text}" fill="none" stroke="{colour}" stroke-width="{width}"/>'


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i style="background:{colour}"></i>{escape(label)}</span>' for label, colour in items)
        + "</div>"
    )


def volume_plot(scenario: Scenario, daily: pd.DataFrame) -> str:
    """Predictions per day (bars)."""
    height = 180
    high = max(1.0, float(daily["volume"].max()) * 1.15)
    axis = Axis(scenario.days, height, 0.0, high)
    parts = _frame(axis, scenario, _nice_ticks(0.0, high), ",.0f", "predictions / day")
    bar = (WIDTH - LEFT - RIGHT) / scenario.days * 0.8
    for row in daily.itertuples():
        x, y = axis.x(row.day + 0.1), axis.y(float(row.volume))
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{axis.y(0.0) - y:.1f}" fill="#4a78b5">'
            f"<title>day {row.day}: {row.volume} predictions</title></rect>"
        )
    return _svg("volume", height, parts, "Predictions per day")


def prediction_plot(scenario: Scenario, daily: pd.DataFrame) -> str:
    """Mean score, predicted positive rate and the true churn rate per day."""
    height = 200
    high = max(0.05, float(daily[["mean_score", "positive_rate", "churn_rate"]].max().max()) * 1.15)
    axis = Axis(scenario.days, height, 0.0, high)
    parts = _frame(axis, scenario, _nice_ticks(0.0, high), ".0%", "share")
    for column, colour in (("churn_rate", "#999"), ("mean_score", "#2e86de"), ("positive_rate", "#e4572e")):
        parts.append(_polyline(axis, [(row.day + 0.5, getattr(row, column)) for row in daily.itertuples()], colour))
    return _svg("predictions", height, parts, "Mean score, predicted positive rate and true churn rate per day")


def drift_plot(scenario: Scenario, checks: Sequence[Mapping[str, Any]], features: Sequence[str]) -> str:
    """A heat map: one row per feature, one cell per drift check, darker = larger effect, outlined = drifted."""
    row_height = 18
    height = TOP + row_height * (len(features) + 1) + BOTTOM
    axis = Axis(scenario.days, height, 0.0, 1.0)
    parts = _frame(axis, scenario, [], ".0f", "")
    cell = max(3.0, (WIDTH - LEFT - RIGHT) / scenario.days * 0.9)
    rows = [*features, "prediction"]
    for index, name in enumerate(rows):
        y = TOP + index * row_height
        parts.append(f'<text x="{LEFT - 6}" y="{y + 13}" text-anchor="end" class="tick">{escape(name)}</text>')
    for check in checks:
        x = axis.x(_day(scenario, check["at"]) - 0.45)
        effects = feature_effects(check)
        result = check.get("result") or {}
        prediction = (result.get("drift") or {}).get("prediction") or {}
        score_check = prediction.get("score") or {}
        values = [*[effects.get(name, (None, False)) for name in features]]
        values.append((score_check.get("effect_size"), bool(prediction.get("drift"))))
        for index, (effect, drifted) in enumerate(values):
            y = TOP + index * row_height
            if effect is None:
                colour, opacity = "#ddd", 1.0
            else:
                colour, opacity = ("#c0392b" if drifted else "#2e86de"), min(1.0, 0.15 + float(effect) / 0.4)
            outline = ' stroke="#000" stroke-width="1.2"' if drifted else ""
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 2}" width="{cell:.1f}" height="{row_height - 4}" fill="{colour}" '
                f'opacity="{opacity:.2f}"{outline}><title>{escape(rows[index])} on {check["at"][:10]}: effect '
                f"{'n/a' if effect is None else f'{float(effect):.3f}'}{' DRIFT' if drifted else ''}</title></rect>"
            )
    return _svg("feature-drift", height, parts, "Per-feature drift effect size per daily drift check")


def performance_plot(scenario: Scenario, checks: Sequence[Mapping[str, Any]], daily: pd.DataFrame) -> str:
    """Matured-label AUC per drift check with its bootstrap interval and baseline; the ground-truth daily AUC."""
    height = 220
    points = [(check, matured_auc(check)) for check in checks]
    values = [
        value for _, auc in points if auc for value in (auc.get("ci_low"), auc.get("ci_high")) if value is not None
    ]
    truth = [float(value) for value in daily["auc"].dropna()]
    low = min([*values, *truth, 0.6]) - 0.03
    high = min(1.0, max([*values, *truth, 0.8]) + 0.03)
    axis = Axis(scenario.days, height, low, high)
    parts = _frame(axis, scenario, _nice_ticks(low, high), ".2f", "AUC")
    parts.append(
        _polyline(
            axis,
            [(row.day + 0.5, float("nan") if row.auc is None else float(row.auc)) for row in daily.itertuples()],
            "#bbb",
            1.2,
        )
    )
    for check, auc in points:
        if not auc:
            continue
        x = axis.x(_day(scenario, check["at"]))
        decay = bool((check.get("result") or {}).get("performance_decay"))
        colour = "#c0392b" if decay else "#2c3e50"
        if auc.get("ci_low") is not None and auc.get("ci_high") is not None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis.y(float(auc["ci_low"])):.1f}" '
                f'y2="{axis.y(float(auc["ci_high"])):.1f}" stroke="{colour}" stroke-width="1.2"/>'
            )
        if auc.get("baseline") is not None:
            y = axis.y(float(auc["baseline"]))
            parts.append(
                f'<line x1="{x - 3:.1f}" x2="{x + 3:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#17a398" stroke-width="2"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{axis.y(float(auc["value"])):.1f}" r="2.6" fill="{colour}"><title>'
            f"{check['at'][:10]}: AUC {float(auc['value']):.3f} [{auc.get('ci_low')}, {auc.get('ci_high')}], baseline "
            f"{auc.get('baseline')}{' DECAY' if decay else ''}</title></circle>"
        )
    return _svg("performance", height, parts, "AUC on matured labels per drift check, with 95% intervals")


def lanes_plot(
    scenario: Scenario, name: str, lanes: Sequence[tuple[str, Sequence[tuple[str, str, str, str]]]], title: str
) -> str:
    """Markers on labelled lanes: (lane, [(time, colour, shape, tooltip)])."""
    lane_height = 26
    height = TOP + lane_height * len(lanes) + BOTTOM
    axis = Axis(scenario.days, height, 0.0, 1.0)
    parts = _frame(axis, scenario, [], ".0f", "")
    for index, (lane, markers) in enumerate(lanes):
        y = TOP + index * lane_height + lane_height / 2
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{escape(lane)}</text>')
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        for moment, colour, shape, tooltip in markers:
            x = axis.x(_day(scenario, moment))
            tip = f"<title>{escape(tooltip)}</title>"
            if shape == "x":
                parts.append(
                    f'<path d="M{x - 5:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 5:.1f} M{x - 5:.1f},{y + 5:.1f} '
                    f'L{x + 5:.1f},{y - 5:.1f}" stroke="{colour}" stroke-width="2.4">{tip}</path>'
                )
            elif shape == "triangle":
                parts.append(
                    f'<path d="M{x:.1f},{y - 7:.1f} L{x + 6:.1f},{y + 5:.1f} L{x - 6:.1f},{y + 5:.1f} Z" '
                    f'fill="{colour}">{tip}</path>'
                )
            else:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}">{tip}</circle>')
    return _svg(name, height, parts, title)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if cell is None else str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _short(moment: str | None) -> str:
    return "" if not moment else moment[:16].replace("T", " ")


def _number(value: object, digits: int = 4) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}" if isinstance(value, float) else str(value)


def backtest_html(result: BacktestResult | None, section: Mapping[str, Any] | None) -> str:
    """The backtest of the run's history: every replay's row (every column of the table) and curves, the targets,
    and what the figures assume."""
    if result is None or not section or section.get("error"):
        reason = (section or {}).get("error") or "the backtest was not run"
        return f"<p>Not available: {escape(str(reason))}.</p>"
    aims = section["targets"]
    ratio = aims["regret_vs_never"]
    verdict = {True: "met", False: "NOT met", None: "undefined"}
    history = section["history"]
    settings = section["settings"]
    intro = (
        f"<p>The run's {history['rows']:,} served predictions ({escape(str(history['first_day']))} to "
        f"{escape(str(history['last_day']))}, <code>history.parquet</code>, read back from the demo's lake) replayed "
        f"by <code>autoretrain backtest</code>: the project's policy (daily drift check, trigger policy, weekly "
        "schedule, governance, quality checks, gate) beside never retraining, a weekly retrain always deployed, a "
        "retrain on every drift or decay verdict always deployed, and the hindsight oracle. Label delay "
        f"{settings['label_delay_days']} days, decision threshold {settings['model']['decision_threshold']}, "
        f"training window {escape(str(settings['training_window']))} ({escape(str(settings['window_strategy']))}), "
        f"{settings['initial_days']} initial days; replayed in {section['wall_seconds']:.0f} s "
        "(<code>backtest.html</code>, <code>backtest.json</code> beside this report).</p>"
    )
    goals = _table(
        ["target (the issue's)", "figure", "verdict"],
        [
            [
                "policy's regret at most 25 % of never-retrain's",
                "–" if ratio is None else f"{ratio:.0%}",
                verdict[aims["regret_at_most_quarter_of_never"]],
            ],
            [
                "policy's regret at most the scheduled always-deploy baseline's",
                " vs ".join(
                    _number(replay["regret"])
                    for replay in section["replays"]
                    if replay["name"] in ("policy", "scheduled")
                ),
                verdict[aims["regret_at_most_scheduled"]],
            ],
            [
                "policy's deploys at most half the scheduled baseline's",
                f"{aims['deploys']['policy']} vs {aims['deploys']['scheduled']}",
                verdict[aims["deploys_at_most_half_of_scheduled"]],
            ],
        ],
    )
    assumptions = "".join(f"<li>{escape(text)}</li>" for text in section["assumptions"])
    definitions = "".join(
        f"<li><b>{escape(name)}</b>: {escape(text)}</li>" for name, text in section["definitions"].items()
    )
    return (
        intro
        + comparison_html(result, plot_id="plot-backtest")
        + goals
        + f"<p>What the figures assume:</p><ul>{assumptions}</ul><p>Definitions:</p><ul>{definitions}</ul>"
    )


def decay_html(decay: Mapping[str, Any] | None, deploys: int) -> str:
    """The decay target's figure on this run: per detection, the checks a lagging champion survived."""
    if not decay:
        return "<p>Not available: the backtest of the run's history was not run.</p>"
    detections = decay["detections"]
    daily_only = decay.get("detections_daily_candidates_only") or []
    verdict = {True: "met", False: "NOT met"}
    summary = (
        f"<p>{len(detections)} performance-decay detection(s) in this run; target: no champion more than "
        f"{decay['margin']} AUC below the best candidate available survives more than {decay['allowed_checks']} "
        f"daily checks after the detection — <b>{verdict[decay['meets_target']]}</b> against every candidate "
        f"(daily and recovery), <b>{verdict[decay.get('meets_target_daily_candidates_only', True)]}</b> against the "
        f"daily candidates alone. {deploys} deploys in this run "
        f"({decay['demo_deploys']['deploys_after_first']} after the first champion's).</p>"
    )
    table = _table(
        [
            "detected",
            "candidates",
            "champion then",
            "gap then",
            "checks until next",
            "lagging checks per champion",
            "survived",
            "target",
        ],
        [
            [
                _short(item["detected_at"]),
                among,
                item["champion_version"],
                _number(item["gap_at_detection"]),
                item["checks"],
                ", ".join(f"{version}: {count}" for version, count in item["lagging_checks"].items()) or "none",
                str(item["survived_checks"]) + (" (still lagging at the end)" * item["lagging_when_the_run_ended"]),
                verdict[item["meets_target"]],
            ]
            for among, items in (("daily and recovery", detections), ("daily only", daily_only))
            for item in items
        ],
    )
    checks = _table(
        ["check", "champion", "decay", "champion AUC", "best candidate", "its AUC", "gap", "best daily", "gap", "rows"],
        [
            [
                _short(item["at"]),
                item["champion_version"],
                item["performance_decay"],
                _number(item["champion_auc"]),
                item["best_candidate"],
                _number(item["best_candidate_auc"]),
                _number(item["gap"]),
                item.get("best_candidate_daily"),
                _number(item.get("gap_daily")),
                item["rows"],
            ]
            for item in decay["checks"]
        ],
    )
    return (
        summary
        + table
        + f"<p>How it is measured: {escape(decay['definition'])}</p>"
        + f"<details><summary>Every check</summary>{checks}</details>"
    )


#: How the report reads the policy's outcome for drift judged harmless.
HARMLESS_TEXT = "drift without impact: not a trigger"
_WITHIN_COLOURS = {True: "#27ae60", False: "#c0392b", None: "#999"}
_ESTIMATE_COLOUR = "#2e86de"
_PHASE_COLOURS = {**EVENT_COLOURS, OTHER_PHASE: "#8c96a8"}
ESTIMATE_ASSUMPTION = (
    "The estimate assumes no concept shift: churn relates to the inputs as on the holdout the champion's score "
    "calibrator was fitted on. Under a covariate shift (the inputs move, P(churn | x) does not) it should hold, the "
    "realised AUC falling in its interval on most days (somewhat less often than its level: the interval covers the "
    "labels' randomness, not the calibrator's own error); under the concept "
    "shift it fails (the scores look as before while the outcome has moved), and only matured labels can show it."
)


def outcome_text(outcome: str | None) -> str:
    """The policy's outcome for a check, in words (harmless drift reads as `HARMLESS_TEXT`)."""
    if outcome is None:
        return ""
    return HARMLESS_TEXT if outcome == Outcome.HARMLESS else outcome.replace("_", " ")


def _phase_label(phase: str) -> str:
    return phase.replace("_", " ")


def _runs(points: Sequence[tuple[float, float, float]], gap: float = 1.5) -> list[list[tuple[float, float, float]]]:
    """Points (day, low, high) split where consecutive days are more than `gap` apart."""
    runs: list[list[tuple[float, float, float]]] = []
    for point in sorted(points):
        if runs and point[0] - runs[-1][-1][0] <= gap:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def estimate_plot(scenario: Scenario, checks: Sequence[Mapping[str, Any]]) -> str:
    """Estimated (no labels) vs realised AUC over time, x = when the rows were served: each check's expected AUC of
    its current window with the interval its realised AUC should fall in (line and band), and the AUC realised on
    each check's matured window once its labels matured (dots: within the interval of the estimate made on the same
    rows, outside it, or with no estimate), with that interval as an error bar."""
    height = 240
    estimates: list[tuple[float, float, float, float, str]] = []
    realised: list[tuple[float, float, float | None, float | None, bool | None, str]] = []
    for check in checks:
        result = check.get("result") or {}
        impact, tracked = impact_of(check), tracking_of(check)
        current, matured = served_middle(result.get("window")), served_middle(result.get("matured_window"))
        if impact is not None and impact["expected_auc"] is not None and current is not None:
            value = float(impact["expected_auc"])
            low = float(impact["realised_low"] if impact["realised_low"] is not None else value)
            high = float(impact["realised_high"] if impact["realised_high"] is not None else value)
            tip = (
                f"rows served around {current:%Y-%m-%d}, estimated at the check of {check['at'][:10]}: expected AUC "
                f"{value:.3f}, realised AUC should fall in [{low:.3f}, {high:.3f}]; impact {impact['verdict']}"
            )
            estimates.append((_day(scenario, current), value, low, high, tip))
        if matured is None or matured < scenario.start:  # rows served before the run: not on the time axis
            continue
        if tracked is not None and tracked["realised"] is not None:
            low_bar, high_bar = tracked["realised_low"], tracked["realised_high"]
            tip = (
                f"rows served around {matured:%Y-%m-%d}, labels matured by the check of {check['at'][:10]}: realised "
                f"AUC {_fixed(tracked['realised'])}; estimated without labels {_fixed(tracked['estimated'])} "
                f"with interval [{_fixed(low_bar)}, {_fixed(high_bar)}]: "
                + ("within" if tracked["within"] else "OUTSIDE")
            )
            realised.append(
                (_day(scenario, matured), float(tracked["realised"]), low_bar, high_bar, tracked["within"], tip)
            )
        elif (auc := matured_auc(check)) is not None:
            tip = f"rows served around {matured:%Y-%m-%d}: realised AUC {_fixed(auc['value'])}, no estimate"
            realised.append((_day(scenario, matured), float(auc["value"]), None, None, None, tip))
    values = [v for _, value, low, high, _ in estimates for v in (value, low, high)]
    values += [v for _, value, low, high, _, _ in realised for v in (value, low, high) if v is not None]
    low_y = min([*values, 0.6]) - 0.02
    high_y = min(1.0, max([*values, 0.8]) + 0.02)
    axis = Axis(scenario.days, height, low_y, high_y)
    parts = _frame(axis, scenario, _nice_ticks(low_y, high_y), ".2f", "AUC")
    for run in _runs([(day, low, high) for day, _, low, high, _ in estimates]):
        outline = [(axis.x(day), axis.y(high)) for day, _, high in run]
        outline += [(axis.x(day), axis.y(low)) for day, low, _ in reversed(run)]
        parts.append(
            '<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in outline) + f'" fill="{_ESTIMATE_COLOUR}" '
            'opacity="0.15"/>'
        )
    for run in _runs([(day, value, value) for day, value, _, _, _ in estimates]):
        parts.append(_polyline(axis, [(day, value) for day, value, _ in run], _ESTIMATE_COLOUR))
    for day, value, _, _, tip in estimates:
        parts.append(
            f'<circle cx="{axis.x(day):.1f}" cy="{axis.y(value):.1f}" r="1.8" fill="{_ESTIMATE_COLOUR}"><title>'
            f"{escape(tip)}</title></circle>"
        )
    for day, value, low_bar, high_bar, within, tip in realised:
        x, colour = axis.x(day), _WITHIN_COLOURS[within]
        if low_bar is not None and high_bar is not None:
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis.y(float(low_bar)):.1f}" y2="{axis.y(float(high_bar)):.1f}" '
                f'stroke="{colour}" stroke-width="1.2" opacity="0.7"/>'
            )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{axis.y(value):.1f}" r="3" fill="{colour}"><title>{escape(tip)}</title></circle>'
        )
    return _svg(
        "estimate", height, parts, "Estimated (no labels) vs realised AUC over time, by when the rows were served"
    )


def tracking_plot(by_phase: Mapping[str, Mapping[str, Any]], level: float) -> str:
    """Per phase, the share of checks whose realised AUC fell in the estimate's interval (bars), against the
    interval's nominal level (dashed)."""
    width, left, right, row = 640, 130, 170, 30
    height = TOP + row * len(PHASES) + BOTTOM
    span = width - left - right

    def x_of(share: float) -> float:
        return left + span * share

    parts = []
    for index, phase in enumerate(PHASES):
        counts = by_phase.get(phase) or {}
        y = TOP + index * row
        days, within, share = counts.get("days", 0), counts.get("within", 0), counts.get("share")
        text = "no checks" if not days or share is None else f"{within} of {days} checks ({float(share):.0%})"
        parts.append(
            f'<text x="{left - 8}" y="{y + 19}" text-anchor="end" class="tick">{escape(_phase_label(phase))}</text>'
        )
        parts.append(f'<rect x="{left}" y="{y + 6}" width="{span}" height="{row - 12}" fill="#f1f1f1"/>')
        if share is not None:
            parts.append(
                f'<rect x="{left}" y="{y + 6}" width="{span * float(share):.1f}" height="{row - 12}" '
                f'fill="{_PHASE_COLOURS[phase]}"><title>{escape(_phase_label(phase))}: {text}</title></rect>'
            )
        parts.append(f'<text x="{x_of(1.0) + 8}" y="{y + 19}" class="tick">{text}</text>')
    bottom = TOP + row * len(PHASES)
    parts.append(
        f'<line x1="{x_of(level):.1f}" x2="{x_of(level):.1f}" y1="{TOP}" y2="{bottom}" stroke="#333" '
        'stroke-dasharray="4 3"/>'
    )
    parts.append(
        f'<text x="{x_of(level):.1f}" y="{bottom + 14}" text-anchor="middle" class="tick">{level:.0%} nominal</text>'
    )
    parts += [
        f'<text x="{x_of(share):.1f}" y="{bottom + 26}" text-anchor="middle" class="tick">{share:.0%}</text>'
        for share in (0.0, 0.5)
    ]
    title = "Share of checks whose realised AUC fell within the label-free estimate's interval, by phase"
    return (
        f'<svg class="plot" id="plot-estimate-tracking" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(parts) + "</svg>"
    )


def _interval_level(checks: Sequence[Mapping[str, Any]]) -> float:
    """The confidence level of the checks' estimate intervals, the last stated (0.95 when none states one)."""
    levels = [
        float(level)
        for check in checks
        for document in (
            (check.get("result") or {}).get("tracking"),
            (((check.get("result") or {}).get("drift") or {}).get("impact") or {}).get("estimate"),
        )
        if document and isinstance(level := document.get("confidence_level"), int | float)
    ]
    return levels[-1] if levels else 0.95


def _fixed(value: object, digits: int = 3, *, signed: bool = False) -> str:
    """A number with `digits` decimals (and its sign when `signed`); "–" for anything else (None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _interval_text(low: object, high: object) -> str:
    return "" if low is None or high is None else f" [{_fixed(low)}, {_fixed(high)}]"


def checks_table(checks: Sequence[Mapping[str, Any]], level: float = 0.95) -> str:
    """Every drift check: its verdict, the drift's impact, the expected AUC of its window, the decision, and the
    estimate on its matured window beside the realised AUC."""
    rows = []
    for check in checks:
        result = check.get("result") or {}
        impact, tracked = impact_of(check) or {}, tracking_of(check)
        expected = impact.get("expected_auc")
        drop = impact.get("drop")
        rows.append(
            [
                _short(check.get("at")),
                result.get("champion_version"),
                check.get("verdict"),
                ", ".join(result.get("drifted_features") or []),
                impact.get("verdict") or "–",
                "–"
                if expected is None
                else _fixed(expected) + _interval_text(impact.get("expected_auc_low"), impact.get("expected_auc_high")),
                "–"
                if drop is None
                else f"{_fixed(drop, 4, signed=True)} (bound {_fixed(impact.get('drop_upper'), 4, signed=True)})",
                outcome_text(outcome_of(check)),
                "–"
                if tracked is None or tracked["realised"] is None
                else f"{_fixed(tracked['estimated'])} vs {_fixed(tracked['realised'])}"
                + _interval_text(tracked["realised_low"], tracked["realised_high"]),
                {True: "yes", False: "NO", None: "–"}[None if tracked is None else tracked["within"]],
            ]
        )
    return _table(
        [
            "check",
            "champion",
            "verdict",
            "drifted",
            "impact",
            f"expected AUC (no labels) [{level:.0%} interval]",
            "expected AUC drop (upper bound)",
            "decision",
            "matured window: estimated vs realised AUC [interval]",
            "within",
        ],
        rows,
    )


def impact_html(scenario: Scenario, summary: Mapping[str, Any], checks: Sequence[Mapping[str, Any]]) -> str:
    """The drift impact section: counts, the estimated vs realised AUC plot and every check's row."""
    counts = summary.get("impact") or {}
    level = _interval_level(checks)
    intro = (
        f"<p>Each drift verdict carries its estimated impact: the drop of the champion's expected AUC, estimated from "
        f"its calibrated scores without labels, from its reference to the current window, judged against a margin. Of "
        f"the drifting checks, <b>{counts.get('checks_impactful', 0)}</b> were impactful, "
        f"<b>{counts.get('checks_harmless', 0)}</b> harmless ({HARMLESS_TEXT}) and {counts.get('checks_unknown', 0)} "
        "of unknown impact (acted on as drift).</p>"
    )
    legend = _legend(
        [
            (
                f"expected AUC of the current window, no labels (line), and the {level:.0%} interval its realised "
                "AUC should fall in (band)",
                _ESTIMATE_COLOUR,
            ),
            (
                "realised AUC on matured labels, within the interval of the estimate made on the same rows (bar)",
                _WITHIN_COLOURS[True],
            ),
            ("outside it", _WITHIN_COLOURS[False]),
            ("no estimate to hold it against", _WITHIN_COLOURS[None]),
        ]
    )
    note = (
        "<p>x = when the rows were served (the middle of each check's window): a day's estimate is drawn where its "
        f"rows are, made on the day without labels, and their realised AUC lands on the same day once the labels have "
        f"matured ({scenario.label_delay_days} days later).</p>"
    )
    return (
        intro
        + estimate_plot(scenario, checks)
        + legend
        + note
        + f'<p class="assumption">{escape(ESTIMATE_ASSUMPTION)}</p>'
        + f"<details><summary>Every drift check</summary>{checks_table(checks, level)}</details>"
    )


def estimate_tracking_html(summary: Mapping[str, Any], checks: Sequence[Mapping[str, Any]]) -> str:
    """The tracking figure: per phase, how often the realised AUC fell in the estimate's interval."""
    tracking = (summary.get("impact") or {}).get("tracking") or {}
    by_phase = tracking.get("by_phase") or {}

    def found(phase: str) -> str:
        counts = by_phase.get(phase) or {}
        if not counts.get("days") or counts.get("share") is None:
            return f"no {_phase_label(phase)} check had a realised AUC to hold its estimate against"
        return f"{counts['within']} of {counts['days']} {_phase_label(phase)} checks ({float(counts['share']):.0%})"

    return (
        tracking_plot(by_phase, _interval_level(checks))
        + f'<p class="assumption">{escape(ESTIMATE_ASSUMPTION)} In this run the realised AUC fell within the '
        f"estimate's interval in {escape(found(EventKind.COVARIATE_SHIFT))} and in "
        f"{escape(found(EventKind.CONCEPT_SHIFT))}.</p>"
        + f"<p>{escape(str(tracking.get('phases') or PHASE_DEFINITION))}</p>"
    )


def sensitivity_html(checks: Sequence[Mapping[str, Any]]) -> str:
    """The sensitivity profile of the last check's champion (table and a plot per feature)."""
    for check in reversed(checks):
        result = check.get("result") or {}
        document = ((result.get("drift") or {}).get("impact") or {}).get("sensitivity")
        if not document:
            continue
        try:
            profile = SensitivityProfile.from_json(document)
        except SensitivityFormatError as error:
            return f"<p>Not available: the profile could not be read ({escape(str(error))}).</p>"
        return (
            f"<p>Champion {escape(str(result.get('champion_version')))} (at the last drift check, "
            f"{escape(_short(check.get('at')))}): how much AUC it loses when one or two features shift by 1–50 % of "
            "their scale, or a category's share rises, on its holdout with the labels held fixed — what a broken or "
            "redefined feature would cost, from which the drift check sets each feature's floor.</p>"
            + render_sensitivity(profile)
        )
    return "<p>Not available: no drift check carried the champion's sensitivity profile.</p>"


def _first_served_note(event: Mapping[str, Any]) -> str:
    """For the incident: when its first affected predictions were logged (alerting cannot see it earlier)."""
    served = event.get("first_affected_served_at")
    if not served or not event.get("detected_at"):
        return ""
    delay = datetime.fromisoformat(event["detected_at"]) - datetime.fromisoformat(served)
    minutes = delay.total_seconds() / 60
    return f" ({minutes:.0f} min after the first affected batch was served, {_short(served)})"


def _ci(interval: Mapping[str, Any] | None, digits: int = 3, *, signed: bool = False) -> str:
    """`value [low, high]` of an interval document (`value`, `low`, `high`)."""
    interval = interval or {}
    value = _fixed(interval.get("value"), digits, signed=signed)
    if interval.get("low") is None or interval.get("high") is None:
        return value
    return (
        f"{value} [{_fixed(interval['low'], digits, signed=signed)}, {_fixed(interval['high'], digits, signed=signed)}]"
    )


def business_impact_html(section: Mapping[str, Any] | None) -> str:
    """The control-group experiment: cumulative figures, what it assumes and costs, and each week."""
    if not section:
        return "<p>No control group in this run.</p>"
    total = section["cumulative"]
    level = f"{section['confidence']:.0%}"
    head = (
        f"<p>{section['control_share']:.0%} of clients are a sticky control group answered with the model's "
        "heuristic (the training base rate: nobody targeted); the rest get the model, whose positive answers are "
        f"acted on (in this scenario the action retains {section['retention_uplift']:.0%} of the churners it "
        f"reaches). Unit: the {section['unit']}. From {_short(total['start'])} to {_short(total['end'])}, matured "
        f"outcomes: churn {_fixed(total['model']['rate'])} in the model's arm ({total['model']['units']:,} "
        f"clients) against {_fixed(total['control']['rate'])} in control ({total['control']['units']:,}): the model "
        f"cuts churn by <b>{_ci(total['difference'], signed=True)}</b> ({level} Newcombe interval), worth "
        f"<b>{_ci(total['value_saved'], 0)}</b> value units at {section['lifetime_value']:g} per retained client. "
        f"The control group cost {_ci(section['cost_of_control_interval'], 0)} of that benefit. "
        f"Alert (model's arm worse with confidence): {'RAISED' if section['alert'] else 'none'}"
        f" ({section['alerts_raised']} runs alerted).</p>"
        f'<p class="assumption">{escape(section["assumptions"])}</p>'
    )
    rows = [
        [
            week["period"],
            week["model"]["n"],
            _fixed(week["model"]["outcome_rate"]),
            week["control"]["n"],
            _fixed(week["control"]["outcome_rate"]),
            _ci(week["difference"], signed=True),
            _ci(week["value_saved"], 0),
            _ci(week["cumulative_value_saved"], 0),
            "yes" if week["sufficient"] else "too few",
        ]
        for week in section["weeks"]
    ]
    return head + _table(
        [
            "week",
            "model clients",
            "model churn",
            "control clients",
            "control churn",
            "benefit (control − model)",
            "value saved",
            "cumulative value saved",
            "enough units",
        ],
        rows,
    )


def review_html(section: Mapping[str, Any] | None) -> str:
    """The review sample: its design, what came back, and each drift check's design-based estimate."""
    if not section:
        return "<p>No review sample in this run.</p>"
    design = section.get("design") or {}
    rates = ", ".join(f"{rate:.1%}" for rate in design.get("rates", []))
    head = (
        f"<p>{design.get('share', 0):.0%} of predictions are reviewed, stratified at score "
        f"{', '.join(f'{cut:g}' for cut in design.get('cut_points', []))} (inclusion probabilities {rates}, the "
        "rare class oversampled), chosen by a hash of the request id; reviewers' outcomes come back through the "
        f"labels path marked reviewed. {section['rows_exported']:,} predictions exported in {section['files']} "
        f"daily files, {section['labels_returned']:,} reviewed labels returned.</p>"
    )
    if section.get("assumption"):
        head += f'<p class="assumption">{escape(str(section["assumption"]))}</p>'
    rows = [
        [
            _short(check["at"]),
            check["n_reviewed"],
            check["population"],
            _ci(check["auc"]),
            _ci(check["positive_rate"]),
            check["baseline"],
            check["verdict"],
        ]
        for check in section["checks"]
    ]
    return head + _table(
        ["check", "reviewed", "predictions", "AUC (design-based)", "churn rate", "baseline AUC", "decay verdict"],
        rows,
    )


def shadow_html(section: Mapping[str, Any] | None) -> str:
    """The shadow periods: the comparison on live requests and the promotion decision."""
    if not section:
        return "<p>No shadow period in this run.</p>"
    rows = [
        [
            _short(period["started"]),
            _short(period["ended"]),
            period["challenger"],
            period["champion"],
            period["requests"],
            period["labelled"],
            _fixed(period["agreement"]),
            _fixed(period["score_ks"]["statistic"]),
            f"{period['latency_ms']['champion_p50']} / {period['latency_ms']['shadow_p50']}",
            _ci(period["auc_difference"], signed=True),
            period["decision"],
            "; ".join(period["reasons"])[:300],
        ]
        for period in section.get("periods") or [section]
    ]
    return (
        "<p>A released challenger first serves in shadow: serving scores every request with champion and "
        "challenger, answers with the champion and logs both; the daily live evaluation compares them on the same "
        "requests (label agreement, Kolmogorov–Smirnov distance of the scores, latency, and on matured or reviewed "
        "labels the AUC difference with a paired bootstrap interval) and decides under the gate's rules.</p>"
        + _table(
            [
                "started",
                "ended",
                "challenger",
                "champion",
                "requests",
                "labelled",
                "agreement",
                "KS",
                "latency p50 ms (champion / shadow)",
                "AUC difference (shadow − champion)",
                "decision",
                "reasons",
            ],
            rows,
        )
    )


def render_report(
    scenario: Scenario,
    summary: Mapping[str, Any],
    log: Any,
    features: Sequence[str],
    *,
    backtest: BacktestResult | None = None,
) -> str:
    """The report's HTML; `backtest` is the backtest of the run's history (its section says so when None)."""
    daily = daily_frame(log.predictions, scenario.start, scenario.days)
    run = summary["run"]
    events = summary["injected_events"]
    found = sum(1 for event in events if event.get("detected"))
    overview = (
        f"<p>{run['days']} simulated days from {run['start'][:10]}, {run['predictions']:,} predictions served through "
        f"the serving handler, logged, loaded by the payload ETL and watched by the alerting Lambda "
        f"({escape(run['alerting_schedule'])}) and a daily drift check; labels arrive {run['label_delay_days']} days "
        f"after each prediction. <b>{found} of {len(events)}</b> injected events were detected or handled; "
        f"{summary['quiet_period']['drift_alarms']} drift alarms (retrain requests), "
        f"{summary['quiet_period']['drifting_checks']} drifting checks and {summary['quiet_period']['alerts']} alerts "
        f"in the quiet period. {len(summary['retrains'])} retrains, {len(summary['releases'])} deploys. "
        f"Seed {run['seed']}; "
        f"replayed in {run['wall_seconds']:.0f} s.</p>"
        + _legend([(kind.replace("_", " "), colour) for kind, colour in EVENT_COLOURS.items()])
    )
    scenario_table = (
        _table(
            ["event", "injected", "detected", "after", "by"],
            [
                [
                    event["kind"].replace("_", " "),
                    _short(event["at"]),
                    _short(event.get("detected_at")) or "NOT DETECTED",
                    "" if event.get("hours_after") is None else f"{event['hours_after']:g} h",
                    event.get("detected_by", "") + _first_served_note(event),
                ]
                for event in events
            ],
        )
        + "<ul>"
        + "".join(f"<li>{escape(event['description'])}</li>" for event in events)
        + "</ul>"
    )
    alert_markers = [
        (
            alert["at"],
            "#c0392b" if alert["status"] == "firing" else "#27ae60",
            "triangle" if alert["status"] == "firing" else "circle",
            f"{alert['status']} {alert['signal']}: {alert.get('summary') or ''}",
        )
        for alert in summary["alerts"]
    ]
    signals = sorted({str(alert["signal"]) for alert in summary["alerts"]}) or ["(none)"]
    alert_lanes = [
        (signal, [m for m, a in zip(alert_markers, summary["alerts"], strict=True) if a["signal"] == signal])
        for signal in signals
    ]
    retrain_lanes = [
        (
            "retrain requested",
            [
                (
                    r["at"],
                    TRIGGER_COLOURS.get(str(r["trigger"]), "#555"),
                    "circle",
                    f"{r['trigger']}: {r.get('reason') or ''}",
                )
                for r in summary["retrains"]
            ],
        ),
        (
            "gate decision",
            [
                (
                    g["created_at"],
                    "#27ae60" if g["passed"] else "#c0392b",
                    "circle" if g["passed"] else "x",
                    f"{g['version']} ({g['trigger']}): {'passed' if g['passed'] else 'REJECTED'}; "
                    f"AUC challenger {g['challenger_auc']} vs champion {g['champion_auc']}; "
                    f"{'; '.join(g['reasons'])[:300]}",
                )
                for g in summary["gate_decisions"]
            ],
        ),
        (
            "drift without impact",
            [
                (
                    c["at"],
                    "#8c96a8",
                    "circle",
                    f"{', '.join(c.get('drifted_features') or []) or 'drift'}: {HARMLESS_TEXT}; expected AUC drop "
                    f"{_fixed((c.get('impact') or {}).get('drop'), 4, signed=True)} (upper bound "
                    f"{_fixed((c.get('impact') or {}).get('drop_upper'), 4, signed=True)}, margin "
                    f"{_fixed((c.get('impact') or {}).get('margin'), 4)})",
                )
                for c in summary["drift_checks"]
                if c.get("outcome") == Outcome.HARMLESS
            ],
        ),
        (
            "refused (governance)",
            [
                (r["at"], "#999", "x", f"{r['trigger']}: {'; '.join(r.get('reasons') or [])}")
                for r in summary["retrains"]
                if r.get("outcome") == "refused"
            ],
        ),
    ]
    release_lanes = [
        (
            "deployed",
            [
                (
                    r["at"],
                    TRIGGER_COLOURS.get(str(r["trigger"]), "#555"),
                    "triangle",
                    f"{r['version']} ({r['trigger']}); AUC week before {r['auc_week_before']}, "
                    f"after {r['auc_week_after']}",
                )
                for r in summary["releases"]
                if not r.get("failed")
            ],
        ),
        ("rolled back", [(r["at"], "#17a398", "x", f"to {r.get('to_version')}") for r in summary["rollbacks"]]),
    ]
    body = {
        "overview": overview,
        "scenario": scenario_table,
        "volume": volume_plot(scenario, daily) + "<p>Bars: predictions per day. Shaded: the injected events.</p>",
        "predictions": prediction_plot(scenario, daily)
        + _legend([("true churn rate", "#999"), ("mean score", "#2e86de"), ("predicted positive rate", "#e4572e")]),
        "feature-drift": drift_plot(scenario, log.drift_checks, features)
        + "<p>One cell per daily check; colour depth = effect size (normalised Wasserstein or PSI); red with a "
        "black outline = drift (significant after Benjamini-Hochberg and above the effect-size floor); grey = not "
        "judged.</p>",
        "performance": performance_plot(scenario, log.drift_checks, daily)
        + _legend(
            [
                ("matured-label AUC (drift check) with 95% bootstrap interval", "#2c3e50"),
                ("decay", "#c0392b"),
                ("champion's baseline", "#17a398"),
                ("ground-truth AUC per day (simulator)", "#bbb"),
            ]
        ),
        "impact": impact_html(scenario, summary, log.drift_checks),
        "estimate-tracking": estimate_tracking_html(summary, log.drift_checks),
        "sensitivity": sensitivity_html(log.drift_checks),
        "alerts": lanes_plot(scenario, "alerts", alert_lanes, "Alert notices per signal")
        + _legend([("firing", "#c0392b"), ("resolved", "#27ae60")])
        + _table(
            ["at", "signal", "status", "summary"],
            [[_short(a["at"]), a["signal"], a["status"], a.get("summary")] for a in summary["alerts"]],
        ),
        "retrains": lanes_plot(scenario, "retrains", retrain_lanes, "Retrains, gate decisions and refusals")
        + _legend(list(TRIGGER_COLOURS.items()))
        + _table(
            ["created", "version", "trigger", "gate", "challenger AUC", "champion AUC", "status", "reasons"],
            [
                [
                    _short(g["created_at"]),
                    g["version"],
                    g["trigger"],
                    "passed" if g["passed"] else "REJECTED",
                    g["challenger_auc"],
                    g["champion_auc"],
                    g["status"],
                    "; ".join(g["reasons"])[:240],
                ]
                for g in summary["gate_decisions"]
            ],
        ),
        "releases": lanes_plot(scenario, "releases", release_lanes, "Deploys and rollbacks")
        + _table(
            ["deployed", "version", "trigger", "previous", "AUC week before", "AUC week after"],
            [
                [
                    _short(r["at"]),
                    r["version"],
                    r["trigger"],
                    r["previous_version"],
                    r["auc_week_before"],
                    r["auc_week_after"],
                ]
                for r in summary["releases"]
            ],
        ),
        "business-impact": business_impact_html(summary.get("business_impact")),
        "review": review_html(summary.get("review")),
        "shadow": shadow_html(summary.get("shadow")),
        "backtest": backtest_html(backtest, summary.get("backtest")),
        "decay-response": decay_html(
            summary.get("decay_response"), sum(1 for r in summary["releases"] if not r.get("failed"))
        ),
    }
    sections = "".join(
        f'<section id="{anchor}"><h2>{escape(title)}</h2>{body[anchor]}</section>' for anchor, title in SECTIONS
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autoretrain demo report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 24px auto; max-width: 1000px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
svg.plot {{ display: block; max-width: 100%; height: auto; background: #fff; }}
.tick {{ font-size: 10px; fill: #555; }} .axis-label {{ font-size: 11px; fill: #333; }}
table {{ border-collapse: collapse; margin: 8px 0; font-size: 12px; }}
td, th {{ border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
.legend span {{ margin-right: 14px; font-size: 12px; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }}
h3 {{ font-size: 14px; margin: 14px 0 4px; }}
.assumption {{ border-left: 4px solid #8a6d00; background: #fff8e1; padding: 6px 10px; }}
details summary {{ cursor: pointer; }}
{BACKTEST_STYLE}
{SENSITIVITY_STYLE}
</style></head>
<body><h1>autoretrain demo report</h1>{sections}</body></html>
"""
