"""The drift bench's Evidently side: runs inside the separate Evidently venv (`build/bench-venv-evidently`).

Self-contained on purpose (standard library, pandas, numpy and Evidently only): the venv holds neither our
packages nor theirs. Also holds the memory probe both sides use, so it can be imported by `bench.drift`
without Evidently (which is imported only inside the functions that need it).

    speed  --reference R.parquet --current C.parquet
        Reads both files, resets the peak-RSS mark, times `Report([DataDriftPreset()]).run(...)` and prints one
        JSON object: seconds, peak and baseline RSS.
    detect --windows W.parquet [W2.parquet ...] [--verify K]
        For every window of every file (rows with the same `window`; `current` tells reference from current
        rows) prints the verdict of each column and of the dataset as DataDriftPreset decides them (see
        `column_verdicts`); the first K windows of each file also go through the full report, which must agree.
"""

# Evidently and pandas are imported inside the functions that use them: `bench.drift` imports this module
# for its memory probe in a venv without Evidently.
# ruff: noqa: PLC0415

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Columns of a window file that are not features.
WINDOW_COLUMN = "window"
CURRENT_COLUMN = "current"
#: Evidently's default share of drifted columns that makes dataset drift (DataDriftPreset(drift_share=0.5)).
DRIFT_SHARE = 0.5
#: Evidently's drift methods whose score is a p-value (drift when small); the others are distances.
P_VALUE_METHODS = ("p_value",)


def rss_kib() -> int:
    """The process's resident set size now, in KiB (Linux `/proc/self/status`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmRSS line")


def release_free_memory() -> None:
    """Hand memory that loading freed back to the system, so the RSS counts live data only.

    Reading Parquet frees large temporary buffers that the allocators keep (Arrow's pool, glibc's heap); left
    there they would be reused by the computation without raising the RSS, hiding part of its peak.
    """
    gc.collect()
    import pyarrow

    pyarrow.default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def reset_peak_rss() -> int:
    """Release freed memory, reset the kernel's peak-RSS mark to the current RSS and return that RSS in KiB.

    Writing 5 to `/proc/self/clear_refs` resets the high-water mark that `getrusage(RUSAGE_SELF).ru_maxrss`
    reports (Linux ≥ 4.0), so the peak measured afterwards belongs to the computation, not to data loading.
    """
    release_free_memory()
    Path("/proc/self/clear_refs").write_text("5")
    return rss_kib()


def peak_rss_kib() -> int:
    """The peak RSS since the last reset, in KiB."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def split_windows(frame: Any) -> list[tuple[int, Any, Any]]:
    """(window, reference rows, current rows) for every window of a window file, feature columns only."""
    features = [name for name in frame.columns if name not in (WINDOW_COLUMN, CURRENT_COLUMN)]
    windows = []
    for window, rows in frame.groupby(WINDOW_COLUMN, sort=True):
        current = rows[CURRENT_COLUMN].to_numpy(dtype=bool)
        reference_rows = rows.loc[~current, features].reset_index(drop=True)
        current_rows = rows.loc[current, features].reset_index(drop=True)
        windows.append((int(window), reference_rows, current_rows))
    return windows


def is_drift(method: str, score: float, threshold: float) -> bool:
    """Evidently's rule: a p-value drifts below its threshold, a distance at or above it."""
    if any(marker in method for marker in P_VALUE_METHODS):
        return score < threshold
    return score >= threshold


def report_verdicts(snapshot: Mapping[str, Any]) -> tuple[dict[str, bool], int, float]:
    """Per-column verdicts, drifted count and share from a DataDriftPreset snapshot's `dict()`."""
    verdicts: dict[str, bool] = {}
    count, share = -1, -1.0
    for metric in snapshot["metrics"]:
        config = metric["config"]
        kind = str(config["type"]).rsplit(":", 1)[-1]
        if kind == "ValueDrift":
            verdicts[str(config["column"])] = is_drift(
                str(config["method"]), float(metric["value"]), config["threshold"]
            )
        elif kind == "DriftedColumnsCount":
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
    if count < 0:
        raise ValueError("the snapshot holds no DriftedColumnsCount metric")
    return verdicts, count, share


