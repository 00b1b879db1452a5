"""Our drift suite against Evidently's DataDriftPreset on the same data, in one run.

Data: 20 numeric and 5 categorical columns from a fixed seed (`generate`): normal and log-normal numbers, one
pair (`num_00`, `num_01`) correlated +0.6, categories with 3–12 levels. Every file is written once as Parquet
and read by both sides; reading is excluded from every timing (both sides read, then start the clock).

Speed and memory: reference and current of the same size (100,000 and 1,000,000 rows each), no drift. Each
tool runs once per size in a fresh subprocess of its own venv (ours: the project's `.venv`; Evidently:
`build/bench-venv-evidently`, created from the hashed `bench/requirements-evidently.txt` when absent or stale).
- time: `time.perf_counter()` around the computation. Ours = `ReferenceProfiler().fit(reference)` +
  `DriftSuite().run(profile, current)` (the profile is normally built once at training time; "run only" is
  reported too); Evidently = `Report([DataDriftPreset()]).run(current_data=..., reference_data=...)`.
- memory: after imports and data load the subprocess resets the kernel's peak-RSS mark
  (`/proc/self/clear_refs`) and notes its RSS; the figure is `getrusage(RUSAGE_SELF).ru_maxrss` after the
  computation minus that RSS: the extra memory the computation needed on top of the loaded data.

Detection: `WINDOWS` independent windows per scenario, each a fresh 5,000-row reference and a 5,000-row current
sample; the scenario's change is applied to the current sample only:
1. no drift; 2./3. mean of `num_02` shifted by 0.1 / 0.2 of its sd; 4. `num_02` rescaled ×1.05 around its
mean (spread +5 %, mean unchanged); 5. `cat_0`'s most frequent category 40 % → 45 % (the others shrink in
proportion); 6. the correlation of `num_00` and `num_01` flipped from +0.6 to −0.6, each marginal still N(0, 1).
Ours: `dataset_drift`, the shifted column's `drift` flag (scenario 6: the domain classifier's verdict).
Evidently: the shifted column's verdict (scenario 1: any column; scenario 6: either column of the pair) and its
dataset drift (share of drifted columns ≥ 0.5, its default), computed with Evidently's own per-column
statistical tests (the preset's default method and threshold per column) and checked against the full report
on the first `VERIFY` window of every scenario. Detection is not timed: its jobs share the two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import Metric
from bench.drift_evidently_worker import CURRENT_COLUMN, WINDOW_COLUMN, peak_rss_kib, reset_peak_rss, split_windows

NAME = "drift"
DESCRIPTION = "drift suite vs Evidently DataDriftPreset: speed, peak memory, false alarms and detection"

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "bench" / "requirements-evidently.txt"
WORKER = ROOT / "bench" / "drift_evidently_worker.py"
#: Under build/ so that ruff and mypy (which exclude build/) never look at the packages' files.
VENV = ROOT / "build" / "bench-venv-evidently"
STAMP = VENV / ".requirements-sha256"

SEED = 20261123
SPEED_ROWS = (100_000, 1_000_000)
SPEED_TARGET_ROWS = 1_000_000
SPEED_TARGET = 20.0
WINDOW_ROWS = 5_000
WINDOWS = 50
VERIFY = 1
DETECTION_PROCESSES = 2
FALSE_ALARM_TARGET = 0.05

NUMERIC = tuple(f"num_{index:02d}" for index in range(20))
#: Columns drawn log-normal (the rest are normal); the changed ones are normal so "sd" is plain.
LOG_NORMAL = frozenset({"num_05", "num_08", "num_11", "num_14", "num_17"})
PAIR = ("num_00", "num_01")
PAIR_CORRELATION = 0.6
SHIFTED_NUMERIC = "num_02"
SHIFTED_CATEGORY = "cat_0"
CATEGORY_SHIFT = 0.05
CATEGORIES: dict[str, tuple[float, ...]] = {
    "cat_0": (0.40, 0.25, 0.15, 0.10, 0.06, 0.04),
    "cat_1": (0.5, 0.3, 0.2),
    "cat_2": (0.35, 0.25, 0.2, 0.12, 0.08),
    "cat_3": (0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.06, 0.04),
    "cat_4": (0.2, 0.15, 0.12, 0.1, 0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.02, 0.02),
}
FEATURES = (*NUMERIC, *CATEGORIES)


class Scenario(StrEnum):
    """The change applied to the current sample."""

    NO_DRIFT = "no_drift"
    MEAN_SHIFT_01 = "mean_shift_0.1sd"
    MEAN_SHIFT_02 = "mean_shift_0.2sd"
    RESCALE = "rescale_1.05"
    CATEGORY_SHIFT = "category_+5pp"
    JOINT = "correlation_flip"


TITLES: dict[Scenario, str] = {
    Scenario.NO_DRIFT: "1. no drift (false alarms)",
    Scenario.MEAN_SHIFT_01: "2. mean shift 0.1 sd (`num_02`)",
    Scenario.MEAN_SHIFT_02: "3. mean shift 0.2 sd (`num_02`)",
    Scenario.RESCALE: "4. ×1.05 around the mean (`num_02`)",
    Scenario.CATEGORY_SHIFT: "5. +5 pp in one category (`cat_0`)",
    Scenario.JOINT: "6. correlation +0.6 → −0.6, marginals kept",
}
#: The columns a scenario changes (no drift: none, so "any column" is the false-alarm measure).
CHANGED: dict[Scenario, tuple[str, ...]] = {
    Scenario.NO_DRIFT: (),
    Scenario.MEAN_SHIFT_01: (SHIFTED_NUMERIC,),
    Scenario.MEAN_SHIFT_02: (SHIFTED_NUMERIC,),
    Scenario.RESCALE: (SHIFTED_NUMERIC,),
    Scenario.CATEGORY_SHIFT: (SHIFTED_CATEGORY,),
    Scenario.JOINT: PAIR,
}


def _numeric_shape(name: str) -> tuple[float, float]:
    """(location, scale) of a normal column; the pair is standard normal so its marginals read as N(0, 1)."""
    if name in PAIR:
        return 0.0, 1.0
    index = int(name.removeprefix("num_"))
    return 5.0 * index, 1.0 + 0.5 * index


def shifted_probabilities(probabilities: Sequence[float], shift: float = CATEGORY_SHIFT) -> tuple[float, ...]:
    """The first category gains `shift` (absolute); the others shrink in proportion so the total stays 1."""
    first, rest = probabilities[0], np.asarray(probabilities[1:], dtype=np.float64)
    rest = rest * (1.0 - first - shift) / (1.0 - first)
    return (first + shift, *(float(value) for value in rest))


def generate(n_rows: int, rng: np.random.Generator, scenario: Scenario = Scenario.NO_DRIFT) -> pd.DataFrame:
    """`n_rows` rows of the bench's columns, with `scenario`'s change applied (vectorised, deterministic)."""
    z = rng.standard_normal((n_rows, len(NUMERIC)))
    correlation = -PAIR_CORRELATION if scenario is Scenario.JOINT else PAIR_CORRELATION
    z[:, 1] = correlation * z[:, 0] + math.sqrt(1.0 - correlation**2) * z[:, 1]
    shifted = NUMERIC.index(SHIFTED_NUMERIC)
    if scenario is Scenario.MEAN_SHIFT_01:
        z[:, shifted] += 0.1
    elif scenario is Scenario.MEAN_SHIFT_02:
        z[:, shifted] += 0.2
    elif scenario is Scenario.RESCALE:
        z[:, shifted] *= 1.05  # z has mean 0: the column is rescaled around its mean
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERIC):
        if name in LOG_NORMAL:
            columns[name] = np.exp(1.0 + 0.5 * z[:, index])
        else:
            location, scale = _numeric_shape(name)
            columns[name] = location + scale * z[:, index]
    uniform = rng.random((n_rows, len(CATEGORIES)))
    for index, (name, base) in enumerate(CATEGORIES.items()):
        changed = scenario is Scenario.CATEGORY_SHIFT and name == SHIFTED_CATEGORY
        probabilities = shifted_probabilities(base) if changed else base
        cumulative = np.cumsum(probabilities)
        codes = np.minimum(np.searchsorted(cumulative, uniform[:, index], side="right"), len(probabilities) - 1)
        labels = np.array([f"{name}_v{level}" for level in range(len(probabilities))], dtype=object)
        columns[name] = labels[codes]
    return pd.DataFrame(columns)


def window_frame(scenario: Scenario, windows: int, rows: int, seed: int) -> pd.DataFrame:
    """`windows` independent (reference, current) pairs of `rows` rows each, stacked with window/current columns."""
    rng = np.random.default_rng([seed, list(Scenario).index(scenario)])
    reference = generate(windows * rows, rng)
    current = generate(windows * rows, rng, scenario)
    window = np.repeat(np.arange(windows, dtype=np.int32), rows)
    reference.insert(0, CURRENT_COLUMN, False)
    current.insert(0, CURRENT_COLUMN, True)
    reference.insert(0, WINDOW_COLUMN, window)
    current.insert(0, WINDOW_COLUMN, window)
    return pd.concat([reference, current], ignore_index=True)


# --- rates and tables -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rates:
    """Share of windows flagged, for one scenario."""

    scenario: Scenario
    windows: int
    ours_dataset: float
    ours_detection: float
    evidently_column: float
    evidently_dataset: float


def flagged(windows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[bool]:
    """Per window: did any of `columns` drift (every column when `columns` is empty)?"""
    return [
        any(verdict for name, verdict in window["columns"].items() if not columns or name in columns)
        for window in windows
    ]


def rate(flags: Sequence[bool]) -> float:
    """The share of true flags; raises ValueError when there are none to count."""
    if not flags:
        raise ValueError("no windows to count")
    return sum(flags) / len(flags)


def scenario_rates(scenario: Scenario, ours: Sequence[Mapping[str, Any]], theirs: Sequence[Mapping[str, Any]]) -> Rates:
    """Rates of one scenario from both sides' per-window verdicts (same windows, same order)."""
    if [w["window"] for w in ours] != [w["window"] for w in theirs]:
        raise ValueError(f"{scenario}: the two sides report different windows")
    columns = CHANGED[scenario]
    if scenario is Scenario.JOINT:
        ours_detection = [bool(window["domain"]) for window in ours]
    else:
        ours_detection = flagged(ours, columns)
    return Rates(
        scenario=scenario,
        windows=len(ours),
        ours_dataset=rate([bool(window["dataset_drift"]) for window in ours]),
        ours_detection=rate(ours_detection),
        evidently_column=rate(flagged(theirs, columns)),
        evidently_dataset=rate([bool(window["dataset_drift"]) for window in theirs]),
    )


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table (first column left-aligned, the others right-aligned)."""
    align = [":---", *["---:"] * (len(header) - 1)]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def detection_table(rates: Sequence[Rates]) -> str:
    """The detection table for the README."""
    header = [
        "scenario (5,000 vs 5,000 rows)",
        "ours: dataset drift",
        "ours: changed column*",
        "Evidently: changed column*",
        "Evidently: dataset drift",
    ]
    rows = [
        [
            TITLES[item.scenario],
            _percent(item.ours_dataset),
            _percent(item.ours_detection),
            _percent(item.evidently_column),
            _percent(item.evidently_dataset),
        ]
        for item in rates
    ]
    return markdown_table(header, rows)


@dataclass(frozen=True, slots=True)
class SpeedResult:
    """One size: both tools' time and peak memory above the loaded data."""

    rows: int
    ours_fit_s: float
    ours_run_s: float
    ours_peak_mib: float
    evidently_s: float
    evidently_peak_mib: float

    @property
    def ours_s(self) -> float:
        """Profile + run."""
        return self.ours_fit_s + self.ours_run_s

    @property
    def speedup(self) -> float:
        """Evidently time / ours (profile + run)."""
        return self.evidently_s / self.ours_s

    @property
    def memory_ratio(self) -> float:
        """Ours peak memory / Evidently's."""
        return self.ours_peak_mib / self.evidently_peak_mib


