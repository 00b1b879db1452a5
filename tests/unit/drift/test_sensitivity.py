"""The sensitivity profile: perturbations of known linear models give the analytic answer, effect sizes are the drift
suite's, the cost/floor interpolation is monotone, and the JSON form round-trips and refuses malformed documents."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.drift import DriftConfig, ReferenceProfiler
from batch_jobs.drift import sensitivity as sens
from batch_jobs.drift.sensitivity import (
    NUMERIC_LEVELS,
    SHARE_LEVELS,
    SensitivityFormatError,
    SensitivityPoint,
    SensitivityProfile,
    compute_sensitivity,
    render_html,
    render_svg,
)
from batch_jobs.drift.univariate import UnivariateDrift
from batch_jobs.training import fitting
from core.features import FeatureSpec, InputSchema

N_ROWS = 2000
WEIGHT, INTERCEPT, THRESHOLD = 1.5, -0.5, 0.4


def _logistic(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@pytest.fixture(scope="module")
def linear_rows() -> pd.DataFrame:
    """x drives the outcome through a known logistic model; z is noise."""
    rng = np.random.default_rng(7)
    x, z = rng.normal(2.0, 3.0, N_ROWS), rng.normal(size=N_ROWS)
    y = (rng.random(N_ROWS) < _logistic(INTERCEPT + WEIGHT * x / 3.0)).astype(np.int64)
    return pd.DataFrame({"x": x, "z": z, "y": y})


@pytest.fixture(scope="module")
def hand_set_profile(linear_rows: pd.DataFrame) -> SensitivityProfile:
    """A logistic regression set by hand: logit = INTERCEPT + WEIGHT·x + 0·z."""
    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array([[WEIGHT, 0.0]])
    model.intercept_ = np.array([INTERCEPT])
    model.n_features_in_ = 2
    model.feature_names_in_ = np.array(["x", "z"], dtype=object)
    schema = InputSchema((FeatureSpec("x", "numeric", False), FeatureSpec("z", "numeric", False)))
    return compute_sensitivity(model, linear_rows, linear_rows["y"], schema, threshold=THRESHOLD)


def _single(profile: SensitivityProfile, feature: str, perturbation: str) -> list[SensitivityPoint]:
    return [p for p in profile.points if p.features == (feature,) and p.perturbation == perturbation]


def test_a_feature_with_zero_coefficient_changes_nothing(hand_set_profile: SensitivityProfile) -> None:
    points = [p for p in hand_set_profile.points if p.features == ("z",)]
    assert len(points) == 4 * len(NUMERIC_LEVELS)
    assert {(p.delta_auc, p.delta_log_loss, p.delta_positive_rate) for p in points} == {(0.0, 0.0, 0.0)}


def test_a_shift_moves_the_positive_rate_as_the_logistic_formula_predicts(
    linear_rows: pd.DataFrame, hand_set_profile: SensitivityProfile
) -> None:
    x = linear_rows["x"].to_numpy()
    sd = np.std(x, ddof=1)
    cut = math.log(THRESHOLD / (1.0 - THRESHOLD))
    before = np.mean(INTERCEPT + WEIGHT * x >= cut)
    for point in _single(hand_set_profile, "x", "shift"):
        after = np.mean(INTERCEPT + WEIGHT * (x + point.level * sd) >= cut)
        assert point.delta_positive_rate == pytest.approx(after - before, abs=1e-12)


def test_a_shift_moves_the_log_loss_as_the_logistic_formula_predicts(
    linear_rows: pd.DataFrame, hand_set_profile: SensitivityProfile
) -> None:
    x, y = linear_rows["x"].to_numpy(), linear_rows["y"].to_numpy()
    sd = np.std(x, ddof=1)

    def log_loss(logit: np.ndarray[Any, Any]) -> float:
        return float(np.mean(np.logaddexp(0.0, logit) - y * logit))

    for point in _single(hand_set_profile, "x", "shift"):
        expected = log_loss(INTERCEPT + WEIGHT * (x + point.level * sd)) - log_loss(INTERCEPT + WEIGHT * x)
        assert point.delta_log_loss == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_shift_of_level_l_measures_a_normalised_wasserstein_distance_of_l(
    hand_set_profile: SensitivityProfile,
) -> None:
    points = _single(hand_set_profile, "x", "shift")
    assert sorted(p.level for p in points) == sorted([*NUMERIC_LEVELS, *(-level for level in NUMERIC_LEVELS)])
    for point in points:
        assert point.effect_size == pytest.approx(abs(point.level), rel=1e-9)


def test_effect_sizes_are_what_the_drift_suite_measures() -> None:
    rng = np.random.default_rng(3)
    n = 1500
    frame = pd.DataFrame(
        {
            "income": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(3.0, 0.7, n)),
            "plan": pd.array(
                rng.choice(["basic", "pro", "team", "solo", "max", "rare"], n, p=[0.4, 0.2, 0.2, 0.1, 0.098, 0.002]),
                dtype="str",
            ),
        }
    )
    profile = ReferenceProfiler(sample_size=n).fit(frame, schema={"income": "numeric", "plan": "categorical"}).profile_
    suite = UnivariateDrift(DriftConfig(multivariate=False, min_samples=2)).fit(profile)
    numeric = sens._numeric_perturbations(frame["income"].to_numpy())
    categorical = sens._categorical_perturbations(frame["plan"].to_numpy(dtype=object, na_value=np.nan), rng)
    assert numeric is not None
    assert categorical is not None
    for index in range(len(numeric.labels)):
        current = pd.DataFrame({"income": numeric.values[index], "plan": frame["plan"]})
        measured = suite.score_features(current)[0].distribution.effect_size
        assert numeric.effects[index] == pytest.approx(measured, rel=1e-12)
    for index in range(len(categorical.labels)):
        current = pd.DataFrame({"income": frame["income"], "plan": categorical.values[index]})
        measured = suite.score_features(current)[1].distribution.effect_size
        assert categorical.effects[index] == pytest.approx(measured, rel=1e-12)


def test_a_category_share_rises_by_the_level_and_missing_values_stay_missing() -> None:
    values = np.array(["a"] * 600 + ["b"] * 300 + [np.nan] * 100, dtype=object)
    made = sens._categorical_perturbations(values, np.random.default_rng(0))
    assert made is not None
    for row, (perturbation, level) in zip(made.values, made.labels, strict=True):
        category = perturbation.removeprefix("share:")
        assert pd.isna(row[900:]).all()
        assert np.mean(row[:900] == category) - np.mean(values[:900] == category) == pytest.approx(level, abs=1 / 900)


@pytest.fixture(scope="module")
def single_feature_model(linear_rows: pd.DataFrame) -> tuple[Any, InputSchema]:
    """The default spec's logistic regression on x alone, fitted on the very rows it is then perturbed on."""
    schema = InputSchema((FeatureSpec("x", "numeric", False),))
    return fitting.fit_model(linear_rows, schema, model_spec.ModelSpec(target="y")), schema


