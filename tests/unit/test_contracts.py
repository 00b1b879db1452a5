"""The record contracts: typed parsing, the fast validation path, and the full check's error messages."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.records import (
    ContractViolationError,
    format_precise_timestamp,
    format_timestamp,
    parse_label,
    parse_payload,
    parse_timestamp,
    validate_label,
    validate_payload,
)

identifiers = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40).filter(
    lambda text: not text.isspace()
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)
)
feature_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
payloads = st.fixed_dictionaries(
    {
        "request_id": identifiers,
        "model_name": identifiers,
        "model_version": identifiers,
        "timestamp": moments.map(format_timestamp),
        "features": st.dictionaries(st.text(min_size=1, max_size=12), feature_values, min_size=1, max_size=12),
        "prediction": st.fixed_dictionaries({"score": st.floats(0.0, 1.0), "label": st.sampled_from([0, 1])}),
        "latency_ms": st.one_of(st.none(), st.floats(0.0, 1e6)),
    },
    optional={"client": st.text(max_size=10), "trace": st.integers()},
)
labels = st.fixed_dictionaries(
    {
        "request_id": identifiers,
        "model_name": identifiers,
        "label": st.sampled_from([0, 1]),
        "observed_at": moments.map(format_timestamp),
    },
    optional={"source": st.text(max_size=10)},
)
json_non_objects = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


def _valid_payload(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": "r-1",
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"plan": "pro", "tenure": 3, "charges": 10.5, "autopay": True, "promo": None},
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


@given(payloads)
def test_any_valid_payload_round_trips_through_json(document: dict[str, Any]) -> None:
    decoded = json.loads(json.dumps(document))
    record = parse_payload(decoded)
    assert parse_payload(json.loads(json.dumps(record.to_json()))) == record
    assert record.extra == {key: document[key] for key in ("client", "trace") if key in document}


@given(labels)
def test_any_valid_label_round_trips_through_json(document: dict[str, Any]) -> None:
    record = parse_label(json.loads(json.dumps(document)))
    assert parse_label(json.loads(json.dumps(record.to_json()))) == record


@given(json_non_objects)
def test_a_payload_that_is_not_an_object_is_rejected_with_a_reason(document: object) -> None:
    with pytest.raises(ContractViolationError) as raised:
        validate_payload(document)
    assert raised.value.problems == (f"a payload record must be a JSON object, got {type(document).__name__}",)


@given(json_non_objects)
def test_a_label_that_is_not_an_object_is_rejected_with_a_reason(document: object) -> None:
    with pytest.raises(ContractViolationError, match="a label record must be a JSON object"):
        validate_label(document)


@given(st.dictionaries(st.sampled_from(["request_id", "model_name", "timestamp", "features", "x"]), json_non_objects))
def test_an_arbitrary_object_either_validates_or_raises_a_contract_violation(document: dict[str, Any]) -> None:
    problems: tuple[str, ...] = ()
    try:
        validate_payload(document)
    except ContractViolationError as error:
        problems = error.problems
        assert problems, "a violation without a reason"
    assert all(isinstance(problem, str) and problem for problem in problems)


@given(payloads)
def test_validate_payload_returns_the_parsed_record_fields(document: dict[str, Any]) -> None:
    request_id, model_name, version, timestamp, epoch, score, label, latency = validate_payload(document)
    record = parse_payload(document)
    assert (request_id, model_name, version, timestamp) == (
        record.request_id,
        record.model_name,
        record.model_version,
        record.timestamp,
    )
    assert (score, label, latency) == (record.prediction.score, record.prediction.label, record.latency_ms)
    assert epoch == math.floor(datetime.fromisoformat(timestamp).timestamp())


def test_every_problem_of_a_record_is_listed() -> None:
    document = _valid_payload(request_id=" ", timestamp="yesterday", prediction={"score": 1.5, "label": 2})
    del document["features"]
    with pytest.raises(ContractViolationError) as raised:
        validate_payload(document)
    assert raised.value.problems == (
        "'request_id' must be a non-empty string, got str",
        "'timestamp' is not an ISO 8601 timestamp with offset: Invalid isoformat string: 'yesterday'",
        "missing field 'features'",
        "'prediction.score' must be a finite number in [0, 1], got 1.5",
        "'prediction.label' must be 0 or 1, got 2",
    )


def test_a_wrong_type_is_named_in_the_reason() -> None:
    with pytest.raises(ContractViolationError, match=r"'model_version' must be a non-empty string, got int"):
        validate_payload(_valid_payload(model_version=7))


def test_a_missing_field_is_named_in_the_reason() -> None:
    document = _valid_payload()
    del document["prediction"]
    with pytest.raises(ContractViolationError, match=r"missing field 'prediction'"):
        validate_payload(document)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_feature_is_refused(value: float) -> None:
    with pytest.raises(ContractViolationError, match="feature 'charges' is not finite"):
        validate_payload(_valid_payload(features={"charges": value}))


def test_a_nested_feature_is_refused() -> None:
    with pytest.raises(ContractViolationError, match="feature 'tags' must be a number, string, boolean or null"):
        validate_payload(_valid_payload(features={"tags": ["a"]}))


def test_a_boolean_score_is_refused() -> None:
    with pytest.raises(ContractViolationError, match=r"'prediction.score' must be a finite number"):
        validate_payload(_valid_payload(prediction={"score": True, "label": 1}))


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ContractViolationError, match="timestamp has no UTC offset"):
        validate_payload(_valid_payload(timestamp="2026-11-23T10:00:00.123"))


def test_an_offset_timestamp_is_canonicalised_to_utc_milliseconds() -> None:
    fields = validate_payload(_valid_payload(timestamp="2026-11-23T12:00:00.123456+02:00"))
    assert fields[3] == "2026-11-23T10:00:00.123Z"
    assert fields[4] == int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp())


def test_a_week_date_of_canonical_length_is_canonicalised_not_taken_verbatim() -> None:
    # 24 characters with 'T' at 10 and 'Z' at 23, but an ISO week date: it must not pass as canonical.
    fields = validate_payload(_valid_payload(timestamp="2026-W48-1T10:00:00.000Z"))
    assert fields[3] == "2026-11-23T10:00:00.000Z"


def test_an_impossible_date_of_canonical_shape_is_refused() -> None:
    with pytest.raises(ContractViolationError, match="'timestamp' is not an ISO 8601 timestamp"):
        validate_payload(_valid_payload(timestamp="2026-02-30T10:00:00.000Z"))


def test_an_integer_score_and_latency_are_accepted_as_floats() -> None:
    fields = validate_payload(_valid_payload(prediction={"score": 1, "label": 1}, latency_ms=12))
    assert (fields[5], fields[7]) == (1.0, 12.0)
    assert isinstance(fields[5], float)


def test_format_timestamp_is_fixed_width_for_early_years() -> None:
    assert format_timestamp(datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "0999-01-02T03:04:05.006Z"


def test_a_label_with_a_float_label_value_is_accepted_as_its_integer() -> None:
    fields = validate_label(
        {"request_id": "r", "model_name": "churn", "label": 1.0, "observed_at": "2026-11-23T10:00:00Z"}
    )
    assert fields == (
        "r",
        "churn",
        1,
        "2026-11-23T10:00:00.000Z",
        int(datetime(2026, 11, 23, 10, tzinfo=UTC).timestamp()),
    )


def test_a_label_missing_its_label_is_refused() -> None:
    with pytest.raises(ContractViolationError, match="missing field 'label'"):
        validate_label({"request_id": "r", "model_name": "churn", "observed_at": "2026-11-23T10:00:00Z"})


def test_parse_payload_keeps_unknown_keys_in_extra() -> None:
    record = parse_payload(_valid_payload(session="s-9"))
    assert record.extra == {"session": "s-9"}
    assert record.to_json()["session"] == "s-9"


def test_epoch_seconds_of_a_canonical_timestamp_round_down() -> None:
    fields = validate_payload(_valid_payload(timestamp="2026-11-23T10:00:00.999Z"))
    assert datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=fields[4]) == datetime(2026, 11, 23, 10, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)))
def test_the_precise_timestamp_is_fixed_width_utc_with_microseconds(moment: datetime) -> None:
    text = format_precise_timestamp(moment)
    assert text == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_timestamp(text) == moment
