"""The release gate: may a challenger replace the champion, and should it? Pure decision logic over scores on one
holdout.

Challenger and champion are scored on the same out-of-time holdout, which the challenger never saw. Safety first:
the challenger is refused (`reject`) unless every check passes:

- `holdout_size`, `holdout_classes`: the holdout is large enough and has enough rows of both classes;
- `finite`: the challenger's scores are finite probabilities in [0, 1];
- `not_constant`: they take enough distinct values and their standard deviation is above a floor;
- `schema`: the challenger's input schema equals the serving contract (names, kinds and order);
- `positive_rate` and `calibration`, the secondary checks, judge like with like: with a champion, the challenger
  must stay inside an absolute catastrophic band only a broken model leaves (or be significantly less far out
  than the champion, so a broken champion is never kept for it), and either meet the initial model's
  limit below or be no worse than the champion on the same holdout beyond a margin (the upper bound of a
  paired-bootstrap interval of the difference). A challenger clearly better on the primary metric is never
  refused for a limit the champion misses by far, nor one indistinguishable from a calibrated model for noise.
  Without a champion (the initial model) they are absolute: the positive rate within the prevalence's Wilson
  interval widened in odds; the expected calibration error (ECE) below what a perfectly calibrated model with the
  same scores reaches by chance (consistency resampling) plus a tolerance;
- `non_inferiority`: a paired bootstrap of (challenger − champion) on the primary metric: rows are resampled
  once per replicate and both models are scored on the same replicate; the bound of the two-sided `confidence`
  interval on the challenger's worse side must stay within `margin`.

Then a reason: a safe challenger significantly worse than the champion (the whole interval on its worse side,
if within the margin) is never released (`not_needed`); otherwise it is released (`release`) when there is no
champion, when it is better beyond noise (the interval of the primary metric's difference above `min_gain`), or
when the champion is known to be failing (`champion_failing`: decay on matured labels, the drift the policy acts
on, its age); otherwise it is `not_needed`, and nothing is released.

Every decision carries its numbers: the per-check results, both models' metrics and the bootstrap intervals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from batch_jobs import metrics
from core.odds import odds_band

FloatArray = NDArray[np.float64]
# Resamples × rows handled at once: bounds memory to a few tens of MB. It also fixes how a seed's random stream is
# cut into chunks, so changing it changes every decision's bootstrap.
_CHUNK_CELLS: Final = 2_000_000


class Metric(StrEnum):
    """Metrics the gate can compare models on."""

    AUC = "auc"
    LOG_LOSS = "log_loss"
    BRIER = "brier"

    @property
    def higher_is_better(self) -> bool:
        """AUC grows with quality; the losses shrink."""
        return self is Metric.AUC


class CheckName(StrEnum):
    """The gate's checks, in the order they are reported."""

    HOLDOUT_SIZE = "holdout_size"
    HOLDOUT_CLASSES = "holdout_classes"
    FINITE = "finite"
    NOT_CONSTANT = "not_constant"
    SCHEMA = "schema"
    POSITIVE_RATE = "positive_rate"
    CALIBRATION = "calibration"
    NON_INFERIORITY = "non_inferiority"


