"""The records' optional members through the lake, end to end on moto's S3 and Glue: the payload-ETL's handler
writes them (`arm`, heuristic and shadow columns; a label's `reviewed`), DuckDB reads them back in the windows
(`options=True`), the reviewed read returns only predictions with a reviewed label (their latest reviewed one) while
the joined `label` stays the latest of all, and files written before the columns existed read as null / not
reviewed beside files that have them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest

from autoretrain.emulator import LocalResources
from batch_jobs.lake.engine import DuckDBEngine, S3LakeFiles
from batch_jobs.lake.frame import WindowFrame
from batch_jobs.lake.windows import GlueFeatureCatalog, LakeWindows
from batch_jobs.monitoring.adapters import LakeLiveReads
from batch_jobs.monitoring.review import ReviewDesign
from core.lake import sample_key
from core.records import format_timestamp
from lambdas.payload_etl import handler, reset_cold_start
from tests.integration.etl_support import jsonl, put_object
from tests.lake_files import MODEL, add_feature_columns, write_labels, write_predictions

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAY = "2026-03-10"
SHADOW = {"model_version": "v2", "score": 0.75, "label": 1, "latency_ms": 4.5}


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    reset_cold_start()
    yield
    reset_cold_start()


@pytest.fixture
def lake(aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]) -> LakeWindows:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    return LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database))


def payload(request_id: str, minute: int, **members: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "model_version": "v1",
        "timestamp": format_timestamp(T0 + timedelta(minutes=minute)),
        "features": {"age": float(minute)},
        "prediction": {"score": 0.5, "label": 1},
        "latency_ms": 10.0,
        **members,
    }


def label(request_id: str, value: int, at: datetime, **members: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "model_name": MODEL,
        "label": value,
        "observed_at": format_timestamp(at),
        **members,
    }


def etl(session: boto3.Session, resources: LocalResources, key: str, *documents: dict[str, Any]) -> None:
    result = handler(put_object(session, resources.payload_bucket, key, jsonl(*documents)), None)
    assert result["quarantined"] == 0, result
    reset_cold_start()


def load_payloads(session: boto3.Session, resources: LocalResources, name: str, *documents: dict[str, Any]) -> None:
    etl(session, resources, f"payloads/model={MODEL}/dt={DAY}/{name}.jsonl", *documents)


def load_labels(session: boto3.Session, resources: LocalResources, day: str, *documents: dict[str, Any]) -> None:
    etl(session, resources, f"labels/model={MODEL}/dt={day}/{day}.jsonl", *documents)


def texts(column: Any) -> list[str | None]:
    """A text column's values, None where missing."""
    return [value if isinstance(value, str) else None for value in column]


def by_age(frame: WindowFrame, column: np.ndarray[Any, Any] | Any) -> dict[float, Any]:
    return dict(zip(frame.features["age"].tolist(), list(column), strict=True))


