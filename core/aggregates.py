"""Alerting aggregates: what the catastrophic checks need from a time bucket of predictions, computed at ingest.

The payload-ETL summarises an object's accepted predictions per `BUCKET` (5 minutes) of their timestamps, each
against the baseline of the model version that served it (`core.baseline`), and counts the object's refused
payload records in the bucket of its arrival; it writes one item per object and bucket. The alerting Lambda merges
the items of its window: its cost per run depends on the window's objects, never on the number of predictions.

What is exact and what is not: every count is exact (rows, positives, per-feature present/null/absent/wrongly typed,
schema and unseen-category rows, refused and non-finite records); the score's count, mean and variance merge
exactly (Chan et al.'s pairwise update) and its minimum and maximum tell a constant score; latency is a histogram of
`LATENCY_BINS_PER_DECADE` log-spaced bins per decade, so a p99 read from it is the upper edge of the bin holding the
nearest rank, at most 12.2 % above the exact value and never below it. The names and values an alert lists (unknown
keys, unseen categories, non-finite features) keep the `MAX_LISTED` most frequent and count the rest.

Item layout (payload table, `core.tables`):

| pk                        | sk                          | attributes                                       |
|---------------------------|-----------------------------|--------------------------------------------------|
| `AGG#<model>#<YYYY-MM-DD>`| `<HH:MM>#<source digest>`   | `rows` (N), `body` (JSON), `expires_at` (TTL)    |

Why these keys: one partition per model and UTC day takes the day's writes, one item per object and bucket (with
Firehose, an object per buffer interval: a few thousand a day at any volume, against the 1,000 writes a second one
partition sustains); a window is one `Query` per day it touches, newest bucket first, and the same window on a
previous day is one more. The sort key names the source object version, so a redelivered object rewrites its own
items instead of adding to another's. Standard library only: both zip Lambdas ship this module.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.baseline import MonitoringBaseline

#: The aggregates' time resolution: windows start and end on these boundaries.
BUCKET = timedelta(minutes=5)
BUCKET_SECONDS = int(BUCKET.total_seconds())
#: Names or values kept per listed counter (the rest are counted under `OTHER`). While records are added, a counter
#: is cut back to them whenever it holds `_BOUND_AT`, so an aggregate's memory does not grow with its records (which
#: names are listed is then approximate; every total stays exact).
MAX_LISTED = 20
_BOUND_AT = 4 * MAX_LISTED
OTHER = ""
#: Latency histogram: bin k holds values in (edge(k-1), edge(k)], edge(k) = 10 ** (k / LATENCY_BINS_PER_DECADE) ms.
LATENCY_BINS_PER_DECADE = 20
#: The item's format, so a reader can refuse a body another version of the code wrote differently.
FORMAT = 1
_MAX_FLOAT = sys.float_info.max


class AggregateFormatError(ValueError):
    """An aggregate item's body is not what this code writes."""


def bucket_start(moment: datetime) -> datetime:
    """The start of the bucket holding `moment` (aware, UTC)."""
    epoch = math.floor(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_SECONDS, UTC)


def aggregate_pk(model_name: str, day: str) -> str:
    """The partition of a model's aggregates of one UTC day (`YYYY-MM-DD`)."""
    return f"AGG#{model_name}#{day}"


def aggregate_sk(start: datetime, source: str) -> str:
    """`<HH:MM>#<source digest>`: buckets sort by time within their day's partition."""
    return f"{start:%H:%M}#{source}"


def latency_bin(latency_ms: float) -> int:
    """The histogram bin of a latency: the smallest k with latency <= 10 ** (k / LATENCY_BINS_PER_DECADE)."""
    known = _LATENCY_BINS.get(latency_ms)
    if known is not None:
        return known
    if len(_LATENCY_BINS) >= _MAX_REMEMBERED_LATENCIES:
        _LATENCY_BINS.clear()
    _LATENCY_BINS[latency_ms] = index = _latency_bin(latency_ms)
    return index


#: Bins of the latencies seen lately: an invocation's records share one latency (serving times the whole batch).
_LATENCY_BINS: dict[float, int] = {}
_MAX_REMEMBERED_LATENCIES = 4096


def _latency_bin(latency_ms: float) -> int:
    if latency_ms <= 0.0:
        return -3 * LATENCY_BINS_PER_DECADE  # 1 µs and below: one bin
    return max(math.ceil(math.log10(latency_ms) * LATENCY_BINS_PER_DECADE - 1e-9), -3 * LATENCY_BINS_PER_DECADE)


def latency_edge(index: int) -> float:
    """The upper edge (ms) of a latency bin."""
    return float(10.0 ** (index / LATENCY_BINS_PER_DECADE))


