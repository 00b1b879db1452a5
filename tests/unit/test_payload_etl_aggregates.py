"""The ETL's alerting aggregates equal those of the raw records (issue #15), through the real `process_object` over
in-memory ports: for any mix of valid and refused payload lines in several objects, the items the ETL wrote, merged
per bucket, are what `Aggregate.add` makes of the accepted records (each judged against its version's baseline, or
not judged without one) plus every refused record in its object's arrival bucket."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates import Aggregate, Judge, bucket_start
from core.baseline import MonitoringBaseline
from core.records import format_timestamp, parse_timestamp
from tests.baselines import baseline_of, categorical, numeric
from tests.payload_etl_fakes import aggregates_of, load_object

MODEL = "churn"
#: Records lie within 40 minutes around midnight: several buckets, two days.
MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)
KEY = "payloads/model=churn/dt=2026-11-23/{}.jsonl"


def baseline(version: str, features: list[dict[str, Any]]) -> MonitoringBaseline:
    return baseline_of(features, model_name=MODEL, model_version=version)


BASELINES = {
    (MODEL, "v1"): baseline("v1", [categorical("plan", "pro", "basic"), numeric("tenure"), numeric("charges")]),
    (MODEL, "v2"): baseline("v2", [categorical("plan", "pro", ""), numeric("tenure")]),
}
JUDGES: dict[str, Judge | None] = {version: Judge.of(value) for (_, version), value in BASELINES.items()}

feature_values = {
    "plan": st.one_of(st.sampled_from(["pro", "basic", "gold", "", "é"]), st.none(), st.integers(0, 3), st.booleans()),
    "tenure": st.one_of(st.integers(-5, 500), st.floats(-1e6, 1e6), st.none(), st.sampled_from(["3", "n/a"])),
    "charges": st.one_of(st.floats(0, 1e4), st.none(), st.booleans()),
    "region": st.sampled_from(["eu", "us"]),
    "new_flag": st.booleans(),
}
feature_maps = st.fixed_dictionaries({}, optional=feature_values).filter(bool)  # the contract wants a feature


@st.composite
def valid_line(draw: st.DrawFn, request_id: str) -> dict[str, Any]:
    seconds = draw(st.integers(-20 * 60, 20 * 60 - 1))
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": draw(st.sampled_from(["v1", "v2", "v3"])),
        "timestamp": format_timestamp(MIDNIGHT + timedelta(seconds=seconds, milliseconds=draw(st.integers(0, 999)))),
        "features": draw(feature_maps),
        "prediction": {"score": draw(st.floats(0, 1)), "label": draw(st.integers(0, 1))},
    }
    latency = draw(st.one_of(st.none(), st.just("absent"), st.floats(0, 1e5)))
    if latency != "absent":
        document["latency_ms"] = latency
    if draw(st.booleans()):
        document["trace"] = {"span": draw(st.text(max_size=3))}  # an unknown top-level member: kept, not judged
    return document


REFUSED_LINES = [
    "not json",
    json.dumps({"request_id": "bad", "model_name": MODEL}),
    '{"request_id": "nan", "model_name": "churn", "model_version": "v1", "timestamp": "2026-11-24T00:00:00Z", '
    '"features": {"tenure": NaN}, "prediction": {"score": 0.5, "label": 1}}',
    json.dumps(
        {
            "request_id": "score",
            "model_name": MODEL,
            "model_version": "v1",
            "timestamp": "2026-11-24T00:00:00Z",
            "features": {},
            "prediction": {"score": 2.0, "label": 1},
        }
    ),
]


@st.composite
def an_object(draw: st.DrawFn, index: int) -> tuple[list[str], list[dict[str, Any]], int]:
    """Its lines, its valid records, and its arrival (epoch seconds)."""
    valid = [draw(valid_line(f"o{index}-r{number}")) for number in range(draw(st.integers(0, 25)))]
    refused = draw(st.lists(st.sampled_from(REFUSED_LINES), min_size=0 if valid else 1, max_size=4))  # never empty
    lines = [json.dumps(document) for document in valid] + refused
    order = draw(st.permutations(range(len(lines))))
    arrival = int(MIDNIGHT.timestamp()) + draw(st.integers(-20 * 60, 30 * 60))
    return [lines[position] for position in order], valid, arrival


@st.composite
def objects(draw: st.DrawFn) -> list[tuple[list[str], list[dict[str, Any]], int]]:
    return [draw(an_object(index)) for index in range(draw(st.integers(1, 4)))]


def expected(loaded: list[tuple[list[str], list[dict[str, Any]], int]]) -> dict[datetime, Aggregate]:
    """The raw records' aggregates: accepted ones in the bucket of their time, refused ones in their object's
    arrival bucket."""
    buckets: dict[datetime, Aggregate] = {}
    for lines, valid, arrival in loaded:
        for document in valid:
            latency = document.get("latency_ms")
            buckets.setdefault(bucket_start(parse_timestamp(document["timestamp"])), Aggregate()).add(
                document["model_version"],
                float(document["prediction"]["score"]),
                int(document["prediction"]["label"]),
                None if latency is None else float(latency),
                document["features"],
                JUDGES.get(document["model_version"]),
            )
        refused = len(lines) - len(valid)
        if refused:
            non_finite = sum('"tenure": NaN' in line for line in lines)
            start = bucket_start(datetime.fromtimestamp(arrival, UTC))
            by_feature = Counter(tenure=non_finite) if non_finite else Counter()
            buckets.setdefault(start, Aggregate()).add_refused(refused, non_finite, by_feature)
    return dict(sorted(buckets.items()))


def assert_same(actual: Aggregate, wanted: Aggregate) -> None:
    """Equal counts and counters; the score's moments equal up to rounding (merged pairwise, not in one pass)."""
    assert (actual.scores.count, actual.scores.low, actual.scores.high) == (
        wanted.scores.count,
        wanted.scores.low,
        wanted.scores.high,
    )
    assert math.isclose(actual.scores.mean, wanted.scores.mean, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(actual.scores.m2, wanted.scores.m2, rel_tol=1e-7, abs_tol=1e-9)
    actual_json, wanted_json = actual.to_json(), wanted.to_json()
    del actual_json["scores"], wanted_json["scores"]
    assert actual_json == wanted_json


@settings(max_examples=15, deadline=None)
@given(objects())
def test_the_etls_aggregates_merged_per_bucket_equal_those_of_the_raw_records(
    loaded: list[tuple[list[str], list[dict[str, Any]], int]],
) -> None:
    items = []
    loaded_records = 0
    for index, (lines, valid, arrival) in enumerate(loaded):
        body = "".join(f"{line}\n" for line in lines).encode()
        result = load_object(body, key=KEY.format(index), baselines=BASELINES, arrival_epoch=arrival)
        assert (result.result.loaded, result.result.quarantined) == (len(valid), len(lines) - len(valid))
        loaded_records += result.result.loaded
        items.extend(result.items)
    keys = [(item["pk"]["S"], item["sk"]["S"]) for item in items]
    assert len(set(keys)) == len(keys)
    actual, wanted = aggregates_of(items), expected(loaded)
    assert list(actual) == list(wanted)
    for bucket, aggregate in actual.items():
        assert_same(aggregate, wanted[bucket])
    assert sum(int(item["rows"]["N"]) for item in items) == loaded_records
    assert sum(aggregate.judged for aggregate in actual.values()) == sum(
        document["model_version"] != "v3" for _, valid, _ in loaded for document in valid
    )
