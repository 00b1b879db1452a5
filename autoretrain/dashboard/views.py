"""The dashboard's pages: each draws one view of a `TrackingSource` with Streamlit and returns how many charts it
drew (the app marks that number on the page, so a browser check can tell a page whose charts failed to render).

A section the run does not have gets a "not in this run" notice naming what would fill it; the rest of the page
still draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
import streamlit as st

from autoretrain.dashboard import charts
from autoretrain.dashboard.sources import Section, TrackingSource

#: The id of the invisible element each page ends with; its `data-page` and `data-charts` attributes name the page
#: and the charts it drew (the screenshot check waits for that many drawn charts).
MARKER_ID: Final = "autoretrain-dashboard-page"
#: The words a missing section's notice carries (tests look for them).
NOT_IN_RUN: Final = "not in this run"


def _absent(what: str, why: str) -> None:
    st.info(f"{what}: {NOT_IN_RUN}. {why}")


def _chart(chart: Any) -> int:
    st.altair_chart(chart, width="stretch")
    return 1


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2%}"


def business(source: TrackingSource) -> int:
    """Per-week outcome rate per arm, their difference, the value saved weekly and cumulatively, and the alerts."""
    st.header("Business impact")
    document = source.section(Section.BUSINESS_IMPACT)
    if document is None:
        _absent(
            "Business impact",
            "It needs a control group (a share of clients served the heuristic) and matured outcomes; "
            "a run with one lists `business_impact` in its summary.",
        )
        return 0
    weeks = charts.impact_weeks(document)
    last = document["weeks"][-1] if document.get("weeks") else {}
    total = last.get("cumulative_value_saved") or {}
    columns = st.columns(3)
    columns[0].metric("Cumulative value saved", _money(total.get("value")))
    columns[1].metric("Control share", _rate(document.get("control_share")))
    columns[2].metric("Weeks with an alert", int(weeks["alert"].sum()) if not weeks.empty else 0)
    st.caption(
        f"Cumulative value saved, 95% interval: {_money(total.get('low'))} to {_money(total.get('high'))}. "
        f"Lifetime value per client: {_money(document.get('lifetime_value'))}; "
        f"cost of the control group: {_money(document.get('cost_of_control'))}."
    )
    if weeks.empty:
        _absent("Weekly figures", "No week has matured outcomes yet.")
        return 0
    alerts = weeks.loc[weeks["alert"], "week_start"]
    if len(alerts):
        st.error(
            "The model's arm did worse than control with confidence in the week(s) of "
            + ", ".join(f"{day:%Y-%m-%d}" for day in alerts)
        )
    drawn = _chart(charts.outcome_rate_chart(weeks))
    drawn += _chart(
        charts.band_chart(
            weeks,
            "week_start",
            "difference",
            "Difference between the arms' outcome rates, with its interval",
            "difference",
            zero=True,
            y_format="%",
        )
    )
    drawn += _chart(charts.value_saved_chart(weeks))
    st.subheader("Per week")
    st.dataframe(weeks, hide_index=True)
    with st.expander("What the estimate assumes", expanded=True):
        st.write(document.get("assumptions", ""))
    return drawn


def performance(source: TrackingSource) -> int:
    """Calibration curves per serving version; realised, reviewed and estimated AUC over time with intervals."""
    st.header("Predictive performance")
    drawn = 0
    curves = charts.calibration_frame(source.predictions())
    if curves.empty:
        _absent("Calibration", "No labelled predictions to draw it from.")
    else:
        drawn += _chart(charts.calibration_chart(curves))
    review = source.section(Section.REVIEW)
    series = charts.auc_series(source.drift_checks(), review)
    if series.empty:
        _absent("AUC over time", "No drift check measured or estimated an AUC yet.")
    else:
        drawn += _chart(charts.auc_chart(series))
    st.subheader("Reviewed sample")
    if review is None:
        _absent(
            "Reviewed-sample performance",
            "It needs review sampling (a share of predictions reviewed by people); a run with it lists `review`.",
        )
    else:
        design = review.get("design") or {}
        st.caption(f"Design: {_rate(design.get('share'))} of predictions, strata {design.get('strata', [])}.")
        st.dataframe(_review_table(review), hide_index=True)
    return drawn


def _review_table(review: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for check in review.get("checks", []):
        auc, positive = check.get("auc") or {}, check.get("positive_rate") or {}
        rows.append(
            {
                "at": check.get("at"),
                "n_reviewed": check.get("n_reviewed"),
                "floor": check.get("floor"),
                "auc": auc.get("value"),
                "auc_low": auc.get("low"),
                "auc_high": auc.get("high"),
                "positive_rate": positive.get("value"),
                "verdict": check.get("verdict"),
            }
        )
    return pd.DataFrame(rows)


def data_shift(source: TrackingSource) -> int:
    """Effect size per feature per check, drifted flags, and each check's drift and impact verdicts."""
    st.header("Data shift")
    checks, shift = source.drift_checks(), source.feature_shift()
    drawn = 0
    if shift.empty:
        _absent("Per-feature shift", "No drift check ran the suite, or none found a feature drifting.")
    else:
        if shift["effect_size"].isna().all():
            st.caption(
                "This run lists each check's drifted features only, not every feature's effect size: the cells "
                "mark drifted features."
            )
        span = (checks["at"].min(), checks["at"].max()) if not checks.empty else None
        drawn += _chart(charts.shift_heatmap(shift, span))
        if shift["effect_size"].notna().any():
            drawn += _chart(charts.effect_lines(shift))
    if checks.empty:
        _absent("Drift checks", "No drift check has run.")
        return drawn
    drawn += _chart(charts.verdict_chart(checks))
    st.subheader("Checks")
    columns = [
        "at",
        "champion_version",
        "verdict",
        "drifted_features",
        "impact_verdict",
        "expected_auc_drop",
        "outcome",
        "retrain_requested",
    ]
    st.dataframe(checks[columns], hide_index=True)
    return drawn


