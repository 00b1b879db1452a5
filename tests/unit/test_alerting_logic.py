"""The alerting Lambda's pure parts: event and baseline parsing, checks, the alert state machine, messages."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.baseline import MonitoringBaseline
from core.odds import odds_band
from core.quarantine import QuarantineEntry, QuarantineLine, QuarantineSource, QuarantineTotals
from core.records import RecordKind
from core.segments import PredictionColumns, PredictionRow
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
from tests.baselines import BASELINE
from tests.columns import prediction_columns

ROOT = Path(__file__).resolve().parents[2]
POLICY = AlertPolicy()
T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)


def _row(features: dict[str, Any], score: float = 0.5, label: int = 0) -> PredictionRow:
    return PredictionRow("r", "churn", "v1", "2026-11-23T09:30:00.000Z", score, label, 20.0, features)


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


# --- one pass over the window -------------------------------------------------------------------------------------


def test_an_absent_key_is_a_schema_problem_and_a_null_is_a_missing_value() -> None:
    summary = signals.summarise(
        [_row({"plan": "pro"}), _row({"tenure": None, "plan": "pro"}), _row({"tenure": 1, "plan": "pro", "x": 1})],
        BASELINE,
    )

    assert summary.absent == {"tenure": 1}
    assert summary.nulls == {"tenure": 1}
    assert summary.extra == {"x": 1}
    assert summary.schema_rows == 2


def test_a_window_read_as_columns_keeps_absent_keys_absent() -> None:
    # What `query_window` hands the Lambda: segments decoded and concatenated. `x` first appears in the second
    # segment, so the first segment's rows lack it; `tenure` is absent from one row and null in another.
    parts = [
        [_row({"plan": "pro"}), _row({"tenure": None, "plan": "pro"}), _row({"tenure": 1, "plan": "pro"})],
        [_row({"tenure": 2, "plan": "pro", "x": 1}), _row({"tenure": 3, "x": None})],
    ]
    columns = PredictionColumns.concat("churn", [prediction_columns(part) for part in parts])  # each part: a body

    summary = signals.summarise(columns, BASELINE)

    assert summary.rows == 5
    assert summary.absent == {"tenure": 1, "plan": 1}
    assert summary.nulls == {"tenure": 1}
    assert summary.present == {"tenure": 4, "plan": 4}
    assert summary.extra == {"x": 2}
    assert summary.schema_rows == 3


def test_wrong_types_and_unseen_categories_are_told_apart() -> None:
    summary = signals.summarise(
        [_row({"tenure": "3", "plan": "pro"}), _row({"tenure": True, "plan": 7}), _row({"tenure": 2, "plan": "max"})],
        BASELINE,
    )

    assert summary.wrong_type == {"tenure": 2, "plan": 1}
    assert summary.unseen_rows == 1
    assert summary.unseen_values == {"plan": {"max": 1}}


def _source(name: str = "a", kind: RecordKind | None = RecordKind.PAYLOAD) -> QuarantineSource:
    return QuarantineSource("payloads", f"payloads/model=churn/dt=2024-01-02/{name}.jsonl", f"etag-{name}", kind)


def _entry(source: QuarantineSource, *reasons: str) -> QuarantineEntry:
    return QuarantineEntry(source, 1, reasons, "{}", 2)


NAN_TENURE = "feature 'tenure' is not finite (nan)"


def test_quarantine_summary_counts_only_non_finite_feature_reasons_of_payload_records() -> None:
    lines = [
        _entry(_source(), NAN_TENURE),
        _entry(_source(), "missing field 'timestamp'"),
        _entry(_source("b", RecordKind.LABEL), NAN_TENURE),
    ]

    summary = signals.summarise_quarantine(lines, objects=2, truncated=False)

    assert (summary.records, summary.non_finite_records, dict(summary.non_finite_by_feature)) == (2, 1, {"tenure": 1})


def test_an_objects_summary_line_counts_it_and_its_listed_entries_are_not_counted_again() -> None:
    totals = QuarantineTotals(
        _source(),
        quarantined=1000,
        listed=2,
        omitted=998,
        non_finite_records=601,
        non_finite_by_feature={"tenure": 601},
    )
    lines: list[QuarantineLine] = [
        totals,
        _entry(_source(), NAN_TENURE),
        _entry(_source(), "missing field 'timestamp'"),
    ]

    summary = signals.summarise_quarantine(lines, objects=1, truncated=False)

    assert (summary.records, summary.non_finite_records, dict(summary.non_finite_by_feature)) == (
        1000,
        601,
        {"tenure": 601},
    )


def test_objects_are_counted_each_from_its_own_summary_or_entries() -> None:
    overflowing = QuarantineTotals(
        _source("a"),
        quarantined=400,
        listed=1,
        omitted=399,
        non_finite_records=400,
        non_finite_by_feature={"tenure": 400},
    )
    lines: list[QuarantineLine] = [
        overflowing,
        _entry(_source("a"), NAN_TENURE),
        *(_entry(_source("b"), NAN_TENURE) for _ in range(5)),  # an older object: no summary
    ]

    summary = signals.summarise_quarantine(lines, objects=2, truncated=False)

    assert (summary.records, summary.non_finite_records, dict(summary.non_finite_by_feature)) == (
        405,
        405,
        {"tenure": 405},
    )


def test_an_older_summary_without_non_finite_counts_adds_what_its_reason_counts_show_beyond_its_entries() -> None:
    older = QuarantineTotals(
        _source(),
        quarantined=1000,
        listed=2,
        omitted=998,
        reason_counts={"feature 'tenure' is not finite (inf)": 600, NAN_TENURE: 1},
    )
    lines: list[QuarantineLine] = [
        older,
        _entry(_source(), "feature 'tenure' is not finite (inf)"),
        _entry(_source(), "missing field 'timestamp'"),
        _entry(_source("b"), NAN_TENURE),
    ]

    summary = signals.summarise_quarantine(lines, objects=2, truncated=False)

    assert (summary.records, summary.non_finite_records, dict(summary.non_finite_by_feature)) == (
        1001,
        602,
        {"tenure": 602},
    )


# --- checks -------------------------------------------------------------------------------------------------------


def test_volume_is_quiet_at_its_typical_count_and_fires_on_a_collapse() -> None:
    history = [480, 455, 0, 512, 470, 490, 501]

    assert signals.check_volume(480, history, POLICY, "w").verdict is Verdict.OK
    collapse = signals.check_volume(12, history, POLICY, "w")
    assert collapse.verdict is Verdict.FIRING
    assert collapse.title == "volume collapse"
    assert collapse.expected is not None
    assert collapse.expected.typical == 485.0  # median of the six days with traffic


def test_volume_with_low_usual_traffic_gives_no_verdict() -> None:
    result = signals.check_volume(0, [3, 4, 2], POLICY, "w")

    assert result.verdict is Verdict.INSUFFICIENT_DATA
    assert "below the 10" in result.reason


@given(n=st.integers(50, 3000), data=st.data())
def test_positive_rate_fires_only_when_both_significant_and_large(n: int, data: st.DataObject) -> None:
    positives = data.draw(st.integers(0, n))
    summary = signals.WindowSummary(rows=n, positives=positives)

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

    result = signals.check_unseen_categories(signals.WindowSummary(rows=500), numeric_only, POLICY)

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
    result = _fired(signals.check_volume(0, [100, 100, 100], POLICY, "w"))
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
    result = signals.check_volume(12, [480, 470, 490], POLICY, "in the 60 minutes from 09:00 to 10:00 UTC")

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
    assert "What happened: 12 predictions were logged in the 60 minutes from 09:00 to 10:00 UTC" in notice.message
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
