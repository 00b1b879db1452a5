"""The release gate: each check rejects what it should, the paired bootstrap is paired, decisions serialise."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from batch_jobs.gate import (
    CheckName,
    GateConfig,
    GateDecision,
    GateOutcome,
    Metric,
    evaluate_gate,
    schema_differences,
)
from batch_jobs.metrics import paired_bootstrap_values

SCHEMA = (("tenure_months", "numeric"), ("profile_score", "numeric"), ("plan", "categorical"))
THRESHOLD = 0.3
RESAMPLES = 300  # enough for these clear-cut cases; the default (1,000) is for production decisions


@dataclass(frozen=True)
class Holdout:
    """Labels and three models' scores on one out-of-time holdout."""

    y: NDArray[np.int64]
    weak: NDArray[np.float64]  # sees the second feature only
    champion: NDArray[np.float64]  # sees the first feature
    retrained: NDArray[np.float64]  # the champion's feature and a useless one, fitted on other data
    better: NDArray[np.float64]  # sees both features


def _sample(n: int, seed: int, second_effect: float) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, 3))  # the third feature is noise
    logit = 1.5 * features[:, 0] + second_effect * features[:, 1] - 1.5
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return features, labels


def _fit_scores(
    train: NDArray[np.float64], labels: NDArray[np.int64], test: NDArray[np.float64]
) -> NDArray[np.float64]:
    model = LogisticRegression().fit(train, labels)
    scores: NDArray[np.float64] = model.predict_proba(test)[:, 1]
    return scores


def _holdout(n: int = 4000, second_effect: float = 0.35) -> Holdout:
    train, train_labels = _sample(20_000, 1, second_effect)
    other, other_labels = _sample(20_000, 3, second_effect)
    test, test_labels = _sample(n, 2, second_effect)
    return Holdout(
        y=test_labels,
        weak=_fit_scores(train[:, 1:], train_labels, test[:, 1:]),
        champion=_fit_scores(train[:, :1], train_labels, test[:, :1]),
        retrained=_fit_scores(other[:, ::2], other_labels, test[:, ::2]),
        better=_fit_scores(train[:, :2], train_labels, test[:, :2]),
    )


@pytest.fixture(scope="module")
def holdout() -> Holdout:
    return _holdout()


def _gate(
    y: NDArray[np.int64],
    champion: NDArray[np.float64] | None,
    challenger: NDArray[np.float64],
    config: GateConfig | None = None,
    challenger_schema: tuple[tuple[str, str], ...] = SCHEMA,
    *,
    champion_failing: str | None = None,
) -> GateDecision:
    return evaluate_gate(
        config or GateConfig(n_bootstrap=RESAMPLES),
        y,
        champion,
        challenger,
        challenger_schema=challenger_schema,
        serving_schema=SCHEMA,
        champion_threshold=THRESHOLD,
        challenger_threshold=THRESHOLD,
        champion_failing=champion_failing,
    )


def _failed(decision: GateDecision) -> set[CheckName]:
    return {check.name for check in decision.checks if check.evaluated and not check.passed}


def test_worse_challenger_is_rejected_with_metric_and_interval_in_the_reason(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.weak)

    assert not decision.passed
    assert decision.outcome is GateOutcome.REJECT
    assert _failed(decision) == {CheckName.NON_INFERIORITY}
    assert decision.difference is not None
    assert decision.difference.upper < -0.01
    reason = next(reason for reason in decision.reasons if reason.startswith("non_inferiority"))
    assert reason.startswith("non_inferiority: auc: challenger")
    assert f"{decision.difference.lower:+.4f} to {decision.difference.upper:+.4f}" in reason


def test_better_challenger_is_accepted(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.better)

    assert decision.passed, decision.reasons
    assert decision.outcome is GateOutcome.RELEASE
    assert decision.difference is not None
    assert decision.difference.lower > 0
    assert decision.reasons[0].startswith("passed all 8 checks; better beyond noise")
    assert "auc: challenger" in decision.reasons[0]


def test_an_equal_challenger_is_safe_but_not_needed_unless_the_champion_is_failing(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.retrained)

    assert decision.passed, decision.reasons
    assert decision.outcome is GateOutcome.NOT_NEEDED
    assert not decision.releases
    assert decision.difference is not None
    assert -0.01 < decision.difference.lower < 0 < decision.difference.upper
    assert decision.reasons[0].startswith("not needed: the challenger is not better beyond noise")

    failing = _gate(
        holdout.y, holdout.champion, holdout.retrained, champion_failing="performance decay on matured labels"
    )
    assert failing.outcome is GateOutcome.RELEASE
    assert "the champion is failing (performance decay on matured labels)" in failing.reasons[0]


def test_equal_challenger_is_rejected_when_no_margin_is_allowed(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.retrained, GateConfig(n_bootstrap=RESAMPLES, margin=0.0))

    assert _failed(decision) == {CheckName.NON_INFERIORITY}