def operations(source: TrackingSource) -> int:
    """Alerts, retrains, gate decisions, releases, rollbacks and the shadow comparison, with their reasons."""
    st.header("Operations")
    ops = source.operations()
    frames = {
        "retrain": ops.retrains,
        "release": ops.releases,
        "rollback": ops.rollbacks,
        **({"alert": ops.alerts} if ops.alerts is not None else {}),
    }
    labels = {
        "retrain": "outcome",
        "release": "trigger" if "trigger" in ops.releases else "status",
        "rollback": "to_version",
        "alert": "signal",
    }
    drawn = 0
    events = charts.timeline(frames, labels)
    if not events.empty:
        drawn += _chart(charts.timeline_chart(events))
    st.subheader("Alerts")
    if ops.alerts is None:
        _absent("Alerts", "This source keeps no alert history (alerts go to the SNS topic).")
    elif ops.alerts.empty:
        st.write("No alerts.")
    else:
        st.dataframe(ops.alerts, hide_index=True)
    for title, frame in (
        ("Retrains", ops.retrains),
        ("Gate decisions", ops.gate_decisions),
        ("Releases and deploys", ops.releases),
        ("Rollbacks", ops.rollbacks),
    ):
        st.subheader(title)
        if frame.empty:
            st.write(f"No {title.lower()}.")
        else:
            st.dataframe(frame, hide_index=True)
    st.subheader("Shadow challenger")
    shadow = source.section(Section.SHADOW)
    if shadow is None:
        _absent("Shadow comparison", "No challenger served in shadow; a run with one lists `shadow`.")
    else:
        _shadow(shadow)
    return drawn


def _shadow(shadow: Mapping[str, Any]) -> None:
    columns = st.columns(4)
    columns[0].metric("Decision", str(shadow.get("decision", "–")))
    columns[1].metric("Requests", f"{shadow.get('requests', 0):,}")
    columns[2].metric("Agreement", _rate(shadow.get("agreement")))
    difference = shadow.get("auc_difference") or {}
    value = difference.get("value")
    columns[3].metric("AUC difference", "–" if value is None else f"{value:+.4f}")
    latency = shadow.get("latency_ms") or {}
    ks = shadow.get("score_ks") or {}
    st.caption(
        f"{shadow.get('challenger')} beside champion {shadow.get('champion')}, {shadow.get('started')} – "
        f"{shadow.get('ended')}; AUC difference interval {difference.get('low')} to {difference.get('high')}; "
        f"score KS {ks.get('statistic')} (p {ks.get('p_value')}); p50 latency champion "
        f"{latency.get('champion_p50')} ms, with shadow {latency.get('shadow_p50')} ms."
    )
    for reason in shadow.get("reasons", []):
        st.markdown(f"- {reason}")


def backtest(source: TrackingSource) -> int:
    """The policy backtest: each replay's numbers and daily metric."""
    st.header("Policy backtest")
    document = source.section(Section.BACKTEST)
    if document is None:
        _absent("Policy backtest", "Run `autoretrain backtest HISTORY` (the demo runs it on its own history).")
        return 0
    metric = str(document.get("metric", "auc"))
    drawn = 0
    series = charts.backtest_series(document)
    if series.empty:
        _absent("Daily metric per replay", "This document holds the replays' summaries only.")
    else:
        drawn += _chart(charts.backtest_chart(series, metric, document.get("detected_changes") or []))
    st.subheader("Replays")
    st.dataframe(charts.backtest_table(document), hide_index=True)
    assumptions = document.get("assumptions") or []
    if assumptions:
        with st.expander("Assumptions"):
            for assumption in assumptions:
                st.markdown(f"- {assumption}")
    return drawn


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its URL slug (`?page=<slug>`), title and drawing function."""

    slug: str
    title: str
    draw: Callable[[TrackingSource], int]


PAGES: Final = (
    Page("business", "Business impact", business),
    Page("performance", "Predictive performance", performance),
    Page("shift", "Data shift", data_shift),
    Page("operations", "Operations", operations),
    Page("backtest", "Policy backtest", backtest),
)
