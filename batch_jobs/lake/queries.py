"""The lake's queries: one SQL text per question, written in DuckDB's dialect and transpiled for Athena (`for_athena`),
never kept twice. Pure: builders return text; the engines (`batch_jobs.lake.engine`) run it.

Every query names the model and a `dt` range, so Athena's partition projection (and DuckDB's file list) reads only
those days. Rules the queries implement, the same as the payload table's readers before them:

- a request logged twice (in two objects) is read once: its earliest record wins. A sample marks each row whose
  sample key another row of the sample shares with its request id (`duplicate_of`, null for every other row) and
  the adapter keeps the earliest record of each marked request (`batch_jobs.lake.frame.from_lake`): no window
  function or sort over the sample, so it streams out of the engine, which holds no copy of it;
- a label joins its prediction by request id; of several labels the latest `observed_at` wins (a corrected label
  replaces a wrong one); labels observed after `labels_until` do not exist yet (maturity), and a label may be
  observed up to `LABEL_CLOCK_SKEW` before its prediction (clients' clocks disagree);
- a sample keeps the requests whose `sample_key` is below a threshold (per day when the days are strata): a
  Bernoulli sample by a hash of the request id, so a prediction, its labels and its duplicates are kept or dropped
  together, and both engines keep the same rows;
- reviewed labels (`reviewed = true`, a human's answer for a prediction of the review sample) take part in the
  label join like any other (the latest label wins, reviewed or not); `reviewed_sample` reads the predictions that
  have one, each with its latest reviewed label, for estimates that follow the review sample's design. Its cap, if
  any, is a Bernoulli sample by `REMIXED_KEY`, whose order is not `sample_key`'s (a review sample chosen by
  `sample_key < k` would otherwise be cut by the same key). Files written before the `reviewed` column read it as
  null: not reviewed.

Samples come back in no particular order (an ORDER BY would hold the whole sample in the engine): the adapter
orders them by `ts`, then `sample_key` (`batch_jobs.lake.frame.from_lake`).

Values in the text are ours: the model name is validated (`core.layout.validate_model_name`), days and times are
formatted here, and columns come from `core.lake.feature_column`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlglot

from core.lake import DAY_PARTITION, MODEL_PARTITION, OPTION_NAMES, REVIEWED, LakeTable, day_of
from core.layout import validate_model_name
from core.model_lifecycle import validate_version

#: A label may be observed this long before its prediction's timestamp and still join.
LABEL_CLOCK_SKEW = timedelta(days=1)
#: The source dialect of every query; Athena's engine (Trino) gets them through sqlglot.
SOURCE_DIALECT = "duckdb"
#: The prediction columns every sample returns, before the features (not the request id: only the queries need it;
#: the sample key orders the rows).
PREDICTION_COLUMNS = ("model_version", "ts", "score", "predicted_label", "sample_key", "unparsed_features")
#: The columns of a prediction's optional members a sample returns when asked (`options=True`), after the features.
OPTION_COLUMNS = OPTION_NAMES
#: A sampling key for reviewed rows, independent of the order of `sample_key` (module docstring): `sample_key` times
#: an odd constant modulo 2^32, a bijection of [0, 2^32) (the product stays below 2^63: no overflow).
REMIXED_KEY = "(sample_key * 1640531527) % 4294967296"


@dataclass(frozen=True, slots=True)
class Window:
    """Predictions of one model with `start <= ts < end` (UTC)."""

    model_name: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        validate_model_name(self.model_name)
        if self.end <= self.start:
            raise ValueError(f"an empty window: {self.start} .. {self.end}")

    @property
    def days(self) -> tuple[str, ...]:
        """The `dt` partitions the window touches, in order."""
        return days_between(self.start, self.end - timedelta(milliseconds=1))


def days_between(first: datetime, last: datetime) -> tuple[str, ...]:
    """Every day from `first`'s to `last`'s, inclusive."""
    day, end = _utc(first).date(), _utc(last).date()
    days = []
    while day <= end:
        days.append(day_of(day))
        day += timedelta(days=1)
    return tuple(days)


def label_days(window: Window, labels_until: datetime) -> tuple[str, ...]:
    """The label partitions a window's labels can be in: from a day of clock skew before it to `labels_until`."""
    return days_between(window.start - LABEL_CLOCK_SKEW, max(labels_until, window.start))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a naive time: {moment}")
    return moment.astimezone(UTC)


