"""Run the benchmark entries, print a table and write JSON to bench/results/.

An entry is a module with `NAME: str`, `DESCRIPTION: str` and `run() -> list[Metric]`; add it to `ENTRIES`.
Exit code 1 when a metric misses its target.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from bench import Metric

#: Entry name -> module. Entries are imported only when run.
ENTRIES: dict[str, str] = {
    "etl": "bench.etl",
    "ingest": "bench.ingest",
    "demo": "bench.demo",
    "drift": "bench.drift",
    "impact": "bench.impact",
    "lake": "bench.lake",
    "serving": "bench.serving",
}
RESULTS = Path(__file__).resolve().parent / "results"


def _format(metric: Metric) -> list[str]:
    value = f"{metric.value:,.3f}" if abs(metric.value) < 100 else f"{metric.value:,.0f}"
    if metric.target is None:
        target, verdict = "", ""
    else:
        target = f"{'>=' if metric.higher_is_better else '<'} {metric.target:,g}"
        verdict = "ok" if metric.passed else "MISSED"
    return [metric.name, f"{value} {metric.unit}".strip(), target, verdict, metric.note]


def _table(rows: list[list[str]]) -> str:
    header = ["metric", "value", "target", "", "note"]
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen entries (all by default)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", choices=sorted(ENTRIES), action="append", help="run only this entry (repeatable)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON results")
    args = parser.parse_args(argv)
    names = args.only or list(ENTRIES)
    args.out.mkdir(parents=True, exist_ok=True)
    missed = False
    for name in names:
        module = importlib.import_module(ENTRIES[name])
        print(f"== {name}: {module.DESCRIPTION}", flush=True)
        started = time.perf_counter()
        metrics: list[Metric] = module.run()
        elapsed = time.perf_counter() - started
        print(_table([_format(metric) for metric in metrics]))
        print(f"({elapsed:.1f} s)\n")
        missed |= any(metric.passed is False for metric in metrics)
        document = {
            "entry": name,
            "description": module.DESCRIPTION,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "metrics": [{**asdict(metric), "passed": metric.passed} for metric in metrics],
        }
        (args.out / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
