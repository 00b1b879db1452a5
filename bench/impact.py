"""Impact-aware drift verdicts against the current suite and Evidently, on shifts of known cost to the default model.

The champion is built as a release builds it: `DEFAULT_SPEC` fitted (`fitting.fit_model`) on `TRAIN_ROWS` rows of
`generate_churn`, its decision threshold chosen by `fitting.choose_threshold`, its reference profile fitted on a
`HOLDOUT_ROWS`-row holdout with the holdout's scores, labels and metrics, and its impact basis (score calibrator,
the reference's expected performance, sensitivity profile) from `build_impact_basis` (`release_files`). The holdout
is large so that the reference's own expected AUC is precise: its bootstrap error adds to every window's.

Each shift (`CATALOGUE`) moves the generating model's inputs, never P(churn | x): numeric features compressed or
widened around the generator's centre (`CovariateShift.scale`) or moved (`CovariateShift.shift`), category shares
moved (`CategoryShift`, the other categories shrink or grow in proportion), and a few pairs. Its **truth** is the
reference's expected AUC minus the expected AUC (`estimate.expected_metrics`, the champion's calibrator) of
`TRUTH_ROWS` rows of the shifted population. Classes by truth: harmless < `HARMLESS_BELOW`, impactful ≥
`IMPACTFUL_FROM`, intermediate between; the null "shift" (the unshifted population) is its own class.

Windows: `WINDOWS[size]` per shift and `NULL_WINDOWS` of the null at each size in `SIZES`, drawn independently
(fixed seeds). Every window goes, with the champion's scores of its rows (scored once), to three judges:
- **ours**: `DriftSuite()` (default config: sensitivity floors, impact); flagged = `dataset_drift` and an
  `impactful` impact verdict — what the retrain policy acts on;
- **current**: `DriftSuite(DriftConfig(sensitivity_floors=False))`, flagged = `dataset_drift` (one global floor,
  no impact gate);
- **Evidently**: its per-column verdicts as `DataDriftPreset` decides them (`bench.drift_evidently_worker`, in its own
  venv, one process for every window), flagged when any column drifts. Its reference is the first
  `EVIDENTLY_REFERENCE_ROWS` holdout rows (the size of our profile's test sample). Like the report, the worker tests
  each column's present values.

Our suite runs single-threaded in `PROCESSES` worker processes beside the Evidently process. Timed: the entry (wall
and CPU time, our suites' and Evidently's CPU apart) and one standalone suite run at 10,000 rows (warm, one thread).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from autoretrain.synthetic import (
    CATEGORY_PROBABILITIES,
    TARGET,
    CategoryShift,
    CovariateShift,
    generate_churn,
)
from batch_jobs.drift import DriftConfig, DriftSuite, ReferenceProfile, ReferenceProfiler
from batch_jobs.drift.estimate import ScoreCalibrator, expected_metrics
from batch_jobs.drift.impact import build_impact_basis, with_impact_basis
from batch_jobs.drift.results import ImpactVerdict
from batch_jobs.metrics import classification_metrics
from batch_jobs.model_spec import DEFAULT_SPEC, feature_frame, infer_input_schema
from batch_jobs.training import fitting
from bench import Metric
from bench.drift import ROOT, WORKER, ensure_venv, markdown_table, rate
from bench.drift_evidently_worker import CURRENT_COLUMN, WINDOW_COLUMN
from core.features import InputSchema

NAME = "impact"
DESCRIPTION = "impact-aware drift verdicts vs the current suite and Evidently, on shifts of known AUC cost"

FloatArray = NDArray[np.float64]

SEED: Final = 20261203
TRAIN_ROWS: Final = 20_000
HOLDOUT_ROWS: Final = 50_000
TRUTH_ROWS: Final = 200_000
#: Window sizes: the targets' (10,000 rows) and the curve's (1,000 rows).
SIZES: Final = (10_000, 1_000)
LARGE, SMALL = SIZES
#: Windows per shift and size.
WINDOWS: Final = {LARGE: 20, SMALL: 20}
NULL_WINDOWS: Final = 30
EVIDENTLY_REFERENCE_ROWS: Final = 5_000
PROCESSES: Final = 2
#: Evidently's full report is checked against its fast path on the first null window of each 1,000-row file.
VERIFY: Final = 1

HARMLESS_BELOW: Final = 0.002
IMPACTFUL_FROM: Final = 0.01
DETECTION_TARGET: Final = 0.95
FALSE_ALARM_TARGET: Final = 0.05

OURS_CONFIG: Final = DriftConfig()
CURRENT_CONFIG: Final = DriftConfig(sensitivity_floors=False)


# --- the shifts -------------------------------------------------------------------------------------------------


def share(feature: str, category: str, value: float) -> CategoryShift:
    """`feature`'s `category` at share `value`; the other categories keep their ratios to each other."""
    base = CATEGORY_PROBABILITIES[feature]
    if category not in base or not 0.0 <= value <= 1.0:
        raise ValueError(f"{feature} has no category {category!r} or {value} is not a share")
    others = (1.0 - value) / (1.0 - base[category])
    return CategoryShift(feature, {name: value if name == category else p * others for name, p in base.items()})


