"""The drift-check pipeline over in-memory fakes of its ports: what one check reads, decides, writes and sends.

The data are small and synthetic: a three-feature "churn" model whose score is a known logistic function, a
reference profile of 2,000 customers, and windows of a few hundred predictions (the suite's minimum is 200).
The emulator tests (`tests/integration/test_drift_check.py`) run the same behaviours through the real adapters.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch_jobs.drift import DriftConfig, PerformanceVerdict, ReferenceProfile, ReferenceProfiler
from batch_jobs.drift._stats import FloatArray
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.metrics import classification_metrics
from batch_jobs.monitoring.adapters import MissingObjectError
from batch_jobs.monitoring.pipeline import (
    STATE_ATTEMPTS,
    DriftCheckError,
    DriftCheckOutcome,
    DriftCheckRequest,
    combined_decay,
    run_drift_check,
    run_id_for,
)
from batch_jobs.monitoring.policy import Observation, PolicyState, TriggerPolicy, decide
from batch_jobs.monitoring.ports import DriftCheckPorts
from batch_jobs.monitoring.review import ReviewDesign
from batch_jobs.monitoring.state import StateConflictError
from core.artifacts import LoadedModel, ModelManifest
from core.events import DetailType
from core.features import FeatureSpec, InputSchema
from core.records import format_timestamp
from core.segments import LabelledPrediction, LabelRow, PredictionRow
from tests.columns import labelled_frame, window_frame

#: The policy's streak, cooldown and cap on their own (no drift waits for labels; `test_drift_check_policy` has those).
NOW_LEARNABLE: dict[str, Any] = {"label_delay": timedelta(0), "adapt_days": timedelta(0)}

MODEL = "churn"
SHA256 = "ab" * 32
VERSION = "20261101T000000Z-ababab"
BUCKET = "models"
REPORTS = "reports-bucket"
ARTIFACT_URI = f"s3://{BUCKET}/models/{MODEL}/{VERSION}/model.pkl"
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WINDOW_DAYS = LABEL_DELAY_DAYS = 2
WINDOW = WINDOW_DAYS * DAY
#: Fewer bootstrap replicates than the default 500 keep the performance check fast; the verdicts here are clear-cut.
CONFIG = DriftConfig(n_bootstrap=100)
SCHEMA = InputSchema(
    (
        FeatureSpec("tenure", "numeric", nullable=True),
        FeatureSpec("charges", "numeric", nullable=True),
        FeatureSpec("plan", "categorical", nullable=True, categories=("basic", "pro")),
    )
)


# --- synthetic customers and the champion's scores --------------------------------------------------------------


def customers(count: int, seed: int, *, tenure_shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(24.0 + tenure_shift, 10.0, count),
            "charges": rng.normal(60.0, 15.0, count),
            "plan": pd.array(rng.choice(["basic", "pro"], count, p=[0.6, 0.4]), dtype="str"),
        }
    )


def churn_scores(frame: pd.DataFrame) -> FloatArray:
    logit = -1.0 - 1.5 * (frame["tenure"] - 24.0) / 10.0 + (frame["charges"] - 60.0) / 15.0
    logit = logit + np.where(frame["plan"] == "pro", -0.5, 0.0)
    return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)


def outcomes(scores: FloatArray, seed: int) -> FloatArray:
    return (np.random.default_rng(seed).random(scores.size) < scores).astype(np.float64)


@functools.cache
def reference() -> ReferenceProfile:
    """The champion's profile: 2,000 training customers, their scores and the holdout's baseline metrics."""
    frame = customers(2000, seed=0)
    scores = churn_scores(frame)
    labels = outcomes(scores, seed=1)
    holdout = classification_metrics(labels, scores)
    profiler = ReferenceProfiler(decision_threshold=0.5)
    return profiler.fit(frame, scores=scores, target=labels, holdout_metrics=holdout).profile_


def served(
    frame: pd.DataFrame,
    start: datetime,
    end: datetime,
    *,
    version: str = VERSION,
    scores: FloatArray | None = None,
    prefix: str = "",
) -> list[PredictionRow]:
    """Predictions of `frame` logged evenly over [start, end), scored by the champion unless `scores` are given."""
    values = churn_scores(frame) if scores is None else scores
    step = (end - start) / len(frame)
    return [
        PredictionRow(
            request_id=f"{prefix}{start:%Y%m%d%H}-{row}",
            model_name=MODEL,
            model_version=version,
            timestamp=format_timestamp(start + row * step),
            score=float(values[row]),
            predicted_label=int(values[row] >= 0.5),
            latency_ms=None,
            features={
                "tenure": float(frame["tenure"].iloc[row]),
                "charges": float(frame["charges"].iloc[row]),
                "plan": str(frame["plan"].iloc[row]),
            },
        )
        for row in range(len(frame))
    ]


# --- fakes of the ports ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeChampion:
    version: str = VERSION
    artifact_uri: str | None = ARTIFACT_URI
    sha256: str | None = SHA256


@dataclass
class FakeRegistry:
    record: FakeChampion | None = field(default_factory=FakeChampion)

    def champion(self, model_name: str) -> FakeChampion | None:
        assert model_name == MODEL
        return self.record


class ConstantModel:
    """An estimator that gives every customer the same churn probability."""

    def __init__(self, probability: float) -> None:
        self.probability = probability
        self.rows_scored = 0

    def predict_proba(self, frame: pd.DataFrame) -> FloatArray:
        assert list(frame.columns) == list(SCHEMA.names)
        self.rows_scored += len(frame)
        positive = np.full(len(frame), self.probability)
        return np.column_stack([1.0 - positive, positive])


@dataclass
class FakeChampionFiles:
    profile: ReferenceProfile | None = field(default_factory=reference)
    model: ConstantModel = field(default_factory=lambda: ConstantModel(0.1))
    profile_reads: list[tuple[str, str]] = field(default_factory=list)
    model_loads: list[tuple[str, str, str | None]] = field(default_factory=list)

    def reference_profile(self, bucket: str, prefix: str) -> ReferenceProfile:
        self.profile_reads.append((bucket, prefix))
        if self.profile is None:
            raise MissingObjectError(f"s3://{bucket}/{prefix}reference.parquet does not exist")
        return self.profile

    def load_model(self, bucket: str, prefix: str, expected_sha256: str | None) -> LoadedModel:
        self.model_loads.append((bucket, prefix, expected_sha256))
        manifest = ModelManifest(
            model_name=MODEL,
            model_version=VERSION,
            artifact_sha256=SHA256,
            created_at="2026-11-01T00:00:00.000Z",
            input_schema=SCHEMA,
            decision_threshold=0.5,
            sklearn_version="test",
            python_version="test",
        )
        return LoadedModel(self.model, manifest)


@dataclass
class FakePayloads:
    """Logged predictions and labels; windows are read as the payload table answers them."""

    predictions: list[PredictionRow] = field(default_factory=list)
    labels: dict[str, LabelRow] = field(default_factory=dict)
    reads: list[tuple[str, datetime, datetime, datetime | None]] = field(default_factory=list)

    def _between(self, start: datetime, end: datetime) -> list[PredictionRow]:
        low, high = format_timestamp(start), format_timestamp(end)
        return sorted((row for row in self.predictions if low <= row.timestamp < high), key=lambda row: row.timestamp)

    def prediction_frame(self, model_name: str, start: datetime, end: datetime) -> WindowFrame:
        self.reads.append(("predictions", start, end, None))
        return window_frame(self._between(start, end), model_name=model_name)

    def labelled_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        self.reads.append(("labelled", start, end, labels_until))
        until = format_timestamp(labels_until)
        rows = []
        for prediction in self._between(start, end):
            label = self.labels.get(prediction.request_id)
            rows.append(LabelledPrediction(prediction, label if label and label.observed_at < until else None))
        return labelled_frame(rows, model_name=model_name)

    def label(self, rows: list[PredictionRow], labels: FloatArray, *, delay: timedelta) -> None:
        for row, label in zip(rows, labels, strict=True):
            observed = datetime.fromisoformat(row.timestamp.replace("Z", "+00:00")) + delay
            self.labels[row.request_id] = LabelRow(row.request_id, int(label), format_timestamp(observed))


@dataclass
class FakeReports:
    objects: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    writes: int = 0

    def put_text(self, bucket: str, key: str, text: str, content_type: str) -> str:
        self.objects[bucket, key] = (text, content_type)
        self.writes += 1
        return f"s3://{bucket}/{key}"


@dataclass
class FakeMetrics:
    data: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, data: list[dict[str, Any]]) -> int:
        self.data.extend(data)
        return 1

    def values(self, name: str) -> list[float]:
        return [datum["Value"] for datum in self.data if datum["MetricName"] == name]


@dataclass
class FakeEvents:
    sent: list[tuple[DetailType, dict[str, Any], datetime | None]] = field(default_factory=list)

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any], *, time: datetime | None = None) -> str:
        self.sent.append((detail_type, dict(detail), time))
        return f"event-{len(self.sent)}"

    def of_type(self, detail_type: DetailType) -> list[dict[str, Any]]:
        return [detail for kind, detail, _ in self.sent if kind is detail_type]


@dataclass
class FakeStateStore:
    """The policy state with a conditional write; `before_save` runs before each save (another run's write)."""

    state: PolicyState = field(default_factory=PolicyState)
    saves: list[datetime] = field(default_factory=list)
    before_save: Callable[[FakeStateStore], None] | None = None

    def load(self, model_name: str) -> PolicyState:
        return self.state

    def save(self, model_name: str, state: PolicyState, *, expected_version: int, now: datetime) -> None:
        if self.before_save is not None:
            self.before_save(self)
        if self.state.version != expected_version:
            raise StateConflictError(f"version {self.state.version}, not {expected_version}")
        self.state = state
        self.saves.append(now)


@dataclass
class Stack:
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    files: FakeChampionFiles = field(default_factory=FakeChampionFiles)
    payloads: FakePayloads = field(default_factory=FakePayloads)
    reports: FakeReports = field(default_factory=FakeReports)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    events: FakeEvents = field(default_factory=FakeEvents)
    state: FakeStateStore = field(default_factory=FakeStateStore)

    def ports(self) -> DriftCheckPorts:
        return DriftCheckPorts(
            registry=self.registry,
            champion_files=self.files,
            payloads=self.payloads,
            reports=self.reports,
            report_bucket=REPORTS,
            metrics=self.metrics,
            events=self.events,
            state=self.state,
        )

    def check(self, now: datetime = NOW, policy: TriggerPolicy | None = None) -> DriftCheckOutcome:
        request = DriftCheckRequest(
            MODEL, now, WINDOW_DAYS, LABEL_DELAY_DAYS, policy or TriggerPolicy(**NOW_LEARNABLE), drift_config=CONFIG
        )
        return run_drift_check(request, self.ports(), clock=lambda: now + timedelta(minutes=5))

    def serve(self, rows: list[PredictionRow]) -> list[PredictionRow]:
        self.payloads.predictions.extend(rows)
        return rows

    def nothing_written(self) -> bool:
        return not (self.reports.objects or self.metrics.data or self.events.sent or self.state.saves)


def event_types(outcome: DriftCheckOutcome, stack: Stack) -> list[DetailType]:
    """The detail types of the events one check sent (its outcome names their ids)."""
    return [stack.events.sent[int(event_id.split("-")[1]) - 1][0] for event_id in outcome.events]


def quiet(stack: Stack, count: int = 250, seed: int = 11, start: datetime = NOW - WINDOW) -> list[PredictionRow]:
    return stack.serve(served(customers(count, seed=seed), start, start + WINDOW, prefix=f"q{seed}-"))


def drifting(stack: Stack, end: datetime) -> None:
    """Customers whose tenure moved by a standard deviation, logged from two days before NOW until `end`."""
    stack.serve(served(customers(500, seed=12, tenure_shift=10.0), NOW - WINDOW, end, prefix="d-"))


@pytest.fixture
def stack() -> Stack:
    return Stack()


# --- no check -------------------------------------------------------------------------------------------------


def test_without_a_champion_nothing_is_read_written_or_sent(stack: Stack) -> None:
    stack.registry.record = None
    outcome = stack.check()
    assert (outcome.result, outcome.events) == (None, ())
    assert "no champion" in outcome.message
    assert stack.files.profile_reads == []
    assert stack.payloads.reads == []
    assert stack.nothing_written()


def test_a_champion_without_an_artifact_uri_fails_the_check(stack: Stack) -> None:
    stack.registry.record = FakeChampion(artifact_uri=None)
    with pytest.raises(DriftCheckError, match="has no artifact URI"):
        stack.check()
    assert stack.nothing_written()


def test_a_missing_reference_profile_fails_the_check_before_anything_is_written(stack: Stack) -> None:
    stack.files.profile = None
    quiet(stack)
    with pytest.raises(MissingObjectError, match=r"reference\.parquet does not exist"):
        stack.check()
    assert stack.files.profile_reads == [(BUCKET, f"models/{MODEL}/{VERSION}/")]
    assert stack.nothing_written()


# --- what a check reads -----------------------------------------------------------------------------------------


def test_the_windows_are_the_last_days_and_the_same_span_before_the_label_delay(stack: Stack) -> None:
    stack.check()
    matured_end = NOW - LABEL_DELAY_DAYS * DAY
    assert stack.payloads.reads == [
        ("predictions", NOW - WINDOW, NOW, None),
        ("labelled", matured_end - WINDOW, matured_end, NOW),
    ]


def test_labels_observed_after_the_check_do_not_count(stack: Stack) -> None:
    past = quiet(stack, start=NOW - 2 * WINDOW)
    stack.payloads.label(past, np.zeros(len(past)), delay=3 * DAY)  # the later half arrives after NOW
    result = stack.check().result
    assert result is not None
    assert 0 < result.matured_window["n_labelled"] < len(past)


def test_rows_served_by_another_version_are_rescored_by_the_champion_model(stack: Stack) -> None:
    frame = customers(250, seed=16)
    stack.serve(served(frame, NOW - WINDOW, NOW, version="v-old", scores=np.full(250, 0.99)))
    result = stack.check().result
    assert result is not None
    assert result.window["n_rescored"] == 250
    assert result.window["predicted_positive_rate"] == 0.0  # the champion's 0.1, not the old version's 0.99
    assert stack.files.model_loads == [(BUCKET, f"models/{MODEL}/{VERSION}/", SHA256)]
    assert stack.files.model.rows_scored == 250


def test_the_champion_model_is_not_loaded_when_it_served_every_row(stack: Stack) -> None:
    quiet(stack)
    result = stack.check().result
    assert result is not None
    assert result.window["n_rescored"] == 0
    assert stack.files.model_loads == []


# --- what a check decides and leaves behind -------------------------------------------------------------------


def test_too_little_data_gives_insufficient_data_and_no_drift_verdict(stack: Stack) -> None:
    quiet(stack, count=60)
    outcome = stack.check()
    result = outcome.result
    assert result is not None
    assert (result.verdict, result.drift, result.decision.outcome.value) == ("insufficient_data", None, "no_decision")
    assert result.summary.startswith("Insufficient data: 60 prediction(s) in the window, at least 200 needed")
    assert stack.metrics.values("InsufficientData") == [1.0]
    assert stack.metrics.values("DatasetDrift") == []
    assert event_types(outcome, stack) == [DetailType.DRIFT_CHECK_COMPLETED]
    assert stack.state.state.streak == 0
    assert len(stack.state.state.checks) == 1


def test_a_check_writes_its_report_and_result_publishes_metrics_and_completes(stack: Stack) -> None:
    quiet(stack)
    outcome = stack.check()
    result = outcome.result
    assert result is not None
    assert (result.verdict, result.decision.retrain_requested) == ("no_drift", False)
    prefix = f"reports/{MODEL}/{run_id_for(NOW)}/"
    report, report_type = stack.reports.objects[REPORTS, prefix + "report.html"]
    document, document_type = stack.reports.objects[REPORTS, prefix + "result.json"]
    assert (report_type, document_type) == ("text/html; charset=utf-8", "application/json")
    assert report.startswith("<!DOCTYPE html>")
    assert "Decision" in report
    assert result.to_json() == json.loads(document)
    assert (result.report_uri, result.result_uri) == (
        f"s3://{REPORTS}/{prefix}report.html",
        f"s3://{REPORTS}/{prefix}result.json",
    )
    assert stack.metrics.values("RowsChecked") == [250.0]
    assert stack.metrics.values("DatasetDrift") == [0.0]
    (completed,) = stack.events.of_type(DetailType.DRIFT_CHECK_COMPLETED)
    assert (completed["run_id"], completed["verdict"], completed["n_current"]) == (run_id_for(NOW), "no_drift", 250)
    assert stack.events.sent[0][2] == NOW
    assert outcome.message == result.summary
    assert stack.state.saves == [NOW + timedelta(minutes=5)]


@dataclass
class SampledPayloads(FakePayloads):
    """Reads as a sample of a window ten times its size, as the lake reads a window above its cap."""

    def prediction_frame(self, model_name: str, start: datetime, end: datetime) -> WindowFrame:
        frame = super().prediction_frame(model_name, start, end)
        return replace(frame, records=10 * len(frame))


def test_a_verdict_on_a_sample_states_the_sample_and_the_window_it_came_from() -> None:
    stack = Stack(payloads=SampledPayloads())
    quiet(stack)
    outcome = stack.check()
    assert outcome.result is not None
    assert outcome.message.startswith("No drift over 250 predictions (a day-stratified sample of 2,500 records).")
    assert outcome.result.to_json()["window"]["records_in_window"] == 2_500


def test_one_drifting_check_alone_requests_no_retrain(stack: Stack) -> None:
    drifting(stack, end=NOW)
    outcome = stack.check()
    assert outcome.result is not None
    assert outcome.result.verdict == "drift"
    assert "tenure" in outcome.result.drifted_features
    assert stack.metrics.values("DatasetDrift") == [1.0]
    assert event_types(outcome, stack) == [DetailType.DRIFT_CHECK_COMPLETED]


def test_the_second_consecutive_drifting_check_requests_a_drift_retrain(stack: Stack) -> None:
    drifting(stack, end=NOW + DAY)
    stack.check(NOW)
    outcome = stack.check(NOW + DAY)
    assert outcome.result is not None
    assert (outcome.result.decision.retrain_requested, outcome.result.decision.trigger) == (True, "drift")
    assert event_types(outcome, stack) == [DetailType.DRIFT_CHECK_COMPLETED, DetailType.RETRAIN_REQUESTED]
    (request,) = stack.events.of_type(DetailType.RETRAIN_REQUESTED)
    assert (request["trigger"], request["requested_at"]) == ("drift", format_timestamp(NOW + DAY))
    assert "2 consecutive drifting check(s)" in request["reason"]


def test_a_drifting_check_within_the_cooldown_requests_nothing(stack: Stack) -> None:
    drifting(stack, end=NOW + 2 * DAY)
    for now in (NOW, NOW + DAY):
        stack.check(now)
    outcome = stack.check(NOW + 2 * DAY)
    assert outcome.result is not None
    assert (outcome.result.verdict, outcome.result.decision.outcome.value) == ("drift", "cooldown")
    assert event_types(outcome, stack) == [DetailType.DRIFT_CHECK_COMPLETED]
    assert len(stack.events.of_type(DetailType.RETRAIN_REQUESTED)) == 1


def test_the_cap_blocks_requests_beyond_it_in_its_period(stack: Stack) -> None:
    policy = TriggerPolicy(
        consecutive_checks=1, cooldown=timedelta(0), max_requests=1, period=timedelta(days=14), **NOW_LEARNABLE
    )
    drifting(stack, end=NOW + DAY)
    first = stack.check(NOW, policy)
    second = stack.check(NOW + DAY, policy)
    assert first.result is not None
    assert second.result is not None
    assert first.result.decision.retrain_requested is True
    assert (second.result.verdict, second.result.decision.outcome.value) == ("drift", "cap")
    assert event_types(second, stack) == [DetailType.DRIFT_CHECK_COMPLETED]


def test_decay_on_matured_labels_requests_a_performance_retrain(stack: Stack) -> None:
    past = quiet(stack, count=300, seed=14, start=NOW - 2 * WINDOW)
    scores = np.array([row.score for row in past])
    stack.payloads.label(past, outcomes(1.0 - scores, seed=15), delay=DAY)  # the world turned: inverted outcomes
    quiet(stack, seed=16)
    outcome = stack.check()
    result = outcome.result
    assert result is not None
    assert result.matured_window["n_labelled"] == 300
    assert (result.verdict, result.performance_decay) == ("no_drift", True)
    assert (result.decision.retrain_requested, result.decision.trigger) == (True, "performance")
    (request,) = stack.events.of_type(DetailType.RETRAIN_REQUESTED)
    assert request["trigger"] == "performance"
    assert stack.metrics.values("PerformanceDecay") == [1.0]


# --- retries and concurrent runs ------------------------------------------------------------------------------


def test_a_retried_run_counts_its_check_once(stack: Stack) -> None:
    drifting(stack, end=NOW)
    stack.check(NOW)
    retry = stack.check(NOW)
    assert retry.result is not None
    assert retry.result.decision.retrain_requested is False  # counted twice, the streak would reach 2 and request
    assert "already decided" in retry.result.decision.reason
    assert (stack.state.state.streak, stack.state.state.version, len(stack.state.saves)) == (1, 1, 1)


def test_a_retried_requesting_run_repeats_its_request_without_recording_another(stack: Stack) -> None:
    policy = TriggerPolicy(consecutive_checks=1, **NOW_LEARNABLE)
    drifting(stack, end=NOW)
    first = stack.check(NOW, policy)
    retry = stack.check(NOW, policy)
    assert first.result is not None
    assert retry.result is not None
    assert retry.result.decision.retrain_requested is True
    assert event_types(retry, stack) == [DetailType.DRIFT_CHECK_COMPLETED, DetailType.RETRAIN_REQUESTED]
    assert len(stack.state.state.requests) == 1
    assert len(stack.state.saves) == 1
    assert retry.result.report_uri == first.result.report_uri
    assert len(stack.reports.objects) == 2
    assert stack.reports.writes == 4


def test_a_concurrent_state_write_is_answered_by_deciding_again(stack: Stack) -> None:
    policy = TriggerPolicy(consecutive_checks=1, **NOW_LEARNABLE)
    drifting(stack, end=NOW)

    def another_run_requests_first(store: FakeStateStore) -> None:
        store.before_save = None
        _, store.state = decide(store.state, Observation("other-run", NOW, VERSION, "drift", None), policy)

    stack.state.before_save = another_run_requests_first
    outcome = stack.check(NOW, policy)
    assert outcome.result is not None
    assert outcome.result.decision.outcome.value == "cooldown"
    assert event_types(outcome, stack) == [DetailType.DRIFT_CHECK_COMPLETED]
    assert [check.run_id for check in stack.state.state.checks] == ["other-run", run_id_for(NOW)]


def test_a_state_that_keeps_changing_fails_the_check_without_writing_or_sending(stack: Stack) -> None:
    quiet(stack)
    attempts: list[int] = []

    def another_run_writes(store: FakeStateStore) -> None:
        attempts.append(store.state.version)
        store.state = PolicyState(version=store.state.version + 1)

    stack.state.before_save = another_run_writes
    with pytest.raises(DriftCheckError, match="kept changing"):
        stack.check()
    assert len(attempts) == STATE_ATTEMPTS
    assert stack.reports.objects == {}
    assert stack.metrics.data == []
    assert stack.events.sent == []


# --- where a decay began ----------------------------------------------------------------------------------------

#: The matured window's span, and the moment within it when the world turned (its middle).
MATURED_START = NOW - LABEL_DELAY_DAYS * DAY - WINDOW
TURNED = MATURED_START + WINDOW / 2


def turned(stack: Stack, count: int = 600) -> list[PredictionRow]:
    """`count` matured predictions over the matured window whose outcomes follow the champion's scores in its first
    half and the opposite of them from `TURNED` on; a quiet current window."""
    past = stack.serve(served(customers(count, seed=21), MATURED_START, MATURED_START + WINDOW, prefix="t-"))
    scores = np.array([row.score for row in past])
    before = np.arange(count) < count // 2
    stack.payloads.label(past, np.where(before, outcomes(scores, seed=22), outcomes(1.0 - scores, seed=23)), delay=DAY)
    quiet(stack, seed=24)
    return past


def test_with_decay_the_regime_is_estimated_and_its_start_goes_with_the_request(stack: Stack) -> None:
    turned(stack)

    outcome = stack.check()

    result = outcome.result
    assert result is not None
    assert result.performance_decay is True
    assert result.regime is not None
    assert result.regime.found_change is True
    assert result.regime.n_before + result.regime.n_after == 600
    assert (result.decision.retrain_requested, result.decision.regime_start) == (True, result.regime.start)
    assert stack.state.state.regime_start == result.regime.start
    (request,) = stack.events.of_type(DetailType.RETRAIN_REQUESTED)
    assert request["regime_start"] == format_timestamp(result.regime.start)
    assert result.to_json()["regime"]["start"] == result.regime.start.isoformat()


def test_the_estimated_regime_start_is_within_a_few_rows_of_the_turn(stack: Stack) -> None:
    turned(stack)
    step = WINDOW / 600

    result = stack.check().result

    assert result is not None
    assert result.regime is not None
    assert abs(result.regime.start - TURNED) <= 10 * step


def test_without_decay_no_regime_is_estimated(stack: Stack) -> None:
    past = quiet(stack, count=300, seed=25, start=MATURED_START)
    stack.payloads.label(past, outcomes(np.array([row.score for row in past]), seed=26), delay=DAY)
    quiet(stack, seed=27)

    result = stack.check().result

    assert result is not None
    assert result.matured_window["n_labelled"] == 300
    assert (result.performance_decay, result.regime, result.decision.regime_start) == (False, None, None)
    assert result.to_json()["regime"] is None


def test_a_retried_recovery_run_repeats_its_request_with_the_regime_start(stack: Stack) -> None:
    turned(stack)
    first = stack.check()
    assert first.result is not None

    retry = stack.check()

    assert retry.result is not None
    assert retry.result.decision.regime_start == first.result.decision.regime_start
    sent, resent = stack.events.of_type(DetailType.RETRAIN_REQUESTED)
    assert resent["regime_start"] == sent["regime_start"] != "none"


# --- reviewed labels ------------------------------------------------------------------------------------------

REVIEW = ReviewDesign((0.5,), (0.8, 0.2), share=0.3, oversample=2.0)


@dataclass
class FakeReviews:
    """The current window's reviewed rows (scores and reviewers' labels) and its predictions per stratum."""

    scores: FloatArray
    labels: FloatArray
    population: tuple[int, ...]
    #: Days of the window without reviews (their predictions are counted, not estimated).
    unreviewed: tuple[str, ...] = ()

    def reviewed_frame(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> WindowFrame:
        n = len(self.scores)
        return WindowFrame(
            features=pd.DataFrame(index=pd.RangeIndex(n)),
            score=self.scores,
            model_version=pd.Categorical([VERSION] * n),
            predicted_label=(self.scores >= 0.5).astype(np.int8),
            time=pd.DatetimeIndex([start] * n),
            label=self.labels.astype(np.int8),
        )

    def stratum_counts(
        self, model_name: str, start: datetime, end: datetime, design: ReviewDesign
    ) -> dict[tuple[str, int], int]:
        day = start.strftime("%Y-%m-%d")
        counts = {(day, stratum): n for stratum, n in enumerate(self.population)}
        return counts | {(other, stratum): 10_000 for other in self.unreviewed for stratum in (0, 1)}


def reviewed_sample(*, inverted: bool, seed: int = 21) -> FakeReviews:
    """A review sample of the current window drawn by REVIEW from 2,000 predictions: reviewers' outcomes follow the
    scores, or (`inverted`) the world turned."""
    scores = churn_scores(customers(2000, seed=seed))
    selected = REVIEW.select(scores, request_ids=[f"r{seed}-{row}" for row in range(len(scores))])
    population = tuple(int(n) for n in np.bincount(REVIEW.stratum_of(scores), minlength=2))
    chosen = scores[selected]
    labels = outcomes(1.0 - chosen if inverted else chosen, seed=seed + 1)
    return FakeReviews(chosen, labels, population)


def check_with_reviews(stack: Stack, reviews: FakeReviews) -> DriftCheckOutcome:
    request = DriftCheckRequest(
        MODEL,
        NOW,
        WINDOW_DAYS,
        LABEL_DELAY_DAYS,
        TriggerPolicy(**NOW_LEARNABLE),
        drift_config=CONFIG,
        review=REVIEW,
    )
    ports = replace(stack.ports(), reviews=reviews)
    return run_drift_check(request, ports, clock=lambda: NOW + timedelta(minutes=5))


def test_decay_on_reviewed_labels_requests_a_retrain_before_any_label_matures(stack: Stack) -> None:
    quiet(stack, seed=16)
    outcome = check_with_reviews(stack, reviewed_sample(inverted=True))
    result = outcome.result
    assert result is not None
    assert result.matured_window["n_labelled"] == 0  # nothing matured yet
    assert result.reviewed is not None
    assert result.reviewed.decay.verdict == "decay"
    assert result.performance_decay is True
    assert result.regime is not None  # dated from the reviewed rows: the recovery trains on it
    assert (result.decision.retrain_requested, result.decision.trigger) == (True, "performance")
    document = json.loads(stack.reports.objects[(REPORTS, f"reports/{MODEL}/{result.run_id}/result.json")][0])
    assert document["reviewed"]["decay"]["verdict"] == "decay"
    assert stack.metrics.values("ReviewedAUC")


def test_reviewed_labels_that_hold_up_are_no_decay_and_request_nothing(stack: Stack) -> None:
    quiet(stack, seed=16)
    outcome = check_with_reviews(stack, reviewed_sample(inverted=False))
    result = outcome.result
    assert result is not None
    assert result.reviewed is not None
    assert result.reviewed.decay.verdict == "no_decay"
    auc = result.reviewed.performance.metric("auc")
    assert auc.ci_low is not None
    assert auc.ci_high is not None
    assert auc.ci_low <= auc.value <= auc.ci_high  # type: ignore[operator]
    assert result.performance_decay is False
    assert not result.decision.retrain_requested


def test_a_window_without_reviews_yet_is_insufficient_data_and_requests_nothing(stack: Stack) -> None:
    quiet(stack, seed=16)
    outcome = check_with_reviews(stack, FakeReviews(np.empty(0), np.empty(0), (0, 0)))
    result = outcome.result
    assert result is not None
    assert result.reviewed is not None
    assert result.reviewed.decay.verdict == "insufficient_data"
    assert not result.decision.retrain_requested


def test_days_without_reviews_are_left_out_of_the_reviewed_estimate(stack: Stack) -> None:
    quiet(stack, seed=16)
    sample = reviewed_sample(inverted=False)
    judged = []
    for reviews in (sample, replace(sample, unreviewed=("2099-01-01",))):
        result = check_with_reviews(stack, reviews).result
        assert result is not None
        assert result.reviewed is not None
        judged.append(result.reviewed.performance)
    assert judged[1].population == judged[0].population  # the unreviewed day's 20,000 predictions are not in it
    assert judged[1].metric("auc").value == judged[0].metric("auc").value


@pytest.mark.parametrize(
    ("matured", "reviewed", "combined"),
    [(None, None, None), (True, None, True), (None, True, True), (False, True, True), (False, False, False)],
)
def test_the_policy_sees_decay_on_either_labels(
    matured: bool | None, reviewed: bool | None, combined: bool | None
) -> None:
    verdict = {None: "insufficient_data", True: "decay", False: "no_decay"}[reviewed]
    judged = SimpleNamespace(decay=SimpleNamespace(verdict=PerformanceVerdict(verdict), decay=bool(reviewed)))
    assert combined_decay(matured, judged) is combined  # type: ignore[arg-type]
