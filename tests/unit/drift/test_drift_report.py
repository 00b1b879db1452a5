"""The HTML report: every section, offline, escaped."""

from __future__ import annotations

import re
from dataclasses import replace
from html import escape

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig, DriftResult, DriftSuite, ReferenceProfiler
from batch_jobs.drift.estimate import ASSUMPTION, EstimatedMetric, EstimatedPerformance
from batch_jobs.drift.impact import EstimateTracking, TrackedMetric
from batch_jobs.drift.report import render_html, tracking_html
from batch_jobs.drift.results import FeatureImpact, ImpactResult, ImpactVerdict
from batch_jobs.drift.sensitivity import SensitivityPoint, SensitivityProfile


@pytest.fixture(scope="module")
def result() -> DriftResult:
    rng = np.random.default_rng(0)
    n = 2000
    hostile = HOSTILE
    reference = pd.DataFrame(
        {"x": rng.normal(size=n), hostile: pd.array(rng.choice(np.array(["a", "b"]), n), dtype="str")}
    )
    current = pd.DataFrame(
        {"x": rng.normal(0.5, 1, size=n), hostile: pd.array(rng.choice(np.array(["a", "<b>&"]), n), dtype="str")}
    )
    scores = rng.random(n)
    profile = ReferenceProfiler().fit(reference, scores=scores, holdout_metrics={"auc": 0.5}).profile_
    labels = (rng.random(n) < scores).astype(int)
    return DriftSuite(DriftConfig(n_bootstrap=50)).run(profile, current, rng.random(n), labels)


def test_report_contains_every_section(result: DriftResult) -> None:
    html = render_html(result)
    for section in ("summary", "features", "prediction", "multivariate", "performance", "distributions"):
        assert f'<section id="{section}">' in html
    assert html.count("<svg") == len(result.features) + 1


def test_report_loads_nothing_from_outside(result: DriftResult) -> None:
    html = render_html(result)
    assert not re.search(r"https?://|<script|<link|@import|url\(|src=", html, flags=re.IGNORECASE)


def test_report_escapes_text_from_the_data(result: DriftResult) -> None:
    html = render_html(result)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;&amp;" in html


HOSTILE = "<script>alert('x')</script>"


def _sensitivity() -> SensitivityProfile:
    points = [
        SensitivityPoint((name,), perturbation, sign * level, level, -level / 4, level / 10, 0.0)
        for name, perturbation in (("x", "shift"), (HOSTILE, "share:<b>&"))
        for level in (0.01, 0.05, 0.10)
        for sign in ((-1.0, 1.0) if perturbation == "shift" else (1.0,))
    ]
    return SensitivityProfile(
        n_rows=500, seconds=0.2, baseline={"auc": 0.8, "log_loss": 0.45, "positive_rate": 0.3}, points=tuple(points)
    )


def _estimate() -> EstimatedPerformance:
    metrics = (
        EstimatedMetric("auc", 0.781, 0.77, 0.79, 0.75, 0.81),
        EstimatedMetric("log_loss", 0.47, 0.46, 0.48, 0.44, 0.5),
        EstimatedMetric("positive_rate", 0.31, 0.3, 0.32, 0.28, 0.34),
    )
    return EstimatedPerformance(n_rows=2000, confidence_level=0.95, n_bootstrap=200, metrics=metrics)


def _impact(result: DriftResult, verdict: ImpactVerdict, *, profiled: bool = True) -> ImpactResult:
    known = verdict is not ImpactVerdict.UNKNOWN
    return ImpactResult(
        verdict=verdict,
        metric="auc",
        margin=0.008,
        confidence_level=0.95,
        reference_expected=0.79 if known else None,
        current_expected=0.781 if known else None,
        drop=0.009 if known else None,
        drop_upper=0.0153 if known else None,
        n_current=2000,
        assumption=ASSUMPTION,
        estimate=_estimate().to_json() if known else None,
        features=(
            FeatureImpact("x", "wasserstein_normalised", 0.5, 0.05, True, 0.02 if profiled else None),
            FeatureImpact(HOSTILE, "psi", 0.2, 0.1, True, 0.01 if profiled else None),
        ),
        sensitivity=_sensitivity().to_json() if profiled else None,
    )


