"""The jobs' windows read from the Parquet lake (DuckDB, sampled) against a bare Parquet read of the same files, in
one run.

Data: one synthetic lake on disk (`DATA`, reused between runs while its parameters match), written with pyarrow in
the layout and column types of `core.lake`: per window, a model of its own (`bench-<job>-n<N>-r<rows>`) holding
exactly the window's rows, spread evenly over its days (14 for the drift check's window, 90 for the retrain's
look-back), in files shaped as the compaction step writes them (`FileLayout`: named like compacted files, at most
1M rows and 128 MiB of Arrow memory each, row groups of 100k rows, rows sorted by sample key), at least
`FILES_PER_DAY` a day (each a consecutive slice of the day's time-ordered rows), `N` numeric features as `double`
columns, `unparsed_features` null, `sample_key` of each request id as `core.lake.sample_key` computes it (here by
DuckDB's `sha256`, checked against it on a stride of rows), and labels for `LABELLED_SHARE` of the predictions
observed 1–5 days after each. Windows of 1M and 10M rows (the headline: 10M), N = 10 (the headline) and 26.

Sides, each measurement in a fresh subprocess (`python -m bench.lake ...`). Memory: after imports the subprocess
releases freed memory, resets the kernel's peak-RSS mark and notes its RSS (`bench.drift_evidently_worker`); the
figure is `ru_maxrss` after the work minus that RSS. Time: `time.perf_counter()` around the work.
- lake, drift check: `LakeWindows.prediction_frame` then `labelled_frame` over the 14 days (labels until a week
  after the window), as the drift check reads its two windows: counts, sampling, label join, frames.
- lake, retrain: `labelled_frame` over the 90 days, then `batch_jobs.training.frames.assemble` with the champion's
  schema (N numeric features): the training set.
  Both on `DuckDBEngine(LocalLakeFiles(DATA))` with its defaults (threads, memory_limit: recorded) and
  `sample_rows` = `SAMPLE_ROWS`, the jobs' default.
- floor: `pyarrow.parquet.read_table` of the window's files, only the columns its queries need (`FLOOR_COLUMNS`:
  of the predictions the request id, sample key, score, version, time, predicted label, unparsed values and the
  features; of the labels the request id, label, time observed and sample key, over the days its labels can be
  in), once: the least any reader of a labelled window does, before deduplicating, joining or sampling.
Time is the best of `REPEATS` runs (the sides take turns), peak memory the largest.

The DynamoDB-segment path the lake replaced (`PayloadStore.labelled_window` over segments the ETL wrote into the
payload table) was retired in issue #15: the payload table now holds only the alerting aggregates and the ledger,
so there is nothing left to compare with. Its last figures (9,114 rows/s and 2,331 B/row at N=10, 8,420 rows/s and
4,317 B/row at N=26, on a 50,000-row window; the lake 35–222x faster) are in the README's lake section
(Performance, "Lake reads").

Targets (measured in the same run, N = 10): (i) peak memory at most 300 bytes per row of the window up to the
sample cap (peak / min(window rows, `SAMPLE_ROWS`)) and constant beyond it (peak at 10M within 1.5x of the peak at
1M); (ii) lake time within 3x the floor's.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import Metric
from bench.drift_evidently_worker import peak_rss_kib, reset_peak_rss
from core.features import FeatureSpec, InputSchema
from core.lake import (
    BASE_COLUMNS,
    MODEL_PARTITION,
    OPTION_COLUMNS,
    REVIEWED,
    Column,
    LakeTable,
    compacted_file_key,
    day_of,
    feature_column,
    partition_prefix,
    sample_key,
    table_prefix,
)

# Each measurement's subprocess imports only what its side runs (the lake's imports take seconds: sklearn, scipy),
# inside the function that measures it, before its memory baseline.
# ruff: noqa: PLC0415

NAME = "lake"
DESCRIPTION = "lake windows (DuckDB, sampled) vs a bare Parquet read"

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "results" / "lake-data"
#: Bumped whenever the generated data changes, so a cached lake is rebuilt.
GENERATOR_VERSION = 2
SEED = 20261202
SIZES = (1_000_000, 10_000_000)
FEATURE_COUNTS = (10, 26)
HEADLINE_FEATURES = 10
SAMPLE_ROWS = 200_000
REPEATS = 3
FILES_PER_DAY = 4
LABELLED_SHARE = 0.98
LABEL_DELAY = (timedelta(days=1), timedelta(days=5))
#: Labels are read up to this long after a window, so every generated label has been observed.
LABELS_AFTER = timedelta(days=7)
#: Every window ends here (UTC midnight).
WINDOW_END = datetime(2026, 12, 1, tzinfo=UTC)
MODEL_VERSION = "20261120T030000Z-ab12cd"
TARGET = "churned"
#: Every `KEY_CHECK_STRIDE`-th generated sample key is recomputed with `core.lake.sample_key`.
KEY_CHECK_STRIDE = 997

MEMORY_TARGET = 300.0
CONSTANCY_TARGET = 1.5
FLOOR_TARGET = 3.0

_DAY_MS = 86_400_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


class Job(StrEnum):
    """The window a job reads."""

    DRIFT = "drift"
    RETRAIN = "retrain"


DAYS: dict[Job, int] = {Job.DRIFT: 14, Job.RETRAIN: 90}
TITLES: dict[Job, str] = {Job.DRIFT: "drift check (14 days)", Job.RETRAIN: "retrain (90 days)"}


@dataclass(frozen=True, slots=True)
class Config:
    """What one run measures (the module's constants by default; the test shrinks them)."""

    data: Path = DATA
    sizes: tuple[int, ...] = SIZES
    feature_counts: tuple[int, ...] = FEATURE_COUNTS
    headline_features: int = HEADLINE_FEATURES
    sample_rows: int = SAMPLE_ROWS
    repeats: int = REPEATS
    files_per_day: int = FILES_PER_DAY
    jobs: tuple[Job, ...] = tuple(Job)


@dataclass(frozen=True, slots=True)
class LakeSpec:
    """One window's model in the synthetic lake: `rows` predictions of `features` features over `days` days."""

    job: Job
    features: int
    rows: int
    files_per_day: int = FILES_PER_DAY

    @property
    def days(self) -> int:
        """The window's length in days."""
        return DAYS[self.job]

    @property
    def model_name(self) -> str:
        """The model whose partitions hold this window."""
        return f"bench-{self.job.value}-n{self.features}-r{self.rows}"

    @property
    def start(self) -> datetime:
        """The window's first instant."""
        return WINDOW_END - timedelta(days=self.days)

    @property
    def end(self) -> datetime:
        """The window's end (exclusive)."""
        return WINDOW_END

    @property
    def labels_until(self) -> datetime:
        """When the window's labels are read: every generated label observed by then."""
        return WINDOW_END + LABELS_AFTER


def feature_names(count: int) -> tuple[str, ...]:
    """The synthetic features' names."""
    return tuple(f"x{index}" for index in range(count))


def feature_catalog(count: int) -> tuple[tuple[str, Column], ...]:
    """`(name, column)` of each numeric feature, as the lake's catalog lists them."""
    return tuple((name, Column(feature_column(name), "double", name)) for name in feature_names(count))


def champion_schema(count: int) -> InputSchema:
    """A champion's serving schema of the numeric features."""
    return InputSchema(tuple(FeatureSpec(name, "numeric", nullable=True) for name in feature_names(count)))


# --- the synthetic lake -----------------------------------------------------------------------------------------


def _arrow_type(glue_type: str) -> pa.DataType:
    return {
        "string": pa.string(),
        "double": pa.float64(),
        "int": pa.int32(),
        "bigint": pa.int64(),
        "timestamp": pa.timestamp("ms"),
        "boolean": pa.bool_(),
    }[glue_type]


def table_schema(table: LakeTable, features: int = 0) -> pa.Schema:
    """The Arrow schema of a lake file: the table's base columns (then, for predictions, the feature columns)."""
    columns = BASE_COLUMNS[table] + (tuple(column for _, column in feature_catalog(features)) if features else ())
    return pa.schema([pa.field(column.name, _arrow_type(column.glue_type)) for column in columns])


def request_ids(rng: np.random.Generator, count: int) -> pa.StringArray:
    """`count` random UUID-4-shaped ids (36 characters), built as one Arrow buffer instead of Python strings."""
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 0x0F]
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    for start, (low, high) in zip((0, 9, 14, 19, 24), ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), strict=True):
        text[:, start : start + high - low] = digits[:, low:high]
    offsets = np.arange(0, 36 * (count + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text.tobytes()))