def test_a_shift_of_the_only_feature_keeps_the_auc_and_raises_the_log_loss(
    linear_rows: pd.DataFrame, single_feature_model: tuple[Any, InputSchema]
) -> None:
    # A shift of x is a change of the intercept alone, which the fit chose to minimise the log loss on these rows
    # (the intercept is not penalised); the scores stay in the same order.
    model, schema = single_feature_model
    profile = compute_sensitivity(model, linear_rows, linear_rows["y"], schema, threshold=THRESHOLD)
    shifts = _single(profile, "x", "shift")
    assert [p.delta_auc for p in shifts] == [0.0] * len(shifts)
    assert all(p.delta_log_loss > 0.0 for p in shifts)


def test_a_rescale_of_the_only_feature_keeps_the_auc(
    linear_rows: pd.DataFrame, single_feature_model: tuple[Any, InputSchema]
) -> None:
    model, schema = single_feature_model
    profile = compute_sensitivity(model, linear_rows, linear_rows["y"], schema, threshold=THRESHOLD)
    rescales = _single(profile, "x", "rescale")
    assert len(rescales) == 2 * len(NUMERIC_LEVELS)
    assert [p.delta_auc for p in rescales] == [0.0] * len(rescales)


def test_moving_the_shares_of_a_feature_the_model_ignores_changes_nothing(linear_rows: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    frame = linear_rows.assign(plan=rng.choice(["basic", "pro", "team"], len(linear_rows)))
    schema = model_spec.infer_input_schema(frame[["x", "plan", "y"]], target="y")
    model = fitting.fit_model(frame, schema, model_spec.ModelSpec(target="y"))
    model[-1].coef_[:, 1:] = 0.0  # the one-hot columns of plan follow the scaled x
    profile = compute_sensitivity(model, frame, frame["y"], schema, threshold=THRESHOLD)
    shares = [p for p in profile.points if p.features == ("plan",)]
    assert len(shares) == 3 * len(SHARE_LEVELS)
    assert {(p.delta_auc, p.delta_log_loss, p.delta_positive_rate) for p in shares} == {(0.0, 0.0, 0.0)}
    assert all(p.effect_size > 0.0 for p in shares)


def test_a_feature_without_spread_is_not_profiled(linear_rows: pd.DataFrame) -> None:
    frame = linear_rows.assign(z=1.0)
    schema = InputSchema((FeatureSpec("x", "numeric", False), FeatureSpec("z", "numeric", False)))
    model = fitting.fit_model(frame, schema, model_spec.ModelSpec(target="y"))
    profile = compute_sensitivity(model, frame, frame["y"], schema, threshold=THRESHOLD)
    assert profile.features() == ("x",)
    assert profile.cost("z", 0.1) is None


def test_at_most_max_rows_are_used_keeping_both_classes(
    linear_rows: pd.DataFrame, single_feature_model: tuple[Any, InputSchema]
) -> None:
    model, schema = single_feature_model
    profile = compute_sensitivity(model, linear_rows, linear_rows["y"], schema, threshold=THRESHOLD, max_rows=300)
    assert profile.n_rows == 300
    assert math.isfinite(profile.baseline["auc"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros(N_ROWS), "both classes"),
        (np.full(N_ROWS, 2.0), "0 or 1"),
        (np.r_[np.nan, np.ones(N_ROWS - 1)], "0 or 1"),
        (pd.array([pd.NA, *[1] * (N_ROWS - 1)], dtype="Int64"), "0 or 1"),
        (np.ones(10), "one label per row"),
    ],
)
def test_bad_labels_are_refused(
    linear_rows: pd.DataFrame, single_feature_model: tuple[Any, InputSchema], labels: Any, message: str
) -> None:
    model, schema = single_feature_model
    with pytest.raises(ValueError, match=message):
        compute_sensitivity(model, linear_rows, labels, schema, threshold=THRESHOLD)


