"""The batch retry loop, as a pure function over a plain `send(batch) -> unprocessed` callable."""

from __future__ import annotations

import random

import pytest

from core.payload_store import ThrottledError, TransientStoreError, send_until_done
from core.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=1.0)


class Recorder:
    """Sleeps recorded instead of slept."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_unprocessed_items_are_resent_until_none_remain() -> None:
    sent: list[list[int]] = []

    def send(batch: list[int]) -> list[int]:
        sent.append(batch)
        return batch[1:]  # one item per call gets through

    sleep = Recorder()
    calls = send_until_done([1, 2, 3], send, policy=POLICY, sleep=sleep, rng=random.Random(0))
    assert calls == 3
    assert sent == [[1, 2, 3], [2, 3], [3]]
    assert len(sleep.delays) == 2


def test_a_throttled_call_resends_the_whole_batch() -> None:
    outcomes: list[bool] = [True, True, False]
    sent: list[list[int]] = []

    def send(batch: list[int]) -> list[int]:
        sent.append(batch)
        if outcomes.pop(0):
            raise ThrottledError("slow down")
        return []

    send_until_done([1, 2], send, policy=POLICY, sleep=Recorder(), rng=random.Random(0))
    assert sent == [[1, 2], [1, 2], [1, 2]]


def test_exhausted_retries_raise_a_transient_error_after_max_attempts() -> None:
    calls: list[int] = []

    def send(batch: list[int]) -> list[int]:
        calls.append(1)
        return batch

    sleep = Recorder()
    with pytest.raises(TransientStoreError, match="2 items still unprocessed after 5 attempts"):
        send_until_done([1, 2], send, policy=POLICY, sleep=sleep, rng=random.Random(0))
    assert len(calls) == 5
    assert len(sleep.delays) == 4


def test_a_batch_processed_at_once_never_sleeps() -> None:
    sleep = Recorder()
    assert send_until_done([1], lambda batch: [], policy=POLICY, sleep=sleep, rng=random.Random(0)) == 1
    assert sleep.delays == []


def test_backoff_is_jittered_below_an_exponential_cap() -> None:
    rng = random.Random(42)
    for attempt in range(1, 8):
        cap = min(POLICY.max_delay_s, POLICY.base_delay_s * 2**attempt)
        delays = [POLICY.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= delay <= cap for delay in delays)
        assert max(delays) > cap / 2  # jitter spreads over the whole range
