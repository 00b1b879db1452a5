"""Fuzz: serving's request parser and the ETL's line parser over hostile JSON, against one record contract.

Neither raises anything but its typed refusal, their refusals are encodable and bounded, and a record serving
accepts is a record the ETL loads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.features import FeatureSpec, InputSchema
from core.layout import payload_object_key
from core.record_limits import MAX_FEATURE_NAME_CHARS, MAX_INTEGER, MAX_RECORD_CHARS, MAX_STRING_VALUE_CHARS, encodable
from core.records import (
    ARM_FIELD,
    ARMS,
    HEURISTIC_FIELD,
    SHADOW_FIELD,
    ContractViolationError,
    PayloadRecord,
    Prediction,
    _checked_payload,  # the complete check the fast path must agree with
    format_timestamp,
    payload_line,
    payload_line_bound,
    payload_options,
    validate_payload,
)
from lambdas.serving.logic import encode_jsonl, parse_request
from lambdas.serving.models import Instance, InvalidRequestError
from tests.payload_etl_fakes import Loaded, load_object

SCHEMA = InputSchema(
    (
        FeatureSpec("tenure", "numeric", nullable=False),
        FeatureSpec("charges", "numeric", nullable=True),
        FeatureSpec("plan", "categorical", nullable=True, categories=("basic",)),
        FeatureSpec("region", "categorical", nullable=False),
    )
)
MODEL = "churn"
#: The longest a single problem may be: a location, a name and a value quoted bounded, and words.
MAX_PROBLEM_CHARS = 600

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\udc00", "a\ud800", "\ud83d\ude00", "", "  ", "x" * (MAX_STRING_VALUE_CHARS + 1)]),
    st.integers(0, 3).map(lambda k: "\u00e9" * (MAX_STRING_VALUE_CHARS - k)),
    st.just("k" * 70_000),
)
hostile_numbers = st.one_of(
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, MAX_INTEGER, MAX_INTEGER + 1, -MAX_INTEGER - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(hostile_text, st.sampled_from(SCHEMA.names)), inner)
    ),
    max_leaves=12,
)
feature_maps = st.dictionaries(
    st.one_of(st.sampled_from(SCHEMA.names), hostile_text), st.one_of(scalars, json_values), max_size=6
) | st.fixed_dictionaries(
    {
        "tenure": hostile_numbers,
        "charges": st.one_of(st.none(), hostile_numbers),
        "plan": st.one_of(st.none(), hostile_text),
        "region": hostile_text,
    }
)
instances = st.fixed_dictionaries(
    {"features": feature_maps}, optional={"request_id": st.one_of(hostile_text, scalars), "extra": json_values}
)
requests = st.one_of(
    json_values,
    instances,
    st.fixed_dictionaries({"instances": st.lists(instances, max_size=3)}, optional={"debug": json_values}),
)
moments = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC))
versions = st.one_of(st.just("v1"), st.text(min_size=1, max_size=256).filter(str.strip), st.just("\u00e9\u2028" * 128))


def etl(body: bytes, key: str) -> Loaded:
    """The object processed as the handler processes it (in-memory ports; its quarantine object written)."""
    return load_object(body, key=key, bucket="bucket", etag="etag", retention_days=1)


def parsed(event: object, version: str) -> tuple[Instance, ...] | InvalidRequestError:
    """What serving makes of a request: its instances, or its one typed refusal (anything else propagates)."""
    try:
        return parse_request(event, SCHEMA, "inv", model_name=MODEL, model_version=version)
    except InvalidRequestError as error:
        return error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    event=requests,
    version=versions,
    now=moments,
    score=st.floats(0.0, 1.0),
    latency=st.floats(0.0, 1.7e308),
)
def test_what_serving_accepts_the_etl_loads_and_what_it_refuses_it_words_safely(
    event: object, version: str, now: datetime, score: float, latency: float
) -> None:
    accepted = parsed(event, version)
    if isinstance(accepted, InvalidRequestError):
        assert accepted.problems
        for problem in accepted.problems:
            problem.encode("utf-8")
            assert len(problem) <= MAX_PROBLEM_CHARS
        return
    records = [
        PayloadRecord(
            instance.request_id,
            MODEL,
            version,
            format_timestamp(now),
            instance.features,
            Prediction(score, int(score >= 0.5)),
            latency,
        )
        for instance in accepted
    ]
    for record, instance in zip(records, accepted, strict=True):
        bound = payload_line_bound(instance.request_id, MODEL, version, instance.features)
        assert len(payload_line(record)) <= bound <= MAX_RECORD_CHARS
    key = payload_object_key(MODEL, now, "inv")
    result = etl(encode_jsonl(records), key)
    assert [(bad.line, bad.reasons) for bad in result.quarantined] == []
    assert (result.records, result.duplicates) == (len(records), 0)


#: The optional members, well-formed or nearly (a member's fields hostile one at a time).
OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    ARM_FIELD: st.one_of(st.sampled_from(ARMS), hostile_text),
    HEURISTIC_FIELD: st.fixed_dictionaries(
        {"score": st.one_of(st.floats(0.0, 1.0), hostile_numbers), "label": st.one_of(st.sampled_from([0, 1]), scalars)}
    ),
    SHADOW_FIELD: st.fixed_dictionaries(
        {
            "model_version": st.one_of(versions, hostile_text),
            "score": st.one_of(st.floats(0.0, 1.0), hostile_numbers),
            "label": st.one_of(st.sampled_from([0, 1]), scalars),
        },
        optional={"latency_ms": st.one_of(st.floats(0.0, 1e6), hostile_numbers), "note": json_values},
    ),
}


def mutated_payload(draw: st.DrawFn) -> str:
    document: dict[str, Any] = {
        "request_id": "r-1",
        "model_name": MODEL,
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": {"tenure": 3, "plan": "basic"},
        "prediction": {"score": 0.3, "label": 0},
        "latency_ms": 1.0,
    }
    for _ in range(draw(st.integers(0, 3))):
        member = draw(st.sampled_from([*document, "features", "extra", "prediction", *OPTIONS]))
        if member in OPTIONS:
            document[member] = draw(st.one_of(OPTIONS[member], json_values))
        elif member == "features":
            document["features"] = draw(feature_maps)
        elif member == "prediction":
            document["prediction"] = draw(st.one_of(json_values, st.fixed_dictionaries({"score": scalars})))
        elif member == "timestamp":
            document["timestamp"] = draw(
                st.one_of(
                    hostile_text,
                    st.sampled_from(
                        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-23T10:00:00.1234567891Z"]
                    ),
                )
            )
        else:
            document[member] = draw(json_values)
    return json.dumps(document, ensure_ascii=draw(st.booleans()), allow_nan=True)


lines = st.one_of(st.composite(mutated_payload)(), st.text(max_size=40), json_values.map(json.dumps))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(lines, min_size=1, max_size=6), st.sampled_from(["dt=2026-11-23/", "", "dt=2026-99-99/"]))
def test_the_etl_never_fails_on_a_line_and_accounts_for_each(texts: list[str], partition: str) -> None:
    body = "".join(f"{text}\n" for text in texts).encode("utf-8", "surrogatepass")
    key = f"payloads/model={MODEL}/{partition}a.jsonl"
    result = etl(body, key)
    loaded = len(result.predictions)
    assert sum(int(item["rows"]["N"]) for item in result.items) == loaded == result.result.loaded
    assert loaded + result.duplicates + result.result.quarantined == result.records or result.records == 0
    assert len(result.quarantine_lines) >= min(result.result.quarantined, 1)  # written, and every line parses
    for bad in result.quarantined:
        assert all(len(reason) <= MAX_PROBLEM_CHARS for reason in bad.reasons)


def test_the_name_and_value_limits_leave_room_for_a_feature_escaped_throughout() -> None:
    assert 6 * (MAX_FEATURE_NAME_CHARS + MAX_STRING_VALUE_CHARS) < MAX_RECORD_CHARS // 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.composite(mutated_payload)())
def test_the_fast_path_accepts_exactly_what_the_complete_check_accepts(text: str) -> None:
    document = json.loads(text)
    line = text if encodable(text) else None  # a line the ETL reads is UTF-8 text: no raw lone surrogate
    outcomes: list[tuple[bool, object]] = []
    for check in (_checked_payload, lambda value: validate_payload(value, line)):
        try:
            outcomes.append((True, check(document)))
        except ContractViolationError as error:
            outcomes.append((False, error.problems))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0]:  # an accepted record's options read the same from its decoded text
        assert payload_options(document) == payload_options(json.loads(text))
