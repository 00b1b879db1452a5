"""The records' optional members (`arm`, `heuristic`, `shadow`; a label's `reviewed`): checked when present, absent
means the default, typed by `parse_*`, read flat by `payload_options` / `label_reviewed` on the ETL's hot path."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.record_limits import MAX_RECORD_CHARS
from core.records import (
    ARM_CONTROL,
    ARM_MODEL,
    NO_OPTIONS,
    ContractViolationError,
    PayloadRecord,
    Prediction,
    ShadowPrediction,
    label_reviewed,
    parse_label,
    parse_payload,
    payload_line,
    payload_line_bound,
    payload_options,
    validate_label,
    validate_payload,
)


def _payload(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": "r-1",
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3.0},
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def _label(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": "r-1",
        "model_name": "churn",
        "label": 1,
        "observed_at": "2026-12-20T00:00:00.000Z",
    }
    document.update(changes)
    return document


SHADOW = {"model_version": "v2", "score": 0.7, "label": 1, "latency_ms": 3.25}
scores = st.floats(0.0, 1.0)
options = (
    st.fixed_dictionaries(
        {},
        optional={
            "shadow": st.fixed_dictionaries(
                {
                    "model_version": st.sampled_from(["v2", "20261201T000000Z-ffee00"]),
                    "score": scores,
                    "label": st.sampled_from([0, 1]),
                },
                optional={"latency_ms": st.one_of(st.none(), st.floats(0.0, 1e6))},
            ),
        },
    )
    | st.fixed_dictionaries(
        {
            "arm": st.just(ARM_CONTROL),
            "heuristic": st.fixed_dictionaries({"score": scores, "label": st.sampled_from([0, 1])}),
        }
    )
    | st.fixed_dictionaries({"arm": st.just(ARM_MODEL)})
)


def test_an_old_record_has_no_options_and_keeps_its_json() -> None:
    document = _payload()
    assert payload_options(document) == NO_OPTIONS
    record = parse_payload(document)
    assert (record.arm, record.heuristic, record.shadow, record.extra) == (None, None, None, {})
    assert record.to_json() == document


def test_a_control_record_reads_its_arm_and_heuristic() -> None:
    document = _payload(arm="control", heuristic={"score": 0.2, "label": 0}, client_id="client-7")
    validate_payload(document)
    assert payload_options(document) == ("control", 0.2, 0, None, None, None, None, "client-7")
    assert parse_payload(document).heuristic == Prediction(0.2, 0)
    assert parse_payload(document).client_id == "client-7"
    assert parse_payload(document).to_json() == document


def test_a_shadow_answer_is_read_canonical() -> None:
    document = _payload(arm="model", shadow={"model_version": "v2", "score": 1, "label": 1.0, "latency_ms": 3})
    validate_payload(document)
    options = payload_options(document)
    assert options == ("model", None, None, "v2", 1.0, 1, 3.0, None)
    assert isinstance(options[4], float)
    assert isinstance(options[6], float)
    assert parse_payload(document).shadow == ShadowPrediction("v2", 1.0, 1, 3.0)


def test_a_shadow_answer_without_latency_is_valid() -> None:
    document = _payload(shadow={"model_version": "v2", "score": 0.5, "label": 1})
    validate_payload(document)
    assert payload_options(document)[3:] == ("v2", 0.5, 1, None, None)


def test_null_options_are_absent() -> None:
    document = _payload(arm=None, heuristic=None, shadow=None)
    validate_payload(document)
    assert payload_options(document) == NO_OPTIONS
    assert parse_payload(document) == parse_payload(_payload())


@given(options)
def test_a_record_with_options_round_trips_through_json(members: dict[str, Any]) -> None:
    record = parse_payload(json.loads(json.dumps(_payload(**members, session="s-9"))))
    assert record.extra == {"session": "s-9"}
    assert parse_payload(json.loads(json.dumps(record.to_json()))) == record
    assert payload_options(record.to_json()) == payload_options(_payload(**members))


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"arm": "treatment"}, "'arm' must be one of 'model', 'control', got 'treatment'"),
        ({"client_id": "c-1"}, "'client_id' names the client the experiment assigned: only with an 'arm'"),
        ({"arm": 1}, "'arm' must be one of 'model', 'control', got 1"),
        ({"arm": ["model"]}, "'arm' must be one of 'model', 'control', got a JSON array of 1 members"),
        ({"arm": "control", "heuristic": 0.2}, "'heuristic' must be an object, got float"),
        (
            {"arm": "control", "heuristic": {"score": 1.5, "label": 0}},
            "'heuristic.score' must be a finite number in [0, 1], got 1.5",
        ),
        ({"arm": "control", "heuristic": {"score": 0.5}}, "missing field 'heuristic.label'"),
        ({"arm": "control", "heuristic": {"score": 0.5, "label": True}}, "'heuristic.label' must be 0 or 1, got True"),
        (
            {"arm": "model", "heuristic": {"score": 0.5, "label": 1}},
            "'heuristic' is the control arm's answer: only a record with 'arm' 'control' has one, got arm 'model'",
        ),
        (
            {"heuristic": {"score": 0.5, "label": 1}},
            "'heuristic' is the control arm's answer: only a record with 'arm' 'control' has one, got arm None",
        ),
        ({"shadow": "v2"}, "'shadow' must be an object, got str"),
        ({"shadow": {**SHADOW, "model_version": " "}}, "'shadow.model_version' must be a non-empty string, got str"),
        ({"shadow": {k: v for k, v in SHADOW.items() if k != "model_version"}}, "missing field 'shadow.model_version'"),
        ({"shadow": {**SHADOW, "score": float("nan")}}, "'shadow.score' must be a finite number in [0, 1], got nan"),
        ({"shadow": {**SHADOW, "label": 2}}, "'shadow.label' must be 0 or 1, got 2"),
        (
            {"shadow": {**SHADOW, "latency_ms": -1.0}},
            "'shadow.latency_ms' must be a non-negative finite number, got -1.0",
        ),
        (
            {"shadow": {**SHADOW, "model_version": "v\ud800"}},
            "'shadow.model_version' holds a lone surrogate, which UTF-8 cannot encode",
        ),
        (
            {"shadow": {**SHADOW, "note": "\udc00"}},
            "member 'shadow.note' holds a lone surrogate, which UTF-8 cannot encode",
        ),
    ],
)
def test_a_malformed_option_is_a_contract_violation_naming_it(members: dict[str, Any], problem: str) -> None:
    with pytest.raises(ContractViolationError) as raised:
        validate_payload(_payload(**members))
    assert raised.value.problems == (problem,)


def test_an_option_problem_is_listed_with_the_record_s_other_problems() -> None:
    with pytest.raises(ContractViolationError) as raised:
        validate_payload(_payload(request_id="", arm="x", shadow={**SHADOW, "score": 2.0}))
    assert raised.value.problems == (
        "'request_id' must be a non-empty string, got str",
        "'arm' must be one of 'model', 'control', got 'x'",
        "'shadow.score' must be a finite number in [0, 1], got 2.0",
    )


def test_a_label_is_not_reviewed_unless_it_says_so() -> None:
    for document, reviewed in ((_label(), False), (_label(reviewed=None), False), (_label(reviewed=False), False)):
        validate_label(document)
        assert (label_reviewed(document), parse_label(document).reviewed) == (reviewed, reviewed)
    document = _label(reviewed=True)
    validate_label(document)
    assert label_reviewed(document)
    record = parse_label(document)
    assert (record.reviewed, record.extra) == (True, {})


@pytest.mark.parametrize("value", ["true", 1, 0, {"by": "x"}])
def test_a_reviewed_flag_that_is_not_a_boolean_is_refused(value: object) -> None:
    with pytest.raises(ContractViolationError, match="'reviewed' must be true or false"):
        validate_label(_label(reviewed=value))


@given(st.booleans(), st.one_of(st.none(), st.text(max_size=5)))
def test_a_label_round_trips_with_its_review_flag(reviewed: bool, source: str | None) -> None:
    document = _label(reviewed=reviewed) | ({} if source is None else {"source": source})
    record = parse_label(json.loads(json.dumps(document)))
    assert parse_label(json.loads(json.dumps(record.to_json()))) == record
    assert ("reviewed" in record.to_json()) == reviewed


def test_the_line_bound_covers_the_experiment_and_shadow_members() -> None:
    features = {"plan": "p" * 100}
    longest = 0.12345678901234566
    record = PayloadRecord(
        "r" * 256,
        "churn",
        "v1",
        "2026-11-23T10:00:00.123Z",
        features,
        Prediction(longest, 1),
        1.7976931348623157e308,
        arm=ARM_CONTROL,
        heuristic=Prediction(longest, 0),
        shadow=ShadowPrediction("\u2028v2", longest, 1, 1.7976931348623157e308),
    )
    line = payload_line(record)
    bound = payload_line_bound(record.request_id, "churn", "v1", features, experiment=True, shadow_version="\u2028v2")
    assert len(line) <= bound < MAX_RECORD_CHARS
    plain = payload_line(replace(record, arm=None, heuristic=None, shadow=None))
    added = bound - payload_line_bound(record.request_id, "churn", "v1", features)
    assert len(line) - len(plain) <= added


@pytest.mark.parametrize("latency", ["absent", None, 12.5])
def test_an_option_is_checked_whether_or_not_the_record_has_a_latency(latency: object) -> None:
    document = _payload(arm="x", latency_ms=latency)
    if latency == "absent":
        del document["latency_ms"]
    with pytest.raises(ContractViolationError, match="'arm' must be one of"):
        validate_payload(document, json.dumps(document))
