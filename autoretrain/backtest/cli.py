"""`autoretrain backtest HISTORY [--policy FILE] [--out DIR] [--model NAME] [--workers N]`

Replays the monitoring-and-retraining policy over HISTORY beside three baselines (never retrain, retrain on a
schedule and always deploy, retrain on every drift or decay verdict and always deploy) and a hindsight oracle, with
the project's own drift suite, trigger policy, retraining, gate and model spec, all in memory (no AWS).

HISTORY: a `.csv` or `.parquet` file with one row per prediction — a `timestamp` column, the features, the label
(`churned` by default) and optionally `label_arrived_at` (else a label arrives `label_delay_days` after its
prediction) and `true_label` (scores the replay where the received labels are wrong); the serving columns
`request_id`, `model_version`, `score`, `predicted_label` and `label_observed_at` are kept but never features (the
demo's `history.parquet` has them) — or a lake directory laid out like `core.lake` (`--model` names the model when
it holds several). `--policy`: a `.json` or `.toml` file of settings
(`autoretrain.backtest.settings.settings_from_mapping`); the project's defaults otherwise.

Prints the summary table on stdout and writes `backtest.json` and a self-contained `backtest.html` to `--out`
(`./backtest-out`). Exit 0 when the backtest ran; 2 with a one-line message on stderr on a bad history or policy file.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from autoretrain.backtest.data import HistoryError
from autoretrain.backtest.engine import run_backtest
from autoretrain.backtest.io import load_history, load_policy_file, write_outputs
from autoretrain.backtest.settings import BacktestSettings, SettingsError

DEFAULT_OUT = Path("backtest-out")


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain backtest", description=__doc__.split("\n\n")[1])
    parser.add_argument("history", type=Path, help="CSV or Parquet file of predictions and labels, or a lake directory")
    parser.add_argument(
        "--policy", type=Path, help="JSON or TOML file of the policy's settings (default: the project's)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where backtest.json and backtest.html go")
    parser.add_argument("--model", help="the model to read from a lake that holds several")
    parser.add_argument("--workers", type=int, help="processes to use (default: every CPU available)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command (module docstring)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        settings = BacktestSettings() if args.policy is None else load_policy_file(args.policy)
        if args.workers is not None:
            settings = dataclasses.replace(settings, workers=args.workers)
        history = load_history(args.history, settings, model=args.model)
        result = run_backtest(history, settings)
    except (SettingsError, HistoryError) as error:
        print(f"autoretrain backtest: {error}", file=sys.stderr)
        return 2
    print(result.table())
    json_path, html_path = write_outputs(result, args.out)
    print(f"wrote {json_path} and {html_path} ({result.timings['total']:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