def timestamp_literal(moment: datetime) -> str:
    """A UTC time as a SQL timestamp literal (the lake stores naive UTC milliseconds)."""
    text = _utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"TIMESTAMP '{text}'"


def _partition_filter(model_name: str, days: Sequence[str], alias: str = "") -> str:
    return f"{alias}{MODEL_PARTITION} = '{model_name}' AND {alias}{DAY_PARTITION} BETWEEN '{days[0]}' AND '{days[-1]}'"


def _window_filter(window: Window, alias: str = "") -> str:
    """The window's rows; `alias` (`p.`) qualifies the columns."""
    return (
        f"{_partition_filter(window.model_name, window.days, alias)}"
        f" AND {alias}ts >= {timestamp_literal(window.start)} AND {alias}ts < {timestamp_literal(window.end)}"
    )


def _sample_filter(thresholds: Mapping[str, int] | int | None, key: str = "sample_key") -> str:
    """`key < k`, with `k` per day when `thresholds` maps days to bounds (days not named keep nothing)."""
    if thresholds is None:
        return ""
    if isinstance(thresholds, int):
        return f" AND {key} < {thresholds}"
    cases = " ".join(f"WHEN '{day}' THEN {bound}" for day, bound in sorted(thresholds.items()))
    # The constant bound first: engines push it into the Parquet scan (row groups, late materialisation); the
    # per-day CASE alone is evaluated only after every row is decoded.
    widest = max(thresholds.values(), default=0)
    return f" AND {key} < {widest} AND {key} < CASE {DAY_PARTITION} {cases} ELSE 0 END"


def _widest(thresholds: Mapping[str, int] | int | None) -> int | None:
    """One bound that keeps every label a per-day sample of predictions can join (a label's `dt` is its own day)."""
    if thresholds is None or isinstance(thresholds, int):
        return thresholds
    return max(thresholds.values(), default=0)


def daily_counts(window: Window, features: Sequence[str] = ()) -> str:
    """Exact prediction records per day of the window (duplicates of a request counted: a bound, not a census) and,
    per feature column, the day's records holding a typed value."""
    counted = "".join(f", COUNT({column}) AS {column}" for column in features)
    return (
        f"SELECT {DAY_PARTITION} AS day, COUNT(*) AS n{counted} FROM {LakeTable.PREDICTIONS.value}"
        f" WHERE {_window_filter(window)} GROUP BY {DAY_PARTITION} ORDER BY {DAY_PARTITION}"
    )


#: The most frequent categories `window_aggregates` lists per categorical feature.
TOP_CATEGORIES = 20


def category_counts(window: Window, columns: Sequence[str], top: int = TOP_CATEGORIES) -> str:
    """Exact record counts of each categorical column's `top` most frequent values over the whole window (ties by
    value), as rows `(feature, value, n)`; `feature` is the column's name."""
    counted = " UNION ALL ".join(
        f"SELECT '{column}' AS feature, {column} AS value, COUNT(*) AS n FROM {LakeTable.PREDICTIONS.value}"
        f" WHERE {_window_filter(window)} AND {column} IS NOT NULL GROUP BY {column}"
        for column in columns
    )
    return (
        "SELECT feature, value, n FROM (SELECT feature, value, n,"
        " ROW_NUMBER() OVER (PARTITION BY feature ORDER BY n DESC, value) AS place"
        f" FROM ({counted}) AS counted) AS ranked WHERE place <= {top} ORDER BY feature, n DESC, value"
    )


#: The column that names the request of a row whose sample key repeats in the sample (null otherwise).
DUPLICATE_OF = "duplicate_of"


