"""The live evaluation's run over in-memory fakes of its ports: the review file, the business-impact alert, and a
shadow period that continues, is promoted or is ended, each recorded and carried out."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from batch_jobs.gate import GateConfig
from batch_jobs.monitoring.live import (
    BUSINESS_IMPACT_SIGNAL,
    OUTCOME_COLUMN,
    LiveEvaluationRequest,
    LivePorts,
    run_live_evaluation,
)
from batch_jobs.monitoring.review import ReviewDesign
from batch_jobs.monitoring.shadow import ShadowConfig
from core.events import DetailType
from core.lake import sample_key
from core.model_lifecycle import ModelStatus, ModelVersionRecord, Trigger
from core.records import ARM_CONTROL, ARM_MODEL

MODEL = "churn"
NOW = datetime(2026, 5, 20, 2, 30, tzinfo=UTC)
DESIGN = ReviewDesign.at_threshold(0.3, 0.25, share=0.05, oversample=4.0)


def _record(version: str, status: ModelStatus, shadow: Mapping[str, Any] | None = None) -> ModelVersionRecord:
    created = datetime(2026, 5, 1, tzinfo=UTC)
    return ModelVersionRecord(
        model_name=MODEL,
        version=version,
        trigger=Trigger.SCHEDULE,
        created_at=created,
        training_start=created,
        training_end=created,
        train_rows=1,
        holdout_rows=1,
        data_fingerprint="0" * 64,
        code_version="test",
        status=status,
        shadow=dict(shadow or {}),
    )


@dataclass
class FakeRegistry:
    records: dict[str, ModelVersionRecord]

    def champion(self, model_name: str) -> ModelVersionRecord | None:
        return next((r for r in self.records.values() if r.status is ModelStatus.CHAMPION), None)

    def list_versions(self, model_name: str) -> list[ModelVersionRecord]:
        return list(self.records.values())

    def record_shadow(self, model_name: str, version: str, shadow: Mapping[str, Any]) -> ModelVersionRecord:
        self.records[version] = replace(self.records[version], shadow=dict(shadow))
        return self.records[version]

    def transition(self, model_name: str, version: str, to_status: ModelStatus, reason: str) -> ModelVersionRecord:
        self.records[version] = replace(self.records[version], status=to_status)
        return self.records[version]


@dataclass
class FakeLake:
    predictions: pd.DataFrame
    outcome_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    shadow: pd.DataFrame = field(default_factory=pd.DataFrame)

    def review_rows(self, model_name: str, start: datetime, end: datetime, design: ReviewDesign) -> pd.DataFrame:
        day = self.predictions[(self.predictions["ts"] >= start) & (self.predictions["ts"] < end)]
        return day[design.select(day["score"].to_numpy(), request_ids=list(day["request_id"]))].reset_index(drop=True)

    def outcomes(self, model_name: str, start: datetime, end: datetime, *, labels_until: datetime) -> pd.DataFrame:
        return self.outcome_rows

    def shadow_rows(
        self, model_name: str, version: str, start: datetime, end: datetime, *, labels_until: datetime
    ) -> pd.DataFrame:
        return self.shadow


@dataclass
class Recorder:
    objects: dict[tuple[str, str], str] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[DetailType, dict[str, Any]]] = field(default_factory=list)
    releases: list[tuple[str, str]] = field(default_factory=list)

    def put_text(self, bucket: str, key: str, text: str, content_type: str) -> str:
        self.objects[(bucket, key)] = text
        return f"s3://{bucket}/{key}"

    def publish(self, data: list[dict[str, Any]]) -> int:
        self.metrics.extend(data)
        return 1


class Events:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def publish(self, detail_type: DetailType, detail: Mapping[str, Any], *, time: datetime | None = None) -> str:
        self.recorder.events.append((detail_type, dict(detail)))
        return "id"


class Releases:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def promote_shadow(self, version: str, reason: str) -> object:
        self.recorder.releases.append(("promote", version))
        return None

    def end_shadow(self, version: str, reason: str) -> object:
        self.recorder.releases.append(("end", version))
        return None


def _predictions(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = NOW.replace(hour=0, minute=0) - timedelta(days=1)
    return pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)],
            "model_version": "v1",
            "arm": ARM_MODEL,
            "score": rng.beta(2, 6, n),
            "predicted_label": 0,
            "tenure_months": rng.integers(0, 72, n).astype(float),
        }
    ).assign(predicted_label=lambda f: (f["score"] >= 0.3).astype(int))


def _ports(registry: FakeRegistry, lake: FakeLake, recorder: Recorder) -> LivePorts:
    return LivePorts(
        registry=registry,
        lake=lake,
        files=recorder,
        payload_bucket="payloads",
        report_bucket="models",
        metrics=recorder,
        events=Events(recorder),
        releases=Releases(recorder),
    )


def _request(**changes: Any) -> LiveEvaluationRequest:
    return replace(LiveEvaluationRequest(model_name=MODEL, now=NOW, review=DESIGN), **changes)


def test_the_review_file_holds_exactly_the_designs_rows_with_an_empty_outcome_column() -> None:
    predictions = _predictions()
    recorder = Recorder()
    registry = FakeRegistry({"v1": _record("v1", ModelStatus.CHAMPION)})

    result = run_live_evaluation(_request(), _ports(registry, FakeLake(predictions), recorder))

    text = recorder.objects[("payloads", "review/model=churn/dt=2026-05-19/review.csv")]
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    keys = np.array([sample_key(r) for r in predictions["request_id"]], dtype=np.int64)
    expected = set(predictions["request_id"][DESIGN.select(predictions["score"].to_numpy(), sample_keys=keys)])
    assert set(frame["request_id"]) == expected
    assert (frame[OUTCOME_COLUMN] == "").all()
    assert {"stratum", "inclusion_probability", "tenure_months", "arm"} <= set(frame.columns)
    assert result.review is not None
    assert result.review.rows == len(expected)
    assert sum(result.review.by_stratum) == len(expected)
    top = frame[frame["stratum"] == 1]["inclusion_probability"]
    assert top.nunique() == 1
    assert top.iloc[0] == pytest.approx(DESIGN.inclusion_probabilities[1])
    # the same day again writes the same text (idempotent)
    run_live_evaluation(_request(), _ports(registry, FakeLake(predictions), recorder))
    assert recorder.objects[("payloads", "review/model=churn/dt=2026-05-19/review.csv")] == text


def test_a_client_text_a_spreadsheet_would_evaluate_is_quoted_in_the_review_file() -> None:
    predictions = _predictions().assign(plan="=HYPERLINK(1)")
    recorder = Recorder()
    registry = FakeRegistry({"v1": _record("v1", ModelStatus.CHAMPION)})

    run_live_evaluation(_request(), _ports(registry, FakeLake(predictions), recorder))

    text = recorder.objects[("payloads", "review/model=churn/dt=2026-05-19/review.csv")]
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False)
    assert set(frame["plan"]) == {"'=HYPERLINK(1)"}


def _outcomes(model_rate: float, control_rate: float, n: int = 6000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = np.where(rng.random(n) < 0.2, ARM_CONTROL, ARM_MODEL)
    rate = np.where(arms == ARM_CONTROL, control_rate, model_rate)
    start = NOW - timedelta(days=40)
    return pd.DataFrame(
        {
            "arm": arms,
            "client_id": [f"c{i}" for i in range(n)],
            "ts": [start + timedelta(hours=int(h)) for h in rng.integers(0, 24 * 30, n)],
            "label": (rng.random(n) < rate).astype(float),
        }
    )


def test_a_model_arm_worse_than_control_raises_the_business_impact_alert() -> None:
    recorder = Recorder()
    registry = FakeRegistry({"v1": _record("v1", ModelStatus.CHAMPION)})
    lake = FakeLake(_predictions(), outcome_rows=_outcomes(model_rate=0.30, control_rate=0.18))

    result = run_live_evaluation(_request(review=None), _ports(registry, lake, recorder))

    assert result.business_impact is not None
    assert result.business_impact.alert
    ((kind, detail),) = recorder.events
    assert kind is DetailType.ALERT_RAISED
    assert detail["signal"] == BUSINESS_IMPACT_SIGNAL
    document = json.loads(recorder.objects[("models", f"reports/churn/live/{result.run_id}/result.json")])
    assert document["business_impact"]["alert"] is True


def test_a_model_arm_that_helps_raises_nothing_and_reports_the_value_saved() -> None:
    recorder = Recorder()
    registry = FakeRegistry({"v1": _record("v1", ModelStatus.CHAMPION)})
    lake = FakeLake(_predictions(), outcome_rows=_outcomes(model_rate=0.15, control_rate=0.22))

    result = run_live_evaluation(_request(review=None), _ports(registry, lake, recorder))

    assert result.business_impact is not None
    assert not result.business_impact.alert
    assert recorder.events == []
    assert result.business_impact.cumulative.value_saved is not None
    assert result.business_impact.cumulative.value_saved > 0
    assert {datum["MetricName"] for datum in recorder.metrics} >= {"BusinessBenefit", "BusinessValueSaved"}


def _shadow_rows(n: int, better: float, seed: int = 2) -> pd.DataFrame:
    """Requests both models scored; the shadow's scores carry `better` more signal than the champion's."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    label = (rng.random(n) < 1 / (1 + np.exp(-(signal * 1.5 - 1.5)))).astype(float)
    champion = 1 / (1 + np.exp(-(0.6 * signal + rng.normal(scale=1.0, size=n) - 1.5)))
    shadow = 1 / (1 + np.exp(-((0.6 + better) * signal + rng.normal(scale=1.0, size=n) - 1.5)))
    start = NOW - timedelta(days=6)
    return pd.DataFrame(
        {
            "score": champion,
            "predicted_label": (champion >= 0.3).astype(int),
            "latency_ms": 5.0,
            "shadow_score": shadow,
            "shadow_label": (shadow >= 0.3).astype(int),
            "shadow_latency_ms": 6.0,
            "ts": [start + timedelta(minutes=int(m)) for m in rng.integers(0, 6 * 1440, n)],
            "label": label,
        }
    )


