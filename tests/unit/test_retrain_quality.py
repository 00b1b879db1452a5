"""Quality checks on training data: each failure is named in the reasons; clean data passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs import model_spec
from batch_jobs.training.frames import initial_frame
from batch_jobs.training.quality import QualityConfig, check_quality

CONFIG = QualityConfig()


def frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    return initial_frame(generate_churn(n, seed=seed), TARGET)


SCHEMA = model_spec.infer_input_schema(generate_churn(500, seed=9), all_nullable=True)


def reasons(data: pd.DataFrame, reference_rate: float | None = 0.2) -> tuple[str, ...]:
    return check_quality(data, schema=SCHEMA, target=TARGET, config=CONFIG, reference_label_rate=reference_rate).reasons


def test_clean_data_passes() -> None:
    assert reasons(frame()) == ()


def test_a_mostly_empty_feature_is_refused() -> None:
    data = frame()
    data.loc[data.index[:1500], "plan"] = np.nan

    assert [reason.split(" is missing")[0] for reason in reasons(data)] == ["missing: feature 'plan'"]


def test_inverted_labels_fall_outside_the_label_rate_band() -> None:
    data = frame()
    data[TARGET] = 1 - data[TARGET]

    (reason,) = reasons(data)
    assert reason.startswith("labels: positive label rate")
    assert "inverted" in reason


def test_non_finite_values_beyond_the_tolerated_share_are_refused() -> None:
    data = frame()
    data.loc[data.index[:30], "usage_hours"] = np.inf  # 1.5 % of 2,000 rows

    assert reasons(data) == ("finite: numeric feature 'usage_hours' has 30 non-finite values",)


def test_a_few_invalid_numeric_values_count_as_missing_and_do_not_block_the_retrain() -> None:
    data = frame()
    data["usage_hours"] = data["usage_hours"].astype(object)
    data.loc[data.index[:3], "usage_hours"] = np.inf
    data.loc[data.index[3:5], "usage_hours"] = ["", "1e400x"]

    report = check_quality(data, schema=SCHEMA, target=TARGET, config=CONFIG, reference_label_rate=0.2)

    assert report.passed, report.reasons
    assert report.details["invalid_values"] == {"usage_hours": 5}
    features = model_spec.feature_frame(data, SCHEMA)["usage_hours"]
    assert features.iloc[:5].isna().all()
    assert features.iloc[5:].notna().sum() == data["usage_hours"].iloc[5:].notna().sum()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.drop(columns=["region"]), "schema: features ['region'] of the serving schema are missing"),
        (lambda d: d.assign(extra=1.0), "schema: columns ['extra'] are not in the serving schema"),
        (lambda d: d.head(500), "rows: 500 training rows, at least 1000 required"),
        (lambda d: d.assign(**{TARGET: 0}), "labels: 0 positive and 2000 negative rows"),
    ],
)
def test_schema_size_and_class_problems_are_named(change, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert any(reason.startswith(expected) for reason in reasons(change(frame())))


def test_every_failed_check_is_reported_at_once() -> None:
    data = frame().head(500)
    data.loc[data.index[:400], "plan"] = np.nan

    assert len(reasons(data)) == 2
