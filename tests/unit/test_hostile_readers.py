"""Readers of stored records cannot be broken by a record: each value no column can hold becomes missing, counted.

Stored records are built through the real segment codec without the contract's check (as values stored before it
was tightened would be), then read by every reader: the drift check's window, the retrain's training frame and
what the retrain does with it, the alerting aggregate and its checks. The property test sends arbitrary records
through serving's request parser and the payload ETL first, and every record either is refused at the edge with a
reason or reads back without error: the lake rows the ETL wrote through the jobs' window (`from_lake`), the
aggregate items it wrote through the alerting checks and messages.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batch_jobs.drift import ReferenceProfile, ReferenceProfiler
from batch_jobs.lake.frame import WindowFrame, from_lake
from batch_jobs.model_spec import feature_frame
from batch_jobs.monitoring.window import Rescorer, ScoredWindow, scored_window
from batch_jobs.training.frames import assemble, fingerprint
from batch_jobs.training.quality import QualityConfig, check_quality
from core.aggregates import Aggregate
from core.features import FeatureSpec, InputSchema
from core.records import format_timestamp
from core.segments import PREDICTIONS_FORMAT, LabelledColumns, PredictionColumns, encode_segment
from lambdas.alerting.messages import NoticeKind, render
from lambdas.alerting.models import AlertPolicy
from lambdas.alerting.signals import evaluate, summarise
from lambdas.payload_etl.models import ObjectRef
from lambdas.serving.logic import parse_request
from lambdas.serving.models import InvalidRequestError
from tests.baselines import BASELINE
from tests.payload_etl_fakes import load_object

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TARGET = "churned"
SCHEMA = InputSchema(
    (
        FeatureSpec("tenure", "numeric", nullable=True),
        FeatureSpec("plan", "categorical", nullable=True, categories=("basic", "pro")),
    )
)
HUGE = 10**400
SURROGATE = "\udc00"


@pytest.fixture(scope="module")
def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(size=200),
            "plan": pd.array(rng.choice(["basic", "pro"], 200), dtype="str"),
            "flag": pd.array(rng.random(200) < 0.5, dtype=object),
        }
    )
    return ReferenceProfiler().fit(frame, scores=rng.random(200)).profile_


def record(index: int, features: object, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "request_id": f"r{index}",
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": format_timestamp(NOW - timedelta(minutes=index + 1)),
        "features": features,
        "prediction": {"score": 0.25, "label": 0},
        "latency_ms": 12.5,
    }
    document.update(changes)
    return document


def stored(documents: Sequence[Mapping[str, Any]]) -> PredictionColumns:
    """The records as a segment holds them, read back, with no contract check in between (stored before it was
    tightened); `json.dumps` writes lone surrogates as escapes and non-finite floats as `NaN`/`Infinity` tokens."""
    lines = [json.dumps(document) for document in documents]
    body = encode_segment(PREDICTIONS_FORMAT, "timestamp", [d["timestamp"] for d in documents], lines)
    return PredictionColumns.decode(body, model_name="churn", record_count=len(lines))


def never() -> Rescorer:
    raise AssertionError("every row was served by the champion")


def drift_window(columns: PredictionColumns | WindowFrame, profile: ReferenceProfile) -> ScoredWindow:
    return scored_window(
        WindowFrame.from_columns(columns) if isinstance(columns, PredictionColumns) else columns,
        start=NOW - timedelta(days=1),
        end=NOW,
        profile=profile,
        champion_version="v1",
        rescore=never,
    )


def retrain_on(columns: PredictionColumns | WindowFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """What the retrain does with stored rows (a labelled window): assemble, check quality, fingerprint, build the
    model's input."""
    if isinstance(columns, PredictionColumns):
        n_rows = len(columns)
        window = WindowFrame.from_columns(
            LabelledColumns(columns, [index % 2 for index in range(n_rows)], [format_timestamp(NOW)] * n_rows)
        )
    else:
        window = columns
    data = assemble(None, window, target=TARGET, matured_before=NOW, champion_schema=SCHEMA)
    check_quality(data.frame, schema=SCHEMA, target=TARGET, config=QualityConfig())
    present = [name for name in SCHEMA.names if name in data.frame.columns]
    fingerprint(data.frame, [*present, TARGET])
    if len(present) == len(SCHEMA.names):
        feature_frame(data.frame, SCHEMA)
    return data.frame, data.unusable_values


