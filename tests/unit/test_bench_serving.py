"""The serving benchmark's pieces that decide what is measured (no timings asserted)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoretrain.synthetic import generate_churn
from bench.serving import (
    BATCH,
    CHALLENGER_SEED,
    MODEL_NAME,
    SHADOW_OVERHEAD_TARGET,
    NoPayloadLog,
    build_requests,
    percentiles,
    shadow_metrics,
    take_turns,
    train_model_dir,
)
from lambdas.serving.adapters import load_baked_model, load_shadow_model
from lambdas.serving.logic import check_shadow
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


def test_the_shadow_figure_is_the_ratio_of_p50s_with_and_without_a_shadow_against_its_target() -> None:
    absolute, ratio = shadow_metrics("batch of 100", logged=(10.0, 20.0), shadowed=(13.0, 30.0))
    assert (absolute.value, absolute.unit) == (13.0, "ms")
    assert "+3.00 ms" in absolute.note
    assert ratio.value == pytest.approx(1.3)
    assert (ratio.target, ratio.higher_is_better) == (SHADOW_OVERHEAD_TARGET, False)
    assert ratio.passed


def test_the_benchmarks_challenger_is_a_valid_shadow_of_its_champion(tmp_path: Path) -> None:
    train_model_dir(tmp_path / "champion")
    train_model_dir(tmp_path / "shadow", seed=CHALLENGER_SEED)
    champion = load_baked_model(tmp_path / "champion", MODEL_NAME)
    assert champion is not None
    shadow = load_shadow_model(tmp_path / "shadow", champion)
    assert shadow is not None
    check_shadow(champion, shadow)
    assert shadow.manifest.model_version != champion.manifest.model_version
