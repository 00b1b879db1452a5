"""`autoretrain sensitivity MODEL_DIR DATA [--out FILE.json] [--html FILE.html] [--target NAME] [--max-rows N]`

The sensitivity of a released model version to drifts of its inputs (`batch_jobs.drift.sensitivity`): on held-out
rows, each feature is shifted and rescaled by 1–50 % of its standard deviation, or a category's share is raised by
1–25 %, alone and for a few pairs, and the change in AUC, log loss and positive rate is measured with the labels
held fixed, beside the effect size the drift suite would report for the same shift.

MODEL_DIR is a version's folder as the retrain job writes it (`model.pkl` and `manifest.json`: the model is
unpickled only once its SHA-256 matches the manifest's, `core.artifacts.load_verified_model`; the manifest gives the
input schema and the decision threshold). DATA is a CSV or Parquet file with the schema's feature columns and the
0/1 target column (`--target`, default the model spec's `churned`); rows whose target is empty are left out.

Prints a table (the most harmful features first) with the measured cost in seconds; `--out` writes the profile as
JSON (`SensitivityProfile.to_json`), `--html` a self-contained HTML page. Exit 0 when it ran; 2 with a one-line
message on stderr on bad input (missing or unreadable file or model folder, a model file whose SHA-256 does not
match, missing feature or target columns, labels that are not 0/1 or hold one class).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from batch_jobs.drift.cli import BadInputError, read_table
from batch_jobs.drift.profile import binary_labels
from batch_jobs.drift.sensitivity import STYLE, TABLE_LEVELS, SensitivityProfile, compute_sensitivity, render_html
from batch_jobs.model_spec import TARGET
from core.artifacts import ArtifactError, LoadedModel, load_verified_model

BAD_INPUT = 2
DEFAULT_MAX_ROWS = 5000
PROG = "autoretrain sensitivity"
#: Names shown in an error message (a frame may lack many columns).
NAMES_SHOWN = 5
_PAGE_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Arguments of `autoretrain sensitivity`."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Sensitivity of a released model to shifts of its features (labels held fixed)."
    )
    parser.add_argument("model_dir", type=Path, help="the version folder: model.pkl and manifest.json")
    parser.add_argument("data", type=Path, help="held-out rows with the features and the target: .csv or .parquet")
    parser.add_argument("--out", type=Path, help="write the profile as JSON here")
    parser.add_argument("--html", type=Path, help="write an HTML page with the table and plots here")
    parser.add_argument("--target", default=TARGET, help=f"the 0/1 target column (default: {TARGET})")
    parser.add_argument(
        "--max-rows",
        type=_positive_int,
        default=DEFAULT_MAX_ROWS,
        help=f"use at most this many rows, a sample stratified by label (default: {DEFAULT_MAX_ROWS})",
    )
    return parser


def _load_model(directory: Path) -> LoadedModel:
    if not directory.is_dir():
        raise BadInputError(f"model folder not found: {directory}")
    try:
        return load_verified_model(directory)
    except (ArtifactError, OSError) as e:
        raise BadInputError(f"cannot load the model in {directory}: {e}") from e


def _shown(names: Sequence[str]) -> str:
    more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
    return ", ".join(repr(name) for name in names[:NAMES_SHOWN]) + more


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, "utf-8")
    except OSError as e:
        raise BadInputError(f"cannot write {path}: {e.strerror or e}") from e


def html_page(profile: SensitivityProfile, title: str) -> str:
    """A self-contained HTML page around `render_html` (inline CSS and SVG, nothing fetched)."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_PAGE_CSS}{STYLE}</style></head><body><h1>{escape(title)}</h1>{render_html(profile)}</body></html>\n"
    )