def spread(feature: str, factor: float) -> CovariateShift:
    """`feature`'s deviations from the generator's centre times `factor` (< 1 compresses, > 1 widens)."""
    return CovariateShift(feature, scale=factor)


@dataclass(frozen=True, slots=True)
class Shift:
    """A change of the generating model's inputs (never of P(churn | x))."""

    name: str
    title: str
    covariate: tuple[CovariateShift, ...] = ()
    category: tuple[CategoryShift, ...] = ()

    @property
    def is_null(self) -> bool:
        """The unshifted population."""
        return not self.covariate and not self.category

    def sample(self, rows: int, seed: int) -> pd.DataFrame:
        """`rows` customers of the shifted population (with the target)."""
        return generate_churn(rows, seed=seed, covariate_shifts=self.covariate, category_shifts=self.category)


NULL = Shift("null", "no shift (null windows)")
#: Chosen to span the impact levels (truths measured with this module's seeds; location shifts barely move the
#: expected AUC, widening raises it, compressing an important feature and moving `contract`'s shares lower it).
CATALOGUE: Final = (
    Shift("region_north_70", "region: north 30 → 70 % (no effect on churn)", category=(share("region", "north", 0.7),)),
    Shift(
        "payment_echeck_50",
        "payment_method: electronic_check 20 → 50 %",
        category=(share("payment_method", "electronic_check", 0.5),),
    ),
    Shift("support_widened_150", "support_calls: spread ×1.5", covariate=(spread("support_calls", 1.5),)),
    Shift(
        "tenure_plus_20",
        "tenure_months: +20 months (location)",
        covariate=(CovariateShift("tenure_months", shift=20.0),),
    ),
    Shift(
        "pair_region_payment",
        "pair: region north 70 % + electronic_check 50 %",
        category=(share("region", "north", 0.7), share("payment_method", "electronic_check", 0.5)),
    ),
    Shift("tenure_compressed_90", "tenure_months: spread ×0.9", covariate=(spread("tenure_months", 0.9),)),
    Shift(
        "contract_m2m_65",
        "contract: month-to-month 55 → 65 %",
        category=(share("contract", "month-to-month", 0.65),),
    ),
    Shift(
        "pair_usage_days_70",
        "pair: usage_hours + days_since_last_login spread ×0.7",
        covariate=(spread("usage_hours", 0.7), spread("days_since_last_login", 0.7)),
    ),
    Shift("charges_compressed_50", "monthly_charges: spread ×0.5", covariate=(spread("monthly_charges", 0.5),)),
    Shift(
        "contract_m2m_75",
        "contract: month-to-month 55 → 75 %",
        category=(share("contract", "month-to-month", 0.75),),
    ),
    Shift("support_compressed_70", "support_calls: spread ×0.7", covariate=(spread("support_calls", 0.7),)),
    Shift("tenure_compressed_50", "tenure_months: spread ×0.5", covariate=(spread("tenure_months", 0.5),)),
    Shift(
        "pair_support_contract",
        "pair: support_calls spread ×0.7 + contract month-to-month 75 %",
        covariate=(spread("support_calls", 0.7),),
        category=(share("contract", "month-to-month", 0.75),),
    ),
)
SHIFTS: Final = (NULL, *CATALOGUE)


class ShiftClass(StrEnum):
    """A shift's class by its truth."""

    NULL = "null"
    HARMLESS = "harmless"
    INTERMEDIATE = "intermediate"
    IMPACTFUL = "impactful"