def alert_summary(columns: PredictionColumns | Aggregate) -> Aggregate:
    """The alerting aggregate of the rows (or the aggregate as read back), judged by every check, each verdict
    rendered as an alert: what an alert shows must be UTF-8 (SNS refuses lone surrogates)."""
    summary = columns if isinstance(columns, Aggregate) else summarise(columns, BASELINE)
    texts = [*summary.extra, *summary.wrong_type, *(str(v) for c in summary.unseen_values.values() for v in c)]
    "".join(texts).encode("utf-8")
    policy = AlertPolicy(min_rows=1, min_latency_rows=1)
    for result in evaluate(summary, history=[1, 1, 1], baseline=BASELINE, policy=policy, window_text="w"):
        notice = render(
            NoticeKind.FIRING,
            result,
            model_name="churn",
            model_version="v1",
            since=NOW,
            checked_at=NOW,
            runbook_url="r",
        )
        notice.message.encode("utf-8")
        json.dumps(dict(notice.detail), allow_nan=False).encode("utf-8")
    return summary


def lake_window(rows: Sequence[Mapping[str, Any]], *, labelled: bool) -> WindowFrame:
    """The jobs' window of lake rows as the ETL wrote them (a query's result: `ts` as a time, `duplicate_of` from
    the lake's deduplication, a label on every row of a labelled window)."""
    frame = pd.DataFrame(list(rows))
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms")
    frame["duplicate_of"] = None
    if labelled:
        frame["label"] = np.arange(len(frame)) % 2
    features = [(str(name)[2:], str(name)) for name in frame.columns if str(name).startswith("f_")]
    return from_lake(frame, features, labelled=labelled, records=len(frame))


HOSTILE_NUMERIC = {
    "a 400-digit integer": HUGE,
    "a negative 400-digit integer": -HUGE,
    "an integer just beyond the double range": 2**1024,
    "a NaN token": math.nan,
    "an Infinity token": math.inf,
    "a lone surrogate": SURROGATE,
    "a nested object": {"a": [1, 2]},
    "a list": [1.5],
}
HOSTILE_CATEGORICAL = {
    "a lone surrogate": SURROGATE,
    "text ending in a lone surrogate": "pro\ud800",
    "a 400-digit integer": HUGE,
    "a NaN token": math.nan,
    "a nested object": {"plan": "pro"},
}


@pytest.mark.parametrize("value", HOSTILE_NUMERIC.values(), ids=HOSTILE_NUMERIC.keys())
def test_an_unusable_numeric_value_becomes_missing_and_is_counted_in_the_drift_window(
    value: object, profile: ReferenceProfile
) -> None:
    columns = stored([record(0, {"tenure": 1.5, "plan": "pro"}), record(1, {"tenure": value, "plan": "pro"})])
    window = drift_window(columns, profile)
    assert window.features["tenure"].isna().tolist() == [False, True]
    assert window.type_mismatches == {"tenure": 1}


@pytest.mark.parametrize("value", HOSTILE_CATEGORICAL.values(), ids=HOSTILE_CATEGORICAL.keys())
def test_an_unusable_category_becomes_missing_and_is_counted_in_the_drift_window(
    value: object, profile: ReferenceProfile
) -> None:
    columns = stored([record(0, {"tenure": 1.5, "plan": "pro"}), record(1, {"tenure": 2.0, "plan": value})])
    window = drift_window(columns, profile)
    assert window.features["plan"].isna().tolist() == [False, True]
    assert window.type_mismatches == {"plan": 1}


