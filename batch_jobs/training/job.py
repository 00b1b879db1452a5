"""The retrain job's vocabulary: what it is asked (`RetrainRequest`), what its decisions depend on
(`RetrainConfig`), what it made (`Challenger`) and how it ended (`RetrainResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from batch_jobs import model_spec
from batch_jobs.gate import GateConfig
from batch_jobs.governance import GovernanceConfig
from batch_jobs.training.fitting import ThresholdChoice
from batch_jobs.training.quality import QualityConfig
from batch_jobs.training.window import WindowChoice, WindowConfig
from core.artifacts import ModelManifest
from core.features import InputSchema
from core.model_lifecycle import Trigger

RETRAIN_TRIGGERS = (Trigger.SCHEDULE, Trigger.DRIFT, Trigger.PERFORMANCE, Trigger.ON_DEMAND, Trigger.INITIAL)


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    """Everything the job's decisions depend on (defaults in each part's docstring).

    - `label_delay` (7 days): a prediction is training data once it is this old (its label has matured).
    - `lookback` (120 days): how far back production predictions are read.
    - `holdout_days` (7): the newest matured production days form the gate's holdout; with no production data
      yet, the newest `initial_holdout_fraction` (20 %) of the initial set does.
    - `incremental` (False): update the champion's final estimator (partial_fit / warm_start) instead of a refit,
      when it supports that.
    - `sample_rows` (50): reference rows shipped in the release for the pipeline's smoke test.
    - `max_champion_age` (None: off): a champion older than this counts as failing, so a challenger that is not
      worse replaces it (`batch_jobs.gate`).
    - `regime_holdout_fraction` (0.4), `min_regime_rows` (300), `min_regime_class_rows` (20): a recovery retrain
      (the request names the regime start, `RetrainRequest.regime_start`) trains on the regime's rows and holds out
      their newest 40 %; it waits for more labels (refused) until it has 300 rows to train on with 20 of each class
      and a holdout the gate accepts (`GateConfig.min_holdout_rows`, `min_class_rows`).
    """

    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    spec: model_spec.ModelSpec = model_spec.DEFAULT_SPEC
    label_delay: timedelta = timedelta(days=7)
    lookback: timedelta = timedelta(days=120)
    holdout_days: int = 7
    initial_holdout_fraction: float = 0.2
    incremental: bool = False
    sample_rows: int = 50
    max_champion_age: timedelta | None = None
    regime_holdout_fraction: float = 0.4
    min_regime_rows: int = 300
    min_regime_class_rows: int = 20


@dataclass(frozen=True, slots=True)
class RetrainRequest:
    """Why and when a retrain was asked for; `regime_start`, for a recovery after performance decay, is when the
    drift check estimated the change began (`batch_jobs.monitoring.regime`)."""

    trigger: Trigger
    reason: str
    now: datetime
    regime_start: datetime | None = None


@dataclass(frozen=True, slots=True)
class Challenger:
    """The fitted challenger, its artefact (written to `directory`) and how it was trained."""

    model: Any
    schema: InputSchema
    manifest: ModelManifest
    directory: Path
    train: pd.DataFrame
    window: WindowChoice
    threshold: ThresholdChoice
    incremental: bool


class Outcome(StrEnum):
    """How a retrain ended."""

    REFUSED = "refused"
    REJECTED = "rejected"
    NOT_NEEDED = "not_needed"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """The job's outcome, printed as JSON."""

    outcome: Outcome
    model_name: str
    version: str | None
    reasons: tuple[str, ...]
    release_uri: str | None = None
    release_s3_version_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {
            "outcome": self.outcome.value,
            "model_name": self.model_name,
            "version": self.version,
            "reasons": list(self.reasons),
            "release_uri": self.release_uri,
            "release_s3_version_id": self.release_s3_version_id,
        }
