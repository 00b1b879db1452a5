"""The drift-check job end to end on moto's server: a real champion, traffic loaded by the real payload-ETL handler,
`python -m batch_jobs.drift_check`'s `main`, and its report, result, metrics and events read back from the emulator.

Events are observed as a consumer would: an EventBridge rule on the custom bus targets an SQS queue (moto delivers
`PutEvents` to SQS targets), and each test reads what arrived.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from autoretrain.emulator import Emulator, LocalResources, patched_environ, provision, release
from autoretrain.synthetic import TARGET, ConceptShift, CovariateShift, generate_churn
from batch_jobs.drift_check import main
from batch_jobs.monitoring.pipeline import run_id_for
from batch_jobs.monitoring.policy import Observation, TriggerPolicy, decide
from batch_jobs.monitoring.state import DriftStateStore, StateConflictError, drift_state_pk
from core.settings import EnvVar
from tests.integration.champion_fixture import (
    Champion,
    install_champion,
    labels_for,
    load_records,
    serve,
    spread,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef, MetricTypeDef

pytestmark = pytest.mark.integration

MODEL = "churn"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
#: Short windows keep the tests fast: moto answers each per-day `Query` on an index by scanning the table.
WINDOW = 2 * DAY
SHORT_WINDOWS = ("--window-days", "2", "--label-delay-days", "2")
#: Rows of the harmless-shift window: enough for the expected AUC's bound to clear the margin.
HARMLESS_ROWS = 2000


@dataclass
class Stack:
    """Resources on the emulator, the deployment environment set, a champion and a queue that sees every event."""

    session: boto3.Session
    resources: LocalResources
    champion: Champion | None
    queue_url: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def check(self, now: datetime, *arguments: str) -> dict[str, Any]:
        """Run the job's entry point at `now`; return its result.json and collect the events it sent."""
        code = main(["--now", now.isoformat(), *SHORT_WINDOWS, *arguments])
        assert code == 0
        self.events.extend(drain(self.session, self.queue_url))
        return self.result(now)

    def result(self, now: datetime) -> dict[str, Any]:
        body = (
            self.session.client("s3")
            .get_object(Bucket=self.resources.model_bucket, Key=f"reports/{MODEL}/{run_id_for(now)}/result.json")[
                "Body"
            ]
            .read()
        )
        document: dict[str, Any] = json.loads(body)
        return document

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["detail-type"] == detail_type]

    def load(self, records: list[dict[str, Any]], *, labels: bool = False) -> None:
        totals = load_records(self.session, self.resources, records, labels=labels)
        assert totals == {"loaded": len(records), "quarantined": 0}


def drain(session: boto3.Session, queue_url: str) -> list[dict[str, Any]]:
    sqs = session.client("sqs")
    events: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def event_queue(session: boto3.Session, resources: LocalResources) -> str:
    """An SQS queue receiving every autoretrain event on the bus, through a rule as infra would create one."""
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = session.client("events")
    events.put_rule(Name="all", EventBusName=resources.event_bus, EventPattern=json.dumps({"source": ["autoretrain"]}))
    events.put_targets(Rule="all", EventBusName=resources.event_bus, Targets=[{"Id": "queue", "Arn": arn}])
    return str(queue_url)


@contextmanager
def stack(*, with_champion: bool = True, feature_metrics: bool = False) -> Iterator[Stack]:
    """A fresh stack on the session's emulator (usable from module-scoped fixtures)."""
    session = boto3.Session()
    resources = provision(session, prefix=f"d{uuid.uuid4().hex[:12]}")
    settings = {**resources.environment(MODEL), EnvVar.FEATURE_METRICS.value: str(feature_metrics).lower()}
    with patched_environ(settings):
        champion = install_champion(session, resources, MODEL) if with_champion else None
        yield Stack(session, resources, champion, event_queue(session, resources))
    release(session, resources)


def customers(count: int, seed: int, **shifts: Any) -> Any:
    return generate_churn(count, seed=seed, **shifts)


# --- a quiet window: one check, several observable outputs ------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet_window(emulator: Emulator) -> Iterator[tuple[Stack, dict[str, Any]]]:
    with stack(feature_metrics=True) as quiet:
        assert quiet.champion is not None
        quiet.load(serve(quiet.champion, customers(300, seed=11), spread(NOW - WINDOW, NOW, 300)))
        yield quiet, quiet.check(NOW)


