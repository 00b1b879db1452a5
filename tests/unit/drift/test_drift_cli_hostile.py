"""`autoretrain drift-report` on hostile files: a clear verdict or a clear error, never an overflow's silent verdict.

Values at the ends of the double range, all-missing columns, scores outside [0, 1], duplicate column names and
absurdly wide headers each give a verdict that means what it says, or exit 2 with a one-line message; a fuzz over
generated CSV and Parquet files checks that nothing else can come out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as hpd

from batch_jobs.drift._stats import scaled_mean, scaled_std, wasserstein_sorted
from batch_jobs.drift.cli import BadInputError, main, read_table
from batch_jobs.drift.profile import NumericSummary

BIG = 1.7e308
N = 400


def _report(capsys: pytest.CaptureFixture[str], reference: Path, current: Path, *options: str) -> dict[str, Any]:
    assert main([str(reference), str(current), *options]) == 0, capsys.readouterr().err
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def _error(capsys: pytest.CaptureFixture[str], reference: Path, current: Path, *options: str) -> str:
    assert main([str(reference), str(current), *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    return captured.err


def _write(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / name
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def _feature(result: dict[str, Any], name: str) -> dict[str, Any]:
    feature: dict[str, Any] = next(item for item in result["features"] if item["name"] == name)
    return feature


def test_a_shift_to_the_ends_of_the_double_range_is_drift_not_an_overflowed_effect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    reference = _write(tmp_path, "reference.csv", pd.DataFrame({"x": rng.normal(size=N)}))
    current = _write(tmp_path, "current.csv", pd.DataFrame({"x": rng.choice([-BIG, BIG], N)}))
    feature = _feature(_report(capsys, reference, current), "x")
    assert feature["verdict"] == "drift"
    assert feature["distribution"]["effect_size"] is not None


def test_samples_at_opposite_ends_of_the_double_range_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = _write(tmp_path, "reference.parquet", pd.DataFrame({"x": np.full(N, BIG)}))
    current = _write(tmp_path, "current.parquet", pd.DataFrame({"x": np.full(N, -BIG)}))
    feature = _feature(_report(capsys, reference, current), "x")
    assert feature["verdict"] == "drift"
    assert feature["distribution"]["reference_value"] == BIG
    assert feature["distribution"]["current_value"] == -BIG


def test_the_same_extreme_sample_does_not_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.choice([-BIG, BIG], N)})
    reference, current = _write(tmp_path, "r.csv", frame), _write(tmp_path, "c.csv", frame)
    feature = _feature(_report(capsys, reference, current), "x")
    assert feature["verdict"] == "no_drift"
    assert feature["distribution"]["effect_size"] == 0.0


def test_moments_quantiles_and_distances_at_the_ends_of_the_double_range_are_finite() -> None:
    values = np.sort(np.array([-BIG, -BIG, BIG, BIG]))
    summary = NumericSummary.from_sorted(values, n_bins=10, hist_bins=20)
    assert np.isfinite([summary.mean, summary.std, *summary.quantiles, *summary.hist_edges]).all()
    assert summary.std > 1e308
    assert scaled_mean(np.full(3, BIG)) == BIG
    assert scaled_std(np.array([BIG, -BIG])) > 0
    assert wasserstein_sorted(np.full(3, -BIG), np.full(3, BIG)) == np.inf  # 3.4e308: beyond the doubles


def test_a_column_missing_in_every_row_of_both_files_is_insufficient_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(2)
    frames = [pd.DataFrame({"empty": np.full(N, np.nan), "x": rng.normal(size=N)}) for _ in range(2)]
    reference, current = _write(tmp_path, "r.csv", frames[0]), _write(tmp_path, "c.parquet", frames[1])
    result = _report(capsys, reference, current)
    assert _feature(result, "empty")["verdict"] == "insufficient_data"
    assert _feature(result, "x")["verdict"] == "no_drift"
    assert result["multivariate"] is not None


@pytest.mark.parametrize("score", [1.5, -0.1, BIG])
def test_scores_outside_zero_and_one_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], score: float
) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=N), "score": rng.random(N), "y": rng.integers(0, 2, N)})
    bad = frame.assign(score=np.where(np.arange(N) == 0, score, frame["score"]))
    reference, current = _write(tmp_path, "r.csv", frame), _write(tmp_path, "c.csv", bad)
    message = _error(capsys, reference, current, "--prediction", "score", "--target", "y")
    assert "CURRENT" in message
    assert "1 scores outside [0, 1]" in message


def test_duplicate_column_names_in_a_csv_header_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b,a\n" + "1,2,3\n" * 20)
    assert "duplicate column names: 'a'" in _error(capsys, path, path)


def test_duplicate_column_names_in_a_parquet_file_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table([pa.array([1.0] * 20), pa.array([2.0] * 20)], names=["a", "a"]), path)
    assert "REFERENCE" in _error(capsys, path, path)


def test_thousands_of_columns_with_very_long_names_give_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    names = [f"{i}-" + "n" * 2000 for i in range(2000)]
    frame = pd.DataFrame(rng.normal(size=(60, len(names))), columns=names)
    reference, current = _write(tmp_path, "r.csv", frame), _write(tmp_path, "c.parquet", frame)
    result = _report(capsys, reference, current)
    assert result["n_features"] == len(names)
    assert not result["dataset_drift"]


# --- fuzz: a result or the typed error, nothing else ------------------------------------------------------------

_NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([BIG, -BIG, 5e-324, 0.0])
_TEXT = st.text(max_size=8)
_COLUMN_NAMES = st.sampled_from(["a", "b", "score", "y", "", " ", "a.1", "Unnamed: 0", "x" * 300])


def _loaded_or_refused(path: Path, role: str) -> str:
    """'loaded', or the loader's message when it refused the file with its typed error."""
    try:
        read_table(path, role)
    except BadInputError as error:
        return str(error)
    return "loaded"


