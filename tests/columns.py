"""Test helpers: the columns a window read returns, built from row-like inputs through the real segment codec.

Each row becomes the JSON line a client would log; the lines and their canonical times are joined into a segment
body (`encode_segment`, as the payload ETL does) and read back (`PredictionColumns.decode`, as a window read does).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from batch_jobs.lake.frame import WindowFrame
from core.segments import (
    PREDICTIONS_FORMAT,
    LabelledColumns,
    LabelledPrediction,
    PredictionColumns,
    PredictionRow,
    encode_segment,
)


def prediction_line(row: PredictionRow) -> str:
    """The JSON line a client logs for `row` (a name missing from its `features` is left out, not null)."""
    document: dict[str, Any] = {
        "request_id": row.request_id,
        "model_name": row.model_name,
        "model_version": row.model_version,
        "timestamp": row.timestamp,
        "features": dict(row.features),
        "prediction": {"score": row.score, "label": row.predicted_label},
    }
    if row.latency_ms is not None:
        document["latency_ms"] = row.latency_ms
    return json.dumps(document)


def prediction_columns(rows: Iterable[PredictionRow], *, model_name: str = "churn") -> PredictionColumns:
    """Columns holding `rows` in this order; a name missing from a row's `features` is absent there (not null)."""
    rows = list(rows)
    for row in rows:
        if row.model_name != model_name:
            raise ValueError(f"row {row.request_id} is of model {row.model_name!r}, not {model_name!r}")
    body = encode_segment(
        PREDICTIONS_FORMAT, "timestamp", [row.timestamp for row in rows], [prediction_line(row) for row in rows]
    )
    columns = PredictionColumns.decode(body, model_name=model_name, record_count=len(rows))
    # The helper itself must not change what a test means: every row as given, absent names left out of its
    # features, null ones kept (`PredictionRow.features` is `row_features`).
    if list(columns) != rows:
        raise AssertionError("the columns do not read back as the rows they were built from")
    return columns


def labelled_columns(rows: Iterable[LabelledPrediction], *, model_name: str = "churn") -> LabelledColumns:
    """A labelled window holding `rows` in this order (a row's label must be for its own request)."""
    rows = list(rows)
    for row in rows:
        if row.label is not None and row.label.request_id != row.prediction.request_id:
            raise ValueError(f"the label of {row.label.request_id} is joined to {row.prediction.request_id}")
    columns = LabelledColumns(
        prediction_columns((row.prediction for row in rows), model_name=model_name),
        [None if row.label is None else row.label.label for row in rows],
        [None if row.label is None else row.label.observed_at for row in rows],
    )
    if list(columns) != rows:
        raise AssertionError("the labelled columns do not read back as the rows they were built from")
    return columns


def window_frame(
    rows: Iterable[PredictionRow] | PredictionColumns | WindowFrame, *, model_name: str = "churn"
) -> WindowFrame:
    """The window a read returns for `rows` (`batch_jobs.lake.frame.WindowFrame`), through the record columns."""
    if isinstance(rows, WindowFrame):
        return rows
    columns = rows if isinstance(rows, PredictionColumns) else prediction_columns(rows, model_name=model_name)
    return WindowFrame.from_columns(columns)


def labelled_frame(
    rows: Iterable[LabelledPrediction] | LabelledColumns,
    *,
    labels_until: datetime | None = None,
    model_name: str = "churn",
) -> WindowFrame:
    """The labelled window a read returns for `rows`: their rows labelled by `labels_until` (all labelled if None)."""
    columns = rows if isinstance(rows, LabelledColumns) else labelled_columns(rows, model_name=model_name)
    return WindowFrame.from_columns(columns, labels_until=labels_until)