# --- cost and floor --------------------------------------------------------------------------------------------------


def _point(feature: str, perturbation: str, level: float, effect: float, delta_auc: float) -> SensitivityPoint:
    return SensitivityPoint((feature,), perturbation, level, effect, delta_auc, 0.0, 0.0)


def _profile(points: list[SensitivityPoint]) -> SensitivityProfile:
    return SensitivityProfile(
        n_rows=100, seconds=0.5, baseline={"auc": 0.8, "log_loss": 0.4, "positive_rate": 0.2}, points=tuple(points)
    )


@pytest.fixture
def drawn() -> SensitivityProfile:
    """Shift losses 0.01, 0.005, 0.03 at effects 0.1, 0.2, 0.4 (not monotone); rescale 0.02 at 0.1."""
    return _profile(
        [
            _point("a", "shift", 0.1, 0.1, -0.01),
            _point("a", "shift", -0.2, 0.2, -0.005),
            _point("a", "shift", 0.4, 0.4, -0.03),
            _point("a", "rescale", 0.1, 0.1, -0.02),
            _point("b", "share:x", 0.1, 0.3, 0.004),  # an AUC gain is no loss
        ]
    )


def test_cost_interpolates_the_monotone_envelope_and_is_flat_beyond_the_largest_level(
    drawn: SensitivityProfile,
) -> None:
    assert drawn.cost("a", 0.0) == 0.0
    assert drawn.cost("a", 0.05) == pytest.approx(0.01)  # rescale: halfway to 0.02
    assert drawn.cost("a", 0.2) == pytest.approx(0.02)  # shift's envelope keeps 0.01, rescale is flat at 0.02
    assert drawn.cost("a", 0.3) == pytest.approx(0.02)  # shift: halfway from 0.01 to 0.03
    assert drawn.cost("a", 0.35) == pytest.approx(0.025)
    assert drawn.cost("a", 5.0) == pytest.approx(0.03)
    assert drawn.cost("b", 1.0) == 0.0