def _frames() -> st.SearchStrategy[pd.DataFrame]:
    return hpd.data_frames(
        columns=[
            hpd.column("a", elements=_NUMBERS),
            hpd.column("b", elements=_TEXT),
            hpd.column("score", elements=_NUMBERS),
            hpd.column("y", elements=st.sampled_from([0, 1, 2, None])),
        ],
        index=hpd.range_indexes(min_size=0, max_size=30),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    reference=_frames(),
    current=_frames(),
    layout=st.tuples(
        st.lists(_COLUMN_NAMES, min_size=4, max_size=4),
        st.tuples(st.sampled_from([".csv", ".parquet"]), st.sampled_from([".csv", ".parquet"])),
        st.sampled_from([[], ["--prediction", "score"], ["--prediction", "score", "--target", "y"]]),
    ),
)
def test_any_pair_of_files_gives_a_report_or_a_one_line_error(
    tmp_path_factory: pytest.TempPathFactory,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    layout: tuple[list[str], tuple[str, str], list[str]],
) -> None:
    renamed, suffixes, options = layout
    directory = tmp_path_factory.mktemp("fuzz")
    paths = []
    for role, frame, suffix in (("reference", reference, suffixes[0]), ("current", current, suffixes[1])):
        path = directory / f"{role}{suffix}"
        if suffix == ".csv":
            frame.set_axis(renamed, axis=1).to_csv(path, index=False)
        else:
            # Parquet holds duplicate names only when written by Arrow directly.
            table = pa.Table.from_pandas(frame, preserve_index=False)
            pq.write_table(table.rename_columns(renamed), path)
        paths.append(path)
    for path, role in zip(paths, ("REFERENCE", "CURRENT"), strict=True):
        assert _loaded_or_refused(path, role)
    code = main([str(paths[0]), str(paths[1]), *options])
    assert code in (0, 2)