def test_worse_challenger_is_rejected_on_log_loss(holdout: Holdout) -> None:
    decision = _gate(
        holdout.y, holdout.champion, holdout.weak, GateConfig(n_bootstrap=RESAMPLES, primary_metric=Metric.LOG_LOSS)
    )

    assert CheckName.NON_INFERIORITY in _failed(decision)
    assert decision.difference is not None
    assert decision.difference.lower > 0.01
    reason = next(reason for reason in decision.reasons if reason.startswith("non_inferiority"))
    assert "log_loss" in reason
    assert "upper bound must be below +0.0100" in reason


def test_better_challenger_is_accepted_on_brier(holdout: Holdout) -> None:
    decision = _gate(
        holdout.y,
        holdout.champion,
        holdout.better,
        GateConfig(n_bootstrap=RESAMPLES, primary_metric=Metric.BRIER, margin=0.005),
    )

    assert decision.passed, decision.reasons
    assert decision.difference is not None
    assert decision.difference.upper < 0


def test_constant_challenger_is_rejected(holdout: Holdout) -> None:
    constant = np.full(holdout.y.size, float(holdout.y.mean()))

    decision = _gate(holdout.y, holdout.champion, constant)

    assert CheckName.NOT_CONSTANT in _failed(decision)
    assert decision.check(CheckName.NOT_CONSTANT).observed == 1.0


def test_nearly_constant_challenger_is_rejected_on_its_spread(holdout: Holdout) -> None:
    nearly_constant = 0.25 + 1e-5 * holdout.champion

    decision = _gate(holdout.y, holdout.champion, nearly_constant)

    assert CheckName.NOT_CONSTANT in _failed(decision)
    assert "standard deviation" in decision.check(CheckName.NOT_CONSTANT).detail


def test_schema_with_a_changed_kind_is_rejected(holdout: Holdout) -> None:
    changed = (("tenure_months", "numeric"), ("profile_score", "categorical"), ("plan", "categorical"))

    decision = _gate(holdout.y, holdout.champion, holdout.better, challenger_schema=changed)

    assert _failed(decision) == {CheckName.SCHEMA}
    assert "feature 'profile_score' is categorical, serving expects numeric" in decision.reasons[0]


def test_schema_in_another_order_is_rejected() -> None:
    reordered = (SCHEMA[1], SCHEMA[0], SCHEMA[2])

    assert schema_differences(reordered, SCHEMA) == [
        "feature order differs: ['profile_score', 'tenure_months', 'plan'] vs serving "
        "['tenure_months', 'profile_score', 'plan']"
    ]


def test_schema_with_missing_and_extra_features_names_them() -> None:
    other = (SCHEMA[0], ("region", "categorical"))

    assert schema_differences(other, SCHEMA) == [
        "missing features ['profile_score', 'plan']",
        "unexpected features ['region']",
    ]


def test_schema_given_as_objects_with_name_and_kind_is_compared() -> None:
    @dataclass(frozen=True)
    class Field:
        name: str
        kind: str

    assert schema_differences([Field(name, kind) for name, kind in SCHEMA], SCHEMA) == []


def test_non_finite_predictions_are_rejected(holdout: Holdout) -> None:
    scores = holdout.better.copy()
    scores[[3, 17]] = [np.nan, np.inf]

    decision = _gate(holdout.y, holdout.champion, scores)

    assert _failed(decision) == {CheckName.FINITE}
    assert decision.reasons == ("finite: 2 of 4000 challenger scores are not finite probabilities in [0, 1]",)
    assert not decision.check(CheckName.CALIBRATION).evaluated
    assert decision.challenger.auc is None


def test_scores_outside_zero_one_are_rejected(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.better * 2)

    assert CheckName.FINITE in _failed(decision)


def test_positive_rate_out_of_band_is_rejected(holdout: Holdout) -> None:
    decision = evaluate_gate(
        GateConfig(n_bootstrap=RESAMPLES),
        holdout.y,
        holdout.champion,
        holdout.better,
        challenger_schema=SCHEMA,
        serving_schema=SCHEMA,
        challenger_threshold=0.05,
    )

    assert _failed(decision) == {CheckName.POSITIVE_RATE}
    check = decision.check(CheckName.POSITIVE_RATE)
    assert check.band is not None
    assert check.observed is not None
    assert check.observed > check.band[1]


def test_positive_rate_band_never_admits_labelling_everyone_positive() -> None:
    y = np.tile([0, 1], 1000)  # prevalence 0.5: an additive band would reach 1.0
    scores = np.linspace(0.5, 0.99, y.size)

    decision = evaluate_gate(
        GateConfig(n_bootstrap=RESAMPLES), y, None, scores, challenger_schema=SCHEMA, serving_schema=SCHEMA
    )

    assert decision.check(CheckName.POSITIVE_RATE).observed == 1.0
    assert CheckName.POSITIVE_RATE in _failed(decision)


