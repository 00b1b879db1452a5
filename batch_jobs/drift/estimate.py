"""Label-free performance estimation for a binary classifier: confidence-based performance estimation (CBPE).

The method is the one NannyML published as Confidence-based Performance Estimation (its documentation, "How it
works: performance estimation"): when a model's scores are calibrated probabilities, each row of a production window
is a positive with probability p = P(y = 1 | x), so any metric's *expected* value over the window follows from the
scores alone, before a single label has matured. Raw scores are rarely calibrated, so, as NannyML does, a monotone
isotonic map from raw score to probability is fitted on the champion's holdout at training time (`ScoreCalibrator`)
and applied to the window's scores. This module implements the method from that description; it does not use
nannyml.

The expected metrics of n rows with raw scores s_i and calibrated probabilities p_i (q_i = 1 − p_i), each row's label
an independent Bernoulli(p_i):

- expected AUC = Σ_{i≠j} p_i q_j ([s_i > s_j] + [s_i = s_j] / 2) / (Σ_i p_i · Σ_j q_j − Σ_i p_i q_i): the expected
  Mann–Whitney count of correctly ordered (positive, negative) pairs over the expected number of such pairs, a ratio
  of expectations (the expectation of the ratio has no closed form; the two differ by O(1/n)). Rows are ranked by the
  raw score, as the model ranks them, with ties counting one half as in `batch_jobs.metrics.RankedScores.auc`.
  NannyML instead takes the area under the expected ROC curve over thresholds of the calibrated probability; that
  counts each row paired with itself and lets the calibrator's flat steps tie rows the model tells apart. The sum
  is computed exactly in O(n log n) from cumulative sums over the scores sorted once;
- expected log loss = mean of −[p_i ln s_i + q_i ln(1 − s_i)], s clipped as `batch_jobs.metrics.row_losses` clips
  (the log loss is linear in the label, so its expectation is the loss at y = p);
- expected positive rate = mean of p_i, the outcome rate the window is expected to show.

Each metric carries two intervals at `confidence_level`:

- `ci_low`/`ci_high`: for the expected metric of the population the window was sampled from. A Poisson(1)
  bootstrap over the window's rows (`batch_jobs.metrics.poisson_counts`) recomputes the expected metrics under each
  replicate's row counts, without materialising a resample (a row counted w times is w tied copies of itself); the
  percentile interval of the replicates. It reflects which rows the window happened to hold, not label noise.
- `realised_low`/`realised_high`: a prediction interval for the metric the matured labels of *exactly these rows*
  will show if the assumption holds. Monte Carlo: `n_bootstrap` label draws y_i ~ Bernoulli(p_i); the percentile
  interval of their realised metrics. It is the band to hold the realised metric against once labels arrive. A
  draw's metrics are the expected metrics at p = y, which are exactly `batch_jobs.metrics`' AUC (ties one half) and
  log loss of those labels (the tests hold the two to each other); a block of draws goes through the same
  vectorised pass as the bootstrap. (`RankedScores` fixes the labels and varies row weights; scoring label draws
  through it means entering every row twice, once per class, which measured 2–7 times slower.)

The assumption (`ASSUMPTION`, stated in every result): no concept shift, so P(y | x) is what it was on the holdout the
calibrator was fitted on, and the calibration transfers to the window (NannyML's caveat too: inputs from regions the
holdout never covered may be mis-calibrated). A shift in the inputs alone (covariate shift) is what the method
handles; under concept shift the estimate is wrong, and nothing computed from scores can tell: only matured labels
can.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression

from batch_jobs.drift.results import finite_or_none
from batch_jobs.metrics import percentile_interval, poisson_counts, row_losses, tie_group_starts

FloatArray = NDArray[np.float64]

#: The estimated metrics, in the order of `EstimatedPerformance.metrics`.
METRICS: Final = ("auc", "log_loss", "positive_rate")
#: Calibrated probabilities are kept within [PROBABILITY_FLOOR, 1 − PROBABILITY_FLOOR]: a holdout never proves a
#: probability of exactly 0 or 1, and a finite holdout cannot tell probabilities closer to them apart.
PROBABILITY_FLOOR: Final = 1e-4
#: The sentence every estimate carries: what it assumes, and what would make it wrong.
ASSUMPTION: Final = (
    "Estimated without labels from calibrated scores: assumes no concept shift (P(y|x) unchanged since the holdout "
    "the score calibrator was fitted on) and that the calibration transfers to these rows; under concept shift the "
    "estimate is wrong, and only matured labels can tell."
)
# Upper bound on replicates × rows held at once (each block holds a few float64 arrays of this many cells).
_BLOCK_CELLS: Final = 1_000_000


def _finite_vector(values: ArrayLike, what: str) -> FloatArray:
    """`values` as a non-empty 1-D float64 array of finite numbers, else ValueError naming `what`."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {array.shape}")
    if not array.size:
        raise ValueError(f"{what} are empty")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain {int((~np.isfinite(array)).sum())} non-finite value(s) (NaN or infinity)")
    return array


