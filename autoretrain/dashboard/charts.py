"""The dashboard's tables and charts, built purely from the source's frames and documents (no Streamlit here).

Charts are Altair (Vega-Lite) specifications; an interval is a shaded band under its line, a verdict a colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

import altair as alt
import numpy as np
import pandas as pd

#: Calibration bins (equal width over [0, 1]) and the serving versions drawn (the most-served ones).
CALIBRATION_BINS: Final = 10
CALIBRATION_VERSIONS: Final = 6
#: Bins with fewer labelled predictions than this are left out of a calibration curve (too noisy to read).
MIN_BIN_ROWS: Final = 20
_CATEGORIES: Final = alt.Scale(scheme="tableau10")
#: What a chart function returns (Altair's chained calls are untyped).
AnyChart: TypeAlias = alt.Chart | alt.LayerChart | alt.FacetChart


def _interval(value: Mapping[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    value = value or {}
    return value.get("value"), value.get("low"), value.get("high")


def impact_weeks(document: Mapping[str, Any]) -> pd.DataFrame:
    """One row per week of the business-impact section: both arms, the difference and the value saved, with
    their intervals, and the alert flag."""
    rows = []
    for week in document.get("weeks", []):
        difference, difference_low, difference_high = _interval(week.get("difference"))
        saved, saved_low, saved_high = _interval(week.get("value_saved"))
        total, total_low, total_high = _interval(week.get("cumulative_value_saved"))
        rows.append(
            {
                "week_start": week.get("week_start"),
                "model_n": (week.get("model") or {}).get("n"),
                "model_outcome_rate": (week.get("model") or {}).get("outcome_rate"),
                "control_n": (week.get("control") or {}).get("n"),
                "control_outcome_rate": (week.get("control") or {}).get("outcome_rate"),
                "difference": difference,
                "difference_low": difference_low,
                "difference_high": difference_high,
                "value_saved": saved,
                "value_saved_low": saved_low,
                "value_saved_high": saved_high,
                "cumulative_value_saved": total,
                "cumulative_value_saved_low": total_low,
                "cumulative_value_saved_high": total_high,
                "alert": bool(week.get("alert", False)),
            }
        )
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["week_start"] = pd.to_datetime(frame["week_start"], utc=True, format="ISO8601")
    return frame


def outcome_rate_chart(weeks: pd.DataFrame) -> AnyChart:
    """The outcome rate per arm per week."""
    long = weeks.melt(
        id_vars=["week_start"],
        value_vars=["model_outcome_rate", "control_outcome_rate"],
        var_name="arm",
        value_name="outcome_rate",
    )
    long["arm"] = long["arm"].str.removesuffix("_outcome_rate")
    chart: AnyChart = (
        alt.Chart(long, title="Outcome rate per arm, per week")
        .mark_line(point=True)
        .encode(
            x=alt.X("week_start:T", title="week", axis=alt.Axis(format="%b %d")),
            y=alt.Y("outcome_rate:Q", title="outcome rate", axis=alt.Axis(format="%")),
            color=alt.Color("arm:N", title="arm", scale=_CATEGORIES),
            tooltip=["week_start:T", "arm:N", alt.Tooltip("outcome_rate:Q", format=".2%")],
        )
    )
    return chart


def band_chart(
    frame: pd.DataFrame, x: str, value: str, title: str, y_title: str, *, zero: bool = False, y_format: str = ""
) -> AnyChart:
    """`value` over `x` as a line, its `<value>_low`–`<value>_high` interval as a band (and a rule at 0)."""
    axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    base = alt.Chart(frame, title=title).encode(
        x=alt.X(f"{x}:T", title=x.replace("_", " "), axis=alt.Axis(format="%b %d"))
    )
    band = base.mark_area(opacity=0.25).encode(
        y=alt.Y(f"{value}_low:Q", title=y_title, axis=axis), y2=f"{value}_high:Q"
    )
    line = base.mark_line(point=True).encode(
        y=alt.Y(f"{value}:Q", title=y_title, axis=axis),
        tooltip=[f"{x}:T", f"{value}:Q", f"{value}_low:Q", f"{value}_high:Q"],
    )
    layers: list[alt.Chart] = [band, line]
    if zero:
        layers.append(alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(y="zero:Q"))
    return alt.layer(*layers)


def value_saved_chart(weeks: pd.DataFrame) -> AnyChart:
    """Value saved per week (bars with their interval) and cumulatively (line with its band)."""
    base = alt.Chart(weeks, title="Value saved: weekly (bars) and cumulative (line)").encode(
        x=alt.X("week_start:T", title="week", axis=alt.Axis(format="%b %d"))
    )
    bars = base.mark_bar(opacity=0.5, size=24).encode(y=alt.Y("value_saved:Q", title="value saved"))
    errors = base.mark_rule().encode(y="value_saved_low:Q", y2="value_saved_high:Q")
    band = base.mark_area(opacity=0.2, color="#2e86de").encode(
        y="cumulative_value_saved_low:Q", y2="cumulative_value_saved_high:Q"
    )
    line = base.mark_line(point=True, color="#2e86de").encode(
        y="cumulative_value_saved:Q",
        tooltip=["week_start:T", "value_saved:Q", "cumulative_value_saved:Q"],
    )
    return alt.layer(bars, errors, band, line)


def calibration_frame(
    predictions: pd.DataFrame, bins: int = CALIBRATION_BINS, versions: int = CALIBRATION_VERSIONS
) -> pd.DataFrame:
    """Per serving version (the `versions` most-served with labels): per score bin, the mean score, the observed
    outcome rate and the bin's labelled predictions (bins with fewer than `MIN_BIN_ROWS` left out)."""
    labelled = predictions.loc[predictions["label"].notna(), ["score", "label", "model_version"]]
    if labelled.empty:
        return pd.DataFrame(columns=["model_version", "bin", "mean_score", "observed_rate", "n"])
    top = labelled["model_version"].value_counts().index[:versions]
    labelled = labelled.loc[labelled["model_version"].isin(top)].assign(
        bin=np.minimum((labelled["score"].to_numpy() * bins).astype(int), bins - 1),
        label=labelled["label"].astype(float),
    )
    grouped = (
        labelled.groupby(["model_version", "bin"], observed=True)
        .agg(mean_score=("score", "mean"), observed_rate=("label", "mean"), n=("label", "size"))
        .reset_index()
    )
    return grouped.loc[grouped["n"] >= MIN_BIN_ROWS].reset_index(drop=True)


