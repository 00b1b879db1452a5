"""The payload-ETL carries a record's optional members into the lake: a prediction's arm, heuristic and shadow
answer as `core.lake.OPTION_COLUMNS`, a label's review flag as `reviewed`; a malformed member quarantines its record
with the reason, the object's other records still load; the alerting aggregates are what they were."""

from __future__ import annotations

import json
from typing import Any

from core.lake import OPTION_COLUMNS, OPTION_NAMES, REVIEWED
from tests.payload_etl_fakes import load_object

PAYLOAD_KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
LABEL_KEY = "labels/model=churn/dt=2026-12-20/a.jsonl"
SHADOW = {"model_version": "v2", "score": 0.75, "label": 1, "latency_ms": 4.5}


def payload(request_id: str, **members: Any) -> str:
    return json.dumps(
        {
            "request_id": request_id,
            "model_name": "churn",
            "model_version": "v1",
            "timestamp": "2026-11-23T10:00:00.000Z",
            "features": {"plan": "pro"},
            "prediction": {"score": 0.5, "label": 1},
            "latency_ms": 10.0,
        }
        | members
    )


def label(request_id: str, **members: Any) -> str:
    document = {"request_id": request_id, "model_name": "churn", "label": 1, "observed_at": "2026-12-20T00:00:00Z"}
    return json.dumps(document | members)


def body_of(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def options_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[name] for name in OPTION_NAMES)


def test_a_prediction_s_optional_members_become_its_option_columns() -> None:
    result = load_object(
        body_of(
            payload("r-1"),
            payload("r-2", arm="model", shadow=SHADOW),
            payload("r-3", arm="control", heuristic={"score": 0.1, "label": 0}, client_id="c-3"),
            payload("r-4", shadow={"model_version": "v2", "score": 1, "label": 0}),
        ),
        key=PAYLOAD_KEY,
    )
    assert result.result.quarantined == 0
    assert [options_of(row) for row in sorted(result.predictions, key=lambda row: row["request_id"])] == [
        (None, None, None, None, None, None, None, None),
        ("model", None, None, "v2", 0.75, 1, 4.5, None),
        ("control", 0.1, 0, None, None, None, None, "c-3"),
        (None, None, None, "v2", 1.0, 0, None, None),
    ]
    (chunk,) = result.lake.files.values()
    assert {name: chunk.glue_types[name] for name in OPTION_NAMES} == {
        column.name: column.glue_type for column in OPTION_COLUMNS
    }


def test_a_malformed_optional_member_quarantines_its_record_with_the_reason() -> None:
    result = load_object(
        body_of(
            payload("r-1", arm="treatment"),
            payload("r-2", arm="model", heuristic={"score": 0.1, "label": 0}),
            payload("r-3", shadow={**SHADOW, "score": 3}),
            payload("r-4", arm="control"),
        ),
        key=PAYLOAD_KEY,
    )
    assert [row["request_id"] for row in result.predictions] == ["r-4"]
    assert [(bad.line, bad.reasons) for bad in result.quarantined] == [
        (1, ("'arm' must be one of 'model', 'control', got 'treatment'",)),
        (
            2,
            ("'heuristic' is the control arm's answer: only a record with 'arm' 'control' has one, got arm 'model'",),
        ),
        (3, ("'shadow.score' must be a finite number in [0, 1], got 3",)),
    ]


def test_the_alerting_aggregates_ignore_the_optional_members() -> None:
    plain = load_object(body_of(payload("r-1"), payload("r-2")), key=PAYLOAD_KEY)
    with_options = load_object(
        body_of(
            payload("r-1", arm="model", shadow=SHADOW),
            payload("r-2", arm="control", heuristic={"score": 0.2, "label": 0}),
        ),
        key=PAYLOAD_KEY,
    )
    assert with_options.aggregate.to_json() == plain.aggregate.to_json()


def test_a_label_s_review_flag_is_its_reviewed_column_false_when_absent() -> None:
    result = load_object(
        body_of(label("r-1"), label("r-2", reviewed=True), label("r-3", reviewed=False)), key=LABEL_KEY
    )
    assert {row["request_id"]: row[REVIEWED] for row in result.labels} == {"r-1": False, "r-2": True, "r-3": False}
    (chunk,) = result.lake.files.values()
    assert chunk.glue_types[REVIEWED] == "boolean"


def test_a_review_flag_that_is_not_a_boolean_quarantines_its_label() -> None:
    result = load_object(body_of(label("r-1", reviewed="yes"), label("r-2")), key=LABEL_KEY)
    assert [row["request_id"] for row in result.labels] == ["r-2"]
    assert [bad.reasons for bad in result.quarantined] == [("'reviewed' must be true or false, got 'yes'",)]


def test_a_redelivered_object_with_options_writes_the_same_files() -> None:
    body = body_of(payload("r-1", arm="model", shadow=SHADOW), payload("r-2", arm="control"))
    first, second = load_object(body, key=PAYLOAD_KEY), load_object(body, key=PAYLOAD_KEY)
    assert first.lake.files.keys() == second.lake.files.keys()
    assert first.predictions == second.predictions
