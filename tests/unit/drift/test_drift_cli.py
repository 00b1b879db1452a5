"""`autoretrain drift-report`: good input gives JSON and exit 0; each kind of bad input a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift.cli import main


def _data(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    return pd.DataFrame(
        {
            "amount": rng.normal(shift, 1, n),
            "plan": rng.choice(["basic", "pro"], n),
            "score": scores,
            "churned": (rng.random(n) < scores).astype(int),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    reference, current = tmp_path / "reference.csv", tmp_path / "current.parquet"
    _data(1500, seed=1).to_csv(reference, index=False)
    _data(1000, seed=2, shift=0.5).to_parquet(current)
    return reference, current


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_good_input_prints_result_json_and_writes_report(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    argv = [*map(str, files), "--target", "churned", "--prediction", "score", "--out", str(out)]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dataset_drift"] is True
    assert document["drifted_features"] == ["amount"]
    assert [feature["name"] for feature in document["features"]] == ["amount", "plan"]
    assert document["performance"]["n_labels"] == 1000
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_exit_code_is_zero_without_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = tmp_path / "a.csv", tmp_path / "b.csv"
    _data(1500, seed=1).to_csv(reference, index=False)
    _data(1000, seed=2).to_csv(current, index=False)
    assert main([str(reference), str(current)]) == 0
    assert "dataset_drift" in json.loads(capsys.readouterr().out)


def test_missing_file_is_reported(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert "not found" in _error(capsys, [str(files[0]), str(files[0].with_name("absent.csv"))])


def test_unreadable_file_is_reported(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    assert "cannot read CURRENT" in _error(capsys, [str(files[0]), str(broken)])


def test_unsupported_extension_is_reported(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"x")
    assert "unsupported extension" in _error(capsys, [str(files[0]), str(other)])


def test_no_common_columns_is_reported(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.csv"
    pd.DataFrame({"unrelated": np.arange(300)}).to_csv(other, index=False)
    assert "no feature column in common" in _error(capsys, [str(files[0]), str(other)])


def test_empty_data_is_reported(files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("amount,plan,score,churned\n", encoding="utf-8")
    assert "no data rows" in _error(capsys, [str(files[0]), str(empty)])


def test_column_type_difference_is_reported(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "changed.csv"
    frame = _data(500, seed=3)
    frame["amount"] = "unknown"
    frame.to_csv(changed, index=False)
    message = _error(capsys, [str(files[0]), str(changed)])
    assert "'amount' is numeric in REFERENCE but string in CURRENT" in message


def test_missing_target_column_is_reported(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert "--target column 'label'" in _error(capsys, [*map(str, files), "--target", "label"])


def test_missing_prediction_column_is_reported(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert "--prediction column 'proba'" in _error(capsys, [*map(str, files), "--prediction", "proba"])