def sample_keys(connection: duckdb.DuckDBPyConnection, ids: pa.StringArray) -> pa.Int64Array:
    """`core.lake.sample_key` of every id, computed by DuckDB (SHA-256's first 4 bytes, big-endian, are its first 8
    hex digits); a stride of them is recomputed with `sample_key` itself, so the two cannot disagree unnoticed."""
    frame = pa.table({"request_id": ids})
    connection.register("bench_ids", frame)
    try:
        keys = connection.execute(
            "SELECT CAST('0x' || left(sha256(request_id), 8) AS BIGINT) AS k FROM bench_ids"
        ).to_arrow_table()
    finally:
        connection.unregister("bench_ids")
    result = keys.column("k").combine_chunks().cast(pa.int64())
    for row in range(0, len(ids), KEY_CHECK_STRIDE):
        if result[row].as_py() != sample_key(ids[row].as_py()):
            raise AssertionError(f"DuckDB's sample key differs from core.lake.sample_key at row {row}")
    return result


def _label_delay_ms() -> tuple[int, int]:
    low, high = LABEL_DELAY
    return int(low.total_seconds() * 1000), int(high.total_seconds() * 1000)


def _rows_per_day(rows: int, days: int) -> list[int]:
    base, extra = divmod(rows, days)
    return [base + (1 if day < extra else 0) for day in range(days)]


