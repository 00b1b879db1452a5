"""The alerting aggregates (`core.aggregates`): mergeable moments, the latency histogram's error bound, bounded
counters with exact totals, the item body's round trip and refusal, bucket starts and key formats."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates import (
    BUCKET,
    LATENCY_BINS_PER_DECADE,
    MAX_LISTED,
    OTHER,
    Aggregate,
    AggregateFormatError,
    Judge,
    Moments,
    aggregate_pk,
    aggregate_sk,
    bucket_start,
    latency_bin,
    latency_edge,
    merged,
)
from tests.baselines import BASELINE

#: How far above the exact value a histogram quantile may be: one bin's width, 10 ** (1 / 20) - 1 (12.2 %).
BIN_RATIO = 10 ** (1 / LATENCY_BINS_PER_DECADE)

values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def one_pass(numbers: list[float]) -> Moments:
    moments = Moments()
    for number in numbers:
        moments.add(number)
    return moments


def assert_close(actual: Moments, wanted: Moments) -> None:
    assert (actual.count, actual.low, actual.high) == (wanted.count, wanted.low, wanted.high)
    scale = max([1.0, *(abs(value) for value in (wanted.low, wanted.high) if math.isfinite(value))])
    assert math.isclose(actual.mean, wanted.mean, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(actual.m2, wanted.m2, rel_tol=1e-6, abs_tol=1e-6 * scale * scale)


# --- moments -----------------------------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(values, max_size=30), min_size=1, max_size=6))
def test_moments_merged_from_pieces_equal_one_pass_over_every_value(pieces: list[list[float]]) -> None:
    total = Moments()
    for piece in pieces:
        total.merge(one_pass(piece))
    assert_close(total, one_pass([value for piece in pieces for value in piece]))


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=2, max_size=50))
def test_moments_give_the_population_mean_and_standard_deviation(numbers: list[float]) -> None:
    moments = one_pass(numbers)
    mean = math.fsum(numbers) / len(numbers)
    variance = math.fsum((number - mean) ** 2 for number in numbers) / len(numbers)
    scale = max([1.0, *(abs(number) for number in numbers)])
    assert math.isclose(moments.mean, mean, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(moments.std, math.sqrt(variance), rel_tol=1e-6, abs_tol=1e-6 * scale)
    assert moments.constant is (min(numbers) == max(numbers))


def test_empty_moments_merge_into_nothing_and_are_not_constant() -> None:
    moments = one_pass([0.25, 0.25])
    moments.merge(Moments())
    assert (moments.count, moments.mean, moments.std, moments.constant) == (2, 0.25, 0.0, True)
    assert not Moments().constant
    assert Moments().std == 0.0


# --- latency -----------------------------------------------------------------------------------------------------


@given(st.floats(1e-3, 1e9))
def test_a_latency_lies_in_its_bins_range(latency: float) -> None:
    index = latency_bin(latency)
    assert latency <= latency_edge(index) * (1 + 1e-12)
    assert latency > latency_edge(index - 1) * (1 - 1e-12)


@pytest.mark.parametrize("index", range(-60, 181))
def test_a_latency_on_a_bins_upper_edge_is_in_that_bin(index: int) -> None:
    assert latency_bin(latency_edge(index)) == index


def test_latencies_at_or_below_a_microsecond_share_the_lowest_bin() -> None:
    assert latency_bin(0.0) == latency_bin(1e-9) == latency_bin(1e-3) == -3 * LATENCY_BINS_PER_DECADE


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(1e-3, 1e7), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_a_histogram_quantile_is_never_below_the_exact_nearest_rank_and_at_most_one_bin_above(
    latencies: list[float], q: float
) -> None:
    aggregate = Aggregate()
    for latency in latencies:
        aggregate.add("v1", 0.5, 0, latency, {}, None)
    exact = sorted(latencies)[max(1, math.ceil(q * len(latencies))) - 1]
    estimate = aggregate.latency_quantile(q)
    assert exact <= estimate * (1 + 1e-12)
    assert estimate <= exact * BIN_RATIO * (1 + 1e-12)
    assert BIN_RATIO - 1 < 0.1221


def test_a_quantile_without_latencies_is_refused() -> None:
    aggregate = Aggregate()
    aggregate.add("v1", 0.5, 0, None, {}, None)
    assert aggregate.latency_rows == 0
    with pytest.raises(ValueError, match="no latencies"):
        aggregate.latency_quantile(0.99)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.floats(1e-3, 1e7), max_size=40), min_size=1, max_size=5))
def test_a_merged_histogram_is_the_histogram_of_every_latency(pieces: list[list[float]]) -> None:
    def histogram(latencies: list[float]) -> Aggregate:
        aggregate = Aggregate()
        for latency in latencies:
            aggregate.add("v1", 0.5, 0, latency, {}, None)
        return aggregate

    everything = [latency for piece in pieces for latency in piece]
    assert merged(histogram(piece) for piece in pieces).latency == histogram(everything).latency


# --- bounded counters ---------------------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dictionaries(names, st.integers(1, 50), max_size=30), min_size=1, max_size=5))
def test_bounded_counters_keep_totals_exact_and_never_overstate_a_listed_name(pieces: list[dict[str, int]]) -> None:
    """Which names are listed is approximate once a part was cut back (a name cut from one part and frequent in the
    next is listed with the next part's count only), so a listed count is a lower bound, exact when nothing was cut."""
    parts = []
    for piece in pieces:
        part = Aggregate()
        part.extra = Counter(piece)
        part.versions = Counter(piece)
        part.unseen_values = {"plan": Counter(piece)}
        part.non_finite_by_feature = Counter(piece)
        parts.append(part)
    total = merged(parts)
    everything: Counter[str] = Counter()
    for piece in pieces:
        everything.update(piece)
    for counter in (total.extra, total.versions, total.unseen_values["plan"], total.non_finite_by_feature):
        assert counter.total() == everything.total()
        assert len(counter) <= MAX_LISTED + 1
        if len(everything) <= MAX_LISTED:
            assert counter == everything
        else:
            assert OTHER in counter
            assert all(counter[name] <= everything[name] for name in counter if name != OTHER)


def test_past_the_listed_names_the_most_frequent_stay_and_the_rest_count_under_other() -> None:
    aggregate = Aggregate()
    aggregate.extra = Counter({f"name-{index:02d}": index + 1 for index in range(MAX_LISTED + 5)})
    aggregate.extra[OTHER] = 7
    aggregate.bound()
    kept = {f"name-{index:02d}" for index in range(5, MAX_LISTED + 5)}
    assert set(aggregate.extra) == kept | {OTHER}
    assert aggregate.extra[OTHER] == 7 + sum(range(1, 6))


def test_names_an_alert_shows_are_cut_and_lone_surrogates_escaped() -> None:
    judge = Judge.of(BASELINE)
    aggregate = Aggregate()
    aggregate.add("v1", 0.5, 1, 5.0, {"tenure": 1, "plan": "x" * 300, "n" * 300: 1, "\ud800": 2}, judge)
    (extra_long, surrogate) = sorted(aggregate.extra, key=len, reverse=True)
    assert len(extra_long) == 100
    assert extra_long.endswith("…")
    assert surrogate == "\\ud800"
    (value,) = aggregate.unseen_values["plan"]
    assert len(value) == 100
    json.dumps(aggregate.to_json(), ensure_ascii=False).encode("utf-8")  # every name encodes


# --- the item body ------------------------------------------------------------------------------------------------

feature_values: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["pro", "basic", "", "gold"]),
)
records = st.tuples(
    st.sampled_from(["v1", "v2"]),
    st.floats(0, 1),
    st.integers(0, 1),
    st.one_of(st.none(), st.floats(0, 1e6)),
    st.dictionaries(st.sampled_from(["tenure", "plan", "extra", "é"]), feature_values, max_size=4),
    st.booleans(),
)


