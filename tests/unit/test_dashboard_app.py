"""The dashboard's pages under Streamlit's own app testing, over a small demo-like directory built here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from autoretrain.dashboard import charts
from autoretrain.dashboard.cli import build_parser, server_command, source_spec
from autoretrain.dashboard.sample import write_sample
from autoretrain.dashboard.sources import (
    SOURCE_ENV,
    DemoSource,
    Section,
    SourceError,
    check_from_result,
    check_rows,
    open_source,
)
from autoretrain.dashboard.views import MARKER_ID, NOT_IN_RUN, PAGES

APP = Path(__file__).resolve().parents[2] / "autoretrain" / "dashboard" / "app.py"
#: Charts each page draws over the full sample (with every section).
CHARTS = {"business": 3, "performance": 2, "shift": 3, "operations": 1, "backtest": 1}


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("dashboard") / "out")


@pytest.fixture(scope="module")
def bare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("dashboard-bare") / "out", with_sections=False)


def run_page(directory: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv(SOURCE_ENV, f"demo:{directory}")
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.query_params["page"] = page
    return app.run()


def marker(app: AppTest) -> str:
    return next(str(element.proto.body) for element in app.get("html") if MARKER_ID in element.proto.body)


@pytest.mark.parametrize("page", [page.slug for page in PAGES])
def test_every_page_runs_and_draws_its_charts(sample_dir: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(sample_dir, page, monkeypatch)

    assert not app.exception
    assert len(app.get("vega_lite_chart")) == CHARTS[page]
    assert f'data-page="{page}" data-charts="{CHARTS[page]}"' in marker(app)
    assert not [info.value for info in app.info if NOT_IN_RUN in info.value]


@pytest.mark.parametrize("page", ["business", "shift", "operations", "backtest"])
def test_pages_show_their_tables(sample_dir: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(sample_dir, page, monkeypatch)

    assert len(app.dataframe) >= 1


def test_business_page_shows_the_summary_figures(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    impact = json.loads((sample_dir / "summary.json").read_text())["business_impact"]
    app = run_page(sample_dir, "business", monkeypatch)

    metrics = {metric.label: metric.value for metric in app.metric}
    total = impact["weeks"][-1]["cumulative_value_saved"]
    assert metrics["Cumulative value saved"] == f"{total['value']:,.0f}"
    assert metrics["Control share"] == f"{impact['control_share']:.2%}"
    assert metrics["Weeks with an alert"] == str(sum(week["alert"] for week in impact["weeks"]))
    table = app.dataframe[0].value
    assert table["difference"].tolist() == [week["difference"]["value"] for week in impact["weeks"]]
    assert table["value_saved_high"].tolist() == [week["value_saved"]["high"] for week in impact["weeks"]]
    assert table["cumulative_value_saved"].iloc[-1] == total["value"]
    assert any("2026-03-16" in error.value for error in app.error)  # the alerting week is named


def test_performance_page_draws_the_reviewed_auc(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(sample_dir, "performance", monkeypatch)

    review = app.dataframe[0].value
    assert review["n_reviewed"].tolist()[:2] == [180, 190]
    spec = json.loads(app.get("vega_lite_chart")[1].proto.spec)
    assert "AUC over time" in json.dumps(spec)


def test_operations_page_shows_the_shadow_decision(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(sample_dir, "operations", monkeypatch)

    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Decision"] == "promote"
    assert metrics["Agreement"] == "94.00%"
    assert len(app.dataframe) == 5  # alerts, retrains, gate decisions, releases, rollbacks


@pytest.mark.parametrize(
    ("page", "what"),
    [
        ("business", "Business impact"),
        ("performance", "Reviewed-sample performance"),
        ("operations", "Shadow comparison"),
    ],
)
def test_a_section_the_run_lacks_says_so(bare_dir: Path, page: str, what: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(bare_dir, page, monkeypatch)

    assert not app.exception
    assert any(info.value.startswith(f"{what}: {NOT_IN_RUN}") for info in app.info)


def test_the_page_comes_from_the_url_and_an_unknown_one_is_the_first(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = run_page(sample_dir, "no-such-page", monkeypatch)

    assert app.header[0].value == PAGES[0].title
    assert app.query_params["page"] == PAGES[0].slug


def test_a_directory_without_a_summary_is_an_error_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = run_page(tmp_path, "business", monkeypatch)

    assert not app.exception
    assert "summary.json" in app.error[0].value


# -- the source and the chart data, without Streamlit ------------------------------------------------------------


def test_demo_source_reads_the_history_label_and_leaves_unknown_labels_empty(sample_dir: Path) -> None:
    predictions = DemoSource(sample_dir).predictions()

    assert list(predictions.columns) == ["time", "score", "label", "model_version"]
    assert predictions["label"].isna().any()
    assert set(predictions["label"].dropna().unique()) <= {0, 1}


def test_demo_source_lacks_the_sections_the_summary_lacks(bare_dir: Path) -> None:
    source = DemoSource(bare_dir)

    assert source.section(Section.BUSINESS_IMPACT) is None
    assert source.section(Section.SHADOW) is None
    assert source.section(Section.BACKTEST) is not None


def test_open_source_refuses_a_directory_without_a_summary(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"summary\.json"):
        open_source(f"demo:{tmp_path}")


def test_a_stored_result_reads_as_the_summary_lists_a_check() -> None:
    result: dict[str, Any] = {
        "checked_at": "2026-03-10T03:00:00Z",
        "champion_version": "v1",
        "verdict": "drift",
        "drifted_features": ["age"],
        "decision": {"retrain_requested": True, "outcome": "retrain_requested"},
        "drift": {
            "features": [
                {"name": "age", "drift": True, "distribution": {"effect_size": 0.3}},
                {"name": "plan", "drift": False, "distribution": {"effect_size": None}},
            ],
            "impact": {
                "verdict": "impactful",
                "current_expected": 0.8,
                "drop": 0.03,
                "estimate": {"metrics": [{"name": "auc", "ci_low": 0.78, "ci_high": 0.82}]},
            },
        },
        "performance": {"metrics": [{"name": "auc", "value": 0.81, "ci_low": 0.79, "ci_high": 0.83, "baseline": 0.84}]},
        "tracking": {"metrics": [{"name": "auc", "estimated": 0.805}]},
    }

    row = check_rows([check_from_result(result)]).iloc[0]

    assert row["verdict"] == "drift"
    assert bool(row["retrain_requested"])
    assert row["drifted_features"] == "age"
    assert (row["expected_auc"], row["expected_auc_low"], row["expected_auc_high"]) == (0.8, 0.78, 0.82)
    assert (row["realised_auc"], row["baseline_auc"], row["estimated_auc"]) == (0.81, 0.84, 0.805)
    assert row["at"] == pd.Timestamp("2026-03-10T03:00:00Z")


def test_calibration_leaves_out_thin_bins_and_unlabelled_rows() -> None:
    predictions = pd.DataFrame(
        {
            "score": [0.05] * 30 + [0.95] * 5 + [0.5] * 40,
            "label": pd.array([0] * 27 + [1] * 3 + [1] * 5 + [pd.NA] * 40, dtype="Int8"),
            "model_version": ["v1"] * 75,
        }
    )

    curve = charts.calibration_frame(predictions)

    assert curve[["bin", "n"]].to_dict("records") == [{"bin": 0, "n": 30}]
    assert curve["observed_rate"].iloc[0] == pytest.approx(0.1)


def test_auc_series_has_each_kind_with_its_interval(sample_dir: Path) -> None:
    source = DemoSource(sample_dir)

    series = charts.auc_series(source.drift_checks(), source.section(Section.REVIEW))

    assert set(series["kind"]) == {"realised (matured labels)", "estimated (no labels)", "reviewed sample"}
    assert (series["low"] <= series["auc"]).all()
    assert (series["auc"] <= series["high"]).all()


def test_the_command_passes_the_source_and_serves_headless_on_loopback(tmp_path: Path) -> None:
    arguments = build_parser().parse_args(["--demo", str(tmp_path), "--screenshots", str(tmp_path / "shots")])

    assert source_spec(arguments) == f"demo:{tmp_path.resolve()}"
    command = server_command(8555)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.headless") + 1] == "true"
    assert command[command.index("--browser.gatherUsageStats") + 1] == "false"


def test_the_command_takes_one_source() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--demo", "out", "--stack", "env"])
