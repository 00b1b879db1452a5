"""The serving benchmark's pieces that decide what is measured (no timings asserted)."""

from __future__ import annotations

import pandas as pd

from autoretrain.synthetic import generate_churn
from bench.serving import BATCH, NoPayloadLog, build_requests, percentiles, take_turns
from lambdas.serving.models import PayloadSink


def test_contenders_take_turns_call_by_call_after_their_warm_up() -> None:
    calls: list[tuple[str, int]] = []
    timings = take_turns(
        {"a": lambda index: calls.append(("a", index)), "b": lambda index: calls.append(("b", index))},
        calls=2,
        warmup=1,
    )
    assert calls == [("a", 0), ("b", 0), ("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert {name: len(values) for name, values in timings.items()} == {"a": 2, "b": 2}


def test_percentiles_are_the_median_and_the_99th() -> None:
    assert percentiles([float(value) for value in range(1, 102)]) == (51.0, 100.0)


def test_requests_are_single_instances_and_whole_batches_of_the_same_rows() -> None:
    frame: pd.DataFrame = generate_churn(250, seed=1)
    singles, batches = build_requests(frame)
    assert len(singles) == 250
    assert [len(batch["instances"]) for batch in batches] == [BATCH, BATCH]
    assert batches[1]["instances"][0]["features"] == singles[BATCH]["features"]


def test_the_no_op_log_is_a_payload_sink() -> None:
    sink: PayloadSink = NoPayloadLog()
    sink.write([b"{}\n"])
