"""The quarantine document (`core.quarantine`) as the payload-ETL writes it, and the refused records it counts in the
alerting aggregates (`core.aggregates`), which is where alerting counts them."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.aggregates import Aggregate, merged
from core.quarantine import (
    MAX_NON_FINITE_FEATURES,
    QuarantineEntry,
    QuarantineFormatError,
    QuarantineSource,
    QuarantineTotals,
    non_finite_features,
    parse_line,
    read_lines,
)
from core.record_limits import PREVIEW_CHARS, scalar_problems
from core.records import RecordKind
from lambdas.payload_etl.extract import QuarantineLog, Tally, load_object
from lambdas.payload_etl.limits import MIN_MEMORY_MB, EtlLimits
from lambdas.payload_etl.logic import render_quarantine
from lambdas.payload_etl.models import ObjectRef
from tests.payload_etl_fakes import load_object as process

SOURCE = QuarantineSource("payloads", "payloads/model=churn/dt=2024-01-02/a.jsonl", "etag-a", RecordKind.PAYLOAD)
AT_MIN_MEMORY = EtlLimits.for_memory(MIN_MEMORY_MB)
ARRIVAL = 1_704_164_700  # 2024-01-02T03:05:00Z


def record(request_id: str, *, score: float = 0.5, tenure: float = 3.0) -> str:
    return json.dumps(
        {
            "request_id": request_id,
            "model_name": "churn",
            "model_version": "v1",
            "timestamp": "2024-01-02T03:04:05.000Z",
            "features": {"tenure": tenure, "plan": "basic"},
            "prediction": {"score": score, "label": 1},
        }
    )


def quarantine_object(name: str, lines: list[str]) -> bytes:
    """What the ETL writes for an object of these lines, at the smallest memory it runs in."""
    ref = ObjectRef("payloads", f"payloads/model=churn/dt=2024-01-02/{name}.jsonl", f"etag-{name}", 0)
    tally = Tally.for_limits(AT_MIN_MEMORY)
    body = ("\n".join(lines) + "\n").encode()
    load_object([body], source=ref, kind=RecordKind.PAYLOAD, tally=tally, limits=AT_MIN_MEMORY)
    return render_quarantine(ref, RecordKind.PAYLOAD, tally.quarantine)


def alerting_counts(*objects: list[str]) -> Aggregate:
    """What alerting sees of objects of these lines: their aggregates (each loaded at the smallest memory the ETL
    runs in, arriving at `ARRIVAL`), merged."""
    return merged(
        process(
            ("\n".join(lines) + "\n").encode(),
            key=f"payloads/model=churn/dt=2024-01-02/{index}.jsonl",
            limits=AT_MIN_MEMORY,
            arrival_epoch=ARRIVAL,
        ).aggregate
        for index, lines in enumerate(objects)
    )


def summary_of(body: bytes) -> QuarantineTotals:
    """The summary line a quarantine object starts with."""
    totals = parse_line(body.splitlines()[0])
    assert isinstance(totals, QuarantineTotals)
    return totals


# --- the two review findings, writer to reader ------------------------------------------------------------------


def test_non_finite_records_are_counted_when_many_distinct_reasons_fill_the_reason_counts() -> None:
    out_of_range = [record(f"s-{i}", score=1.0 + (i + 1) / 1e6) for i in range(3000)]
    non_finite = [record(f"n-{i}", tenure=math.nan) for i in range(500)]

    counts = alerting_counts(out_of_range + non_finite)
    summary = summary_of(quarantine_object("a", out_of_range + non_finite))

    assert (counts.refused, counts.non_finite, dict(counts.non_finite_by_feature)) == (3500, 500, {"tenure": 500})
    assert (summary.quarantined, summary.non_finite_records, summary.non_finite_by_feature) == (
        3500,
        500,
        {"tenure": 500},
    )


def test_each_objects_refusals_are_counted_in_its_own_aggregate_listed_or_not() -> None:
    overflowing = [record(f"a-{i}", tenure=math.nan) for i in range(400)]  # past the quarantine's listed entries
    small = [record(f"b-{i}", tenure=math.inf) for i in range(5)]

    counts = alerting_counts(small, overflowing)

    assert (counts.refused, counts.non_finite, dict(counts.non_finite_by_feature)) == (405, 405, {"tenure": 405})
    assert (counts.rows, counts.judged) == (0, 0)


def test_the_summary_line_alone_counts_entries_listed_past_a_readers_byte_range() -> None:
    body = quarantine_object("a", [record(f"a-{i}", tenure=math.nan) for i in range(40)])
    first_bytes = body[: body.index(b"\n") + 100]  # the summary and the start of one entry

    (totals,) = read_lines(first_bytes)

    assert isinstance(totals, QuarantineTotals)
    assert (totals.quarantined, totals.non_finite_records) == (40, 40)


# --- the ETL writes the summary first, always -----------------------------------------------------------------


def test_every_quarantine_object_starts_with_its_summary() -> None:
    body = quarantine_object("a", [record("r-1", tenure=math.nan), "nope"])

    totals, *entries = [parse_line(line) for line in body.splitlines()]

    assert totals == QuarantineTotals(
        QuarantineSource("payloads", "payloads/model=churn/dt=2024-01-02/a.jsonl", "etag-a", RecordKind.PAYLOAD),
        quarantined=2,
        listed=2,
        omitted=0,
        reason_counts={"feature 'tenure' is not finite (nan)": 1, "not valid JSON: Expecting value": 1},
        non_finite_records=1,
        non_finite_by_feature={"tenure": 1},
    )
    assert [entry.line for entry in entries if isinstance(entry, QuarantineEntry)] == [1, 2]
    assert len(entries) == 2


def test_a_record_counts_once_however_many_features_are_not_finite_and_under_each_feature() -> None:
    log = QuarantineLog(max_entries=0, max_bytes=0)
    log.add(1, "{}", ("feature 'a' is not finite (nan)", "feature 'b' is not finite (inf)"))
    log.add(2, "{}", ("missing field 'timestamp'",))
    assert (log.non_finite_records, log.non_finite_by_feature, log.omitted) == (1, {"a": 1, "b": 1}, 2)


def test_non_finite_features_past_the_cap_are_counted_together() -> None:
    log = QuarantineLog(max_entries=0, max_bytes=0)
    for index in range(MAX_NON_FINITE_FEATURES + 3):
        log.add(index, "{}", (f"feature 'f{index}' is not finite (nan)",))
    assert (log.non_finite_records, len(log.non_finite_by_feature), log.other_non_finite_features) == (
        MAX_NON_FINITE_FEATURES + 3,
        MAX_NON_FINITE_FEATURES,
        3,
    )


# --- the document: round trips, tolerant reading ----------------------------------------------------------------


def test_an_entry_round_trips() -> None:
    entry = QuarantineEntry(SOURCE, 7, ("feature 'tenure' is not finite (nan)", "x"), '{"a": "é\u2028"}', 9000)
    assert QuarantineEntry.from_json(entry.to_json()) == entry
    assert json.loads(entry.to_json())["raw_truncated"] is True


def test_an_entry_is_one_line_whatever_line_breaks_its_raw_text_holds() -> None:
    entry = QuarantineEntry(SOURCE, 1, ("x",), "a\u0085b\u2028c\u2029d\re\x1cf", 12)
    assert len(entry.to_json().splitlines()) == 1
    assert QuarantineEntry.from_json(entry.to_json()) == entry


def test_a_summary_round_trips() -> None:
    totals = QuarantineTotals(
        QuarantineSource("b", "k", "e", None),
        quarantined=10,
        listed=4,
        omitted=6,
        reason_counts={"r": 10},
        other_reasons=2,
        non_finite_records=3,
        non_finite_by_feature={"tenure": 3},
        other_non_finite_features=1,
    )
    assert QuarantineTotals.from_json(totals.to_json()) == totals


def test_an_older_summary_reads_without_non_finite_counts() -> None:
    older = SOURCE.to_json() | {
        "line": None,
        "summary": True,
        "quarantined": 10,
        "listed": 4,
        "omitted": 6,
        "reason_counts": {"r": 10},
        "other_reasons": 0,
    }
    totals = QuarantineTotals.from_json(json.dumps(older))
    assert (totals.quarantined, totals.non_finite_records, totals.non_finite_by_feature) == (10, None, {})


def test_an_older_object_without_a_summary_reads_as_its_entries() -> None:
    older = b"".join(
        json.dumps(
            SOURCE.to_json() | {"line": n, "reasons": [reason], "raw": "{}", "raw_chars": 2, "raw_truncated": False}
        ).encode()
        + b"\n"
        for n, reason in enumerate(["feature 'tenure' is not finite (nan)", "missing field 'timestamp'"], start=1)
    )

    entries = list(read_lines(older))

    assert [entry.line for entry in entries if isinstance(entry, QuarantineEntry)] == [1, 2]
    assert [non_finite_features(entry.reasons) for entry in entries if isinstance(entry, QuarantineEntry)] == [
        {"tenure"},
        frozenset(),
    ]


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b'{"source_bucket": "b", "source_key": "k", "source_e',  # cut by a byte range
        b"[1, 2]",
        b"\xff\xfe",
        b'{"summary": true}',
        json.dumps(SOURCE.to_json() | {"line": 1, "reasons": "not a list", "raw": "", "raw_chars": 0}).encode(),
        json.dumps(SOURCE.to_json() | {"line": True, "reasons": [], "raw": "", "raw_chars": 0}).encode(),
        json.dumps(
            SOURCE.to_json() | {"record_kind": "other", "line": 1, "reasons": [], "raw": "", "raw_chars": 0}
        ).encode(),
        json.dumps(SOURCE.to_json() | {"summary": True, "quarantined": -1, "listed": 0, "omitted": 0}).encode(),
        b"[" * 100_000,
    ],
)
def test_a_malformed_line_raises_a_format_error_and_is_skipped_when_reading(line: bytes) -> None:
    with pytest.raises(QuarantineFormatError):
        parse_line(line)
    assert list(read_lines(line)) == []


# --- the non-finite reason, as the contract words it -------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
def test_the_contracts_non_finite_reason_names_its_feature(value: float) -> None:
    assert non_finite_features(scalar_problems("tenure", value)) == {"tenure"}


@given(st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=3 * PREVIEW_CHARS))
def test_any_feature_name_is_found_in_its_non_finite_reason(name: str) -> None:
    shown = name if len(name) <= PREVIEW_CHARS else name[:PREVIEW_CHARS] + "…"
    assert non_finite_features(scalar_problems(name, math.nan)) == {shown}


@pytest.mark.parametrize(
    "reason",
    [
        "feature 'tenure' is 5000 characters long; the limit is 4096",
        "'prediction.score' must be a finite number in [0, 1], got nan",
        "missing field 'features'",
    ],
)
def test_other_reasons_name_no_non_finite_feature(reason: str) -> None:
    assert non_finite_features([reason]) == frozenset()