def aggregate_of(rows: list[tuple[str, float, int, float | None, dict[str, Any], bool]]) -> Aggregate:
    judge = Judge.of(BASELINE)
    aggregate = Aggregate()
    for version, score, label, latency, features, judged in rows:
        aggregate.add(version, score, label, latency, features, judge if judged else None)
    return aggregate


@settings(max_examples=40, deadline=None)
@given(st.lists(records, max_size=30), st.integers(0, 5), st.dictionaries(names, st.integers(1, 5), max_size=3))
def test_a_body_round_trips(
    rows: list[tuple[str, float, int, float | None, dict[str, Any], bool]], refused: int, by_feature: dict[str, int]
) -> None:
    aggregate = aggregate_of(rows)
    aggregate.add_refused(refused + sum(by_feature.values()), sum(by_feature.values()), by_feature)
    text = aggregate.dumps()
    assert Aggregate.loads(text) == aggregate
    assert Aggregate.loads(text).dumps() == text


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(records, max_size=10), min_size=1, max_size=4))
def test_bodies_merged_after_a_round_trip_equal_the_aggregate_of_every_record(
    pieces: list[list[tuple[str, float, int, float | None, dict[str, Any], bool]]],
) -> None:
    total = merged(Aggregate.loads(aggregate_of(piece).dumps()) for piece in pieces)
    wanted = aggregate_of([row for piece in pieces for row in piece])
    assert_close(total.scores, wanted.scores)
    total_json, wanted_json = total.to_json(), wanted.to_json()
    del total_json["scores"], wanted_json["scores"]
    assert total_json == wanted_json