def _without_namespaces(html: str) -> str:
    """The page less inline SVG namespace declarations: a namespace names a vocabulary, it is never fetched."""
    return html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_result_without_impact_has_no_impact_section(result: DriftResult) -> None:
    html = render_html(replace(result, impact=None))
    assert '<section id="impact">' not in html
    assert '<section id="summary">' in html


def test_the_impact_section_states_the_verdict_the_drop_against_its_margin_and_the_assumption(
    result: DriftResult,
) -> None:
    html = render_html(replace(result, impact=_impact(result, ImpactVerdict.IMPACTFUL)))
    section = html.split('<section id="impact">')[1].split('<section id="features">')[0]
    assert '<span class="impactful">Impactful</span>' in section
    assert "0.79 → 0.781" in section
    assert all(number in section for number in ("+0.0090", "+0.0153", "0.008"))
    assert "95% one-sided upper bound" in section
    assert f'<p class="assumption"><strong>What this assumes:</strong> {escape(ASSUMPTION)}</p>' in section
    # the window's expected metrics with both intervals
    assert all(text in section for text in ("[0.77, 0.79]", "[0.75, 0.81]", "log loss"))


def test_a_harmless_and_an_unknown_impact_read_as_such(result: DriftResult) -> None:
    harmless = render_html(replace(result, impact=_impact(result, ImpactVerdict.HARMLESS)))
    unknown = render_html(replace(result, impact=_impact(result, ImpactVerdict.UNKNOWN, profiled=False)))
    assert '<span class="harmless">Harmless</span>' in harmless
    assert "is below the margin" in harmless
    assert '<span class="unknown">Unknown</span>' in unknown
    assert "No expected metrics" in unknown
    assert "The champion carries no sensitivity profile." in unknown


def test_a_floor_set_by_the_sensitivity_profile_is_shown_beside_the_global_one(result: DriftResult) -> None:
    html = render_html(replace(result, impact=_impact(result, ImpactVerdict.IMPACTFUL)))
    section = html.split("<h3>Per feature</h3>")[1].split("</table>")[0]
    x_row, hostile_row = section.split("<tr>")[2:4]
    assert "0.05<br>from the sensitivity profile (global 0.1)" in x_row
    assert "sensitivity profile" not in hostile_row  # its floor is the global one
    assert "<td>0.02</td>" in x_row  # the profile's AUC cost at this shift


def test_the_champions_sensitivity_profile_is_drawn_per_feature(result: DriftResult) -> None:
    html = render_html(replace(result, impact=_impact(result, ImpactVerdict.HARMLESS)))
    assert html.count('class="sensitivity-plot"') == 2
    assert '<section class="sensitivity">' in html
    assert html.count("<svg") == len(result.features) + 1 + 2


def test_the_impact_section_escapes_feature_names_and_loads_nothing(result: DriftResult) -> None:
    html = render_html(replace(result, impact=_impact(result, ImpactVerdict.IMPACTFUL)))
    section = html.split('<section id="impact">')[1].split('<section id="features">')[0]
    assert HOSTILE not in html
    assert escape(HOSTILE) in section
    assert "share:&lt;b&gt;&amp;" in section
    assert not re.search(r"https?://|<script|<link|@import|url\(|src=", _without_namespaces(html), re.IGNORECASE)


def test_the_tracking_section_sets_the_estimate_beside_the_realised_value() -> None:
    tracking = EstimateTracking(
        n_rows=300,
        confidence_level=0.95,
        metrics=(
            TrackedMetric("auc", 0.8, 0.76, 0.84, 0.7),
            TrackedMetric("log_loss", 0.45, 0.4, 0.5, 0.46),
            TrackedMetric("positive_rate", 0.3, 0.26, 0.34, None),
        ),
    )
    html = tracking_html(tracking)
    auc, log_loss, rate = html.split("<tbody>")[1].split("<tr>")[1:4]
    assert "<td>0.8</td><td>0.7</td><td>[0.76, 0.84]</td>" in auc
    assert '<span class="outside">no: outside</span>' in auc
    assert '<span class="within">yes</span>' in log_loss
    assert "<td>–</td>" in rate
    assert escape(ASSUMPTION) in html
    assert "Not available" in tracking_html(None)
