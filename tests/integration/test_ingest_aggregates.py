"""Issue #15 on the emulator: predictions sent through the model's Firehose delivery stream land in S3 as one object
per batch, the local runner's S3 notification pump delivers each to the payload-ETL handler, and the alerting
aggregates it writes, read back as alerting reads them (`PayloadStore.aggregates`), equal those of the raw records;
redelivery adds nothing; a version without a baseline is counted but not judged; the baselines adapter."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoretrain.emulator import LocalResources
from autoretrain.local_runner import S3NotificationPump
from core.aggregates import Aggregate, Judge, bucket_start
from core.baseline import MonitoringBaseline
from core.layout import BASELINE_FILE, PayloadPrefix, model_version_prefix
from core.records import format_timestamp, parse_timestamp
from lambdas.payload_etl import handler, reset_cold_start
from lambdas.payload_etl.adapters import MISSING_TTL_S, ObjectStoreError, S3Baselines
from tests.baselines import baseline_of, categorical, numeric
from tests.integration.etl_support import aggregate_items, clear_ledger, put_baseline, store, window

pytestmark = pytest.mark.integration

MODEL = "churn"
MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)


def baseline(version: str) -> MonitoringBaseline:
    return baseline_of([categorical("plan", "pro"), numeric("tenure")], model_name=MODEL, model_version=version)


JUDGES: dict[str, Judge | None] = {"v1": Judge.of(baseline("v1"))}  # v2 has no baseline in the model bucket


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    reset_cold_start()
    yield
    reset_cold_start()


def record(request_id: str, moment: datetime, version: str = "v1", **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": version,
        "timestamp": format_timestamp(moment),
        "features": {"plan": "pro", "tenure": 3},
        "prediction": {"score": 0.25, "label": 0},
        "latency_ms": 8.0,
    }
    document.update(changes)
    return document


def send(session: boto3.Session, resources: LocalResources, lines: list[str]) -> None:
    """One PutRecordBatch of JSON lines, as serving sends them (each record one newline-terminated line)."""
    response = session.client("firehose").put_record_batch(
        DeliveryStreamName=resources.payload_stream, Records=[{"Data": (line + "\n").encode()} for line in lines]
    )
    assert response["FailedPutCount"] == 0


def deliver(pump: S3NotificationPump, arrival: datetime) -> list[dict[str, Any]]:
    """Every new object's notification, handed to the ETL as S3 would (a new container first); the handler's
    results."""
    results = []
    for event in pump.new_events(arrival):
        reset_cold_start()
        results.append(handler(event, None))
    return results


def expected(documents: list[dict[str, Any]], refused: int, arrival: datetime) -> dict[datetime, Aggregate]:
    """The aggregates of the raw records: accepted ones per bucket of their time, the refused in the arrival's."""
    buckets: dict[datetime, Aggregate] = {}
    for document in documents:
        buckets.setdefault(bucket_start(parse_timestamp(document["timestamp"])), Aggregate()).add(
            document["model_version"],
            float(document["prediction"]["score"]),
            int(document["prediction"]["label"]),
            document.get("latency_ms"),
            document["features"],
            JUDGES.get(document["model_version"]),
        )
    if refused:
        buckets.setdefault(bucket_start(arrival), Aggregate()).add_refused(refused, 0, {})
    return dict(sorted(buckets.items()))


def assert_same(actual: dict[datetime, Aggregate], wanted: dict[datetime, Aggregate]) -> None:
    assert list(actual) == list(wanted)
    for bucket, aggregate in actual.items():
        other = wanted[bucket]
        assert math.isclose(aggregate.scores.mean, other.scores.mean, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(aggregate.scores.m2, other.scores.m2, rel_tol=1e-7, abs_tol=1e-9)
        mine, theirs = aggregate.to_json(), other.to_json()
        assert (mine.pop("scores")[:1], mine.pop("rows")) == (theirs.pop("scores")[:1], theirs.pop("rows"))
        assert mine == theirs


def pump_of(session: boto3.Session, resources: LocalResources) -> S3NotificationPump:
    return S3NotificationPump(session.client("s3"), resources.payload_bucket, (PayloadPrefix.PAYLOADS.value,))


def test_a_firehose_batch_reaches_the_aggregates_of_its_records_buckets_through_s3_and_the_etl(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    put_baseline(aws_session, resources, baseline("v1"))
    documents = [
        record(f"r-{index}", MIDNIGHT + timedelta(minutes=4 * index - 12), score=index / 10)
        | {"prediction": {"score": index / 10, "label": int(index >= 5)}}
        for index in range(8)
    ]
    documents[2]["features"] = {"plan": "gold", "tenure": None, "extra": 1}
    send(aws_session, resources, [json.dumps(document) for document in documents] + ["not json"])
    arrival = MIDNIGHT + timedelta(minutes=21)
    (result,) = deliver(pump_of(aws_session, resources), arrival)
    assert (result["loaded"], result["quarantined"]) == (8, 1)
    (written,) = result["objects"]
    assert written["key"].startswith(f"payloads/model={MODEL}/dt=")
    buckets = window(aws_session, resources, MODEL, MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1))
    assert_same(buckets, expected(documents, 1, arrival))
    assert buckets[MIDNIGHT - timedelta(minutes=5)].unseen_values == {"plan": Counter(gold=1)}  # r-2 at 23:56
    assert store(aws_session, resources).count(MODEL, MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)) == 8


