"""Record contracts: the payload a prediction leaves behind and the label that arrives later.

Pure and standard-library only (the payload-ETL Lambda ships this module). Parsing never raises on the first
problem: a `ContractViolationError` lists every problem it found, so a quarantined record carries its full reason.
Unknown top-level keys are kept in `extra`, never an error.

Two ways in, one contract:
- `parse_payload` / `parse_label` return the typed records (`PayloadRecord`, `LabelRecord`).
- `validate_payload` / `validate_label` return only the canonical field values as a plain tuple. The payload-ETL
  uses them on its hot path: building a frozen dataclass per record costs more than decoding the JSON line.

The optional members (`arm`, `heuristic`, `shadow`; a label's `reviewed`, named below) are checked whenever they
are present and not null, like every other member: a malformed one is a contract violation. `parse_*` gives them as
typed fields; on the hot path `payload_options` / `label_reviewed` read them from a record the `validate_*` function
accepted (the tuples keep their shape; the fast path checks them only in a record with more members than the
required ones, so an old record costs one comparison more).

Both share one validation. A fast path accepts the common, already-canonical record with exact-type checks and
no allocation; anything it is not sure of (a problem, an integer score, a timestamp with an offset) falls through
to the complete check, which either accepts and canonicalises the value or lists every problem.

The limits (lengths, UTF-8, number range, nesting, plausible times) are `core.record_limits`: the serving Lambda
checks its requests with the same functions, so what serving logs the ETL loads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from core.record_limits import (
    EARLIEST_EPOCH,
    LATEST_EPOCH,
    MAX_DOUBLE_REPR_CHARS,
    MAX_FEATURE_NAME_CHARS,
    MAX_ID_CHARS,
    MAX_INTEGER,
    MAX_NESTING,
    MAX_RECORD_CHARS,
    MAX_STRING_VALUE_CHARS,
    PREVIEW_CHARS,
    encodable,
    feature_label,
    feature_name_problems,
    fraction_problem,
    identifier_problems,
    may_hold_lone_surrogate,
    nesting_problem,
    number_problem,
    preview,
    scalar_problems,
    time_range_problem,
    too_deep,
    unencodable_members,
)

FeatureValue = float | int | str | bool | None

PAYLOAD_FIELDS = ("request_id", "model_name", "model_version", "timestamp", "features", "prediction", "latency_ms")
LABEL_FIELDS = ("request_id", "model_name", "label", "observed_at")
#: Optional payload members. They extend the contract without breaking old records; absent means the default.
#: - `arm`: which arm of the business-impact experiment the request's client is in, `ARM_MODEL` or `ARM_CONTROL`
#:   (absent: no experiment, or no client id to assign). `prediction` is always the champion's output, so
#:   monitoring sees every request; a control-arm client was answered with `heuristic` instead.
#: - `heuristic`: `{"score", "label"}`, the control arm's answer (the model spec's heuristic), control rows only.
#: - `shadow`: `{"model_version", "score", "label", "latency_ms"}`, a shadow challenger's answer to the same
#:   request (logged, never returned).
ARM_FIELD = "arm"
ARM_MODEL = "model"
ARM_CONTROL = "control"
ARMS = (ARM_MODEL, ARM_CONTROL)
HEURISTIC_FIELD = "heuristic"
SHADOW_FIELD = "shadow"
#: Optional payload member: the client the experiment assigned to `arm` (its arm is sticky per client); present
#: only with an `arm`.
CLIENT_ID_FIELD = "client_id"
#: Optional label member: true when a human reviewer gave the label to a prediction of the review sample.
REVIEWED_FIELD = "reviewed"
#: The ids' length limit (`core.record_limits.MAX_ID_CHARS`), under its older name.
MAX_ID_LENGTH = MAX_ID_CHARS

#: `(request_id, model_name, model_version, timestamp, epoch_seconds, score, predicted_label, latency_ms)`;
#: `timestamp` is canonical (`format_timestamp`), `epoch_seconds` its whole seconds since 1970 (UTC).
ValidPayload = tuple[str, str, str, str, int, float, int, float | None]
#: `(request_id, model_name, label, observed_at, epoch_seconds)`; `observed_at` is canonical.
ValidLabel = tuple[str, str, int, str, int]
#: A valid payload's optional members, flat (`payload_options`): `(arm, heuristic_score, heuristic_label,
#: shadow_version, shadow_score, shadow_label, shadow_latency_ms, client_id)`, each None where the record has none.
PayloadOptions = tuple[
    str | None, float | None, int | None, str | None, float | None, int | None, float | None, str | None
]
#: `payload_options` of a record without any optional member.
NO_OPTIONS: PayloadOptions = (None, None, None, None, None, None, None, None)

_PAYLOAD_FIELD_SET = frozenset(PAYLOAD_FIELDS)
#: The payload members every record has (all but `latency_ms`).
_REQUIRED_MEMBERS = len(PAYLOAD_FIELDS) - 1
_LABEL_FIELD_SET = frozenset(LABEL_FIELDS)
#: Every named member, required or optional: the rest of a record is its `extra`.
_PAYLOAD_MEMBER_SET = _PAYLOAD_FIELD_SET | {ARM_FIELD, HEURISTIC_FIELD, SHADOW_FIELD, CLIENT_ID_FIELD}
_LABEL_MEMBER_SET = _LABEL_FIELD_SET | {REVIEWED_FIELD}
_MAX_FLOAT = 1.7976931348623157e308
#: Members whose strings the complete check names specifically; the others are walked for unencodable strings.
_CHECKED_PAYLOAD_MEMBERS = frozenset({"request_id", "model_name", "model_version", "features", ARM_FIELD, SHADOW_FIELD})
_CHECKED_LABEL_MEMBERS = frozenset({"request_id", "model_name", REVIEWED_FIELD})
_DEEP_FROM = 2 * MAX_NESTING  # a shorter text cannot nest deeper than MAX_NESTING
_from_iso = datetime.fromisoformat
_floor = math.floor


class RecordKind(StrEnum):
    """What an object under the payload bucket holds; decided by its key prefix."""

    PAYLOAD = "payload"
    LABEL = "label"


class ContractViolationError(ValueError):
    """A record violates its contract; `problems` lists every violation found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's output for one request."""

    score: float
    label: int


