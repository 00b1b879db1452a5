"""The payload log's pure delivery logic: packing lines into Firehose records and calls, re-sending failed records."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.retry import RetryPolicy
from lambdas.serving.batching import (
    DEFAULT_RETRY,
    MAX_RECORD_BYTES,
    RecordFailure,
    batch_records,
    deliver,
    failures_of,
    pack_records,
)
from lambdas.serving.models import PayloadLogError

lines_strategy = st.lists(st.binary(min_size=0, max_size=40).map(lambda body: body.replace(b"\n", b"") + b"\n"))


class TopOfRange(random.Random):
    """Jitter that always draws the top of its range: the longest wait the policy allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Firehose:
    """An in-memory `Send`: fails the records whose data is in `failing` for as many calls as given."""

    def __init__(self, failing: dict[bytes, int] | None = None) -> None:
        self.failing = dict(failing or {})
        self.calls: list[list[bytes]] = []
        self.stored: list[bytes] = []

    def __call__(self, records: Sequence[bytes]) -> list[RecordFailure]:
        self.calls.append(list(records))
        failures = []
        for index, record in enumerate(records):
            if self.failing.get(record, 0) > 0:
                self.failing[record] -= 1
                failures.append(RecordFailure(index, "ServiceUnavailableException", "slow down"))
            else:
                self.stored.append(record)
        return failures


@given(lines_strategy, st.integers(min_value=41, max_value=200))
def test_lines_are_packed_whole_and_in_order_into_records_within_the_limit(lines: list[bytes], limit: int) -> None:
    records = pack_records(lines, max_record_bytes=limit)
    assert b"".join(records) == b"".join(lines)
    assert all(0 < len(record) <= limit and record.endswith(b"\n") for record in records)
    boundaries = {sum(map(len, lines[:count])) for count in range(len(lines) + 1)}
    assert {sum(map(len, records[:count])) for count in range(len(records) + 1)} <= boundaries


@given(lines_strategy, st.integers(min_value=41, max_value=200))
def test_a_record_is_closed_only_when_the_next_line_would_not_fit(lines: list[bytes], limit: int) -> None:
    records = pack_records(lines, max_record_bytes=limit)
    for record, following in itertools.pairwise(records):
        next_line = following[: following.index(b"\n") + 1]
        assert len(record) + len(next_line) > limit


def test_an_invocations_lines_go_in_one_record_and_one_call() -> None:
    lines = [b'{"request_id":"r-%04d","features":{"plan":"pro"}}\n' % index for index in range(1000)]
    records = pack_records(lines)
    assert len(records) == 1
    assert batch_records(records) == [records]


def test_a_line_without_its_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        pack_records([b"{}\n", b"{}"])


def test_a_line_longer_than_a_record_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        pack_records([b"x" * MAX_RECORD_BYTES + b"\n"])


@given(
    st.lists(st.binary(min_size=1, max_size=30)),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=30, max_value=100),
)
def test_calls_respect_the_record_count_and_byte_limits_in_order(
    records: list[bytes], max_records: int, max_bytes: int
) -> None:
    batches = batch_records(records, max_records=max_records, max_bytes=max_bytes)
    assert [record for batch in batches for record in batch] == records
    assert all(0 < len(batch) <= max_records and sum(map(len, batch)) <= max_bytes for batch in batches)
    for batch, following in itertools.pairwise(batches):
        assert len(batch) == max_records or sum(map(len, batch)) + len(following[0]) > max_bytes


def test_firehoses_limits_split_a_large_invocation_into_several_calls() -> None:
    lines = [b"x" * (256 * 1024 - 1) + b"\n"] * 40
    records = pack_records(lines)
    # three 256 KiB lines per record (a fourth would pass 1,000 KiB), five records per call (a sixth passes 4 MiB)
    assert [record.count(b"\n") for record in records] == [3] * 13 + [1]
    assert [len(batch) for batch in batch_records(records)] == [5, 5, 4]


def test_only_the_failed_records_are_sent_again() -> None:
    firehose = Firehose(failing={b"b\n": 1, b"d\n": 2})
    waits: list[float] = []
    calls = deliver([b"a\n", b"b\n", b"c\n", b"d\n"], firehose, sleep=waits.append, rng=random.Random(1))
    assert calls == 3
    assert firehose.calls == [[b"a\n", b"b\n", b"c\n", b"d\n"], [b"b\n", b"d\n"], [b"d\n"]]
    assert sorted(firehose.stored) == [b"a\n", b"b\n", b"c\n", b"d\n"]
    assert len(waits) == 2


def test_waits_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.1, max_delay_s=0.5)
    firehose = Firehose(failing={b"a\n": 5})
    waits: list[float] = []
    deliver([b"a\n"], firehose, policy=policy, sleep=waits.append, rng=TopOfRange())
    assert waits == pytest.approx([0.2, 0.4, 0.5, 0.5, 0.5])


def test_waits_are_jittered_below_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=50, base_delay_s=0.1, max_delay_s=0.5)
    waits: list[float] = []
    deliver([b"a\n"], Firehose(failing={b"a\n": 49}), policy=policy, sleep=waits.append, rng=random.Random(7))
    assert all(0.0 <= wait <= 0.5 for wait in waits)
    assert len(set(waits)) == len(waits)


def test_records_still_failing_when_retries_run_out_fail_the_write() -> None:
    firehose = Firehose(failing={b"b\n": 99})
    waits: list[float] = []
    with pytest.raises(PayloadLogError, match=r"1 of 2 payload records .* after 5 attempts .*ServiceUnavailable"):
        deliver([b"a\n", b"b\n"], firehose, sleep=waits.append, rng=random.Random(3), what="the stream")
    assert len(firehose.calls) == DEFAULT_RETRY.max_attempts
    assert sum(waits) < 1.0


def test_a_call_refused_as_a_whole_is_not_retried() -> None:
    calls: list[Sequence[bytes]] = []

    def refused(records: Sequence[bytes]) -> list[RecordFailure]:
        calls.append(records)
        raise PayloadLogError("ResourceNotFoundException")

    with pytest.raises(PayloadLogError, match="ResourceNotFound"):
        deliver([b"a\n"], refused, sleep=lambda _: None, rng=random.Random(0))
    assert len(calls) == 1


def test_a_failure_outside_the_call_is_an_error_not_a_retry() -> None:
    with pytest.raises(PayloadLogError, match="not sent"):
        deliver([b"a\n"], lambda _: [RecordFailure(3, "InternalFailure")], sleep=lambda _: None, rng=random.Random())


def test_a_response_without_failures_has_none() -> None:
    response = {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": "1"}, {"RecordId": "2"}]}
    assert failures_of(response) == []


def test_a_responses_failed_entries_name_the_records_by_position() -> None:
    response = {
        "FailedPutCount": 2,
        "RequestResponses": [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."},
            {"RecordId": "2"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "oops"},
        ],
    }
    assert failures_of(response) == [
        RecordFailure(0, "ServiceUnavailableException", "Slow down."),
        RecordFailure(2, "InternalFailure", "oops"),
    ]


def test_a_failed_count_without_failed_entries_is_an_error() -> None:
    with pytest.raises(PayloadLogError, match="without naming them"):
        failures_of({"FailedPutCount": 1, "RequestResponses": [{"RecordId": "1"}]})
