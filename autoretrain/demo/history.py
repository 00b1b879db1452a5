"""The demo's history: every served prediction read back from its lake, replayed by `autoretrain backtest`, and the
figure behind the decay target measured on the demo's own run.

- `read_lake_history` (during the run, while the emulator is up): one row per served prediction, read from the lake
  in the payload bucket with the jobs' own lake code (`batch_jobs.lake.engine.DuckDBEngine` over `S3LakeFiles`, the
  Glue catalog's feature columns, `batch_jobs.lake.frame.from_lake`'s rules: a request logged twice is read once, its
  earliest record; feature values kept in `unparsed_features` restored). Columns (`backtest.settings.HistoryColumns`):
  `timestamp`, the features, the label *as finally known* (the latest label record, as the jobs' label join reads it:
  after the demo's repaired backfill, the repaired label; empty when no label had arrived by the end of the run),
  `label_arrived_at` (the first arrival of that value: a label later overwritten by the faulty backfill and then
  repaired counts from its first, correct, arrival — the history is the repaired record, not a re-enactment of the
  corruption), and, never features, `request_id`, `model_version` (the version that served it), `score`,
  `predicted_label` and `label_observed_at` (when the latest label record was observed).
- `write_history`: `history.parquet`, which `autoretrain backtest` reads as it is.
- `demo_settings`: the backtest's settings for the demo (the label delay and decision threshold of `DemoConfig`, the
  jobs' defaults for everything else; what differs is stated in `ASSUMPTIONS`).
- `decay_response`: after each performance-decay detection of the demo's own drift checks, how many daily checks the
  served champion's matured-label AUC stayed more than `margin` below the best candidate available (definition in
  `DECAY_DEFINITION`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from autoretrain.backtest import BacktestResult, BacktestSettings, HistoryColumns
from batch_jobs.lake.engine import DuckDBEngine, LakeEngine, S3LakeFiles, Scope
from batch_jobs.lake.frame import from_lake
from batch_jobs.lake.queries import DUPLICATE_OF, LABEL_CLOCK_SKEW, days_between, timestamp_literal
from batch_jobs.lake.windows import GlueFeatureCatalog
from batch_jobs.model_spec import ModelSpec
from core.aws import shared_session
from core.lake import DAY_PARTITION, MODEL_PARTITION, UNPARSED_FEATURES, Column, LakeTable
from core.layout import validate_model_name
from core.settings import LakeSettings

HISTORY_FILE = "history.parquet"
#: The drift check's window (`core.settings.DriftCheckSettings.window_days`; the demo leaves it at its default).
CHECK_WINDOW_DAYS = 7
#: The decay target's margin: a champion more than this far below the best candidate available is lagging.
DECAY_MARGIN = 0.05
#: Checks a lagging champion may survive after a decay is detected (the target).
DECAY_ALLOWED_CHECKS = 2
#: The lake query's own columns, carried through `from_lake` beside the features (their names cannot be features').
_CARRIED = {
    "__request_id": "request_id",
    "__label": "label",
    "__label_arrived_at": "label_arrived_at",
    "__label_observed_at": "label_observed_at",
}

ASSUMPTIONS = (
    "The replay reads the demo's own history (history.parquet, from the demo's lake) with the demo's label delay "
    "and decision threshold and the jobs' default drift, trigger, governance, quality and gate settings.",
    "The replay's candidates train on a fixed window (the last 28 matured days plus the initial set) where the "
    "demo's retrain job chooses among 7 windows by a backtest of its own: that choice costs 7 more fits per "
    "candidate, and the replay trains one candidate a day (the oracle needs them all).",
    "The replay's first champion is trained on the history's first 14 days (the demo's was trained on a separate "
    "initial set of 8,000 rows), so the replay starts 14 days into the demo.",
    "Labels are as finally known: the faulty backfill the demo replays was repaired, and the history carries the "
    "repaired labels from their first arrival; the replay does not re-enact the corruption.",
    "Predictions whose labels had not arrived by the end of the run are unlabelled: the last days have no daily "
    "metric.",
    "The daily metric is each served model's AUC on that day's labels in hindsight; the oracle is the best schedule "
    "of deploys over the same daily candidates (cost 0.1 per deploy) — a bound no real policy can reach.",
)

DECAY_DEFINITION = (
    "For each daily drift check of the demo's own run: the champion's matured-label AUC is the check's own figure "
    "(predictions served between 14 and 7 days before the check whose label had arrived by then, scored by the "
    "champion in service); the best candidate available is the highest AUC, on the same predictions and the same "
    "labels as the check saw them, among the backtest's daily candidates trained by the time of the check (each "
    "trained as the retrain job would have at the end of a day, on labels that had arrived by then; and the "
    "replayed policy's recovery candidates, where it trained any; the figure is also given with the daily "
    "candidates alone). A detection is a check that found performance "
    "decay after one that did not. "
    "From a detection to the next one (or the end of the run), a champion lags at a check where its AUC is more "
    "than 0.05 below that best candidate; the figure is how many daily checks the longest-lagging champion "
    "survived after the first check at which it lagged (target: at most 2). A champion still lagging when the run "
    "ended is flagged: its figure is a lower bound. The best of many candidates on the same rows is biased upwards "
    "by the choice (about 0.01-0.02 at these sample sizes), which makes the figure strict."
)


# -- reading the lake -----------------------------------------------------------------------------------------------


def history_query(
    model_name: str,
    days: Sequence[str],
    label_days: Sequence[str],
    features: Sequence[str],
    *,
    start: datetime,
    end: datetime,
    labels_until: datetime,
) -> str:
    """Every prediction of `model_name` served in `[start, end)`, once per request (its earliest record), with its
    latest label observed by `labels_until` (empty: none), when that label's value first arrived and when the latest
    record was observed; in the columns `from_lake` reads (`duplicate_of` is empty: requests are read once here).
    Values in the text are ours: the model name is validated, days and times are formatted here, the feature columns
    come from the catalog."""
    validate_model_name(model_name)
    feature_list = "".join(f", {column}" for column in features)
    served_list = "".join(f", s.{column}" for column in features)
    # Every value in the text is ours (docstring), as in `batch_jobs.lake.queries`.
    return (
        "WITH served AS ("  # noqa: S608
        f"SELECT request_id, model_version, ts, score, predicted_label, sample_key, {UNPARSED_FEATURES}{feature_list},"
        " ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY ts, model_version, score) AS record"
        f" FROM {LakeTable.PREDICTIONS.value} WHERE {MODEL_PARTITION} = '{model_name}'"
        f" AND {DAY_PARTITION} BETWEEN '{days[0]}' AND '{days[-1]}'"
        f" AND ts >= {timestamp_literal(start)} AND ts < {timestamp_literal(end)}"
        "), records AS ("
        "SELECT request_id, label, observed_at,"
        " ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY observed_at DESC, label DESC) AS newest"
        f" FROM {LakeTable.LABELS.value} WHERE {MODEL_PARTITION} = '{model_name}'"
        f" AND {DAY_PARTITION} BETWEEN '{label_days[0]}' AND '{label_days[-1]}'"
        f" AND observed_at <= {timestamp_literal(labels_until)}"
        "), final AS ("
        "SELECT f.request_id, f.label, f.observed_at AS label_observed_at, MIN(r.observed_at) AS label_arrived_at"
        " FROM records AS f JOIN records AS r ON r.request_id = f.request_id AND r.label = f.label"
        " WHERE f.newest = 1 GROUP BY f.request_id, f.label, f.observed_at)"
        f" SELECT s.request_id, s.model_version, s.ts, s.score, s.predicted_label, s.sample_key, s.{UNPARSED_FEATURES}"
        f"{served_list}, CAST(NULL AS VARCHAR) AS {DUPLICATE_OF}, l.label, l.label_arrived_at, l.label_observed_at"
        " FROM served AS s LEFT JOIN final AS l ON l.request_id = s.request_id WHERE s.record = 1"
    )


def _utc(values: Any) -> pd.Series[Any]:
    times = pd.to_datetime(pd.Series(values), utc=True)
    return times.astype("datetime64[ms, UTC]")


def history_from_result(result: pd.DataFrame, features: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The history (module docstring) from `history_query`'s result; `features` pairs each feature's name with its
    column. Consumes `result` (as `from_lake` does)."""
    window = from_lake(result, [*features, *_CARRIED.items()], labelled=False)
    carried = window.features
    columns = HistoryColumns()
    history = pd.DataFrame({columns.timestamp: _utc(window.time)})
    for name, _ in features:
        values = carried[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            values = values.astype(object).where(values.notna(), None)
        history[name] = values.to_numpy()
    label = pd.to_numeric(carried["__label"], errors="coerce")
    history[columns.label] = pd.array(label.to_numpy(dtype=np.float64, na_value=np.nan), dtype="Int8")
    history[columns.arrival] = _utc(carried["__label_arrived_at"]).to_numpy()
    request_id, version, score, predicted, observed = columns.provenance
    history[request_id] = carried["__request_id"].astype(str).to_numpy()
    history[version] = np.asarray(window.model_version.astype(str), dtype=object)
    history[score] = window.score
    history[predicted] = window.predicted_label.astype(np.int8)
    history[observed] = _utc(carried["__label_observed_at"]).to_numpy()
    return history


def read_history(
    engine: LakeEngine,
    catalog: Sequence[tuple[str, Column]],
    model_name: str,
    start: datetime,
    end: datetime,
) -> pd.DataFrame:
    """Every prediction of `model_name` served in `[start, end)` with its label as finally known by `end` (module
    docstring), read by `engine`; `catalog` is the predictions table's `(feature name, column)` pairs."""
    days = days_between(start, end - timedelta(milliseconds=1))
    label_days = days_between(start - LABEL_CLOCK_SKEW, end)
    scope = Scope(
        model_name,
        {LakeTable.PREDICTIONS: days, LakeTable.LABELS: label_days},
        tuple(column for _, column in catalog),
    )
    columns = [column.name for _, column in catalog]
    sql = history_query(model_name, days, label_days, columns, start=start, end=end, labels_until=end)
    return history_from_result(engine.query(sql, scope), [(name, column.name) for name, column in catalog])


def read_lake_history(model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """`read_history` from the lake the environment names (`AUTORETRAIN_*`, `AWS_ENDPOINT_URL`): DuckDB over the
    payload bucket, the feature columns from the Glue catalog."""
    session = shared_session()
    settings = LakeSettings.from_env()
    catalog = GlueFeatureCatalog(session.client("glue"), settings.database).feature_columns()
    engine = DuckDBEngine(S3LakeFiles(settings.bucket, session), session, threads=1)
    try:
        return read_history(engine, catalog, model_name, start, end)
    finally:
        engine.close()


def write_history(history: pd.DataFrame, path: Path) -> Path:
    """`history` as the Parquet file `autoretrain backtest` reads; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    history.to_parquet(path, index=False)
    return path


# -- the replay -----------------------------------------------------------------------------------------------------


def demo_settings(label_delay_days: int, decision_threshold: float, *, workers: int | None = None) -> BacktestSettings:
    """The backtest's settings for the demo: its label delay and the decision threshold its retrain job is given;
    the jobs' defaults for the rest (the drift check's window and suite, the trigger policy, governance, quality,
    the gate), and the backtest's own defaults (fixed 28-day + initial training window; 14 initial days)."""
    return BacktestSettings(
        label_delay_days=label_delay_days,
        window_days=CHECK_WINDOW_DAYS,
        spec=ModelSpec(decision_threshold=decision_threshold),
        workers=workers,
    )


def targets(result: BacktestResult) -> dict[str, Any]:
    """The issue's targets for the replay: the policy's regret at most 25 % of never-retrain's and at most the
    scheduled always-deploy baseline's, with at most half its deploys."""
    policy, never, scheduled = (result.summary(name) for name in ("policy", "never", "scheduled"))

    ratio = None
    if policy.regret is not None and never.regret is not None and never.regret > 0:
        ratio = policy.regret / never.regret
    versus = None
    if policy.regret is not None and scheduled.regret is not None:
        versus = policy.regret <= scheduled.regret
    return {
        "regret_vs_never": None if ratio is None else round(float(ratio), 4),
        "regret_at_most_quarter_of_never": None if ratio is None else bool(ratio <= 0.25),
        "regret_at_most_scheduled": versus,
        "deploys": {"policy": policy.deploys, "scheduled": scheduled.deploys},
        "deploys_at_most_half_of_scheduled": policy.deploys <= scheduled.deploys / 2,
    }


def backtest_section(result: BacktestResult, *, wall_seconds: float, files: Mapping[str, str]) -> dict[str, Any]:
    """summary.json's `backtest`: every replay's summary (every column of the table), the targets, the settings that
    matter, the assumptions, the timings and the files."""
    window = result.settings["window"]
    return {
        "table": result.table(),
        "replays": [summary.to_json() for summary in result.summaries],
        "targets": targets(result),
        "history": result.history,
        "detected_changes": [result.days[day] for day in result.detected_changes],
        "settings": {
            key: result.settings[key]
            for key in ("label_delay_days", "initial_days", "window_days", "schedule_days", "cost_per_deploy", "model")
        }
        | {"training_window": window["fixed"], "window_strategy": window["strategy"]},
        "assumptions": list(ASSUMPTIONS),
        "definitions": result.definitions,
        "wall_seconds": round(wall_seconds, 1),
        "timings_seconds": {key: round(value, 1) for key, value in result.timings.items()},
        "files": dict(files),
    }


# -- the decay target on the demo's own run -------------------------------------------------------------------------


def _ns(values: pd.Series[Any]) -> NDArray[np.int64]:
    times = pd.to_datetime(values, utc=True)
    ns = times.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").astype(np.int64)
    ns[times.isna().to_numpy()] = np.iinfo(np.int64).max
    result: NDArray[np.int64] = ns
    return result


def _when(moment: str | datetime) -> int:
    return int(pd.Timestamp(moment).tz_convert("UTC").value)


def flips_at(events: Sequence[Mapping[str, Any]], times: NDArray[np.int64], at: int) -> NDArray[np.bool_]:
    """Which predictions (by serving time) carried a label the other way round from the final one at `at`: the label
    backfills of the log (`kind` `label_backfill`, `detail.flipped`, `detail.span`) say which span each one rewrote
    flipped or correct; a span's state at `at` differs from its final state between a faulty backfill and its
    repair."""
    backfills = sorted(
        (event for event in events if event.get("kind") == "label_backfill"), key=lambda event: _when(event["at"])
    )
    state_at = np.zeros(times.size, dtype=bool)
    state_final = np.zeros(times.size, dtype=bool)
    for event in backfills:
        first, last = (_when(moment) for moment in event["detail"]["span"])
        span = (times >= first) & (times < last)
        flipped = bool(event["detail"]["flipped"])
        state_final[span] = flipped
        if _when(event["at"]) <= at:
            state_at[span] = flipped
    result: NDArray[np.bool_] = state_at != state_final
    return result


def column_aucs(labels: NDArray[np.float64], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """The AUC of each column of `scores` (rows x models) against 0/1 `labels` (ties count half); NaN without both
    classes. Per column: each positive's count of lower and of equal negative scores, by binary search in the sorted
    negatives (one sort per column, no ranking of the whole column)."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    result: NDArray[np.float64] = np.full(scores.shape[1], np.nan)
    if n_pos == 0 or n_neg == 0:
        return result
    negatives = np.sort(scores[~positives], axis=0).T.copy()  # one contiguous sorted row per model
    positive_scores = scores[positives].T.copy()
    for column in range(scores.shape[1]):
        below = np.searchsorted(negatives[column], positive_scores[column], side="left")
        up_to = np.searchsorted(negatives[column], positive_scores[column], side="right")
        result[column] = (below.sum() + 0.5 * (up_to - below).sum()) / (n_pos * n_neg)
    return result


def _champion_auc(check: Mapping[str, Any]) -> float | None:
    """The check's matured-label AUC: from the job's result (the log), or as summary.json lists it."""
    for metric in (((check.get("result") or {}).get("performance") or {}).get("metrics")) or []:
        if metric.get("name") == "auc" and metric.get("value") is not None:
            return float(metric["value"])
    listed = (check.get("matured_auc") or {}).get("value")
    return None if listed is None else float(listed)


def _field(check: Mapping[str, Any], name: str) -> Any:
    """A field of the check's result (the log), or of the check as summary.json lists it."""
    result = check.get("result") or {}
    return result[name] if name in result else check.get(name)


def decay_response(
    history: pd.DataFrame,
    result: BacktestResult,
    checks: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
    *,
    label_delay_days: int,
    window_days: int = CHECK_WINDOW_DAYS,
    margin: float = DECAY_MARGIN,
) -> dict[str, Any]:
    """The figure behind the decay target on the demo's own run (`DECAY_DEFINITION`): per check the champion's
    matured-label AUC, the best candidate available and the gap; per detection the checks the champion stayed more
    than `margin` below."""
    columns = HistoryColumns()
    scored = result.candidate_scores
    if scored is None:
        raise ValueError("the backtest's result carries no candidate scores")
    time = _ns(history[columns.timestamp])
    arrival = _ns(history[columns.arrival])
    label = pd.to_numeric(history[columns.label], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    recoveries = {str(item["name"]) for item in result.candidates if item.get("regime_start")}
    position = np.empty(scored.history_rows.size, dtype=np.int64)
    position[scored.history_rows] = np.arange(scored.history_rows.size)  # history row -> the candidates' row
    delay = label_delay_days * 86_400 * 10**9
    window = window_days * 86_400 * 10**9
    rows_out: list[dict[str, Any]] = []
    for check in sorted(checks, key=lambda item: _when(item["at"])):
        at = _when(check["at"])
        decay = _field(check, "performance_decay")
        champion = _champion_auc(check)
        entry: dict[str, Any] = {
            "at": check["at"],
            "champion_version": _field(check, "champion_version"),
            "performance_decay": decay,
            "champion_auc": champion,
        }
        rows = np.flatnonzero((time >= at - delay - window) & (time < at - delay) & ~np.isnan(label) & (arrival <= at))
        names = [name for name, trained_at in scored.trained_at.items() if trained_at <= at]
        aucs = np.full(len(names), np.nan)
        if rows.size and names:
            seen = np.where(flips_at(events, time[rows], at), 1.0 - label[rows], label[rows])
            aucs = column_aucs(seen, np.column_stack([scored.scores[name][position[rows]] for name in names]))
        daily = np.array([name not in recoveries for name in names], dtype=bool)
        for suffix, among in (("", np.ones(len(names), dtype=bool)), ("_daily", daily)):
            entry |= _best(names, np.where(among, aucs, np.nan), champion, suffix)
        entry["rows"] = int(rows.size)
        rows_out.append(entry)
    starts = []
    previous: bool | None = None
    for index, entry in enumerate(rows_out):
        if entry["performance_decay"] is True and previous is not True:
            starts.append(index)
        if entry["performance_decay"] is not None:
            previous = bool(entry["performance_decay"])
    spans = list(zip(starts, [*starts[1:], len(rows_out)], strict=True))
    detections = [_detection(rows_out[a:b], margin, "gap", at_end=b == len(rows_out)) for a, b in spans]
    daily_only = [_detection(rows_out[a:b], margin, "gap_daily", at_end=b == len(rows_out)) for a, b in spans]
    return {
        "definition": DECAY_DEFINITION,
        "margin": margin,
        "allowed_checks": DECAY_ALLOWED_CHECKS,
        "detections": detections,
        "meets_target": all(item["meets_target"] for item in detections),
        "detections_daily_candidates_only": daily_only,
        "meets_target_daily_candidates_only": all(item["meets_target"] for item in daily_only),
        "checks": rows_out,
        "label_backfills": [event for event in events if event.get("kind") == "label_backfill"],
    }


def _best(names: Sequence[str], aucs: NDArray[np.float64], champion: float | None, suffix: str) -> dict[str, Any]:
    """The best of `aucs` (NaN: not a contender) and its gap to the champion, as `best_candidate<suffix>`,
    `best_candidate<suffix>_auc` and `gap<suffix>` (None when there is none)."""
    found: dict[str, Any] = {f"best_candidate{suffix}": None, f"best_candidate{suffix}_auc": None, f"gap{suffix}": None}
    if np.isfinite(aucs).any():
        best = int(np.nanargmax(aucs))
        found[f"best_candidate{suffix}"] = names[best]
        found[f"best_candidate{suffix}_auc"] = round(float(aucs[best]), 4)
        if champion is not None:
            found[f"gap{suffix}"] = round(float(aucs[best]) - champion, 4)
    return found


def _detection(span: Sequence[Mapping[str, Any]], margin: float, gap: str, *, at_end: bool) -> dict[str, Any]:
    """One detection (`span[0]`) and the checks until the next one: per champion the checks at which it lagged (its
    `gap` to the best candidate above `margin`); a champion survived each of them after the first."""
    lagging: dict[str, int] = {}
    for entry in span:
        if entry[gap] is not None and entry[gap] > margin:
            version = str(entry["champion_version"])
            lagging[version] = lagging.get(version, 0) + 1
    worst = max(lagging, key=lambda version: lagging[version], default=None)
    survived = 0 if worst is None else lagging[worst] - 1
    last = span[-1]
    return {
        "detected_at": span[0]["at"],
        "champion_version": span[0]["champion_version"],
        "gap_at_detection": span[0][gap],
        "checks": len(span),
        "lagging_checks": lagging,
        "worst_champion": worst,
        "survived_checks": survived,
        "lagging_when_the_run_ended": at_end and last[gap] is not None and last[gap] > margin,
        "meets_target": survived <= DECAY_ALLOWED_CHECKS,
    }


def demo_deploys(deploys: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """The demo's own deploys: all of them, and those after the first champion's."""
    done = [deploy for deploy in deploys if "failed" not in deploy]
    return {"deploys": len(done), "deploys_after_first": max(0, len(done) - 1)}


__all__ = [
    "ASSUMPTIONS",
    "DECAY_DEFINITION",
    "HISTORY_FILE",
    "backtest_section",
    "decay_response",
    "demo_deploys",
    "demo_settings",
    "read_history",
    "read_lake_history",
    "targets",
    "write_history",
]
