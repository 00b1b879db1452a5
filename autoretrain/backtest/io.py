"""The backtest's files: the history (CSV, Parquet or a lake on disk), the policy file (JSON or TOML) and the outputs
(`backtest.json`, `backtest.html`). Everything else in this package is pure.

A lake on disk has the layout of `core.lake` under a directory (`<dir>/lake/{predictions,labels}/model=<m>/dt=<day>/
*.parquet`, or that `lake` folder itself); it is read with the jobs' own lake code, DuckDB over the local files
(`batch_jobs.lake.engine.DuckDBEngine`, `LocalLakeFiles`, `batch_jobs.lake.windows.LakeWindows`): every prediction
of the model with its latest label (one row per request, as the jobs read them), never sampled. Two things the lake's
query does not return are approximated: when each label was observed (a label arrives `label_delay_days` after its
prediction), and predictions that never got a label (left out: they would only enlarge the drift windows). Feature
columns are found in the files' schemas (`f_<name>`: the feature `<name>`; a name the lake had to hash keeps its
column's name).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from autoretrain.backtest.data import HistoryError
from autoretrain.backtest.report import render_html
from autoretrain.backtest.result import BacktestResult
from autoretrain.backtest.settings import BacktestSettings, SettingsError, settings_from_mapping
from core.lake import DAY_PARTITION, FEATURE_COLUMN_PREFIX, LAKE_PREFIX, MODEL_PARTITION, Column, LakeTable

JSON_FILE = "backtest.json"
HTML_FILE = "backtest.html"
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


def load_policy_file(path: Path) -> BacktestSettings:
    """Settings from a `.json` or `.toml` policy file (`settings.settings_from_mapping`); `SettingsError` if it
    cannot be read or is not valid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read the policy file {path}: {error.strerror or error}") from error
    try:
        if path.suffix.lower() == ".toml":
            document: Any = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            document = json.loads(text)
        else:
            raise SettingsError(f"the policy file must be .json or .toml, got {path.name!r}")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"the policy file {path} is not valid {path.suffix[1:].upper()}: {error}") from error
    if not isinstance(document, Mapping):
        raise SettingsError("the policy file must hold an object of settings")
    return settings_from_mapping(document)


def load_history(path: Path, settings: BacktestSettings, *, model: str | None = None) -> pd.DataFrame:
    """The history in `path`: a CSV or Parquet file, or a lake directory (module docstring); `HistoryError` if it
    cannot be read."""
    if path.is_dir():
        return read_lake(path, settings, model=model)
    if not path.exists():
        raise HistoryError(f"no such file or directory: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in CSV_SUFFIXES:
            return pd.read_csv(path)
        if suffix in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
    except (OSError, ValueError) as error:  # pandas' and pyarrow's parse errors are ValueErrors
        raise HistoryError(f"cannot read {path}: {error}") from error
    raise HistoryError(f"unsupported history file {path.name!r}: use .csv, .parquet or a lake directory")


def _lake_root(path: Path) -> Path:
    if (path / LAKE_PREFIX / LakeTable.PREDICTIONS.value).is_dir():
        return path
    if path.name == LAKE_PREFIX.rstrip("/") and (path / LakeTable.PREDICTIONS.value).is_dir():
        return path.parent
    raise HistoryError(f"{path} is neither a lake (lake/predictions/model=<m>/dt=<day>/) nor a history file")


def _partitions(folder: Path, name: str) -> list[str]:
    prefix = f"{name}="
    return sorted(child.name[len(prefix) :] for child in folder.glob(f"{prefix}*") if child.is_dir())


def _feature_columns(files: list[Path]) -> tuple[tuple[str, Column], ...]:
    types = {"double": "double", "string": "string", "large_string": "string"}
    found: dict[str, Column] = {}
    for file in files:
        for field in pq.read_schema(file):
            if field.name.startswith(FEATURE_COLUMN_PREFIX) and field.name not in found:
                glue_type = types.get(str(field.type))
                if glue_type is not None:
                    found[field.name] = Column(field.name, glue_type, field.name[len(FEATURE_COLUMN_PREFIX) :])
    return tuple((column.comment, column) for column in found.values())


def read_lake(path: Path, settings: BacktestSettings, *, model: str | None = None) -> pd.DataFrame:
    """Every labelled prediction of one model in a lake on disk, as a history (module docstring)."""
    # The lake's engine loads DuckDB and awswrangler (seconds of imports): only a lake history needs them.
    from batch_jobs.lake.engine import DuckDBEngine, LakeQueryError, LocalLakeFiles  # noqa: PLC0415
    from batch_jobs.lake.windows import LakeWindows, StaticFeatureCatalog  # noqa: PLC0415

    root = _lake_root(path)
    predictions = root / LAKE_PREFIX / LakeTable.PREDICTIONS.value
    models = _partitions(predictions, MODEL_PARTITION)
    if model is None:
        if len(models) != 1:
            raise HistoryError(f"the lake holds models {models}: name one with --model")
        model = models[0]
    if model not in models:
        raise HistoryError(f"the lake has no predictions of model {model!r} (it has {models})")
    days = _partitions(predictions / f"{MODEL_PARTITION}={model}", DAY_PARTITION)
    label_days = _partitions(root / LAKE_PREFIX / LakeTable.LABELS.value / f"{MODEL_PARTITION}={model}", DAY_PARTITION)
    files = sorted((predictions / f"{MODEL_PARTITION}={model}").glob(f"{DAY_PARTITION}=*/*.parquet"))
    if not days or not files or not label_days:
        raise HistoryError(f"the lake has no prediction or no label files of model {model!r}")
    start = pd.Timestamp(days[0], tz="UTC").to_pydatetime()
    end = (pd.Timestamp(days[-1], tz="UTC") + pd.Timedelta(days=1)).to_pydatetime()
    labels_until = (pd.Timestamp(max(label_days[-1], days[-1]), tz="UTC") + pd.Timedelta(days=1)).to_pydatetime()
    engine = DuckDBEngine(LocalLakeFiles(root), threads=1)
    try:
        lake = LakeWindows(engine, StaticFeatureCatalog(_feature_columns(files)), sample_rows=2**62)
        window = lake.labelled_frame(model, start, end, labels_until=labels_until)
    except LakeQueryError as error:
        raise HistoryError(f"cannot read the lake: {error}") from error
    finally:
        engine.close()
    columns = settings.columns
    history = window.features.copy()
    history.insert(0, columns.timestamp, window.time)
    if window.label is not None:
        history[columns.label] = window.label.astype("int64")
    return history


def write_outputs(result: BacktestResult, out: Path) -> tuple[Path, Path]:
    """`backtest.json` and `backtest.html` in `out` (created if needed); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_FILE, out / HTML_FILE
    json_path.write_text(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    html_path.write_text(render_html(result), encoding="utf-8")
    return json_path, html_path