class GateOutcome(StrEnum):
    """What the gate decided: release the challenger, keep the champion without a reason to replace it, or refuse."""

    RELEASE = "release"
    NOT_NEEDED = "not_needed"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class GateConfig:
    """The gate's thresholds. Defaults suit a binary classifier scored on a holdout of a few thousand rows.

    - `primary_metric`, `margin`: non-inferiority on AUC by default; 0.01 AUC is a difference a business rarely
      notices, yet well above the paired-bootstrap noise of two similar models on ~5,000 rows. The margin is in
      the metric's own units (for log loss use e.g. 0.01 nats, for Brier e.g. 0.005).
    - `n_bootstrap`, `confidence`: 1,000 paired resamples and a two-sided 95% percentile interval (so the
      non-inferiority test is one-sided at 97.5%, as is conventional); `random_state` makes it reproducible.
      `n_bootstrap` is also the number of consistency resamples behind the calibration limit.
    - `min_holdout_rows`, `min_class_rows`: below 500 rows or 30 rows of the rarer class the AUC interval is too
      wide for a 0.01 margin to mean anything.
    - `min_distinct_predictions`, `min_prediction_std`: a model with fewer than 10 distinct scores or a
      standard deviation below 0.001 is constant in practice.
    - `rate_confidence`, `max_rate_odds_ratio`: the positive rate (share of scores >= the model's threshold)
      may differ from the holdout's prevalence by its 99% Wilson interval and then by a factor of 2 in odds
      (prevalence 15% -> band of roughly 7-29% on a large holdout). On the odds scale the band never reaches
      0 or 1, so "everyone positive" fails at any prevalence. A threshold chosen far from the prevalence (e.g.
      0.5 on a rare class) needs a wider ratio; the model spec's default threshold matches the training
      prevalence (`batch_jobs.training.fitting.choose_threshold`), which this band is centred on.
    - `calibration_bins`, `calibration_confidence`, `ece_tolerance`: 10 equal-width bins (the usual ECE); the
      limit is the 99% quantile of the ECE a perfectly calibrated model with the same scores shows by chance,
      plus 0.02. A fixed limit would reject well-calibrated models on small holdouts (ECE noise ~ 1/sqrt(n)).
      These are the initial model's limits; with a champion, the next item's comparison may stand in for them.
    - `ece_margin`, `rate_margin_odds_ratio`: with a champion, the challenger's ECE may exceed the champion's by
      at most 0.02 and its positive rate may sit further from the prevalence than the champion's by at most a
      factor of 1.25 in odds (log-odds distance), each judged on the upper bound of the paired-bootstrap interval
      of the difference (`confidence`): noise on a few thousand rows is ~0.01 of ECE.
    - `catastrophic_ece_tolerance`, `catastrophic_rate_odds_ratio`: the absolute band only a broken model leaves,
      whatever the champion does: an ECE more than 0.10 above a calibrated model's chance level, a positive rate
      outside the prevalence's Wilson interval widened by an odds ratio of 4.
    - `min_gain`: better beyond noise means the lower bound of the primary metric's interval above this (0: above
      zero), in the metric's units and direction.
    """

    primary_metric: Metric = Metric.AUC
    margin: float = 0.01
    n_bootstrap: int = 1000
    confidence: float = 0.95
    random_state: int = 0
    min_holdout_rows: int = 500
    min_class_rows: int = 30
    min_distinct_predictions: int = 10
    min_prediction_std: float = 1e-3
    rate_confidence: float = 0.99
    max_rate_odds_ratio: float = 2.0
    calibration_bins: int = 10
    calibration_confidence: float = 0.99
    ece_tolerance: float = 0.02
    ece_margin: float = 0.02
    rate_margin_odds_ratio: float = 1.25
    catastrophic_ece_tolerance: float = 0.10
    catastrophic_rate_odds_ratio: float = 4.0
    min_gain: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "primary_metric", Metric(self.primary_metric))
        problems = []
        if not (math.isfinite(self.margin) and self.margin >= 0):
            problems.append("margin must be a finite number >= 0")
        if self.n_bootstrap < 100:
            problems.append("n_bootstrap must be at least 100")
        problems.extend(
            f"{name} must be in [0.5, 1)"
            for name in ("confidence", "rate_confidence", "calibration_confidence")
            if not 0.5 <= getattr(self, name) < 1
        )
        if self.min_holdout_rows < 1 or self.min_class_rows < 1 or self.min_distinct_predictions < 2:
            problems.append("min_holdout_rows and min_class_rows must be >= 1, min_distinct_predictions >= 2")
        if min(self.min_prediction_std, self.ece_tolerance, self.ece_margin, self.min_gain) < 0:
            problems.append("min_prediction_std, ece_tolerance, ece_margin and min_gain must be >= 0")
        if min(self.max_rate_odds_ratio, self.rate_margin_odds_ratio) < 1:
            problems.append("max_rate_odds_ratio and rate_margin_odds_ratio must be >= 1")
        if self.catastrophic_ece_tolerance < self.ece_tolerance:
            problems.append("catastrophic_ece_tolerance must be >= ece_tolerance")
        if self.catastrophic_rate_odds_ratio < self.max_rate_odds_ratio:
            problems.append("catastrophic_rate_odds_ratio must be >= max_rate_odds_ratio")
        if self.calibration_bins < 2:
            problems.append("calibration_bins must be >= 2")
        if problems:
            raise ValueError("invalid GateConfig: " + "; ".join(problems))


