"""`autoretrain dashboard --screenshots` in a real headless Chromium over a small demo-like directory: one PNG per
page, none blank, each taken once the page's charts were drawn."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autoretrain.dashboard.browser import distinct_colours
from autoretrain.dashboard.cli import MIN_COLOURS, main
from autoretrain.dashboard.sample import write_sample
from autoretrain.dashboard.views import PAGES

pytestmark = pytest.mark.integration

#: Charts each page draws over the full sample (as the app test counts them).
CHARTS = {"business": 3, "performance": 2, "shift": 3, "operations": 1, "backtest": 1}
_LINE = re.compile(r"^(?P<slug>[a-z]+): (?P<path>\S+\.png) \((?P<charts>\d+) charts, (?P<colours>\d+) colours\)$")


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path is not None, "Debian's chromium package is required (make test installs it)"
    return path


def test_every_page_is_screenshotted_with_its_charts_drawn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = write_sample(tmp_path / "out")
    shots = tmp_path / "shots"

    code = main(["--demo", str(demo), "--screenshots", str(shots), "--chromium", _chromium()])

    assert code == 0, capsys.readouterr().err
    lines = [_LINE.match(line) for line in capsys.readouterr().out.splitlines()]
    printed = {match["slug"]: match for match in lines if match}
    assert list(printed) == [page.slug for page in PAGES]
    for slug, match in printed.items():
        path = Path(match["path"])
        assert path == shots / f"{slug}.png"
        assert path.read_bytes().startswith(b"\x89PNG")
        assert int(match["charts"]) >= CHARTS[slug]
        assert distinct_colours(path) >= MIN_COLOURS