def _marked_predictions(
    window: Window,
    features: Sequence[str],
    thresholds: Mapping[str, int] | int | None,
    *,
    options: bool = False,
    key: str = "sample_key",
) -> str:
    """The sample's predictions, each row whose sample key repeats marked with its request id (module docstring)."""
    columns = ", ".join(("request_id", *PREDICTION_COLUMNS, *features, *(OPTION_COLUMNS if options else ())))
    scanned = f"FROM {LakeTable.PREDICTIONS.value} WHERE {_window_filter(window)}{_sample_filter(thresholds, key)}"
    repeated = f"SELECT sample_key {scanned} AND sample_key IS NOT NULL GROUP BY sample_key HAVING COUNT(*) > 1"
    return f"SELECT {columns}, CASE WHEN sample_key IN ({repeated}) THEN request_id END AS {DUPLICATE_OF} {scanned}"


def prediction_sample(
    window: Window, features: Sequence[str], thresholds: Mapping[str, int] | int | None, *, options: bool = False
) -> str:
    """The window's predictions, sampled by `thresholds` (None: all), with the given feature columns, the
    `OPTION_COLUMNS` if `options`, and `duplicate_of` (the adapter keeps a request's earliest record)."""
    selected = ", ".join((*PREDICTION_COLUMNS, *features, *(OPTION_COLUMNS if options else ()), DUPLICATE_OF))
    return f"SELECT {selected} FROM ({_marked_predictions(window, features, thresholds, options=options)}) AS p"


def labelled_sample(
    window: Window,
    features: Sequence[str],
    thresholds: Mapping[str, int] | int | None,
    *,
    labels_until: datetime,
    options: bool = False,
) -> str:
    """The window's predictions that have a label observed by `labels_until`, each with its latest label (reviewed
    or not), sampled like `prediction_sample` (with `duplicate_of` and, if `options`, the `OPTION_COLUMNS`), with
    `label`."""
    predictions = _marked_predictions(window, features, thresholds, options=options)
    return _joined(window, features, predictions, _widest(thresholds), labels_until=labels_until, options=options)


def _label_filter(window: Window, labels_until: datetime) -> str:
    return (
        f"{_partition_filter(window.model_name, label_days(window, labels_until))}"
        f" AND observed_at >= {timestamp_literal(window.start - LABEL_CLOCK_SKEW)}"
        f" AND observed_at <= {timestamp_literal(labels_until)}"
    )


def _joined(
    window: Window,
    features: Sequence[str],
    predictions: str,
    label_bound: int | None,
    *,
    labels_until: datetime,
    options: bool,
    reviewed_only: bool = False,
    key: str = "sample_key",
) -> str:
    """`predictions` (marked) joined to each request's latest label of those observed by `labels_until` (of its
    reviewed ones if `reviewed_only`), labels kept by `key < label_bound` like their predictions."""
    returned = (*PREDICTION_COLUMNS, *features, *(OPTION_COLUMNS if options else ()), DUPLICATE_OF)
    if reviewed_only:
        returned = ("request_id", *returned)
    selected = ", ".join((*(f"p.{name}" for name in returned), "l.label"))
    reviewed = f" AND {REVIEWED}" if reviewed_only else ""
    return (
        f"SELECT {selected} FROM ({predictions}) AS p"
        f" JOIN (SELECT request_id, label,"
        f" ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY observed_at DESC, label DESC) AS latest"
        f" FROM {LakeTable.LABELS.value} WHERE {_label_filter(window, labels_until)}{reviewed}"
        f"{_sample_filter(label_bound, key)}) AS l"
        f" ON l.request_id = p.request_id AND l.latest = 1"
    )


def reviewed_counts(window: Window, *, labels_until: datetime) -> str:
    """Per day of the window, its prediction records that have a reviewed label observed by `labels_until` (a
    request logged twice counts twice: a bound, as `daily_counts`), as rows `(day, n)`."""
    reviewed = (
        f"SELECT DISTINCT request_id FROM {LakeTable.LABELS.value}"
        f" WHERE {_label_filter(window, labels_until)} AND {REVIEWED}"
    )
    return (
        f"SELECT p.{DAY_PARTITION} AS day, COUNT(*) AS n FROM {LakeTable.PREDICTIONS.value} AS p"
        f" JOIN ({reviewed}) AS l ON l.request_id = p.request_id"
        f" WHERE {_window_filter(window, 'p.')}"
        f" GROUP BY p.{DAY_PARTITION} ORDER BY p.{DAY_PARTITION}"
    )


