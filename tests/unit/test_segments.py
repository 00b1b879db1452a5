"""Segment bodies (`core.segments`): the records' lines verbatim with their canonical times, and the columns
a window read decodes them into."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

from core.records import validate_label, validate_payload
from core.segments import (
    BODY_BYTES_PER_RECORD,
    LABELS_FORMAT,
    PREDICTIONS_FORMAT,
    LabelColumns,
    LabelledColumns,
    LabelledPrediction,
    LabelRow,
    PredictionColumns,
    PredictionRow,
    SegmentFormatError,
    encode_segment,
)

MODEL = "churn"


def prediction(request_id: str, features: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """A prediction record as a client logs it."""
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3} if features is None else features,
        "prediction": {"score": 0.25, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def label(request_id: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "label": 1,
        "observed_at": "2026-12-20T00:00:00.000Z",
    }
    document.update(changes)
    return document


def prediction_body(*lines: str) -> str:
    """A body as the ETL writes it: each line checked by the contract, stored with its canonical time."""
    times = []
    for line in lines:
        _, model, _, timestamp, *_ = validate_payload(json.loads(line))
        assert model == MODEL
        times.append(timestamp)
    return encode_segment(PREDICTIONS_FORMAT, "timestamp", times, lines)


def label_body(*lines: str) -> str:
    times = []
    for line in lines:
        _, model, _, observed_at, _ = validate_label(json.loads(line))
        assert model == MODEL
        times.append(observed_at)
    return encode_segment(LABELS_FORMAT, "observed_at", times, lines)


def predictions(*documents: dict[str, Any]) -> PredictionColumns:
    """The columns a window read decodes from a segment of these records."""
    body = prediction_body(*(json.dumps(document) for document in documents))
    return PredictionColumns.decode(body, model_name=MODEL, record_count=len(documents))


def labels(*documents: dict[str, Any]) -> LabelColumns:
    body = label_body(*(json.dumps(document) for document in documents))
    return LabelColumns.decode(body, record_count=len(documents))


def rows_of(columns: PredictionColumns) -> list[tuple[Any, ...]]:
    """Every column of every row, `row_features` for the features."""
    return [
        (
            columns.request_id[row],
            columns.model_version[row],
            columns.timestamp[row],
            columns.score[row],
            columns.predicted_label[row],
            columns.latency_ms[row],
            columns.row_features(row),
        )
        for row in range(len(columns))
    ]


def row_of(document: dict[str, Any], timestamp: str | None = None) -> tuple[Any, ...]:
    """What `rows_of` gives for a canonical record."""
    return (
        document["request_id"],
        document["model_version"],
        document["timestamp"] if timestamp is None else timestamp,
        document["prediction"]["score"],
        document["prediction"]["label"],
        document.get("latency_ms"),
        document["features"],
    )


# --- encoding ------------------------------------------------------------------------------------------------

#: Lines as clients write them: spaces, key orders, escapes, unknown members, non-canonical times.
WRITTEN = [
    '{"request_id": "r-1", "model_name": "churn", "model_version": "v1", "timestamp": "2026-11-23T10:00:00.123Z",'
    ' "features": {"plan": "pro", "tenure": 3}, "prediction": {"score": 0.25, "label": 0}, "latency_ms": 12.5}',
    '{"features":{"city":"Z\\u00fcrich","x":null},"session":"s-9","prediction":{"label":1,"score":1,"why":[1,{}]},'
    '"timestamp":"2026-11-23T12:30:00+02:00","model_version":"v2","model_name":"churn","request_id":"r-\u00e9"}',
    '  {"request_id":"r-3","model_name":"churn","model_version":"v1","timestamp":"2026-11-23T10:59:59.999Z",'
    '"features":{"plan":"basic"},"prediction":{"score":0.5,"label":1},"latency_ms":null}  ',
]


def test_an_encoded_segment_is_one_json_object_of_its_format_times_and_records() -> None:
    times = ["2026-11-23T10:00:00.123Z", "2026-11-23T10:30:00.000Z", "2026-11-23T10:59:59.999Z"]
    body = encode_segment(PREDICTIONS_FORMAT, "timestamp", times, WRITTEN)
    document = json.loads(body)
    assert list(document) == ["format", "timestamp", "records"]
    assert document == {
        "format": PREDICTIONS_FORMAT,
        "timestamp": times,
        "records": [json.loads(line) for line in WRITTEN],
    }
    assert body.endswith('"records":[' + ",".join(WRITTEN) + "]}")  # the lines verbatim, in order


def test_an_encoded_label_segment_holds_the_observation_times() -> None:
    lines = [json.dumps(label("r-1")), json.dumps(label("r-2", observed_at="2026-12-20T02:00:00+02:00", note="n"))]
    body = encode_segment(LABELS_FORMAT, "observed_at", ["2026-12-20T00:00:00.000Z"] * 2, lines)
    assert json.loads(body) == {
        "format": LABELS_FORMAT,
        "observed_at": ["2026-12-20T00:00:00.000Z"] * 2,
        "records": [json.loads(line) for line in lines],
    }
    assert all(line in body for line in lines)


def test_an_empty_segment_encodes_and_decodes_to_no_rows() -> None:
    body = encode_segment(PREDICTIONS_FORMAT, "timestamp", [], [])
    assert json.loads(body) == {"format": PREDICTIONS_FORMAT, "timestamp": [], "records": []}
    columns = PredictionColumns.decode(body, model_name=MODEL, record_count=0)
    assert (len(columns), columns.features, columns.absent) == (0, {}, {})
    assert len(LabelColumns.decode(encode_segment(LABELS_FORMAT, "observed_at", [], []), record_count=0)) == 0


@pytest.mark.parametrize(
    ("body_format", "time_member"), [(PREDICTIONS_FORMAT, "timestamp"), (LABELS_FORMAT, "observed_at")]
)
def test_each_record_adds_its_line_and_body_bytes_per_record(body_format: str, time_member: str) -> None:
    # What the ETL counts against the segment limit: exact, from the second record on and for the first.
    time = "2026-11-23T10:00:00.000Z"
    lines = ['{"a": "€"}', "[]", " {} ", json.dumps({"b": "x" * 100})]
    empty = len(encode_segment(body_format, time_member, [], []).encode())
    sizes = [len(encode_segment(body_format, time_member, [time] * n, lines[:n]).encode()) for n in range(5)]
    assert sizes[0] == empty
    assert sizes[1] == empty + len(lines[0].encode()) + BODY_BYTES_PER_RECORD - 2  # no separating commas
    for n in range(1, 4):
        assert sizes[n + 1] - sizes[n] == len(lines[n].encode()) + BODY_BYTES_PER_RECORD


def test_non_ascii_text_is_stored_as_characters_not_escapes() -> None:
    line = json.dumps(prediction("r-é", features={"città": "Zürich €", "emoji": "😀"}, note="ü"), ensure_ascii=False)
    body = prediction_body(line)
    assert line in body
    assert "\\u" not in body
    columns = PredictionColumns.decode(body, model_name=MODEL, record_count=1)
    assert columns.request_id == ["r-é"]
    assert columns.row_features(0) == {"città": "Zürich €", "emoji": "😀"}


# --- decoding predictions ------------------------------------------------------------------------------------


def test_predictions_decode_into_columns() -> None:
    documents = [
        prediction("r-1"),
        prediction("r-2", features={"plan": "basic", "tenure": 0}, prediction={"score": 1.0, "label": 1}),
        prediction("r-3", model_version="v2", timestamp="2026-11-23T10:59:59.999Z", latency_ms=None),
    ]
    decoded = predictions(*documents)
    assert (decoded.model_name, len(decoded)) == (MODEL, 3)
    assert decoded.request_id == ["r-1", "r-2", "r-3"]
    assert decoded.model_version == ["v1", "v1", "v2"]
    assert decoded.timestamp == ["2026-11-23T10:00:00.123Z", "2026-11-23T10:00:00.123Z", "2026-11-23T10:59:59.999Z"]
    assert decoded.score == [0.25, 1.0, 0.25]
    assert decoded.predicted_label == [0, 1, 0]
    assert decoded.latency_ms == [12.5, 12.5, None]
    assert decoded.features == {"plan": ["pro", "basic", "pro"], "tenure": [3, 0, 3]}
    assert decoded.absent == {}
    assert rows_of(decoded) == [row_of(document) for document in documents]


def test_the_timestamp_column_is_the_bodys_canonical_time_not_the_records() -> None:
    written = prediction("r-1", timestamp="2026-11-23T12:00:00.5+02:00")
    line = json.dumps(written)
    body = prediction_body(line)
    assert json.loads(body)["timestamp"] == ["2026-11-23T10:00:00.500Z"]
    assert json.loads(body)["records"][0]["timestamp"] == "2026-11-23T12:00:00.5+02:00"  # stored as written
    assert PredictionColumns.decode(body, model_name=MODEL, record_count=1).timestamp == ["2026-11-23T10:00:00.500Z"]
    # The reader takes the body's column, whatever the record says.
    other = encode_segment(PREDICTIONS_FORMAT, "timestamp", ["2026-11-23T11:11:11.111Z"], [line])
    assert PredictionColumns.decode(other, model_name=MODEL, record_count=1).timestamp == ["2026-11-23T11:11:11.111Z"]


def test_score_label_and_latency_read_back_as_the_contracts_types_whatever_their_written_form() -> None:
    # The contract accepts a score written `1`, a label written `1.0` and a latency written `7`; its values are
    # 1.0, 1 and 7.0, and a window read gives those, as a record stored canonical gave them.
    written = prediction("r-1", prediction={"score": 1, "label": 1.0}, latency_ms=7)
    (_, _, _, _, _, score, predicted, latency) = validate_payload(written)
    columns = predictions(written, prediction("r-2", prediction={"score": 0, "label": 0.0}, latency_ms=0))
    assert (columns.score[0], columns.predicted_label[0], columns.latency_ms[0]) == (score, predicted, latency)
    assert (columns.score, columns.predicted_label, columns.latency_ms) == ([1.0, 0.0], [1, 0], [7.0, 0.0])
    assert [type(value) for value in (*columns.score, *columns.latency_ms)] == [float] * 4
    assert [type(value) for value in columns.predicted_label] == [int, int]
    decoded = labels(label("r-1", label=1.0), label("r-2", label=0.0))
    assert decoded.label == [1, 0]
    assert [type(value) for value in decoded.label] == [int, int]


def test_a_null_latency_and_a_missing_one_are_both_none() -> None:
    without = prediction("r-1")
    del without["latency_ms"]
    decoded = predictions(without, prediction("r-2", latency_ms=None), prediction("r-3"))
    assert decoded.latency_ms == [None, None, 12.5]
    assert decoded[0].latency_ms is None


def test_unknown_members_at_the_top_level_and_inside_the_prediction_do_not_change_the_columns() -> None:
    plain = prediction("r-1")
    decorated = [
        prediction("r-1", session="s-9", tags=["a", {"b": None}]),
        prediction("r-1", prediction={"score": 0.25, "label": 0, "explanation": {"tenure": -0.2}}),
        prediction("r-1", client={"sdk": "1.2"}, prediction={"why": None, "label": 0, "score": 0.25}),
    ]
    assert rows_of(predictions(*decorated)) == [row_of(plain)] * 3


def test_a_null_feature_is_not_an_absent_one() -> None:
    decoded = predictions(
        prediction("r-1", features={"plan": None, "tenure": 1}), prediction("r-2", features={"tenure": 2})
    )
    assert decoded.features == {"plan": [None, None], "tenure": [1, 2]}
    assert decoded.absent == {"plan": {1}}
    assert decoded.row_features(0) == {"plan": None, "tenure": 1}
    assert decoded.row_features(1) == {"tenure": 2}


def test_a_feature_first_seen_in_a_later_record_is_absent_from_the_earlier_rows() -> None:
    decoded = predictions(
        prediction("r-1", features={"a": 1}),
        prediction("r-2", features={"a": 2}),
        prediction("r-3", features={"a": 3, "c": "x"}),
    )
    assert list(decoded.features) == ["a", "c"]
    assert decoded.features == {"a": [1, 2, 3], "c": [None, None, "x"]}
    assert decoded.absent == {"c": {0, 1}}
    assert [decoded.row_features(row) for row in range(3)] == [{"a": 1}, {"a": 2}, {"a": 3, "c": "x"}]


def test_a_record_lacking_an_earlier_records_feature_has_it_absent() -> None:
    decoded = predictions(
        prediction("r-1", features={"a": 1, "b": "x"}),
        prediction("r-2", features={"b": "y"}),
        prediction("r-3", features={"a": 3, "b": "z"}),
    )
    assert decoded.features == {"a": [1, None, 3], "b": ["x", "y", "z"]}
    assert decoded.absent == {"a": {1}}
    assert decoded[1].features == {"b": "y"}


def test_records_with_different_feature_names_each_get_back_exactly_their_own() -> None:
    documents = [
        prediction("r-1", features={"a": 1, "b": True}),
        prediction("r-2", features={"b": False}),  # lacks an earlier row's feature
        prediction("r-3", features={"c": None}),  # a new one, null, and lacks both earlier ones
        prediction("r-4", features={"a": 0.5, "b": None, "c": "z"}),
    ]
    decoded = predictions(*documents)
    assert decoded.absent == {"a": {1, 2}, "b": {2}, "c": {0, 1}}
    assert [decoded.row_features(row) for row in range(4)] == [document["features"] for document in documents]
    for name, column in decoded.features.items():
        assert all(column[row] is None for row in decoded.absent.get(name, ()))


def test_feature_values_keep_their_json_types() -> None:
    features: dict[str, Any] = {"flag": True, "count": 1, "ratio": 1.0, "text": "1", "none": None, "big": 2**70}
    decoded = predictions(prediction("r-1", features=features))
    assert decoded.row_features(0) == features
    assert [type(value) for value in decoded.row_features(0).values()] == [bool, int, float, str, type(None), int]


def test_nan_and_infinity_in_an_unknown_member_are_kept_and_read_back() -> None:
    # The contract checks features and the prediction, not unknown members: `json.loads` accepts NaN there.
    line = json.dumps(prediction("r-1"))[:-1] + ', "debug": {"ratio": NaN, "limit": -Infinity}}'
    body = prediction_body(line, json.dumps(prediction("r-2")))
    assert line in body
    (record, _) = json.loads(body)["records"]
    assert math.isnan(record["debug"]["ratio"])
    assert record["debug"]["limit"] == -math.inf
    decoded = PredictionColumns.decode(body, model_name=MODEL, record_count=2)
    assert rows_of(decoded) == [row_of(prediction("r-1")), row_of(prediction("r-2"))]


def test_a_lone_surrogate_escape_stored_before_the_contract_refused_it_is_kept_and_read_back() -> None:
    document = prediction("r-\ud800", features={"plan": "x\udfff"}, note="\udbff!")
    line = json.dumps(document)
    assert "r-\\ud800" in line  # an escape: no raw surrogate in the line
    body = encode_segment(PREDICTIONS_FORMAT, "timestamp", [document["timestamp"]], [line])  # no contract check
    body.encode("utf-8")  # a body DynamoDB can store
    assert line in body
    decoded = PredictionColumns.decode(body, model_name=MODEL, record_count=1)
    assert decoded.request_id == ["r-\ud800"]
    assert decoded.row_features(0) == {"plan": "x\udfff"}


# --- decoding labels -----------------------------------------------------------------------------------------


def test_labels_decode_into_columns_with_the_canonical_observation_time() -> None:
    later = label("r-2", label=0, observed_at="2026-12-20T03:00:00+02:00", source="crm", batch=[1, 2])
    body = label_body(json.dumps(label("r-1")), json.dumps(later))
    assert json.loads(body)["records"][1]["observed_at"] == "2026-12-20T03:00:00+02:00"
    decoded = LabelColumns.decode(body, record_count=2)
    assert decoded.request_id == ["r-1", "r-2"]
    assert decoded.label == [1, 0]
    assert decoded.observed_at == ["2026-12-20T00:00:00.000Z", "2026-12-20T01:00:00.000Z"]
    assert len(decoded) == 2


def test_a_labels_observation_time_is_the_bodys_not_the_records() -> None:
    body = encode_segment(LABELS_FORMAT, "observed_at", ["2026-12-21T00:00:00.000Z"], [json.dumps(label("r-1"))])
    assert LabelColumns.decode(body, record_count=1).observed_at == ["2026-12-21T00:00:00.000Z"]


# --- concat and take -----------------------------------------------------------------------------------------


def test_concat_marks_a_feature_absent_from_the_rows_of_a_part_without_it() -> None:
    first = [prediction("r-1", features={"a": 1, "b": 1}), prediction("r-2", features={"a": 2})]
    second = [
        prediction("r-3", features={"b": 3, "c": 3}, note="only here"),
        prediction("r-4", features={"c": None}, prediction={"score": 0.5, "label": 1, "why": "x"}),
    ]
    joined = PredictionColumns.concat(MODEL, [predictions(*first), predictions(*second)])
    assert joined.features == {"a": [1, 2, None, None], "b": [1, None, 3, None], "c": [None, None, 3, None]}
    assert joined.absent == {"a": {2, 3}, "b": {1, 3}, "c": {0, 1}}
    assert rows_of(joined) == [row_of(document) for document in first + second]


def test_concat_of_parts_with_the_same_names_has_no_absent_rows() -> None:
    joined = PredictionColumns.concat(MODEL, [predictions(prediction("r-1")), predictions(prediction("r-2"))])
    assert joined.request_id == ["r-1", "r-2"]
    assert joined.absent == {}


def test_concat_of_one_part_or_none() -> None:
    part = predictions(prediction("r-1"))
    assert rows_of(PredictionColumns.concat(MODEL, [part])) == [row_of(prediction("r-1"))]
    empty = PredictionColumns.concat(MODEL, [])
    assert (len(empty), list(empty), empty.model_name) == (0, [], MODEL)


def test_take_picks_rows_in_the_order_asked_and_renumbers_absent_rows() -> None:
    documents = [
        prediction("r-0", features={"a": 0}),
        prediction("r-1", features={"a": 1, "b": 1}, note="one"),
        prediction("r-2", features={"b": 2}),
        prediction("r-3", features={"a": 3}),
    ]
    columns = predictions(*documents)
    taken = columns.take([2, 0, 1])
    assert rows_of(taken) == [row_of(documents[2]), row_of(documents[0]), row_of(documents[1])]
    assert taken.absent == {"a": {0}, "b": {1}}
    assert rows_of(columns) == [row_of(document) for document in documents]  # the original is unchanged
    assert columns.take([3, 0]).absent == {"b": {0, 1}}
    assert columns.take([0, 3]).absent == {"b": {0, 1}}
    assert columns.take([1]).absent == {}
    assert len(columns.take([])) == 0


# --- the sequence interface ----------------------------------------------------------------------------------


def three() -> PredictionColumns:
    return predictions(
        prediction("r-1", features={"a": 1, "b": "x"}),
        prediction("r-2", features={"a": None}, latency_ms=None),
        prediction("r-3", features={"b": "z"}, prediction={"score": 0.75, "label": 1}, timestamp="2026-11-23T10:30Z"),
    )


def test_rows_are_built_on_access() -> None:
    columns = three()
    assert isinstance(columns, Sequence)
    assert len(columns) == 3
    assert columns[0] == PredictionRow(
        request_id="r-1",
        model_name=MODEL,
        model_version="v1",
        timestamp="2026-11-23T10:00:00.123Z",
        score=0.25,
        predicted_label=0,
        latency_ms=12.5,
        features={"a": 1, "b": "x"},
    )
    assert columns[1].features == {"a": None}
    assert columns[1].latency_ms is None
    assert (columns[2].timestamp, columns[2].score, columns[2].predicted_label) == ("2026-11-23T10:30:00.000Z", 0.75, 1)


def test_a_negative_index_counts_from_the_end_and_out_of_range_raises() -> None:
    columns = three()
    assert columns[-1] == columns[2]
    assert columns[-3] == columns[0]
    assert columns[-1].features == {"b": "z"}
    with pytest.raises(IndexError):
        columns[3]
    with pytest.raises(IndexError):
        columns[-4]


def test_a_slice_gives_a_list_of_rows() -> None:
    columns = three()
    assert columns[1:] == [columns[1], columns[2]]
    assert columns[::-1] == [columns[2], columns[1], columns[0]]
    assert columns[5:] == []
    assert all(isinstance(row, PredictionRow) for row in columns[:])


def test_iteration_gives_every_row_in_order() -> None:
    columns = three()
    rows = list(columns)
    assert [row.request_id for row in rows] == ["r-1", "r-2", "r-3"]
    assert rows == [columns[0], columns[1], columns[2]]
    assert [row.request_id for row in reversed(columns)] == ["r-3", "r-2", "r-1"]
    assert columns.index(columns[1]) == 1


# --- labelled columns ----------------------------------------------------------------------------------------


def labelled() -> LabelledColumns:
    return LabelledColumns(
        three(),
        label=[1, None, 0],
        observed_at=["2026-12-20T00:00:00.000Z", None, "2026-12-21T00:00:00.000Z"],
    )


def test_labelled_rows_join_each_prediction_to_its_label() -> None:
    rows = labelled()
    assert len(rows) == 3
    assert rows[0] == LabelledPrediction(rows.predictions[0], LabelRow("r-1", 1, "2026-12-20T00:00:00.000Z"))
    assert rows[1].label is None
    assert rows[-1].label == LabelRow("r-3", 0, "2026-12-21T00:00:00.000Z")
    assert [row.prediction.request_id for row in rows] == ["r-1", "r-2", "r-3"]
    assert [row.prediction.request_id for row in rows[1:]] == ["r-2", "r-3"]


def test_labelled_by_keeps_the_rows_labelled_at_or_before_the_cutoff() -> None:
    rows = labelled()
    at_first = rows.labelled_by("2026-12-20T00:00:00.000Z")  # inclusive
    assert at_first.predictions.request_id == ["r-1"]
    assert (at_first.label, at_first.observed_at) == ([1], ["2026-12-20T00:00:00.000Z"])
    assert list(at_first.predictions) == [three()[0]]
    everything = rows.labelled_by("2027-01-01T00:00:00.000Z")
    assert everything.predictions.request_id == ["r-1", "r-3"]  # never the unlabelled row
    assert everything.label == [1, 0]
    assert everything.predictions.absent == {"a": {1}}  # r-3 has no "a"; r-2, the one without "b", is gone
    assert everything.predictions.row_features(1) == {"b": "z"}
    assert [row.label for row in everything] == [
        LabelRow("r-1", 1, "2026-12-20T00:00:00.000Z"),
        LabelRow("r-3", 0, "2026-12-21T00:00:00.000Z"),
    ]
    before = rows.labelled_by("2026-12-19T23:59:59.999Z")
    assert (len(before), before.label, before.observed_at) == (0, [], [])


# --- refusals ------------------------------------------------------------------------------------------------

TIMES = ["2026-11-23T10:00:00.123Z", "2026-11-23T10:00:00.123Z"]


def valid_records() -> list[dict[str, Any]]:
    return [prediction("r-1", features={"a": 1}, note="n"), prediction("r-2", features={"a": 2, "b": 2})]


def body(records: Any = None, **members: Any) -> str:
    """A prediction body of these records (by default two valid ones), its members replaced by `members` (a member
    given as `...` is left out; anything may be given, to be refused)."""
    document: dict[str, Any] = {
        "format": PREDICTIONS_FORMAT,
        "timestamp": TIMES,
        "records": valid_records() if records is None else records,
    }
    document.update(members)
    return json.dumps({name: value for name, value in document.items() if value is not ...})


def without(member: str, *path: str) -> list[dict[str, Any]]:
    """The valid records, the second lacking `member` (inside `path`)."""
    records = valid_records()
    inner = records[1]
    for name in path:
        inner = inner[name]
    del inner[member]
    return records


def after_a_valid_one(record: Any) -> list[Any]:
    return [valid_records()[0], record]


def with_features(*features: Any) -> list[dict[str, Any]]:
    return [prediction(f"r-{index}", features=value) for index, value in enumerate(features)]


def test_a_valid_body_decodes() -> None:
    decoded = PredictionColumns.decode(body(), model_name=MODEL, record_count=2)
    assert decoded.request_id == ["r-1", "r-2"]
    assert decoded.absent == {"b": {0}}
    # A record may lack a latency: it is not a required member.
    assert PredictionColumns.decode(body(without("latency_ms")), model_name=MODEL, record_count=2).latency_ms == [
        12.5,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("not json", "not JSON", id="not JSON"),
        pytest.param("", "not JSON", id="empty"),
        pytest.param(body()[:-1], "not JSON", id="truncated"),
        pytest.param(
            "\n".join(json.dumps(document) for document in valid_records()), "not JSON", id="JSON lines, not a body"
        ),
        pytest.param(json.dumps([1, 2]), "not in format 'prediction-records/1' \\(found 'list'\\)", id="a list"),
        pytest.param(body(format=...), "found None", id="no format"),
        pytest.param(body(format="predictions/1"), "found 'predictions/1'", id="the columnar format"),
        pytest.param(body(format="prediction-records/2"), "found 'prediction-records/2'", id="a later format"),
        pytest.param(
            encode_segment(LABELS_FORMAT, "observed_at", TIMES, [json.dumps(label("r-1")), json.dumps(label("r-2"))]),
            "found 'label-records/1'",
            id="a label body",
        ),
        pytest.param(body(records=...), "'records' does not hold its 2 records", id="no records"),
        pytest.param(body(records={"r-1": {}}), "'records' does not hold its 2 records", id="records not a list"),
        pytest.param(body(valid_records()[:1]), "'records' does not hold its 2 records", id="one record short"),
        pytest.param(body([*valid_records(), prediction("r-3")]), "'records' does not hold its 2", id="one too many"),
        pytest.param(body(timestamp=...), "'timestamp' does not hold its 2 records", id="no times"),
        pytest.param(body(timestamp=TIMES[0]), "'timestamp' does not hold its 2 records", id="times not a list"),
        pytest.param(body(timestamp=TIMES[:1]), "'timestamp' does not hold its 2 records", id="one time short"),
        pytest.param(body(timestamp=[*TIMES, TIMES[0]]), "'timestamp' does not hold its 2", id="one time too many"),
        pytest.param(body(observed_at=TIMES, timestamp=...), "'timestamp' does not hold", id="the label times"),
    ],
)
def test_decode_refuses_a_body_the_etl_does_not_write(text: str, message: str) -> None:
    with pytest.raises(SegmentFormatError, match=message):
        PredictionColumns.decode(text, model_name=MODEL, record_count=2)


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(without("request_id"), id="no request_id"),
        pytest.param(without("model_version"), id="no model_version"),
        pytest.param(without("prediction"), id="no prediction"),
        pytest.param(without("score", "prediction"), id="no score"),
        pytest.param(without("label", "prediction"), id="no predicted label"),
        pytest.param(without("features"), id="no features"),
        pytest.param(after_a_valid_one([1, 2]), id="a record that is a list"),
        pytest.param(after_a_valid_one("r-2"), id="a record that is a string"),
        pytest.param(after_a_valid_one(None), id="a null record"),
        pytest.param(after_a_valid_one(prediction("r-2", prediction=[0.5, 1])), id="prediction not an object"),
        pytest.param(after_a_valid_one(prediction("r-2", prediction={"score": "high", "label": 0})), id="score"),
        pytest.param(with_features({"a": 1}, ["a"]), id="features a list, after an object"),
        pytest.param(with_features(["a"], {"a": 1}), id="features a list, before an object"),
        pytest.param(with_features({"a": 1}, "a"), id="features a string"),
        pytest.param(with_features({"a": 1}, 7), id="features a number"),
        pytest.param(with_features([], []), id="features empty lists, no names at all"),
        pytest.param(with_features("", {}), id="features an empty string, no names at all"),
    ],
)
def test_decode_refuses_a_record_lacking_a_required_member(records: list[Any]) -> None:
    with pytest.raises(SegmentFormatError, match="a prediction segment holds a record that lacks a member"):
        PredictionColumns.decode(body(records), model_name=MODEL, record_count=2)


def test_decode_refuses_a_record_count_the_body_does_not_hold() -> None:
    for count in (0, 1, 3):
        with pytest.raises(SegmentFormatError, match=f"its {count} records"):
            PredictionColumns.decode(body(), model_name=MODEL, record_count=count)


def label_body_of(records: Any = None, **members: Any) -> str:
    document: dict[str, Any] = {
        "format": LABELS_FORMAT,
        "observed_at": ["2026-12-20T00:00:00.000Z"] * 2,
        "records": [label("r-1", note="n"), label("r-2")] if records is None else records,
    }
    document.update(members)
    return json.dumps({name: value for name, value in document.items() if value is not ...})


def test_a_valid_label_body_decodes() -> None:
    decoded = LabelColumns.decode(label_body_of(), record_count=2)
    assert (decoded.request_id, decoded.label) == (["r-1", "r-2"], [1, 1])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("{", "not JSON", id="not JSON"),
        pytest.param(body(), "found 'prediction-records/1'", id="a prediction body"),
        pytest.param(label_body_of(format=...), "found None", id="no format"),
        pytest.param(label_body_of(format="labels/1"), "found 'labels/1'", id="the columnar format"),
        pytest.param(label_body_of(records=...), "'records' does not hold its 2", id="no records"),
        pytest.param(label_body_of([label("r-1")]), "'records' does not hold its 2", id="one record short"),
        pytest.param(label_body_of(observed_at=...), "'observed_at' does not hold its 2", id="no times"),
        pytest.param(label_body_of(observed_at=["x"] * 3), "'observed_at' does not hold its 2", id="too many times"),
        pytest.param(label_body_of([label("r-1"), {"model_name": MODEL, "label": 1}]), "lacks", id="no request_id"),
        pytest.param(label_body_of([label("r-1"), {"request_id": "r-2"}]), "lacks a member", id="no label"),
        pytest.param(label_body_of([label("r-1"), ["r-2", 1]]), "lacks a member", id="a record that is a list"),
        pytest.param(label_body_of([label("r-1"), label("r-2", label="yes")]), "lacks a member", id="label text"),
    ],
)
def test_label_decode_refuses_a_body_the_etl_does_not_write(text: str, message: str) -> None:
    with pytest.raises(SegmentFormatError, match=message):
        LabelColumns.decode(text, record_count=2)


def test_label_decode_refuses_a_record_count_the_body_does_not_hold() -> None:
    for count in (1, 3):
        with pytest.raises(SegmentFormatError, match=f"its {count} records"):
            LabelColumns.decode(label_body_of(), record_count=count)


def test_a_segment_format_error_is_a_value_error() -> None:
    assert issubclass(SegmentFormatError, ValueError)
