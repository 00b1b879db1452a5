"""Business impact against a control group: a known effect is recovered, the Newcombe interval keeps its level, the
alert fires on a harmful model and rarely on a null one, weeks and clients are counted as documented."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from batch_jobs.monitoring.business import (
    PERIOD_CUMULATIVE,
    ImpactConfig,
    measure_business_impact,
    newcombe_interval,
)
from core.lake import SAMPLE_KEY_SPACE, sample_key
from core.records import ARM_CONTROL, ARM_MODEL

MONDAY = pd.Timestamp("2026-11-23T00:00:00Z")


def _outcomes(
    clients: int,
    *,
    control_rate: float,
    model_rate: float,
    control_share: float = 0.2,
    weeks: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per client: its arm by the hash of its id, a time within `weeks` weeks from MONDAY, its outcome."""
    rng = np.random.default_rng(seed)
    ids = [f"client-{seed}-{index}" for index in range(clients)]
    control = np.fromiter((sample_key(client) for client in ids), np.int64, clients) < control_share * SAMPLE_KEY_SPACE
    rates = np.where(control, control_rate, model_rate)
    seconds = rng.integers(0, weeks * 7 * 86_400, size=clients)
    return pd.DataFrame(
        {
            "client_id": ids,
            "arm": np.where(control, ARM_CONTROL, ARM_MODEL),
            "ts": MONDAY + pd.to_timedelta(seconds, unit="s"),
            "label": (rng.random(clients) < rates).astype(np.int64),
        }
    )


def test_a_known_effect_is_recovered_within_its_interval() -> None:
    impact = measure_business_impact(_outcomes(20_000, control_rate=0.20, model_rate=0.15))
    total = impact.cumulative
    assert total.benefit_low is not None
    assert total.benefit_high is not None
    assert total.benefit_low < 0.05 < total.benefit_high
    assert total.benefit_low > 0  # the model helps, beyond noise
    assert total.value_saved_low is not None
    assert total.value_saved_high is not None
    true_value = total.model.units * 0.05 * 500.0
    assert total.value_saved_low < true_value < total.value_saved_high
    assert total.benefit is not None
    assert total.control_cost is not None
    assert total.control_cost == pytest.approx(total.control.units * total.benefit * 500.0)
    assert not impact.alert
    assert impact.unit == "client"


def test_the_newcombe_interval_matches_newcombes_published_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, example (a): 56/70 vs 48/80, method 10.
    difference, low, high = newcombe_interval([56], [70], [48], [80], 0.95)
    assert difference[0] == pytest.approx(0.2)
    assert low[0] == pytest.approx(0.0524, abs=1e-4)
    assert high[0] == pytest.approx(0.3339, abs=1e-4)


@pytest.mark.parametrize(
    ("n_control", "p_control", "n_model", "p_model"),
    [(4000, 0.20, 16_000, 0.15), (150, 0.06, 600, 0.03)],
)
def test_the_newcombe_interval_covers_at_its_nominal_level(
    n_control: int, p_control: float, n_model: int, p_model: float
) -> None:
    rng = np.random.default_rng(1)
    replicates = 20_000
    x_control = rng.binomial(n_control, p_control, replicates)
    x_model = rng.binomial(n_model, p_model, replicates)
    _, low, high = newcombe_interval(x_control, n_control, x_model, n_model, 0.95)
    truth = p_control - p_model
    covered = ((low <= truth) & (truth <= high)).mean()
    assert 0.94 <= covered <= 0.965  # the score intervals are, if anything, slightly conservative


def test_a_null_effect_alerts_at_the_one_sided_level() -> None:
    rng = np.random.default_rng(2)
    replicates = 20_000
    x_control = rng.binomial(1000, 0.2, replicates)
    x_model = rng.binomial(4000, 0.2, replicates)
    _, _, high = newcombe_interval(x_control, 1000, x_model, 4000, 0.95)
    false_alerts = (high < 0).mean()
    assert 0.018 <= false_alerts <= 0.032  # one-sided at 97.5 %: 2.5 % expected
    assert not measure_business_impact(_outcomes(5000, control_rate=0.2, model_rate=0.2, seed=4)).alert


def test_a_harmful_model_raises_the_alert() -> None:
    impact = measure_business_impact(_outcomes(20_000, control_rate=0.15, model_rate=0.22))
    assert impact.alert
    assert impact.cumulative.worse
    assert impact.message.startswith("ALERT")
    assert impact.cumulative.value_saved is not None
    assert impact.cumulative.value_saved < 0


def test_too_few_units_never_alert() -> None:
    impact = measure_business_impact(_outcomes(300, control_rate=0.0, model_rate=0.9))
    assert not impact.cumulative.sufficient
    assert not impact.alert
    assert "not enough matured outcomes" in impact.message