def _slices(rows: int, parts: int) -> Iterator[tuple[int, int]]:
    bounds = np.linspace(0, rows, parts + 1).round().astype(np.int64)
    for low, high in itertools.pairwise(bounds):
        if high > low:
            yield int(low), int(high - low)


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(part) for part in parts).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class FileLayout:
    """The shape of compacted files (`batch_jobs.lake.compaction.CompactionConfig`): at most `target_rows` rows and
    `target_bytes` of Arrow memory per file, row groups of `row_group_rows`, rows sorted by sample key."""

    target_rows: int
    target_bytes: int
    row_group_rows: int

    @classmethod
    def compacted(cls) -> FileLayout:
        """What the compaction step writes."""
        from batch_jobs.lake.compaction import CompactionConfig

        config = CompactionConfig()
        return cls(config.target_rows, config.target_bytes, config.row_group_rows)

    def files(self, data: pa.Table, at_least: int) -> int:
        """How many files `data` takes: `at_least`, more if the compaction's caps need more."""
        per_row = data.nbytes / data.num_rows
        cap = max(1, min(self.target_rows, int(self.target_bytes / per_row)))
        return max(at_least, -(-int(data.num_rows) // cap))


#: The compaction's output order (`batch_jobs.lake.compaction`): a sample's rows are the first row groups of a file.
COMPACTED_ORDER = [("sample_key", "ascending"), ("request_id", "ascending")]


def _write(
    root: Path, table: LakeTable, spec: LakeSpec, day: str, data: pa.Table, *, source: str, layout: FileLayout
) -> None:
    """`data` (in time order) as compacted files of the day: consecutive slices, each sorted like the compaction's."""
    directory = root / partition_prefix(table, spec.model_name, day)
    directory.mkdir(parents=True, exist_ok=True)
    digest = _digest(spec.model_name, source)
    parts = layout.files(data, spec.files_per_day if table is LakeTable.PREDICTIONS else 1)
    for chunk, (offset, length) in enumerate(_slices(data.num_rows, parts)):
        pq.write_table(
            data.slice(offset, length).sort_by(COMPACTED_ORDER),
            root / compacted_file_key(table, spec.model_name, day, digest, chunk),
            row_group_size=layout.row_group_rows,
        )


def window_files(root: Path, spec: LakeSpec, table: LakeTable = LakeTable.PREDICTIONS) -> list[Path]:
    """The window's files of `table`: its days' predictions, or the labels of the days its labels can be in."""
    from batch_jobs.lake.queries import Window, label_days

    window = Window(spec.model_name, spec.start, spec.end)
    days = window.days if table is LakeTable.PREDICTIONS else label_days(window, spec.labels_until)
    return [
        path
        for day in days
        for path in sorted((root / partition_prefix(table, spec.model_name, day)).glob("*.parquet"))
    ]


#: What a reader of a labelled window must read of each table: the columns the window's queries name (the
#: request id deduplicates and joins, the sample key samples), whatever engine runs them.
FLOOR_COLUMNS: dict[LakeTable, tuple[str, ...]] = {
    LakeTable.PREDICTIONS: (
        "request_id",
        "model_version",
        "ts",
        "score",
        "predicted_label",
        "sample_key",
        "unparsed_features",
    ),
    LakeTable.LABELS: ("request_id", "label", "observed_at", "sample_key"),
}


def _stamp_path(root: Path, spec: LakeSpec) -> Path:
    return root / ".stamps" / f"{spec.model_name}.json"


def _stamp(spec: LakeSpec, layout: FileLayout) -> dict[str, Any]:
    return {
        "generator": GENERATOR_VERSION,
        "layout": asdict(layout),
        "seed": SEED,
        "spec": {**asdict(spec), "job": spec.job.value},
        "window_end": WINDOW_END.isoformat(),
        "labelled_share": LABELLED_SHARE,
    }


def ensure_lake(
    root: Path, spec: LakeSpec, connection: duckdb.DuckDBPyConnection, layout: FileLayout | None = None
) -> float:
    """Write the spec's model into the lake at `root` unless an identical one is there; the seconds spent."""
    layout = layout or FileLayout.compacted()
    stamp = _stamp_path(root, spec)
    if stamp.exists() and json.loads(stamp.read_text()) == _stamp(spec, layout):
        return 0.0
    started = time.perf_counter()
    stamp.unlink(missing_ok=True)
    for table in LakeTable:
        shutil.rmtree(root / f"{table_prefix(table)}{MODEL_PARTITION}={spec.model_name}", ignore_errors=True)
    for index, rows in enumerate(_rows_per_day(spec.rows, spec.days)):
        if rows:
            _write_day(root, spec, index, rows, connection=connection, layout=layout)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(_stamp(spec, layout), indent=2) + "\n")
    return time.perf_counter() - started


def _write_day(
    root: Path, spec: LakeSpec, index: int, rows: int, *, connection: duckdb.DuckDBPyConnection, layout: FileLayout
) -> None:
    """One day of predictions (`files_per_day` files or more) and their labels, which land in the partitions of the
    days they are observed (one file per day of predictions they label, as a compaction of its source leaves)."""
    rng = np.random.default_rng([SEED, spec.features, spec.rows, spec.days, index])
    day_start = spec.start + timedelta(days=index)
    day = day_of(day_start)
    first_ms = int(day_start.timestamp() * 1000)
    ts = np.sort(rng.integers(first_ms, first_ms + _DAY_MS, size=rows, dtype=np.int64))
    ids = request_ids(rng, rows)
    keys = sample_keys(connection, ids)
    signal = rng.standard_normal((rows, spec.features))
    logit = 0.8 * signal[:, 0] - 0.5 * signal[:, 1 % spec.features] + 0.3 * rng.standard_normal(rows)
    score = 1.0 / (1.0 + np.exp(-logit))
    features = {
        feature_column(name): 2.0 * column + (1.0 + 0.25 * column) * signal[:, column]
        for column, name in enumerate(feature_names(spec.features))
    }
    predictions = pa.Table.from_pydict(
        {
            "request_id": ids,
            "model_version": pa.repeat(pa.scalar(MODEL_VERSION), rows),
            "ts": pa.array(ts, type=pa.timestamp("ms")),
            "score": score,
            "predicted_label": (score >= 0.5).astype(np.int32),
            "latency_ms": rng.uniform(2.0, 40.0, rows),
            "sample_key": keys,
            "unparsed_features": pa.nulls(rows, pa.string()),
            **{column.name: pa.nulls(rows, _arrow_type(column.glue_type)) for column in OPTION_COLUMNS},
            **features,
        },
        schema=table_schema(LakeTable.PREDICTIONS, spec.features),
    )
    _write(root, LakeTable.PREDICTIONS, spec, day, predictions, source=day, layout=layout)
    labelled = rng.random(rows) < LABELLED_SHARE
    low, high = _label_delay_ms()
    observed = ts + rng.integers(low, high, size=rows, dtype=np.int64)
    label = (rng.random(rows) < score).astype(np.int32)
    observed_day = observed // _DAY_MS
    for label_day in np.unique(observed_day[labelled]):
        kept = np.flatnonzero(labelled & (observed_day == label_day))
        order = kept[np.argsort(observed[kept], kind="stable")]
        labels = pa.Table.from_pydict(
            {
                "request_id": ids.take(pa.array(order)),
                "label": label[order],
                "observed_at": pa.array(observed[order], type=pa.timestamp("ms")),
                "sample_key": keys.take(pa.array(order)),
                REVIEWED: pa.repeat(pa.scalar(False), len(order)),
            },
            schema=table_schema(LakeTable.LABELS),
        )
        text = day_of(datetime.fromtimestamp(int(label_day) * 86_400, UTC))
        _write(root, LakeTable.LABELS, spec, text, labels, source=f"{day}/{text}", layout=layout)


# --- the subprocesses -------------------------------------------------------------------------------------------


def _measure_lake(args: argparse.Namespace) -> dict[str, Any]:
    from batch_jobs.lake.engine import DuckDBEngine, LocalLakeFiles, Scope
    from batch_jobs.lake.windows import LakeWindows, StaticFeatureCatalog
    from batch_jobs.training.frames import assemble

    spec = LakeSpec(Job(args.job), args.features, args.rows)
    engine = DuckDBEngine(LocalLakeFiles(args.root))
    lake = LakeWindows(engine, StaticFeatureCatalog(feature_catalog(spec.features)), sample_rows=args.sample_rows)
    schema = champion_schema(spec.features)
    baseline = reset_peak_rss()
    started = time.perf_counter()
    steps: dict[str, float] = {}
    designs: dict[str, Any] = {}
    kept: list[Any] = []  # what the job holds at once: both windows (drift), the window and the training set
    if spec.job is Job.DRIFT:
        kept.append(lake.prediction_frame(spec.model_name, spec.start, spec.end))
        steps["prediction_frame"] = time.perf_counter() - started
        designs["prediction_frame"] = lake.last_design
    labelled = lake.labelled_frame(spec.model_name, spec.start, spec.end, labels_until=spec.labels_until)
    kept.append(labelled)
    steps["labelled_frame"] = time.perf_counter() - started - sum(steps.values())
    designs["labelled_frame"] = lake.last_design
    if spec.job is Job.RETRAIN:
        kept.append(assemble(None, labelled, target=TARGET, matured_before=spec.end, champion_schema=schema))
        steps["assemble"] = time.perf_counter() - started - sum(steps.values())
    seconds = time.perf_counter() - started
    peak = peak_rss_kib()
    settings = engine.query(
        "SELECT current_setting('threads') AS threads, current_setting('memory_limit') AS memory_limit",
        Scope(spec.model_name, {}),
    )
    return {
        "seconds": seconds,
        "steps": steps,
        "baseline_kib": baseline,
        "peak_kib": peak,
        "records": {name: design.records for name, design in designs.items()},
        "rows_read": {name: design.rows_read for name, design in designs.items()},
        "frame_rows": len(labelled),
        "duckdb": {"threads": int(settings["threads"].iat[0]), "memory_limit": str(settings["memory_limit"].iat[0])},
    }


def _measure_floor(args: argparse.Namespace) -> dict[str, Any]:
    import pyarrow.dataset  # noqa: F401  # read_table's first call imports it (~2 s here): not reading time

    spec = LakeSpec(Job(args.job), args.features, args.rows)
    features = tuple(column.name for _, column in feature_catalog(spec.features))
    files = {table: window_files(args.root, spec, table) for table in LakeTable}
    baseline = reset_peak_rss()
    started = time.perf_counter()
    tables = {
        table: pq.read_table(
            files[table],
            columns=[*FLOOR_COLUMNS[table], *(features if table is LakeTable.PREDICTIONS else ())],
            partitioning=None,
        )
        for table in LakeTable
    }
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "baseline_kib": baseline,
        "peak_kib": peak_rss_kib(),
        "rows": tables[LakeTable.PREDICTIONS].num_rows,
        "label_rows": tables[LakeTable.LABELS].num_rows,
        "files": sum(len(paths) for paths in files.values()),
    }