def test_a_window_without_drift_requests_no_retrain(quiet_window: tuple[Stack, dict[str, Any]]) -> None:
    quiet, result = quiet_window
    assert (result["verdict"], result["dataset_drift"], result["window"]["n_rows"]) == ("no_drift", False, 300)
    assert result["decision"]["retrain_requested"] is False
    assert result["decision"]["outcome"] == "no_signal"
    assert quiet.of_type("RetrainRequested") == []


def test_a_check_writes_its_html_report_and_json_result_under_reports(
    quiet_window: tuple[Stack, dict[str, Any]],
) -> None:
    quiet, result = quiet_window
    bucket = quiet.resources.model_bucket
    report_key = f"reports/{MODEL}/{run_id_for(NOW)}/report.html"
    report = quiet.session.client("s3").get_object(Bucket=bucket, Key=report_key)
    html = report["Body"].read().decode()
    assert report["ContentType"].startswith("text/html")
    assert html.startswith("<!DOCTYPE html>")
    assert "Decision" in html
    assert "tenure_months" in html
    assert result["report_uri"] == f"s3://{bucket}/{report_key}"
    assert result["result_uri"] == f"s3://{bucket}/reports/{MODEL}/{run_id_for(NOW)}/result.json"
    assert result["drift"]["n_current"] == 300


def test_a_check_publishes_rows_drift_flags_and_effect_sizes_to_cloudwatch(
    quiet_window: tuple[Stack, dict[str, Any]],
) -> None:
    quiet, _ = quiet_window
    cloudwatch = quiet.session.client("cloudwatch")

    def value(name: str) -> list[float]:
        metric: MetricTypeDef = {
            "Namespace": "autoretrain",
            "MetricName": name,
            "Dimensions": [{"Name": "ModelName", "Value": MODEL}],
        }
        query: MetricDataQueryTypeDef = {"Id": "m", "MetricStat": {"Metric": metric, "Period": 300, "Stat": "Maximum"}}
        response = cloudwatch.get_metric_data(
            MetricDataQueries=[query],
            StartTime=NOW - timedelta(hours=1),
            EndTime=NOW + timedelta(hours=1),
        )
        values: list[float] = response["MetricDataResults"][0]["Values"]
        return values

    assert value("RowsChecked") == [300.0]
    assert value("DatasetDrift") == [0.0]
    assert value("RetrainRequested") == [0.0]
    assert len(value("DomainClassifierAUC")) == 1
    paginator = cloudwatch.get_paginator("list_metrics")
    per_feature = [
        metric
        for page in paginator.paginate(Namespace="autoretrain", MetricName="FeatureDriftEffectSize")
        for metric in page["Metrics"]
    ]
    features = {
        dimension["Value"]
        for metric in per_feature
        for dimension in metric["Dimensions"]
        if dimension["Name"] == "Feature"
    }
    assert quiet.champion is not None
    assert features == set(quiet.champion.schema.names)


def test_a_check_emits_drift_check_completed_on_the_bus(quiet_window: tuple[Stack, dict[str, Any]]) -> None:
    quiet, _ = quiet_window
    (event,) = quiet.of_type("DriftCheckCompleted")
    detail = event["detail"]
    assert event["source"] == "autoretrain"
    assert quiet.champion is not None
    assert {
        key: detail[key]
        for key in ("model_name", "run_id", "champion_version", "verdict", "dataset_drift", "n_current")
    } == {
        "model_name": MODEL,
        "run_id": run_id_for(NOW),
        "champion_version": quiet.champion.version,
        "verdict": "no_drift",
        "dataset_drift": False,
        "n_current": 300,
    }
    assert set(detail) >= {
        "performance_decay",
        "drifted_features",
        "report_uri",
        "n_labelled",
        "window_start",
        "window_end",
        "decision",
    }
    assert (detail["window_start"], detail["window_end"]) == ("2026-11-29T03:00:00.000Z", "2026-12-01T03:00:00.000Z")


# --- drifting days: consecutive checks under the trigger policy -----------------------------------------------------


@pytest.fixture(scope="module")
def drifting_days(emulator: Emulator) -> Iterator[tuple[Stack, list[dict[str, Any]], list[list[str]]]]:
    """Checks at NOW, NOW + 1 day and NOW + 2 days over traffic whose tenure moved in a way the model feels."""
    with stack() as drifting:
        assert drifting.champion is not None
        # Tenure squeezed towards its centre: the model separates customers less well (expected AUC falls).
        shifted = customers(600, seed=12, covariate_shifts=[CovariateShift("tenure_months", scale=0.3)])
        drifting.load(serve(drifting.champion, shifted, spread(NOW - WINDOW, NOW + 2 * DAY, 600)))
        results, events = [], []
        for now in (NOW, NOW + DAY, NOW + 2 * DAY):
            before = len(drifting.events)
            # Drift acted on as soon as the streak allows (waiting for labels is the policy's unit tests').
            results.append(drifting.check(now, "--label-delay-days", "0", "--adapt-days", "0"))
            events.append([event["detail-type"] for event in drifting.events[before:]])
        yield drifting, results, events