def test_floor_is_the_smallest_effect_size_whose_cost_reaches_the_margin(drawn: SensitivityProfile) -> None:
    assert drawn.floor("a", 0.01) == pytest.approx(0.05)
    assert drawn.floor("a", 0.025) == pytest.approx(0.35)
    assert drawn.floor("a", 0.0) == 0.0


def test_floor_is_none_when_no_level_costs_the_margin(drawn: SensitivityProfile) -> None:
    assert drawn.floor("a", 0.05) is None
    assert drawn.floor("b", 0.001) is None


def test_an_unknown_feature_has_no_cost_and_no_floor(drawn: SensitivityProfile) -> None:
    assert drawn.cost("nope", 0.1) is None
    assert drawn.floor("nope", 0.01) is None
    assert drawn.features() == ("a", "b")


def test_the_table_reports_the_largest_loss_at_each_level(drawn: SensitivityProfile) -> None:
    rows = {row["feature"]: row for row in drawn.table()}
    assert rows["a"]["auc_loss_at_0.1"] == pytest.approx(0.02)
    assert rows["a"]["auc_loss_at_0.01"] == 0.0
    assert rows["a"]["max_auc_loss"] == pytest.approx(0.03)
    assert (rows["a"]["worst_perturbation"], rows["b"]["kind"]) == ("shift", "categorical")
    assert [row["feature"] for row in drawn.table()] == ["a", "b"]


_losses = st.lists(
    st.tuples(
        st.sampled_from(["shift", "rescale", "share:c"]),
        st.floats(0.001, 2.0),
        st.floats(-0.1, 0.1),
    ),
    min_size=1,
    max_size=12,
)


@given(_losses, st.floats(0.0, 3.0), st.floats(0.0, 3.0), st.floats(1e-4, 0.1))
def test_cost_never_falls_as_the_effect_grows_and_floor_inverts_it(
    drawn_points: list[tuple[str, float, float]], first: float, second: float, margin: float
) -> None:
    profile = _profile([_point("f", kind, 0.1, effect, delta) for kind, effect, delta in drawn_points])
    low, high = sorted((first, second))
    low_cost, high_cost = profile.cost("f", low), profile.cost("f", high)
    assert low_cost is not None
    assert high_cost is not None
    assert low_cost <= high_cost
    floor = profile.floor("f", margin)
    if floor is None:
        assert max(low_cost, high_cost, profile.cost("f", 1e6) or 0.0) < margin
        return
    at, before = profile.cost("f", floor), profile.cost("f", floor * (1 - 1e-6))
    assert at == pytest.approx(margin, rel=1e-6)
    assert before is not None
    assert before <= margin * (1 + 1e-9)


# --- JSON ------------------------------------------------------------------------------------------------------------


def test_json_round_trip_gives_the_same_profile(hand_set_profile: SensitivityProfile) -> None:
    text = json.dumps(hand_set_profile.to_json(), allow_nan=False)
    assert SensitivityProfile.from_json(json.loads(text)) == hand_set_profile


def _valid_document() -> dict[str, Any]:
    return _profile(
        [_point("a", "shift", 0.1, 0.1, -0.01), SensitivityPoint(("a", "b"), "shift+shift", -0.1, 0.1, 0.0, 0.0, 0.0)]
    ).to_json()