def worker_main(argv: Sequence[str] | None = None) -> int:
    """One measurement (`python -m bench.lake lake|floor ...`); prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.lake")
    parser.add_argument("side", choices=("lake", "floor"))
    parser.add_argument("--job", choices=[job.value for job in Job], default=Job.DRIFT.value)
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--sample-rows", type=int, default=SAMPLE_ROWS)
    args = parser.parse_args(argv)
    measure = {"lake": _measure_lake, "floor": _measure_floor}[args.side]
    json.dump(measure(args), sys.stdout)
    sys.stdout.write("\n")
    return 0


def _json_from(command: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.lake", *command],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.lake {' '.join(command[:1])} failed:\n{completed.stderr[-4000:]}")
    document: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return document


# --- orchestration ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    """One side's best time and largest peak (bytes above the RSS after imports) over its runs."""

    seconds: float
    peak_bytes: float
    best: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, runs: Sequence[dict[str, Any]]) -> Measurement:
        """The best time and the largest peak of `runs`; `best` is the fastest run's report."""
        best = min(runs, key=lambda run: float(run["seconds"]))
        return cls(
            seconds=float(best["seconds"]),
            peak_bytes=max(1024.0 * (run["peak_kib"] - run["baseline_kib"]) for run in runs),
            best=best,
        )


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One job's window at one size: the lake and its floor."""

    spec: LakeSpec
    sample_rows: int
    lake: Measurement
    floor: Measurement

    @property
    def rows(self) -> int:
        """The window's rows."""
        return self.spec.rows

    @property
    def lake_rows_per_s(self) -> float:
        """Window rows per second of the lake's read."""
        return self.rows / self.lake.seconds

    @property
    def lake_bytes_per_row(self) -> float:
        """Peak bytes per window row."""
        return self.lake.peak_bytes / self.rows

    @property
    def capped_bytes_per_row(self) -> float:
        """Peak bytes per row of the window up to the sample cap (target (i))."""
        return self.lake.peak_bytes / min(self.rows, self.sample_rows)

    @property
    def held_bytes_per_row(self) -> float:
        """Peak bytes per row the job holds: every window it read, each at most the cap (the drift check reads two)."""
        return self.lake.peak_bytes / sum(int(value) for value in self.lake.best["rows_read"].values())

    @property
    def rows_read(self) -> str:
        """Rows the lake's queries returned (the sample): each read's (the drift check reads two windows)."""
        return " + ".join(f"{int(value):,}" for value in self.lake.best["rows_read"].values())

    @property
    def floor_ratio(self) -> float:
        """Lake time over the floor's (target (ii))."""
        return self.lake.seconds / self.floor.seconds