def speed_table(results: Sequence[SpeedResult]) -> str:
    """The speed and memory table for the README."""
    header = [
        "rows (reference = current)",
        "ours: profile + run",
        "ours: run only",
        "Evidently DataDriftPreset",
        "speed-up",
        "ours: peak memory",
        "Evidently: peak memory",
        "memory ours / Evidently",
    ]
    rows = [
        [
            f"{item.rows:,}",
            f"{item.ours_s:.2f} s",
            f"{item.ours_run_s:.2f} s",
            f"{item.evidently_s:.1f} s",
            f"{item.speedup:.0f}×",
            f"{item.ours_peak_mib:,.0f} MiB",
            f"{item.evidently_peak_mib:,.0f} MiB",
            f"{item.memory_ratio:.2f}",
        ]
        for item in results
    ]
    return markdown_table(header, rows)


# --- our side's subprocess --------------------------------------------------------------------------------------


def _our_speed(reference_path: Path, current_path: Path) -> dict[str, Any]:
    from batch_jobs.drift import DriftSuite, ReferenceProfiler  # noqa: PLC0415 - imported before the clock starts

    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    baseline = reset_peak_rss()
    started = time.perf_counter()
    profile = ReferenceProfiler().fit(reference).profile_
    fitted = time.perf_counter()
    result = DriftSuite().run(profile, current)
    finished = time.perf_counter()
    return {
        "tool": "ours",
        "fit_seconds": fitted - started,
        "run_seconds": finished - fitted,
        "baseline_kib": baseline,
        "peak_kib": peak_rss_kib(),
        "rows": len(current),
        "drifted_columns": len(result.drifted_features),
    }


