"""`autoretrain drift-report REFERENCE CURRENT [--target COL] [--prediction COL] [--out FILE]`

Runs the drift suite on two CSV or Parquet files (chosen by extension: `.csv`, `.parquet`/`.pq`). The reference
profile is built from REFERENCE — the `--prediction` column as model scores, the `--target` column as 0/1
labels, and the metrics of those scores on those labels as the baseline — and every column the two files share
(other than those two) is a feature. The suite runs on CURRENT, the result is printed as JSON on stdout and,
with `--out report.html`, written as a self-contained HTML report. A named `--target`/`--prediction` column
must exist in both files; rows of CURRENT with an empty target are treated as not yet labelled.

Exit codes: 0 when the suite ran (drift or not); 2 on bad input (missing or unreadable file, unsupported
extension, empty data, duplicate column names, no common columns, a column whose values are numbers in one file
and text in the other, a missing `--target`/`--prediction` column, scores outside [0, 1]), with a one-line
message on stderr. Numbers anywhere in the double range (±1.8e308) are compared without overflow; a column missing
in every row of either file is `insufficient_data`.

JSON on stdout (every number that could not be computed is null):
```
{
  "dataset_drift": bool,             # any feature, the prediction or the joint distribution drifts
  "drifted_features": [str],
  "n_features": int, "n_reference": int, "n_current": int,
  "alpha": float, "correction": "benjamini_hochberg" | "bonferroni" | "none",
  "n_tests": int,                    # size of the corrected family of tests
  "features": [{
      "name": str, "kind": "numeric" | "categorical",
      "drift": bool, "verdict": "drift" | "no_drift" | "insufficient_data",
      "distribution": CHECK,          # ks_2samp + wasserstein_normalised, or chi2_homogeneity + psi
      "missing_rate": CHECK,          # two_proportion_z + cohens_h
      "unseen_categories": CHECK | null,   # categorical only: two_proportion_z + cohens_h
      "unseen_examples": [str],
      "secondary_effects": {"psi": float},     # numeric: effect sizes reported for information
      "histogram": {"labels": [str], "reference": [float], "current": [float]}   # shares per bin
  }],
  "prediction": null | {
      "drift": bool, "verdict": str, "decision_threshold": float,
      "score_distribution": CHECK, "positive_rate": CHECK, "histogram": {...}
  },
  "multivariate": null | {
      "test": "domain_classifier_auc", "model": "HistGradientBoostingClassifier",
      "auc": float, "auc_folds": [float], "statistic": float, "p_value": float, "p_value_adjusted": float,
      "correction": str, "alpha": float, "auc_threshold": float, "n_reference": int, "n_current": int,
      "n_folds": int, "min_samples": int, "top_features": [{"name": str, "importance": float}],
      "verdict": str, "drift": bool
  },
  "performance": null | {
      "decay": bool, "verdict": "decay" | "no_decay" | "insufficient_data" | "no_baseline",
      "n_labels": int, "n_positive": int, "min_labels": int, "min_per_class": int,
      "confidence_level": float, "n_bootstrap": int,
      "metrics": [{"name": "auc" | "log_loss" | "brier" | "ece", "higher_is_better": bool,
                   "value": float, "ci_low": float, "ci_high": float, "baseline": float,
                   "difference": float, "difference_ci_low": float, "difference_ci_high": float,
                   "margin": float, "verdict": str, "decay": bool}]
  },
  "performance_decay": bool | null,
  "config": {...}                    # every DriftConfig setting used
}
CHECK = {"check": str, "test": str, "statistic": float, "p_value": float, "p_value_adjusted": float,
         "correction": str, "alpha": float, "effect_size_name": str, "effect_size": float,
         "effect_size_threshold": float, "n_reference": int, "n_current": int, "min_samples": int,
         "reference_value": float, "current_value": float,
         "verdict": "drift" | "no_drift" | "insufficient_data", "drift": bool}
```
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.profile import ReferenceProfiler, binary_labels, numeric_values, value_family
from batch_jobs.drift.report import render_html
from batch_jobs.drift.suite import DriftInputError, DriftSuite
from batch_jobs.metrics import classification_metrics

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
BAD_INPUT = 2
#: Characters of a column name quoted in an error message.
NAME_CHARS_SHOWN = 80


class BadInputError(Exception):
    """Input the command cannot use; its message is printed as is."""


def read_table(path: Path, role: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by extension; every failure becomes a `BadInputError`."""
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise BadInputError(f"{role} file {path}: unsupported extension {suffix or '(none)'!r} (use .csv or .parquet)")
    if not path.is_file():
        raise BadInputError(f"{role} file not found: {path}")
    try:
        frame = pd.read_csv(path) if suffix in CSV_SUFFIXES else pd.read_parquet(path)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadInputError(f"cannot read {role} file {path}: {reason}") from e
    if len(frame) == 0 or frame.shape[1] == 0:
        raise BadInputError(f"{role} file {path} has no data rows")
    names = _header(path) if suffix in CSV_SUFFIXES else [str(name) for name in frame.columns]
    duplicated = sorted({name for name in names if names.count(name) > 1}) if len(set(names)) < len(names) else []
    if duplicated:
        shown = ", ".join(repr(name[:NAME_CHARS_SHOWN]) for name in duplicated[:5])
        raise BadInputError(f"{role} file {path} has duplicate column names: {shown}")
    return frame