@dataclass(frozen=True, slots=True)
class ShadowPrediction:
    """A shadow challenger's answer to a request (`SHADOW_FIELD`): logged beside the champion's, never returned."""

    model_version: str
    score: float
    label: int
    latency_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The member as the JSON object the contract describes."""
        return {
            "model_version": self.model_version,
            "score": self.score,
            "label": self.label,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True, slots=True)
class PayloadRecord:
    """One served prediction: its inputs, output and timing; optionally its experiment arm and client, the control
    arm's heuristic answer and a shadow challenger's answer (None: the record has no such member)."""

    request_id: str
    model_name: str
    model_version: str
    timestamp: str
    features: Mapping[str, FeatureValue]
    prediction: Prediction
    latency_ms: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    arm: str | None = None
    heuristic: Prediction | None = None
    shadow: ShadowPrediction | None = None
    client_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object the contract describes (an optional member only when it is set)."""
        document: dict[str, Any] = dict(self.extra)
        document.update(
            request_id=self.request_id,
            model_name=self.model_name,
            model_version=self.model_version,
            timestamp=self.timestamp,
            features=dict(self.features),
            prediction={"score": self.prediction.score, "label": self.prediction.label},
            latency_ms=self.latency_ms,
        )
        if self.arm is not None:
            document[ARM_FIELD] = self.arm
        if self.client_id is not None:
            document[CLIENT_ID_FIELD] = self.client_id
        if self.heuristic is not None:
            document[HEURISTIC_FIELD] = {"score": self.heuristic.score, "label": self.heuristic.label}
        if self.shadow is not None:
            document[SHADOW_FIELD] = self.shadow.to_json()
        return document


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """Ground truth for one earlier prediction, identified by `request_id` alone."""

    request_id: str
    model_name: str
    label: int
    observed_at: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Whether a human reviewer gave the label (`REVIEWED_FIELD`); absent in the JSON means false.
    reviewed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object the contract describes (`reviewed` only when true)."""
        document: dict[str, Any] = dict(self.extra)
        document.update(
            request_id=self.request_id, model_name=self.model_name, label=self.label, observed_at=self.observed_at
        )
        if self.reviewed:
            document[REVIEWED_FIELD] = True
        return document


def payload_line(record: PayloadRecord) -> str:
    """The record as one JSON line (without its newline), as the serving Lambda logs it: compact, UTF-8 text."""
    return json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


#: What a payload line takes besides its ids' and features' JSON, with a score and a latency of the longest text a
#: double can have: a template's line less its placeholders (three empty ids, `{}`, two `0.0`).
_ENVELOPE_CHARS = (
    len(payload_line(PayloadRecord("", "", "", "2000-01-01T00:00:00.000Z", {}, Prediction(0.0, 0), 0.0)))
    - 3 * len('""')
    - len("{}")
    + 2 * (MAX_DOUBLE_REPR_CHARS - len("0.0"))
)
#: The most characters a non-string JSON scalar of the contract takes (an integer within a double's range).
_MAX_SCALAR_CHARS = len(str(-MAX_INTEGER))
_TEMPLATE = PayloadRecord("", "", "", "2000-01-01T00:00:00.000Z", {}, Prediction(0.0, 0), 0.0)
#: What the optional `arm` and `heuristic` members add at most (the longer arm, a score of the longest text).
_EXPERIMENT_CHARS = (
    len(payload_line(replace(_TEMPLATE, arm=ARM_CONTROL, heuristic=Prediction(0.0, 0))))
    - len(payload_line(_TEMPLATE))
    + MAX_DOUBLE_REPR_CHARS
    - len("0.0")
)
#: What the optional `shadow` member adds at most, besides its version's JSON (a score and a latency of the
#: longest text).
_SHADOW_CHARS = (
    len(payload_line(replace(_TEMPLATE, shadow=ShadowPrediction("", 0.0, 0, 0.0))))
    - len(payload_line(_TEMPLATE))
    - len('""')
    + 2 * (MAX_DOUBLE_REPR_CHARS - len("0.0"))
)


def payload_line_bound(
    request_id: str,
    model_name: str,
    model_version: str,
    features: Mapping[str, FeatureValue],
    *,
    experiment: bool = False,
    shadow_version: str | None = None,
    client_id: str | None = None,
) -> int:
    """At most how many characters `payload_line` gives a record of these members, whatever its score, label and
    latency: serving checks it against `MAX_RECORD_CHARS` before scoring, so what it logs is never too long.
    `experiment`: the record may carry `arm` and `heuristic` (and `client_id`, its client); `shadow_version`: it may
    carry that challenger's `shadow` answer."""
    chars = _ENVELOPE_CHARS + sum(len(_compact(text)) for text in (request_id, model_name, model_version))
    if experiment:
        chars += _EXPERIMENT_CHARS
    if client_id is not None:
        chars += len(f',"{CLIENT_ID_FIELD}":') + len(_compact(client_id))
    if shadow_version is not None:
        chars += _SHADOW_CHARS + len(_compact(shadow_version))
    # A cheap bound first (JSON escapes a character in at most 6); the exact text only where it matters.
    rough = len("{}") + sum(
        6 * len(name) + len('"":,') + (6 * len(value) + 2 if isinstance(value, str) else _MAX_SCALAR_CHARS)
        for name, value in features.items()
    )
    if chars + rough <= MAX_RECORD_CHARS:
        return chars + rough
    return chars + len(_compact(dict(features)))


