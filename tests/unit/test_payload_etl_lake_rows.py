"""The payload-ETL's lake rows (`extract.LakeRows`) through the real `process_object` over in-memory ports: which
file a record goes to, how a feature is typed, and that chunking depends on the object alone."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.lake import LakeTable, feature_column, part_file_key, source_digest
from core.records import format_timestamp
from lambdas.payload_etl.limits import DEFAULT_LIMITS, MIN_MEMORY_MB, EtlLimits
from tests.payload_etl_fakes import BUCKET, ETAG, load_object

KEY = "payloads/model=churn/dt=2026-11-23/a.jsonl"
START = datetime(2026, 11, 23, tzinfo=UTC)
COLUMNS = {feature_column("plan"): "string", feature_column("tenure"): "double"}


def payload(request_id: str, moment: datetime = START, **features: Any) -> str:
    return json.dumps(
        {
            "request_id": request_id,
            "model_name": "churn",
            "model_version": "v1",
            "timestamp": format_timestamp(moment),
            "features": features or {"plan": "pro", "tenure": 3},
            "prediction": {"score": 0.5, "label": 1},
        }
    )


def body_of(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def test_every_loaded_record_is_one_lake_row_with_its_typed_features() -> None:
    result = load_object(
        body_of(payload("r-1"), payload("r-2", tenure=2.5, plan="basic")), key=KEY, feature_types=COLUMNS
    )
    (chunk,) = result.lake.files.values()
    assert chunk.key == part_file_key(LakeTable.PREDICTIONS, "churn", "2026-11-23", source_digest(BUCKET, KEY, ETAG), 0)
    assert (chunk.rows, result.result.lake_files) == (2, 1)
    assert list(chunk.columns["f_tenure"]) == [3.0, 2.5]
    assert list(chunk.columns["f_plan"]) == ["pro", "basic"]
    assert list(chunk.columns["ts"]) == [int(START.timestamp() * 1000)] * 2
    assert chunk.glue_types["ts"] == "timestamp"
    assert chunk.glue_types["f_tenure"] == "double"


def test_a_value_that_does_not_fit_its_column_goes_to_unparsed_features_with_the_features_without_one() -> None:
    line = payload("r-1", plan=7, tenure=True, region="eu", score=None)
    result = load_object(body_of(line), key=KEY, feature_types=COLUMNS)
    (chunk,) = result.lake.files.values()
    assert "f_plan" not in chunk.columns
    assert "f_tenure" not in chunk.columns
    assert json.loads(chunk.columns["unparsed_features"][0]) == {
        "plan": 7,
        "tenure": True,
        "region": "eu",
        "score": None,
    }
    assert result.lake.missing_reports == 1


def test_a_null_value_of_a_feature_with_a_column_is_a_null_in_it() -> None:
    result = load_object(body_of(payload("r-1", plan=None, tenure=1), payload("r-2")), key=KEY, feature_types=COLUMNS)
    (chunk,) = result.lake.files.values()
    assert list(chunk.columns["f_plan"]) == [None, "pro"]
    assert list(chunk.columns["unparsed_features"]) == [None, None]
    assert result.lake.missing_reports == 0


def test_a_feature_column_of_a_type_no_value_is_typed_as_gets_no_values() -> None:
    result = load_object(body_of(payload("r-1")), key=KEY, feature_types={feature_column("tenure"): "bigint"})
    (chunk,) = result.lake.files.values()
    assert "f_tenure" not in chunk.columns
    assert json.loads(chunk.columns["unparsed_features"][0]) == {"plan": "pro", "tenure": 3}


def test_chunks_are_the_same_at_every_memory_size_and_bounded_by_their_weight() -> None:
    # Two days, each record ~2 KB: the open files' weight passes the bound and both days are written early.
    lines = [
        payload(f"r-{index}", START + timedelta(hours=index % 30), plan="p" * 1500, tenure=index) for index in range(40)
    ]
    small = replace(EtlLimits.for_memory(MIN_MEMORY_MB), lake_chunk_bytes=20_000)
    large = replace(EtlLimits.for_memory(3008), lake_chunk_bytes=20_000)
    first = load_object(body_of(*lines), key=KEY, limits=small, feature_types=COLUMNS)
    again = load_object(body_of(*lines), key=KEY, limits=large, feature_types=COLUMNS)
    assert first.lake.files == again.lake.files
    assert len(first.lake.files) > 2
    assert first.lake.rows == 40
    assert {key.rsplit("/", 2)[1] for key in first.lake.files} == {"dt=2026-11-23", "dt=2026-11-24"}


def test_records_past_the_objects_first_days_are_quarantined_and_never_reach_either_store() -> None:
    key = "payloads/model=churn/no-day/a.jsonl"  # no dt=: any plausible time is accepted
    lines = [payload(f"r-{index}", START + timedelta(days=index)) for index in range(4)]
    result = load_object(body_of(*lines), key=key, limits=replace(DEFAULT_LIMITS, max_lake_days=3))
    assert (result.result.loaded, result.result.quarantined, result.lake.rows) == (3, 1, 3)
    (refused,) = result.quarantined
    assert refused.line == 4
    assert refused.reasons[0].startswith("the object's records span more than 3 UTC days")


def test_a_label_object_reads_no_feature_columns() -> None:
    line = json.dumps({"request_id": "r-1", "model_name": "churn", "label": 1, "observed_at": "2026-12-20T00:00:00Z"})
    result = load_object(body_of(line), key="labels/model=churn/dt=2026-12-20/a.jsonl", feature_types=COLUMNS)
    (chunk,) = result.lake.files.values()
    assert result.lake.column_reads == 0
    assert list(chunk.columns) == ["request_id", "label", "observed_at", "sample_key", "reviewed"]
    assert chunk.key.startswith("lake/labels/model=churn/dt=2026-12-20/part-")
