"""The `autoretrain` command: one subcommand per entry point, each a module with `main(argv) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Subcommand -> (module whose `main(argv)` runs it, one-line help). Modules are imported only when used.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("autoretrain.demo", "replay production traffic through the whole loop on an embedded emulator"),
    "drift-check": ("batch_jobs.drift_check", "check the champion for drift and decay; request retrains by policy"),
    "drift-report": ("batch_jobs.drift.cli", "run the drift suite on two CSV or Parquet files (JSON, optional HTML)"),
    "plan": ("autoretrain.plan", "list every resource of the Pulumi program, run under mocks (not a preview)"),
    "retrain": ("batch_jobs.retrain", "retrain, gate and release the model (the retrain job)"),
    "rollback": ("batch_jobs.release", "re-release an earlier model version: rollback --to VERSION"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each subcommand parses its own arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the subcommand's module."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parsed, rest = build_parser().parse_known_args(arguments[:1])
    module = importlib.import_module(SUBCOMMANDS[parsed.command][0])
    exit_code: int = module.main(arguments[1:] + rest)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