def _size(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    return f"{rows // 1000:,}k" if rows % 1000 == 0 else f"{rows:,}"


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB" if value >= 2**20 else f"{value / 1024:,.0f} KiB"


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def constancy(results: Sequence[WindowResult]) -> dict[tuple[Job, int], float]:
    """Peak at the largest window over the peak at the smallest, per job and feature count (windows above the cap)."""
    ratios = {}
    for job in Job:
        for features in sorted({item.spec.features for item in results}):
            above = sorted(
                (
                    item
                    for item in results
                    if item.spec.job is job and item.spec.features == features and item.rows > item.sample_rows
                ),
                key=lambda item: item.rows,
            )
            if len(above) >= 2:
                ratios[job, features] = above[-1].lake.peak_bytes / above[0].lake.peak_bytes
    return ratios


def markdown_table(results: Sequence[WindowResult]) -> str:
    """The README table: one row per job, feature count and window size."""
    header = [
        "window",
        "rows",
        "lake time",
        "lake rows/s",
        "lake peak",
        "peak B/row",
        "rows read",
        "peak B/row read",
        "floor time",
        "floor B/row",
        "(i) ≤ 300 B/row to cap",
        "(ii) ≤ 3× floor",
    ]
    rows = [
        [
            f"{TITLES[item.spec.job]}, N={item.spec.features}",
            f"{item.rows:,}",
            f"{item.lake.seconds:.2f} s",
            f"{item.lake_rows_per_s:,.0f}",
            _mib(item.lake.peak_bytes),
            f"{item.lake_bytes_per_row:,.1f}",
            item.rows_read,
            f"{item.held_bytes_per_row:,.0f}",
            f"{item.floor.seconds:.2f} s",
            f"{item.floor.peak_bytes / item.rows:,.0f}",
            f"{_verdict(item.capped_bytes_per_row <= MEMORY_TARGET)} {item.capped_bytes_per_row:,.0f}",
            f"{_verdict(item.floor_ratio <= FLOOR_TARGET)} {item.floor_ratio:.2f}×",
        ]
        for item in results
    ]
    align = [":---", *["---:"] * (len(header) - 1)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align, *rows])