def _mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = _valid_document()
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    "document",
    [
        pytest.param([], id="not-an-object"),
        pytest.param(_mutated(("format_version",), 2), id="unknown-version"),
        pytest.param(_mutated(("seconds",), KeyError), id="missing-key"),
        pytest.param(_mutated(("extra",), 1), id="unknown-key"),
        pytest.param(_mutated(("n_rows",), True), id="n-rows-bool"),
        pytest.param(_mutated(("n_rows",), 0), id="n-rows-zero"),
        pytest.param(_mutated(("seconds",), -1.0), id="negative-seconds"),
        pytest.param(_mutated(("baseline", "auc"), KeyError), id="baseline-missing-metric"),
        pytest.param(_mutated(("baseline", "auc"), "0.8"), id="baseline-text"),
        pytest.param(_mutated(("points",), {}), id="points-not-a-list"),
        pytest.param(_mutated(("points", 0, "features"), ["a", "b", "c"]), id="three-features"),
        pytest.param(_mutated(("points", 0, "features"), ["a", "a"]), id="repeated-feature"),
        pytest.param(_mutated(("points", 0, "features"), "a"), id="features-not-a-list"),
        pytest.param(_mutated(("points", 0, "perturbation"), "wiggle"), id="unknown-perturbation"),
        pytest.param(_mutated(("points", 0, "perturbation"), "share:"), id="share-without-category"),
        pytest.param(_mutated(("points", 0, "delta_auc"), float("nan")), id="nan-delta"),
        pytest.param(_mutated(("points", 0, "effect_size"), -0.1), id="negative-effect"),
        pytest.param(_mutated(("points", 0, "level"), None), id="level-null"),
        pytest.param(_mutated(("points", 1, "delta_log_loss"), KeyError), id="point-missing-key"),
    ],
)
def test_from_json_refuses_malformed_documents(document: Any) -> None:
    with pytest.raises(SensitivityFormatError):
        SensitivityProfile.from_json(document)


# --- rendering -------------------------------------------------------------------------------------------------------


def test_render_svg_draws_one_line_per_perturbation_kind(drawn: SensitivityProfile) -> None:
    svg = render_svg(drawn, "a")
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<polyline") == 2


def test_render_svg_of_an_unprofiled_feature_raises(drawn: SensitivityProfile) -> None:
    with pytest.raises(KeyError):
        render_svg(drawn, "nope")


def test_render_html_escapes_names(drawn: SensitivityProfile) -> None:
    hostile = _profile([_point("<b>&", "share:<script>", 0.1, 0.2, -0.01), *drawn.points])
    html = render_html(hostile)
    assert "<script>" not in html
    assert "<b>&" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;&amp;" in html
    assert html.count("<svg") == 3


# --- the project's gradient-boosting model ---------------------------------------------------------------------------


def test_a_gradient_boosting_profile_covers_every_feature_and_ranks_the_noise_feature_low() -> None:
    train, holdout = generate_churn(3000, seed=11), generate_churn(3000, seed=12)
    schema = model_spec.infer_input_schema(train, target=TARGET, all_nullable=True)
    with threadpool_limits(limits=1):  # small fits and predictions are dominated by thread synchronisation
        model = fitting.fit_model(train, schema, model_spec.ModelSpec(kind="hist_gradient_boosting"))
        profile = compute_sensitivity(model, holdout, holdout[TARGET], schema, threshold=0.3)
    assert profile.n_rows == 3000
    assert profile.features() == schema.names
    pairs = {p.features for p in profile.points if len(p.features) == 2}
    assert len(pairs) == 3
    assert all(math.isfinite(p.effect_size) and p.effect_size > 0.0 for p in profile.points)
    losses = {row["feature"]: row["max_auc_loss"] for row in profile.table()}
    assert losses["contract"] > losses["region"]  # region has no effect on churn in the generating model
    assert profile.seconds > 0.0
