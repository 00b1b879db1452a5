"""`autoretrain backtest`: a monitoring-and-retraining policy replayed over a history of predictions and labels,
beside three baselines (never retrain, retrain on a schedule, retrain on every drift verdict) and a hindsight oracle,
with the project's own drift suite, trigger policy, retraining, gate and model spec, in memory.

The API: `run_backtest(history, settings) -> BacktestResult` (`engine`), pure but for its worker processes; the
files are read and written by `io` and the command is `cli`. Modules: `settings` (what is replayed), `data` (the
history in replay order), `candidates` (the daily models), `monitor` (the daily check), `replay` (the policy and
the baselines), `oracle` (the hindsight schedule), `evaluate` (hindsight scoring), `result`, `report` (HTML),
`streams` (synthetic histories whose right decisions are known).
"""

from autoretrain.backtest.data import HistoryError
from autoretrain.backtest.engine import run_backtest
from autoretrain.backtest.result import BacktestResult, ReplaySummary
from autoretrain.backtest.settings import BacktestSettings, HistoryColumns, SettingsError, settings_from_mapping

__all__ = [
    "BacktestResult",
    "BacktestSettings",
    "HistoryColumns",
    "HistoryError",
    "ReplaySummary",
    "SettingsError",
    "run_backtest",
    "settings_from_mapping",
]
