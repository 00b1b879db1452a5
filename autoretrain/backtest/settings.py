"""What a backtest replays: the history's columns, the policy's settings and the replay's own knobs. Pure.

Every policy setting is one of the project's own configuration objects, with the project's defaults: the drift
suite's `DriftConfig`, the trigger policy's `TriggerPolicy`, the retrain job's `GovernanceConfig` (cooldown and cap),
`QualityConfig`, `WindowConfig` and model spec, and the gate's `GateConfig`; the trigger policy's label delay is the
backtest's `label_delay_days`. Two defaults differ from the retrain
job's, both for speed and both stated in every result (`BacktestSettings.to_json`):

- the training window is the job's *fixed* window (28 days + the initial set, `WindowConfig.fixed`) rather than the
  job's backtest over 7 candidate windows: the backtest trains a candidate model every day (the oracle needs one),
  and the window backtest fits 7 more models per candidate (a 90-day replay would take minutes, not seconds).
  `[window] strategy = "backtest"` restores the job's choice;
- the decision threshold is matched to the training prevalence on the candidate's in-sample scores
  (`fitting.prevalence_threshold`) rather than on 5-fold out-of-fold scores (`fitting.choose_threshold`): for the
  default logistic model the two differ by about 0.001 in the threshold (a few rows in ten thousand in the
  positive rate) and the latter costs 5 fits per candidate. `threshold = "out_of_fold"` restores it.

`settings_from_mapping` reads the policy file's document (JSON or TOML: see `load_policy_file` in `io`); every
key is checked, an unknown one is an error naming it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from batch_jobs import model_spec
from batch_jobs.drift import DriftConfig
from batch_jobs.gate import GateConfig
from batch_jobs.governance import GovernanceConfig
from batch_jobs.monitoring.policy import TriggerPolicy
from batch_jobs.training.quality import QualityConfig
from batch_jobs.training.window import CandidateWindow, WindowConfig

MetricName = Literal["auc", "log_loss", "brier"]
ThresholdRule = Literal["in_sample", "out_of_fold"]
METRICS: tuple[MetricName, ...] = ("auc", "log_loss", "brier")
THRESHOLD_RULES: tuple[ThresholdRule, ...] = ("in_sample", "out_of_fold")

#: The training window the backtest uses unless told otherwise (module docstring).
DEFAULT_WINDOW = WindowConfig(strategy="fixed")
#: Columns that describe how a prediction was served or its label recorded (as `autoretrain demo` writes its
#: `history.parquet`): read and kept, never features (a served score as a feature would leak the old model).
PROVENANCE_COLUMNS = ("request_id", "model_version", "score", "predicted_label", "label_observed_at")


class SettingsError(ValueError):
    """The policy file (or a settings mapping) is not valid."""


@dataclass(frozen=True, slots=True)
class HistoryColumns:
    """Which columns of the history are what.

    - `timestamp`: when the prediction was served (ISO 8601 text or a datetime; naive times are UTC);
    - `label`: the ground truth as the system received it (0/1; empty: never labelled); also the model spec's target;
    - `arrival`: when that label arrived (optional column: where it is absent or empty, the label arrives
      `label_delay_days` after its prediction);
    - `evaluation_label`: optional column of the true outcome used to *score* the replay where it differs from what
      the system received (a corrupted label feed); absent: the replay is scored on `label`;
    - `features`: the model's features (None: every other column but `provenance` and `ignore`);
    - `provenance`: columns describing the served prediction or its label's record (`PROVENANCE_COLUMNS`: the
      request id, the serving model's version, its score and predicted label, when the latest label record was
      observed), never features, wherever they are present.
    """

    timestamp: str = "timestamp"
    label: str = model_spec.TARGET
    arrival: str = "label_arrived_at"
    evaluation_label: str = "true_label"
    features: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    provenance: tuple[str, ...] = PROVENANCE_COLUMNS

    def reserved(self) -> tuple[str, ...]:
        """The columns that are never features."""
        return (self.timestamp, self.label, self.arrival, self.evaluation_label, *self.provenance, *self.ignore)


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    """Everything a backtest depends on.

    Time: `initial_days` (14) of the history are the initial training set (the first champion is trained on them, as
    the retrain job trains the first model on `training/<m>/`); the replay runs one step per day after them. A label
    counts as matured `label_delay_days` (7) after its prediction once it has arrived (the drift check's and the
    retrain job's `label_delay`). The daily check compares the last `window_days` (7) with the champion's reference.

    Retraining: the scheduled retrain runs every `schedule_days` (7) replay days — for the policy too when
    `policy_schedule` (the project's weekly proactive retrain), always for the scheduled baseline; a retrain reads
    `lookback_days` (120) of matured predictions plus the initial set and holds out the newest `holdout_days` (7)
    matured days for the gate; a champion older than `max_champion_age_days` (None: never) counts as failing at the
    gate (the retrain job's `max_champion_age`).

    Scoring: `metric` (AUC) of the served model per day; the oracle maximises the sum over days of the metric (its
    negative for a loss) minus `cost_per_deploy` per deploy (0.1: a deploy must gain 0.01 AUC for 10 days to pay);
    a champion has `recovered` when its day's metric is within `recovery_tolerance` (0.02) of the best candidate's; a
    deploy `made things worse` when over the next `harm_days` (7) it scores below the model it replaced.

    Impact: with `impact_aware` (default) the policy acts only on drift whose estimated impact reaches its margin
    (`batch_jobs.drift.impact`), as the drift-check job does; off (with `[drift] sensitivity_floors = false`), it
    replays the earlier policy that acted on any significant drift above one global floor.

    `workers`: processes for the candidates and the replays (None: the CPUs this process may use; 1: in-process).
    """

    columns: HistoryColumns = field(default_factory=HistoryColumns)
    initial_days: int = 14
    label_delay_days: int = 7
    window_days: int = 7
    drift: DriftConfig = field(default_factory=DriftConfig)
    trigger: TriggerPolicy = field(default_factory=TriggerPolicy)
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    window: WindowConfig = DEFAULT_WINDOW
    gate: GateConfig = field(default_factory=GateConfig)
    spec: model_spec.ModelSpec = model_spec.DEFAULT_SPEC
    threshold: ThresholdRule = "in_sample"
    lookback_days: int = 120
    holdout_days: int = 7
    initial_holdout_fraction: float = 0.2
    schedule_days: int = 7
    policy_schedule: bool = True
    max_champion_age_days: int | None = None
    cost_per_deploy: float = 0.1
    metric: MetricName = "auc"
    recovery_tolerance: float = 0.02
    harm_days: int = 7
    workers: int | None = None
    impact_aware: bool = True

    def __post_init__(self) -> None:
        # One label column and one label delay, whatever the configuration objects were built with.
        if self.spec.target != self.columns.label:
            object.__setattr__(self, "spec", dataclasses.replace(self.spec, target=self.columns.label))
        if self.label_delay_days >= 0 and self.trigger.label_delay != self.label_delay:
            object.__setattr__(self, "trigger", dataclasses.replace(self.trigger, label_delay=self.label_delay))
        problems: list[str] = []
        positive = ("initial_days", "window_days", "lookback_days", "holdout_days", "schedule_days", "harm_days")
        problems.extend(f"{name} must be at least 1" for name in positive if getattr(self, name) < 1)
        if self.label_delay_days < 0:
            problems.append("label_delay_days must not be negative")
        if self.metric not in METRICS:
            problems.append(f"metric must be one of {METRICS}, got {self.metric!r}")
        if self.threshold not in THRESHOLD_RULES:
            problems.append(f"threshold must be one of {THRESHOLD_RULES}, got {self.threshold!r}")
        if not (self.cost_per_deploy >= 0 and self.recovery_tolerance >= 0):
            problems.append("cost_per_deploy and recovery_tolerance must be numbers >= 0")
        if not 0.0 < self.initial_holdout_fraction < 1.0:
            problems.append("initial_holdout_fraction must be in (0, 1)")
        if self.workers is not None and self.workers < 1:
            problems.append("workers must be at least 1 (or None: every CPU)")
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def label_delay(self) -> timedelta:
        """`label_delay_days` as a duration."""
        return timedelta(days=self.label_delay_days)

    def to_json(self) -> dict[str, Any]:
        """Every setting, as JSON (stated in the result)."""
        window = self.window
        return {
            "columns": dataclasses.asdict(self.columns),
            "initial_days": self.initial_days,
            "label_delay_days": self.label_delay_days,
            "window_days": self.window_days,
            "drift": self.drift.to_dict(),
            "trigger": self.trigger.to_json(),
            "governance": {
                "cooldown_hours": self.governance.cooldown / timedelta(hours=1),
                "period_days": self.governance.period / timedelta(days=1),
                "max_per_period": self.governance.max_per_period,
            },
            "quality": dataclasses.asdict(self.quality),
            "window": {
                "strategy": window.strategy,
                "fixed": window.fixed.name,
                "fallback": window.fallback.name,
                "candidates": [candidate.name for candidate in window.candidates],
                "validation_days": window.validation_days,
            },
            "gate": {**dataclasses.asdict(self.gate), "primary_metric": str(self.gate.primary_metric)},
            "model": {"kind": self.spec.kind, "decision_threshold": self.spec.decision_threshold},
            "threshold": self.threshold,
            "lookback_days": self.lookback_days,
            "holdout_days": self.holdout_days,
            "schedule_days": self.schedule_days,
            "policy_schedule": self.policy_schedule,
            "max_champion_age_days": self.max_champion_age_days,
            "cost_per_deploy": self.cost_per_deploy,
            "metric": self.metric,
            "recovery_tolerance": self.recovery_tolerance,
            "harm_days": self.harm_days,
        }


# -- the policy file ------------------------------------------------------------------------------------------------

_TOP_LEVEL = {
    "impact_aware",
    "initial_days",
    "label_delay_days",
    "window_days",
    "threshold",
    "lookback_days",
    "holdout_days",
    "initial_holdout_fraction",
    "schedule_days",
    "policy_schedule",
    "max_champion_age_days",
    "cost_per_deploy",
    "metric",
    "recovery_tolerance",
    "harm_days",
    "workers",
}
_SECTIONS = ("columns", "drift", "trigger", "governance", "quality", "window", "gate", "model")


def _section(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, Mapping):
        raise SettingsError(f"[{name}] must be a table of settings, got {type(value).__name__}")
    return dict(value)


def _take(section: dict[str, Any], name: str, allowed: set[str] | tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in [{name}]: {', '.join(unknown)} (known: {', '.join(sorted(allowed))})"
        )
    return section


def _fields(cls: Any) -> set[str]:
    return {item.name for item in dataclasses.fields(cls)}


def _columns(section: dict[str, Any]) -> HistoryColumns:
    values = _take(section, "columns", _fields(HistoryColumns))
    for name in ("features", "ignore", "provenance"):
        if name in values and values[name] is not None:
            values[name] = tuple(str(item) for item in values[name])
    return HistoryColumns(**values)


def _trigger(section: dict[str, Any]) -> TriggerPolicy:
    known = ("consecutive_checks", "cooldown_days", "max_requests", "period_days", "adapt_days")
    values = _take(section, "trigger", known)
    default = TriggerPolicy()

    def days(name: str, fallback: timedelta) -> timedelta:
        return timedelta(days=values[name]) if name in values else fallback

    return TriggerPolicy(
        consecutive_checks=int(values.get("consecutive_checks", default.consecutive_checks)),
        cooldown=days("cooldown_days", default.cooldown),
        max_requests=int(values.get("max_requests", default.max_requests)),
        period=days("period_days", default.period),
        adapt_days=days("adapt_days", default.adapt_days),
    )


def _governance(section: dict[str, Any]) -> GovernanceConfig:
    values = _take(section, "governance", ("cooldown_hours", "period_days", "max_per_period"))
    default = GovernanceConfig()
    return GovernanceConfig(
        cooldown=timedelta(hours=values["cooldown_hours"]) if "cooldown_hours" in values else default.cooldown,
        period=timedelta(days=values["period_days"]) if "period_days" in values else default.period,
        max_per_period=int(values.get("max_per_period", default.max_per_period)),
    )


def _window(section: dict[str, Any]) -> WindowConfig:
    known = (
        "strategy",
        "candidates",
        "fixed",
        "fallback",
        *(_fields(WindowConfig) - {"candidates", "fixed", "fallback"}),
    )
    values = _take(section, "window", known)

    def candidate(item: Any) -> CandidateWindow:
        if not isinstance(item, Mapping) or set(item) - {"days", "include_initial"}:
            raise SettingsError("a window is a table {days = N (or omitted: all), include_initial = true|false}")
        days = item.get("days")
        return CandidateWindow(None if days is None else int(days), bool(item.get("include_initial", False)))

    if "candidates" in values:
        values["candidates"] = tuple(candidate(item) for item in values["candidates"])
    for name in ("fixed", "fallback"):
        if name in values:
            values[name] = candidate(values[name])
    return dataclasses.replace(DEFAULT_WINDOW, **values)


def settings_from_mapping(document: Mapping[str, Any]) -> BacktestSettings:
    """Settings from a policy file's document: top-level numbers and one table per configuration object.

    Tables: `[columns]` (`HistoryColumns`), `[drift]` (`DriftConfig` fields), `[trigger]` (`consecutive_checks`,
    `cooldown_days`, `max_requests`, `period_days`, `adapt_days`), `[governance]` (`cooldown_hours`, `period_days`,
    `max_per_period`), `[quality]` (`QualityConfig` fields), `[window]` (`WindowConfig` fields; a window is
    `{days, include_initial}`), `[gate]` (`GateConfig` fields), `[model]` (`kind`, `random_state`,
    `decision_threshold`). `SettingsError` on an unknown key or a value a configuration refuses.
    """
    unknown = sorted(set(document) - _TOP_LEVEL - set(_SECTIONS))
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
    try:
        columns = _columns(_section(document, "columns"))
        drift = DriftConfig(**_take(_section(document, "drift"), "drift", _fields(DriftConfig)))
        gate = GateConfig(**_take(_section(document, "gate"), "gate", _fields(GateConfig)))
        quality = QualityConfig(**_take(_section(document, "quality"), "quality", _fields(QualityConfig)))
        model = _take(_section(document, "model"), "model", ("kind", "random_state", "decision_threshold"))
        spec = model_spec.ModelSpec(target=columns.label, **model)
        top = {name: document[name] for name in _TOP_LEVEL if name in document}
        return BacktestSettings(
            columns=columns,
            drift=drift,
            trigger=_trigger(_section(document, "trigger")),
            governance=_governance(_section(document, "governance")),
            quality=quality,
            window=_window(_section(document, "window")),
            gate=gate,
            spec=spec,
            **top,
        )
    except SettingsError:
        raise
    except (TypeError, ValueError) as error:
        raise SettingsError(str(error)) from error