class FeatureFieldLike(Protocol):
    """Anything with a feature name and kind (e.g. `core.features.FeatureSpec`)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


SchemaLike = Sequence[tuple[str, str] | FeatureFieldLike]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check: whether it passed, what was observed and the threshold it was held to.

    `evaluated` is False when an earlier failure made the check meaningless (e.g. calibration of scores that
    are not finite); such a check does not pass, and its `detail` says why it was skipped.
    """

    name: CheckName
    passed: bool
    observed: float | None
    threshold: float | None
    detail: str
    evaluated: bool = True
    band: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """A model's metrics on the holdout; None where a metric cannot be computed."""

    auc: float | None
    log_loss: float | None
    brier: float | None
    ece: float | None
    positive_rate: float | None
    threshold: float

    def as_mapping(self) -> dict[str, float | None]:
        """The metrics by name (as the registry stores them)."""
        return {
            "auc": self.auc,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "ece": self.ece,
            "positive_rate": self.positive_rate,
        }


@dataclass(frozen=True, slots=True)
class BootstrapInterval:
    """The paired bootstrap of (challenger − champion) on one metric (`Metric`, or a secondary check's measure)."""

    metric: str
    difference: float
    lower: float
    upper: float
    confidence: float
    resamples: int
    valid_resamples: int
    margin: float


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's verdict with every number it rests on."""

    passed: bool
    reasons: tuple[str, ...]
    checks: tuple[CheckResult, ...]
    challenger: ModelMetrics
    champion: ModelMetrics | None
    difference: BootstrapInterval | None
    holdout_rows: int
    holdout_positives: int
    prevalence: float | None
    config: GateConfig
    outcome: GateOutcome
    #: Why the champion is known to be failing (None: it is not), which makes a challenger that is not worse enough.
    champion_failing: str | None = None
    #: (challenger − champion) ECE and positive-rate log-odds distance on the same resamples; None without a champion.
    secondary: tuple[BootstrapInterval, ...] = ()

    @property
    def releases(self) -> bool:
        """Whether the challenger is to be released."""
        return self.outcome is GateOutcome.RELEASE

    def to_json(self) -> dict[str, Any]:
        """The decision as a JSON-serialisable dict (strict JSON: no NaN or infinity anywhere)."""
        document: dict[str, Any] = dataclasses.asdict(self)
        return document

    def check(self, name: CheckName) -> CheckResult:
        """The result of one check."""
        return next(result for result in self.checks if result.name is name)


def normalise_schema(schema: SchemaLike) -> tuple[tuple[str, str], ...]:
    """A schema as `(name, kind)` pairs, whether given as pairs or as objects with `name` and `kind`."""
    pairs = []
    for field in schema:
        if isinstance(field, tuple):
            name, kind = field
        else:
            name, kind = field.name, field.kind
        pairs.append((str(name), str(kind)))
    return tuple(pairs)


def schema_differences(challenger: SchemaLike, serving: SchemaLike) -> list[str]:
    """Every way the challenger's input schema differs from the serving contract; empty when they match."""
    ours, theirs = normalise_schema(challenger), normalise_schema(serving)
    if ours == theirs:
        return []
    ours_kinds, theirs_kinds = dict(ours), dict(theirs)
    problems = []
    missing = [name for name, _ in theirs if name not in ours_kinds]
    extra = [name for name, _ in ours if name not in theirs_kinds]
    if missing:
        problems.append(f"missing features {missing}")
    if extra:
        problems.append(f"unexpected features {extra}")
    problems.extend(
        f"feature {name!r} is {ours_kinds[name]}, serving expects {kind}"
        for name, kind in theirs
        if name in ours_kinds and ours_kinds[name] != kind
    )
    duplicated = sorted({name for name, _ in ours if [n for n, _ in ours].count(name) > 1})
    if duplicated:
        problems.append(f"duplicated features {duplicated}")
    if not problems:
        problems.append(f"feature order differs: {[n for n, _ in ours]} vs serving {[n for n, _ in theirs]}")
    return problems


# -- metrics ------------------------------------------------------------------------------------------------------


