"""The release zip and release.json: deterministic bytes, strict parsing."""

from __future__ import annotations

import io
import zipfile

import pytest

from batch_jobs.release import build_release_zip
from core.features import FeatureSpec, InputSchema
from core.release_bundle import ReleaseError, ReleaseManifest, SmokeSample

RELEASE = ReleaseManifest(
    model_name="churn",
    version="20261101T030000Z-abcdef",
    artifact_uri="s3://models/models/churn/20261101T030000Z-abcdef/model.pkl",
    sha256="a" * 64,
    s3_version_id="v1",
    trigger="drift",
)
FILES = {"model.pkl": b"model", "manifest.json": b"{}", "sample.json": b"{}"}


def test_the_same_release_gives_the_same_bytes() -> None:
    assert build_release_zip(RELEASE, FILES) == build_release_zip(RELEASE, dict(reversed(FILES.items())))


def test_the_zip_holds_release_json_and_the_files() -> None:
    archive = zipfile.ZipFile(io.BytesIO(build_release_zip(RELEASE, FILES)))

    assert sorted(archive.namelist()) == ["manifest.json", "model.pkl", "release.json", "sample.json"]
    assert ReleaseManifest.loads(archive.read("release.json")) == RELEASE


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"model_name": "churn"}', RELEASE.dumps().replace('"v1"', "7")],
)
def test_a_malformed_release_json_is_refused(text: str) -> None:
    with pytest.raises(ReleaseError):
        ReleaseManifest.loads(text)


SAMPLE = SmokeSample(
    model_version="20261101T030000Z-abcdef",
    input_schema=InputSchema(
        (FeatureSpec("tenure", "numeric", True), FeatureSpec("plan", "categorical", False, ("basic", "pro")))
    ),
    instances=({"features": {"tenure": 3.5, "plan": "pro"}}, {"features": {"tenure": None, "plan": "basic"}}),
    expected_scores=(0.25, 0.75),
)


def test_the_smoke_sample_reads_back_as_written() -> None:
    assert SmokeSample.loads(SAMPLE.dumps()) == SAMPLE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[]", "must be a JSON object"),
        (SAMPLE.dumps().replace('"expected_scores": [0.25, 0.75]', '"expected_scores": ["x"]'), "expected_scores"),
        (SAMPLE.dumps().replace('"instances": [', '"instances": [1, '), "instances"),
        (SAMPLE.dumps().replace('"numeric"', '"complex"'), "input_schema"),
    ],
)
def test_a_malformed_smoke_sample_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ReleaseError, match=reason):
        SmokeSample.loads(text)