def metrics(
    results: Sequence[WindowResult], config: Config, generation_s: float, settings: Mapping[str, Any]
) -> list[Metric]:
    """The bench's figures; targets on the headline feature count."""
    found = [
        Metric("lake generation", generation_s, "s", note=f"0 when cached in {config.data}"),
        Metric("DuckDB threads", float(settings["threads"]), "", note=f"memory_limit {settings['memory_limit']}"),
    ]
    for item in results:
        headline = item.spec.features == config.headline_features
        label = f"{item.spec.job.value} {_size(item.rows)} n={item.spec.features}"
        found += [
            Metric(
                f"{label}: lake time",
                item.lake.seconds,
                "s",
                note=", ".join(f"{k} {v:.2f} s" for k, v in item.lake.best["steps"].items()),
            ),
            Metric(f"{label}: lake rows/s", item.lake_rows_per_s, "rows/s", note=f"{item.rows_read} rows read"),
            Metric(f"{label}: lake peak", item.lake_bytes_per_row, "B/row", note=_mib(item.lake.peak_bytes)),
            Metric(
                f"{label}: lake peak / min(rows, cap)",
                item.capped_bytes_per_row,
                "B/row",
                target=MEMORY_TARGET if headline else None,
                higher_is_better=False,
                note=f"cap {item.sample_rows:,} rows",
            ),
            Metric(
                f"{label}: floor time",
                item.floor.seconds,
                "s",
                note=f"pyarrow read_table, {_mib(item.floor.peak_bytes)}",
            ),
            Metric(f"{label}: floor peak", item.floor.peak_bytes / item.rows, "B/row"),
            Metric(
                f"{label}: lake time / floor time",
                item.floor_ratio,
                "×",
                target=FLOOR_TARGET if headline else None,
                higher_is_better=False,
            ),
        ]
    for (job, features), ratio in constancy(results).items():
        found.append(
            Metric(
                f"{job.value} n={features}: peak largest / smallest window",
                ratio,
                "×",
                target=CONSTANCY_TARGET if features == config.headline_features else None,
                higher_is_better=False,
                note=f"{_size(max(config.sizes))} vs {_size(min(s for s in config.sizes if s > config.sample_rows))}",
            )
        )
    return found