def _finite_float(value: Any) -> float:
    """A JSON number back as a float; None (how a non-finite number is written) as NaN."""
    return math.nan if value is None else float(value)


@dataclass(frozen=True, slots=True)
class ScoreCalibrator:
    """Monotone map from the model's raw score to a calibrated probability, fitted on the champion's holdout at
    training time.

    Piecewise linear between `knots` (raw scores, strictly increasing) and `values` (the calibrated probability at
    each knot, non-decreasing, within [PROBABILITY_FLOOR, 1 − PROBABILITY_FLOOR]); constant beyond the end knots.
    """

    knots: tuple[float, ...]
    values: tuple[float, ...]
    n_rows: int
    method: str = "isotonic"

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if self.method != "isotonic":
            raise ValueError(f"unknown calibration method {self.method!r}; expected 'isotonic'")
        if not knots.size or knots.shape != values.shape:
            raise ValueError(
                f"a calibrator needs as many values as knots, at least one: {knots.size} and {values.size}"
            )
        if not (np.isfinite(knots).all() and np.isfinite(values).all()):
            raise ValueError("calibrator knots and values must be finite")
        if (np.diff(knots) <= 0).any():
            raise ValueError("calibrator knots must be strictly increasing")
        if (np.diff(values) < 0).any():
            raise ValueError("calibrator values must be non-decreasing")
        if values.min() < PROBABILITY_FLOOR or values.max() > 1.0 - PROBABILITY_FLOOR:
            raise ValueError(f"calibrator values must lie in [{PROBABILITY_FLOOR}, {1.0 - PROBABILITY_FLOOR}]")
        if isinstance(self.n_rows, bool) or not isinstance(self.n_rows, int) or self.n_rows < 1:
            raise ValueError(f"n_rows must be a positive integer, got {self.n_rows!r}")

    @classmethod
    def fit(cls, scores: ArrayLike, labels: ArrayLike) -> ScoreCalibrator:
        """Fit the isotonic regression of 0/1 `labels` on raw `scores` (scikit-learn's, clipped outside the scores
        seen), kept as its knots only; ValueError on empty, non-finite or mismatched input or a single class."""
        x = _finite_vector(scores, "calibration scores")
        y = _finite_vector(labels, "calibration labels")
        if x.size != y.size:
            raise ValueError(f"calibration scores and labels differ in length: {x.size} and {y.size}")
        if not np.isin(y, (0.0, 1.0)).all():
            raise ValueError("calibration labels must be 0 or 1")
        if np.unique(y).size < 2:
            raise ValueError(f"calibration labels hold one class only ({int(y[0])}); a calibrator needs both")
        isotonic = IsotonicRegression(out_of_bounds="clip").fit(x, y)
        knots = np.asarray(isotonic.X_thresholds_, dtype=np.float64)
        values = np.clip(np.asarray(isotonic.y_thresholds_, dtype=np.float64), PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
        # Clipping can flatten neighbouring steps: keep the end knots and every knot whose value differs from a
        # neighbour's (scikit-learn's own rule), so the map is unchanged and the knots are few.
        keep = np.ones(knots.size, dtype=bool)
        keep[1:-1] = (values[1:-1] != values[:-2]) | (values[1:-1] != values[2:])
        return cls(knots=tuple(knots[keep].tolist()), values=tuple(values[keep].tolist()), n_rows=int(x.size))

    def __call__(self, scores: ArrayLike) -> FloatArray:
        """The calibrated probability of each raw score (linear between knots, the end values beyond them)."""
        values = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("scores to calibrate contain non-finite values (NaN or infinity)")
        calibrated: FloatArray = np.interp(values, self.knots, self.values)
        return calibrated

    def to_json(self) -> dict[str, Any]:
        """The calibrator as JSON-compatible data."""
        return {"method": self.method, "n_rows": self.n_rows, "knots": list(self.knots), "values": list(self.values)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ScoreCalibrator:
        """Rebuild a calibrator from `to_json()` output; ValueError if a field is missing or invalid."""
        try:
            knots, values = document["knots"], document["values"]
            n_rows, method = document["n_rows"], document["method"]
        except KeyError as error:
            raise ValueError(f"calibrator document lacks field {error.args[0]!r}") from error
        if not isinstance(knots, list | tuple) or not isinstance(values, list | tuple):
            raise ValueError("calibrator knots and values must be lists of numbers")
        if not isinstance(method, str):
            raise ValueError(f"calibrator method must be a string, got {method!r}")
        try:
            return cls(knots=tuple(map(float, knots)), values=tuple(map(float, values)), n_rows=n_rows, method=method)
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid calibrator document: {error}") from error


@dataclass(frozen=True, slots=True)
class EstimatedMetric:
    """One metric estimated without labels, with its two intervals (see the module docstring)."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    realised_low: float
    realised_high: float

    def to_json(self) -> dict[str, Any]:
        """The metric as strict JSON data (a non-finite number, possible only for a degenerate window, is None)."""
        return {
            "name": self.name,
            "value": finite_or_none(self.value),
            "ci_low": finite_or_none(self.ci_low),
            "ci_high": finite_or_none(self.ci_high),
            "realised_low": finite_or_none(self.realised_low),
            "realised_high": finite_or_none(self.realised_high),
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> EstimatedMetric:
        """Rebuild the metric from `to_json()` output."""
        return cls(
            name=str(document["name"]),
            value=_finite_float(document["value"]),
            ci_low=_finite_float(document["ci_low"]),
            ci_high=_finite_float(document["ci_high"]),
            realised_low=_finite_float(document["realised_low"]),
            realised_high=_finite_float(document["realised_high"]),
        )


@dataclass(frozen=True, slots=True)
class EstimatedPerformance:
    """The expected metrics of one window's rows, estimated from calibrated scores alone."""

    n_rows: int
    confidence_level: float
    n_bootstrap: int
    metrics: tuple[EstimatedMetric, ...]
    assumption: str = ASSUMPTION

    def metric(self, name: str) -> EstimatedMetric:
        """The estimated metric called `name`; KeyError if it was not estimated."""
        for item in self.metrics:
            if item.name == name:
                return item
        raise KeyError(f"no estimated metric {name!r}; estimated: {[item.name for item in self.metrics]}")

    def to_json(self) -> dict[str, Any]:
        """The estimate as strict JSON data."""
        return {
            "n_rows": self.n_rows,
            "confidence_level": self.confidence_level,
            "n_bootstrap": self.n_bootstrap,
            "metrics": [item.to_json() for item in self.metrics],
            "assumption": self.assumption,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> EstimatedPerformance:
        """Rebuild the estimate from `to_json()` output."""
        return cls(
            n_rows=int(document["n_rows"]),
            confidence_level=float(document["confidence_level"]),
            n_bootstrap=int(document["n_bootstrap"]),
            metrics=tuple(EstimatedMetric.from_json(item) for item in document["metrics"]),
            assumption=str(document["assumption"]),
        )


class _RankedProbabilities:
    """Raw scores sorted once, with each row's calibrated probability, so that the expected metrics under any row
    weighting, and the realised metrics of any label draws (replicates × rows, rank order), are a few vectorised
    passes."""

    def __init__(self, scores: FloatArray, probabilities: FloatArray) -> None:
        order = np.argsort(scores, kind="stable")
        self.scores: FloatArray = scores[order]
        self.p: FloatArray = probabilities[order]
        self.q: FloatArray = 1.0 - self.p
        self.pq: FloatArray = self.p * self.q
        # Each row's log loss as a positive and as a negative (clipped as the metrics engine clips). The loss is
        # linear in the label, so a row's expected loss is its loss at y = p.
        self.loss_if_positive: FloatArray = row_losses("log_loss", np.ones(self.scores.size), self.scores)
        self.loss_if_negative: FloatArray = row_losses("log_loss", np.zeros(self.scores.size), self.scores)
        self.expected_loss: FloatArray = self.p * self.loss_if_positive + self.q * self.loss_if_negative
        self.group_starts = tie_group_starts(self.scores)

    @property
    def size(self) -> int:
        """The number of rows."""
        return int(self.scores.size)

    def _auc(self, positive: FloatArray, negative: FloatArray, self_pairs: FloatArray) -> FloatArray:
        """Σ_{i≠j} positive_i negative_j ([s_i > s_j] + [s_i = s_j] / 2) / (Σ positive · Σ negative − self_pairs) for
        each row of the (replicates × rows, rank order) masses; NaN where the denominator is not positive.

        With P_g, N_g the masses summed over group g of tied scores and C_g the running sum of N up to and including
        g, the numerator Σ_g P_g (N below g) + (P_g N_g − self pairs in g) / 2 is Σ_g P_g (C_g − N_g / 2) −
        self_pairs / 2.
        """
        if self.group_starts is None:
            group_positive, group_negative = positive, negative
        else:
            group_positive = np.add.reduceat(positive, self.group_starts, axis=1)
            group_negative = np.add.reduceat(negative, self.group_starts, axis=1)
        running = np.cumsum(group_negative, axis=1)
        running -= 0.5 * group_negative
        numerator = np.einsum("ij,ij->i", group_positive, running) - 0.5 * self_pairs
        denominator = positive.sum(axis=1) * negative.sum(axis=1) - self_pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            auc: FloatArray = np.where(denominator > 0, numerator / denominator, np.nan)
        return auc

    def expected(self, weights: FloatArray) -> dict[str, FloatArray]:
        """The expected metrics when row j counts `weights[r, j]` times (as that many tied copies of itself, a copy
        never paired with itself), each copy positive with its probability p."""
        weighted_p = weights * self.p
        self_pairs = weights @ self.pq
        total = weights.sum(axis=1)
        return {
            "auc": self._auc(weighted_p, weights * self.q, self_pairs),
            "log_loss": (weights @ self.expected_loss) / total,
            "positive_rate": weighted_p.sum(axis=1) / total,
        }

    def realised(self, labels: FloatArray) -> dict[str, FloatArray]:
        """The metrics each row of 0/1 `labels` realises: the expected metrics at probabilities equal to the labels,
        which are `batch_jobs.metrics`' AUC (ties one half) and log loss of those labels."""
        log_loss = (labels @ (self.loss_if_positive - self.loss_if_negative) + self.loss_if_negative.sum()) / self.size
        return {
            "auc": self._auc(labels, 1.0 - labels, np.zeros(labels.shape[0])),
            "log_loss": log_loss,
            "positive_rate": labels.mean(axis=1),
        }


def expected_metrics(scores: ArrayLike, probabilities: ArrayLike) -> dict[str, float]:
    """The expected AUC, log loss and positive rate of rows with raw `scores` whose labels are independent
    Bernoulli(`probabilities`) draws: exact, O(n log n).

    Rows are ranked by the raw score (ties count one half). The expected AUC is the ratio of expectations
    Σ_{i≠j} p_i (1 − p_j) ([s_i > s_j] + [s_i = s_j] / 2) / (Σ p · Σ (1 − p) − Σ p (1 − p)), not the expectation of
    the ratio (they differ by O(1/n)); with 0/1 probabilities it is the AUC of those labels. The expected log loss is
    the mean of −[p ln s + (1 − p) ln(1 − s)] (s clipped as `row_losses` clips), the positive rate the mean of p.
    ValueError on empty, non-finite or mismatched input, probabilities outside [0, 1], or rows that cannot hold both
    classes (the expected AUC would be undefined).
    """
    s = _finite_vector(scores, "scores")
    p = _finite_vector(probabilities, "probabilities")
    if s.size != p.size:
        raise ValueError(f"scores and probabilities differ in length: {s.size} and {p.size}")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError("probabilities must lie in [0, 1]")
    values = _RankedProbabilities(s, p).expected(np.ones((1, s.size)))
    result = {name: float(values[name][0]) for name in METRICS}
    if not math.isfinite(result["auc"]):
        raise ValueError("the expected AUC is undefined: no two rows can be a positive and a negative")
    return result


def _realised_replicates(ranked: _RankedProbabilities, n_draws: int, rng: np.random.Generator) -> dict[str, FloatArray]:
    """The realised metrics of `n_draws` label draws y ~ Bernoulli(p), in blocks."""
    block = max(1, _BLOCK_CELLS // ranked.size)
    parts: dict[str, list[FloatArray]] = {name: [] for name in METRICS}
    for start in range(0, n_draws, block):
        size = min(block, n_draws - start)
        labels = (rng.random((size, ranked.size)) < ranked.p).astype(np.float64)
        for name, values in ranked.realised(labels).items():
            parts[name].append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _bootstrap_replicates(
    ranked: _RankedProbabilities, n_bootstrap: int, rng: np.random.Generator
) -> dict[str, FloatArray]:
    """The expected metrics under `n_bootstrap` Poisson(1) bootstrap replicates of the rows, in blocks."""
    block = max(1, _BLOCK_CELLS // ranked.size)
    parts: dict[str, list[FloatArray]] = {name: [] for name in METRICS}
    for start in range(0, n_bootstrap, block):
        size = min(block, n_bootstrap - start)
        # The counts are independent across rows, so they are drawn straight in rank order.
        counts = poisson_counts(rng, size, ranked.size).astype(np.float64)
        for name, values in ranked.expected(counts).items():
            parts[name].append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def estimate_performance(
    scores: ArrayLike,
    calibrator: ScoreCalibrator,
    *,
    confidence_level: float = 0.95,
    n_bootstrap: int = 200,
    random_state: int = 0,
) -> EstimatedPerformance:
    """Estimate a window's AUC, log loss and positive rate from its raw `scores` alone (see the module docstring).

    The value is `expected_metrics(scores, calibrator(scores))`; `ci_low`/`ci_high` is the percentile interval of
    `n_bootstrap` Poisson-bootstrap replicates over the rows, `realised_low`/`realised_high` that of `n_bootstrap`
    Monte Carlo label draws. The bootstrap and the label draws use independent streams spawned from `random_state`.
    ValueError on empty or non-finite scores, fewer than two rows, or invalid settings.
    """
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must lie in (0, 1), got {confidence_level}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be at least 1, got {n_bootstrap}")
    s = _finite_vector(scores, "scores")
    if s.size < 2:
        raise ValueError(f"estimating performance needs at least two rows, got {s.size}")
    probabilities = calibrator(s)
    point = expected_metrics(s, probabilities)
    ranked = _RankedProbabilities(s, probabilities)
    bootstrap_seed, labels_seed = np.random.SeedSequence(random_state).spawn(2)
    bootstrap = _bootstrap_replicates(ranked, n_bootstrap, np.random.default_rng(bootstrap_seed))
    realised = _realised_replicates(ranked, n_bootstrap, np.random.default_rng(labels_seed))
    metrics = []
    for name in METRICS:
        ci_low, ci_high = percentile_interval(bootstrap[name], confidence_level)
        realised_low, realised_high = percentile_interval(realised[name], confidence_level)
        metrics.append(
            EstimatedMetric(
                name=name,
                value=point[name],
                ci_low=ci_low,
                ci_high=ci_high,
                realised_low=realised_low,
                realised_high=realised_high,
            )
        )
    return EstimatedPerformance(
        n_rows=int(s.size),
        confidence_level=confidence_level,
        n_bootstrap=n_bootstrap,
        metrics=tuple(metrics),
    )