def valid_body() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(aggregate_of([("v1", 0.5, 1, 3.0, {"tenure": 1}, True)]).dumps())
    return document


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"format": 1}',
        json.dumps(valid_body() | {"format": 2}),
        json.dumps({name: value for name, value in valid_body().items() if name != "format"}),
        json.dumps({name: value for name, value in valid_body().items() if name != "latency"}),
        json.dumps(valid_body() | {"rows": "many"}),
        json.dumps(valid_body() | {"latency": {"fast": 1}}),
        json.dumps(valid_body() | {"scores": [1, 2, 3, 4, 5, 6]}),
        json.dumps(valid_body() | {"unseen_values": ["plan"]}),
    ],
    ids=lambda text: text[:40],
)
def test_a_body_this_code_did_not_write_raises_a_format_error(text: str) -> None:
    with pytest.raises(AggregateFormatError):
        Aggregate.loads(text)


@pytest.mark.parametrize(
    "changes",
    [
        {"present": {"tenure": "many"}},
        {"scores": ["a", "b", "c", "d", "e"]},
    ],
    ids=["a count that is no number", "scores that are no numbers"],
)
def test_a_body_with_malformed_counts_raises_a_format_error_not_a_later_type_error(changes: dict[str, Any]) -> None:
    # `loads` promises an `AggregateFormatError` for a body it did not write; a body it accepts must merge.
    text = json.dumps(valid_body() | changes)
    try:
        loaded = Aggregate.loads(text)
    except AggregateFormatError:
        return
    try:
        merged([aggregate_of([("v1", 0.5, 1, 3.0, {"tenure": 1}, True)]), loaded]).dumps()
    except (TypeError, ValueError) as error:
        pytest.fail(f"Aggregate.loads accepted a body with {changes!r}; merging it then raised {error!r}")


# --- buckets and keys ---------------------------------------------------------------------------------------------

moments_in_time = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(2000, 1, 2),
    max_value=datetime(2099, 12, 30),
    timezones=st.sampled_from([timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-9))]),
)


@given(moments_in_time)
def test_a_bucket_starts_on_a_five_minute_utc_boundary_at_or_before_its_moment(moment: datetime) -> None:
    start = bucket_start(moment)
    assert start.tzinfo is UTC
    assert (start.minute % 5, start.second, start.microsecond) == (0, 0, 0)
    assert start <= moment < start + BUCKET
    assert bucket_start(start) == start


def test_bucket_boundaries() -> None:
    assert bucket_start(datetime(2026, 11, 23, 10, 4, 59, 999_999, tzinfo=UTC)) == datetime(
        2026, 11, 23, 10, tzinfo=UTC
    )
    assert bucket_start(datetime(2026, 11, 23, 10, 5, tzinfo=UTC)) == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert bucket_start(datetime(2026, 11, 24, 1, 2, tzinfo=timezone(timedelta(hours=2)))) == datetime(
        2026, 11, 23, 23, 0, tzinfo=UTC
    )


def test_the_keys_are_as_documented() -> None:
    assert aggregate_pk("churn", "2026-11-23") == "AGG#churn#2026-11-23"
    assert aggregate_sk(datetime(2026, 11, 23, 9, 5, tzinfo=UTC), "ab12") == "09:05#ab12"


@given(
    st.integers(0, 287),
    st.integers(0, 287),
    st.text("0123456789abcdef", min_size=32, max_size=32),
    st.text("0123456789abcdef", min_size=32, max_size=32),
)
def test_a_days_sort_keys_order_its_buckets_in_time_whatever_their_sources(
    first: int, second: int, one: str, other: str
) -> None:
    day = datetime(2026, 11, 23, tzinfo=UTC)
    early, late = sorted((first, second))
    low, high = aggregate_sk(day + early * BUCKET, one), aggregate_sk(day + late * BUCKET, other)
    assert (low < high) if early < late else (low[:5] == high[:5])
    assert high <= f"{day + late * BUCKET:%H:%M}#~"  # the reader's upper bound for a bucket
