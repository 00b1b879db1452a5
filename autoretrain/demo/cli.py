"""`autoretrain demo [--days N] [--seed S] [--volume V] [--alerting-minutes M] [--out DIR]`: replay, then backtest the
replay's history, then write the report and the summary.

Writes `DIR/report.html` (self-contained), `DIR/summary.json`, `DIR/demo.log` (the components' warnings),
`DIR/history.parquet` (every served prediction with its label as finally known, read back from the demo's lake:
`autoretrain backtest DIR/history.parquet` replays it) and the backtest of that history with the demo's settings,
`DIR/backtest.json` and `DIR/backtest.html`; shows a progress bar on stderr and prints a short summary on stdout.
Exit code 0 when the replay ran to the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoretrain.backtest import BacktestResult, HistoryError, run_backtest
from autoretrain.backtest.io import HTML_FILE, JSON_FILE, write_outputs
from autoretrain.demo.history import (
    HISTORY_FILE,
    backtest_section,
    decay_response,
    demo_deploys,
    demo_settings,
    write_history,
)
from autoretrain.demo.progress import ProgressBar
from autoretrain.demo.report import render_report
from autoretrain.demo.runner import DemoConfig, DemoLog, DemoRunner
from autoretrain.demo.summary import build_summary, terminal_summary
from autoretrain.synthetic import FEATURES

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
LOG_FILE = "demo.log"


#: The demo's default alerting interval: production's.
ALERTING_MINUTES = 10


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
    parser.add_argument(
        "--retention-uplift",
        type=float,
        default=defaults.retention_uplift,
        help="share of the churners a positive answer of the model retains (default 0: no action follows a "
        "prediction); above 0 the control group measures the benefit, and the labels monitoring learns from change",
    )
    parser.add_argument(
        "--alerting-minutes",
        type=int,
        default=ALERTING_MINUTES,
        help=f"the alerting schedule's interval, a multiple of 5 (default {ALERTING_MINUTES}, as deployed)",
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
    if progress is not None:
        progress.update(config.days, "backtesting the run's history")
    result, sections = replay_history(config, log, out)
    summary = build_summary(config, runner.scenario, log, wall_seconds=time.perf_counter() - started, **sections)
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    (out / REPORT_FILE).write_text(render_report(runner.scenario, summary, log, FEATURES, backtest=result))
    return summary


def replay_history(
    config: DemoConfig, log: DemoLog, out: Path
) -> tuple[BacktestResult | None, dict[str, dict[str, Any] | None]]:
    """Write the run's history, backtest it with the demo's settings (`backtest.json`, `backtest.html` beside the
    report) and measure the decay target on the run; the result and summary.json's `backtest` and `decay_response`
    sections (a history that cannot be replayed is reported, not raised)."""
    write_history(log.history, out / HISTORY_FILE)
    started = time.perf_counter()
    try:
        result = run_backtest(log.history, demo_settings(config.label_delay_days, config.decision_threshold))
    except HistoryError as error:
        return None, {"backtest": {"error": str(error)}, "decay_response": None}
    write_outputs(result, out)
    files = {"history": HISTORY_FILE, "json": JSON_FILE, "html": HTML_FILE}
    backtest = backtest_section(result, wall_seconds=time.perf_counter() - started, files=files)
    decay = decay_response(
        log.history, result, log.drift_checks, log.events, label_delay_days=config.label_delay_days
    ) | {"demo_deploys": demo_deploys(log.deploys)}
    return result, {"backtest": backtest, "decay_response": decay}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when it ran to the end."""
    arguments = build_parser().parse_args(argv)
    if arguments.alerting_minutes < 5 or arguments.alerting_minutes % 5:
        raise SystemExit(f"--alerting-minutes must be a positive multiple of 5, got {arguments.alerting_minutes}")
    if not 0.0 <= arguments.retention_uplift <= 1.0:
        raise SystemExit(f"--retention-uplift must be in [0, 1], got {arguments.retention_uplift}")
    config = DemoConfig(
        days=arguments.days,
        seed=arguments.seed,
        daily_volume=arguments.volume,
        alerting_schedule=f"rate({arguments.alerting_minutes} minutes)",
        retention_uplift=arguments.retention_uplift,
    )
    progress = ProgressBar(config.days)
    try:
        summary = run_demo(config, arguments.out, progress=progress)
    finally:
        progress.close()
    print(terminal_summary(summary, str(arguments.out / REPORT_FILE)))
    print(f"  dashboard: .venv/bin/autoretrain dashboard --demo {arguments.out} (then open the URL it prints)")
    return 0
