"""The record contract's limits, and the checks of single values that both ends of the pipe run.

Defined once, enforced once: the serving Lambda checks a request with these functions before it scores it, and
the payload-ETL checks every stored line with them (through `core.records.validate_payload`), so a record serving
logs is a record the ETL loads, and both refuse a value with the same words. Pure and standard-library only.

The limits, and why each:
- `MAX_RECORD_CHARS`: one record as one JSON line, in characters. A record is stored whole in one DynamoDB item
  (400 KB; UTF-8 takes at most 4 bytes a character, and the item has other attributes).
- `MAX_ID_CHARS`: `request_id`, `model_name`, `model_version`, which end up in keys and indexes.
- `MAX_FEATURE_NAME_CHARS` and `MAX_STRING_VALUE_CHARS`, derived from `MAX_RECORD_CHARS`: one feature at both
  limits, even if every character needed JSON's six-character escape, takes less than half a record, so a long
  value is refused as itself. A record as a whole is still held to `MAX_RECORD_CHARS` (serving measures the line
  it will log before it scores: `core.records.payload_line_bound`).
- Strings: every string of a record (ids, feature names and values, unknown members and their keys) must be
  encodable as UTF-8. JSON can spell a lone surrogate (`"\\udc00"`), which no UTF-8 text, Parquet column or log
  line can hold.
- Numbers: finite doubles. A JSON integer is stored as written (the ETL keeps the line verbatim) and read as a
  double: beyond 2**53 it reads as the nearest double (precision is lost, as in any float64 column); beyond the
  largest double (about 1.8e308) it is refused.
- `MAX_NESTING`: objects and arrays inside one another (unknown members may nest); a reader decodes a record
  inside its segment's body, two levels deeper and further down the stack, so it must stay far from Python's
  recursion limit.
- Times: between `EARLIEST_TIME` and `LATEST_TIME`, at most `MAX_FRACTION_DIGITS` fractional digits, and, where
  the object's key names a day (`dt=YYYY-MM-DD`), within `PARTITION_TOLERANCE` of that day (a `dt=` that is not
  such a date names none).
"""

from __future__ import annotations

import math
import re
import sys
from datetime import UTC, date, datetime, timedelta

#: One record as one JSON line, in characters.
MAX_RECORD_CHARS = 64 * 1024
#: `request_id`, `model_name`, `model_version`.
MAX_ID_CHARS = 256
#: A feature's name.
MAX_FEATURE_NAME_CHARS = MAX_RECORD_CHARS // 64
#: A string feature value (a category).
MAX_STRING_VALUE_CHARS = MAX_RECORD_CHARS // 16
#: Objects and arrays inside one another, the record itself counted.
MAX_NESTING = 500
#: The largest integer read as a finite double; larger magnitudes are refused.
MAX_INTEGER = int(sys.float_info.max)
#: The longest text `repr` gives a double (`-2.2250738585072014e-308`).
MAX_DOUBLE_REPR_CHARS = 24
#: A record's times lie in [EARLIEST_TIME, LATEST_TIME).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
#: Digits after a timestamp's decimal point (nanoseconds); more is not a clock's reading.
MAX_FRACTION_DIGITS = 9
#: How far outside the UTC day its object's key names (`dt=YYYY-MM-DD`) a record's time may be: writers name the
#: day when they write, a little after the record's time, and a clock may be a little off.
PARTITION_TOLERANCE = timedelta(days=1)
#: Characters of a name or value quoted in a problem; the rest is counted, not shown.
PREVIEW_CHARS = 64
#: Members reported one by one when a record holds many unencodable strings.
MAX_REPORTED_MEMBERS = 10

EARLIEST_EPOCH = int(EARLIEST_TIME.timestamp())
LATEST_EPOCH = int(LATEST_TIME.timestamp())
_TOLERANCE_S = int(PARTITION_TOLERANCE.total_seconds())
_DAY_S = 86_400
_FRACTION = re.compile(r"[.,]([0-9]+)")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LONE_SURROGATE = "holds a lone surrogate, which UTF-8 cannot encode"
#: The words of a number's refusal, after its label: `core.quarantine` finds non-finite features by them.
NOT_FINITE = "is not finite"