def test_a_version_without_a_readable_baseline_is_counted_in_rows_but_not_judged(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    put_baseline(aws_session, resources, baseline("v1"))
    malformed = model_version_prefix(MODEL, "v3") + BASELINE_FILE
    aws_session.client("s3").put_object(Bucket=resources.model_bucket, Key=malformed, Body=b'{"features": 1}')
    documents = [
        record("r-1", MIDNIGHT, "v1"),
        record("r-2", MIDNIGHT, "v2", features={"unknown": "x"}),  # no baseline.json
        record("r-3", MIDNIGHT, "v3", features={"unknown": "x"}),  # a malformed one
    ]
    send(aws_session, resources, [json.dumps(document) for document in documents])
    deliver(pump_of(aws_session, resources), MIDNIGHT + timedelta(minutes=1))
    (aggregate,) = window(aws_session, resources, MODEL, MIDNIGHT, MIDNIGHT + timedelta(minutes=5)).values()
    assert (aggregate.rows, aggregate.judged, aggregate.scores.count) == (3, 1, 3)
    assert aggregate.versions == Counter(v1=1, v2=1, v3=1)
    assert (aggregate.extra, aggregate.schema_rows, aggregate.present) == (Counter(), 0, Counter(plan=1, tenure=1))


def test_a_redelivered_object_adds_nothing_and_a_retry_after_a_crash_rewrites_the_same_keys(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    put_baseline(aws_session, resources, baseline("v1"))
    documents = [record(f"r-{index}", MIDNIGHT + timedelta(minutes=3 * index - 9)) for index in range(6)]
    send(aws_session, resources, [json.dumps(document) for document in documents] + ["{"])
    (event,) = pump_of(aws_session, resources).new_events(MIDNIGHT + timedelta(minutes=10))
    loaded = handler(event, None)["objects"][0]
    assert loaded["loaded"] == 6
    first = aggregate_items(aws_session, resources.payload_table)
    assert len(first) == 5  # 23:50, 23:55, 00:00, 00:05 and the refusal's 00:10
    # The same event again (S3 delivers at least once): the ledger says loaded, nothing is written.
    reset_cold_start()
    again = handler(event, None)
    assert (again["objects"][0]["status"], again["objects"][0]["write_calls"]) == ("already_loaded", 0)
    assert aggregate_items(aws_session, resources.payload_table) == first
    # A crash between the aggregates and the ledger mark: the retry rewrites the same keys, adding no item.
    clear_ledger(aws_session, resources, loaded["key"], loaded["etag"])
    reset_cold_start()
    assert handler(event, None)["objects"][0]["status"] == "loaded"
    assert aggregate_items(aws_session, resources.payload_table) == first
    start, end = MIDNIGHT - timedelta(hours=1), MIDNIGHT + timedelta(hours=1)
    assert store(aws_session, resources).count(MODEL, start, end) == 6
    assert sum(aggregate.refused for _, aggregate in store(aws_session, resources).aggregates(MODEL, start, end)) == 1


# --- the property, on the emulator: few examples ------------------------------------------------------------------

_DAYS = itertools.count()
feature_maps = st.fixed_dictionaries(
    {},
    optional={
        "plan": st.one_of(st.sampled_from(["pro", "gold", ""]), st.none(), st.integers(0, 2)),
        "tenure": st.one_of(st.integers(0, 100), st.none(), st.just("3")),
        "extra": st.booleans(),
    },
).filter(bool)


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[int]]:
    """Firehose batches of valid records around a midnight (the day chosen by the caller), and refused lines each."""
    count = draw(st.integers(1, 3))
    records = [
        [
            {
                "model_version": draw(st.sampled_from(["v1", "v2"])),
                "seconds": draw(st.integers(-15 * 60, 15 * 60 - 1)),
                "features": draw(feature_maps),
                "score": draw(st.floats(0, 1)),
                "latency_ms": draw(st.one_of(st.none(), st.floats(0, 1e4))),
            }
            for _ in range(draw(st.integers(1, 12)))
        ]
        for _ in range(count)
    ]
    return records, [draw(st.integers(0, 2)) for _ in range(count)]


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches())
def test_the_aggregates_read_back_from_the_table_equal_those_of_the_raw_records(
    aws_session: boto3.Session,
    resources: LocalResources,
    deployed_env: dict[str, str],
    drawn: tuple[list[list[dict[str, Any]]], list[int]],
) -> None:
    put_baseline(aws_session, resources, baseline("v1"))
    midnight = MIDNIGHT + timedelta(days=next(_DAYS))  # each example its own days: the table is shared
    pump = pump_of(aws_session, resources)
    list(pump.new_events())  # what earlier examples sent was delivered then
    specs, refused = drawn
    documents: list[dict[str, Any]] = []
    wanted: dict[datetime, Aggregate] = {}
    for batch, (spec, bad) in enumerate(zip(specs, refused, strict=True)):
        sent = [
            record(
                f"b{batch}-r{index}",
                midnight + timedelta(seconds=fields["seconds"]),
                fields["model_version"],
                features=fields["features"],
                prediction={"score": fields["score"], "label": int(fields["score"] >= 0.5)},
                latency_ms=fields["latency_ms"],
            )
            for index, fields in enumerate(spec)
        ]
        send(aws_session, resources, [json.dumps(document) for document in sent] + ["not json"] * bad)
        arrival = midnight + timedelta(minutes=16 + batch)
        (result,) = deliver(pump, arrival)
        assert (result["loaded"], result["quarantined"]) == (len(sent), bad)
        documents.extend(sent)
        for bucket, aggregate in expected(sent, bad, arrival).items():
            wanted.setdefault(bucket, Aggregate()).merge(aggregate)
    start, end = midnight - timedelta(minutes=30), midnight + timedelta(minutes=30)
    read = window(aws_session, resources, MODEL, start, end)
    assert_same(read, dict(sorted(wanted.items())))
    assert sum(aggregate.rows for aggregate in read.values()) == len(documents)
    assert store(aws_session, resources).count(MODEL, start, end) == len(documents)