def classify(shift: Shift, truth: float) -> ShiftClass:
    """Null for the unshifted population, else by the truth (`HARMLESS_BELOW`, `IMPACTFUL_FROM`)."""
    if shift.is_null:
        return ShiftClass.NULL
    if truth < HARMLESS_BELOW:
        return ShiftClass.HARMLESS
    return ShiftClass.IMPACTFUL if truth >= IMPACTFUL_FROM else ShiftClass.INTERMEDIATE


def window_seed(size: int, shift_index: int) -> int:
    """The seed of one size's windows of one shift (distinct from the training, holdout and truth seeds)."""
    return SEED + 1_000 * (2 + SIZES.index(size)) + shift_index


def window_count(shift: Shift, size: int) -> int:
    """Windows of `size` rows drawn for `shift`."""
    return NULL_WINDOWS if shift.is_null else WINDOWS[size]


def window_rows(size: int, shift_index: int) -> pd.DataFrame:
    """Every window of one size of `SHIFTS[shift_index]`, stacked (window i: rows i·size … (i+1)·size − 1)."""
    shift = SHIFTS[shift_index]
    return shift.sample(window_count(shift, size) * size, window_seed(size, shift_index))


# --- the champion -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scorer:
    """A fitted model with its calibrator and its reference's expected AUC: what a shift's truth is measured with."""

    model: Any
    schema: InputSchema
    calibrator: ScoreCalibrator
    reference_auc: float

    def scores(self, frame: pd.DataFrame) -> FloatArray:
        """The model's scores of `frame`'s rows."""
        return fitting.score(self.model, frame, self.schema)

    def expected_auc(self, frame: pd.DataFrame) -> float:
        """The expected AUC of `frame`'s rows from their calibrated scores (no labels)."""
        scores = self.scores(frame)
        return expected_metrics(scores, self.calibrator(scores))["auc"]

    def truth(self, shift: Shift, rows: int, seed: int) -> float:
        """The reference's expected AUC minus that of `rows` rows of the shifted population."""
        return self.reference_auc - self.expected_auc(shift.sample(rows, seed))


@dataclass(frozen=True, slots=True)
class Champion:
    """The default model as a release leaves it: scorer, decision threshold, reference profile with impact basis."""

    scorer: Scorer
    threshold: float
    profile: ReferenceProfile
    reference_auc_half_width: float
    evidently_reference: pd.DataFrame


def fit_default_model(rows: int, seed: int) -> tuple[Any, InputSchema, float]:
    """`DEFAULT_SPEC` fitted on `rows` synthetic rows, its schema, and its decision threshold as training chooses it."""
    train = generate_churn(rows, seed=seed)
    schema = infer_input_schema(train, target=TARGET, all_nullable=True)
    model = fitting.fit_model(train, schema, DEFAULT_SPEC)
    threshold = fitting.choose_threshold(
        DEFAULT_SPEC,
        train,
        fit=lambda part: fitting.fit_model(part, schema, DEFAULT_SPEC),
        score=lambda fitted, part: fitting.score(fitted, part, schema),
    ).value
    return model, schema, threshold


def build_champion(train_rows: int = TRAIN_ROWS, holdout_rows: int = HOLDOUT_ROWS, seed: int = SEED) -> Champion:
    """The champion, its reference profile and impact basis built as `release_files.write_release_files` does."""
    model, schema, threshold = fit_default_model(train_rows, seed)
    holdout = generate_churn(holdout_rows, seed=seed + 1)
    scores = fitting.score(model, holdout, schema)
    labels = fitting.labels_of(holdout, TARGET)
    features = feature_frame(holdout, schema)
    profile = (
        ReferenceProfiler(decision_threshold=threshold)
        .fit(
            features,
            scores=scores,
            target=labels,
            holdout_metrics=classification_metrics(labels, scores),
            schema={spec.name: spec.kind for spec in schema.features},
        )
        .profile_
    )
    basis = build_impact_basis(
        model=model,
        schema=schema,
        threshold=threshold,
        holdout_features=features,
        holdout_labels=labels.astype(np.float64),
        holdout_scores=scores,
    )
    if basis is None:
        raise RuntimeError("the holdout could not calibrate the champion's scores")
    reference = basis.reference.metric("auc")
    return Champion(
        scorer=Scorer(model, schema, basis.calibrator, reference.value),
        threshold=threshold,
        profile=with_impact_basis(profile, basis),
        reference_auc_half_width=(reference.ci_high - reference.ci_low) / 2,
        evidently_reference=features.head(EVIDENTLY_REFERENCE_ROWS).reset_index(drop=True),
    )