def _our_detect(windows_path: Path) -> dict[str, Any]:
    from batch_jobs.drift import DriftSuite, ReferenceProfiler  # noqa: PLC0415 - kept out of `bench` imports

    suite = DriftSuite()
    results = []
    for window, reference, current in split_windows(pd.read_parquet(windows_path)):
        result = suite.run(ReferenceProfiler().fit(reference).profile_, current)
        results.append(
            {
                "window": window,
                "dataset_drift": result.dataset_drift,
                "columns": {feature.name: feature.drift for feature in result.features},
                "domain": result.multivariate.drift if result.multivariate is not None else None,
            }
        )
    return {"tool": "ours", "windows": results}


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Our side's subprocess (`python -m bench.drift speed|detect ...`): same protocol as the Evidently worker."""
    parser = argparse.ArgumentParser(prog="python -m bench.drift")
    commands = parser.add_subparsers(dest="command", required=True)
    speed_parser = commands.add_parser("speed")
    speed_parser.add_argument("--reference", type=Path, required=True)
    speed_parser.add_argument("--current", type=Path, required=True)
    detect_parser = commands.add_parser("detect")
    detect_parser.add_argument("--windows", type=Path, required=True)
    args = parser.parse_args(argv)
    document = _our_speed(args.reference, args.current) if args.command == "speed" else _our_detect(args.windows)
    json.dump(document, sys.stdout)
    sys.stdout.write("\n")
    return 0