def _header(path: Path) -> list[str]:
    """A CSV file's column names as written (pandas renames a repeated name `a` to `a.1`)."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(name) for name in header.iloc[0].tolist()] if len(header) else []


def _column(frame: pd.DataFrame, name: str | None, option: str, role: str) -> pd.Series[Any] | None:
    if name is None:
        return None
    if name not in frame.columns:
        raise BadInputError(f"{option} column {name!r} is not in the {role} file")
    return frame[name]


def _feature_columns(reference: pd.DataFrame, current: pd.DataFrame, excluded: set[str]) -> list[str]:
    common = [name for name in reference.columns if name in current.columns and name not in excluded]
    if not common:
        raise BadInputError("the two files have no feature column in common")
    problems = []
    for name in common:
        try:
            ref_family, cur_family = value_family(reference[name]), value_family(current[name])
        except ValueError as e:
            raise BadInputError(str(e)) from e
        all_missing = reference[name].isna().all() or current[name].isna().all()
        if ref_family is not cur_family and not all_missing:
            problems.append(f"{name!r} is {ref_family} in REFERENCE but {cur_family} in CURRENT")
    if problems:
        raise BadInputError("column types differ: " + "; ".join(problems))
    return common


def _scores(series: pd.Series[Any] | None, role: str) -> Any:
    if series is None:
        return None
    if value_family(series).value != "numeric":
        raise BadInputError(f"--prediction column in the {role} file must hold numbers")
    scores = numeric_values(series)
    outside = int(np.sum((scores < 0.0) | (scores > 1.0)))
    if outside:
        raise BadInputError(f"--prediction column in the {role} file: {outside} scores outside [0, 1]")
    return scores


def _labels(series: pd.Series[Any] | None, role: str) -> Any:
    if series is None:
        return None
    try:
        return binary_labels(series)
    except ValueError as e:
        raise BadInputError(f"--target column in the {role} file: {e}") from e


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `autoretrain drift-report`."""
    parser = argparse.ArgumentParser(
        prog="autoretrain drift-report", description="Run the drift suite on two CSV or Parquet files."
    )
    parser.add_argument("reference", type=Path, help="reference (training) data: .csv or .parquet")
    parser.add_argument("current", type=Path, help="current (production) data: .csv or .parquet")
    parser.add_argument("--target", help="column of 0/1 labels (optional)")
    parser.add_argument("--prediction", help="column of model scores in [0, 1] (optional)")
    parser.add_argument("--out", type=Path, help="write the HTML report here")
    return parser


def run(arguments: argparse.Namespace) -> str:
    """Run the suite; returns the result JSON (raises BadInputError on bad input)."""
    reference = read_table(arguments.reference, "REFERENCE")
    current = read_table(arguments.current, "CURRENT")
    ref_target = _column(reference, arguments.target, "--target", "REFERENCE")
    cur_target = _column(current, arguments.target, "--target", "CURRENT")
    ref_scores = _scores(_column(reference, arguments.prediction, "--prediction", "REFERENCE"), "REFERENCE")
    cur_scores = _scores(_column(current, arguments.prediction, "--prediction", "CURRENT"), "CURRENT")
    ref_labels, cur_labels = _labels(ref_target, "REFERENCE"), _labels(cur_target, "CURRENT")
    excluded = {name for name in (arguments.target, arguments.prediction) if name is not None}
    features = _feature_columns(reference, current, excluded)

    baseline: dict[str, float] = {}
    if ref_scores is not None and ref_labels is not None:
        known = ~(np.isnan(ref_scores) | np.isnan(ref_labels))
        if known.any() and 0 < ref_labels[known].sum() < known.sum():
            metrics = classification_metrics(ref_labels[known], np.clip(ref_scores[known], 0.0, 1.0))
            baseline = {name: value for name, value in metrics.items() if np.isfinite(value)}
    try:
        profile = (
            ReferenceProfiler()
            .fit(reference[features], scores=ref_scores, target=ref_labels, holdout_metrics=baseline)
            .profile_
        )
        result = DriftSuite(DriftConfig()).run(
            profile,
            current[features],
            current_scores=cur_scores,
            current_labels=cur_labels if cur_scores is not None else None,
        )
    except (DriftInputError, ValueError) as e:
        raise BadInputError(str(e)) from e
    if arguments.out is not None:
        try:
            arguments.out.write_text(render_html(result, title=f"Drift report: {arguments.current.name}"), "utf-8")
        except OSError as e:
            raise BadInputError(f"cannot write the report to {arguments.out}: {e.strerror or e}") from e
    return result.to_json(indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when the suite ran, 2 with a one-line message on stderr on bad input."""
    arguments = build_parser().parse_args(argv)
    try:
        output = run(arguments)
    except BadInputError as e:
        print(f"autoretrain drift-report: error: {e}", file=sys.stderr)
        return BAD_INPUT
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
