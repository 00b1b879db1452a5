"""Human review of a sample of live predictions: the sampling design, and performance estimated from the reviewed
labels with intervals that account for it. Pure: numpy arrays in, frozen dataclasses out.

**The design** (`ReviewDesign`). Predictions are split into strata by score at cut points (by default one: the
model's decision threshold, so "below" and "at or above"); a prediction of stratum h is reviewed with inclusion
probability π_h. The rates are chosen so that the top stratum's is `oversample` times the bottom one's (strata in
between on a geometric ladder) and the expected overall share of reviewed predictions is `share`, given the share of
traffic each stratum is expected to hold (`stratum_shares`; for the threshold split, the model's positive rate).
A rate that would exceed 1 is capped and the rest of the budget goes to the other strata. Example: share 5 %,
oversample 4, 10 % of traffic at or above the threshold: π = 3.8 % below and 15.4 % above, so the rare class, which
lives mostly above the threshold, gets about four times the reviews per prediction. A wrong `stratum_shares` only
moves the realised share away from `share`; the estimates below stay unbiased, since they use the realised counts.

Selection is deterministic by request id: a prediction is reviewed iff `core.lake.sample_key(request_id) <
sample_threshold(π_h)`, the lake's own sampling key, so a prediction logged twice is in or out as one, its label
joins on the same key, and `sql_condition` selects exactly the same rows in Athena or DuckDB. Given the number of
reviewed rows n_h of each stratum, this Bernoulli sample is a simple random sample within the stratum.

**The estimates** (`estimate_reviewed`): each reviewed row weighs N_h / n_h, the number of predictions of its stratum
(N_h, counted over the same window in the lake) per reviewed one (post-stratification on the known stratum counts):

- positive (outcome) rate: the stratified mean Σ_h (N_h / N) ȳ_h, with the normal-approximation interval on the
  stratified variance Σ_h (N_h / N)² (1 − n_h / N_h) s_h² / n_h (finite-population correction included);
- AUC: the weighted Mann–Whitney statistic (each positive–negative pair weighs w_i · w_j), log loss and Brier score:
  weighted means; each with the percentile interval of a stratified bootstrap (rows resampled with replacement
  within their stratum, n_h of them, the weights kept). The bootstrap ignores the finite-population correction, so
  with sampling fractions of a few per cent it is slightly conservative.

Dropping the weights would be wrong: oversampling high scores over-represents high-scoring negatives and positives
alike, and the unweighted AUC of the sample is then biased (the tests show it).

**The decay rule feed** (`reviewed_decay`): the AUC's interval against the champion's baseline minus a margin, as
the drift suite's rule on matured labels, with its own sample-size floor.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from batch_jobs.drift.config import DriftConfig
from batch_jobs.drift.results import PerformanceVerdict, finite_or_none, to_dict
from batch_jobs.metrics import BLOCK_CELLS, RankedScores, percentile_interval, row_losses
from core.lake import SAMPLE_KEY_SPACE, sample_key, sample_threshold
from core.settings import ReviewSettings

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: What every reviewed estimate assumes; stated in each result.
ASSUMPTION: Final = (
    "Design-based estimate from human-reviewed labels: the reviewed predictions are a probability sample drawn by "
    "the request id's hash (core.lake.sample_key) with a known inclusion probability per score stratum; reviewers' "
    "labels are correct; predictions selected but not (yet) reviewed are missing at random within their stratum "
    "(non-response ignorable within stratum); the stratum counts are those of the same window the sample was drawn "
    "from."
)
#: The estimated metrics, in the order of `ReviewedPerformance.metrics`.
METRICS: Final = ("positive_rate", "auc", "log_loss", "brier")
#: The drift suite's AUC margin on matured labels, the default for reviewed labels too.
DEFAULT_AUC_MARGIN: Final = DriftConfig().auc_margin
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _sql_number(value: float) -> str:
    """A float as a SQL literal both DuckDB and Athena read as the same DOUBLE: exponent form (a plain decimal is a
    DECIMAL literal in both), 17 significant digits (enough to round-trip any double)."""
    return f"{value:.16e}"


@dataclass(frozen=True, slots=True)
class ReviewDesign:
    """A stratified review sample: which share of predictions a human reviews, by score stratum.

    - `cut_points`: increasing score cut points; a score >= c is in the stratum above c. One cut point at the model's
      decision threshold gives the default two strata, "below" (0) and "at or above" (1).
    - `stratum_shares`: the share of predictions each stratum is expected to hold (one more than the cut points,
      each > 0, summing to 1); only used to turn `share` into per-stratum rates (`ReviewDesign.at_threshold` takes
      the model's positive rate).
    - `share`: the target overall share of predictions reviewed, 5 % by default.
    - `oversample`: the top stratum's inclusion probability over the bottom one's (4 by default: the rare class,
      above the threshold, is reviewed four times as often per prediction); strata in between get a geometric ladder.
      1 gives a plain, unstratified sample.
    """

    cut_points: tuple[float, ...]
    stratum_shares: tuple[float, ...]
    share: float = 0.05
    oversample: float = 4.0
    #: π_h per stratum, derived (bottom to top); the rate actually applied is `inclusion_probabilities`.
    rates: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        cuts = tuple(float(c) for c in self.cut_points)
        shares = tuple(float(s) for s in self.stratum_shares)
        object.__setattr__(self, "cut_points", cuts)
        object.__setattr__(self, "stratum_shares", shares)
        problems = []
        if not all(math.isfinite(c) for c in cuts) or any(b <= a for a, b in itertools.pairwise(cuts)):
            problems.append(f"cut_points must be finite and strictly increasing, got {cuts}")
        if len(shares) != len(cuts) + 1:
            problems.append(f"stratum_shares needs {len(cuts) + 1} values (one per stratum), got {len(shares)}")
        if not all(math.isfinite(s) and s > 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
            problems.append(f"stratum_shares must be > 0 and sum to 1, got {shares}")
        if not (math.isfinite(self.share) and 0 < self.share <= 1):
            problems.append(f"share must be in (0, 1], got {self.share}")
        if not (math.isfinite(self.oversample) and self.oversample >= 1):
            problems.append(f"oversample must be a finite number >= 1, got {self.oversample}")
        if problems:
            raise ValueError("invalid ReviewDesign: " + "; ".join(problems))
        object.__setattr__(self, "rates", _allocate(shares, self.share, self.oversample))

    @classmethod
    def at_threshold(
        cls, threshold: float, positive_rate: float, *, share: float = 0.05, oversample: float = 4.0
    ) -> ReviewDesign:
        """Two strata split at the model's decision `threshold`; `positive_rate` is the share of predictions
        expected at or above it (e.g. the champion's positive rate on its reference)."""
        if not 0 < positive_rate < 1:
            raise ValueError(f"positive_rate must be in (0, 1), got {positive_rate}")
        return cls((threshold,), (1.0 - positive_rate, positive_rate), share=share, oversample=oversample)

    @property
    def n_strata(self) -> int:
        """The number of strata (one more than the cut points)."""
        return len(self.cut_points) + 1

    @property
    def key_thresholds(self) -> tuple[int, ...]:
        """Per stratum, the `sample_key` bound below which a prediction is reviewed."""
        return tuple(sample_threshold(rate) for rate in self.rates)

    @property
    def inclusion_probabilities(self) -> tuple[float, ...]:
        """Per stratum, the exact inclusion probability the key bound realises (π_h up to 2⁻³²)."""
        return tuple(bound / SAMPLE_KEY_SPACE for bound in self.key_thresholds)

    def stratum_of(self, scores: ArrayLike) -> IntArray:
        """Each score's stratum (0 = lowest); a score equal to a cut point is in the stratum above it. ValueError on
        a non-finite score (the payload contract admits none; SQL engines order NaN differently)."""
        values = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"{int((~np.isfinite(values)).sum())} score(s) are not finite; strata need finite scores")
        strata: IntArray = np.searchsorted(np.asarray(self.cut_points), values, side="right").astype(np.int64)
        return strata

    def inclusion_probability(self, scores: ArrayLike) -> FloatArray:
        """Each prediction's probability of being reviewed, from its score."""
        probabilities: FloatArray = np.asarray(self.inclusion_probabilities)[self.stratum_of(scores)]
        return probabilities

    def select(
        self,
        scores: ArrayLike,
        *,
        sample_keys: ArrayLike | None = None,
        request_ids: Sequence[str] | None = None,
    ) -> NDArray[np.bool_]:
        """Which predictions are reviewed: sample key < the key bound of the score's stratum. Give the lake's
        `sample_keys` or the `request_ids` they come from (exactly one)."""
        if (sample_keys is None) == (request_ids is None):
            raise ValueError("give exactly one of sample_keys and request_ids")
        keys = keys_of(request_ids) if request_ids is not None else np.asarray(sample_keys, dtype=np.int64)
        strata = self.stratum_of(scores)
        if keys.shape != strata.shape:
            raise ValueError(f"{keys.size} sample keys for {strata.size} scores")
        selected: NDArray[np.bool_] = keys < np.asarray(self.key_thresholds, dtype=np.int64)[strata]
        return selected

    def sql_stratum(self, score_column: str = "score") -> str:
        """The stratum index (0 = lowest) of a row as a SQL expression, for counting N_h in the lake."""
        column = _identifier(score_column)
        if not self.cut_points:
            return "0"
        branches = " ".join(
            f"WHEN {column} >= {_sql_number(cut)} THEN {index + 1}"
            for index, cut in reversed(list(enumerate(self.cut_points)))
        )
        return f"CASE {branches} ELSE 0 END"

    def sql_condition(self, score_column: str = "score", key_column: str = "sample_key") -> str:
        """The selection as a SQL boolean expression over the lake's score and sample-key columns: the same rows as
        `select`, in DuckDB and in Athena (plain CASE, DOUBLE and BIGINT literals)."""
        column, key = _identifier(score_column), _identifier(key_column)
        bounds = self.key_thresholds
        if not self.cut_points:
            return f"({key} < {bounds[0]})"
        branches = " ".join(
            f"WHEN {column} >= {_sql_number(cut)} THEN {key} < {bounds[index + 1]}"
            for index, cut in reversed(list(enumerate(self.cut_points)))
        )
        return f"(CASE {branches} ELSE {key} < {bounds[0]} END)"

    def to_json(self) -> dict[str, Any]:
        """The design as JSON data, with its per-stratum rates."""
        return {
            "cut_points": list(self.cut_points),
            "stratum_shares": list(self.stratum_shares),
            "share": self.share,
            "oversample": self.oversample,
            "inclusion_probabilities": list(self.inclusion_probabilities),
            "key_thresholds": list(self.key_thresholds),
        }


def design_of(settings: ReviewSettings) -> ReviewDesign | None:
    """The stack's review design (`core.settings.ReviewSettings`: one cut point, the top stratum's expected share);
    None when no review sample is taken."""
    if not settings.enabled:
        return None
    return ReviewDesign(
        (settings.score_cut,),
        (1.0 - settings.top_share, settings.top_share),
        share=settings.share,
        oversample=settings.oversample,
    )


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL column name")
    return name


def _allocate(shares: tuple[float, ...], share: float, oversample: float) -> tuple[float, ...]:
    """Rates λ·r_h (r_h geometric from 1 to `oversample`) capped at 1, with λ such that Σ s_h·rate_h = `share`: the
    budget a capped stratum cannot use goes to the others (at most one pass per stratum)."""
    count = len(shares)
    relative = np.asarray([oversample ** (h / (count - 1)) if count > 1 else 1.0 for h in range(count)])
    weights = np.asarray(shares)
    capped = np.zeros(count, dtype=bool)
    rates = np.ones(count)
    for _ in range(count):  # each pass caps at least one more stratum or stops
        free = ~capped
        if not free.any():  # share 1: every stratum reviewed in full
            break
        scale = (share - weights[capped].sum()) / float((weights[free] * relative[free]).sum())
        rates = np.where(capped, 1.0, np.minimum(1.0, scale * relative))
        newly = free & (scale * relative >= 1.0)
        if not newly.any():
            break
        capped |= newly
    return tuple(float(rate) for rate in rates)


def keys_of(request_ids: Sequence[str]) -> IntArray:
    """The lake's sampling key of each request id (`core.lake.sample_key`)."""
    return np.fromiter((sample_key(request_id) for request_id in request_ids), dtype=np.int64, count=len(request_ids))


@dataclass(frozen=True, slots=True)
class StratumCount:
    """One stratum of a reviewed estimate: its predictions in the window, reviewed rows, their positives, and the
    weight (N_h / n_h) each reviewed row carries (None when none was reviewed)."""

    stratum: int
    population: int
    reviewed: int
    positives: int
    weight: float | None


@dataclass(frozen=True, slots=True)
class ReviewedMetric:
    """One metric estimated from reviewed labels; None where it cannot be estimated. `method` names the interval."""

    name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    method: str


@dataclass(frozen=True, slots=True)
class ReviewedPerformance:
    """Performance of the window's predictions, estimated from the reviewed sample (see the module docstring).

    `estimable` is False when a stratum holding predictions has fewer than two reviewed rows (its variance is
    unknown) or the reviewed rows lack a class (no AUC); the metrics are then None and `note` says why.
    """

    n_reviewed: int
    n_positive: int
    population: int
    strata: tuple[StratumCount, ...]
    confidence_level: float
    n_bootstrap: int
    metrics: tuple[ReviewedMetric, ...]
    estimable: bool
    note: str
    assumption: str = ASSUMPTION

    def metric(self, name: str) -> ReviewedMetric:
        """The metric called `name` (one of `METRICS`)."""
        for item in self.metrics:
            if item.name == name:
                return item
        raise KeyError(f"no reviewed metric {name!r}; estimated: {[item.name for item in self.metrics]}")

    def to_json(self) -> dict[str, Any]:
        """The estimate as strict JSON data (no NaN: undefined numbers are None)."""
        return to_dict(self)


def _validate_inputs(
    scores: ArrayLike, labels: ArrayLike, strata: ArrayLike, population_counts: Sequence[int]
) -> tuple[FloatArray, NDArray[np.bool_], IntArray, IntArray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    h = np.asarray(strata)
    counts = np.asarray(population_counts)
    if s.ndim != 1 or y.shape != s.shape or h.shape != s.shape:
        raise ValueError(f"scores, labels and strata must be 1-D of one length: {s.shape}, {y.shape}, {h.shape}")
    if counts.ndim != 1 or not counts.size:
        raise ValueError("population_counts must hold one count per stratum")
    if not (np.isfinite(s).all() and ((s >= 0) & (s <= 1)).all()):
        raise ValueError("scores must be finite probabilities in [0, 1]")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    if h.size and (not np.issubdtype(h.dtype, np.integer) or h.min() < 0 or h.max() >= counts.size):
        raise ValueError(f"strata must be integers in [0, {counts.size})")
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
        raise ValueError("population_counts must be non-negative integers")
    reviewed = np.bincount(h.astype(np.int64), minlength=counts.size)
    if (reviewed > counts).any():
        raise ValueError(f"more reviewed rows than predictions in a stratum: reviewed {reviewed}, counts {counts}")
    return s, y.astype(bool), h.astype(np.int64), counts.astype(np.int64)


def estimate_reviewed(
    scores: ArrayLike,
    labels: ArrayLike,
    strata: ArrayLike,
    population_counts: Sequence[int],
    *,
    confidence_level: float = 0.95,
    n_bootstrap: int = 500,
    random_state: int = 0,
) -> ReviewedPerformance:
    """Estimate the window's positive rate, AUC, log loss and Brier score from its reviewed rows.

    `scores`, `labels` (0/1) and `strata` (`ReviewDesign.stratum_of`) describe the reviewed rows;
    `population_counts[h]` is the number of the window's predictions in stratum h (`ReviewDesign.sql_stratum`
    grouped in the lake). The positive rate's interval is the normal approximation on the stratified variance with
    the finite-population correction; the others are percentile intervals of `n_bootstrap` stratified bootstrap
    replicates (`random_state` seeds them). ValueError on malformed input.
    """
    if not 0.0 < confidence_level < 1.0:
        raise ValueError(f"confidence_level must be in (0, 1), got {confidence_level}")
    if n_bootstrap < 10:
        raise ValueError(f"n_bootstrap must be at least 10, got {n_bootstrap}")
    s, y, h, population = _validate_inputs(scores, labels, strata, population_counts)
    reviewed = np.bincount(h, minlength=population.size)
    positives = np.bincount(h, weights=y.astype(np.float64), minlength=population.size).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stratum_weights = np.where(reviewed > 0, population / np.maximum(reviewed, 1), np.nan)
    counts = tuple(
        StratumCount(
            index,
            int(population[index]),
            int(reviewed[index]),
            int(positives[index]),
            finite_or_none(float(stratum_weights[index])),
        )
        for index in range(population.size)
    )
    thin = [int(index) for index in np.flatnonzero((population > 0) & (reviewed < 2))]
    n_positive = int(y.sum())

    def result(metrics: tuple[ReviewedMetric, ...], note: str) -> ReviewedPerformance:
        return ReviewedPerformance(
            n_reviewed=int(y.size),
            n_positive=n_positive,
            population=int(population.sum()),
            strata=counts,
            confidence_level=confidence_level,
            n_bootstrap=n_bootstrap,
            metrics=metrics,
            estimable=not note,
            note=note,
        )

    empty = tuple(ReviewedMetric(name, None, None, None, _METHODS[name]) for name in METRICS)
    if not y.size:
        return result(empty, "no reviewed rows: no estimate")
    if thin:
        return result(empty, f"strata {thin} hold predictions but fewer than two reviewed rows: no estimate")
    z = float(norm.ppf(0.5 + confidence_level / 2))
    weights = stratum_weights[h]
    sample = _WeightedSample(s, y, h, weights)
    bootstrap = sample.bootstrap(n_bootstrap, np.random.default_rng(random_state))
    point = sample.metrics(np.ones((1, s.size)))
    metrics = [_stratified_rate(y, h, population, reviewed, z)]
    for name in ("auc", "log_loss", "brier"):
        low, high = percentile_interval(bootstrap[name], confidence_level)
        value = finite_or_none(float(point[name][0]))
        metrics.append(ReviewedMetric(name, value, finite_or_none(low), finite_or_none(high), _METHODS[name]))
    return result(tuple(metrics), "" if 0 < n_positive < y.size else "the reviewed rows hold one class only: no AUC")


_METHODS: Final = {
    "positive_rate": "stratified mean; normal interval on the stratified variance with finite-population correction",
    "auc": "inverse-inclusion weighted Mann-Whitney; stratified bootstrap percentile interval",
    "log_loss": "inverse-inclusion weighted mean; stratified bootstrap percentile interval",
    "brier": "inverse-inclusion weighted mean; stratified bootstrap percentile interval",
}


def _stratified_rate(
    y: NDArray[np.bool_], h: IntArray, population: IntArray, reviewed: IntArray, z: float
) -> ReviewedMetric:
    """Σ_h W_h ȳ_h with W_h = N_h / N, and its normal interval on Σ_h W_h² (1 − f_h) s_h² / n_h."""
    n_h = reviewed.astype(np.float64)
    sums = np.bincount(h, weights=y.astype(np.float64), minlength=population.size)
    present = reviewed > 0
    means = np.divide(sums, n_h, out=np.zeros_like(sums), where=present)
    # Sample variance of 0/1 values with ddof 1: n/(n − 1) · ȳ(1 − ȳ).
    variances = np.divide(n_h * means * (1 - means), n_h - 1, out=np.zeros_like(sums), where=reviewed > 1)
    shares = population / population.sum()
    fpc = np.divide(population - n_h, population, out=np.zeros_like(sums), where=population > 0)
    estimate = float((shares * means).sum())
    variance = float((shares**2 * fpc * np.divide(variances, n_h, out=np.zeros_like(sums), where=present)).sum())
    half = z * math.sqrt(variance)
    return ReviewedMetric(
        "positive_rate", estimate, max(0.0, estimate - half), min(1.0, estimate + half), _METHODS["positive_rate"]
    )


class _WeightedSample:
    """The reviewed rows sorted by score once, with their strata and weights in that order, so that the metrics under
    any reweighting (replicates × rows, rank order) are a few vectorised passes."""

    def __init__(self, s: FloatArray, y: NDArray[np.bool_], h: IntArray, weights: FloatArray) -> None:
        self.ranked = RankedScores(y, s)
        order = self.ranked.order
        labels = self.ranked.positive.astype(np.float64)
        scores = self.ranked.scores
        self.losses = np.stack([row_losses("log_loss", labels, scores), row_losses("brier", labels, scores)], axis=1)
        self.weights: FloatArray = weights[order]
        strata = h[order]
        self.members = [np.flatnonzero(strata == stratum) for stratum in np.unique(strata)]

    def metrics(self, multiplicity: FloatArray) -> dict[str, FloatArray]:
        """AUC, log loss and Brier score when rank j counts `multiplicity[r, j]` times (each time with its weight)."""
        weights = multiplicity * self.weights
        sums = weights @ self.losses
        total = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"auc": self.ranked.auc(weights), "log_loss": sums[:, 0] / total, "brier": sums[:, 1] / total}

    def bootstrap(self, n_bootstrap: int, rng: np.random.Generator) -> dict[str, FloatArray]:
        """`n_bootstrap` replicates: within each stratum, its n_h rows drawn with replacement; each drawn row keeps
        its weight N_h / n_h. In blocks of at most `BLOCK_CELLS` cells."""
        n = self.ranked.size
        block = max(1, BLOCK_CELLS // max(n, 1))
        parts: dict[str, list[FloatArray]] = {"auc": [], "log_loss": [], "brier": []}
        for start in range(0, n_bootstrap, block):
            size = min(block, n_bootstrap - start)
            drawn = np.hstack([rows[rng.integers(0, rows.size, size=(size, rows.size))] for rows in self.members])
            drawn += (np.arange(size) * n)[:, None]
            counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
            for name, values in self.metrics(counts).items():
                parts[name].append(values)
        return {name: np.concatenate(values) for name, values in parts.items()}


@dataclass(frozen=True, slots=True)
class ReviewedDecay:
    """The decay rule on reviewed labels: the AUC's interval against the champion's baseline minus the margin.

    `verdict`: `insufficient_data` below the floor (fewer than `min_reviewed` reviewed rows or fewer than
    `min_per_class` of either class, or no estimate), `no_baseline` without a baseline AUC, `decay` when the
    interval's upper bound is below `baseline − margin`, else `no_decay`. `decay` is what the retrain policy reads.
    """

    verdict: PerformanceVerdict
    decay: bool
    auc: float | None
    ci_low: float | None
    ci_high: float | None
    baseline: float | None
    margin: float
    confidence_level: float
    n_reviewed: int
    n_positive: int
    min_reviewed: int
    min_per_class: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The verdict as strict JSON data."""
        return to_dict(self)


def reviewed_decay(
    performance: ReviewedPerformance,
    baseline_auc: float | None,
    *,
    margin: float = DEFAULT_AUC_MARGIN,
    min_reviewed: int = 200,
    min_per_class: int = 20,
) -> ReviewedDecay:
    """Judge AUC decay on reviewed labels (see `ReviewedDecay`). The floor, 200 reviewed rows and 20 of each class
    by default, is the drift suite's 200 labels with twice its per-class floor, since the stratified bootstrap needs
    positives in every stratum. It is a floor, not a promise of power: with 20 positives among 200 rows the AUC's 95 %
    interval is about ±0.12 (Hanley–McNeil at AUC 0.8), enough to see a collapse, not a 0.02 margin; the margin
    becomes visible with several hundred positives."""
    if margin < 0 or min_reviewed < 1 or min_per_class < 1:
        raise ValueError("margin must be >= 0, min_reviewed and min_per_class >= 1")
    auc = performance.metric("auc")
    n, positives = performance.n_reviewed, performance.n_positive
    minority = min(positives, n - positives)
    baseline = finite_or_none(baseline_auc)
    sample = (
        f"{n} reviewed rows ({positives} positive) of {performance.population} predictions, "
        f"at least {min_reviewed} rows and {min_per_class} of each class required"
    )
    interval = (
        f"AUC {auc.value:.4f} ({performance.confidence_level:.0%} stratified bootstrap CI {auc.ci_low:.4f} to "
        f"{auc.ci_high:.4f})"
        if auc.value is not None and auc.ci_low is not None and auc.ci_high is not None
        else "AUC not estimable"
    )
    decay = False
    if n < min_reviewed or minority < min_per_class or auc.ci_high is None:
        verdict = PerformanceVerdict.INSUFFICIENT_DATA
        detail = f"insufficient reviewed data: {sample}; {interval}"
        if performance.note:
            detail += f" ({performance.note})"
    elif baseline is None:
        verdict = PerformanceVerdict.NO_BASELINE
        detail = f"no baseline AUC to compare with; {interval}; {sample}"
    else:
        limit = baseline - margin
        decay = auc.ci_high < limit
        verdict = PerformanceVerdict.DECAY if decay else PerformanceVerdict.NO_DECAY
        detail = (
            f"{'decay' if decay else 'no decay'} on reviewed labels: {interval}; decay when the upper bound is below "
            f"the baseline {baseline:.4f} minus the margin {margin:.4f} = {limit:.4f}; {sample}"
        )
    return ReviewedDecay(
        verdict=verdict,
        decay=decay,
        auc=auc.value,
        ci_low=auc.ci_low,
        ci_high=auc.ci_high,
        baseline=baseline,
        margin=margin,
        confidence_level=performance.confidence_level,
        n_reviewed=n,
        n_positive=positives,
        min_reviewed=min_reviewed,
        min_per_class=min_per_class,
        detail=detail,
    )
