"""How the embedded engine hands a streamed result over (`batch_jobs.lake.engine._fetch`), pure over Arrow batches:
numbers as numpy, text as categories across batches, nulls kept, nothing left pointing into Arrow's batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from batch_jobs.lake.engine import _fetch, return_large_blocks

SCHEMA = pa.schema(
    [("model_version", pa.string()), ("score", pa.float64()), ("sample_key", pa.int64()), ("note", pa.string())]
)


def _reader(*batches: dict[str, list[object]]) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(
        SCHEMA, [pa.RecordBatch.from_pydict(batch, schema=SCHEMA) for batch in batches]
    )


def test_text_becomes_one_set_of_categories_across_batches_with_nulls_kept() -> None:
    frame = _fetch(
        _reader(
            {
                "model_version": ["v1", "v2", "v1"],
                "score": [0.1, 0.2, None],
                "sample_key": [3, 1, 2],
                "note": [None] * 3,
            },
            {"model_version": ["v2", None], "score": [0.4, 0.5], "sample_key": [5, None], "note": [None, "{}"]},
        )
    )

    assert frame["model_version"].tolist()[:4] == ["v1", "v2", "v1", "v2"]
    assert pd.isna(frame["model_version"].iat[4])
    assert str(frame["model_version"].dtype) == "category"
    assert list(frame["model_version"].cat.categories) == ["v1", "v2"]
    assert frame["note"].isna().tolist() == [True, True, True, True, False]
    assert frame["note"].iat[4] == "{}"
    assert np.array_equal(frame["score"].to_numpy(), [0.1, 0.2, np.nan, 0.4, 0.5], equal_nan=True)
    assert np.array_equal(frame["sample_key"].to_numpy(), [3, 1, 2, 5, np.nan], equal_nan=True)  # a null int: NaN


def test_numbers_are_copied_out_of_arrow_s_batches() -> None:
    batch = pa.RecordBatch.from_pydict(
        {"model_version": ["v"], "score": [0.5], "sample_key": [1], "note": [None]}, schema=SCHEMA
    )
    frame = _fetch(pa.RecordBatchReader.from_batches(SCHEMA, [batch]))

    arrow_score = np.frombuffer(batch.column(1).buffers()[1], dtype=np.float64)
    assert not np.shares_memory(frame["score"].to_numpy(), arrow_score)
    assert frame["sample_key"].dtype == np.int64


def test_an_empty_result_keeps_its_columns() -> None:
    frame = _fetch(_reader())

    assert list(frame.columns) == ["model_version", "score", "sample_key", "note"]
    assert len(frame) == 0


def test_large_blocks_go_back_to_the_system_where_the_c_library_allows() -> None:
    assert return_large_blocks() is True  # this machine runs glibc; the call is idempotent
    assert return_large_blocks() is True
