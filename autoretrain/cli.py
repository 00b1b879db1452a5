"""The `autoretrain` command: one subcommand per entry point, each a function `main(argv) -> int`.

Each subcommand imports its own module when it runs: `autoretrain --help` or `rollback` must not load the demo,
the Pulumi SDK or the numeric stack (importing everything up front takes seconds and hundreds of MB). The imports
are ordinary statements, so import-linter sees them; they only go down the layers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Main = Callable[[Sequence[str] | None], int]


# ruff: noqa: PLC0415 - deferred on purpose, see the module docstring
def _backtest(argv: Sequence[str] | None) -> int:
    from autoretrain.backtest import cli

    return cli.main(argv)


def _cost(argv: Sequence[str] | None) -> int:
    from autoretrain.cost import cli

    return cli.main(argv)


def _dashboard(argv: Sequence[str] | None) -> int:
    from autoretrain.dashboard import cli

    return cli.main(argv)


def _demo(argv: Sequence[str] | None) -> int:
    from autoretrain import demo

    return demo.main(argv)


def _drift_check(argv: Sequence[str] | None) -> int:
    from batch_jobs import drift_check

    return drift_check.main(argv)


def _drift_report(argv: Sequence[str] | None) -> int:
    from batch_jobs.drift import cli

    return cli.main(argv)


def _plan(argv: Sequence[str] | None) -> int:
    from autoretrain import plan

    return plan.main(argv)


def _retrain(argv: Sequence[str] | None) -> int:
    from batch_jobs import retrain

    return retrain.main(argv)


def _rollback(argv: Sequence[str] | None) -> int:
    from batch_jobs import release

    return release.main(argv)


def _sensitivity(argv: Sequence[str] | None) -> int:
    from autoretrain import sensitivity

    return sensitivity.main(argv)


#: Subcommand -> (what runs it, one-line help).
SUBCOMMANDS: dict[str, tuple[Main, str]] = {
    "backtest": (_backtest, "replay a retraining policy over a history beside never/scheduled/drift-always/oracle"),
    "cost": (_cost, "the monthly AWS cost per service at N predictions a day, from usage measured on the emulator"),
    "dashboard": (_dashboard, "the tracking dashboard (Streamlit) over a demo's output or a deployed stack"),
    "demo": (_demo, "replay production traffic through the whole loop on an embedded emulator"),
    "drift-check": (_drift_check, "check the champion for drift and decay; request retrains by policy"),
    "drift-report": (_drift_report, "run the drift suite on two CSV or Parquet files (JSON, optional HTML)"),
    "plan": (_plan, "list every resource of the Pulumi program, run under mocks (not a preview)"),
    "retrain": (_retrain, "retrain, gate and release the model (the retrain job)"),
    "rollback": (_rollback, "re-release an earlier model version: rollback --to VERSION"),
    "sensitivity": (_sensitivity, "what shifting each feature costs a released model in AUC, labels held fixed"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; each subcommand parses its own arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain", description=__doc__.split("\n\n")[0])
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
