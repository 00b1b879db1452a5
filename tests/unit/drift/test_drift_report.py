"""The HTML report: every section, offline, escaped."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig, DriftResult, DriftSuite, ReferenceProfiler
from batch_jobs.drift.report import render_html


@pytest.fixture(scope="module")
def result() -> DriftResult:
    rng = np.random.default_rng(0)
    n = 2000
    hostile = "<script>alert('x')</script>"
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
