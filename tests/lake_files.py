"""Lake files for tests, in the layout and column types of `core.lake`, written through awswrangler (as the ETL
writes them) and a feature column added to the Glue table as the release step adds it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import awswrangler as wr
import boto3
import pandas as pd

from core.lake import LakeTable, day_of, feature_column, part_file_key, sample_key

MODEL = "churn"


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def write_predictions(
    session: boto3.Session,
    bucket: str,
    rows: Sequence[Mapping[str, object]],
    *,
    source: str = "source",
    model_name: str = MODEL,
    features: Sequence[str] = ("age",),
    categorical: Sequence[str] = (),
) -> list[str]:
    """One part file per day of `rows` (each: request_id, ts, and optionally score, model_version, unparsed, the
    named numeric `features` and `categorical` ones); returns the keys written."""
    records = [
        {
            "request_id": row["request_id"],
            "model_version": row.get("model_version", "v1"),
            "ts": _naive(row["ts"]),  # type: ignore[arg-type]
            "score": float(row.get("score", 0.5)),  # type: ignore[arg-type]
            "predicted_label": int(row.get("predicted_label", 1)),  # type: ignore[call-overload]
            "latency_ms": row.get("latency_ms", 5.0),
            "sample_key": sample_key(str(row["request_id"])),
            "unparsed_features": row.get("unparsed"),
            **{feature_column(name): row.get(name) for name in (*features, *categorical)},
        }
        for row in rows
    ]
    dtype = {"predicted_label": "int", "sample_key": "bigint", "unparsed_features": "string", "latency_ms": "double"}
    dtype |= {feature_column(name): "double" for name in features}
    dtype |= {feature_column(name): "string" for name in categorical}
    return _write(session, bucket, LakeTable.PREDICTIONS, pd.DataFrame(records), "ts", dtype, source, model_name)


def write_labels(
    session: boto3.Session,
    bucket: str,
    rows: Sequence[tuple[str, int, datetime]],
    *,
    source: str = "labels",
    model_name: str = MODEL,
) -> list[str]:
    """Labels `(request_id, label, observed_at)`, one part file per day of observation."""
    frame = pd.DataFrame(
        [
            {"request_id": request_id, "label": label, "observed_at": _naive(at), "sample_key": sample_key(request_id)}
            for request_id, label, at in rows
        ]
    )
    dtype = {"label": "int", "sample_key": "bigint"}
    return _write(session, bucket, LakeTable.LABELS, frame, "observed_at", dtype, source, model_name)


def _write(  # noqa: PLR0917  # one private helper of the two writers above
    session: boto3.Session,
    bucket: str,
    table: LakeTable,
    frame: pd.DataFrame,
    time_column: str,
    dtype: dict[str, str],
    source: str,
    model_name: str,
) -> list[str]:
    keys = []
    for day, rows in frame.groupby(frame[time_column].map(day_of)):
        key = part_file_key(table, model_name, str(day), source, 0)
        wr.s3.to_parquet(
            rows.reset_index(drop=True),
            path=f"s3://{bucket}/{key}",
            index=False,
            dtype=dtype,
            boto3_session=session,
            pyarrow_additional_kwargs={
                "coerce_timestamps": "ms",
                "allow_truncated_timestamps": True,
                "use_deprecated_int96_timestamps": False,
            },
        )
        keys.append(key)
    return keys


def add_feature_columns(session: boto3.Session, database: str, features: Sequence[tuple[str, str]]) -> None:
    """Add typed feature columns `(name, glue type)` to the predictions table, each commented with its name."""
    for name, glue_type in features:
        wr.catalog.add_column(
            database,
            LakeTable.PREDICTIONS.value,
            feature_column(name),
            glue_type,
            column_comment=name,
            boto3_session=session,
        )