def calibration_chart(curves: pd.DataFrame) -> AnyChart:
    """Observed outcome rate against mean score per bin, one curve per serving version, and the diagonal."""
    diagonal = (
        alt.Chart(pd.DataFrame({"p": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="grey").encode(x="p:Q", y="p:Q")
    )
    curves_chart = (
        alt.Chart(curves)
        .mark_line(point=True)
        .encode(
            x=alt.X("mean_score:Q", title="mean predicted score", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("observed_rate:Q", title="observed outcome rate", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("model_version:N", title="serving version", scale=_CATEGORIES),
            tooltip=["model_version:N", "mean_score:Q", "observed_rate:Q", "n:Q"],
        )
    )
    return alt.layer(diagonal, curves_chart, title="Calibration on labelled predictions")


def auc_series(checks: pd.DataFrame, review: Mapping[str, Any] | None) -> pd.DataFrame:
    """AUC over time, long: realised (matured labels), estimated (no labels; the expected AUC of the current window)
    and reviewed (the reviewed sample), each with its interval where it has one."""
    parts = [
        pd.DataFrame(
            {
                "at": checks["at"],
                "kind": kind,
                "auc": checks[value],
                "low": checks[low] if low else np.nan,
                "high": checks[high] if high else np.nan,
            }
        )
        for kind, value, low, high in (
            ("realised (matured labels)", "realised_auc", "realised_auc_low", "realised_auc_high"),
            ("estimated (no labels)", "expected_auc", "expected_auc_low", "expected_auc_high"),
        )
    ]
    reviewed = [
        {
            "at": check.get("at"),
            "kind": "reviewed sample",
            **dict(zip(("auc", "low", "high"), _interval(check.get("auc")), strict=True)),
        }
        for check in (review or {}).get("checks", [])
    ]
    if reviewed:
        frame = pd.DataFrame(reviewed)
        frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
        parts.append(frame)
    series = pd.concat(parts, ignore_index=True)
    series[["auc", "low", "high"]] = series[["auc", "low", "high"]].apply(pd.to_numeric, errors="coerce")
    return series.dropna(subset=["auc"]).reset_index(drop=True)


def auc_chart(series: pd.DataFrame) -> AnyChart:
    """Each kind of AUC over time, a band for its interval."""
    base = alt.Chart(series, title="AUC over time: realised, reviewed and estimated").encode(
        x=alt.X("at:T", title="check"), color=alt.Color("kind:N", title="", scale=_CATEGORIES)
    )
    band = base.mark_area(opacity=0.15).encode(y=alt.Y("low:Q", title="AUC", scale=alt.Scale(zero=False)), y2="high:Q")
    line = base.mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        y=alt.Y("auc:Q", scale=alt.Scale(zero=False)), tooltip=["at:T", "kind:N", "auc:Q", "low:Q", "high:Q"]
    )
    return alt.layer(band, line)


def shift_heatmap(shift: pd.DataFrame, span: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> AnyChart:
    """Features by check over `span` (default: the shifts' own): one cell a day, colour = effect size (one colour
    where the source has none), outlined = drifted."""
    frame = shift.assign(start=shift["at"] - pd.Timedelta(hours=11), end=shift["at"] + pd.Timedelta(hours=11))
    has_effects = bool(frame["effect_size"].notna().any())
    domain = None if span is None else [span[0] - pd.Timedelta(days=1), span[1] + pd.Timedelta(days=1)]
    base = alt.Chart(frame, title="Effect size per feature per drift check (outlined: drifted)").encode(
        x=alt.X("start:T", title="check", scale=alt.Scale(domain=domain) if domain else alt.Undefined),
        x2="end:T",
        y=alt.Y("feature:N", title=""),
        tooltip=["at:T", "feature:N", "effect_size:Q", "drifted:N"],
    )
    fill = (
        alt.Color("effect_size:Q", title="effect size", scale=alt.Scale(scheme="orangered"))
        if has_effects
        else alt.value("#c0392b")
    )
    cells = base.mark_rect().encode(color=fill)
    outlines = base.transform_filter("datum.drifted").mark_rect(fill=None, stroke="black", strokeWidth=1.2)
    return alt.layer(cells, outlines)


def effect_lines(shift: pd.DataFrame) -> AnyChart:
    """Effect size per feature over time."""
    chart: AnyChart = (
        alt.Chart(shift.dropna(subset=["effect_size"]), title="Effect size per feature over time")
        .mark_line(point=alt.OverlayMarkDef(size=10))
        .encode(
            x=alt.X("at:T", title="check"),
            y=alt.Y("effect_size:Q", title="effect size"),
            color=alt.Color("feature:N", title="feature", scale=_CATEGORIES),
            tooltip=["at:T", "feature:N", "effect_size:Q", "drifted:N"],
        )
    )
    return chart


def verdict_chart(checks: pd.DataFrame) -> AnyChart:
    """Each check's drift verdict and, where it estimated one, its impact verdict, over time."""
    long = pd.concat(
        [
            pd.DataFrame({"at": checks["at"], "row": "drift verdict", "verdict": checks["verdict"]}),
            pd.DataFrame({"at": checks["at"], "row": "impact verdict", "verdict": checks["impact_verdict"]}),
        ],
        ignore_index=True,
    ).dropna(subset=["verdict"])
    chart: AnyChart = (
        alt.Chart(long, title="Verdicts per drift check")
        .mark_tick(thickness=3, size=20)
        .encode(
            x=alt.X("at:T", title="check"),
            y=alt.Y("row:N", title=""),
            color=alt.Color("verdict:N", title="verdict"),
            tooltip=["at:T", "row:N", "verdict:N"],
        )
    )
    return chart


def timeline(frames: Mapping[str, pd.DataFrame], labels: Mapping[str, str]) -> pd.DataFrame:
    """Every operation as one row: when, which kind (a key of `frames`), and what (its `labels[kind]` column)."""
    parts = [
        pd.DataFrame({"at": frame["at"], "kind": kind, "what": frame[labels[kind]].astype(str)})
        for kind, frame in frames.items()
        if not frame.empty
    ]
    if not parts:
        return pd.DataFrame(columns=["at", "kind", "what"])
    return pd.concat(parts, ignore_index=True).sort_values("at", kind="stable").reset_index(drop=True)


def timeline_chart(events: pd.DataFrame) -> AnyChart:
    """Operations over time, one row per kind."""
    chart: AnyChart = (
        alt.Chart(events, title="Operations over time")
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("at:T", title=""),
            y=alt.Y("kind:N", title=""),
            color=alt.Color("kind:N", title="", scale=_CATEGORIES),
            shape=alt.Shape("kind:N", title=""),
            tooltip=["at:T", "kind:N", "what:N"],
        )
    )
    return chart


def backtest_table(document: Mapping[str, Any]) -> pd.DataFrame:
    """One row per replayed policy: its summary numbers (what `autoretrain backtest` prints)."""
    summaries: Sequence[Mapping[str, Any]] = document.get("summaries") or document.get("replays") or []
    columns = (
        "name",
        "mean_metric",
        "regret",
        "net_per_day",
        "retrains",
        "deploys",
        "worse_deploys",
        "mean_recovery_days",
        "unrecovered_changes",
        "description",
    )
    return pd.DataFrame([{name: item.get(name) for name in columns} for item in summaries], columns=list(columns))


def backtest_series(document: Mapping[str, Any]) -> pd.DataFrame:
    """The daily metric of every replay, long (empty when the document carries no daily series)."""
    days = document.get("days") or []
    parts = [
        pd.DataFrame({"day": days, "policy": replay["name"], "metric": replay["daily_metric"]})
        for replay in document.get("replays") or []
        if len(replay.get("daily_metric") or []) == len(days) and days
    ]
    if not parts:
        return pd.DataFrame(columns=["day", "policy", "metric"])
    series = pd.concat(parts, ignore_index=True)
    series["day"] = pd.to_datetime(series["day"], utc=True)
    series["metric"] = pd.to_numeric(series["metric"], errors="coerce")
    return series


def backtest_chart(series: pd.DataFrame, metric: str, changes: Sequence[str]) -> AnyChart:
    """The daily metric of each replay, and the detected changes as rules."""
    lines = (
        alt.Chart(series)
        .mark_line()
        .encode(
            x=alt.X("day:T", title="day"),
            y=alt.Y("metric:Q", title=f"daily {metric}", scale=alt.Scale(zero=False)),
            color=alt.Color("policy:N", title="replay", scale=_CATEGORIES),
            tooltip=["day:T", "policy:N", "metric:Q"],
        )
    )
    rules = (
        alt.Chart(pd.DataFrame({"day": pd.to_datetime(list(changes), utc=True)}))
        .mark_rule(strokeDash=[4, 4], color="grey")
        .encode(x="day:T")
    )
    return alt.layer(lines, rules, title=f"Daily {metric} per replay (dashed: detected changes)")