def test_the_windows_read_the_option_columns_the_etl_wrote_and_old_files_as_null(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(aws_session, resources.payload_bucket, [{"request_id": "old", "ts": T0, "age": 0.0}])
    load_payloads(
        aws_session,
        resources,
        "new",
        payload("m", 1, arm="model", shadow=SHADOW),
        payload("c", 2, arm="control", heuristic={"score": 0.2, "label": 0}),
        payload("n", 3),
    )
    window = lake.prediction_frame(MODEL, T0, T0 + timedelta(hours=1), options=True)
    options = window.options
    assert options is not None
    assert texts(options.arm) == [None, "model", "control", None]
    assert texts(options.shadow_version) == [None, "v2", None, None]
    assert np.isnan(options.shadow_score[[0, 2, 3]]).all()
    assert (options.shadow_score[1], options.shadow_label[1], options.shadow_latency_ms[1]) == (0.75, 1, 4.5)
    assert options.heuristic_label.tolist() == [-1, -1, 0, -1]
    assert options.heuristic_score[2] == 0.2
    assert lake.prediction_frame(MODEL, T0, T0 + timedelta(hours=1)).options is None  # only when asked


def test_the_joined_label_is_the_latest_reviewed_or_not_and_the_reviewed_read_takes_only_reviewed_labels(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    load_payloads(
        aws_session,
        resources,
        "new",
        payload("a", 0, arm="model"),
        payload("b", 1, arm="control", heuristic={"score": 0.1, "label": 0}),
        payload("c", 2),
        payload("d", 3),
    )
    reviewed_day, later_day = T0 + timedelta(days=1), T0 + timedelta(days=5)
    load_labels(
        aws_session,
        resources,
        "2026-03-11",
        label("a", 0, reviewed_day, reviewed=True),
        label("b", 1, reviewed_day, reviewed=True),
        label("c", 1, reviewed_day),
    )
    # The retrospective labels arrive later: `a`'s disagrees with its review.
    load_labels(aws_session, resources, "2026-03-15", label("a", 1, later_day), label("d", 0, later_day))
    until = T0 + timedelta(days=7)
    joined = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=until, options=True)
    assert joined.label is not None
    assert by_age(joined, joined.label) == {0.0: 1, 1.0: 1, 2.0: 1, 3.0: 0}  # the latest wins
    reviewed = lake.reviewed_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=until)
    assert reviewed.label is not None
    assert reviewed.keys is not None
    assert reviewed.options is not None
    assert by_age(reviewed, reviewed.label) == {0.0: 0, 1.0: 1}  # the reviewer's answers only
    assert reviewed.keys.request_id.tolist() == ["a", "b"]
    assert reviewed.keys.sample_key.tolist() == [sample_key("a"), sample_key("b")]
    assert list(reviewed.options.arm) == ["model", "control"]
    assert reviewed.records == 2
    assert lake.last_design is not None
    assert lake.last_design.records_per_day == {DAY: 2}
    before_review = lake.reviewed_frame(
        MODEL, T0, T0 + timedelta(hours=1), labels_until=reviewed_day - timedelta(hours=1)
    )
    assert len(before_review) == 0
    assert before_review.keys is not None


def test_labels_written_before_the_reviewed_column_read_as_not_reviewed_beside_newer_ones(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    write_predictions(
        aws_session,
        resources.payload_bucket,
        [{"request_id": "r0", "ts": T0, "age": 0.0}, {"request_id": "r1", "ts": T0 + timedelta(minutes=1), "age": 1.0}],
    )
    write_labels(aws_session, resources.payload_bucket, [("r0", 1, T0 + timedelta(days=1))])  # no `reviewed` column
    load_labels(aws_session, resources, "2026-03-11", label("r1", 0, T0 + timedelta(days=1, hours=1), reviewed=True))
    until = T0 + timedelta(days=3)
    joined = lake.labelled_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=until)
    assert joined.label is not None
    assert by_age(joined, joined.label) == {0.0: 1, 1.0: 0}
    reviewed = lake.reviewed_frame(MODEL, T0, T0 + timedelta(hours=1), labels_until=until)
    assert reviewed.keys is not None
    assert reviewed.keys.request_id.tolist() == ["r1"]
    assert reviewed.options is not None
    assert texts(reviewed.options.arm) == [None]  # an old file