def _null_ece_quantile(scores: FloatArray, config: GateConfig, rng: np.random.Generator) -> float:
    """The `calibration_confidence` quantile of the ECE of a perfectly calibrated model with these scores."""
    n = scores.size
    chunk = max(1, _CHUNK_CELLS // n)
    eces = []
    for start in range(0, config.n_bootstrap, chunk):
        labels = rng.random((min(chunk, config.n_bootstrap - start), n)) < scores  # drawn from the scores
        eces.append(metrics.expected_calibration_errors(labels, scores, config.calibration_bins))
    return float(np.quantile(np.concatenate(eces), config.calibration_confidence))


#: The secondary checks' measures compared with the champion's (`GateDecision.secondary`).
ECE_MEASURE: Final = "ece"
RATE_MEASURE: Final = "positive_rate_log_odds_distance"


def _log_odds_distance(rates: FloatArray, prevalence: FloatArray, n: int) -> FloatArray:
    """|logit(rate) − logit(prevalence)|, both kept half a row away from 0 and 1."""
    low, high = 0.5 / n, 1.0 - 0.5 / n
    rate, base = np.clip(rates, low, high), np.clip(prevalence, low, high)
    distance: FloatArray = np.abs(np.log(rate / (1 - rate)) - np.log(base / (1 - base)))
    return distance


def _secondary_differences(
    config: GateConfig,
    y: NDArray[np.bool_],
    champion: tuple[FloatArray, float],
    challenger: tuple[FloatArray, float],
    rng: np.random.Generator,
) -> tuple[BootstrapInterval, BootstrapInterval]:
    """(challenger − champion) ECE and positive-rate log-odds distance from the prevalence, each with its paired
    bootstrap interval: both models and the prevalence on the same resamples of the rows."""
    n, bins = int(y.size), config.calibration_bins
    labels = y.astype(np.float64)
    # Per row: (score − label) in its ECE bin's column for each model, each model's positive call, the label.
    columns = np.zeros((n, 2 * bins + 3))
    for index, (scores, threshold) in enumerate((champion, challenger)):
        columns[np.arange(n), index * bins + metrics.calibration_bins(scores, bins)] = scores - labels
        columns[:, 2 * bins + index] = scores >= threshold
    columns[:, 2 * bins + 2] = labels

    def measures(sums: FloatArray) -> tuple[FloatArray, FloatArray]:
        ece = np.abs(sums[:, bins : 2 * bins]).sum(axis=1) - np.abs(sums[:, :bins]).sum(axis=1)
        prevalence = sums[:, 2 * bins + 2]
        distance = _log_odds_distance(sums[:, 2 * bins + 1], prevalence, n) - _log_odds_distance(
            sums[:, 2 * bins], prevalence, n
        )
        return ece, distance

    point = measures(columns.sum(axis=0, keepdims=True) / n)
    block = max(1, _CHUNK_CELLS // max(n, 1))
    replicates = [
        np.stack(measures(metrics.multinomial_counts(rng, min(block, config.n_bootstrap - start), n) @ columns / n))
        for start in range(0, config.n_bootstrap, block)
    ]
    values = np.concatenate(replicates, axis=1)
    intervals = []
    for row, (name, margin) in enumerate(
        ((ECE_MEASURE, config.ece_margin), (RATE_MEASURE, math.log(config.rate_margin_odds_ratio)))
    ):
        lower, upper = metrics.percentile_interval(values[row], config.confidence)
        intervals.append(
            BootstrapInterval(
                name,
                float(point[row][0]),
                lower,
                upper,
                config.confidence,
                config.n_bootstrap,
                int(np.isfinite(values[row]).sum()),
                margin,
            )
        )
    return intervals[0], intervals[1]


def _metrics(y: NDArray[np.bool_], scores: FloatArray, threshold: float, bins: int) -> ModelMetrics:
    values = metrics.classification_metrics(y, scores, bins)
    return ModelMetrics(
        auc=values["auc"] if math.isfinite(values["auc"]) else None,
        log_loss=values["log_loss"],
        brier=values["brier"],
        ece=values["ece"],
        positive_rate=float((scores >= threshold).mean()),
        threshold=threshold,
    )


def _empty_metrics(threshold: float) -> ModelMetrics:
    return ModelMetrics(auc=None, log_loss=None, brier=None, ece=None, positive_rate=None, threshold=threshold)


# -- the gate -------------------------------------------------------------------------------------------------


def _as_scores(values: ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size != n:
        raise ValueError(f"{name} must be a 1-D array of {n} scores, got shape {array.shape}")
    return array


def _as_labels(values: ArrayLike) -> NDArray[np.bool_]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {array.shape}")
    if array.size and not np.isin(array, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1")
    return array.astype(bool)


def positive_rate_band(prevalence: float, n: int, config: GateConfig) -> tuple[float, float]:
    """The band a model's positive rate must fall in: the prevalence's Wilson interval, widened in odds."""
    z = float(norm.ppf((1 + config.rate_confidence) / 2))
    centre = (prevalence + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(prevalence * (1 - prevalence) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return odds_band(low, config.max_rate_odds_ratio)[0], odds_band(high, config.max_rate_odds_ratio)[1]


def _skipped(name: CheckName, why: str) -> CheckResult:
    return CheckResult(
        name, passed=False, observed=None, threshold=None, detail=f"not evaluated: {why}", evaluated=False
    )


def _signed(value: float) -> str:
    return f"{value:+.4f}"


def _non_inferiority(
    config: GateConfig,
    y: NDArray[np.bool_],
    champion: FloatArray,
    challenger: FloatArray,
    rng: np.random.Generator,
) -> tuple[CheckResult, BootstrapInterval | None]:
    metric = config.primary_metric
    if not (np.isfinite(champion).all() and ((champion >= 0) & (champion <= 1)).all()):
        bad = int((~np.isfinite(champion) | (champion < 0) | (champion > 1)).sum())
        detail = f"champion has {bad} scores that are not finite probabilities: the comparison is impossible"
        return CheckResult(CheckName.NON_INFERIORITY, False, None, -config.margin, detail), None
    champion_values, challenger_values = metrics.paired_bootstrap_values(
        metric, y, champion, challenger, n_resamples=config.n_bootstrap, rng=rng, block_cells=_CHUNK_CELLS
    )
    differences = challenger_values - champion_values
    valid = differences[np.isfinite(differences)]
    if not valid.size:
        detail = f"no bootstrap resample of {y.size} rows holds both classes: the comparison is impossible"
        return CheckResult(CheckName.NON_INFERIORITY, False, None, -config.margin, detail), None
    point = _point_metric(metric, y, challenger) - _point_metric(metric, y, champion)
    lower, upper = metrics.percentile_interval(valid, config.confidence)
    interval = BootstrapInterval(
        metric=metric,
        difference=point,
        lower=lower,
        upper=upper,
        confidence=config.confidence,
        resamples=config.n_bootstrap,
        valid_resamples=int(valid.size),
        margin=config.margin,
    )
    if metric.higher_is_better:
        bound, threshold, passed = lower, -config.margin, lower > -config.margin
        rule = f"lower bound must be above {_signed(threshold)}"
    else:
        bound, threshold, passed = upper, config.margin, upper < config.margin
        rule = f"upper bound must be below {_signed(threshold)}"
    detail = (
        f"{metric}: challenger {_point_metric(metric, y, challenger):.4f} vs champion "
        f"{_point_metric(metric, y, champion):.4f}, difference {_signed(point)} "
        f"({config.confidence:.0%} paired bootstrap CI {_signed(lower)} to {_signed(upper)}, "
        f"{valid.size}/{config.n_bootstrap} resamples); {rule}"
    )
    return CheckResult(CheckName.NON_INFERIORITY, passed, bound, threshold, detail), interval


def _point_metric(metric: Metric, y: NDArray[np.bool_], scores: FloatArray) -> float:
    if metric is Metric.AUC:
        return metrics.roc_auc(y, scores)
    return float(metrics.row_losses(metric, y, scores).mean())


def evaluate_gate(
    config: GateConfig,
    y_true: ArrayLike,
    champion_scores: ArrayLike | None,
    challenger_scores: ArrayLike,
    *,
    challenger_schema: SchemaLike,
    serving_schema: SchemaLike,
    champion_threshold: float = 0.5,
    challenger_threshold: float = 0.5,
    champion_failing: str | None = None,
) -> GateDecision:
    """Decide whether the challenger is released, not needed or refused; both models are scored on the same holdout
    rows. `champion_failing` says why the champion is known to be failing (None: it is not known to be).

    `champion_scores` is None when there is no champion yet (the initial model): the non-inferiority check then
    passes with a note, and every other check still applies. Inputs of the wrong shape or labels other than
    0/1 raise `ValueError`; everything else (non-finite scores, a tiny holdout, …) is a failed check.
    """
    y = _as_labels(y_true)
    n = int(y.size)
    challenger = _as_scores(challenger_scores, n, "challenger_scores")
    champion = None if champion_scores is None else _as_scores(champion_scores, n, "champion_scores")
    # Children by index: adding the third left the first two (and so every earlier decision's numbers) unchanged.
    calibration_seed, bootstrap_seed, secondary_seed = np.random.SeedSequence(config.random_state).spawn(3)
    positives = int(y.sum())
    prevalence = positives / n if n else None
    minority = min(positives, n - positives)
    checks: list[CheckResult] = [
        CheckResult(
            CheckName.HOLDOUT_SIZE,
            n >= config.min_holdout_rows,
            float(n),
            float(config.min_holdout_rows),
            f"holdout has {n} rows, at least {config.min_holdout_rows} required",
        ),
        CheckResult(
            CheckName.HOLDOUT_CLASSES,
            minority >= config.min_class_rows,
            float(minority),
            float(config.min_class_rows),
            f"holdout has {positives} positive and {n - positives} negative rows, "
            f"at least {config.min_class_rows} of each required",
        ),
    ]
    invalid = ~np.isfinite(challenger) | (challenger < 0) | (challenger > 1)
    n_invalid = int(invalid.sum())
    scores_ok = n > 0 and n_invalid == 0
    checks.append(
        CheckResult(
            CheckName.FINITE,
            scores_ok,
            float(n_invalid),
            0.0,
            f"{n_invalid} of {n} challenger scores are not finite probabilities in [0, 1]"
            if n
            else "there are no challenger scores to check",
        )
    )
    if scores_ok:
        distinct, spread = int(np.unique(challenger).size), float(challenger.std())
        varied = distinct >= config.min_distinct_predictions and spread >= config.min_prediction_std
        checks.append(
            CheckResult(
                CheckName.NOT_CONSTANT,
                varied,
                float(distinct),
                float(config.min_distinct_predictions),
                f"challenger has {distinct} distinct scores (at least {config.min_distinct_predictions} required) "
                f"and standard deviation {spread:.2e} (at least {config.min_prediction_std:.0e} required)",
            )
        )
    else:
        checks.append(_skipped(CheckName.NOT_CONSTANT, "challenger scores are invalid"))
    differences = schema_differences(challenger_schema, serving_schema)
    checks.append(
        CheckResult(
            CheckName.SCHEMA,
            not differences,
            float(len(differences)),
            0.0,
            "input schema matches the serving contract"
            if not differences
            else "input schema differs from the serving contract: " + "; ".join(differences),
        )
    )
    comparable = champion is not None and bool(
        (np.isfinite(champion) & (champion >= 0) & (champion <= 1)).all() and minority > 0
    )
    secondary: tuple[BootstrapInterval, ...] = ()
    if scores_ok and prevalence is not None:
        calibration_rng = np.random.default_rng(calibration_seed)
        if comparable and champion is not None:
            secondary = _secondary_differences(
                config,
                y,
                (champion, champion_threshold),
                (challenger, challenger_threshold),
                np.random.default_rng(secondary_seed),
            )
            checks.extend(
                _relative_secondary_checks(
                    config,
                    y,
                    challenger=challenger,
                    threshold=challenger_threshold,
                    prevalence=prevalence,
                    differences=secondary,
                    rng=calibration_rng,
                )
            )
        else:
            checks.extend(
                _absolute_secondary_checks(
                    config,
                    y,
                    challenger=challenger,
                    threshold=challenger_threshold,
                    prevalence=prevalence,
                    rng=calibration_rng,
                )
            )
    else:
        checks.append(_skipped(CheckName.POSITIVE_RATE, "challenger scores are invalid"))
        checks.append(_skipped(CheckName.CALIBRATION, "challenger scores are invalid"))
    interval = None
    if champion is None:
        checks.append(
            CheckResult(CheckName.NON_INFERIORITY, True, None, None, "no champion to compare with (initial model)")
        )
    elif not scores_ok:
        checks.append(_skipped(CheckName.NON_INFERIORITY, "challenger scores are invalid"))
    elif minority == 0:
        checks.append(_skipped(CheckName.NON_INFERIORITY, "the holdout lacks a class"))
    else:
        result, interval = _non_inferiority(config, y, champion, challenger, np.random.default_rng(bootstrap_seed))
        checks.append(result)
    return _decide(
        config=config,
        y=y,
        checks=checks,
        champion=champion,
        challenger=challenger,
        interval=interval,
        champion_threshold=champion_threshold,
        challenger_threshold=challenger_threshold,
        champion_failing=champion_failing,
        secondary=secondary,
    )


def _absolute_secondary_checks(
    config: GateConfig,
    y: NDArray[np.bool_],
    *,
    challenger: FloatArray,
    threshold: float,
    prevalence: float,
    rng: np.random.Generator,
) -> list[CheckResult]:
    """Positive rate and calibration against absolute limits (no champion to compare with)."""
    n = int(y.size)
    rate = float((challenger >= threshold).mean())
    low, high = positive_rate_band(prevalence, n, config)
    ece = metrics.expected_calibration_error(y, challenger, config.calibration_bins)
    limit = _null_ece_quantile(challenger, config, rng) + config.ece_tolerance
    return [
        CheckResult(
            CheckName.POSITIVE_RATE,
            low <= rate <= high,
            rate,
            None,
            f"challenger positive rate {rate:.4f} at threshold {threshold:g}; band "
            f"[{low:.4f}, {high:.4f}] around prevalence {prevalence:.4f}",
            band=(low, high),
        ),
        CheckResult(
            CheckName.CALIBRATION,
            ece <= limit,
            ece,
            limit,
            f"challenger expected calibration error {ece:.4f}, at most {limit:.4f} allowed "
            f"({config.calibration_confidence:.0%} chance level of a calibrated model + {config.ece_tolerance})",
        ),
    ]


def _band_verdict(inside: bool, difference: BootstrapInterval) -> str:
    if inside:
        return "kept"
    if difference.upper < 0:
        return "left, but significantly less than by the champion"
    return "LEFT"


def _relative_secondary_checks(
    config: GateConfig,
    y: NDArray[np.bool_],
    *,
    challenger: FloatArray,
    threshold: float,
    prevalence: float,
    differences: tuple[BootstrapInterval, BootstrapInterval],
    rng: np.random.Generator,
) -> list[CheckResult]:
    """Positive rate and calibration with a champion: inside the absolute catastrophic band, and either within the
    initial model's absolute limit or not worse than the champion on the same holdout beyond the margin (the upper
    bound of the paired interval). Noise cannot refuse a challenger indistinguishable from a calibrated model, and a
    limit the champion misses by far cannot refuse one better than the champion."""
    n = int(y.size)
    ece_difference, rate_difference = differences
    interval = f"{config.confidence:.0%} paired bootstrap CI"
    rate = float((challenger >= threshold).mean())
    usual_low, usual_high = positive_rate_band(prevalence, n, config)
    low, high = positive_rate_band(
        prevalence, n, dataclasses.replace(config, max_rate_odds_ratio=config.catastrophic_rate_odds_ratio)
    )
    # Outside the catastrophic band passes only when significantly closer to the prevalence than the champion,
    # which is then further out still: a broken champion is replaced by a less broken challenger, never kept.
    rate_inside = low <= rate <= high or rate_difference.upper < 0
    rate_usual = usual_low <= rate <= usual_high
    rate_no_worse = rate_difference.upper < rate_difference.margin
    ece = metrics.expected_calibration_error(y, challenger, config.calibration_bins)
    chance = _null_ece_quantile(challenger, config, rng)
    ece_usual, ece_limit = chance + config.ece_tolerance, chance + config.catastrophic_ece_tolerance
    ece_no_worse = ece_difference.upper < ece_difference.margin
    ece_inside = ece <= ece_limit or ece_difference.upper < 0
    return [
        CheckResult(
            CheckName.POSITIVE_RATE,
            rate_inside and (rate_usual or rate_no_worse),
            rate,
            None,
            f"challenger positive rate {rate:.4f} at threshold {threshold:g} (prevalence {prevalence:.4f}), "
            f"{'inside' if rate_usual else 'outside'} the band [{usual_low:.4f}, {usual_high:.4f}]; its log-odds "
            f"distance from the prevalence minus the champion's {_signed(rate_difference.difference)} ({interval} "
            f"{_signed(rate_difference.lower)} to {_signed(rate_difference.upper)}; no worse when the upper bound is "
            f"below {_signed(rate_difference.margin)}, odds ratio {config.rate_margin_odds_ratio:g}): "
            f"{'no worse' if rate_no_worse else 'worse'}; catastrophic band [{low:.4f}, {high:.4f}] "
            f"{_band_verdict(low <= rate <= high, rate_difference)}",
            band=(low, high),
        ),
        CheckResult(
            CheckName.CALIBRATION,
            ece_inside and (ece <= ece_usual or ece_no_worse),
            ece,
            ece_usual,
            f"challenger expected calibration error {ece:.4f} ({'within' if ece <= ece_usual else 'above'} "
            f"{ece_usual:.4f}: {config.calibration_confidence:.0%} chance level of a calibrated model + "
            f"{config.ece_tolerance}), champion's {ece - ece_difference.difference:.4f}: difference "
            f"{_signed(ece_difference.difference)} ({interval} {_signed(ece_difference.lower)} to "
            f"{_signed(ece_difference.upper)}; no worse when the upper bound is below "
            f"{_signed(ece_difference.margin)}): {'no worse' if ece_no_worse else 'worse'}; catastrophic limit "
            f"{ece_limit:.4f} (+ {config.catastrophic_ece_tolerance}) "
            f"{_band_verdict(ece <= ece_limit, ece_difference)}",
        ),
    ]


def _decide(
    *,
    config: GateConfig,
    y: NDArray[np.bool_],
    checks: list[CheckResult],
    champion: FloatArray | None,
    challenger: FloatArray,
    interval: BootstrapInterval | None,
    champion_threshold: float,
    challenger_threshold: float,
    champion_failing: str | None,
    secondary: tuple[BootstrapInterval, ...],
) -> GateDecision:
    passed = all(check.passed for check in checks)
    failed = [f"{check.name}: {check.detail}" for check in checks if check.evaluated and not check.passed]
    bins = config.calibration_bins

    def metrics_of(scores: FloatArray, threshold: float) -> ModelMetrics:
        usable = y.size > 0 and bool((np.isfinite(scores) & (scores >= 0) & (scores <= 1)).all())
        return _metrics(y, scores, threshold, bins) if usable else _empty_metrics(threshold)

    challenger_metrics = metrics_of(challenger, challenger_threshold)
    champion_metrics = None if champion is None else metrics_of(champion, champion_threshold)
    outcome, reasons = _reason(config, checks, interval, champion_failing) if passed else (GateOutcome.REJECT, failed)
    positives = int(y.sum())
    return GateDecision(
        passed=passed,
        reasons=tuple(reasons),
        checks=tuple(checks),
        challenger=challenger_metrics,
        champion=champion_metrics,
        difference=interval,
        holdout_rows=int(y.size),
        holdout_positives=positives,
        prevalence=positives / y.size if y.size else None,
        config=config,
        outcome=outcome,
        champion_failing=champion_failing,
        secondary=secondary,
    )


class IntervalRule(StrEnum):
    """What the primary metric's interval of (challenger − champion) says once non-inferiority holds."""

    WORSE = "worse"
    BETTER = "better"
    CHAMPION_FAILING = "champion_failing"
    NOT_BETTER = "not_better"


def interval_rule(
    interval: BootstrapInterval, min_gain: float, champion_failing: str | None
) -> tuple[IntervalRule, str]:
    """The gate's rule on a non-inferior challenger's interval, and its wording: significantly worse (if by less than
    the margin), better beyond noise (the whole interval more than `min_gain` in its favour), the champion failing
    (`champion_failing` says why) and the challenger not worse, or not better beyond noise. Used by the release gate
    on the holdout and by the shadow comparison on live requests."""
    metric = Metric(interval.metric)
    gain = interval.lower if metric.higher_is_better else -interval.upper
    loss = -interval.upper if metric.higher_is_better else interval.lower
    if loss > 0:
        return IntervalRule.WORSE, (
            "the challenger is significantly worse than the champion, if by less than the margin (the whole interval "
            "on its worse side)"
        )
    if gain > min_gain:
        return IntervalRule.BETTER, (
            f"better beyond noise: the whole interval is more than {min_gain:.4f} {metric} in the challenger's favour"
        )
    if champion_failing is not None:
        return (
            IntervalRule.CHAMPION_FAILING,
            f"the champion is failing ({champion_failing}) and the challenger is not worse",
        )
    return IntervalRule.NOT_BETTER, (
        f"the challenger is not better beyond noise (the whole interval more than {min_gain:.4f} {metric} in its "
        "favour) and the champion is not known to be failing"
    )


def _reason(
    config: GateConfig, checks: list[CheckResult], interval: BootstrapInterval | None, champion_failing: str | None
) -> tuple[GateOutcome, list[str]]:
    """Whether a challenger that passed every check replaces the champion, and the rule that decided."""
    summary = next(check.detail for check in checks if check.name is CheckName.NON_INFERIORITY)
    passed = f"passed all {len(checks)} checks"
    if interval is None:
        return GateOutcome.RELEASE, [f"{passed}; {summary}"]
    rule, wording = interval_rule(interval, config.min_gain, champion_failing)
    if rule is IntervalRule.WORSE:
        return GateOutcome.NOT_NEEDED, [f"not needed: {wording}, so the champion stays whatever its state; {summary}"]
    if rule is IntervalRule.NOT_BETTER:
        return GateOutcome.NOT_NEEDED, [f"not needed: {wording}, so the champion stays; {summary}"]
    return GateOutcome.RELEASE, [f"{passed}; {wording}; {summary}"]