# --- orchestration ----------------------------------------------------------------------------------------------


def requirements_digest(path: Path = REQUIREMENTS) -> str:
    """SHA-256 of the hashed requirements: the venv's stamp."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_venv() -> tuple[Path, float, bool]:
    """Evidently's venv (python path, seconds spent, created?): reused when its stamp matches the requirements."""
    python = VENV / "bin" / "python"
    digest = requirements_digest()
    if python.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return python, 0.0, False
    started = time.perf_counter()
    print(f"   creating {VENV.relative_to(ROOT)} from {REQUIREMENTS.relative_to(ROOT)} ...", flush=True)
    base_python = getattr(sys, "_base_executable", sys.executable)  # the interpreter .venv was made from (3.11)
    subprocess.run([base_python, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(REQUIREMENTS)],
        check=True,
    )
    STAMP.write_text(digest + "\n")
    return python, time.perf_counter() - started, True


def _json_from(command: Sequence[str]) -> dict[str, Any]:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{completed.stderr[-4000:]}")
    document: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return document


def _ours_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.drift", *args]


def _measure_speed(evidently: Path, scratch: Path) -> tuple[list[SpeedResult], str]:
    results = []
    version = ""
    for rows in SPEED_ROWS:
        rng = np.random.default_rng([SEED, rows])
        reference_path, current_path = scratch / f"reference-{rows}.parquet", scratch / f"current-{rows}.parquet"
        generate(rows, rng).to_parquet(reference_path, index=False)
        generate(rows, rng).to_parquet(current_path, index=False)
        files = ["--reference", str(reference_path), "--current", str(current_path)]
        ours = _json_from(_ours_command("speed", *files))
        theirs = _json_from([str(evidently), "-I", str(WORKER), "speed", *files])
        version = str(theirs["version"])
        results.append(
            SpeedResult(
                rows=rows,
                ours_fit_s=float(ours["fit_seconds"]),
                ours_run_s=float(ours["run_seconds"]),
                ours_peak_mib=(ours["peak_kib"] - ours["baseline_kib"]) / 1024,
                evidently_s=float(theirs["seconds"]),
                evidently_peak_mib=(theirs["peak_kib"] - theirs["baseline_kib"]) / 1024,
            )
        )
        print(
            f"   {rows:,} rows: ours {results[-1].ours_s:.2f} s, Evidently {results[-1].evidently_s:.1f} s", flush=True
        )
    return results, version


