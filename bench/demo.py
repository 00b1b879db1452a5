"""The default `autoretrain demo` (90 simulated days): wall time and peak memory, in a subprocess.

The run is the one `make demo` does (`autoretrain demo --out <tmp>` with every default); its wall time is
measured around the subprocess and its peak resident memory is the child's `ru_maxrss`. Target: under two
minutes on 2 cores (the issue's); the demo itself reports how long each part of the replay took in summary.json.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Metric

NAME = "demo"
DESCRIPTION = "autoretrain demo, default 90 days: wall time and peak memory (subprocess)"
TARGET_SECONDS = 120.0


def run() -> list[Metric]:
    """Run the default demo once and measure it."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as directory:
        out = Path(directory) / "out"
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "autoretrain.cli", "demo", "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"the demo failed: {completed.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0  # Linux reports KiB
    run_info = summary["run"]
    detected = sum(1 for event in summary["injected_events"] if event.get("detected"))
    return [
        Metric(
            "wall time",
            elapsed,
            "s",
            target=TARGET_SECONDS,
            higher_is_better=False,
            note=f"{run_info['days']} days, {run_info['predictions']:,} predictions",
        ),
        Metric("peak memory", peak_mib, "MiB", higher_is_better=False, note="ru_maxrss of the demo process"),
        Metric(
            "predictions per second",
            run_info["predictions"] / elapsed,
            "predictions/s",
            note="served, logged, loaded and monitored",
        ),
        Metric(
            "injected events detected",
            float(detected),
            "",
            target=float(len(summary["injected_events"])),
            note="of the scenario's events",
        ),
    ]
