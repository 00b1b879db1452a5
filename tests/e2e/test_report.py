"""The demo's report renders in a real browser (headless Chromium) with every section and plot."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from autoretrain.demo.report import SECTIONS
from tests.e2e.conftest import DemoRun

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]

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
PLOTS = ("volume", "predictions", "feature-drift", "performance", "alerts", "retrains", "releases")


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