def _measure_detection(evidently: Path, scratch: Path) -> list[Rates]:
    paths = {scenario: scratch / f"windows-{scenario}.parquet" for scenario in Scenario}
    for scenario, path in paths.items():
        window_frame(scenario, WINDOWS, WINDOW_ROWS, SEED).to_parquet(path, index=False)
    jobs: dict[Scenario | None, list[str]] = {
        scenario: _ours_command("detect", "--windows", str(path)) for scenario, path in paths.items()
    }
    # Evidently imports in ~10 s, so one process handles every scenario.
    windows = [str(path) for path in paths.values()]
    jobs[None] = [str(evidently), "-I", str(WORKER), "detect", "--windows", *windows, "--verify", str(VERIFY)]
    # Detection is not timed, so the jobs share the two cores; the longest (ours, joint change; Evidently) first.
    order: list[Scenario | None] = [Scenario.JOINT, None, *(s for s in Scenario if s is not Scenario.JOINT)]
    with ThreadPoolExecutor(max_workers=DETECTION_PROCESSES) as pool:
        futures = {job: pool.submit(_json_from, jobs[job]) for job in order}
        documents = {job: future.result() for job, future in futures.items()}
    theirs = documents[None]["files"]
    rates = []
    for scenario, path in paths.items():
        rates.append(scenario_rates(scenario, documents[scenario]["windows"], theirs[str(path)]))
        item = rates[-1]
        print(
            f"   {scenario}: ours {_percent(item.ours_detection)} (dataset {_percent(item.ours_dataset)}), "
            f"Evidently {_percent(item.evidently_column)} (dataset {_percent(item.evidently_dataset)})",
            flush=True,
        )
    return rates