def encodable(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (it holds no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def preview(text: str) -> str:
    """`text` quoted for a message: at most `PREVIEW_CHARS` characters, then its length; lone surrogates escaped."""
    shown = text[:PREVIEW_CHARS]
    if not encodable(shown):
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
    suffix = "" if len(text) <= PREVIEW_CHARS else f"…({len(text)} characters)"
    return f"'{shown}'{suffix}"


def string_problems(what: str, text: str, limit: int) -> list[str]:
    """Problems of a string against a length limit and UTF-8; `what` names it in the message."""
    problems: list[str] = []
    if len(text) > limit:
        problems.append(f"{what} is {len(text)} characters long; the limit is {limit}")
    if not encodable(text):
        problems.append(f"{what} {_LONE_SURROGATE}")
    return problems


def identifier_problems(name: str, value: object) -> list[str]:
    """Problems of an id member (`request_id`, `model_name`, `model_version`): a non-empty string within limits."""
    if value is None:
        return [f"missing field '{name}'"]
    if not isinstance(value, str) or not value.strip():
        return [f"'{name}' must be a non-empty string, got {type(value).__name__}"]
    return string_problems(f"'{name}'", value, MAX_ID_CHARS)


def feature_label(name: str) -> str:
    """How a message names a feature."""
    return f"feature {preview(name)}"


def feature_name_problems(name: str) -> list[str]:
    """Problems of a feature's name."""
    return string_problems(f"feature name {preview(name)}", name, MAX_FEATURE_NAME_CHARS)


def number_problem(value: int | float) -> str | None:
    """Why a number is not a finite double, if it is not (words to follow the feature's label)."""
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{NOT_FINITE} ({value!r})"
    if -MAX_INTEGER <= value <= MAX_INTEGER:
        return None
    return f"{NOT_FINITE}: an integer of {value.bit_length()} bits is beyond the largest double"


def scalar_problems(name: str, value: object) -> list[str]:
    """Problems of a feature's value of an accepted JSON type: a string's length and encoding, a number's range.

    Other types are the caller's to refuse (the ETL accepts any scalar, serving the schema's kind).
    """
    if isinstance(value, str):
        return string_problems(feature_label(name), value, MAX_STRING_VALUE_CHARS)
    if isinstance(value, int | float) and not isinstance(value, bool):
        problem = number_problem(value)
        return [] if problem is None else [f"{feature_label(name)} {problem}"]
    return []


def record_length_problem(chars: int) -> str:
    """The refusal of a record whose JSON line is `chars` characters long."""
    return f"record is {chars} characters long; the limit is {MAX_RECORD_CHARS}"


def nesting_problem() -> str:
    """The refusal of a record nested deeper than `MAX_NESTING`."""
    return f"nested more than {MAX_NESTING} levels deep (objects and arrays): too deep to store"


def too_deep(document: object, text: str | None = None) -> bool:
    """Whether `document` has more than `MAX_NESTING` objects and arrays inside one another.

    `text`, the JSON it was decoded from, rules most records out without a walk: fewer brackets, no such depth.
    """
    if text is not None and (len(text) <= 2 * MAX_NESTING or text.count("[") + text.count("{") <= MAX_NESTING):
        return False
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_NESTING:
            return True
        pending += [(child, depth + 1) for child in children]
    return False


def may_hold_lone_surrogate(text: str) -> bool:
    """Whether JSON text can decode to a lone surrogate: only a `\\uD800`-`\\uDFFF` escape spells one (decoded
    UTF-8 holds none)."""
    return "\\" in text and ("\\ud" in text or "\\uD" in text)  # one fast scan rules out most texts


def unencodable_members(document: dict[str, object], skip: frozenset[str]) -> list[str]:
    """Problems of the members of `document` (but those in `skip`) that hold a string, or a key, UTF-8 cannot
    encode, at any depth; at most `MAX_REPORTED_MEMBERS` named, the rest counted."""
    found: list[str] = []
    pending: list[tuple[str, object]] = [(key, value) for key, value in document.items() if key not in skip]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            pending += [(f"{path}.{key}", child) for key, child in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}[{index}]", child) for index, child in enumerate(value)]
        elif (isinstance(value, str) and not encodable(value)) or not encodable(path):
            found.append(path)
    problems = [f"member {preview(path)} {_LONE_SURROGATE}" for path in sorted(found)[:MAX_REPORTED_MEMBERS]]
    if len(found) > MAX_REPORTED_MEMBERS:
        problems.append(f"{len(found) - MAX_REPORTED_MEMBERS} more members {_LONE_SURROGATE}")
    return problems


def fraction_problem(name: str, text: str) -> str | None:
    """Why a timestamp's text is refused before it is parsed (absurd precision), if it is."""
    match = _FRACTION.search(text)
    if match and len(match.group(1)) > MAX_FRACTION_DIGITS:
        return f"'{name}' has {len(match.group(1))} fractional digits; the limit is {MAX_FRACTION_DIGITS}"
    return None


def time_range_problem(name: str, canonical: str, epoch: int) -> str | None:
    """Why a time (canonical text, epoch seconds) is implausible, if it is."""
    if EARLIEST_EPOCH <= epoch < LATEST_EPOCH:
        return None
    return (
        f"'{name}' {canonical} is outside the plausible range "
        f"[{EARLIEST_TIME:%Y-%m-%d}, {LATEST_TIME:%Y-%m-%d}) of a record's time"
    )


def partition_bounds(day: str) -> tuple[int, int]:
    """Epoch seconds [start, end) a record of an object in the `dt=<day>` partition may have.

    Raises ValueError if `day` is not a `YYYY-MM-DD` date.
    """
    if not _DAY.fullmatch(day):  # fromisoformat also takes `YYYYMMDD` and week dates
        raise ValueError(f"dt={day} is not a YYYY-MM-DD date")
    start = int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())
    return start - _TOLERANCE_S, start + _DAY_S + _TOLERANCE_S


def partition_problem(name: str, canonical: str, day: str) -> str:
    """The refusal of a record whose time is outside `PARTITION_TOLERANCE` of its object's `dt=<day>`."""
    tolerance = PARTITION_TOLERANCE.days
    return (
        f"'{name}' {canonical} is more than {tolerance} day{'s' if tolerance != 1 else ''} outside "
        f"the object key's dt={day} partition"
    )