# --- judging windows --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowVerdict:
    """One window's verdicts from the three judges (module docstring)."""

    ours_drift: bool
    impactful: bool
    current_drift: bool
    evidently_drift: bool
    drop: float | None = None

    @property
    def ours_flagged(self) -> bool:
        """Ours: dataset drift with an impactful verdict (what triggers a retrain)."""
        return self.ours_drift and self.impactful


class Judge(StrEnum):
    """Whose verdict a rate counts."""

    OURS = "ours"
    OURS_DRIFT = "ours_drift"
    IMPACTFUL = "impactful"
    CURRENT = "current"
    EVIDENTLY = "evidently"


#: How the tables and metrics name the three judges.
LABELS: Final = {Judge.OURS: "ours", Judge.CURRENT: "current suite", Judge.EVIDENTLY: "Evidently"}


def flagged(window: WindowVerdict, judge: Judge) -> bool:
    """Whether `judge` flags `window`."""
    flags = {
        Judge.OURS: window.ours_flagged,
        Judge.OURS_DRIFT: window.ours_drift,
        Judge.IMPACTFUL: window.impactful,
        Judge.CURRENT: window.current_drift,
        Judge.EVIDENTLY: window.evidently_drift,
    }
    return flags[judge]


@dataclass(frozen=True, slots=True)
class OurRun:
    """Our side of one window: both suites' verdicts, the default suite's wall time and both runs' CPU time."""

    ours_drift: bool
    impactful: bool
    current_drift: bool
    drop: float | None
    seconds: float
    cpu_seconds: float


def judge_windows(
    profile: ReferenceProfile, model: Any, schema: InputSchema, size: int, shift_index: int
) -> list[OurRun]:
    """Both suites on every window of one size of one shift (in a worker process, one thread): the windows are
    drawn again from their seed (`window_rows`) and scored once for both suites."""
    rows = window_rows(size, shift_index)
    features = feature_frame(rows, schema)
    ours, current = DriftSuite(OURS_CONFIG), DriftSuite(CURRENT_CONFIG)
    runs = []
    with threadpool_limits(limits=1):
        scores = fitting.score(model, rows, schema)
        for start in range(0, len(rows), size):
            window = features.iloc[start : start + size].reset_index(drop=True)
            window_scores = scores[start : start + size]
            started, cpu_started = time.perf_counter(), time.process_time()
            result = ours.run(profile, window, window_scores)
            seconds = time.perf_counter() - started
            baseline = current.run(profile, window, window_scores)
            cpu_seconds = time.process_time() - cpu_started
            impact = result.impact
            runs.append(
                OurRun(
                    ours_drift=result.dataset_drift,
                    impactful=impact is not None and impact.verdict is ImpactVerdict.IMPACTFUL,
                    current_drift=baseline.dataset_drift,
                    drop=None if impact is None else impact.drop,
                    seconds=seconds,
                    cpu_seconds=cpu_seconds,
                )
            )
    return runs


def evidently_frame(reference: pd.DataFrame, current: pd.DataFrame, size: int, first_id: int) -> pd.DataFrame:
    """`current`'s windows of `size` rows, each after a copy of `reference`, in the worker's window-file layout."""
    count = len(current) // size
    ids = np.arange(first_id, first_id + count, dtype=np.int64)
    before = reference.iloc[np.tile(np.arange(len(reference)), count)].reset_index(drop=True)
    before.insert(0, CURRENT_COLUMN, False)
    before.insert(0, WINDOW_COLUMN, np.repeat(ids, len(reference)))
    after = current.reset_index(drop=True)
    after.insert(0, CURRENT_COLUMN, True)
    after.insert(0, WINDOW_COLUMN, np.repeat(ids, size))
    return pd.concat([before, after], ignore_index=True)


def write_evidently_files(frame: pd.DataFrame, stem: Path) -> list[Path]:
    """The windows of `frame` as one window file for the worker."""
    path = stem.with_name(f"{stem.name}.parquet")
    frame.to_parquet(path, index=False)
    return [path]