def test_one_drifting_check_alone_requests_no_retrain(
    drifting_days: tuple[Stack, list[dict[str, Any]], list[list[str]]],
) -> None:
    _, results, events = drifting_days
    assert results[0]["verdict"] == "drift"
    assert "tenure_months" in results[0]["drifted_features"]
    assert results[0]["decision"]["retrain_requested"] is False
    assert events[0] == ["DriftCheckCompleted"]


def test_the_second_consecutive_drifting_check_requests_a_drift_retrain(
    drifting_days: tuple[Stack, list[dict[str, Any]], list[list[str]]],
) -> None:
    drifting, results, events = drifting_days
    assert results[1]["decision"]["retrain_requested"] is True
    assert results[1]["decision"]["trigger"] == "drift"
    assert events[1] == ["DriftCheckCompleted", "RetrainRequested"]
    (request,) = drifting.of_type("RetrainRequested")
    assert request["detail"]["model_name"] == MODEL
    assert request["detail"]["trigger"] == "drift"
    assert request["detail"]["requested_at"] == "2026-12-02T03:00:00.000Z"
    assert "2 consecutive drifting check(s)" in request["detail"]["reason"]


def test_a_third_drifting_check_within_the_cooldown_requests_nothing(
    drifting_days: tuple[Stack, list[dict[str, Any]], list[list[str]]],
) -> None:
    _, results, events = drifting_days
    decision = results[2]["decision"]
    assert (results[2]["verdict"], decision["retrain_requested"], decision["outcome"]) == ("drift", False, "cooldown")
    assert "cooldown" in decision["reason"]
    assert events[2] == ["DriftCheckCompleted"]


# --- single checks --------------------------------------------------------------------------------------------------


def test_too_few_predictions_give_insufficient_data_and_no_decision(emulator: Emulator) -> None:
    with stack() as sparse:
        assert sparse.champion is not None
        sparse.load(serve(sparse.champion, customers(60, seed=13), spread(NOW - WINDOW, NOW, 60)))
        result = sparse.check(NOW)
        (completed,) = sparse.of_type("DriftCheckCompleted")
    assert (result["verdict"], result["drift"], result["decision"]["outcome"]) == (
        "insufficient_data",
        None,
        "no_decision",
    )
    assert result["summary"].startswith("Insufficient data: 60 prediction(s) in the window, at least 200 needed")
    assert completed["detail"]["verdict"] == "insufficient_data"
    assert sparse.of_type("RetrainRequested") == []