def column_verdicts(reference: Any, current: Any) -> dict[str, bool]:
    """Per-column drift as DataDriftPreset decides it, through Evidently's own statistical-test API.

    The same calls the preset makes per column (`get_stattest` picks the default method for the column's type
    and the sample size; the method's default threshold), without building the report's widgets: about 50×
    faster, so many windows fit in the bench. `detect --verify K` checks it against the full report.
    """
    from evidently.legacy.calculations.stattests.registry import (  # type: ignore[import-not-found,unused-ignore]
        get_stattest,
    )
    from evidently.legacy.core import ColumnType  # type: ignore[import-not-found,unused-ignore]

    verdicts = {}
    for name in reference.columns:
        column_type = ColumnType.Numerical if reference[name].dtype.kind == "f" else ColumnType.Categorical
        # The report tests each column's present values (a NaN would make a numeric column's score NaN: never drift).
        before, after = reference[name].dropna(), current[name].dropna()
        stattest = get_stattest(before, after, column_type, None)
        result = stattest(before, after, column_type, None)
        verdicts[str(name)] = bool(result.drifted)
    return verdicts


def run_report(reference: Any, current: Any) -> dict[str, Any]:
    """Evidently's DataDriftPreset with its defaults, as a plain dict."""
    from evidently import Report  # type: ignore[import-not-found,unused-ignore]
    from evidently.presets import DataDriftPreset  # type: ignore[import-not-found,unused-ignore]

    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    document: dict[str, Any] = snapshot.dict()
    return document


def speed(reference_path: Path, current_path: Path) -> dict[str, Any]:
    """Time DataDriftPreset on two files (reading excluded) and measure its peak RSS above the loaded data."""
    import evidently  # type: ignore[import-not-found,unused-ignore]
    import pandas as pd

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    baseline = reset_peak_rss()
    started = time.perf_counter()
    document = run_report(reference, current)
    seconds = time.perf_counter() - started
    peak = peak_rss_kib()
    _, count, _ = report_verdicts(document)
    return {
        "tool": "evidently",
        "version": evidently.__version__,
        "seconds": seconds,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "rows": len(current),
        "drifted_columns": count,
    }


def detect(windows_paths: Sequence[Path], verify: int) -> dict[str, Any]:
    """Verdicts of every window of every file; the first `verify` windows of each also through the full report."""
    import evidently  # type: ignore[import-not-found,unused-ignore]
    import pandas as pd

    files: dict[str, list[dict[str, Any]]] = {}
    for path in windows_paths:
        results = files.setdefault(str(path), [])
        for window, reference, current in split_windows(pd.read_parquet(path)):
            verdicts = column_verdicts(reference, current)
            share = sum(verdicts.values()) / len(verdicts)
            if window < verify:
                reported, count, reported_share = report_verdicts(run_report(reference, current))
                if reported != verdicts or count != sum(verdicts.values()) or abs(reported_share - share) > 1e-12:
                    raise AssertionError(f"{path} window {window}: stattest verdicts differ from the report")
            results.append({"window": window, "dataset_drift": share >= DRIFT_SHARE, "columns": verdicts})
    return {"tool": "evidently", "version": evidently.__version__, "verified_per_file": verify, "files": files}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run one measurement, print its JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    speed_parser = commands.add_parser("speed")
    speed_parser.add_argument("--reference", type=Path, required=True)
    speed_parser.add_argument("--current", type=Path, required=True)
    detect_parser = commands.add_parser("detect")
    detect_parser.add_argument("--windows", type=Path, nargs="+", required=True)
    detect_parser.add_argument("--verify", type=int, default=0, help="check the first K windows against the report")
    args = parser.parse_args(argv)
    document = speed(args.reference, args.current) if args.command == "speed" else detect(args.windows, args.verify)
    json.dump(document, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