def evidently_flags(files: Mapping[str, Sequence[Mapping[str, Any]]], paths: Sequence[Path], count: int) -> list[bool]:
    """Per window (in id order): did any column of any of `paths`' column groups drift?"""
    flags = [False] * count
    for path in paths:
        windows = sorted(files[str(path)], key=lambda window: int(window["window"]))
        if len(windows) != count:
            raise ValueError(f"{path.name}: Evidently reports {len(windows)} windows, expected {count}")
        for index, window in enumerate(windows):
            flags[index] |= any(bool(verdict) for verdict in window["columns"].values())
    return flags


def children_cpu_seconds() -> float:
    """CPU time (user + system) of this process's finished and waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_evidently(python: Path, paths: Sequence[Path], scratch: Path) -> tuple[dict[str, Any], float]:
    """Evidently's worker over every window file in one process: its JSON document and its CPU time."""
    out, err = scratch / "evidently.json", scratch / "evidently.err"
    command = [str(python), "-I", str(WORKER), "detect", "--windows", *map(str, paths), "--verify", str(VERIFY)]
    before = children_cpu_seconds()
    with out.open("w") as stdout, err.open("w") as stderr:
        completed = subprocess.run(command, stdout=stdout, stderr=stderr, check=False, cwd=ROOT)
    cpu = children_cpu_seconds() - before  # the pool's workers are still alive: this is Evidently's alone
    if completed.returncode != 0:
        raise RuntimeError(f"the Evidently worker failed:\n{err.read_text()[-4000:]}")
    document: dict[str, Any] = json.loads(out.read_text().strip().splitlines()[-1])
    return document, cpu


# --- rates, curve and tables ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShiftOutcome:
    """One shift at one window size: its truth and every window's verdicts."""

    shift: Shift
    truth: float
    size: int
    windows: tuple[WindowVerdict, ...]

    @property
    def shift_class(self) -> ShiftClass:
        """The shift's class by its truth."""
        return classify(self.shift, self.truth)

    def rate(self, judge: Judge) -> float:
        """The share of windows `judge` flags."""
        return rate([flagged(window, judge) for window in self.windows])

    @property
    def mean_drop(self) -> float:
        """The mean of the windows' estimated drops of expected AUC (NaN when none was estimated)."""
        drops = [window.drop for window in self.windows if window.drop is not None]
        return statistics.fmean(drops) if drops else math.nan


def class_rate(outcomes: Iterable[ShiftOutcome], shift_class: ShiftClass, judge: Judge) -> float:
    """The share of the windows of every shift of `shift_class` that `judge` flags (pooled over the shifts);
    ValueError when the class has no windows."""
    return rate(
        [flagged(window, judge) for item in outcomes if item.shift_class is shift_class for window in item.windows]
    )


def worst_rate(outcomes: Iterable[ShiftOutcome], shift_class: ShiftClass, judge: Judge, *, lowest: bool) -> float:
    """The lowest (or highest) per-shift rate of `judge` in `shift_class`; ValueError when the class is empty."""
    rates = [item.rate(judge) for item in outcomes if item.shift_class is shift_class]
    if not rates:
        raise ValueError(f"no {shift_class} shifts")
    return min(rates) if lowest else max(rates)


@dataclass(frozen=True, slots=True)
class Gap:
    """Ours minus the current suite's rate at one impact level (shift)."""

    shift: str
    truth: float
    gap: float


def rate_gaps(outcomes: Iterable[ShiftOutcome], *, low: float, high: float = math.inf) -> list[Gap]:
    """Ours − current per shift (not the null) whose truth lies in [low, high), by truth."""
    gaps = [
        Gap(item.shift.name, item.truth, item.rate(Judge.OURS) - item.rate(Judge.CURRENT))
        for item in outcomes
        if not item.shift.is_null and low <= item.truth < high
    ]
    return sorted(gaps, key=lambda gap: gap.truth)


def _by_truth(outcomes: Iterable[ShiftOutcome]) -> list[ShiftOutcome]:
    return sorted(outcomes, key=lambda item: (not item.shift.is_null, item.truth))


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %"


def _drop(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:+.4f}"


def large_table(outcomes: Sequence[ShiftOutcome]) -> str:
    """Every shift's rates at the large windows, the null first, then by truth."""
    header = [
        "shift",
        "class",
        "truth (ΔAUC)",
        "mean estimated drop",
        "ours: flagged",
        "ours: dataset drift",
        "ours: impactful",
        "current: dataset drift",
        "Evidently: any column",
    ]
    rows = [
        [
            item.shift.title,
            item.shift_class.value,
            f"{item.truth:+.4f}",
            _drop(item.mean_drop),
            *(_percent(item.rate(judge)) for judge in Judge),
        ]
        for item in _by_truth(outcomes)
    ]
    return markdown_table(header, rows)