def test_weeks_start_on_monday_and_pool_to_the_cumulative_figure() -> None:
    frame = _outcomes(6000, control_rate=0.2, model_rate=0.15, weeks=3).drop(columns="client_id")
    edge = pd.DataFrame(
        {
            "arm": [ARM_MODEL, ARM_MODEL],
            "ts": [pd.Timestamp("2026-11-29T23:59:59Z"), pd.Timestamp("2026-11-30T00:00:00Z")],  # Sunday, Monday
            "label": [1, 0],
        }
    )
    impact = measure_business_impact(pd.concat([frame, edge], ignore_index=True))
    assert [week.period for week in impact.weeks] == ["2026-W48", "2026-W49", "2026-W50"]
    assert [week.start for week in impact.weeks] == ["2026-11-23", "2026-11-30", "2026-12-07"]
    assert all(pd.Timestamp(week.start).weekday() == 0 for week in impact.weeks)
    assert impact.unit == "row"
    for arm in ("model", "control"):
        weekly = [getattr(week, arm) for week in impact.weeks]
        total = getattr(impact.cumulative, arm)
        assert sum(item.units for item in weekly) == total.units
        assert sum(item.outcomes for item in weekly) == total.outcomes
    assert impact.cumulative.period == PERIOD_CUMULATIVE
    assert (impact.cumulative.start, impact.cumulative.end) == ("2026-11-23", "2026-12-14")
    sunday_week = impact.weeks[0].model
    without_edge = measure_business_impact(frame).weeks[0].model
    assert (sunday_week.units, sunday_week.outcomes) == (without_edge.units + 1, without_edge.outcomes + 1)


def test_clients_are_counted_once_with_their_last_outcome() -> None:
    once = _outcomes(8000, control_rate=0.2, model_rate=0.15, weeks=1)
    earlier = once.assign(ts=once["ts"] - pd.Timedelta(hours=1), label=1 - once["label"])  # superseded outcomes
    thrice = pd.concat([earlier, once, once], ignore_index=True)
    single = measure_business_impact(once).cumulative
    repeated = measure_business_impact(thrice).cumulative
    assert repeated.model.units + repeated.control.units == 8000
    assert (repeated.benefit_low, repeated.benefit_high) == (single.benefit_low, single.benefit_high)
    as_rows = measure_business_impact(thrice.drop(columns="client_id")).cumulative
    assert as_rows.model.units == 3 * single.model.units  # rows as units would triple the sample


def test_a_client_seen_in_both_arms_is_left_out() -> None:
    frame = _outcomes(1000, control_rate=0.2, model_rate=0.15, weeks=1)
    first = frame.iloc[:5]
    switched = first.assign(arm=np.where(first["arm"] == ARM_MODEL, ARM_CONTROL, ARM_MODEL))
    impact = measure_business_impact(pd.concat([frame, switched], ignore_index=True))
    assert impact.mixed_clients == 5
    assert impact.cumulative.model.units + impact.cumulative.control.units == 995


def test_a_good_outcome_counts_the_model_arms_excess_as_benefit() -> None:
    frame = _outcomes(20_000, control_rate=0.10, model_rate=0.14)
    impact = measure_business_impact(frame, ImpactConfig(outcome_is_bad=False, lifetime_value=80.0))
    assert impact.cumulative.benefit == pytest.approx(
        impact.cumulative.model.outcomes / impact.cumulative.model.units
        - impact.cumulative.control.outcomes / impact.cumulative.control.units
    )
    assert impact.cumulative.benefit_low is not None
    assert impact.cumulative.benefit_low > 0
    assert not impact.alert


def test_unmatured_and_out_of_experiment_rows_are_dropped() -> None:
    frame = _outcomes(500, control_rate=0.2, model_rate=0.15, weeks=1)
    extra = frame.iloc[:4].assign(label=[np.nan, np.nan, 1, 0], arm=[ARM_MODEL, ARM_CONTROL, None, "other"])
    impact = measure_business_impact(pd.concat([frame, extra], ignore_index=True))
    assert impact.dropped_rows == 4


def test_the_result_serialises_to_strict_json_and_states_its_assumptions() -> None:
    empty = measure_business_impact(pd.DataFrame({"arm": [ARM_MODEL], "ts": [MONDAY], "label": [np.nan]}))
    assert empty.weeks == ()
    assert empty.cumulative.benefit is None
    full = measure_business_impact(_outcomes(2000, control_rate=0.2, model_rate=0.15))
    for impact in (empty, full):
        document = impact.to_json()
        json.dumps(document, allow_nan=False)
        assert "exchangeable" in document["assumptions"]
        assert "forgoes the model's benefit" in document["assumptions"]
    assert set(full.to_json()["cumulative"]) >= {"benefit", "value_saved", "control_cost", "model", "control"}


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="lack column"):
        measure_business_impact(pd.DataFrame({"arm": [ARM_MODEL], "label": [1]}))
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        measure_business_impact(pd.DataFrame({"arm": [ARM_MODEL], "ts": [MONDAY], "label": [2]}))
    with pytest.raises(ValueError, match="invalid ImpactConfig"):
        ImpactConfig(confidence=1.0)
