"""The reference profile: contents, seeded bounded sample, Parquet round trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch_jobs.drift import FeatureKind, ReferenceProfile, ReferenceProfiler

FrameFactory = Callable[..., pd.DataFrame]


def test_parquet_round_trip_keeps_metadata_and_sample(make_frame: FrameFactory, tmp_path: Path) -> None:
    frame = make_frame(3000, seed=1)
    frame.loc[frame.index[:30], "x1"] = np.nan
    rng = np.random.default_rng(0)
    profile = (
        ReferenceProfiler(sample_size=1000)
        .fit(frame, scores=rng.random(3000), target=rng.integers(0, 2, 3000), holdout_metrics={"auc": 0.8})
        .profile_
    )
    path = tmp_path / "reference.parquet"
    profile.to_parquet(path)
    loaded = ReferenceProfile.from_parquet(path)
    assert loaded == profile
    pd.testing.assert_frame_equal(loaded.sample, profile.sample)


def test_profile_records_types_missing_rates_and_categories(make_frame: FrameFactory) -> None:
    frame = make_frame(2000, seed=1)
    frame.loc[frame.index[:200], "x1"] = np.nan
    profile = ReferenceProfiler().fit(frame).profile_
    features = {feature.name: feature for feature in profile.features}
    assert features["x1"].kind is FeatureKind.NUMERIC
    assert features["x1"].missing_rate == pytest.approx(0.1)
    assert features["plan"].kind is FeatureKind.CATEGORICAL
    assert features["plan"].categories[0] == "basic"
    assert sum(features["plan"].category_counts) == 2000
    numeric = features["x0"].numeric
    assert numeric is not None
    assert sum(numeric.bin_counts) == 2000
    assert len(numeric.bin_counts) == 10


def test_sample_is_bounded_and_seeded(make_frame: FrameFactory) -> None:
    frame = make_frame(10_000, seed=1)
    first = ReferenceProfiler(sample_size=500, random_state=7).fit(frame).profile_
    again = ReferenceProfiler(sample_size=500, random_state=7).fit(frame).profile_
    other = ReferenceProfiler(sample_size=500, random_state=8).fit(frame).profile_
    assert len(first.sample) == 500
    pd.testing.assert_frame_equal(first.sample, again.sample)
    assert not first.sample.equals(other.sample)


def test_explicit_schema_makes_integer_codes_categorical() -> None:
    frame = pd.DataFrame({"region": np.tile([1, 2, 3], 100), "x": np.arange(300.0)})
    profile = ReferenceProfiler().fit(frame, schema={"region": "categorical"}).profile_
    assert profile.features[0].kind is FeatureKind.CATEGORICAL
    assert profile.features[0].categories == ("1", "2", "3")


def test_parquet_without_a_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0]}), path)
    with pytest.raises(ValueError, match="no autoretrain reference profile"):
        ReferenceProfile.from_parquet(path)


def test_empty_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        ReferenceProfiler().fit(pd.DataFrame({"x": pd.Series([], dtype=float)}))