def _shadow_registry(started: datetime) -> FakeRegistry:
    return FakeRegistry(
        {
            "v1": _record("v1", ModelStatus.CHAMPION),
            "v2": _record("v2", ModelStatus.RELEASED, {"champion": "v1", "started_at": started.isoformat()}),
        }
    )


def test_a_better_shadow_is_promoted_recorded_and_re_released() -> None:
    recorder = Recorder()
    registry = _shadow_registry(NOW - timedelta(days=6))
    lake = FakeLake(_predictions(), shadow=_shadow_rows(6000, better=1.0))

    result = run_live_evaluation(_request(review=None), _ports(registry, lake, recorder))

    assert result.shadow is not None
    assert result.shadow.decision.promotes
    assert recorder.releases == [("promote", "v2")]
    decided = registry.records["v2"].shadow
    assert decided["decision"]["decision"] == "promote"
    assert decided["decision"]["ended"] == "2026-05-20T02:30:00.000Z"
    assert decided["champion"] == "v1"
    json.dumps(decided, allow_nan=False)  # what the registry stores: strict JSON, no tiny p-value


def test_a_shadow_beside_a_champion_replaced_meanwhile_is_retired_not_promoted() -> None:
    recorder = Recorder()
    registry = _shadow_registry(NOW - timedelta(days=6))
    registry.records["v1"] = _record("v1", ModelStatus.RETIRED)
    registry.records["v3"] = _record("v3", ModelStatus.CHAMPION)  # a plain deploy replaced v1
    lake = FakeLake(_predictions(), shadow=_shadow_rows(6000, better=1.0))

    result = run_live_evaluation(_request(review=None), _ports(registry, lake, recorder))

    assert result.shadow is not None
    assert result.shadow.action.startswith("ended: v1 is no longer champion")
    assert recorder.releases == []
    assert registry.records["v2"].status is ModelStatus.RETIRED
    assert registry.records["v2"].shadow["decision"]["ended"] is not None


def test_a_shadow_no_better_than_the_champion_is_ended() -> None:
    recorder = Recorder()
    registry = _shadow_registry(NOW - timedelta(days=6))
    lake = FakeLake(_predictions(), shadow=_shadow_rows(6000, better=0.0))

    result = run_live_evaluation(_request(review=None), _ports(registry, lake, recorder))

    assert result.shadow is not None
    assert result.shadow.decision.outcome.value == "keep_champion"
    assert recorder.releases == [("end", "v2")]


def test_a_young_shadow_continues_and_nothing_is_recorded() -> None:
    recorder = Recorder()
    registry = _shadow_registry(NOW - timedelta(days=1))
    lake = FakeLake(_predictions(), shadow=_shadow_rows(300, better=1.0))
    request = _request(review=None, shadow=ShadowConfig(min_requests=1000, min_days=3.0), gate=GateConfig())

    result = run_live_evaluation(request, _ports(registry, lake, recorder))

    assert result.shadow is not None
    assert result.shadow.action == "continue"
    assert recorder.releases == []
    assert "decision" not in registry.records["v2"].shadow