def format_report(profile: SensitivityProfile, *, heading: str, not_profiled: Sequence[str]) -> str:
    """The text printed on stdout: baseline, one line per feature, the pairs, what was skipped and the cost."""
    base = profile.baseline
    levels = "".join(f"{f'{level:.0%}':>8}" for level in TABLE_LEVELS)
    lines = [
        heading,
        f"baseline: AUC {base['auc']:.4f}, log loss {base['log_loss']:.4f}, positive rate {base['positive_rate']:.2%}",
        "AUC loss (labels held fixed) when the feature moves by a share of its sd, or a category's share rises by:",
        f"{'feature':<28}{'kind':<13}{levels}{'largest':>9}  worst",
    ]
    for row in profile.table():
        losses = "".join(f"{row[f'auc_loss_at_{level:g}']:8.4f}" for level in TABLE_LEVELS)
        worst = f"{row['worst_perturbation']} {row['worst_level']:+.0%}"
        lines.append(f"{row['feature'][:27]:<28}{row['kind']:<13}{losses}{row['max_auc_loss']:9.4f}  {worst}")
    pairs = profile.worst_pairs()
    for features, point in pairs.items():
        worst = f"{point.perturbation} {point.level:+.0%}"
        lines.append(f"pair {' + '.join(features)}: largest AUC loss {point.auc_loss:.4f} ({worst})")
    if not_profiled:
        lines.append(f"not profiled (no spread, or fewer than two categories): {', '.join(not_profiled)}")
    calls = 1 + len(profile.features()) + len(pairs)
    lines.append(
        f"measured cost: {profile.seconds:.2f} s for {len(profile.points)} perturbations of {profile.n_rows:,} rows "
        f"({calls} model calls)"
    )
    return "\n".join(lines)


def run(arguments: argparse.Namespace) -> str:
    """Compute the profile and write the requested files; returns the text report (BadInputError on bad input)."""
    loaded = _load_model(arguments.model_dir)
    manifest = loaded.manifest
    schema = manifest.input_schema
    frame = read_table(arguments.data, "DATA")
    if arguments.target not in frame.columns:
        raise BadInputError(f"the target column {arguments.target!r} is not in {arguments.data} (use --target)")
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise BadInputError(f"{arguments.data} lacks the model's feature columns {_shown(missing)}")
    try:
        labels = binary_labels(frame[arguments.target])
    except ValueError as e:
        raise BadInputError(f"the target column {arguments.target!r}: {e}") from e
    known = ~np.isnan(labels)
    positives = int(labels[known].sum())
    if not 0 < positives < int(known.sum()):
        raise BadInputError(
            f"the target column {arguments.target!r} must hold both classes to measure AUC: {positives} of "
            f"{int(known.sum())} labelled rows are 1"
        )
    try:
        profile = compute_sensitivity(
            loaded.estimator,
            frame.loc[known],
            labels[known],
            schema,
            threshold=manifest.decision_threshold,
            max_rows=arguments.max_rows,
        )
    except ValueError as e:
        raise BadInputError(str(e)) from e
    name = f"{manifest.model_name} {manifest.model_version}"
    if arguments.out is not None:
        _write(arguments.out, json.dumps(profile.to_json(), indent=2, allow_nan=False) + "\n")
    if arguments.html is not None:
        _write(arguments.html, html_page(profile, f"Sensitivity of {name} on {arguments.data.name}"))
    skipped = len(frame) - int(known.sum())
    sample = f"{profile.n_rows:,} of {int(known.sum()):,} labelled rows" + (
        f" ({skipped:,} without a label left out)" if skipped else ""
    )
    heading = f"sensitivity of {name} on {arguments.data.name}: {sample}, threshold {manifest.decision_threshold:.4f}"
    not_profiled = [feature for feature in schema.names if feature not in profile.features()]
    return format_report(profile, heading=heading, not_profiled=not_profiled)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when the profile was computed, 2 with a one-line message on stderr on bad input."""
    arguments = build_parser().parse_args(argv)
    try:
        report = run(arguments)
    except BadInputError as e:
        print(f"{PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return BAD_INPUT
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