def test_a_feature_name_with_a_lone_surrogate_is_counted_under_its_escaped_name(profile: ReferenceProfile) -> None:
    columns = stored([record(0, {"tenure": 1.5, "plan": "pro", SURROGATE: 1}), record(1, {"tenure": 2.0})])
    window = drift_window(columns, profile)
    assert window.features["tenure"].tolist() == [1.5, 2.0]
    assert window.type_mismatches == {"\\udc00": 1}
    json.dumps(window.summary(), ensure_ascii=False).encode("utf-8")


def test_a_text_in_a_boolean_feature_is_a_mismatch_not_a_failed_run(profile: ReferenceProfile) -> None:
    columns = stored([record(0, {"tenure": 1.0, "flag": True}), record(1, {"tenure": 1.0, "flag": "yes"})])
    window = drift_window(columns, profile)
    assert window.features["flag"].tolist()[0] is True
    assert pd.isna(window.features["flag"].tolist()[1])
    assert window.type_mismatches == {"flag": 1}


def test_integers_beyond_int64_but_within_the_double_range_are_numbers(profile: ReferenceProfile) -> None:
    columns = stored([record(0, {"tenure": 2**64}), record(1, {"tenure": -(10**300)})])
    window = drift_window(columns, profile)
    assert window.features["tenure"].tolist() == [float(2**64), -1e300]
    assert window.type_mismatches == {}


@pytest.mark.parametrize(
    "features",
    [
        {"tenure": HUGE, "plan": "pro"},
        {"tenure": 1.0, "plan": SURROGATE},
        {"tenure": SURROGATE, "plan": "pro"},
        {"tenure": 1.0, "plan": "pro", SURROGATE: "x"},
        {"tenure": math.inf, "plan": {"nested": True}},
    ],
    ids=["huge integer", "surrogate category", "surrogate number", "surrogate name", "inf and nested"],
)
def test_the_training_frame_holds_every_stored_record_and_counts_what_it_cannot_use(features: object) -> None:
    columns = stored([record(0, {"tenure": 1.5, "plan": "pro"}), record(1, features)])
    frame, unusable = retrain_on(columns)
    assert len(frame) == 2
    assert sum(unusable.values()) >= 1
    assert frame["tenure"].iloc[0] == 1.5


def test_the_training_counts_report_unusable_values() -> None:
    columns = stored([record(0, {"tenure": HUGE, "plan": SURROGATE}), record(1, {"tenure": 1.0, "plan": "pro"})])
    window = WindowFrame.from_columns(LabelledColumns(columns, [0, 1], [format_timestamp(NOW)] * 2))
    data = assemble(None, window, target=TARGET, matured_before=NOW, champion_schema=SCHEMA)
    assert data.unusable_values == {"tenure": 1, "plan": 1}
    assert data.counts["unusable_values"] == 2


def test_the_alert_summary_counts_unusable_numbers_as_wrongly_typed_and_escapes_what_it_shows() -> None:
    columns = stored(
        [
            record(0, {"tenure": HUGE, "plan": "pro\udc00", "x\ud800": 1}),
            record(1, {"tenure": math.nan, "plan": "p" * 10_000}),
        ]
    )
    summary = alert_summary(columns)
    assert summary.wrong_type == {"tenure": 2}
    assert summary.extra == {"x\\ud800": 1}
    assert set(summary.unseen_values["plan"]) == {"pro\\udc00", "p" * 99 + "…"}


def test_a_latency_beyond_the_double_range_reads_as_none_not_a_refused_segment() -> None:
    columns = stored([record(0, {"tenure": 1.0}, latency_ms=HUGE), record(1, {"tenure": 1.0}, latency_ms=math.inf)])
    assert columns.latency_ms == [None, None]


# --- the property: refused at the edge with a reason, or read back by every reader -------------------------------

_CHARACTERS = st.characters(codec=None, exclude_categories=())  # lone surrogates included
_NAMES = st.one_of(st.sampled_from(["tenure", "plan", "flag", SURROGATE, "x" * 5000]), st.text(_CHARACTERS))
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([HUGE, -HUGE, 2**64, 2**1024, 2**1024 - 1, 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.7976931348623157e308, -1.7976931348623157e308, 5e-324]),
    st.text(_CHARACTERS, max_size=20),
    st.sampled_from(["NaN", "inf", "-Infinity", "1e400", SURROGATE, "x" * 70_000]),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
)
_FEATURES = st.dictionaries(_NAMES, _VALUES, max_size=5)


