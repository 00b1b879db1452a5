"""The alerting Lambda's pure parts: event and baseline parsing, the aggregates the checks read, checks, the alert
state machine, messages. (The adaptive window: `test_alerting_window.py`.)"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aggregates import Aggregate, merged
from core.baseline import MonitoringBaseline
from core.odds import odds_band
from core.records import format_timestamp
from lambdas.alerting import handler, signals, stats
from lambdas.alerting.logic import AlertingError, baseline_uri, next_notice, next_state
from lambdas.alerting.messages import NoticeKind, render, subject
from lambdas.alerting.models import (
    RUNBOOK_ANCHORS,
    AlertPolicy,
    AlertState,
    AlertStatus,
    InvalidEventError,
    ScheduledInvocation,
    Signal,
    SignalResult,
    Verdict,
)
from lambdas.payload_etl.limits import DEFAULT_LIMITS
from tests.baselines import BASELINE
from tests.payload_etl_fakes import load_object

ROOT = Path(__file__).resolve().parents[2]
POLICY = AlertPolicy()
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """A logged prediction as `signals.summarise` reads it."""

    features: Mapping[str, Any]
    score: float = 0.5
    predicted_label: int = 0
    latency_ms: float | None = 20.0
    model_version: str = "v1"


def _row(features: dict[str, Any], score: float = 0.5, label: int = 0) -> Row:
    return Row(features, score, label)


def _fired(result: SignalResult) -> SignalResult:
    return SignalResult(result.signal, Verdict.FIRING, result.title, 100, headline="h", normal="n")


# --- parsing ------------------------------------------------------------------------------------------------------


def test_the_scheduler_event_parses_into_its_scheduled_time() -> None:
    event = json.loads((ROOT / "tests/events/alerting_scheduled.json").read_text())

    assert ScheduledInvocation.from_event(event).scheduled_time == T0


@pytest.mark.parametrize("event", [{}, {"scheduled_time": 5}, {"scheduled_time": "2026-11-23T10:00:00"}])
def test_an_event_without_a_time_with_offset_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError, match="scheduled_time"):
        ScheduledInvocation.from_event(event)


def test_the_handler_refuses_an_invalid_event_before_any_aws_call() -> None:
    with pytest.raises(InvalidEventError, match="expects"):
        handler({"time": "2026-11-23T10:00:00Z"}, None)


def test_baseline_json_sits_beside_the_artifact() -> None:
    assert baseline_uri("s3://models/models/churn/v1/model.pkl") == "s3://models/models/churn/v1/baseline.json"
    with pytest.raises(AlertingError, match=r"model\.pkl"):
        baseline_uri("s3://models/models/churn/v1/other.bin")


# --- the aggregates the checks read -----------------------------------------------------------------------------------


def test_an_absent_key_is_a_schema_problem_and_a_null_is_a_missing_value() -> None:
    summary = signals.summarise(
        [_row({"plan": "pro"}), _row({"tenure": None, "plan": "pro"}), _row({"tenure": 1, "plan": "pro", "x": 1})],
        BASELINE,
    )

    assert summary.absent == {"tenure": 1}
    assert summary.nulls == {"tenure": 1}
    assert summary.extra == {"x": 1}
    assert summary.schema_rows == 2


def test_aggregates_merged_bucket_by_bucket_equal_the_summary_of_all_their_rows() -> None:
    # What the ETL writes (one aggregate per object and bucket) merged, as a window read merges them: a name absent
    # from one part's rows stays absent, a null stays a null, an unknown key counts once per row carrying it.
    parts = [
        [_row({"plan": "pro"}), _row({"tenure": None, "plan": "pro"}), _row({"tenure": 1, "plan": "pro"}, 0.9, 1)],
        [_row({"tenure": 2, "plan": "pro", "x": 1}), _row({"tenure": 3, "x": None}, 0.1)],
    ]

    summary = merged(Aggregate.loads(signals.summarise(part, BASELINE).dumps()) for part in parts)

    assert summary.to_json() == signals.summarise([row for part in parts for row in part], BASELINE).to_json()
    assert (summary.rows, summary.positives, summary.judged) == (5, 1, 5)
    assert summary.absent == {"tenure": 1, "plan": 1}
    assert summary.nulls == {"tenure": 1}
    assert summary.present == {"tenure": 4, "plan": 4}
    assert summary.extra == {"x": 2}
    assert summary.schema_rows == 3
    assert summary.scores.count == 5
    assert summary.scores.mean == pytest.approx(0.5)


def test_wrong_types_and_unseen_categories_are_told_apart() -> None:
    summary = signals.summarise(
        [_row({"tenure": "3", "plan": "pro"}), _row({"tenure": True, "plan": 7}), _row({"tenure": 2, "plan": "max"})],
        BASELINE,
    )

    assert summary.wrong_type == {"tenure": 2, "plan": 1}
    assert summary.unseen_rows == 1
    assert summary.unseen_values == {"plan": {"max": 1}}


# --- non-finite features: the ETL's refused-record counts ----------------------------------------------------


def _refused(rows: int, refused: int, non_finite: int, by_feature: dict[str, int]) -> Aggregate:
    summary = Aggregate(rows=rows)
    summary.add_refused(refused, non_finite, by_feature)
    return summary


def test_non_finite_features_are_a_share_of_every_payload_record_loaded_or_refused() -> None:
    result = signals.check_non_finite_features(_refused(60, 25, 20, {"tenure": 20}), POLICY)

    assert result.verdict is Verdict.FIRING
    assert result.sample_size == 85
    assert result.observed == pytest.approx(20 / 85)
    assert result.headline.startswith("20 of 85 payload records (23.5%) carried a NaN or infinite feature")
    assert result.details == ("records per feature: 'tenure' 23.5%",)


def test_records_refused_for_other_reasons_do_not_count_as_non_finite() -> None:
    result = signals.check_non_finite_features(_refused(60, 40, 0, {}), POLICY)

    assert (result.verdict, result.observed, result.details) == (Verdict.OK, 0.0, ())


def test_non_finite_features_below_the_floor_are_quiet_and_too_few_records_give_no_verdict() -> None:
    assert signals.check_non_finite_features(_refused(1000, 5, 5, {"tenure": 5}), POLICY).verdict is Verdict.OK
    few = signals.check_non_finite_features(_refused(30, 10, 10, {"tenure": 10}), POLICY)
    assert (few.verdict, few.reason) == (Verdict.INSUFFICIENT_DATA, "40 records, 50 needed")


def test_the_etl_counts_every_refused_record_beyond_what_its_quarantine_object_lists() -> None:
    # Replaces the tests of reading quarantine objects (their summaries, their truncation): the alerting Lambda no
    # longer reads them; the ETL counts every refused record in the aggregates, listed in full or not.
    moment = datetime(2026, 11, 23, 10, 1, tzinfo=UTC)
    lines = [
        json.dumps(
            {
                "request_id": f"r-{index}",
                "model_name": "churn",
                "model_version": "v1",
                "timestamp": format_timestamp(moment + timedelta(seconds=index)),
                "features": {"tenure": math.nan if index % 2 else float(index), "plan": "pro"},
                "prediction": {"score": 0.5, "label": 0},
            }
        )
        for index in range(200)
    ]
    body = ("\n".join(lines) + "\n").encode()
    limits = replace(DEFAULT_LIMITS, max_quarantine_entries=3)
    loaded = load_object(
        body,
        key="payloads/model=churn/dt=2026-11-23/a.jsonl",
        limits=limits,
        baselines={("churn", "v1"): BASELINE},
        arrival_epoch=int((moment + timedelta(minutes=2)).timestamp()),
    )

    assert len(loaded.quarantined) == 3  # the quarantine object lists three
    summary = loaded.aggregate
    assert (summary.rows, summary.refused, summary.non_finite) == (100, 100, 100)
    assert summary.non_finite_by_feature == {"tenure": 100}
    result = signals.check_non_finite_features(summary, POLICY)
    assert result.verdict is Verdict.FIRING
    assert result.headline.startswith("100 of 200 payload records (50.0%)")


# --- checks -------------------------------------------------------------------------------------------------------


def test_volume_is_quiet_at_its_typical_count_and_fires_on_a_collapse() -> None:
    history = [480, 455, 0, 512, 470, 490, 501]

    assert signals.check_volume(480, history, POLICY).verdict is Verdict.OK
    collapse = signals.check_volume(12, history, POLICY)
    assert collapse.verdict is Verdict.FIRING
    assert collapse.title == "volume collapse"
    assert collapse.expected is not None
    assert collapse.expected.typical == 485.0  # median of the six days with traffic


def test_volume_with_low_usual_traffic_gives_no_verdict() -> None:
    result = signals.check_volume(0, [3, 4, 2], POLICY)

    assert result.verdict is Verdict.INSUFFICIENT_DATA
    assert "below the 10" in result.reason


@given(n=st.integers(50, 3000), data=st.data())
def test_positive_rate_fires_only_when_both_significant_and_large(n: int, data: st.DataObject) -> None:
    positives = data.draw(st.integers(0, n))
    summary = Aggregate(rows=n, positives=positives)

    result = signals.check_positive_rate(summary, BASELINE, POLICY)

    low, high = stats.binomial_band(n, 0.3, POLICY.alpha)
    odds_low, odds_high = odds_band(0.3, POLICY.positive_rate_odds_ratio)
    significant = not low <= positives <= high
    large = not odds_low <= positives / n <= odds_high
    assert (result.verdict is Verdict.FIRING) == (significant and large)


def test_constant_scores_fire_and_varied_scores_do_not() -> None:
    constant = signals.summarise([_row({"tenure": 1, "plan": "pro"}, score=0.42) for _ in range(60)], BASELINE)
    varied = signals.summarise([_row({"tenure": 1, "plan": "pro"}, score=i / 60) for i in range(60)], BASELINE)

    assert signals.check_constant_predictions(constant, BASELINE, POLICY).verdict is Verdict.FIRING
    assert signals.check_constant_predictions(varied, BASELINE, POLICY).verdict is Verdict.OK


@given(latencies=st.lists(st.floats(0.01, 1e5), min_size=100, max_size=300))
def test_the_latency_p99_is_the_upper_edge_of_its_histogram_bin_at_most_12_percent_above_the_exact_one(
    latencies: list[float],
) -> None:
    summary = signals.summarise([Row({"tenure": 1, "plan": "pro"}, latency_ms=value) for value in latencies], BASELINE)

    result = signals.check_latency(summary, BASELINE, POLICY)

    exact = sorted(latencies)[math.ceil(0.99 * len(latencies)) - 1]  # nearest rank
    assert result.observed is not None
    assert exact <= result.observed <= exact * 10 ** (1 / 20) * (1 + 1e-9)
    assert (result.verdict is Verdict.FIRING) == (result.observed > POLICY.latency_budget_ms)


def test_unseen_categories_give_no_verdict_for_a_model_without_categorical_features() -> None:
    numeric_only = MonitoringBaseline.from_json(
        {
            **{k: getattr(BASELINE, k) for k in ("model_name", "model_version", "positive_rate", "n_reference")},
            "decision_threshold": 0.5,
            "score_mean": 0.4,
            "score_std": 0.2,
            "features": [{"name": "tenure", "kind": "numeric", "nullable": False, "missing_rate": 0.0}],
        }
    )

    result = signals.check_unseen_categories(Aggregate(rows=500, judged=500), numeric_only, POLICY)

    assert result.verdict is Verdict.INSUFFICIENT_DATA


# --- the alert state machine --------------------------------------------------------------------------------------

FIRING_STATE = AlertState(AlertStatus.FIRING, since=T0, last_sent_at=T0, revision=3)
RESOLVED_STATE = AlertState(AlertStatus.RESOLVED, since=T0, last_sent_at=T0, revision=4)


@pytest.mark.parametrize(
    ("verdict", "state", "minutes_later", "expected"),
    [
        (Verdict.FIRING, None, 0, NoticeKind.FIRING),
        (Verdict.FIRING, RESOLVED_STATE, 10, NoticeKind.FIRING),
        (Verdict.FIRING, FIRING_STATE, 10, None),
        (Verdict.FIRING, FIRING_STATE, 240, NoticeKind.REMINDER),
        (Verdict.OK, FIRING_STATE, 10, NoticeKind.RESOLVED),
        (Verdict.OK, RESOLVED_STATE, 10, None),
        (Verdict.OK, None, 10, None),
        (Verdict.INSUFFICIENT_DATA, FIRING_STATE, 500, None),
    ],
)
def test_next_notice_follows_the_state_machine(
    verdict: Verdict, state: AlertState | None, minutes_later: int, expected: NoticeKind | None
) -> None:
    now = T0 + timedelta(minutes=minutes_later)

    assert next_notice(verdict, state, now, POLICY.cooldown) is expected


def test_a_reminder_keeps_since_and_every_write_bumps_the_revision() -> None:
    result = _fired(signals.check_volume(0, [100, 100, 100], POLICY))
    later = T0 + timedelta(hours=5)

    reminder = next_state(NoticeKind.REMINDER, FIRING_STATE, later, result, "v1")
    resolved = next_state(NoticeKind.RESOLVED, FIRING_STATE, later, result, "v1")

    assert (reminder.since, reminder.last_sent_at, reminder.revision) == (T0, later, 4)
    assert (resolved.status, resolved.revision) == (AlertStatus.RESOLVED, 4)


# --- messages -----------------------------------------------------------------------------------------------------


@given(model=st.text(min_size=1, max_size=64), title=st.text(max_size=200))
def test_subjects_are_short_printable_ascii(model: str, title: str) -> None:
    result = SignalResult(Signal.VOLUME, Verdict.FIRING, title, 0)

    text = subject(NoticeKind.REMINDER, model, result)

    assert len(text) < 100
    assert re.fullmatch(r"[\x20-\x7e]*", text)


def test_a_firing_message_says_what_how_far_since_when_and_what_to_do() -> None:
    result = replace(
        signals.check_volume(12, [480, 470, 490], POLICY), window="in the 60 minutes from 09:00 to 10:00 UTC"
    )

    notice = render(
        NoticeKind.FIRING,
        result,
        model_name="churn",
        model_version="v1",
        since=T0,
        checked_at=T0 + timedelta(minutes=20),
        runbook_url="https://example.org/runbook.md",
    )

    assert notice.subject == "[autoretrain] FIRING: churn volume collapse"
    assert "What happened: 12 predictions were logged (0.03x the typical 480)." in notice.message
    assert "Window: in the 60 minutes from 09:00 to 10:00 UTC." in notice.message
    assert "Normal: 240 to 1440 predictions" in notice.message
    assert "Since: 2026-11-23T10:00:00Z (20 min ago)" in notice.message
    assert "https://example.org/runbook.md#volume-collapse-or-spike" in notice.message
    assert notice.detail["expected"] == {"low": 240, "high": 1440, "typical": 480}


def _github_slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_every_signal_links_a_section_of_the_runbook() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "docs/runbook.md").read_text(), flags=re.MULTILINE)
    anchors = {_github_slug(heading) for heading in headings}

    assert set(RUNBOOK_ANCHORS) == set(Signal)
    assert set(RUNBOOK_ANCHORS.values()) <= anchors