def metrics(speed: Sequence[SpeedResult], rates: Sequence[Rates], version: str, venv_s: float) -> list[Metric]:
    """The bench's figures and targets."""
    found: list[Metric] = [Metric("Evidently venv setup", venv_s, "s", note=f"evidently=={version}")]
    for item in speed:
        size = f"{item.rows // 1000:,}k rows" if item.rows < 1_000_000 else f"{item.rows // 1_000_000}M rows"
        at_target = item.rows == SPEED_TARGET_ROWS
        found += [
            Metric(f"{size}: ours profile+run", item.ours_s, "s", note=f"run only {item.ours_run_s:.2f} s"),
            Metric(f"{size}: Evidently", item.evidently_s, "s", note="DataDriftPreset, one fresh process"),
            Metric(
                f"{size}: speed-up Evidently / ours",
                item.speedup,
                "×",
                target=SPEED_TARGET if at_target else None,
                note=f"run only: {item.evidently_s / item.ours_run_s:.0f}×",
            ),
            Metric(f"{size}: ours peak memory", item.ours_peak_mib, "MiB", note="ru_maxrss above RSS after load"),
            Metric(f"{size}: Evidently peak memory", item.evidently_peak_mib, "MiB", note="same method"),
            Metric(
                f"{size}: memory ours / Evidently",
                item.memory_ratio,
                "",
                target=1.0 if at_target else None,
                higher_is_better=False,
            ),
        ]
    for found_rates in rates:
        label = found_rates.scenario.value
        windows = f"{found_rates.windows} windows"
        found += [
            Metric(f"{label}: ours dataset drift", 100 * found_rates.ours_dataset, "%", note=windows),
            Metric(
                f"{label}: ours changed column",
                100 * found_rates.ours_detection,
                "%",
                note=_detection_note(found_rates),
            ),
            Metric(f"{label}: Evidently changed column", 100 * found_rates.evidently_column, "%", note=windows),
            Metric(
                f"{label}: Evidently dataset drift", 100 * found_rates.evidently_dataset, "%", note="drift_share 0.5"
            ),
        ]
        if found_rates.scenario is Scenario.NO_DRIFT:
            found.append(
                Metric(
                    "no_drift: 5 % minus our false alarms",
                    100 * (FALSE_ALARM_TARGET - found_rates.ours_dataset),
                    "pp",
                    target=0.0,
                    note="target: false alarms <= 5 % of windows",
                )
            )
        else:
            found.append(
                Metric(
                    f"{label}: ours - Evidently detection",
                    100 * (found_rates.ours_detection - found_rates.evidently_column),
                    "pp",
                    target=0.0,
                    note="changed column (domain classifier for the joint change)",
                )
            )
    return found


def _detection_note(item: Rates) -> str:
    if item.scenario is Scenario.JOINT:
        return "domain classifier verdict"
    return "any column" if item.scenario is Scenario.NO_DRIFT else "that column's drift flag"


def run() -> list[Metric]:
    """Set up Evidently's venv, measure both tools, print the README tables and return the figures."""
    evidently, venv_s, created = ensure_venv()
    print(f"   Evidently venv {'created' if created else 'reused'} ({venv_s:.0f} s)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as scratch:
        speed, version = _measure_speed(evidently, Path(scratch))
        rates = _measure_detection(evidently, Path(scratch))
    print(f"\nSpeed and peak memory, ours vs Evidently {version} DataDriftPreset (20 numeric + 5 categorical):\n")
    print(speed_table(speed))
    print(f"\nDetection over {WINDOWS} windows per scenario (share of windows flagged):\n")
    print(detection_table(rates))
    print(
        "\n*changed column: that column's drift flag; scenario 1: any column; scenario 6: ours = domain "
        "classifier, Evidently = either column of the pair.\n",
        flush=True,
    )
    return metrics(speed, rates, version, venv_s)


if __name__ == "__main__":
    raise SystemExit(worker_main())
