"""The demo's scenario outcomes, as a person reading the report would check them, and the report itself rendered in
a real browser (headless Chromium). One module, so that one xdist worker (`--dist loadfile`) runs the demo once."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from autoretrain.backtest.cli import main as backtest_main
from autoretrain.backtest.result import COLUMNS
from autoretrain.dashboard.sources import SOURCE_ENV
from autoretrain.dashboard.views import NOT_IN_RUN, PAGES
from autoretrain.demo.report import SECTIONS
from autoretrain.demo.schedule import Schedule
from tests.e2e.conftest import DemoRun

pytestmark = pytest.mark.e2e

DASHBOARD_APP = Path(__file__).resolve().parents[2] / "autoretrain" / "dashboard" / "app.py"


def _event(run: DemoRun, kind: str) -> dict[str, Any]:
    return next(event for event in run.summary["injected_events"] if event["kind"] == kind)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _champion_at(run: DemoRun, moment: datetime) -> str | None:
    deployed = [r for r in run.summary["releases"] if not r["failed"] and _at(r["at"]) <= moment]
    return deployed[-1]["version"] if deployed else None


def test_quiet_period_has_no_drift_alarm_and_no_alert(demo_run: DemoRun) -> None:
    # A drift alarm is the trigger policy's: two consecutive drifting checks turn into a retrain request. (A single
    # drifting check is expected now and then: the suite runs at alpha 0.05 per check.)
    quiet = demo_run.summary["quiet_period"]
    assert quiet["drift_checks"] >= 5
    assert (quiet["drift_alarms"], quiet["alerts"]) == (0, 0)


def test_covariate_shift_is_detected_within_two_daily_checks(demo_run: DemoRun) -> None:
    event = _event(demo_run, "covariate_shift")
    assert event["detected"]
    assert event["checks_until_detection"] <= 2


def test_a_covariate_shift_the_champion_handles_is_reported_as_harmless_and_not_retrained_on(
    demo_run: DemoRun,
) -> None:
    # The scenario's covariate shift moves inputs, not P(churn | x), and the champion's expected AUC does not fall:
    # the drift is found and reported, with its impact, but it is no reason to retrain.
    start, concept = _at(_event(demo_run, "covariate_shift")["at"]), _at(_event(demo_run, "concept_shift")["at"])
    checks = [c for c in demo_run.summary["drift_checks"] if start <= _at(c["at"]) < concept]
    drifting = [c for c in checks if c["verdict"] == "drift"]
    assert drifting
    assert all(c["outcome"] == "harmless_drift" and c["impact"]["verdict"] == "harmless" for c in drifting)
    assert not [r for r in demo_run.summary["retrains"] if r["trigger"] == "drift"]


def test_the_label_free_estimate_brackets_the_realised_auc_under_the_covariate_shift_and_misses_the_concept_shift(
    demo_run: DemoRun,
) -> None:
    by_phase = demo_run.summary["impact"]["tracking"]["by_phase"]
    assert by_phase["covariate_shift"]["days"] >= 5
    assert by_phase["covariate_shift"]["share"] >= 0.9
    assert by_phase["concept_shift"]["share"] < by_phase["covariate_shift"]["share"]


def test_empty_feature_incident_alerts_once_within_one_interval_and_recovers(demo_run: DemoRun) -> None:
    event = _event(demo_run, "empty_feature_incident")
    interval = Schedule.parse(demo_run.summary["run"]["alerting_schedule"]).every
    assert interval is not None
    assert event["detected"]
    # Within one alerting interval of the first affected predictions being served (clients send a batch every few
    # hours: nothing can be seen earlier), and recovered within one of the first clean ones.
    assert _at(event["first_affected_served_at"]) <= _at(event["detected_at"])
    assert _at(event["detected_at"]) - _at(event["first_affected_served_at"]) <= interval
    assert event["firing_notices"] == 1
    assert event["resolved_at"] is not None
    assert _at(event["resolved_at"]) - _at(event["first_clean_served_at"]) <= interval


def test_concept_shift_is_detected_once_labels_mature(demo_run: DemoRun) -> None:
    event = _event(demo_run, "concept_shift")
    delay = timedelta(days=demo_run.summary["run"]["label_delay_days"])
    assert event["detected"]
    assert _at(event["at"]) + delay <= _at(event["detected_at"]) <= _at(event["at"]) + delay + timedelta(days=7)


def test_corrupted_labels_never_reach_the_champion(demo_run: DemoRun) -> None:
    # The operator's retrain after the faulty backfill either trains on the flipped labels and is refused by the
    # gate (the 90-day demo), or is refused by the retrain cap before training (this compressed timeline, where the
    # drift and decay responses used the week's three retrains): either way the champion stays.
    event = _event(demo_run, "corrupted_labels")
    assert event["champion_kept"]
    if event.get("challenger") is not None:
        gate = next(g for g in demo_run.summary["gate_decisions"] if g["version"] == event["challenger"])
        assert gate["passed"] is False
        assert gate["challenger_auc"] < gate["champion_auc"]
    else:
        refused = [r for r in demo_run.summary["retrains"] if r["trigger"] == "on_demand"]
        assert [r["outcome"] for r in refused] == ["refused"]
        assert refused[0]["reasons"][0].startswith("cap reached")


def test_rollback_restores_the_previous_champion(demo_run: DemoRun) -> None:
    event = _event(demo_run, "rollback")
    before = _champion_at(demo_run, _at(event["at"]) - timedelta(minutes=1))
    earlier = [
        r["version"]
        for r in demo_run.summary["releases"]
        if not r["failed"] and r["version"] != before and _at(r["at"]) < _at(event["at"])
    ]
    assert event["detected"]
    assert event["to_version"] == earlier[-1]
    assert event["champion_after"] == event["to_version"]


# --- the report in a real browser ---------------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
PLOTS = (
    "volume",
    "predictions",
    "feature-drift",
    "performance",
    "estimate",
    "estimate-tracking",
    "alerts",
    "retrains",
    "releases",
)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path is not None, "Debian's chromium package is required (make test installs it)"
    return path


def _render(report: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_has_every_section_and_plot_after_rendering(demo_run: DemoRun, tmp_path: Path) -> None:
    rendered = _render(demo_run.out / "report.html", tmp_path / "profile", "--dump-dom")
    dom = rendered.stdout
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    missing_sections = [anchor for anchor, _ in SECTIONS if f'<section id="{anchor}">' not in dom]
    missing_plots = [name for name in PLOTS if not re.search(rf'<svg[^>]*id="plot-{name}"', dom)]
    assert (missing_sections, missing_plots) == ([], [])


def test_report_needs_nothing_from_the_network(demo_run: DemoRun) -> None:
    html = (demo_run.out / "report.html").read_text()
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []


def test_report_screenshot_is_written(demo_run: DemoRun, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    rendered = _render(
        demo_run.out / "report.html", tmp_path / "profile", f"--screenshot={shot}", "--window-size=1040,3800"
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert shot.stat().st_size > 20_000


# --- the backtest of the run's history ----------------------------------------------------------------------

REPLAYS = ("policy", "never", "scheduled", "drift_always", "oracle")


def test_the_backtest_command_replays_the_runs_history(
    demo_run: DemoRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = backtest_main([str(demo_run.out / "history.parquet"), "--out", str(tmp_path)])

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert [line.split()[0] for line in printed.out.strip().splitlines()[2:]] == list(REPLAYS)
    assert (tmp_path / "backtest.html").exists()


def test_the_summary_holds_the_backtest_of_the_run_and_the_decay_figure(demo_run: DemoRun) -> None:
    backtest = demo_run.summary["backtest"]
    assert [replay["name"] for replay in backtest["replays"]] == list(REPLAYS)
    assert backtest["history"]["rows"] == demo_run.summary["run"]["predictions"]
    assert {"regret_vs_never", "regret_at_most_scheduled", "deploys_at_most_half_of_scheduled"} <= set(
        backtest["targets"]
    )
    assert (demo_run.out / "backtest.json").exists()
    assert (demo_run.out / "backtest.html").exists()
    decay = demo_run.summary["decay_response"]
    assert decay["definition"]
    assert len(decay["checks"]) == len(demo_run.summary["drift_checks"])


def test_the_report_compares_every_replay_on_every_column(demo_run: DemoRun) -> None:
    html = (demo_run.out / "report.html").read_text()
    section = html.split('<section id="backtest">')[1].split("</section>")[0]
    assert all(f"{name}</td>" in section for name in REPLAYS)
    assert all(f"<th>{header.format(metric='auc')}</th>" in section for _, header in COLUMNS)
    assert 'id="plot-backtest-daily"' in section
    assert '<section id="decay-response">' in html


def test_after_decay_a_model_of_the_new_regime_serves_within_two_checks_and_recovers_the_auc(
    demo_run: DemoRun,
) -> None:
    # The concept shift's decay starts a recovery: the retrain waits for enough labels of the new regime, then the
    # first challenger trained on it replaces the failing champion within two daily checks of the detection on
    # matured labels, or, where reviewed labels found the decay earlier, at the first check after the retrain
    # stopped waiting for the regime's labels; the week it serves is far better than the week before it.
    detected = _at(_event(demo_run, "concept_shift")["detected_at"])
    shift = _at(_event(demo_run, "concept_shift")["at"])
    recovery = [
        release
        for release in demo_run.summary["releases"]
        if not release["failed"] and release["trigger"] == "performance" and _at(release["at"]) >= shift
    ]
    assert recovery, demo_run.summary["retrains"]
    first = recovery[0]
    rollback = _at(_event(demo_run, "rollback")["at"])
    retrains = [
        r for r in demo_run.summary["retrains"] if r["trigger"] == "performance" and shift <= _at(r["at"]) < rollback
    ]
    waited = [r for r in retrains if r["outcome"] == "refused" and r["reasons"][0].startswith("waiting for labels")]
    bound = max([detected + timedelta(days=2, hours=1), *(_at(r["at"]) + timedelta(days=1, hours=1) for r in waited)])
    assert _at(first["at"]) <= bound
    assert first["auc_week_after"] > first["auc_week_before"] + 0.1
    # Until the operator's rollback, which puts back a model of the old concept and so starts a recovery of its own.
    assert all(_at(r["at"]) < _at(first["at"]) for r in waited)


# --- live evaluation: the control group, the reviewed sample, the shadow period ------------------------------------


def test_clients_keep_their_arm_and_the_control_group_finds_the_effect_the_scenario_has(demo_run: DemoRun) -> None:
    impact = demo_run.summary["business_impact"]
    total = impact["cumulative"]
    assert impact["clients_in_both_arms"] == 0
    assert impact["serving_versions"] > 1  # the arms held across releases
    share = impact["clients"]["control"] / (impact["clients"]["control"] + impact["clients"]["model"])
    assert share == pytest.approx(impact["control_share"], abs=0.03)
    # No action follows a prediction in this scenario (retention uplift 0): the true benefit is 0, and the
    # interval must hold it rather than claim a benefit.
    assert impact["retention_uplift"] == 0
    assert total["sufficient"]
    assert total["difference"]["low"] <= 0 <= total["difference"]["high"]
    assert total["value_saved"]["low"] <= 0 <= total["value_saved"]["high"]
    assert "business impact" in demo_run.stdout
    assert "autoretrain dashboard --demo" in demo_run.stdout


def test_reviewed_labels_give_design_based_estimates_before_labels_mature(demo_run: DemoRun) -> None:
    review = demo_run.summary["review"]
    judged = [check for check in review["checks"] if check["verdict"] in ("decay", "no_decay")]
    assert review["labels_returned"] > 0
    assert review["rows_exported"] >= review["labels_returned"]
    assert judged
    first_judged = _at(judged[0]["at"])
    first_matured = min(_at(c["at"]) for c in demo_run.summary["drift_checks"] if c["matured_auc"])
    assert first_judged < first_matured  # days before retrospective labels
    for check in judged:
        assert check["auc"]["low"] <= check["auc"]["value"] <= check["auc"]["high"]
        assert check["n_reviewed"] >= check["floor"]


#: The triggers whose releases serve in shadow first (batch_jobs.release.SHADOW_TRIGGERS; the demo runs shadows).
SHADOWED_TRIGGERS = ("schedule", "drift", "on_demand")


def test_every_scheduled_drift_or_on_demand_release_served_in_shadow_before_it_was_promoted(demo_run: DemoRun) -> None:
    shadow = demo_run.summary["shadow"] or {"periods": []}
    promoted = {period["challenger"]: period for period in shadow["periods"] if period["decision"] == "promote"}
    for period in shadow["periods"]:
        assert period["decision"] in ("promote", "keep_champion")
        assert period["requests"] >= 1000
        assert _at(period["ended"]) - _at(period["started"]) >= timedelta(days=3)
    for release in demo_run.summary["releases"]:
        if release["trigger"] in SHADOWED_TRIGGERS and not release["failed"]:
            period = promoted[release["version"]]  # no such release went live without a shadow period
            assert _at(release["at"]) >= _at(period["ended"])


# --- the tracking dashboard over this run -------------------------------------------------------------------------


@pytest.mark.parametrize("page", [page.slug for page in PAGES])
def test_every_dashboard_page_draws_over_the_runs_output(
    demo_run: DemoRun, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SOURCE_ENV, f"demo:{demo_run.out}")
    app = AppTest.from_file(str(DASHBOARD_APP), default_timeout=120)
    app.query_params["page"] = page
    app.run()
    assert not app.exception
    assert app.get("vega_lite_chart")
    missing = [info.value for info in app.info if NOT_IN_RUN in info.value]
    # Every section the dashboard shows is in this run but the shadow periods, which a 36-day run may not have.
    assert all("shadow" in text.lower() for text in missing), missing
