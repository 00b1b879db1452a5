"""The `autoretrain` command: one subcommand per entry point, each a function `main(argv) -> int`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from autoretrain import demo, plan
from batch_jobs import drift_check, release, retrain
from batch_jobs.drift import cli as drift_report

Main = Callable[[Sequence[str] | None], int]

#: Subcommand -> (its `main(argv)`, one-line help).
SUBCOMMANDS: dict[str, tuple[Main, str]] = {
    "demo": (demo.main, "replay production traffic through the whole loop on an embedded emulator"),
    "drift-check": (drift_check.main, "check the champion for drift and decay; request retrains by policy"),
    "drift-report": (drift_report.main, "run the drift suite on two CSV or Parquet files (JSON, optional HTML)"),
    "plan": (plan.main, "list every resource of the Pulumi program, run under mocks (not a preview)"),
    "retrain": (retrain.main, "retrain, gate and release the model (the retrain job)"),
    "rollback": (release.main, "re-release an earlier model version: rollback --to VERSION"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each subcommand parses its own arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the subcommand's `main`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parsed, rest = build_parser().parse_known_args(arguments[:1])
    return SUBCOMMANDS[parsed.command][0](arguments[1:] + rest)


if __name__ == "__main__":
    sys.exit(main())