def _arguments(spec: LakeSpec) -> list[str]:
    return ["--job", spec.job.value, "--features", str(spec.features), "--rows", str(spec.rows)]


def _measure_window(spec: LakeSpec, config: Config) -> WindowResult:
    """The lake and the floor on one window, taking turns."""
    common = [*_arguments(spec), "--root", str(config.data)]
    lake_runs, floor_runs = [], []
    for _ in range(config.repeats):
        lake_runs.append(_json_from(["lake", *common, "--sample-rows", str(config.sample_rows)]))
        floor_runs.append(_json_from(["floor", *common]))
    for name, records in lake_runs[0]["records"].items():
        if records != spec.rows:
            raise AssertionError(f"{spec.model_name}: {name} counted {records} records, not {spec.rows}")
    result = WindowResult(spec, config.sample_rows, Measurement.of(lake_runs), Measurement.of(floor_runs))
    print(
        f"   {spec.model_name}: lake {result.lake.seconds:.2f} s, {_mib(result.lake.peak_bytes)}; "
        f"floor {result.floor.seconds:.2f} s, {_mib(result.floor.peak_bytes)}",
        flush=True,
    )
    return result


def run_with(config: Config) -> list[Metric]:
    """Generate (or reuse) the lake, measure every side and print the README table."""
    specs = [
        LakeSpec(job, features, rows, config.files_per_day)
        for features in config.feature_counts
        for job in config.jobs
        for rows in config.sizes
    ]
    generation_s = 0.0
    with duckdb.connect() as connection:
        for spec in specs:
            seconds = ensure_lake(config.data, spec, connection)
            generation_s += seconds
            if seconds:
                print(f"   generated {spec.model_name} in {seconds:.0f} s", flush=True)
    results = [_measure_window(spec, config) for spec in specs]
    settings = results[0].lake.best["duckdb"]
    print(
        f"\nLake windows vs the floor (DuckDB threads {settings['threads']}, "
        f"memory_limit {settings['memory_limit']}; sample cap {config.sample_rows:,} rows):\n"
    )
    print(markdown_table(results))
    for (job, features), ratio in constancy(results).items():
        print(
            f"{TITLES[job]}, N={features}: peak at the largest window / at the smallest above the cap = {ratio:.2f}× "
            f"({_verdict(ratio <= CONSTANCY_TARGET)}, target ≤ {CONSTANCY_TARGET}×)"
        )
    print(flush=True)
    return metrics(results, config, generation_s, settings)


def run() -> list[Metric]:
    """Measure at the bench's sizes."""
    return run_with(Config())


if __name__ == "__main__":
    raise SystemExit(worker_main())
