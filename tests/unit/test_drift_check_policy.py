"""The retrain trigger policy (pure) and its state's JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_jobs.monitoring.policy import (
    RECOVERY_INTERVAL,
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
def test_drift_requests_keep_the_cap_and_the_cooldown_and_recoveries_ask_at_most_daily(
    checks: list[tuple[Verdict, bool | None, int, str]],
    consecutive: int,
    cooldown_hours: int,
    cap: int,
    period_days: int,
) -> None:
    policy = TriggerPolicy(
        consecutive, timedelta(hours=cooldown_hours), cap, timedelta(days=period_days), **NOW_LEARNABLE
    )
    state, at = PolicyState(), START
    requested: list[datetime] = []  # every request's time
    capped: list[datetime] = []  # those under the cap (not a recovery's)
    for index, (verdict, decay, hours, version) in enumerate(checks):
        at += timedelta(hours=hours)
        decision, state = decide(state, Observation(str(index), at, version, verdict, decay), policy)
        if not decision.retrain_requested:
            continue
        assert decision.trigger is not None
        if state.requests[-1].recovery:  # outside the brakes: a decay, or a day since the last request
            assert decision.trigger is RetrainTrigger.PERFORMANCE
            assert state.recovery_since is not None
            assert at < state.recovery_since + policy.recovery_days
            assert state.recovery_since == at or not requested or at - requested[-1] >= RECOVERY_INTERVAL
        else:
            assert verdict == "drift"
            assert state.streak >= consecutive
            assert not requested or at - requested[-1] >= policy.cooldown
            capped.append(at)
        requested.append(at)
    for index, moment in enumerate(capped):
        within = [other for other in capped[: index + 1] if moment - other < policy.period]
        assert len(within) <= cap


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

    assert outcomes == [Outcome.REQUESTED, Outcome.REQUESTED]  # the second: the recovery's daily request


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


# --- recovery after performance decay ------------------------------------------------------------------------------

#: Where the first check with decay estimated the new regime began, and a later decay's estimate.
REGIME = START - 4 * DAY
LATER_REGIME = START + 10 * DAY


def observe(at: datetime, verdict: Verdict = "no_drift", regime_start: datetime | None = None) -> Observation:
    """A check at `at`; with `regime_start` it found decay and estimated where it began."""
    decay = regime_start is not None
    return Observation(f"{at:%Y%m%dT%H%M%SZ}", at, "v1", verdict, decay, regime_start)


def drifted_into_both_brakes() -> PolicyState:
    """Six daily drifting checks (days 0-5): requests on days 1 and 4, so on day 6 the cooldown still holds and the
    cap is spent."""
    outcomes, state = run(["drift"] * 6)
    assert outcomes[4:] == [Outcome.REQUESTED, Outcome.COOLDOWN]
    assert len(state.requests) == POLICY.max_requests
    return state


def test_decay_starts_a_recovery_that_requests_through_the_cooldown_and_the_cap() -> None:
    state = drifted_into_both_brakes()
    held, _ = decide(state, observe(START + 6 * DAY, "drift"), POLICY)
    assert held.outcome is Outcome.COOLDOWN  # the same check without decay

    decision, state = decide(state, observe(START + 6 * DAY, "drift", REGIME), POLICY)

    assert (decision.outcome, decision.trigger) == (Outcome.REQUESTED, RetrainTrigger.PERFORMANCE)
    assert decision.regime_start == REGIME
    assert (state.recovery_since, state.regime_start) == (START + 6 * DAY, REGIME)
    assert state.requests[-1].recovery is True
    assert decision.requests_in_period == 2  # the two drift requests; the recovery's is outside the cap


def test_a_recovery_requests_once_a_day_with_its_regime_start_until_it_ends() -> None:
    _, state = decide(PolicyState(), observe(START, regime_start=REGIME), POLICY)
    decisions = []
    for at in (START + 6 * timedelta(hours=1), *(START + day * DAY for day in range(1, 9))):
        decision, state = decide(state, observe(at), POLICY)  # no decay on these checks
        decisions.append(decision)

    same_day, *daily, ended, after = decisions
    assert (same_day.outcome, same_day.retrain_requested, same_day.regime_start) == (Outcome.COOLDOWN, False, None)
    assert "at most one a day" in same_day.reason
    assert [decision.outcome for decision in daily] == [Outcome.REQUESTED] * 6  # days 1-6
    assert {decision.trigger for decision in daily} == {RetrainTrigger.PERFORMANCE}
    assert {decision.regime_start for decision in daily} == {REGIME}
    assert {decision.requests_in_period for decision in daily} == {0}
    assert [(decision.outcome, decision.regime_start) for decision in (ended, after)] == [
        (Outcome.NO_SIGNAL, None)
    ] * 2  # day 7: the recovery of 7 days is over
    assert sum(request.recovery for request in state.requests) == 7


def test_a_recovery_s_requests_do_not_count_against_the_cap_of_a_later_drift_request() -> None:
    state = PolicyState()
    outcomes = []
    for day in range(10):
        verdict: Verdict = "drift" if day >= 7 else "no_drift"
        decision, state = decide(state, observe(START + day * DAY, verdict, REGIME if day == 0 else None), POLICY)
        outcomes.append(decision.outcome)

    assert outcomes[:7] == [Outcome.REQUESTED] * 7  # the recovery, days 0-6
    # Day 8: two drifting checks, but within the cooldown of day 6's request; day 9: requested, though 7 recovery
    # requests lie within the period and the cap is 2.
    assert outcomes[7:] == [Outcome.NO_SIGNAL, Outcome.COOLDOWN, Outcome.REQUESTED]
    assert decision.trigger is RetrainTrigger.DRIFT
    assert (decision.requests_in_period, decision.regime_start) == (1, None)


def test_decay_after_a_recovery_ended_starts_a_new_one_with_the_new_regime_start() -> None:
    _, state = decide(PolicyState(), observe(START, regime_start=REGIME), POLICY)
    _, state = decide(state, observe(START + 3 * DAY, regime_start=START + 2 * DAY), POLICY)  # within: no new one
    assert (state.recovery_since, state.regime_start) == (START, REGIME)

    decision, state = decide(state, observe(START + 12 * DAY, regime_start=LATER_REGIME), POLICY)

    assert (decision.outcome, decision.regime_start) == (Outcome.REQUESTED, LATER_REGIME)
    assert (state.recovery_since, state.regime_start) == (START + 12 * DAY, LATER_REGIME)
    assert "recovery until" in decision.reason


def test_a_retried_recovery_run_gets_its_decision_back_and_changes_nothing() -> None:
    state = drifted_into_both_brakes()
    observation = observe(START + 6 * DAY, "drift", REGIME)
    first, state = decide(state, observation, POLICY)

    again, after = decide(state, observation, POLICY)

    assert after is state
    assert (again.retrain_requested, again.outcome, again.trigger) == (True, Outcome.REQUESTED, first.trigger)
    assert "already decided" in again.reason


def test_a_retried_recovery_run_keeps_its_regime_start() -> None:
    observation = observe(START, regime_start=REGIME)
    first, state = decide(PolicyState(), observation, POLICY)

    again, _ = decide(state, observation, POLICY)

    assert again.regime_start == first.regime_start == REGIME


def test_a_recovery_survives_the_state_s_json_form() -> None:
    state = drifted_into_both_brakes()
    _, state = decide(state, observe(START + 6 * DAY, regime_start=REGIME), POLICY)

    again = state_from_json(state_to_json(state), state.version)

    assert again == state
    assert (again.recovery_since, again.regime_start) == (START + 6 * DAY, REGIME)
    assert [request.recovery for request in again.requests] == [False, False, True]


def test_a_state_written_before_recoveries_were_kept_loads_without_one() -> None:
    state = drifted_into_both_brakes()
    _, state = decide(state, observe(START + 6 * DAY, regime_start=REGIME), POLICY)
    older = {key: value for key, value in state_to_json(state).items() if key not in ("recovery_since", "regime_start")}
    older["requests"] = [
        {key: value for key, value in request.items() if key != "recovery"} for request in older["requests"]
    ]

    loaded = state_from_json(older, state.version)

    assert (loaded.recovery_since, loaded.regime_start) == (None, None)
    assert [request.recovery for request in loaded.requests] == [False, False, False]


# --- impact: drift that matters ------------------------------------------------------------------------------------


def _observe(state: PolicyState, day: int, *, impactful: bool | None, decay: bool | None = None) -> Any:
    at = START + day * DAY
    return decide(state, Observation(f"day-{day}", at, "v1", "drift", decay, impactful=impactful), POLICY)


def test_harmless_drift_is_reported_and_never_requests_a_retrain() -> None:
    state = PolicyState()
    outcomes = []
    for day in range(6):
        decision, state = _observe(state, day, impactful=False)
        outcomes.append(decision.outcome)
        assert not decision.retrain_requested
        assert "drift without impact" in decision.reason
    assert outcomes == [Outcome.HARMLESS] * 6
    assert state.streak == 0


def test_impactful_drift_requests_after_the_streak_as_drift_always_did() -> None:
    state = PolicyState()
    decision, state = _observe(state, 0, impactful=True)
    assert decision.outcome is Outcome.NO_SIGNAL
    decision, state = _observe(state, 1, impactful=True)
    assert (decision.retrain_requested, decision.trigger) == (True, RetrainTrigger.DRIFT)


def test_drift_of_unknown_impact_counts_like_impactful_drift() -> None:
    state = PolicyState()
    _, state = _observe(state, 0, impactful=None)
    decision, state = _observe(state, 1, impactful=None)
    assert decision.retrain_requested


def test_a_harmless_check_breaks_the_streak_of_impactful_ones() -> None:
    state = PolicyState()
    _, state = _observe(state, 0, impactful=True)
    decision, state = _observe(state, 1, impactful=False)
    assert (decision.outcome, state.streak) == (Outcome.HARMLESS, 0)
    decision, state = _observe(state, 2, impactful=True)
    assert not decision.retrain_requested
    assert state.streak == 1


def test_decay_on_matured_labels_requests_even_when_the_drift_is_estimated_harmless() -> None:
    decision, _ = _observe(PolicyState(), 0, impactful=False, decay=True)
    assert (decision.retrain_requested, decision.trigger) == (True, RetrainTrigger.PERFORMANCE)


def test_harmless_drift_ends_the_drift_episode_so_later_impactful_drift_waits_for_its_own_labels() -> None:
    policy = TriggerPolicy(consecutive_checks=2, label_delay=7 * DAY, adapt_days=7 * DAY)
    state = PolicyState()
    for day in range(21):
        harmless = Observation(f"h{day}", START + day * DAY, "v1", "drift", None, impactful=False)
        _, state = decide(state, harmless, policy)
    assert state.drift_since is None
    for day in (21, 22):
        decision, state = decide(
            state, Observation(f"i{day}", START + day * DAY, "v1", "drift", None, impactful=True), policy
        )
    assert decision.outcome is Outcome.WAITING_FOR_LABELS
    assert state.drift_since == START + 21 * DAY
