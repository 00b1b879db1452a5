"""The demo, run once per session in a subprocess (its emulator speed-ups stay out of the test process)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The shortest timeline that still holds every scenario event (autoretrain.demo.scenario.MIN_DAYS).
E2E_DAYS = 36
E2E_VOLUME = 480
E2E_SEED = 7
#: Hourly alerting keeps the suite within its time budget (each run is a handful of emulator requests: 4,320 fewer
#: runs than at 10 minutes); `make demo` runs production's 10-minute schedule, and the detection tests hold the
#: alert to one interval of whatever schedule ran.
E2E_ALERTING_MINUTES = 60


@dataclass(frozen=True)
class DemoRun:
    """A finished demo run: its output directory, summary.json and terminal output."""

    out: Path
    summary: dict[str, Any]
    stdout: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`autoretrain demo` on the short timeline."""
    out = tmp_path_factory.mktemp("demo")
    completed = subprocess.run(
        [
            sys.executable, "-m", "autoretrain.cli", "demo",
            "--days", str(E2E_DAYS), "--volume", str(E2E_VOLUME), "--seed", str(E2E_SEED), "--out", str(out),
            "--alerting-minutes", str(E2E_ALERTING_MINUTES),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    return DemoRun(out, json.loads((out / "summary.json").read_text()), completed.stdout)