def _source(size: int) -> ObjectRef:
    return ObjectRef("payload-bucket", "payloads/model=churn/dt=2026-11-23/a.jsonl", "0" * 32, size)


def _served(features: object) -> tuple[int, tuple[str, ...]]:
    """Serving's verdict on a request: how many instances it accepted, or the problems it refused them for."""
    try:
        return len(parse_request({"features": features}, SCHEMA, "inv")), ()
    except InvalidRequestError as error:
        return 0, error.problems


def _read_everywhere(columns: PredictionColumns, profile: ReferenceProfile) -> None:
    drift_window(columns, profile)
    retrain_on(columns)
    alert_summary(columns)


#: The lake's typed feature columns (others land in `unparsed_features`).
LAKE_COLUMNS = {"f_tenure": "double", "f_plan": "string"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_FEATURES, min_size=1, max_size=3))
def test_any_record_is_refused_at_the_edge_with_a_reason_or_read_back_by_every_reader(
    rows: list[dict[str, Any]], profile: ReferenceProfile
) -> None:
    for features in rows:  # serving: refused with its problems, or accepted
        accepted, problems = _served(features)
        assert (accepted == 1) != bool(problems)

    documents = [record(index, features) for index, features in enumerate(rows)]
    body = "".join(json.dumps(document) + "\n" for document in documents).encode()
    source = _source(len(body))
    extraction = load_object(
        body,
        key=source.key,
        bucket=source.bucket,
        etag=source.etag,
        retention_days=90,
        feature_types=LAKE_COLUMNS,
        baselines={("churn", "v1"): BASELINE},
        arrival_epoch=int(NOW.timestamp()),
    )
    assert all(entry.reasons for entry in extraction.quarantined)
    # What the ETL stored, read as every reader reads it: the lake's rows by the jobs, the aggregates by alerting.
    if extraction.predictions:
        drift_window(lake_window(extraction.predictions, labelled=False), profile)
        retrain_on(lake_window(extraction.predictions, labelled=True))
    for item in extraction.items:
        alert_summary(Aggregate.loads(str(item["body"]["S"])))
    assert extraction.aggregate.rows + extraction.aggregate.refused == len(documents)

    # Defence in depth: the same records stored before the contract refused any of them.
    _read_everywhere(stored([document for document in documents if document["features"] is not None]), profile)


def test_what_the_etl_stores_of_accepted_records_reads_back_in_the_jobs_window_and_the_alerting_checks(
    profile: ReferenceProfile,
) -> None:
    documents = [record(0, {"tenure": 1.5, "plan": "pro"}), record(1, {"tenure": 2**64, "plan": "max", "x": 1})]
    documents.append(record(2, {"tenure": math.inf, "plan": "pro"}))  # refused: not finite
    body = "".join(json.dumps(document) + "\n" for document in documents).encode()
    source = _source(len(body))
    extraction = load_object(
        body,
        key=source.key,
        bucket=source.bucket,
        etag=source.etag,
        feature_types=LAKE_COLUMNS,
        baselines={("churn", "v1"): BASELINE},
        arrival_epoch=int(NOW.timestamp()),
    )

    window = lake_window(extraction.predictions, labelled=False)
    assert window.features["tenure"].tolist() == [float(2**64), 1.5]  # in time order: record 1 is older
    assert drift_window(window, profile).features["plan"].tolist() == ["max", "pro"]
    frame, _ = retrain_on(lake_window(extraction.predictions, labelled=True))
    assert len(frame) == 2
    summary = alert_summary(extraction.aggregate)
    assert (summary.rows, summary.refused, summary.non_finite) == (2, 1, 1)
    assert (summary.unseen_rows, summary.extra) == (1, {"x": 1})