def format_timestamp(moment: datetime) -> str:
    """Canonical UTC timestamp with milliseconds: fixed width, so text order is time order."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}."
        f"{utc.microsecond // 1000:03d}Z"
    )


def format_precise_timestamp(moment: datetime) -> str:
    """Canonical UTC timestamp with microseconds (the registry's history, where two changes may share a millisecond)."""
    return f"{format_timestamp(moment)[:-1]}{moment.astimezone(UTC).microsecond % 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that states its offset (`Z` or `+hh:mm`); naive times are refused."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return moment.astimezone(UTC)


_minute_epochs: dict[str, int] = {}


def _epoch_seconds(canonical: str, moment: datetime) -> int:
    """Whole epoch seconds of a canonical timestamp; minutes are cached (records cluster in time)."""
    minute = _minute_epochs.get(canonical[:16])
    if minute is None:
        if len(_minute_epochs) >= 100_000:
            _minute_epochs.clear()
        minute = _minute_epochs[canonical[:16]] = _floor(moment.timestamp()) - moment.second
    return minute + moment.second


def _shown(value: object) -> str:
    """A value as a message shows it, bounded."""
    if isinstance(value, str):
        return preview(value)
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'} of {len(value)} members"
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INTEGER <= value <= MAX_INTEGER:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


def _check_identifier(document: Mapping[str, Any], name: str, problems: list[str]) -> str:
    value = document.get(name)
    found = identifier_problems(name, value)
    if found:
        problems += found
        return ""
    return str(value)


def _check_time(document: Mapping[str, Any], name: str, problems: list[str]) -> tuple[str, int]:
    value = document.get(name)
    if value is None:
        problems.append(f"missing field '{name}'")
        return "", 0
    if not isinstance(value, str):
        problems.append(f"'{name}' must be an ISO 8601 string, got {type(value).__name__}")
        return "", 0
    refusal = fraction_problem(name, value)
    if refusal is not None:
        problems.append(refusal)
        return "", 0
    try:
        moment = parse_timestamp(value)
        canonical, epoch = format_timestamp(moment), math.floor(moment.timestamp())
    except (ValueError, OverflowError) as error:
        # The error quotes the text (surrogates escaped): bounded only where the text is.
        detail = str(error) if len(value) <= PREVIEW_CHARS else f"{preview(value)} is not one"
        problems.append(f"'{name}' is not an ISO 8601 timestamp with offset: {detail}")
        return "", 0
    refusal = time_range_problem(name, canonical, epoch)
    if refusal is not None:
        problems.append(refusal)
        return "", 0
    return canonical, epoch


def _check_binary_label(value: object, name: str, problems: list[str]) -> int:
    if value is None:
        problems.append(f"missing field '{name}'")
        return 0
    if isinstance(value, bool) or value not in (0, 1):
        problems.append(f"'{name}' must be 0 or 1, got {_shown(value)}")
        return 0
    return int(value)


def _is_finite_number(value: object) -> bool:
    """A JSON number that is a finite double (an integer beyond the double range is not: `math.isfinite` would
    raise OverflowError on it)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and number_problem(value) is None


def _check_features(value: object, problems: list[str]) -> dict[str, FeatureValue]:
    if value is None:
        problems.append("missing field 'features'")
        return {}
    if not isinstance(value, dict) or not value:
        problems.append("'features' must be a non-empty object")
        return {}
    for name, feature in value.items():
        problems += feature_name_problems(name)
        if feature is not None and not isinstance(feature, int | float | str | bool):
            kind = "object" if isinstance(feature, dict) else "array" if isinstance(feature, list) else "other"
            problems.append(f"{feature_label(name)} must be a number, string, boolean or null, got {kind}")
        else:
            problems += scalar_problems(name, feature)
    return value


def _check_prediction(value: object, problems: list[str]) -> Prediction:
    if value is None:
        problems.append("missing field 'prediction'")
        return Prediction(0.0, 0)
    if not isinstance(value, dict):
        problems.append(f"'prediction' must be an object, got {type(value).__name__}")
        return Prediction(0.0, 0)
    score = value.get("score")
    if not _is_finite_number(score) or not 0.0 <= score <= 1.0:  # type: ignore[operator]
        problems.append(f"'prediction.score' must be a finite number in [0, 1], got {_shown(score)}")
        score = 0.0
    label = _check_binary_label(value.get("label"), "prediction.label", problems)
    return Prediction(float(score), label)  # type: ignore[arg-type]


def _check_unit_score(value: object, name: str, problems: list[str]) -> None:
    if not _is_finite_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        problems.append(f"'{name}' must be a finite number in [0, 1], got {_shown(value)}")


def _check_latency(value: object, name: str, problems: list[str]) -> None:
    if value is not None and (not _is_finite_number(value) or value < 0):  # type: ignore[operator]
        problems.append(f"'{name}' must be a non-negative finite number, got {_shown(value)}")


def _check_options(document: Mapping[str, Any], problems: list[str]) -> None:
    """The optional members (`ARM_FIELD`, `HEURISTIC_FIELD`, `SHADOW_FIELD`), where present and not null."""
    arm = document.get(ARM_FIELD)
    known_arm = arm is None or (type(arm) is str and arm in ARMS)
    if not known_arm:
        problems.append(f"'{ARM_FIELD}' must be one of {', '.join(map(repr, ARMS))}, got {_shown(arm)}")
    heuristic = document.get(HEURISTIC_FIELD)
    if heuristic is not None:
        if isinstance(heuristic, dict):
            _check_unit_score(heuristic.get("score"), f"{HEURISTIC_FIELD}.score", problems)
            _check_binary_label(heuristic.get("label"), f"{HEURISTIC_FIELD}.label", problems)
        else:
            problems.append(f"'{HEURISTIC_FIELD}' must be an object, got {type(heuristic).__name__}")
        if known_arm and arm != ARM_CONTROL:
            problems.append(
                f"'{HEURISTIC_FIELD}' is the control arm's answer: only a record with '{ARM_FIELD}' "
                f"{ARM_CONTROL!r} has one, got {ARM_FIELD} {_shown(arm)}"
            )
    client = document.get(CLIENT_ID_FIELD)
    if client is not None:
        problems += identifier_problems(CLIENT_ID_FIELD, client)
        if arm is None:
            problems.append(f"'{CLIENT_ID_FIELD}' names the client the experiment assigned: only with an '{ARM_FIELD}'")
    shadow = document.get(SHADOW_FIELD)
    if shadow is None:
        return
    if not isinstance(shadow, dict):
        problems.append(f"'{SHADOW_FIELD}' must be an object, got {type(shadow).__name__}")
        problems += unencodable_members({SHADOW_FIELD: shadow}, frozenset())
        return
    problems += identifier_problems(f"{SHADOW_FIELD}.model_version", shadow.get("model_version"))
    _check_unit_score(shadow.get("score"), f"{SHADOW_FIELD}.score", problems)
    _check_binary_label(shadow.get("label"), f"{SHADOW_FIELD}.label", problems)
    _check_latency(shadow.get("latency_ms"), f"{SHADOW_FIELD}.latency_ms", problems)
    others = {f"{SHADOW_FIELD}.{key}": value for key, value in shadow.items() if key != "model_version"}
    problems += unencodable_members(others, frozenset())


def _plain_options(arm: object, heuristic: object, shadow: object, client: object = None) -> bool:
    """Whether the optional members present are valid by exact types (the fast path's check; None: absent)."""
    if (arm is not None and (type(arm) is not str or arm not in ARMS)) or (
        client is not None
        and (arm is None or type(client) is not str or not 0 < len(client) <= MAX_ID_LENGTH or client.isspace())
    ):
        return False
    if heuristic is not None:
        if arm != ARM_CONTROL or type(heuristic) is not dict:
            return False
        score = heuristic.get("score")
        label = heuristic.get("label")
        if type(score) is not float or not 0.0 <= score <= 1.0 or type(label) is not int or not 0 <= label <= 1:
            return False
    if shadow is not None:
        if type(shadow) is not dict:
            return False
        version = shadow.get("model_version")
        score = shadow.get("score")
        label = shadow.get("label")
        latency = shadow.get("latency_ms")
        if (
            type(version) is not str
            or not 0 < len(version) <= MAX_ID_LENGTH
            or version.isspace()
            or type(score) is not float
            or not 0.0 <= score <= 1.0
            or type(label) is not int
            or not 0 <= label <= 1
            or (latency is not None and (type(latency) is not float or not 0.0 <= latency <= _MAX_FLOAT))
        ):
            return False
    return True


def payload_options(document: Mapping[str, Any]) -> PayloadOptions:
    """The optional members of a record `validate_payload` accepted, canonical and flat (`PayloadOptions`);
    `NO_OPTIONS` for a record without any. Not a check: call it only on an accepted record."""
    arm = document.get(ARM_FIELD)
    heuristic = document.get(HEURISTIC_FIELD)
    shadow = document.get(SHADOW_FIELD)
    if arm is None and heuristic is None and shadow is None:
        return NO_OPTIONS
    client = document.get(CLIENT_ID_FIELD)
    heuristic_score = heuristic_label = None
    if heuristic is not None:
        heuristic_score, heuristic_label = float(heuristic["score"]), int(heuristic["label"])
    if shadow is None:
        return arm, heuristic_score, heuristic_label, None, None, None, None, client
    latency = shadow.get("latency_ms")
    return (
        arm,
        heuristic_score,
        heuristic_label,
        shadow["model_version"],
        float(shadow["score"]),
        int(shadow["label"]),
        None if latency is None else float(latency),
        client,
    )


def _checked_payload(document: object) -> ValidPayload:
    """The complete check: canonical fields, or a `ContractViolationError` listing every problem."""
    if isinstance(document, dict) and too_deep(document):
        raise ContractViolationError([nesting_problem()])
    if not isinstance(document, dict):
        raise ContractViolationError([f"a payload record must be a JSON object, got {type(document).__name__}"])
    problems: list[str] = []
    request_id = _check_identifier(document, "request_id", problems)
    model_name = _check_identifier(document, "model_name", problems)
    model_version = _check_identifier(document, "model_version", problems)
    timestamp, epoch_seconds = _check_time(document, "timestamp", problems)
    _check_features(document.get("features"), problems)
    prediction = _check_prediction(document.get("prediction"), problems)
    latency = document.get("latency_ms")
    _check_latency(latency, "latency_ms", problems)
    _check_options(document, problems)
    problems += unencodable_members(document, _CHECKED_PAYLOAD_MEMBERS)
    if problems:
        raise ContractViolationError(problems)
    return (
        request_id,
        model_name,
        model_version,
        timestamp,
        epoch_seconds,
        prediction.score,
        prediction.label,
        None if latency is None else float(latency),
    )


def _has_unencodable_string(document: object) -> bool:
    """Whether any string or key inside `document` cannot be encoded as UTF-8."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if not all(encodable(key) for key in value):
                return True
            pending += value.values()
        elif isinstance(value, list):
            pending += value
        elif isinstance(value, str) and not encodable(value):
            return True
    return False


def _doubtful(document: dict[str, Any], line: str | None) -> bool:
    """Whether a record the fast path took needs the complete check for its strings or nesting.

    `line`, the JSON text of the record, rules both out cheaply for most records: without a `\\uD...` escape it
    holds no lone surrogate, and with few brackets it is not deep.
    """
    if (line is None or may_hold_lone_surrogate(line)) and _has_unencodable_string(document):
        return True
    return too_deep(document, line)


def _has_long_feature(features: dict[str, Any]) -> bool:
    """Whether a feature's name or string value is longer than its limit."""
    for name, value in features.items():
        if len(name) > MAX_FEATURE_NAME_CHARS or (type(value) is str and len(value) > MAX_STRING_VALUE_CHARS):
            return True
    return False


def validate_payload(  # noqa: PLR0911, PLR0912  # every doubt returns the full check
    document: object, line: str | None = None
) -> ValidPayload:
    """Check a decoded JSON value against the payload contract; return its canonical field values.

    Raises `ContractViolationError` listing every problem. The same rules as `parse_payload`, without building
    the typed record (the ETL's hot path). `line`, the JSON text `document` was decoded from, if given, spares
    the walks that the text rules out (for lone surrogates and depth); it is never required.
    """
    # Fast path, inlined for speed: exact types and an already-canonical timestamp. Any doubt -> full check.
    if type(document) is not dict:
        return _checked_payload(document)
    try:
        request_id = document["request_id"]
        model_name = document["model_name"]
        model_version = document["model_version"]
        timestamp = document["timestamp"]
        features = document["features"]
        prediction = document["prediction"]
        score = prediction["score"]
        label = prediction["label"]
    except (KeyError, TypeError, IndexError):
        return _checked_payload(document)
    latency = document.get("latency_ms")
    if (
        type(request_id) is not str
        or not 0 < len(request_id) <= MAX_ID_LENGTH
        or request_id.isspace()
        or type(model_name) is not str
        or not 0 < len(model_name) <= MAX_ID_LENGTH
        or model_name.isspace()
        or type(model_version) is not str
        or not 0 < len(model_version) <= MAX_ID_LENGTH
        or model_version.isspace()
        # `YYYY-MM-DDTHH:MM:SS.mmmZ` by its separators; fromisoformat below checks digits and ranges. With these
        # separators there is no other ISO 8601 reading (week dates have no '-' at index 7): it is canonical.
        or type(timestamp) is not str
        or len(timestamp) != 24
        or timestamp[4:20:3] != "--T::."
        or timestamp[23] != "Z"
        or type(features) is not dict
        or not features
        or type(prediction) is not dict
        or type(score) is not float
        or not 0.0 <= score <= 1.0
        or type(label) is not int
        or not 0 <= label <= 1
        or (latency is not None and (type(latency) is not float or not 0.0 <= latency <= _MAX_FLOAT))
    ):
        return _checked_payload(document)
    # Every required member is there (read above): more members than those (and `latency_ms`, if it has a value)
    # means some other member, perhaps an optional one, which is checked. An old record has none: one comparison.
    if len(document) > (_REQUIRED_MEMBERS if latency is None else _REQUIRED_MEMBERS + 1):
        arm = document.get(ARM_FIELD)
        heuristic = document.get(HEURISTIC_FIELD)
        shadow = document.get(SHADOW_FIELD)
        client = document.get(CLIENT_ID_FIELD)
        if (
            arm is not None or heuristic is not None or shadow is not None or client is not None
        ) and not _plain_options(arm, heuristic, shadow, client):
            return _checked_payload(document)
    largest = MAX_INTEGER
    for feature in features.values():
        kind = type(feature)
        if kind is float:
            if feature - feature:  # nan for inf and nan (truthy), 0.0 for finite
                return _checked_payload(document)
        elif kind is int:
            if not -largest <= feature <= largest:
                return _checked_payload(document)
        elif kind is not str and kind is not bool and feature is not None:
            return _checked_payload(document)
    if line is None:
        if _has_unencodable_string(document) or too_deep(document) or _has_long_feature(features):
            return _checked_payload(document)
    # A line no longer than the name limit holds no longer name or value; one without a `\uD...` escape no lone
    # surrogate; one with few brackets no deep nesting.
    elif (
        (len(line) > MAX_FEATURE_NAME_CHARS and _has_long_feature(features))
        or ("\\" in line and ("\\ud" in line or "\\uD" in line) and _has_unencodable_string(document))
        or (len(line) > _DEEP_FROM and too_deep(document, line))
    ):
        return _checked_payload(document)
    try:
        moment = _from_iso(timestamp)
    except ValueError:
        return _checked_payload(document)
    epoch = _epoch_seconds(timestamp, moment)
    if not EARLIEST_EPOCH <= epoch < LATEST_EPOCH:
        return _checked_payload(document)
    return request_id, model_name, model_version, timestamp, epoch, score, label, latency


def parse_payload(document: object) -> PayloadRecord:
    """Validate a decoded JSON value against the payload contract."""
    request_id, model_name, model_version, timestamp, _, score, label, latency = validate_payload(document)
    assert isinstance(document, dict)  # validate_payload refuses anything else
    if _PAYLOAD_MEMBER_SET.issuperset(document):
        extra: dict[str, Any] = {}
    else:
        extra = {key: value for key, value in document.items() if key not in _PAYLOAD_MEMBER_SET}
    arm, heuristic_score, heuristic_label, shadow_version, shadow_score, shadow_label, shadow_latency, client = (
        payload_options(document)
    )
    return PayloadRecord(
        request_id=request_id,
        model_name=model_name,
        model_version=model_version,
        timestamp=timestamp,
        features=document["features"],
        prediction=Prediction(score, label),
        latency_ms=latency,
        extra=extra,
        arm=arm,
        heuristic=None if heuristic_score is None else Prediction(heuristic_score, heuristic_label or 0),
        shadow=(
            None
            if shadow_version is None
            else ShadowPrediction(shadow_version, shadow_score or 0.0, shadow_label or 0, shadow_latency)
        ),
        client_id=client,
    )


def _checked_label(document: object) -> ValidLabel:
    if not isinstance(document, dict):
        raise ContractViolationError([f"a label record must be a JSON object, got {type(document).__name__}"])
    if too_deep(document):
        raise ContractViolationError([nesting_problem()])
    problems: list[str] = []
    request_id = _check_identifier(document, "request_id", problems)
    model_name = _check_identifier(document, "model_name", problems)
    label = _check_binary_label(document.get("label"), "label", problems)
    observed_at, epoch_seconds = _check_time(document, "observed_at", problems)
    reviewed = document.get(REVIEWED_FIELD)
    if reviewed is not None and not isinstance(reviewed, bool):
        problems.append(f"'{REVIEWED_FIELD}' must be true or false, got {_shown(reviewed)}")
    problems += unencodable_members(document, _CHECKED_LABEL_MEMBERS)
    if problems:
        raise ContractViolationError(problems)
    return request_id, model_name, label, observed_at, epoch_seconds


def validate_label(document: object, line: str | None = None) -> ValidLabel:
    """Check a decoded JSON value against the label contract; return its canonical field values.

    Raises `ContractViolationError` listing every problem; the same rules as `parse_label`. `line` as in
    `validate_payload`.
    """
    if type(document) is not dict:
        return _checked_label(document)
    get = document.get
    request_id = get("request_id")
    model_name = get("model_name")
    label = get("label")
    observed_at = get("observed_at")
    reviewed = get(REVIEWED_FIELD)
    if (
        type(request_id) is not str
        or not 0 < len(request_id) <= MAX_ID_LENGTH
        or request_id.isspace()
        or type(model_name) is not str
        or not 0 < len(model_name) <= MAX_ID_LENGTH
        or model_name.isspace()
        or type(label) is not int
        or not 0 <= label <= 1
        or type(observed_at) is not str
        or len(observed_at) != 24
        or observed_at[4:20:3] != "--T::."  # canonical shape, as in validate_payload
        or observed_at[23] != "Z"
        or (reviewed is not None and type(reviewed) is not bool)
    ):
        return _checked_label(document)
    if _doubtful(document, line):
        return _checked_label(document)
    try:
        moment = _from_iso(observed_at)
    except ValueError:
        return _checked_label(document)
    epoch = _epoch_seconds(observed_at, moment)
    if not EARLIEST_EPOCH <= epoch < LATEST_EPOCH:
        return _checked_label(document)
    return request_id, model_name, label, observed_at, epoch


def parse_label(document: object) -> LabelRecord:
    """Validate a decoded JSON value against the label contract."""
    request_id, model_name, label, observed_at, _ = validate_label(document)
    assert isinstance(document, dict)  # validate_label refuses anything else
    extra = {key: value for key, value in document.items() if key not in _LABEL_MEMBER_SET}
    return LabelRecord(
        request_id=request_id,
        model_name=model_name,
        label=label,
        observed_at=observed_at,
        extra=extra,
        reviewed=label_reviewed(document),
    )


def label_reviewed(document: Mapping[str, Any]) -> bool:
    """Whether a label `validate_label` accepted was given by a reviewer (`REVIEWED_FIELD`; absent or null: no)."""
    return document.get(REVIEWED_FIELD) is True