@dataclass(slots=True)
class Moments:
    """Count, mean and sum of squared deviations (mergeable), minimum and maximum."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, value: float) -> None:
        """Take one value into account (Welford)."""
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        if value < self.low:  # noqa: PLR1730  # `min()` is a call on the ETL's hot path
            self.low = value
        if value > self.high:  # noqa: PLR1730
            self.high = value

    def merge(self, other: Moments) -> None:
        """Take another set of values into account (Chan et al.)."""
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.mean += delta * other.count / total
        self.count = total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    @property
    def std(self) -> float:
        """The population standard deviation (0 for fewer than two values)."""
        return math.sqrt(max(self.m2, 0.0) / self.count) if self.count > 1 else 0.0

    @property
    def constant(self) -> bool:
        """Whether every value was the same (and there was one)."""
        return self.count > 0 and self.low == self.high


def _bounded(counter: Counter[str]) -> Counter[str]:
    """The `MAX_LISTED` most frequent entries, the rest summed under `OTHER`."""
    if len(counter) <= MAX_LISTED:
        return counter
    other = counter.pop(OTHER, 0)
    ranked = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    kept = Counter(dict(ranked[:MAX_LISTED]))
    kept[OTHER] = other + sum(count for _, count in ranked[MAX_LISTED:])
    return kept


def _shown(text: str) -> str:
    """A key or value as an alert may show it: lone surrogates escaped, at most 100 characters."""
    if any("\ud800" <= char <= "\udfff" for char in text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 100 else text[:99] + "…"


@dataclass(frozen=True, slots=True)
class Judge:
    """A baseline as the per-record checks use it: (name, numeric, categories) per feature, and the names."""

    specs: tuple[tuple[str, bool, frozenset[str]], ...]
    known: frozenset[str]

    @classmethod
    def of(cls, baseline: MonitoringBaseline) -> Judge:
        """The judge of one model version."""
        specs = tuple((f.name, f.kind == "numeric", frozenset(f.categories)) for f in baseline.features)
        return cls(specs, frozenset(name for name, _, _ in specs))


@dataclass(slots=True)
class Aggregate:
    """The catastrophic checks' view of some predictions (one bucket of one object, or a merged window).

    `judged` counts the rows checked against their model version's baseline (per-feature, schema and unseen counts
    cover those rows only: a version without a readable baseline is counted in `rows` and scores alone).
    """

    rows: int = 0
    positives: int = 0
    scores: Moments = field(default_factory=Moments)
    latency: Counter[int] = field(default_factory=Counter)
    judged: int = 0
    present: Counter[str] = field(default_factory=Counter)
    nulls: Counter[str] = field(default_factory=Counter)
    absent: Counter[str] = field(default_factory=Counter)
    wrong_type: Counter[str] = field(default_factory=Counter)
    extra: Counter[str] = field(default_factory=Counter)
    schema_rows: int = 0
    unseen_rows: int = 0
    unseen_values: dict[str, Counter[str]] = field(default_factory=dict)
    refused: int = 0
    non_finite: int = 0
    non_finite_by_feature: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)

    @property
    def latency_rows(self) -> int:
        """Predictions with a latency."""
        return self.latency.total()

    def latency_quantile(self, q: float) -> float:
        """The upper edge of the bin holding the nearest-rank `q`-quantile (ms); ValueError without latencies."""
        total = self.latency_rows
        if not total:
            raise ValueError("no latencies")
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.latency):
            seen += self.latency[index]
            if seen >= rank:
                return latency_edge(index)
        return latency_edge(max(self.latency))

    def add(  # noqa: PLR0912, PLR0917  # a record's fields, checked inline: the ETL's hot path
        self,
        version: str,
        score: float,
        label: int,
        latency_ms: float | None,
        features: Mapping[str, Any],
        judge: Judge | None,
    ) -> None:
        """Take one accepted prediction into account, judged against its version's baseline if there is one.

        A value counts as null when it is null, or an empty string a categorical feature never had in training; as
        wrongly typed when a numeric feature's is not a finite number within the double range (booleans are not
        numbers) or a categorical feature's is not a string."""
        self.rows += 1
        self.positives += label
        self.scores.add(score)
        self.versions[version] += 1
        if len(self.versions) > _BOUND_AT:
            self.versions = _bounded(self.versions)
        if latency_ms is not None:
            self.latency[latency_bin(latency_ms)] += 1
        if judge is None:
            return
        self.judged += 1
        bad_schema = has_unseen = False
        known_here = 0
        present, nulls = self.present, self.nulls
        for name, numeric, categories in judge.specs:
            if name not in features:
                self.absent[name] += 1
                bad_schema = True
                continue
            known_here += 1
            present[name] += 1
            value = features[name]
            if value is None:
                nulls[name] += 1
            elif numeric:
                kind = type(value)
                if (kind is not float and kind is not int) or not -_MAX_FLOAT <= value <= _MAX_FLOAT:
                    self.wrong_type[name] += 1
                    bad_schema = True
            elif type(value) is not str:
                self.wrong_type[name] += 1
                bad_schema = True
            elif value not in categories:
                if value == "":
                    nulls[name] += 1
                else:
                    values = self.unseen_values.setdefault(name, Counter())
                    values[_shown(value)] += 1
                    if len(values) > _BOUND_AT:
                        self.unseen_values[name] = _bounded(values)
                    has_unseen = True
        if len(features) > known_here:
            self.extra.update(_shown(name) for name in features if name not in judge.known)
            if len(self.extra) > _BOUND_AT:
                self.extra = _bounded(self.extra)
            bad_schema = True
        if bad_schema:
            self.schema_rows += 1
        if has_unseen:
            self.unseen_rows += 1

    def add_refused(self, records: int, non_finite: int, non_finite_by_feature: Mapping[str, int]) -> None:
        """Count payload records the ETL refused (`non_finite` of them for a NaN or infinite feature)."""
        self.refused += records
        self.non_finite += non_finite
        self.non_finite_by_feature.update(non_finite_by_feature)

    def merge(self, other: Aggregate) -> None:
        """Take another aggregate into account."""
        self.rows += other.rows
        self.positives += other.positives
        self.scores.merge(other.scores)
        self.latency.update(other.latency)
        self.judged += other.judged
        for mine, theirs in (
            (self.present, other.present),
            (self.nulls, other.nulls),
            (self.absent, other.absent),
            (self.wrong_type, other.wrong_type),
            (self.extra, other.extra),
            (self.non_finite_by_feature, other.non_finite_by_feature),
            (self.versions, other.versions),
        ):
            mine.update(theirs)
        self.schema_rows += other.schema_rows
        self.unseen_rows += other.unseen_rows
        for name, values in other.unseen_values.items():
            self.unseen_values.setdefault(name, Counter()).update(values)
        self.refused += other.refused
        self.non_finite += other.non_finite
        self.bound()

    def bound(self) -> None:
        """Keep the listed counters to `MAX_LISTED` entries (plus `OTHER`)."""
        self.extra = _bounded(self.extra)
        self.non_finite_by_feature = _bounded(self.non_finite_by_feature)
        self.versions = _bounded(self.versions)
        self.unseen_values = {name: _bounded(values) for name, values in self.unseen_values.items()}

    def to_json(self) -> dict[str, Any]:
        """The body of an item (JSON-ready; counters with their zero entries left out)."""
        self.bound()
        scores = self.scores
        return {
            "format": FORMAT,
            "rows": self.rows,
            "positives": self.positives,
            "scores": [scores.count, scores.mean, scores.m2, scores.low, scores.high] if scores.count else [],
            "latency": {str(index): count for index, count in sorted(self.latency.items())},
            "judged": self.judged,
            "present": dict(self.present),
            "nulls": dict(self.nulls),
            "absent": dict(self.absent),
            "wrong_type": dict(self.wrong_type),
            "extra": dict(self.extra),
            "schema_rows": self.schema_rows,
            "unseen_rows": self.unseen_rows,
            "unseen_values": {name: dict(values) for name, values in self.unseen_values.items()},
            "refused": self.refused,
            "non_finite": self.non_finite,
            "non_finite_by_feature": dict(self.non_finite_by_feature),
            "versions": dict(self.versions),
        }

    def dumps(self) -> str:
        """The body as compact JSON text."""
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def loads(cls, text: str) -> Aggregate:
        """Read a body `dumps` wrote; `AggregateFormatError` if it is not one."""
        try:
            document = json.loads(text)
            if document.get("format") != FORMAT:
                raise AggregateFormatError(f"aggregate format {document.get('format')!r}, expected {FORMAT}")
            scores = document["scores"]
            if scores and (len(scores) != 5 or not all(type(value) in (int, float) for value in scores)):
                raise AggregateFormatError(f"scores must be five numbers, got {scores!r}")
            return cls(
                rows=_count(document["rows"]),
                positives=_count(document["positives"]),
                scores=Moments(int(scores[0]), *map(float, scores[1:])) if scores else Moments(),
                latency=Counter({int(index): count for index, count in _counts(document["latency"]).items()}),
                judged=_count(document["judged"]),
                present=_counts(document["present"]),
                nulls=_counts(document["nulls"]),
                absent=_counts(document["absent"]),
                wrong_type=_counts(document["wrong_type"]),
                extra=_counts(document["extra"]),
                schema_rows=_count(document["schema_rows"]),
                unseen_rows=_count(document["unseen_rows"]),
                unseen_values={str(name): _counts(values) for name, values in document["unseen_values"].items()},
                refused=_count(document["refused"]),
                non_finite=_count(document["non_finite"]),
                non_finite_by_feature=_counts(document["non_finite_by_feature"]),
                versions=_counts(document["versions"]),
            )
        except AggregateFormatError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise AggregateFormatError(f"not an aggregate body: {error}") from error


def _count(value: object) -> int:
    """A count as a body holds it: a non-negative integer (not a boolean)."""
    if type(value) is not int or value < 0:
        raise AggregateFormatError(f"a count must be a non-negative integer, got {value!r}")
    return value


def _counts(value: object) -> Counter[str]:
    """A name -> count mapping as a body holds it."""
    if not isinstance(value, dict):
        raise AggregateFormatError(f"counts must be an object, got {type(value).__name__}")
    return Counter({str(name): _count(count) for name, count in value.items()})


def merged(aggregates: Iterable[Aggregate]) -> Aggregate:
    """One aggregate of many."""
    total = Aggregate()
    for aggregate in aggregates:
        total.merge(aggregate)
    return total
