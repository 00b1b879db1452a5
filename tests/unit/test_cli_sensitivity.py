"""`autoretrain sensitivity MODEL_DIR DATA`: end to end on a version folder written as the retrain job writes it, and
a one-line error with exit code 2 on every kind of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from autoretrain import cli
from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.drift.sensitivity import SensitivityProfile
from batch_jobs.training import fitting
from core.artifacts import write_artifact
from core.layout import MANIFEST_FILE, MODEL_FILE

THRESHOLD = 0.3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default spec fitted on synthetic churn, written with the retrain job's artefact writer."""
    train = generate_churn(1500, seed=3)
    schema = model_spec.infer_input_schema(train, all_nullable=True)
    model = fitting.fit_model(train, schema, model_spec.DEFAULT_SPEC)
    directory = tmp_path_factory.mktemp("models") / "v1"
    write_artifact(
        directory,
        model,
        model_name="churn",
        input_schema=schema,
        decision_threshold=THRESHOLD,
        created_at=datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
    )
    return directory


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return generate_churn(800, seed=4)


@pytest.fixture
def csv_file(tmp_path: Path, holdout: pd.DataFrame) -> Path:
    path = tmp_path / "holdout.csv"
    holdout.to_csv(path, index=False)
    return path


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("autoretrain sensitivity: error: ")
    return err


def test_writes_json_and_html_and_prints_the_table_with_the_cost(
    model_dir: Path, csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, html = tmp_path / "profile.json", tmp_path / "profile.html"
    code = cli.main(["sensitivity", str(model_dir), str(csv_file), "--out", str(out), "--html", str(html)])
    assert code == 0
    printed = capsys.readouterr().out
    profile = SensitivityProfile.from_json(json.loads(out.read_text()))
    assert profile.n_rows == 800
    assert f"measured cost: {profile.seconds:.2f} s" in printed
    assert all(name in printed for name in profile.features())
    page = html.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == len(profile.features())


def test_reads_parquet_and_caps_the_rows(
    model_dir: Path, holdout: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "holdout.parquet", tmp_path / "profile.json"
    holdout.to_parquet(data)
    assert cli.main(["sensitivity", str(model_dir), str(data), "--max-rows", "300", "--out", str(out)]) == 0
    assert SensitivityProfile.from_json(json.loads(out.read_text())).n_rows == 300
    assert "300 of 800 labelled rows" in capsys.readouterr().out


def test_rows_without_a_label_are_left_out(
    model_dir: Path, holdout: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "partly_labelled.csv"
    holdout.assign(**{TARGET: holdout[TARGET].astype("Float64").mask(holdout.index < 100)}).to_csv(data, index=False)
    assert cli.main(["sensitivity", str(model_dir), str(data), "--max-rows", "300"]) == 0
    assert "300 of 700 labelled rows (100 without a label left out)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(lambda f: f.drop(columns=["tenure_months", "plan"]), "'tenure_months', 'plan'", id="features"),
        pytest.param(lambda f: f.drop(columns=[TARGET]), "target column 'churned'", id="target"),
        pytest.param(lambda f: f.assign(**{TARGET: 0}), "both classes", id="one-class"),
        pytest.param(lambda f: f.assign(**{TARGET: 2}), "0 or 1", id="not-binary"),
    ],
)
def test_bad_data_exits_2_with_one_line(
    model_dir: Path,
    holdout: pd.DataFrame,
    tmp_path: Path,
    *,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    data = tmp_path / "bad.csv"
    change(holdout).to_csv(data, index=False)
    assert cli.main(["sensitivity", str(model_dir), str(data)]) == 2
    assert message in _error(capsys)


def test_an_unreadable_data_file_exits_2(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "broken.parquet"
    data.write_bytes(b"not parquet at all")
    assert cli.main(["sensitivity", str(model_dir), str(data)]) == 2
    assert "cannot read DATA file" in _error(capsys)


def test_a_missing_data_file_exits_2(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sensitivity", str(model_dir), str(tmp_path / "absent.csv")]) == 2
    assert "not found" in _error(capsys)


def test_a_folder_without_a_model_exits_2(csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sensitivity", str(tmp_path), str(csv_file)]) == 2
    assert MANIFEST_FILE in _error(capsys)


def test_a_tampered_model_file_is_not_loaded(
    model_dir: Path, csv_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "tampered"
    copy.mkdir()
    (copy / MANIFEST_FILE).write_bytes((model_dir / MANIFEST_FILE).read_bytes())
    (copy / MODEL_FILE).write_bytes((model_dir / MODEL_FILE).read_bytes() + b"\x00")
    assert cli.main(["sensitivity", str(copy), str(csv_file)]) == 2
    assert "does not match the manifest" in _error(capsys)


def test_max_rows_below_two_is_refused(model_dir: Path, csv_file: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sensitivity", str(model_dir), str(csv_file), "--max-rows", "1"])
    assert exit_info.value.code == 2