def curve_table(outcomes: Sequence[ShiftOutcome], margin: float) -> str:
    """The detection curve: rate against impact level (truth) for the three judges, with ours − current."""
    header = [
        "truth (ΔAUC)",
        "shift",
        "mean estimated drop",
        "ours: impact-aware",
        "current suite",
        "Evidently",
        "ours − current",
    ]
    rows = []
    for item in _by_truth(outcomes):
        gap = item.rate(Judge.OURS) - item.rate(Judge.CURRENT)
        marker = " (≥ margin)" if not item.shift.is_null and item.truth >= margin else ""
        rows.append(
            [
                f"{item.truth:+.4f}{marker}",
                item.shift.title,
                _drop(item.mean_drop),
                _percent(item.rate(Judge.OURS)),
                _percent(item.rate(Judge.CURRENT)),
                _percent(item.rate(Judge.EVIDENTLY)),
                f"{100 * gap:+.0f} pp",
            ]
        )
    return markdown_table(header, rows)


def class_table(large: Sequence[ShiftOutcome], small: Sequence[ShiftOutcome]) -> str:
    """Pooled rates per class at both sizes."""
    header = [
        "class",
        "shifts",
        *(f"{size:,} rows: {who}" for size in SIZES for who in ("ours", "current", "Evidently")),
    ]
    rows = []
    for shift_class in ShiftClass:
        count = sum(item.shift_class is shift_class for item in large)
        if not count:
            continue
        cells = [
            _percent(class_rate(outcomes, shift_class, judge))
            for outcomes in (large, small)
            for judge in (Judge.OURS, Judge.CURRENT, Judge.EVIDENTLY)
        ]
        rows.append([shift_class.value, str(count), *cells])
    return markdown_table(header, rows)


# --- metrics ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """What the entry measured about its own cost."""

    venv_s: float
    suite_s: float
    pool_median_s: float
    entry_s: float
    entry_cpu_s: float = math.nan
    ours_cpu_s: float = math.nan
    evidently_cpu_s: float = math.nan


def _pp(value: float) -> float:
    return 100 * value