# --- the baselines adapter ------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_missing_baseline_is_asked_for_again_only_after_its_wait(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    clock = Clock()
    baselines = S3Baselines(aws_session.client("s3"), resources.model_bucket, clock=clock)
    assert baselines.judge(MODEL, "v1") is None
    put_baseline(aws_session, resources, baseline("v1"))
    clock.now = MISSING_TTL_S - 1
    assert baselines.judge(MODEL, "v1") is None  # not asked again yet
    clock.now = MISSING_TTL_S + 1
    assert baselines.judge(MODEL, "v1") == Judge.of(baseline("v1"))


def test_a_read_baseline_is_kept_and_a_malformed_one_is_none(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    s3 = aws_session.client("s3")
    put_baseline(aws_session, resources, baseline("v1"))
    s3.put_object(Bucket=resources.model_bucket, Key=model_version_prefix(MODEL, "v2") + BASELINE_FILE, Body=b"[")
    baselines = S3Baselines(s3, resources.model_bucket)
    judge = baselines.judge(MODEL, "v1")
    s3.delete_object(Bucket=resources.model_bucket, Key=model_version_prefix(MODEL, "v1") + BASELINE_FILE)
    assert baselines.judge(MODEL, "v1") is judge  # read once per container
    assert baselines.judge(MODEL, "v2") is None


def test_a_failed_baseline_read_raises_for_a_retry(aws_session: boto3.Session, resources: LocalResources) -> None:
    baselines = S3Baselines(aws_session.client("s3"), f"{resources.model_bucket}-missing")
    with pytest.raises(ObjectStoreError, match="GetObject"):
        baselines.judge(MODEL, "v1")
