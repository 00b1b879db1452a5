"""The alerting Lambda against moto's server: the payload table's aggregates are written by the real payload-ETL
handler from raw payload objects, the champion is registered through the registry, alerts are read from an SQS queue
subscribed to the topic and `AlertRaised` events from an SQS queue targeted by a rule on the bus.

Times are fixed: a run at `NOW` judges the window that ends `ingest_lag` (3 minutes) before it, on a 5-minute
boundary: the 10 minutes [09:45, 09:55) when it holds 50 predictions, longer when it does not.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import lambdas.payload_etl
from autoretrain.emulator import LocalResources
from autoretrain.local_runner import s3_object_created_event
from core.aggregates import BUCKET, aggregate_pk, aggregate_sk, bucket_start
from core.baseline import MonitoringBaseline
from core.layout import payload_object_key
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger
from core.payload_store import Item, PayloadStore
from core.records import format_timestamp
from core.registry import Registry
from core.settings import EnvVar
from core.tables import alert_pk
from lambdas.alerting import handler, reset_cold_start
from lambdas.alerting.adapters import AggregateStore, DynamoAlertStates
from lambdas.alerting.entry import AlertDeliveryError, cold_start
from lambdas.alerting.logic import run_checks
from lambdas.alerting.models import AlertState, AlertStatus, Signal, Verdict
from tests.payload_etl_fakes import load_object

pytestmark = pytest.mark.integration

MODEL = "churn"
VERSION = "20261120T030000Z-ab12cd"
RUNBOOK = "https://example.org/autoretrain/runbook.md"
BASELINE: dict[str, Any] = {
    "model_name": MODEL,
    "model_version": VERSION,
    "decision_threshold": 0.5,
    "positive_rate": 0.3,
    "score_mean": 0.45,
    "score_std": 0.25,
    "n_reference": 5000,
    "features": [
        {"name": "tenure", "kind": "numeric", "nullable": True, "missing_rate": 0.01, "categories": []},
        {"name": "plan", "kind": "categorical", "nullable": True, "missing_rate": 0.0, "categories": ["basic", "pro"]},
    ],
    "latency_ms_p99": 35.0,
}
Record = dict[str, Any]


#: A scheduler tick; its window ends at `END`.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
END = NOW - timedelta(minutes=5)


def window_end(scheduled: datetime) -> datetime:
    """Where the window of a run at `scheduled` ends (the default ingest lag, 3 minutes, then a 5-minute boundary)."""
    return bucket_start(scheduled - timedelta(minutes=3))


@dataclass
class Inbox:
    """What reached the topic (via an SQS subscription) and the bus (via a rule targeting SQS)."""

    sqs: Any
    messages_url: str
    events_url: str

    def _drain(self, url: str) -> list[dict[str, Any]]:
        bodies: list[dict[str, Any]] = []
        while True:
            received = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not received:
                return bodies
            for message in received:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def messages(self) -> list[dict[str, Any]]:
        """SNS notifications (Subject, Message) received since the last call."""
        return self._drain(self.messages_url)

    def events(self) -> list[dict[str, Any]]:
        """EventBridge events received since the last call."""
        return self._drain(self.events_url)


@dataclass
class Stack:
    """One test's resources and helpers (clients made once: each costs ~0.1 s)."""

    resources: LocalResources
    session: boto3.Session
    inbox: Inbox
    dynamodb: Any = None
    s3: Any = None

    def __post_init__(self) -> None:
        self.dynamodb = self.session.client("dynamodb")
        self.s3 = self.session.client("s3")

    def register_champion(self, baseline: Record | None = None) -> None:
        """Register and promote the champion through the registry; put its baseline.json beside model.pkl."""
        registry = Registry(self.dynamodb, self.resources.registry_table)
        created = datetime(2026, 11, 20, 3, tzinfo=UTC)
        prefix = f"models/{MODEL}/{VERSION}/"
        registry.register_candidate(
            ModelVersionRecord(
                model_name=MODEL,
                version=VERSION,
                trigger=Trigger.INITIAL,
                created_at=created,
                training_start=created - timedelta(days=30),
                training_end=created,
                train_rows=5000,
                holdout_rows=1000,
                data_fingerprint="sha256:" + "0f" * 32,
                code_version="git:test",
            )
        )
        registry.record_gate_decision(MODEL, VERSION, passed=True, reasons=["initial model"])
        registry.record_artifact(
            MODEL, VERSION, uri=f"s3://{self.resources.model_bucket}/{prefix}model.pkl", sha256="ab" * 32
        )
        registry.transition(MODEL, VERSION, ModelStatus.RELEASED, "gate passed")
        registry.transition(MODEL, VERSION, ModelStatus.CHAMPION, "deployed")
        body = json.dumps(BASELINE if baseline is None else baseline).encode()
        self.s3.put_object(Bucket=self.resources.model_bucket, Key=prefix + "baseline.json", Body=body)

    def log(self, records: list[Record]) -> None:
        """Write raw payload objects (one per UTC day) and load each with the real payload-ETL handler; each object
        arrives (its event's time, where the ETL counts its refused records) at its newest record's time."""
        s3 = self.s3
        by_day: dict[str, list[Record]] = {}
        for record in records:
            by_day.setdefault(str(record["timestamp"])[:10], []).append(record)
        for day_records in by_day.values():
            moment = datetime.fromisoformat(day_records[0]["timestamp"])
            key = payload_object_key(MODEL, moment, uuid.uuid4().hex)
            body = "\n".join(json.dumps(record) for record in day_records).encode()  # NaN stays NaN: not JSON-valid
            etag = s3.put_object(Bucket=self.resources.payload_bucket, Key=key, Body=body)["ETag"]
            arrival = max(datetime.fromisoformat(str(record["timestamp"])) for record in day_records)
            event = s3_object_created_event(
                self.resources.payload_bucket, key, size=len(body), etag=etag, event_time=arrival
            )
            result = lambdas.payload_etl.handler(event, None)
            assert result["objects"][0]["status"] == "loaded"

    def run(self, scheduled_time: datetime) -> dict[str, Any]:
        """Invoke the alerting handler as EventBridge Scheduler does."""
        return handler({"scheduled_time": scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")}, None)


@pytest.fixture
def stack(
    resources: LocalResources, deployed_env: dict[str, str], aws_session: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    """Resources, the runbook URL setting, and queues receiving the topic's messages and the bus's AlertRaised."""
    monkeypatch.setenv(EnvVar.RUNBOOK_URL.value, RUNBOOK)
    monkeypatch.setenv(EnvVar.ALERT_HISTORY_DAYS.value, "3")  # 3 count queries per run instead of 7: faster tests
    sqs = aws_session.client("sqs")
    prefix = uuid.uuid4().hex[:10]
    messages_url = sqs.create_queue(QueueName=f"{prefix}-messages")["QueueUrl"]
    events_url = sqs.create_queue(QueueName=f"{prefix}-events")["QueueUrl"]

    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    aws_session.client("sns").subscribe(TopicArn=resources.alert_topic_arn, Protocol="sqs", Endpoint=arn(messages_url))
    events = aws_session.client("events")
    rule = f"{prefix}-alerts"
    events.put_rule(
        Name=rule,
        EventBusName=resources.event_bus,
        EventPattern=json.dumps({"source": ["autoretrain"], "detail-type": ["AlertRaised"]}),
    )
    events.put_targets(Rule=rule, EventBusName=resources.event_bus, Targets=[{"Id": "queue", "Arn": arn(events_url)}])
    reset_cold_start()
    lambdas.payload_etl.reset_cold_start()
    yield Stack(resources, aws_session, Inbox(sqs, messages_url, events_url))
    reset_cold_start()
    lambdas.payload_etl.reset_cold_start()


def traffic(
    count: int, start: datetime, end: datetime, change: Callable[[int, Record], None] | None = None
) -> list[Record]:
    """`count` healthy predictions spread over [start, end): 30% positive, varied scores, known categories."""
    step = (end - start) / count
    records = []
    for index in range(count):
        decile = index % 10
        record: Record = {
            "request_id": f"r-{uuid.uuid4().hex}",
            "model_name": MODEL,
            "model_version": VERSION,
            "timestamp": format_timestamp(start + index * step),
            "features": {"tenure": float(index % 37), "plan": "pro" if index % 3 else "basic"},
            "prediction": {"score": 0.05 + decile / 10, "label": int(decile >= 7)},
            "latency_ms": 20.0 + index % 7,
        }
        if change is not None:
            change(index, record)
        records.append(record)
    return records


def recent(now: datetime, count: int = 60, change: Callable[[int, Record], None] | None = None) -> list[Record]:
    """Traffic spread over the 10 minutes before the window of a run at `now` ends: its whole window when the
    traffic holds 50 predictions (with fewer, the window widens but holds nothing more)."""
    end = window_end(now)
    return traffic(count, end - timedelta(minutes=10), end, change)


def history(now: datetime, days: int = 3, count: int = 60) -> list[Record]:
    """Usual traffic in the same window on each of the previous `days` days."""
    return [record for day in range(1, days + 1) for record in recent(now - timedelta(days=day), count)]


def verdicts(result: dict[str, Any]) -> dict[str, str]:
    return {entry["signal"]: entry["verdict"] for entry in result["signals"]}


def subjects(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(message["Subject"] for message in messages)


# --- quiet on healthy traffic -------------------------------------------------------------------------------------


def test_healthy_window_judges_every_signal_ok_and_sends_nothing(stack: Stack) -> None:
    now = NOW
    stack.register_champion()
    stack.log(history(now) + recent(now, count=100))  # 100 rows: enough for a p99

    result = stack.run(now)

    assert verdicts(result) == dict.fromkeys([signal.value for signal in Signal], "ok")
    assert result["rows"] == 100
    assert stack.inbox.messages() == []
    assert stack.inbox.events() == []


# --- one test per signal ------------------------------------------------------------------------------------------


def test_volume_collapse_fires_against_the_same_window_on_previous_days(stack: Stack) -> None:
    now = NOW
    stack.register_champion()
    stack.log(history(now, days=3, count=20) + recent(now, count=3))

    result = stack.run(now)

    assert verdicts(result)["volume"] == "firing"
    [message] = stack.inbox.messages()
    assert message["Subject"] == "[autoretrain] FIRING: churn volume collapse"
    assert "3 predictions were logged" in message["Message"]
    assert "median (20)" in message["Message"]
    assert f"{RUNBOOK}#volume-collapse-or-spike" in message["Message"]


def test_volume_spike_fires(stack: Stack) -> None:
    now = NOW
    stack.register_champion()
    stack.log(history(now, days=3, count=20) + recent(now, count=80))

    result = stack.run(now)

    assert verdicts(result)["volume"] == "firing"
    assert subjects(stack.inbox.messages()) == ["[autoretrain] FIRING: churn volume spike"]


def test_volume_has_no_verdict_without_enough_history(stack: Stack) -> None:
    now = NOW
    stack.register_champion()
    stack.log(history(now, days=2, count=20) + recent(now, count=5))

    result = stack.run(now)

    [volume] = [entry for entry in result["signals"] if entry["signal"] == "volume"]
    assert volume["verdict"] == "insufficient_data"
    assert volume["reason"].startswith("only 2 of 3 history windows saw traffic")
    assert stack.inbox.messages() == []


def test_constant_predictions_fire(stack: Stack) -> None:
    def constant(_: int, record: Record) -> None:
        record["prediction"] = {"score": 0.42, "label": 0}

    now = NOW
    stack.register_champion()
    stack.log(recent(now, change=constant))

    result = stack.run(now)

    assert verdicts(result)["constant_predictions"] == "firing"
    [message] = [m for m in stack.inbox.messages() if "constant predictions" in m["Subject"]]
    assert "a single distinct value" in message["Message"]
    assert f"{RUNBOOK}#constant-predictions" in message["Message"]


def test_positive_rate_outside_its_band_fires(stack: Stack) -> None:
    def mostly_positive(index: int, record: Record) -> None:
        record["prediction"]["label"] = int(index % 10 >= 2)  # 80% instead of 30%

    now = NOW
    stack.register_champion()
    stack.log(recent(now, change=mostly_positive))

    result = stack.run(now)

    assert verdicts(result)["positive_rate"] == "firing"
    assert verdicts(result)["constant_predictions"] == "ok"
    [message] = stack.inbox.messages()
    assert message["Subject"] == "[autoretrain] FIRING: churn positive rate out of band"
    assert "48 of 60 predictions were positive (80.0%)" in message["Message"]


def test_a_feature_arriving_empty_fires_missing_features(stack: Stack) -> None:
    def empty_plan(index: int, record: Record) -> None:
        if index % 10 < 6:
            record["features"]["plan"] = None

    now = NOW
    stack.register_champion()
    stack.log(recent(now, change=empty_plan))

    result = stack.run(now)

    assert verdicts(result)["missing_features"] == "firing"
    [message] = stack.inbox.messages()
    assert "'plan': 60.0% empty, normal at most 20.0% (training 0.0%)" in message["Message"]


def test_non_finite_features_quarantined_by_the_etl_fire(stack: Stack) -> None:
    now = NOW
    stack.register_champion()
    healthy = recent(now)
    broken = recent(now, count=20, change=lambda _, record: record["features"].update(tenure=math.nan))
    stack.log(healthy + broken)

    result = stack.run(now)

    assert result["rows"] == 60  # the ETL refused the 20 NaN records
    assert verdicts(result)["non_finite_features"] == "firing"
    [message] = stack.inbox.messages()
    assert "20 of 80 payload records (25.0%) carried a NaN or infinite feature" in message["Message"]
    assert "'tenure' 25.0%" in message["Message"]


def test_unseen_categories_fire(stack: Stack) -> None:
    def new_plan(index: int, record: Record) -> None:
        if index % 5 == 0:
            record["features"]["plan"] = "enterprise"

    now = NOW
    stack.register_champion()
    stack.log(recent(now, change=new_plan))

    result = stack.run(now)

    assert verdicts(result)["unseen_categories"] == "firing"
    [message] = stack.inbox.messages()
    assert "12 of 60 predictions (20.0%) carry a category never seen in training" in message["Message"]
    assert "'plan': 'enterprise' (12 records)" in message["Message"]


def test_schema_violations_fire_on_wrong_types_and_unknown_keys(stack: Stack) -> None:
    def broken_schema(index: int, record: Record) -> None:
        if index % 10 == 0:
            record["features"]["tenure"] = "12"
        if index % 10 == 1:
            record["features"]["tenure_days"] = 12

    now = NOW
    stack.register_champion()
    stack.log(recent(now, change=broken_schema))

    result = stack.run(now)

    assert verdicts(result)["schema_violations"] == "firing"
    [message] = stack.inbox.messages()
    assert "12 of 60 predictions (20.0%) do not match the model's 2 input features" in message["Message"]
    assert "unknown keys: 'tenure_days' 10.0%" in message["Message"]
    assert "wrongly typed values: 'tenure' 10.0%" in message["Message"]


def test_latency_over_budget_fires(stack: Stack) -> None:
    def slow(index: int, record: Record) -> None:
        if index % 20 == 0:
            record["latency_ms"] = 2500.0

    now = NOW
    stack.register_champion()
    stack.log(recent(now, count=100, change=slow))

    result = stack.run(now)

    assert verdicts(result)["latency"] == "firing"
    [message] = stack.inbox.messages()
    # 2,500 ms sits in the histogram bin (10^3.35, 10^3.4] ms: the p99 read is its upper edge.
    assert (
        "p99 latency over 100 predictions is at most 2512 ms (the upper edge of its histogram bin" in message["Message"]
    )
    assert "p99 at release 35 ms" in message["Message"]


# --- the adaptive window ------------------------------------------------------------------------------------------


def test_a_low_volume_window_widens_to_the_shortest_one_holding_min_rows(stack: Stack) -> None:
    stack.register_champion()
    stack.log(traffic(80, END - timedelta(hours=4), END))  # 20 an hour: 80 minutes hold 26, 160 minutes 53

    result = stack.run(NOW)

    assert (result["window_start"], result["window_end"]) == (
        format_timestamp(END - timedelta(minutes=160)),
        format_timestamp(END),
    )
    assert result["rows"] == 53  # every 3 minutes from END - 159 minutes to END - 3 minutes


def test_the_window_settings_reach_the_policy(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EnvVar.ALERT_WINDOW_MINUTES.value, "15")
    monkeypatch.setenv(EnvVar.ALERT_MAX_WINDOW_MINUTES.value, "120")
    monkeypatch.setenv(EnvVar.INGEST_LAG_MINUTES.value, "7")
    reset_cold_start()
    stack.register_champion()
    stack.log(traffic(20, NOW - timedelta(hours=3), NOW))

    policy = cold_start().policy
    result = stack.run(NOW)

    assert (policy.window, policy.max_window, policy.ingest_lag) == (
        timedelta(minutes=15),
        timedelta(hours=2),
        timedelta(minutes=7),
    )
    assert policy.window_ladder() == (
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(minutes=60),
        timedelta(minutes=120),
    )
    # 10:00 - 7 minutes = 09:53, on the bucket 09:50; 20 records in 3 hours: none of the windows holds 50.
    assert result["window_end"] == format_timestamp(NOW - timedelta(minutes=10))
    assert result["rows"] == 13  # the records of [07:50, 09:50): every 9 minutes from 07:00


# --- the alert lifecycle ------------------------------------------------------------------------------------------


def _new_plan(index: int, record: Record) -> None:
    if index % 5 == 0:
        record["features"]["plan"] = "enterprise"


def _unseen_incident(stack: Stack, now: datetime) -> None:
    stack.register_champion()
    stack.log(recent(now, change=_new_plan))


def test_alert_sends_one_message_and_one_alert_raised_event(stack: Stack) -> None:
    now = NOW
    _unseen_incident(stack, now)

    stack.run(now)

    [message] = stack.inbox.messages()
    [event] = stack.inbox.events()
    assert event["detail-type"] == "AlertRaised"
    assert event["source"] == "autoretrain"
    detail = event["detail"]
    assert detail["signal"] == "unseen_categories"
    assert detail["status"] == "firing"
    assert detail["severity"] == "warning"
    assert detail["observed"] == 0.2
    assert detail["expected"] == {"low": 0.0, "high": 0.05, "typical": 0.0}
    assert detail["since"] == format_timestamp(now)
    assert detail["runbook_url"] == f"{RUNBOOK}#unseen-categories"
    assert detail["message"] == message["Message"]


def test_repeat_within_the_cooldown_is_not_sent_again(stack: Stack) -> None:
    now = NOW
    _unseen_incident(stack, now)
    stack.run(now)
    stack.inbox.messages()
    stack.inbox.events()

    result = stack.run(now + timedelta(minutes=10))

    [unseen] = [entry for entry in result["signals"] if entry["signal"] == "unseen_categories"]
    assert (unseen["verdict"], unseen["action"]) == ("firing", "suppressed")
    assert stack.inbox.messages() == []
    assert stack.inbox.events() == []


def test_ongoing_alert_is_re_sent_as_a_reminder_after_the_cooldown(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EnvVar.ALERT_COOLDOWN_MINUTES.value, "15")
    now = NOW
    _unseen_incident(stack, now)
    stack.run(now)
    stack.inbox.messages()

    stack.run(now + timedelta(minutes=15))

    [reminder] = stack.inbox.messages()
    assert reminder["Subject"] == "[autoretrain] STILL FIRING: churn unseen categories"
    assert f"Since: {now:%Y-%m-%dT%H:%M:%S}Z (15 min ago)" in reminder["Message"]


def test_recovery_is_announced_once_and_the_state_reset(stack: Stack) -> None:
    now = NOW
    _unseen_incident(stack, now)
    stack.run(now)
    stack.inbox.messages()
    later = now + timedelta(hours=2)
    stack.log(recent(later))

    stack.run(later)
    stack.run(later + timedelta(minutes=10))

    [resolved] = stack.inbox.messages()
    assert resolved["Subject"] == "[autoretrain] RESOLVED: churn unseen categories"
    assert "It had been firing since" in resolved["Message"]
    assert "(2 h 0 min)" in resolved["Message"]
    states = DynamoAlertStates(stack.dynamodb, stack.resources.payload_table)
    assert states.get_many(MODEL, [Signal.UNSEEN_CATEGORIES])[Signal.UNSEEN_CATEGORIES].status is AlertStatus.RESOLVED
    statuses = [event["detail"]["status"] for event in stack.inbox.events()]
    assert statuses == ["firing", "resolved"]


def test_a_new_incident_after_recovery_fires_again(stack: Stack) -> None:
    now = NOW
    _unseen_incident(stack, now)
    stack.run(now)
    later = now + timedelta(hours=2)
    stack.log(recent(later))
    stack.run(later)
    stack.inbox.messages()
    again = later + timedelta(hours=2)
    stack.log(recent(again, change=_new_plan))

    stack.run(again)

    assert subjects(stack.inbox.messages()) == ["[autoretrain] FIRING: churn unseen categories"]


def test_insufficient_data_gives_no_alert(stack: Stack) -> None:
    def broken(_: int, record: Record) -> None:
        record["prediction"] = {"score": 0.99, "label": 1}
        record["latency_ms"] = 9000.0
        record["features"]["plan"] = None

    now = NOW
    stack.register_champion()
    stack.log(recent(now, count=20, change=broken))

    result = stack.run(now)

    assert set(verdicts(result).values()) == {"insufficient_data"}
    reasons = {entry["signal"]: entry["reason"] for entry in result["signals"]}
    assert reasons["constant_predictions"] == "20 predictions, 50 needed"
    assert stack.inbox.messages() == []
    assert stack.inbox.events() == []


def test_no_champion_is_a_clear_no_op(stack: Stack) -> None:
    now = NOW
    stack.log(recent(now, count=20, change=lambda _, record: record.update(latency_ms=9000.0)))

    result = stack.run(now)

    assert result["outcome"] == "no_champion"
    assert result["message"] == "model churn has no champion in the registry: nothing to monitor yet"
    assert result["signals"] == []
    assert stack.inbox.messages() == []


def test_a_missing_baseline_fails_the_invocation_with_its_location(stack: Stack) -> None:
    stack.register_champion()
    stack.s3.delete_object(Bucket=stack.resources.model_bucket, Key=f"models/{MODEL}/{VERSION}/baseline.json")

    with pytest.raises(RuntimeError, match=f"cannot read s3://.*/models/{MODEL}/{VERSION}/baseline.json"):
        stack.run(NOW)


def test_only_one_of_two_writers_of_the_same_revision_wins(stack: Stack) -> None:
    states = DynamoAlertStates(stack.dynamodb, stack.resources.payload_table)
    moment = datetime(2026, 11, 23, 10, tzinfo=UTC)
    first = AlertState(AlertStatus.FIRING, since=moment, last_sent_at=moment, revision=1)

    assert states.put(MODEL, Signal.VOLUME, first, expected_revision=None) is True
    assert states.put(MODEL, Signal.VOLUME, first, expected_revision=None) is False
    second = AlertState(AlertStatus.FIRING, since=moment, last_sent_at=moment + timedelta(hours=4), revision=2)
    assert states.put(MODEL, Signal.VOLUME, second, expected_revision=1) is True
    assert states.put(MODEL, Signal.VOLUME, second, expected_revision=1) is False
    item = stack.dynamodb.get_item(
        TableName=stack.resources.payload_table, Key={"pk": {"S": alert_pk(MODEL, "volume")}, "sk": {"S": "STATE"}}
    )["Item"]
    assert item["revision"] == {"N": "2"}


def test_a_message_sns_refuses_fails_the_run_and_is_sent_by_the_next_one(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = NOW
    _unseen_incident(stack, now)
    monkeypatch.setenv(EnvVar.ALERT_TOPIC_ARN.value, stack.resources.alert_topic_arn + "-gone")
    reset_cold_start()

    with pytest.raises(AlertDeliveryError, match="1 alert\\(s\\) not delivered: unseen_categories: SNS publish"):
        stack.run(now)
    monkeypatch.setenv(EnvVar.ALERT_TOPIC_ARN.value, stack.resources.alert_topic_arn)
    reset_cold_start()
    stack.run(now + timedelta(minutes=10))

    assert subjects(stack.inbox.messages()) == ["[autoretrain] FIRING: churn unseen categories"]


# --- what a run reads at 10 million predictions a day ----------------------------------------------------------

#: 10 M predictions a day: 34,722 per 5-minute bucket; Firehose's 60-second buffer makes an object a minute, so
#: about 5 items per bucket (one per object), each of 6,944 predictions.
PER_DAY = 10_000_000
OBJECTS_PER_BUCKET = 5
PER_ITEM = PER_DAY // 288 // OBJECTS_PER_BUCKET


class QueryPages:
    """A botocore `after-call` handler: the items each Query returned."""

    def __init__(self) -> None:
        self.pages: list[int] = []

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        self.pages.append(len(parsed.get("Items", [])))


def busy_items(template: Item, first: datetime, last: datetime) -> list[Item]:
    """`OBJECTS_PER_BUCKET` copies of the ETL's item in each bucket of [first, last), keyed as the ETL keys them."""
    items = []
    moment = first
    while moment < last:
        for index in range(OBJECTS_PER_BUCKET):
            source = hashlib.sha256(f"{moment.isoformat()}/{index}".encode()).hexdigest()[:32]
            items.append(
                template
                | {"pk": {"S": aggregate_pk(MODEL, f"{moment:%Y-%m-%d}")}, "sk": {"S": aggregate_sk(moment, source)}}
            )
        moment += BUCKET
    return items


def test_a_run_at_10_million_predictions_a_day_reads_a_few_hundred_items(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EnvVar.ALERT_HISTORY_DAYS.value, "7")  # the default policy
    reset_cold_start()
    stack.register_champion()
    # One object's item for one bucket, written by the ETL's code from PER_ITEM healthy predictions.
    records = traffic(PER_ITEM, END - BUCKET, END)
    loaded = load_object(
        "".join(json.dumps(record) + "\n" for record in records).encode(),
        key=payload_object_key(MODEL, END - BUCKET, "template"),
        baselines={(MODEL, VERSION): MonitoringBaseline.from_json(BASELINE)},
    )
    [template] = loaded.items
    assert int(template["rows"]["N"]) == PER_ITEM
    # Six hours of today and two hours around the same window on each previous day.
    items = busy_items(template, END - timedelta(hours=6), END)
    for day in range(1, 8):
        moment = END - timedelta(days=day)
        items += busy_items(template, moment - timedelta(hours=1), moment + timedelta(hours=1))
    PayloadStore(stack.dynamodb, stack.resources.payload_table).put_items(items)
    client = stack.session.client("dynamodb")
    pages = QueryPages()
    client.meta.events.register("after-call.dynamodb.Query", pages)
    runtime = cold_start()
    ports = replace(runtime.ports, buckets=AggregateStore(PayloadStore(client, stack.resources.payload_table)))

    result = run_checks(NOW, model_name=MODEL, policy=runtime.policy, runbook_url=RUNBOOK, ports=ports)

    assert runtime.policy.history_days == 7
    assert (result.window_start, result.window_end) == (END - timedelta(minutes=10), END)
    assert result.rows == 2 * OBJECTS_PER_BUCKET * PER_ITEM  # 69,440 predictions in the window
    assert {outcome.signal: outcome.verdict for outcome in result.signals}[Signal.VOLUME] is Verdict.OK
    assert len(items) > 1000  # what a reader of whole days or windows would read instead
    assert sum(pages.pages) < 300, pages.pages
    assert len(pages.pages) <= 1 + 7 * 2, pages.pages  # the window's query, then about one per history day
