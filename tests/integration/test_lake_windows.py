"""The lake's queries on DuckDB over Parquet written through awswrangler to moto's S3, the catalog in moto's Glue:
label joins (the latest label wins, labels before predictions, late labels, maturity), duplicates, sampling within
binomial bounds, windows across month and year boundaries, and a schema that gained a feature."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from autoretrain.emulator import LocalResources
from batch_jobs.lake.engine import DuckDBEngine, S3LakeFiles
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.lake.windows import GlueFeatureCatalog, LakeWindows
from core.lake import day_of
from tests.lake_files import MODEL, add_feature_columns, write_labels, write_predictions

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def lake(aws_session: boto3.Session, resources: LocalResources) -> LakeWindows:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    return LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database))


def _rows(n: int, start: datetime = T0, step: timedelta = timedelta(minutes=1)) -> list[dict[str, object]]:
    return [{"request_id": f"r{i}", "ts": start + i * step, "age": float(i)} for i in range(n)]


def _labels_by_age(frame: WindowFrame) -> dict[float, int]:
    assert frame.label is not None
    return dict(zip(frame.features["age"].tolist(), frame.label.tolist(), strict=True))


def test_the_window_reads_typed_features_and_times(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(aws_session, resources.payload_bucket, _rows(10))
    window = lake.prediction_frame(MODEL, T0 + timedelta(minutes=2), T0 + timedelta(minutes=7))
    assert window.features["age"].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert window.features["age"].dtype == "float64"
    assert window.time[0] == T0 + timedelta(minutes=2)
    assert window.records == 5
    assert lake.last_design is not None
    assert lake.last_design.records == 5
    assert not lake.last_design.sampled


def test_a_request_logged_twice_is_read_once_with_its_earliest_record(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(aws_session, resources.payload_bucket, [{"request_id": "dup", "ts": T0, "score": 0.1}])
    later = {"request_id": "dup", "ts": T0 + timedelta(minutes=5), "score": 0.9}
    write_predictions(aws_session, resources.payload_bucket, [later], source="second")
    window = lake.prediction_frame(MODEL, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert window.score.tolist() == [0.1]
    assert window.records == 2  # the count is of records: a bound, the rows are one per request


def test_the_latest_label_wins_and_labels_may_precede_their_prediction_by_the_clock_skew(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(aws_session, resources.payload_bucket, _rows(4))
    write_labels(
        aws_session,
        resources.payload_bucket,
        [
            ("r0", 0, T0 + timedelta(days=1)),
            ("r0", 1, T0 + timedelta(days=2)),  # a correction: the later label wins
            ("r1", 1, T0 - timedelta(hours=12)),  # observed before the prediction, within the skew
            ("r2", 1, T0 - timedelta(days=2)),  # too early: not this prediction's label
            ("r3", 0, T0 + timedelta(days=9)),  # late: after labels_until
        ],
    )
    labelled = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=T0 + timedelta(days=3))
    assert _labels_by_age(labelled) == {0.0: 1, 1.0: 1}
    later = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=T0 + timedelta(days=9))
    assert _labels_by_age(later) == {0.0: 1, 1.0: 1, 3.0: 0}


def test_a_label_observed_exactly_at_the_cutoff_has_matured_and_one_a_millisecond_later_has_not(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    cutoff = T0 + timedelta(days=7)
    write_predictions(aws_session, resources.payload_bucket, _rows(2))
    write_labels(
        aws_session,
        resources.payload_bucket,
        [("r0", 1, cutoff), ("r1", 1, cutoff + timedelta(milliseconds=1))],
    )
    labelled = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=cutoff)
    assert _labels_by_age(labelled) == {0.0: 1}


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 31, 22, tzinfo=UTC), datetime(2026, 2, 1, 2, tzinfo=UTC)),
        (datetime(2025, 12, 31, 22, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)),
    ],
)
def test_a_window_across_a_month_or_year_boundary_reads_both_sides_exactly(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources, start: datetime, end: datetime
) -> None:
    rows = _rows(8 * 60, start - timedelta(hours=2))  # one a minute from two hours before to two hours after
    write_predictions(aws_session, resources.payload_bucket, rows)
    window = lake.prediction_frame(MODEL, start, end)
    assert len(window) == 4 * 60
    assert window.time[0] == start
    assert window.time[-1] == end - timedelta(minutes=1)
    assert {day_of(t) for t in window.time} == {day_of(start), day_of(end - timedelta(minutes=1))}


def test_a_schema_that_gained_a_feature_reads_older_files_as_null(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(aws_session, resources.payload_bucket, _rows(2), source="old")
    add_feature_columns(aws_session, resources.lake_database, [("tenure", "double")])
    newer = [{"request_id": "n0", "ts": T0 + timedelta(minutes=5), "age": 1.0, "tenure": 12.0}]
    write_predictions(aws_session, resources.payload_bucket, newer, source="new", features=("age", "tenure"))
    window = lake.prediction_frame(MODEL, T0, T0 + timedelta(hours=1))
    assert window.features["age"].tolist() == [0.0, 1.0, 1.0]
    assert window.features["tenure"].isna().tolist() == [True, True, False]
    assert window.features["tenure"].iloc[2] == 12.0


def test_unparsed_feature_values_come_back_as_the_record_carried_them(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    rows = [
        {"request_id": "a", "ts": T0, "age": None, "unparsed": '{"age": "n/a", "plan": "gold"}'},
        {"request_id": "b", "ts": T0 + timedelta(seconds=1), "age": 3.0},
    ]
    write_predictions(aws_session, resources.payload_bucket, rows)
    window = lake.prediction_frame(MODEL, T0, T0 + timedelta(hours=1))
    assert window.features["age"].tolist() == ["n/a", 3.0]
    assert window.features["plan"].tolist() == ["gold", None]


def test_a_window_larger_than_the_cap_is_sampled_by_day_within_binomial_bounds(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    lake = LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database), 2_000)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    busy = _rows(4_000, start, timedelta(seconds=21.6))  # 4,000 on the first day
    quiet = _rows(200, start + timedelta(days=1), timedelta(minutes=7))  # 200 on the second
    for row in quiet:
        row["request_id"] = f"q{row['request_id']}"
    write_predictions(aws_session, resources.payload_bucket, busy + quiet)
    labels = [(str(row["request_id"]), i % 2, start + timedelta(days=3)) for i, row in enumerate(busy + quiet)]
    write_labels(aws_session, resources.payload_bucket, labels)

    window = lake.prediction_frame(MODEL, start, start + timedelta(days=2))
    design = lake.last_design
    assert design is not None
    assert design.records == 4_200
    assert design.sampled
    assert design.rates["2026-03-02"] == 1.0  # the quiet day keeps every row
    rate = design.rates["2026-03-01"]
    assert rate == pytest.approx(1_800 / 4_000)
    per_day = Counter(day_of(t) for t in window.time)
    assert per_day["2026-03-02"] == 200
    expected, sd = 4_000 * rate, math.sqrt(4_000 * rate * (1 - rate))
    assert abs(per_day["2026-03-01"] - expected) < 4 * sd

    labelled = lake.labelled_frame(MODEL, start, start + timedelta(days=2), labels_until=start + timedelta(days=4))
    assert labelled.time.equals(window.time)  # a prediction and its label are sampled together
    assert labelled.label is not None
    positives = int(labelled.label.sum())
    n = len(labelled)
    assert abs(positives - n / 2) < 4 * math.sqrt(n / 4)  # the label mix is kept


def test_an_empty_lake_reads_an_empty_window(lake: LakeWindows) -> None:
    assert len(lake.prediction_frame(MODEL, T0, T0 + timedelta(days=1))) == 0
    assert len(lake.labelled_frame(MODEL, T0, T0 + timedelta(days=1), labels_until=T0 + timedelta(days=2))) == 0


def test_counts_and_category_frequencies_are_exact_over_the_whole_window_however_it_is_sampled(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double"), ("plan", "string")])
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    lake = LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database), 1_000)
    plans = ["basic", "pro", "pro", "gold", None]
    rows = [
        {
            "request_id": f"r{i}",
            "ts": T0 + timedelta(seconds=10 * i),
            "age": None if i % 4 == 0 else 1.0,
            "plan": plans[i % 5],
        }
        for i in range(5_000)
    ]
    write_predictions(aws_session, resources.payload_bucket, rows, categorical=("plan",))

    window = lake.prediction_frame(MODEL, T0, T0 + timedelta(days=1))

    assert len(window) < 1_500  # a sample ...
    assert window.exact is not None  # ... but exact counts of every record
    assert window.exact.missing == {"age": 1_250, "plan": 1_000}
    assert window.exact.top_categories == {"plan": {"pro": 2_000, "basic": 1_000, "gold": 1_000}}
