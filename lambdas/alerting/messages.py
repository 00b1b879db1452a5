"""The words of an alert: one SNS message a person understands and the `AlertRaised` event's detail. Pure.

A message says what happened, how far from normal (observed against the normal band, with numbers), since when,
and what to do (a link to the signal's runbook section). Subjects are short ASCII (SNS refuses anything else in
a subject and cuts e-mail subjects at 100 characters).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from core.records import format_timestamp
from lambdas.alerting.models import RUNBOOK_ANCHORS, SEVERITIES, AlertNotice, SignalResult

MAX_SUBJECT = 99
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]")


class NoticeKind(StrEnum):
    """Which of the three messages an alert sends."""

    FIRING = "FIRING"
    REMINDER = "STILL FIRING"
    RESOLVED = "RESOLVED"


def runbook_link(runbook_url: str, result: SignalResult) -> str:
    """`<runbook_url>#<anchor>` of the signal's runbook section."""
    return f"{runbook_url}#{RUNBOOK_ANCHORS[result.signal]}"


def subject(kind: NoticeKind, model_name: str, result: SignalResult) -> str:
    """A short, printable ASCII subject (at most 99 characters)."""
    text = f"[autoretrain] {kind.value}: {model_name} {result.title}"
    return _NOT_SUBJECT_SAFE.sub("?", text)[:MAX_SUBJECT]


def _duration(span: timedelta) -> str:
    minutes = max(0, int(span.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"]
    return " ".join(parts[:2])


def _time(moment: datetime) -> str:
    return format_timestamp(moment)[:-5] + "Z"  # to the second: "2026-11-23T10:00:00Z"


def render(
    kind: NoticeKind,
    result: SignalResult,
    *,
    model_name: str,
    model_version: str,
    since: datetime,
    checked_at: datetime,
    runbook_url: str,
) -> AlertNotice:
    """The SNS subject and body and the `AlertRaised` detail for one alert."""
    link = runbook_link(runbook_url, result)
    severity = SEVERITIES[result.signal]
    if kind is NoticeKind.RESOLVED:
        summary = f"{result.title} for model {model_name} is back to normal"
        lines = [
            f"RESOLVED: {summary}.",
            "",
            f"Now: {result.headline}",
            *([f"Window: {result.window}."] if result.window else []),
            f"Normal: {result.normal}",
            f"It had been firing since {_time(since)} ({_duration(checked_at - since)}); "
            f"checked at {_time(checked_at)}.",
            f"Runbook: {link}",
        ]
    else:
        summary = f"{result.title} for model {model_name}: {result.headline}"
        header = "FIRING" if kind is NoticeKind.FIRING else "STILL FIRING (reminder)"
        lines = [
            f"{header} [{severity}]: {result.title} for model {model_name} (champion {model_version}).",
            "",
            f"What happened: {result.headline}",
            *([f"Window: {result.window}."] if result.window else []),
            f"Normal: {result.normal}",
            f"Since: {_time(since)} ({_duration(checked_at - since)} ago); checked at {_time(checked_at)}.",
            f"What to do: follow the runbook, {link}",
        ]
        if result.details:
            lines += ["", "Details:", *(f"  - {line}" for line in result.details)]
    message = "\n".join(lines) + "\n"
    detail = {
        "model_name": model_name,
        "signal": result.signal.value,
        "status": "resolved" if kind is NoticeKind.RESOLVED else "firing",
        "reminder": kind is NoticeKind.REMINDER,
        "severity": severity,
        "summary": summary,
        "message": message,
        "since": format_timestamp(since),
        "observed": result.observed,
        "expected": None if result.expected is None else result.expected.to_json(),
        "runbook_url": link,
    }
    return AlertNotice(subject(kind, model_name, result), message, detail)
