"""Where things live: the version directory's files and `s3://` URIs, one definition for every reader."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.layout import (
    BASELINE_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    VERSION_FILES,
    model_version_prefix,
    parse_s3_uri,
    report_object_key,
    result_object_key,
    s3_uri,
    validate_model_name,
    version_file_key,
)

buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]", fullmatch=True)
keys = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)


@given(bucket=buckets, key=keys)
def test_an_s3_uri_splits_into_its_bucket_and_key(bucket: str, key: str) -> None:
    assert parse_s3_uri(f"s3://{bucket}/{key}") == (bucket, key)


def test_a_key_keeps_its_slashes() -> None:
    assert parse_s3_uri("s3://models/models/churn/v1/model.pkl") == ("models", "models/churn/v1/model.pkl")


@pytest.mark.parametrize(
    "uri", ["", "models/churn/model.pkl", "s3://", "s3://bucket", "s3://bucket/", "s3:///key", "https://b/key"]
)
def test_anything_but_an_s3_bucket_and_key_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="is not an s3://bucket/key URI"):
        parse_s3_uri(uri)


def test_a_version_file_sits_beside_the_model() -> None:
    model = model_version_prefix("churn", "v1") + MODEL_FILE

    assert version_file_key(model, BASELINE_FILE) == "models/churn/v1/baseline.json"
    assert version_file_key(f"s3://b/{model}", MANIFEST_FILE) == "s3://b/models/churn/v1/manifest.json"


def test_the_model_file_is_uploaded_last() -> None:
    assert VERSION_FILES[-1] == MODEL_FILE
    assert len(set(VERSION_FILES)) == len(VERSION_FILES)


def test_s3_uri_is_the_inverse_of_parse_s3_uri() -> None:
    assert parse_s3_uri(s3_uri("models", "reports/churn/r1/result.json")) == ("models", "reports/churn/r1/result.json")


def test_a_drift_checks_result_sits_beside_its_report() -> None:
    report, result = report_object_key("churn", "r1"), result_object_key("churn", "r1")
    assert (report, result) == ("reports/churn/r1/report.html", "reports/churn/r1/result.json")


@pytest.mark.parametrize("name", ["churn\n", "churn\r\n", "\nchurn"])
def test_a_model_name_with_a_line_break_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        validate_model_name(name)