def test_a_reviewed_read_above_the_cap_keeps_each_day_s_share_of_the_reviewed_rows(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    add_feature_columns(aws_session, resources.lake_database, [("age", "double")])
    engine = DuckDBEngine(S3LakeFiles(resources.payload_bucket, aws_session), aws_session)
    lake = LakeWindows(engine, GlueFeatureCatalog(aws_session.client("glue"), resources.lake_database), sample_rows=100)
    ids = [f"r{i}" for i in range(2000)]
    # A review sample chosen by the lowest sample keys (a tenth of the requests): a cap by `sample_key` itself would
    # keep all or none of a low-key review sample; the remixed key keeps about the day's rate of it.
    chosen = sorted(ids, key=sample_key)[:400]
    rows = [
        {"request_id": request_id, "ts": T0 + timedelta(seconds=i), "age": float(i)} for i, request_id in enumerate(ids)
    ]
    write_predictions(aws_session, resources.payload_bucket, rows)
    reviewed_at = T0 + timedelta(days=1)
    load_labels(
        aws_session,
        resources,
        "2026-03-11",
        *(label(request_id, 1, reviewed_at, reviewed=True) for request_id in chosen),
    )
    frame = lake.reviewed_frame(MODEL, T0, T0 + timedelta(hours=2), labels_until=T0 + timedelta(days=2))
    assert lake.last_design is not None
    assert lake.last_design.records_per_day == {DAY: 400}
    rate = lake.last_design.rates[DAY]
    assert rate == pytest.approx(100 / 400)
    expected, spread = 400 * rate, 4 * (400 * rate * (1 - rate)) ** 0.5
    assert abs(len(frame) - expected) <= spread
    assert frame.keys is not None
    assert set(frame.keys.request_id.tolist()) <= set(chosen)


def test_the_glue_tables_carry_the_option_and_reviewed_columns(
    aws_session: boto3.Session, resources: LocalResources
) -> None:
    glue = aws_session.client("glue")
    columns = {
        table: {
            column["Name"]: column["Type"]
            for column in glue.get_table(DatabaseName=resources.lake_database, Name=table)["Table"][
                "StorageDescriptor"
            ]["Columns"]
        }
        for table in ("predictions", "labels")
    }
    assert {
        name: columns["predictions"][name]
        for name in (
            "arm",
            "shadow_version",
            "shadow_score",
            "shadow_label",
            "shadow_latency_ms",
            "heuristic_score",
            "heuristic_label",
        )
    } == {
        "arm": "string",
        "shadow_version": "string",
        "shadow_score": "double",
        "shadow_label": "int",
        "shadow_latency_ms": "double",
        "heuristic_score": "double",
        "heuristic_label": "int",
    }
    assert columns["labels"]["reviewed"] == "boolean"


# --- the live evaluation's reads (batch_jobs.monitoring.adapters.LakeLiveReads) -------------------------------------


def test_the_review_export_reads_exactly_the_designs_rows_and_the_strata_count_the_window(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    design = ReviewDesign((0.5,), (0.8, 0.2), share=0.3, oversample=2.0)
    rng = np.random.default_rng(3)
    scores = rng.random(200)
    documents = [
        payload(f"r{row}", row % 60, arm="model", client_id=f"c{row}") | {"prediction": {"score": score, "label": 0}}
        for row, score in enumerate(scores.tolist())
    ]
    load_payloads(aws_session, resources, "day", *documents)
    reads = LakeLiveReads(lake)
    end = T0 + timedelta(hours=1)

    rows = reads.review_rows(MODEL, T0, end, design)
    counts = reads.stratum_counts(MODEL, T0, end, design)

    expected = {f"r{row}" for row in np.flatnonzero(design.select(scores, request_ids=[f"r{i}" for i in range(200)]))}
    assert set(rows["request_id"]) == expected
    assert {"ts", "model_version", "arm", "score", "predicted_label", "age"} <= set(rows.columns)
    assert counts == {(DAY, stratum): int(n) for stratum, n in enumerate(np.bincount(design.stratum_of(scores)))}


def test_the_outcomes_carry_arm_and_client_and_a_shadows_rows_their_non_reviewed_labels(
    lake: LakeWindows, aws_session: boto3.Session, resources: LocalResources
) -> None:
    load_payloads(
        aws_session,
        resources,
        "day",
        payload("m", 1, arm="model", client_id="c1", shadow=SHADOW),
        payload("c", 2, arm="control", client_id="c2", heuristic={"score": 0.2, "label": 0}, shadow=SHADOW),
        payload("s", 3, shadow=SHADOW | {"model_version": "v3"}),
    )
    later = T0 + timedelta(days=1)
    load_labels(
        aws_session,
        resources,
        "2026-03-11",
        label("m", 1, later),
        label("c", 0, later, reviewed=True),
        label("s", 1, later),
    )
    reads = LakeLiveReads(lake)
    end = T0 + timedelta(hours=1)

    outcomes = reads.outcomes(MODEL, T0, end, labels_until=later + timedelta(hours=1))
    shadowed = reads.shadow_rows(MODEL, "v2", T0, end, labels_until=later + timedelta(hours=1))

    ordered = outcomes.sort_values("ts")
    assert texts(ordered["arm"]) == ["model", "control", None]
    assert texts(ordered["client_id"]) == ["c1", "c2", None]
    assert ordered["label"].tolist() == [1.0, 0.0, 1.0]
    assert shadowed["shadow_score"].tolist() == [0.75, 0.75]  # v2's rows only
    assert shadowed["latency_ms"].tolist() == [10.0, 10.0]
    assert shadowed["label"].iloc[0] == 1.0
    assert np.isnan(shadowed["label"].iloc[1])  # its only label is a reviewed one: left out
