"""A lake sample's rows as the jobs get them (`batch_jobs.lake.frame.from_lake`), pure: a request's earliest record
wins among the rows its sample key marks, and rows come out in time order whatever order the engine returned."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batch_jobs.lake.frame import WindowFrame, first_records, from_lake

T = pd.Timestamp("2026-03-10 12:00:00")


def _result(rows: list[tuple[str, int, str | None, float, int]]) -> pd.DataFrame:
    """Rows `(model_version, seconds after T, the request `duplicate_of` names or None, score, sample_key)`."""
    return pd.DataFrame(
        {
            "model_version": [row[0] for row in rows],
            "ts": [T + pd.Timedelta(seconds=row[1]) for row in rows],
            "score": [row[3] for row in rows],
            "predicted_label": [int(row[3] >= 0.5) for row in rows],
            "sample_key": [row[4] for row in rows],
            "unparsed_features": [None] * len(rows),
            "f_age": [float(index) for index in range(len(rows))],
            "duplicate_of": [row[2] for row in rows],
            "label": [1] * len(rows),
        }
    )


def test_the_earliest_record_of_a_marked_request_wins_ties_by_version_then_score() -> None:
    result = _result(
        [
            ("v1", 5, "a", 0.9, 7),  # a: later
            ("v1", 1, "a", 0.8, 7),  # a: earliest -> kept
            ("v2", 3, "b", 0.1, 7),  # b: same time as the next, later version
            ("v1", 3, "b", 0.2, 7),  # b: kept
            ("v1", 4, "c", 0.3, 7),  # c shares the key but is its own request -> kept
            ("v1", 2, None, 0.4, 9),  # unmarked -> kept
        ]
    )
    keep = first_records(result, pd.DatetimeIndex(result["ts"]).as_unit("ms").asi8)
    assert keep.tolist() == [False, True, False, True, True, True]


def test_a_frame_is_in_time_order_then_sample_key_and_holds_one_row_per_request() -> None:
    result = _result(
        [
            ("v1", 9, None, 0.9, 1),
            ("v1", 2, "a", 0.6, 5),
            ("v1", 2, None, 0.7, 3),
            ("v1", 1, "a", 0.2, 5),
        ]
    )
    frame = from_lake(result, [("age", "f_age")], labelled=True, records=4)
    assert frame.score.tolist() == [0.2, 0.7, 0.9]  # request a's earliest, then by time, ties by sample key
    assert frame.features["age"].tolist() == [3.0, 2.0, 0.0]  # features follow their rows
    assert np.array_equal(frame.predicted_label, np.array([0, 1, 1], dtype=np.int8))
    assert frame.records == 4
    assert list(result.columns) == []  # consumed: the result's columns are dropped as the frame is built


def test_the_option_columns_and_keys_follow_their_rows_with_missing_values_marked() -> None:
    result = _result([("v1", 9, None, 0.9, 1), ("v1", 2, "a", 0.6, 5), ("v1", 1, "a", 0.2, 5)])
    result["request_id"] = ["r9", "a", "a"]
    result["arm"] = pd.Categorical(["control", None, "model"])
    result["heuristic_score"] = [0.1, np.nan, np.nan]
    result["heuristic_label"] = [0.0, np.nan, np.nan]  # an integer column with nulls comes back as floats
    result["shadow_version"] = pd.Categorical([None, None, "v2"])
    result["shadow_score"] = [np.nan, np.nan, 0.75]
    result["shadow_label"] = pd.array([None, None, 1], dtype="Int64")  # Athena's nullable integers
    result["shadow_latency_ms"] = [np.nan, np.nan, 4.5]
    result["client_id"] = pd.Categorical(["c-9", None, "c-1"])
    frame = from_lake(result, [("age", "f_age")], labelled=True, options=True, keys=True)
    assert frame.options is not None
    assert frame.keys is not None
    assert frame.keys.request_id.tolist() == ["a", "r9"]
    assert frame.keys.sample_key.tolist() == [5, 1]
    assert [value if isinstance(value, str) else None for value in frame.options.arm] == ["model", "control"]
    assert frame.options.heuristic_label.tolist() == [-1, 0]
    assert frame.options.shadow_label.tolist() == [1, -1]
    assert frame.options.shadow_score[0] == 0.75
    assert [value if isinstance(value, str) else None for value in frame.options.client_id] == ["c-1", "c-9"]
    assert np.isnan(frame.options.heuristic_score[0])
    later = frame.take(np.array([False, True]))
    assert later.keys is not None
    assert later.options is not None
    assert (later.keys.request_id.tolist(), later.options.heuristic_score.tolist()) == (["r9"], [0.1])


def test_a_frame_without_options_has_none_and_an_empty_one_has_empty_columns() -> None:
    result = _result([("v1", 1, None, 0.2, 5)])
    assert from_lake(result, [("age", "f_age")], labelled=True).options is None
    empty = WindowFrame.empty(labelled=True, options=True, keys=True)
    assert empty.options is not None
    assert empty.keys is not None
    assert (len(empty.options), len(empty.keys)) == (0, 0)
