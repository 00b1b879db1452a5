"""The lake's SQL text and sampling plan, pure: what each builder says, its Athena transpilation, the per-day
allocation of the sample cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from hypothesis import given
from hypothesis import strategies as st

from batch_jobs.lake.queries import (
    OPTION_COLUMNS,
    REMIXED_KEY,
    Window,
    category_counts,
    daily_counts,
    days_between,
    for_athena,
    label_days,
    labelled_sample,
    prediction_sample,
    reviewed_counts,
    reviewed_sample,
    timestamp_literal,
)
from batch_jobs.lake.windows import allocate

T0 = datetime(2026, 12, 31, 22, tzinfo=UTC)
WINDOW = Window("churn", T0, T0 + timedelta(hours=4))


def _all_queries() -> list[str]:
    return [
        daily_counts(WINDOW),
        prediction_sample(WINDOW, ["f_age"], None),
        prediction_sample(WINDOW, ["f_age"], 12345),
        prediction_sample(WINDOW, ["f_age", "f_plan"], {"2026-12-31": 10, "2027-01-01": 20}),
        labelled_sample(WINDOW, ["f_age"], {"2026-12-31": 10, "2027-01-01": 20}, labels_until=T0 + timedelta(days=8)),
        daily_counts(WINDOW, ["f_age", "f_plan"]),
        category_counts(WINDOW, ["f_plan", "f_region"]),
        prediction_sample(WINDOW, ["f_age"], 12345, options=True),
        labelled_sample(WINDOW, ["f_age"], None, labels_until=T0 + timedelta(days=8), options=True),
        reviewed_counts(WINDOW, labels_until=T0 + timedelta(days=8)),
        reviewed_sample(WINDOW, ["f_age"], {"2026-12-31": 10, "2027-01-01": 20}, labels_until=T0 + timedelta(days=8)),
    ]


def test_a_window_names_every_day_it_touches_and_its_labels_a_day_of_skew_earlier() -> None:
    assert WINDOW.days == ("2026-12-31", "2027-01-01")
    assert label_days(WINDOW, T0 + timedelta(days=2)) == ("2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02")
    midnight = Window("churn", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    assert midnight.days == ("2026-01-01",)  # the end is exclusive


def test_windows_refuse_what_cannot_be_queried() -> None:
    with pytest.raises(ValueError, match="model name"):
        Window("churn'; DROP TABLE x; --", T0, T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="empty window"):
        Window("churn", T0, T0)
    with pytest.raises(ValueError, match="naive"):
        timestamp_literal(datetime(2026, 1, 1))  # the point of the test


def test_every_query_names_the_model_and_its_days_so_projection_prunes_partitions() -> None:
    for sql in _all_queries():
        assert "model = 'churn'" in sql
        assert "dt BETWEEN '2026-12-" in sql


def test_a_per_day_sample_bounds_each_day_and_labels_by_the_widest_bound() -> None:
    sql = labelled_sample(WINDOW, [], {"2026-12-31": 10, "2027-01-01": 20}, labels_until=T0 + timedelta(days=8))
    assert "sample_key < CASE dt WHEN '2026-12-31' THEN 10 WHEN '2027-01-01' THEN 20 ELSE 0 END" in sql
    assert "sample_key < 20)" in sql  # labels are in their own day's partition: only the widest bound applies
    assert "ORDER BY observed_at DESC" in sql  # the latest label wins


def test_a_sample_marks_the_rows_whose_sample_key_repeats_and_neither_ranks_nor_sorts_them() -> None:
    sql = prediction_sample(WINDOW, ["f_age"], 12345)
    assert "GROUP BY sample_key HAVING COUNT(*) > 1" in sql
    assert "CASE WHEN sample_key IN (" in sql
    assert "THEN request_id END AS duplicate_of" in sql
    assert "ROW_NUMBER" not in sql  # the engine streams the rows out: no window function, no sort
    assert "ORDER BY" not in sql


@pytest.mark.parametrize("index", range(len(_all_queries())))
def test_every_query_transpiles_to_athena_sql_that_parses_and_keeps_its_meaning(index: int) -> None:
    sql = _all_queries()[index]
    athena = for_athena(sql)
    parsed = sqlglot.parse_one(athena, read="athena")
    assert parsed.sql(dialect="athena") == athena  # stable: Athena's dialect reads back what it wrote
    assert "CAST('2026-12-31 22:00:00.000' AS TIMESTAMP)" in athena
    original = sqlglot.parse_one(sql, read="duckdb")
    assert {c.name for c in parsed.find_all(sqlglot.exp.Column)} == {
        c.name for c in original.find_all(sqlglot.exp.Column)
    }


def test_the_option_columns_are_read_only_when_asked() -> None:
    assert "shadow_score" not in prediction_sample(WINDOW, ["f_age"], None)
    assert "shadow_score" not in labelled_sample(WINDOW, [], None, labels_until=T0 + timedelta(days=8))
    for sql in (
        prediction_sample(WINDOW, ["f_age"], None, options=True),
        labelled_sample(WINDOW, [], None, labels_until=T0 + timedelta(days=8), options=True),
    ):
        assert all(name in sql for name in OPTION_COLUMNS)


def test_the_joined_label_is_the_latest_of_all_and_the_reviewed_read_the_latest_reviewed_one() -> None:
    until = T0 + timedelta(days=8)
    assert "reviewed" not in labelled_sample(WINDOW, [], None, labels_until=until)
    sql = reviewed_sample(WINDOW, ["f_age"], None, labels_until=until)
    assert "observed_at <= TIMESTAMP '2027-01-08 22:00:00.000' AND reviewed) AS l" in sql
    assert "ORDER BY observed_at DESC, label DESC" in sql
    assert sql.startswith("SELECT p.request_id, p.model_version")
    assert "JOIN (SELECT DISTINCT request_id FROM labels WHERE" in reviewed_counts(WINDOW, labels_until=until)


def test_a_capped_reviewed_read_samples_by_the_remixed_key_on_both_sides_of_the_join() -> None:
    sql = reviewed_sample(WINDOW, [], {"2026-12-31": 10, "2027-01-01": 20}, labels_until=T0 + timedelta(days=8))
    assert f"{REMIXED_KEY} < CASE dt WHEN '2026-12-31' THEN 10" in sql
    assert f"{REMIXED_KEY} < 20)" in sql  # the labels, by the widest bound
    assert "sample_key < 20" not in sql.replace(REMIXED_KEY, "")


def test_the_remixed_key_is_a_bijection_of_the_key_space_that_scatters_low_keys() -> None:
    keys = range(0, 2**32, 2**16 + 1)
    remixed = {(key * 1640531527) % 2**32 for key in keys}
    assert len(remixed) == len(keys)
    low = [(key * 1640531527) % 2**32 for key in range(1000)]  # a review sample of the lowest keys
    assert 0.05 < sum(value < 2**32 // 10 for value in low) / 1000 < 0.15  # about a tenth of them below 10 %
    assert REMIXED_KEY == "(sample_key * 1640531527) % 4294967296"
    assert 2**32 * 1640531527 < 2**63  # no bigint overflow in either engine


def test_days_between_spans_a_year_boundary() -> None:
    assert days_between(T0, T0 + timedelta(days=2)) == ("2026-12-31", "2027-01-01", "2027-01-02")


def test_a_window_within_the_cap_is_read_whole() -> None:
    assert allocate({"a": 10, "b": 20}, 30) == {"a": 1.0, "b": 1.0}


def test_water_filling_keeps_quiet_days_whole_and_shares_the_rest_equally() -> None:
    rates = allocate({"quiet": 100, "busy": 10_000, "busier": 40_000}, 2_100)
    assert rates["quiet"] == 1.0
    assert rates["busy"] * 10_000 == pytest.approx(1_000)
    assert rates["busier"] * 40_000 == pytest.approx(1_000)


@given(
    st.dictionaries(st.text(min_size=1, max_size=3), st.integers(1, 10**7), min_size=1, max_size=30),
    st.integers(1, 10**6),
)
def test_the_allocation_never_expects_more_than_the_cap(counts: dict[str, int], cap: int) -> None:
    rates = allocate(counts, cap)
    expected = sum(rates[day] * n for day, n in counts.items())
    assert all(0.0 < rate <= 1.0 for rate in rates.values())
    assert expected <= max(cap, 0) * (1 + 1e-9) or sum(counts.values()) <= cap
    if sum(counts.values()) > cap:
        assert expected == pytest.approx(cap, rel=1e-9)
