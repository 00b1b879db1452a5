"""The retrain trigger policy (pure) and its state's JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_jobs.monitoring.policy import (
    Observation,
    Outcome,
    PolicyState,
    RetrainTrigger,
    TriggerPolicy,
    Verdict,
    decide,
)
from batch_jobs.monitoring.state import StateStoreError, state_from_json, state_to_json

START = datetime(2026, 12, 1, 3, tzinfo=UTC)
DAY = timedelta(days=1)
#: The streak, cooldown and cap on their own: drift acted on as soon as the streak allows (no labels to wait for).
NOW_LEARNABLE: dict[str, Any] = {"label_delay": timedelta(0), "adapt_days": timedelta(0)}
POLICY = TriggerPolicy(consecutive_checks=2, cooldown=3 * DAY, max_requests=2, period=14 * DAY, **NOW_LEARNABLE)


def run(
    verdicts: list[Verdict],
    *,
    policy: TriggerPolicy = POLICY,
    decay: bool | None = None,
    version: str = "v1",
    state: PolicyState | None = None,
    start: datetime = START,
) -> tuple[list[Outcome], PolicyState]:
    """Daily checks with these verdicts; the outcomes and the final state."""
    current = state if state is not None else PolicyState()
    outcomes = []
    for day, verdict in enumerate(verdicts):
        at = start + day * DAY
        decision, current = decide(current, Observation(f"{at:%Y%m%dT%H%M%SZ}", at, version, verdict, decay), policy)
        outcomes.append(decision.outcome)
    return outcomes, current


def test_a_single_drifting_check_requests_nothing() -> None:
    outcomes, state = run(["drift"])
    assert outcomes == [Outcome.NO_SIGNAL]
    assert state.streak == 1


def test_two_consecutive_drifting_checks_request_a_drift_retrain() -> None:
    state = PolicyState()
    decision, state = decide(state, Observation("a", START, "v1", "drift", None), POLICY)
    decision, state = decide(state, Observation("b", START + DAY, "v1", "drift", None), POLICY)
    assert (decision.retrain_requested, decision.trigger, decision.outcome) == (True, RetrainTrigger.DRIFT, "requested")
    assert [request.run_id for request in state.requests] == ["b"]


def test_a_check_without_drift_resets_the_streak() -> None:
    outcomes, state = run(["drift", "no_drift", "drift"])
    assert outcomes == [Outcome.NO_SIGNAL] * 3
    assert state.streak == 1


def test_insufficient_data_neither_counts_as_drift_nor_resets_the_streak() -> None:
    outcomes, state = run(["drift", "insufficient_data", "insufficient_data", "drift"])
    assert outcomes == [Outcome.NO_SIGNAL, Outcome.NO_DECISION, Outcome.NO_DECISION, Outcome.REQUESTED]
    assert state.streak == 2


def test_insufficient_data_says_no_decision_was_made() -> None:
    decision, _ = decide(PolicyState(), Observation("a", START, "v1", "insufficient_data", None), POLICY)
    assert decision.outcome is Outcome.NO_DECISION
    assert decision.reason.startswith("insufficient data: no decision")


def test_performance_decay_requests_a_retrain_at_once_with_trigger_performance() -> None:
    decision, _ = decide(PolicyState(), Observation("a", START, "v1", "no_drift", True), POLICY)
    assert (decision.retrain_requested, decision.trigger) == (True, RetrainTrigger.PERFORMANCE)


def test_performance_decay_without_enough_current_data_still_requests() -> None:
    decision, _ = decide(PolicyState(), Observation("a", START, "v1", "insufficient_data", True), POLICY)
    assert decision.trigger is RetrainTrigger.PERFORMANCE


def test_a_request_within_the_cooldown_is_blocked_and_named() -> None:
    outcomes, _ = run(["drift", "drift", "drift"])
    assert outcomes == [Outcome.NO_SIGNAL, Outcome.REQUESTED, Outcome.COOLDOWN]


def test_sustained_drift_asks_again_once_the_cooldown_has_passed() -> None:
    outcomes, _ = run(["drift"] * 6)
    assert outcomes == [
        Outcome.NO_SIGNAL,
        Outcome.REQUESTED,
        *[Outcome.COOLDOWN] * 2,
        Outcome.REQUESTED,
        Outcome.COOLDOWN,
    ]


def test_the_cap_per_period_blocks_a_request_the_cooldown_would_allow() -> None:
    policy = TriggerPolicy(consecutive_checks=1, cooldown=DAY, max_requests=2, period=14 * DAY, **NOW_LEARNABLE)
    outcomes, _ = run(["drift"] * 4, policy=policy)
    assert outcomes == [Outcome.REQUESTED, Outcome.REQUESTED, Outcome.CAP, Outcome.CAP]


def test_a_new_champion_starts_a_new_streak() -> None:
    _, state = run(["drift"], version="v1")
    decision, state = decide(state, Observation("b", START + DAY, "v2", "drift", None), POLICY)
    assert (decision.retrain_requested, state.streak, state.champion_version) == (False, 1, "v2")
    assert "new champion" in decision.reason


def test_a_retried_run_gets_its_decision_back_and_changes_nothing() -> None:
    state = PolicyState()
    _, state = decide(state, Observation("a", START, "v1", "drift", None), POLICY)
    first, state = decide(state, Observation("b", START + DAY, "v1", "drift", None), POLICY)
    again, after = decide(state, Observation("b", START + DAY, "v1", "drift", None), POLICY)
    assert after is state
    assert (again.retrain_requested, again.trigger, again.outcome) == (True, first.trigger, first.outcome)


def test_a_policy_with_a_zero_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_requests"):
        TriggerPolicy(max_requests=0)


checks = st.lists(
    st.tuples(
        st.sampled_from(["drift", "no_drift", "insufficient_data"]),
        st.sampled_from([None, False, True]),
        st.integers(min_value=1, max_value=72),  # hours since the previous check
        st.sampled_from(["v1", "v2"]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    checks=checks,
    consecutive=st.integers(1, 4),
    cooldown_hours=st.integers(0, 96),
    cap=st.integers(1, 3),
    period_days=st.integers(1, 20),
)
def test_requests_never_exceed_the_cap_per_period_nor_break_the_cooldown(
    checks: list[tuple[Verdict, bool | None, int, str]],
    consecutive: int,
    cooldown_hours: int,
    cap: int,
    period_days: int,
) -> None:
    policy = TriggerPolicy(
        consecutive, timedelta(hours=cooldown_hours), cap, timedelta(days=period_days), **NOW_LEARNABLE
    )
    state, at, requested = PolicyState(), START, []
    for index, (verdict, decay, hours, version) in enumerate(checks):
        at += timedelta(hours=hours)
        decision, state = decide(state, Observation(str(index), at, version, verdict, decay), policy)
        if decision.retrain_requested:
            requested.append(at)
            assert decision.trigger is not None
            assert decay is True or (verdict == "drift" and state.streak >= consecutive)
    for index, moment in enumerate(requested):
        within = [other for other in requested[: index + 1] if moment - other < policy.period]
        assert len(within) <= cap
        if index:
            assert moment - requested[index - 1] >= policy.cooldown


def test_the_state_survives_its_json_form() -> None:
    _, state = run(["drift", "insufficient_data", "drift", "no_drift"], decay=None)
    assert state_from_json(state_to_json(state), state.version) == state


def test_a_stored_state_of_an_unknown_format_is_refused() -> None:
    with pytest.raises(StateStoreError, match="format"):
        state_from_json({"format": 99}, 1)


# --- drift acted on only when a retrain can learn it, once per release ---------------------------------------------

LABELLED = TriggerPolicy(consecutive_checks=2, cooldown=3 * DAY, max_requests=2, period=14 * DAY)  # 7 + 7 days


def test_drift_waits_for_labels_of_a_week_of_drifted_traffic_then_asks() -> None:
    outcomes, state = run(["drift"] * 16, policy=LABELLED)

    assert outcomes[0] is Outcome.NO_SIGNAL  # the streak is 1
    assert outcomes[1:14] == [Outcome.WAITING_FOR_LABELS] * 13  # labels of days 0-6 mature by day 14
    assert outcomes[14] is Outcome.REQUESTED
    assert outcomes[15] is Outcome.COOLDOWN
    assert state.drift_since == START
    assert state.drift_requested_by == "v1"
    decision, _ = decide(PolicyState(), Observation("x", START, "v1", "drift", None), LABELLED)
    assert "a retrain waits until labels of 7 drifted days have matured" not in decision.reason  # streak 1
    waiting, _ = decide(state, Observation("y", START + 16 * DAY, "v1", "drift", None), LABELLED)
    assert waiting.outcome is Outcome.COOLDOWN


def test_decay_on_matured_labels_does_not_wait() -> None:
    outcomes, _ = run(["drift", "drift"], policy=LABELLED, decay=True)

    assert outcomes == [Outcome.REQUESTED, Outcome.COOLDOWN]


def test_drift_that_persists_after_the_release_it_asked_for_is_reported_not_retrained_on() -> None:
    _, state = run(["drift", "drift"], version="v1")  # requested under v1
    outcomes, state = run(["drift"] * 6, version="v2", state=state, start=START + 2 * DAY)

    assert outcomes[0] is Outcome.NO_SIGNAL  # a new champion's streak starts again
    assert outcomes[1:] == [Outcome.PERSISTING] * 5
    decision, _ = decide(state, Observation("z", START + 9 * DAY, "v2", "drift", None), POLICY)
    assert f"drift persisting since {START.isoformat()} across versions v1 -> v2" in decision.reason
    assert not decision.retrain_requested


def test_decay_still_triggers_while_drift_persists() -> None:
    _, state = run(["drift", "drift"], version="v1")
    outcomes, _ = run(["drift", "drift"], version="v2", state=state, start=START + 5 * DAY, decay=True)

    assert outcomes[0] is Outcome.REQUESTED


def test_a_check_without_drift_ends_the_episode_and_the_next_drift_may_ask_again() -> None:
    _, state = run(["drift", "drift"], version="v1")
    outcomes, state = run(["no_drift", "drift", "drift"], version="v2", state=state, start=START + 5 * DAY)

    assert outcomes == [Outcome.NO_SIGNAL, Outcome.NO_SIGNAL, Outcome.REQUESTED]
    assert state.drift_since == START + 6 * DAY
    assert state.drift_versions == ("v2",)


def test_a_drift_request_that_changed_nothing_may_be_repeated_after_the_cooldown() -> None:
    outcomes, _ = run(["drift"] * 6, version="v1")  # v1 stays champion: its retrain was not needed or rejected

    assert outcomes == [
        Outcome.NO_SIGNAL,
        Outcome.REQUESTED,
        *[Outcome.COOLDOWN] * 2,
        Outcome.REQUESTED,
        Outcome.COOLDOWN,
    ]


def test_the_drift_episode_survives_the_state_s_json_form() -> None:
    _, state = run(["drift", "drift"], version="v1")
    _, state = run(["drift"], version="v2", state=state, start=START + 2 * DAY)

    again = state_from_json(state_to_json(state), state.version)

    assert (again.drift_since, again.drift_versions, again.drift_requested_by) == (START, ("v1", "v2"), "v1")
    older = {key: value for key, value in state_to_json(state).items() if not key.startswith("drift_")}
    assert state_from_json(older, 3).drift_since is None  # a state written before episodes were kept