def reviewed_sample(
    window: Window,
    features: Sequence[str],
    thresholds: Mapping[str, int] | int | None,
    *,
    labels_until: datetime,
) -> str:
    """The window's predictions that have a reviewed label observed by `labels_until`, each with its latest
    reviewed label (a later retrospective label does not replace it here), with `request_id`, the prediction
    columns, the features, the `OPTION_COLUMNS`, `duplicate_of` and `label`.

    Sampled, when `thresholds` is not None, by `REMIXED_KEY` rather than `sample_key`: a review sample is itself
    chosen by request id, possibly by `sample_key`, and a cap by the same key would keep a share of it other than
    the day's rate."""
    predictions = _marked_predictions(window, features, thresholds, options=True, key=REMIXED_KEY)
    return _joined(
        window,
        features,
        predictions,
        _widest(thresholds),
        labels_until=labels_until,
        options=True,
        reviewed_only=True,
        key=REMIXED_KEY,
    )


def selected_predictions(window: Window, features: Sequence[str], condition: str) -> str:
    """Every prediction of the window for which `condition` (SQL over the prediction columns, e.g. a review design's
    selection on `score` and `sample_key`) holds, unsampled, with `request_id`, the prediction columns, the features,
    the `OPTION_COLUMNS` and `duplicate_of`."""
    return f"SELECT * FROM ({_marked_predictions(window, features, None, options=True)}) AS p WHERE {condition}"


def grouped_counts(window: Window, expressions: Sequence[str]) -> str:
    """The window's prediction records per combination of `expressions`' values (a request logged twice counts
    twice: a bound), as rows `(k0, k1, ..., n)`."""
    keys = ", ".join(f"{expression} AS k{index}" for index, expression in enumerate(expressions))
    grouped = ", ".join(expressions)
    return (
        f"SELECT {keys}, COUNT(*) AS n FROM {LakeTable.PREDICTIONS.value}"
        f" WHERE {_window_filter(window)} GROUP BY {grouped}"
    )


#: A prediction's UTC day as text (`YYYY-MM-DD`), in both engines (the lake stores naive UTC times).
PREDICTION_DAY = "CAST(CAST(ts AS DATE) AS VARCHAR)"


#: What `shadowed_sample` returns of a prediction scored in shadow too.
SHADOWED_COLUMNS = (
    "ts",
    "score",
    "predicted_label",
    "latency_ms",
    "shadow_score",
    "shadow_label",
    "shadow_latency_ms",
)


def shadowed_sample(window: Window, version: str, thresholds: int | None, *, labels_until: datetime) -> str:
    """The window's predictions that `version` scored in shadow (sampled by `sample_key < thresholds`, None: all),
    with `SHADOWED_COLUMNS` and the latest label observed by `labels_until` (null without one: a left join). Reviewed
    labels are left out: the review sample oversamples by the served (the champion's) score, which would weigh one
    of the two compared models' rows. A request logged twice is read twice here (a comparison of two models on the
    same rows is not biased by it)."""
    validate_version(version)  # letters, digits and `_ . : + -` only: safe inside the quotes
    scanned = (
        f"SELECT request_id, {', '.join(SHADOWED_COLUMNS)} FROM {LakeTable.PREDICTIONS.value}"
        f" WHERE {_window_filter(window)} AND shadow_version = '{version}'{_sample_filter(thresholds)}"
    )
    selected = ", ".join(f"p.{name}" for name in SHADOWED_COLUMNS)
    return (
        f"SELECT {selected}, l.label FROM ({scanned}) AS p"
        f" LEFT JOIN (SELECT request_id, label,"
        f" ROW_NUMBER() OVER (PARTITION BY request_id ORDER BY observed_at DESC, label DESC) AS latest"
        f" FROM {LakeTable.LABELS.value} WHERE {_label_filter(window, labels_until)}"
        f" AND NOT COALESCE({REVIEWED}, FALSE){_sample_filter(thresholds)}) AS l"
        f" ON l.request_id = p.request_id AND l.latest = 1"
    )


def for_athena(sql: str) -> str:
    """The query in Athena's dialect (Trino), transpiled from the source dialect."""
    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write="athena")[0]