def metrics(
    large: Sequence[ShiftOutcome],
    small: Sequence[ShiftOutcome],
    timings: Timings,
    *,
    reference_auc: tuple[float, float],
    version: str,
    margin: float = OURS_CONFIG.impact_margin,
) -> list[Metric]:
    """The entry's figures: targets on the three large-window rates, the curve comparison and the entry's time.
    `reference_auc` is the reference's expected AUC and its interval's half-width."""
    found = [
        Metric("Evidently venv setup", timings.venv_s, "s", note=f"evidently=={version}"),
        Metric(
            "reference expected AUC",
            reference_auc[0],
            "",
            note=f"{HOLDOUT_ROWS:,}-row holdout, 95 % CI ±{reference_auc[1]:.4f}",
        ),
    ]
    label = f"{LARGE // 1000}k"
    impactful = class_rate(large, ShiftClass.IMPACTFUL, Judge.OURS)
    harmless = class_rate(large, ShiftClass.HARMLESS, Judge.OURS)
    null = class_rate(large, ShiftClass.NULL, Judge.OURS)
    found += [
        Metric(
            f"{label}: impactful shifts (truth ≥ {IMPACTFUL_FROM:g}) flagged",
            _pp(impactful),
            "%",
            target=_pp(DETECTION_TARGET),
            note=f"ours; worst shift {_percent(worst_rate(large, ShiftClass.IMPACTFUL, Judge.OURS, lowest=True))}",
        ),
        Metric(
            f"{label}: harmless shifts (truth < {HARMLESS_BELOW:g}) flagged",
            _pp(harmless),
            "%",
            note=f"ours; worst shift {_percent(worst_rate(large, ShiftClass.HARMLESS, Judge.OURS, lowest=False))}",
        ),
        Metric(
            f"{label}: 5 % minus harmless flagged",
            _pp(FALSE_ALARM_TARGET - harmless),
            "pp",
            target=0.0,
            note="target: harmless shifts flagged <= 5 % of windows",
        ),
        Metric(f"{label}: null windows flagged", _pp(null), "%", note=f"ours; {NULL_WINDOWS} windows"),
        Metric(
            f"{label}: 5 % minus null flagged",
            _pp(FALSE_ALARM_TARGET - null),
            "pp",
            target=0.0,
            note="target: false alarms <= 5 % of windows",
        ),
    ]
    for shift_class in ShiftClass:
        if not any(item.shift_class is shift_class for item in large):
            continue
        if shift_class is ShiftClass.INTERMEDIATE:
            found.append(
                Metric(f"{label}: intermediate shifts flagged", _pp(class_rate(large, shift_class, Judge.OURS)), "%")
            )
        found += [
            Metric(
                f"{label}: {shift_class} — current suite",
                _pp(class_rate(large, shift_class, Judge.CURRENT)),
                "%",
                note="dataset drift, one global floor",
            ),
            Metric(
                f"{label}: {shift_class} — Evidently",
                _pp(class_rate(large, shift_class, Judge.EVIDENTLY)),
                "%",
                note="any column drifts",
            ),
        ]
    label = f"{SMALL // 1000}k"
    found += [
        Metric(f"{label}: null windows — {name}", _pp(class_rate(small, ShiftClass.NULL, judge)), "%")
        for judge, name in LABELS.items()
    ]
    above = rate_gaps(small, low=margin)
    if above:
        lowest = min(above, key=lambda gap: gap.gap)
        found.append(
            Metric(
                f"{label}: ours − current, lowest over impactful levels",
                _pp(lowest.gap),
                "pp",
                target=0.0,
                note=f"{len(above)} shifts with truth ≥ {margin:g} (the margin); lowest at {lowest.shift}",
            )
        )
    below = rate_gaps(small, low=-math.inf, high=HARMLESS_BELOW)
    if below:
        highest = max(below, key=lambda gap: gap.gap)
        found.append(
            Metric(
                f"{label}: ours − current, highest over harmless levels",
                _pp(highest.gap),
                "pp",
                note=f"{len(below)} shifts with truth < {HARMLESS_BELOW:g}: lower is the point; at {highest.shift}",
            )
        )
    found += [
        Metric(
            f"one suite run at {LARGE:,} rows",
            timings.suite_s,
            "s",
            note=f"standalone, one thread; median {timings.pool_median_s:.2f} s in the {PROCESSES}-process pool",
        ),
        Metric(
            "entry time", timings.entry_s, "s", target=600.0, higher_is_better=False, note="Evidently venv included"
        ),
        Metric(
            "entry CPU time",
            timings.entry_cpu_s,
            "s",
            note=f"our suites {timings.ours_cpu_s:.0f} s, Evidently {timings.evidently_cpu_s:.0f} s; "
            f"on {PROCESSES} free cores the wall time is about CPU / {PROCESSES}",
        ),
    ]
    return found


# --- orchestration ----------------------------------------------------------------------------------------------


def time_one_run(champion: Champion) -> float:
    """Wall time of one default suite run on a fresh 10,000-row window of the unshifted population (warm, one
    thread)."""
    rows = NULL.sample(LARGE, SEED + 999)
    window = feature_frame(rows, champion.scorer.schema)
    suite = DriftSuite(OURS_CONFIG)
    with threadpool_limits(limits=1):
        scores = champion.scorer.scores(rows)
        suite.run(champion.profile, window, scores)
        started = time.perf_counter()
        suite.run(champion.profile, window, scores)
        return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Judged:
    """Every window judged: our runs and Evidently's flags per (size, shift index), Evidently's version and CPU."""

    ours: dict[tuple[int, int], list[OurRun]]
    flags: dict[tuple[int, int], list[bool]]
    version: str
    evidently_cpu_s: float


def judge_everything(champion: Champion, python: Path, scratch: Path) -> Judged:
    """Our runs (a process pool) and Evidently's flags (one worker process) of every window, side by side."""
    keys = [(size, index) for size in SIZES for index in range(len(SHIFTS))]
    scorer = champion.scorer
    # spawn, not fork: the parent has used OpenMP (the domain classifier), which a forked child may deadlock on.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as pool:
        futures = {key: pool.submit(judge_windows, champion.profile, scorer.model, scorer.schema, *key) for key in keys}
        paths: dict[tuple[int, int], list[Path]] = {}
        for size, index in keys:
            features = feature_frame(window_rows(size, index), scorer.schema)
            # Only the null's small windows start at id 0: `--verify 1` checks one window against the full report.
            first_id = 0 if size == SMALL and SHIFTS[index].is_null else VERIFY
            frame = evidently_frame(champion.evidently_reference, features, size, first_id)
            paths[(size, index)] = write_evidently_files(frame, scratch / f"windows-{size}-{index:02d}")
        print(f"   Evidently: {sum(map(len, paths.values()))} window files, one process ...", flush=True)
        document, evidently_cpu = run_evidently(python, [path for group in paths.values() for path in group], scratch)
        print("   Evidently done; waiting for our suites ...", flush=True)
        ours = {key: future.result() for key, future in futures.items()}
    flags = {key: evidently_flags(document["files"], paths[key], len(ours[key])) for key in keys}
    return Judged(ours, flags, str(document["version"]), evidently_cpu)


