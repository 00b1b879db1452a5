"""The daily check of a champion, as the drift-check job makes it (`batch_jobs.monitoring.pipeline.evaluate`), on the
history in memory. Pure.

At the end of day d (`now`): the current window is the predictions of the last `window_days` days; the matured window
is those served between `now − label delay − window_days` and `now − label delay` whose label had arrived by `now`.
Both are scored by the champion (its scores on every row are computed once, with the candidate). The drift suite
(`batch_jobs.drift.DriftSuite`, the project's `DriftConfig`) runs on the current window when it holds at least
`min_samples` rows, else the verdict is `insufficient_data`; performance on the matured labels
(`batch_jobs.drift.performance.evaluate_performance`) against the champion's holdout metrics gives the decay flag
(None unless it could be judged), as the job reports it to the trigger policy; with decay, where it began
(`batch_jobs.monitoring.regime.estimate_regime` on the matured window), which a recovery trains from. The suite's
result carries the drift's estimated impact (`batch_jobs.drift.impact`), which the policy replay passes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from autoretrain.backtest.candidates import Candidate, CandidateKey, Profiles
from autoretrain.backtest.data import DAY_NS, ReplayData
from autoretrain.backtest.settings import BacktestSettings
from batch_jobs.drift import DriftSuite, PerformanceVerdict
from batch_jobs.drift.performance import evaluate_performance
from batch_jobs.monitoring.policy import Verdict
from batch_jobs.monitoring.regime import estimate_regime


@dataclass(frozen=True, slots=True)
class Check:
    """One day's check of one champion: what the trigger policy sees, and a few numbers for the result."""

    day: int
    champion: str
    verdict: Verdict
    performance_decay: bool | None
    drifted_features: tuple[str, ...] = ()
    domain_auc: float | None = None
    matured_auc: float | None = None
    current_rows: int = 0
    matured_rows: int = 0
    #: With decay: the estimated regime start (ns since the epoch).
    regime_start: int | None = None
    #: The drift's estimated impact (None: unknown or the suite did not run) and the expected AUC's drop behind it.
    impactful: bool | None = None
    expected_auc_drop: float | None = None

    @property
    def flagged(self) -> bool:
        """Whether the check found drift or performance decay."""
        return self.verdict == "drift" or bool(self.performance_decay)

    def to_json(self) -> dict[str, Any]:
        """For the result."""
        return {
            "day": self.day,
            "champion": self.champion,
            "verdict": self.verdict,
            "performance_decay": self.performance_decay,
            "drifted_features": list(self.drifted_features),
            "domain_auc": self.domain_auc,
            "matured_auc": self.matured_auc,
            "current_rows": self.current_rows,
            "matured_rows": self.matured_rows,
            "regime_start": None if self.regime_start is None else pd.Timestamp(self.regime_start, tz=UTC).isoformat(),
            "impactful": self.impactful,
            "expected_auc_drop": self.expected_auc_drop,
        }


def run_check(data: ReplayData, settings: BacktestSettings, champion: Candidate, profiles: Profiles, day: int) -> Check:
    """The check of `champion` at the end of `day` (module docstring)."""
    config = settings.drift
    now = data.day_start(day + 1)
    current = data.rows_of_days(day - settings.window_days + 1, day)
    delay = settings.label_delay_days * DAY_NS
    start, end = now - delay - settings.window_days * DAY_NS, now - delay
    span = np.arange(
        int(np.searchsorted(data.time, start, side="left")), int(np.searchsorted(data.time, end, side="left"))
    )
    matured = span[~np.isnan(data.label[span]) & (data.arrival[span] <= now)]
    profile = profiles.of(champion)
    performance = None
    if matured.size:
        with threadpool_limits(1):
            performance = evaluate_performance(
                data.label[matured], champion.scores[matured], profile.holdout_metrics, config
            )
    decay = None
    if performance is not None and performance.verdict in (PerformanceVerdict.DECAY, PerformanceVerdict.NO_DECAY):
        decay = bool(performance.decay)
    matured_auc = None
    if performance is not None:
        matured_auc = next((item.value for item in performance.metrics if item.name == "auc"), None)
    regime = None
    if decay:
        estimate = estimate_regime(
            pd.DatetimeIndex(pd.to_datetime(data.time[matured], unit="ns", utc=True)),
            data.label[matured],
            champion.scores[matured],
            window_start=pd.Timestamp(start, tz=UTC).to_pydatetime(),
        )
        regime = int(pd.Timestamp(estimate.start).value)
    n_current = current.stop - current.start
    if n_current < config.min_samples:
        return Check(
            day, champion.name, "insufficient_data", decay, (), None, matured_auc, n_current, matured.size, regime
        )
    features = data.features.iloc[current].reset_index(drop=True)[list(profile.feature_names)]
    with threadpool_limits(1):
        result = DriftSuite(config).run(profile, features, champion.scores[current])
    return Check(
        day=day,
        champion=champion.name,
        verdict="drift" if result.dataset_drift else "no_drift",
        performance_decay=decay,
        drifted_features=result.drifted_features,
        domain_auc=None if result.multivariate is None else result.multivariate.auc,
        matured_auc=matured_auc,
        current_rows=n_current,
        matured_rows=int(matured.size),
        regime_start=regime,
        impactful=None if result.impact is None else result.impact.impactful,
        expected_auc_drop=None if result.impact is None else result.impact.drop,
    )


@dataclass
class Checks:
    """Checks cached by (champion, day): replays that serve the same champion share them."""

    data: ReplayData
    settings: BacktestSettings
    profiles: Profiles
    _cache: dict[tuple[CandidateKey, int], Check] = field(default_factory=dict)

    def of(self, champion: Candidate, day: int) -> Check:
        """The check of `champion` at the end of `day`."""
        key = (champion.key, day)
        if key not in self._cache:
            self._cache[key] = run_check(self.data, self.settings, champion, self.profiles, day)
        return self._cache[key]