def test_without_a_champion_the_check_is_a_clean_no_op(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    with stack(with_champion=False) as empty:
        code = main(["--now", NOW.isoformat()])
        events = drain(empty.session, empty.queue_url)
        listed = empty.session.client("s3").list_objects_v2(Bucket=empty.resources.model_bucket, Prefix="reports/")
        state = DriftStateStore(empty.session.client("dynamodb"), empty.resources.payload_table).load(MODEL)
    assert code == 0
    assert "no champion" in json.loads(capsys.readouterr().out)["message"]
    assert listed.get("KeyCount", 0) == 0
    assert events == []
    assert state.version == 0


def test_a_champion_without_its_reference_profile_fails_the_job_with_a_clear_message(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with stack() as broken:
        assert broken.champion is not None
        key = broken.champion.artifact_uri.split("/", 3)[3].replace("model.pkl", "reference.parquet")
        broken.session.client("s3").delete_object(Bucket=broken.resources.model_bucket, Key=key)
        code = main(["--now", NOW.isoformat(), *SHORT_WINDOWS])
        events = drain(broken.session, broken.queue_url)
    assert code == 1
    assert f"{key} does not exist" in caplog.text
    assert events == []


def test_decayed_performance_on_matured_labels_requests_a_performance_retrain(emulator: Emulator) -> None:
    inverted = ConceptShift(
        coefficients={
            "tenure_months": 0.9,
            "monthly_charges": -0.6,
            "support_calls": -0.7,
            "usage_hours": 0.5,
            "contract=month-to-month": -0.9,
            "contract=two-year": 1.0,
        }
    )
    with stack() as decayed:
        assert decayed.champion is not None
        past = customers(300, seed=14, concept_shift=inverted)
        served = serve(decayed.champion, past, spread(NOW - 2 * WINDOW, NOW - WINDOW, 300))
        decayed.load(served)
        decayed.load(labels_for(served, past[TARGET], delay=DAY), labels=True)
        decayed.load(serve(decayed.champion, customers(250, seed=15), spread(NOW - WINDOW, NOW, 250)))
        result = decayed.check(NOW)
        (request,) = decayed.of_type("RetrainRequested")
    assert result["matured_window"]["n_labelled"] == 300
    assert result["performance_decay"] is True
    assert result["verdict"] == "no_drift"
    assert (result["decision"]["retrain_requested"], result["decision"]["trigger"]) == (True, "performance")
    assert request["detail"]["trigger"] == "performance"


def test_predictions_served_by_another_version_are_scored_by_the_champion(emulator: Emulator) -> None:
    with stack() as mixed:
        assert mixed.champion is not None
        traffic = customers(250, seed=16)
        old = serve(mixed.champion, traffic, spread(NOW - WINDOW, NOW, 250), model_version="v-old", scores=[0.99] * 250)
        mixed.load(old)
        result = mixed.check(NOW)
    assert result["window"]["n_rescored"] == 250
    assert result["drift"]["prediction"]["drift"] is False
    assert result["window"]["predicted_positive_rate"] < 0.5


def test_a_state_write_from_a_stale_read_is_refused(emulator: Emulator) -> None:
    with stack(with_champion=False) as bare:
        store = DriftStateStore(bare.session.client("dynamodb"), bare.resources.payload_table)
        first = store.load(MODEL)
        observation = Observation("run-1", NOW, "v1", "drift", None)
        _, winner = decide(first, observation, TriggerPolicy())
        store.save(MODEL, winner, expected_version=first.version, now=NOW)
        _, loser = decide(first, Observation("run-2", NOW, "v1", "drift", None), TriggerPolicy())
        with pytest.raises(StateConflictError):
            store.save(MODEL, loser, expected_version=first.version, now=NOW)
        item = bare.session.client("dynamodb").get_item(
            TableName=bare.resources.payload_table, Key={"pk": {"S": drift_state_pk(MODEL)}, "sk": {"S": "STATE"}}
        )["Item"]
    assert json.loads(item["state"]["S"])["checks"][0]["run_id"] == "run-1"


# --- impact: a shift that costs the model nothing is reported, not retrained on --------------------------------------


@pytest.fixture(scope="module")
def harmless_days(emulator: Emulator) -> Iterator[tuple[Stack, list[dict[str, Any]], list[list[str]]]]:
    """Two checks an hour apart (a second drifting check would request a retrain were the drift acted on) over
    traffic whose tenure moved up by a year: the model leans on tenure, but longer-tenured customers are easier to
    tell apart, so the champion's expected AUC rises: drift that costs nothing."""
    moved = CovariateShift("tenure_months", shift=12.0)
    with stack(feature_metrics=True) as harmless:
        assert harmless.champion is not None
        rows = customers(HARMLESS_ROWS, seed=31, covariate_shifts=[moved])
        harmless.load(serve(harmless.champion, rows, spread(NOW - WINDOW, NOW, HARMLESS_ROWS)))
        results, events = [], []
        for now in (NOW - timedelta(hours=1), NOW):
            before = len(harmless.events)
            results.append(harmless.check(now, "--label-delay-days", "0", "--adapt-days", "0"))
            events.append([event["detail-type"] for event in harmless.events[before:]])
        yield harmless, results, events


def test_drift_estimated_harmless_is_reported_with_its_impact_and_requests_no_retrain(
    harmless_days: tuple[Stack, list[dict[str, Any]], list[list[str]]],
) -> None:
    harmless, results, events = harmless_days
    for result, sent in zip(results, events, strict=True):
        assert result["verdict"] == "drift"
        assert "tenure_months" in result["drifted_features"]
        impact = result["drift"]["impact"]
        assert impact["verdict"] == "harmless"
        assert impact["drop_upper"] < impact["margin"]
        assert "no concept shift" in impact["assumption"]
        assert result["decision"]["outcome"] == "harmless_drift"
        assert result["decision"]["retrain_requested"] is False
        assert sent == ["DriftCheckCompleted"]
        assert "Estimated impact: expected AUC" in result["summary"]
    assert harmless.of_type("DriftCheckCompleted")[-1]["detail"]["impact"] == "harmless"
    cloudwatch = harmless.session.client("cloudwatch")
    names = {metric["MetricName"] for metric in cloudwatch.list_metrics(Namespace="autoretrain")["Metrics"]}
    assert {"ExpectedAUC", "ExpectedAUCDrop", "ImpactfulDrift"} <= names