def outcomes_of(
    truths: Mapping[str, float],
    ours: Mapping[tuple[int, int], list[OurRun]],
    flags: Mapping[tuple[int, int], list[bool]],
) -> dict[int, list[ShiftOutcome]]:
    """Per window size, one outcome per shift from both sides' per-window results (same windows, same order)."""
    outcomes: dict[int, list[ShiftOutcome]] = {size: [] for size in SIZES}
    for (size, index), runs in ours.items():
        shift = SHIFTS[index]
        windows = tuple(
            WindowVerdict(run.ours_drift, run.impactful, run.current_drift, flag, run.drop)
            for run, flag in zip(runs, flags[(size, index)], strict=True)
        )
        outcomes[size].append(ShiftOutcome(shift, truths[shift.name], size, windows))
    return outcomes


def _cpu_seconds() -> float:
    """CPU time of this process and its waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + children_cpu_seconds()


def run() -> list[Metric]:
    """Build the champion, measure the truths, judge every window three ways, print the tables, return the figures."""
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    python, venv_s, created = ensure_venv()
    print(f"   Evidently venv {'created' if created else 'reused'} ({venv_s:.0f} s)", flush=True)
    champion = build_champion()
    scorer = champion.scorer
    print(
        f"   champion: reference expected AUC {scorer.reference_auc:.4f} ± {champion.reference_auc_half_width:.4f} "
        f"({HOLDOUT_ROWS:,} holdout rows), threshold {champion.threshold:.3f} ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    truths = {shift.name: scorer.truth(shift, TRUTH_ROWS, SEED + 100 + index) for index, shift in enumerate(SHIFTS)}
    suite_s = time_one_run(champion)
    print(f"   truths measured; one suite run at {LARGE:,} rows: {suite_s:.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-impact-") as scratch:
        judged = judge_everything(champion, python, Path(scratch))
    outcomes = outcomes_of(truths, judged.ours, judged.flags)
    large, small = outcomes[LARGE], outcomes[SMALL]
    margin = OURS_CONFIG.impact_margin
    large_runs = [run for (size, _), runs in judged.ours.items() if size == LARGE for run in runs]
    timings = Timings(
        venv_s=venv_s,
        suite_s=suite_s,
        pool_median_s=statistics.median(run.seconds for run in large_runs),
        entry_s=time.perf_counter() - started,
        entry_cpu_s=_cpu_seconds() - cpu_started,
        ours_cpu_s=sum(run.cpu_seconds for runs in judged.ours.values() for run in runs),
        evidently_cpu_s=judged.evidently_cpu_s,
    )
    print(
        f"\nTruth = the reference's expected AUC ({HOLDOUT_ROWS:,}-row holdout) minus that of {TRUTH_ROWS:,} rows of "
        f"the shifted population; mean estimated drop = ours' label-free estimate, averaged over the windows. "
        f"Windows of {LARGE:,} rows ({WINDOWS[LARGE]} per shift, {NULL_WINDOWS} null); "
        "ours flagged = dataset drift and an impactful verdict:\n"
    )
    print(large_table(large))
    print(
        f"\nDetection against impact at {SMALL:,}-row windows ({WINDOWS[SMALL]} per shift, {NULL_WINDOWS} null; the "
        f"same windows for all three; margin {margin:g}):\n"
    )
    print(curve_table(small, margin))
    print("\nPooled per class (share of windows flagged):\n")
    print(class_table(large, small))
    print(f"\n(entry {timings.entry_s:.0f} s)\n", flush=True)
    reference_auc = (scorer.reference_auc, champion.reference_auc_half_width)
    return metrics(large, small, timings, reference_auc=reference_auc, version=judged.version, margin=margin)