def test_miscalibrated_challenger_with_the_same_ranking_is_rejected(holdout: Holdout) -> None:
    logit = np.log(holdout.champion / (1 - holdout.champion))
    overconfident = 1 / (1 + np.exp(-3 * logit))

    decision = _gate(holdout.y, holdout.champion, overconfident)

    assert _failed(decision) == {CheckName.CALIBRATION}
    assert decision.difference is not None
    assert decision.difference.difference == pytest.approx(0.0)


def test_calibrated_challenger_on_a_small_holdout_passes_calibration() -> None:
    rng = np.random.default_rng(7)
    scores = 1 / (1 + np.exp(-rng.normal(-1.2, 1.0, 500)))
    y = (rng.random(500) < scores).astype(np.int64)

    decision = evaluate_gate(
        GateConfig(), y, None, scores, challenger_schema=SCHEMA, serving_schema=SCHEMA, challenger_threshold=0.3
    )

    assert decision.check(CheckName.CALIBRATION).passed, decision.check(CheckName.CALIBRATION).detail


def test_too_small_holdout_is_rejected(holdout: Holdout) -> None:
    decision = _gate(holdout.y[:300], holdout.champion[:300], holdout.better[:300])

    assert CheckName.HOLDOUT_SIZE in _failed(decision)
    assert "holdout_size: holdout has 300 rows, at least 500 required" in decision.reasons


def test_holdout_without_enough_positives_is_rejected(holdout: Holdout) -> None:
    keep = np.flatnonzero(holdout.y == 0)[:1000].tolist() + np.flatnonzero(holdout.y == 1)[:10].tolist()

    decision = _gate(holdout.y[keep], holdout.champion[keep], holdout.better[keep])

    assert CheckName.HOLDOUT_CLASSES in _failed(decision)


def test_holdout_with_one_class_is_rejected_without_a_comparison(holdout: Holdout) -> None:
    negatives = holdout.y == 0

    decision = _gate(holdout.y[negatives], holdout.champion[negatives], holdout.better[negatives])

    assert CheckName.HOLDOUT_CLASSES in _failed(decision)
    assert not decision.check(CheckName.NON_INFERIORITY).evaluated
    assert decision.challenger.auc is None


def test_initial_model_without_champion_skips_only_the_comparison(holdout: Holdout) -> None:
    decision = _gate(holdout.y, None, holdout.better)

    assert decision.passed, decision.reasons
    assert decision.champion is None
    assert decision.difference is None
    assert decision.check(CheckName.NON_INFERIORITY).detail == "no champion to compare with (initial model)"


def test_champion_with_non_finite_scores_fails_the_comparison(holdout: Holdout) -> None:
    champion = holdout.champion.copy()
    champion[0] = np.nan

    decision = _gate(holdout.y, champion, holdout.better)

    assert _failed(decision) == {CheckName.NON_INFERIORITY}
    assert "champion has 1 scores that are not finite" in decision.reasons[0]


def test_labels_other_than_zero_and_one_are_refused(holdout: Holdout) -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        _gate(holdout.y * 2, holdout.champion, holdout.better)


def test_scores_of_another_length_are_refused(holdout: Holdout) -> None:
    with pytest.raises(ValueError, match="challenger_scores must be a 1-D array of 4000 scores"):
        _gate(holdout.y, holdout.champion, holdout.better[:-1])


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="margin must be a finite number"):
        GateConfig(n_bootstrap=RESAMPLES, margin=-0.1)


def test_identical_models_have_a_zero_width_paired_interval(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.champion.copy())

    assert decision.difference is not None
    assert (decision.difference.lower, decision.difference.upper) == (0.0, 0.0)


def test_paired_interval_excludes_zero_where_an_unpaired_one_does_not(holdout: Holdout) -> None:
    y = holdout.y.astype(bool)
    champion_a, challenger_a = paired_bootstrap_values(
        Metric.AUC, y, holdout.champion, holdout.better, n_resamples=RESAMPLES, rng=np.random.default_rng(1)
    )
    champion_b, _ = paired_bootstrap_values(
        Metric.AUC, y, holdout.champion, holdout.better, n_resamples=RESAMPLES, rng=np.random.default_rng(2)
    )

    paired = np.percentile(challenger_a - champion_a, [2.5, 97.5])
    unpaired = np.percentile(challenger_a - champion_b, [2.5, 97.5])

    assert paired[0] > 0
    assert unpaired[0] < 0 < unpaired[1]


