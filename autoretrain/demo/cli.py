"""`autoretrain demo [--days N] [--seed S] [--out DIR]`: replay, then write the report and the summary.

Writes `DIR/report.html` (self-contained), `DIR/summary.json` and `DIR/demo.log` (the components' warnings), shows
a progress bar on stderr and prints a short summary on stdout. Exit code 0 when the replay ran to the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from autoretrain.demo.progress import ProgressBar
from autoretrain.demo.report import render_report
from autoretrain.demo.runner import DemoConfig, DemoRunner
from autoretrain.demo.summary import build_summary, terminal_summary
from autoretrain.synthetic import FEATURES

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
LOG_FILE = "demo.log"


def build_parser() -> argparse.ArgumentParser:
    """The demo's arguments."""
    defaults = DemoConfig()
    parser = argparse.ArgumentParser(prog="autoretrain demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=defaults.days, help=f"simulated days (default {defaults.days})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output directory (default demo-output)")
    parser.add_argument(
        "--volume",
        type=int,
        default=defaults.daily_volume,
        help=f"predictions a day on average (default {defaults.daily_volume})",
    )
    return parser


def run_demo(config: DemoConfig, out: Path, *, progress: ProgressBar | None = None) -> dict[str, object]:
    """Replay `config` and write the report, the summary and the log into `out`; return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(out / LOG_FILE, mode="w")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.setLevel(logging.WARNING)
    previous_level = root.level
    root.addHandler(handler)  # the jobs' logging.basicConfig then adds nothing: their output goes to the log file
    root.setLevel(logging.WARNING)
    started = time.perf_counter()
    try:
        runner = DemoRunner(config, out, progress)
        log = runner.run()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
    summary = build_summary(config, runner.scenario, log, wall_seconds=time.perf_counter() - started)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    (out / REPORT_FILE).write_text(render_report(runner.scenario, summary, log, FEATURES))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when it ran to the end."""
    arguments = build_parser().parse_args(argv)
    config = DemoConfig(days=arguments.days, seed=arguments.seed, daily_volume=arguments.volume)
    progress = ProgressBar(config.days)
    try:
        summary = run_demo(config, arguments.out, progress=progress)
    finally:
        progress.close()
    print(terminal_summary(summary, str(arguments.out / REPORT_FILE)))
    return 0