def test_same_random_state_gives_the_same_interval(holdout: Holdout) -> None:
    first = _gate(holdout.y, holdout.champion, holdout.retrained, GateConfig(n_bootstrap=RESAMPLES, random_state=11))
    second = _gate(holdout.y, holdout.champion, holdout.retrained, GateConfig(n_bootstrap=RESAMPLES, random_state=11))
    other = _gate(holdout.y, holdout.champion, holdout.retrained, GateConfig(n_bootstrap=RESAMPLES, random_state=12))

    assert first.difference == second.difference
    assert other.difference != first.difference


def test_decision_metrics_match_sklearn(holdout: Holdout) -> None:
    decision = _gate(holdout.y, holdout.champion, holdout.better)

    assert decision.challenger.auc == pytest.approx(roc_auc_score(holdout.y, holdout.better), abs=1e-12)
    assert decision.champion is not None
    assert decision.champion.auc == pytest.approx(roc_auc_score(holdout.y, holdout.champion), abs=1e-12)
    assert decision.challenger.positive_rate == pytest.approx(float((holdout.better >= THRESHOLD).mean()))


def test_decision_serialises_to_strict_json(holdout: Holdout) -> None:
    scores = holdout.better.copy()
    scores[0] = np.nan
    for decision in (_gate(holdout.y, holdout.champion, holdout.better), _gate(holdout.y, holdout.champion, scores)):
        document = json.loads(json.dumps(decision.to_json(), allow_nan=False))

        assert document["passed"] is decision.passed
        assert document["config"]["primary_metric"] == "auc"
        assert [check["name"] for check in document["checks"]] == [name.value for name in CheckName]


def test_a_much_better_slightly_miscalibrated_challenger_replaces_a_worse_calibrated_champion(
    holdout: Holdout,
) -> None:
    # The champion is the weak model pushed towards the middle (badly calibrated, near chance); the challenger
    # the better model with its scores pushed up a little: too miscalibrated for the initial model's limit.
    champion = 0.5 + 0.3 * (holdout.weak - 0.5)
    challenger = np.clip(holdout.better + 0.06, 0.0, 1.0)

    initial = _gate(holdout.y, None, challenger)
    decision = _gate(holdout.y, champion, challenger)

    assert CheckName.CALIBRATION in _failed(initial)
    assert decision.outcome is GateOutcome.RELEASE, decision.reasons
    calibration = decision.check(CheckName.CALIBRATION)
    assert calibration.passed
    assert "champion's" in calibration.detail
    ece, rate = decision.secondary
    assert ece.upper < 0  # better calibrated than the champion, significantly
    assert rate.metric == "positive_rate_log_odds_distance"


def test_a_significantly_worse_challenger_is_never_released_even_within_the_margin(holdout: Holdout) -> None:
    rng = np.random.default_rng(5)
    worse = np.clip(holdout.champion + rng.normal(0.0, 0.03, holdout.y.size), 0.0, 1.0)  # a small, real loss

    decision = _gate(
        holdout.y,
        holdout.champion,
        worse,
        GateConfig(n_bootstrap=1000),
        champion_failing="drift the trigger policy acted on",
    )

    assert decision.difference is not None
    assert -0.01 < decision.difference.lower < decision.difference.upper < 0
    assert decision.passed  # safe: within the margin, so no alert-worthy rejection...
    assert decision.outcome is GateOutcome.NOT_NEEDED  # ...but never shipped, even for a failing champion
    assert decision.reasons[0].startswith("not needed: the challenger is significantly worse than the champion")


def test_the_catastrophic_band_refuses_a_broken_challenger_no_better_than_its_broken_champion(
    holdout: Holdout,
) -> None:
    champion = np.clip(holdout.champion + 0.3, 0.0, 1.0)  # broken: everyone scored 0.3 too high
    challenger = np.clip(
        holdout.better + 0.3, 0.0, 1.0
    )  # better ranked, as broken: within the margins, outside the band

    decision = _gate(holdout.y, champion, challenger)

    ece, _ = decision.secondary
    assert ece.lower < 0 < ece.upper < ece.margin  # no worse than the champion...
    assert decision.outcome is GateOutcome.REJECT  # ...but outside the band only a broken model leaves
    assert {CheckName.CALIBRATION, CheckName.POSITIVE_RATE} <= _failed(decision)
    assert "LEFT" in decision.check(CheckName.CALIBRATION).detail


def test_a_broken_challenger_significantly_less_broken_than_the_champion_replaces_it(holdout: Holdout) -> None:
    champion = np.clip(holdout.weak + 0.45, 0.0, 1.0)  # near chance and far too high
    challenger = np.clip(holdout.better + 0.25, 0.0, 1.0)  # much better ranked, still outside the band, less so

    decision = _gate(holdout.y, champion, challenger)

    assert decision.outcome is GateOutcome.RELEASE, decision.reasons
    assert "significantly less than by the champion" in decision.check(CheckName.CALIBRATION).detail
