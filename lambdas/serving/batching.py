"""Pure delivery logic of the payload log: packing JSON lines into Firehose records and batches, and re-sending
the records a batch call reports as failed.

No boto3 here: the adapter (`lambdas.serving.adapters.PayloadLog`) passes in a `Send` function that makes one
PutRecordBatch call, and the tests pass an in-memory one.

Limits (Amazon Data Firehose quotas, "PutRecordBatch"): a record holds at most 1,000 KiB of data, a call at most
500 records and 4 MiB. Firehose bills ingestion per record rounded up to the next 5 KB, so a prediction per record
(a few hundred bytes) would be billed as 5 KB; many newline-terminated lines per record are billed as their size.
Lines are never split across records: Firehose concatenates records as they come, and a line cut in two across
records delivered in different objects would be two broken lines.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.retry import RetryPolicy
from lambdas.serving.models import PayloadLogError

#: Firehose's largest record (data before base64 encoding), in bytes.
MAX_RECORD_BYTES = 1_000 * 1024
#: Firehose's largest PutRecordBatch: records per call and data bytes per call.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record of a PutRecordBatch call that Firehose did not take: its position in the call and why."""

    index: int
    error_code: str
    error_message: str = ""


#: One PutRecordBatch call: the records' data in, the records that failed out (none when all were stored).
Send = Callable[[Sequence[bytes]], Sequence[RecordFailure]]


#: At most 5 calls a batch, about 0.75 s of sleeping at most (0.05 + 0.1 + 0.2 + 0.4 s, full jitter): the invocation
#: holds the client's answer while it retries.
DEFAULT_RETRY = RetryPolicy(max_attempts=5, base_delay_s=0.025, max_delay_s=0.4)


def pack_records(lines: Iterable[bytes], *, max_record_bytes: int = MAX_RECORD_BYTES) -> list[bytes]:
    """Concatenate newline-terminated lines, in order, into as few records of at most `max_record_bytes` as
    fit them whole. Raises ValueError for a line without its newline or longer than a record (the record
    contract keeps a payload line far below: at most 64 Ki characters)."""
    records: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if not line.endswith(b"\n"):
            raise ValueError("a payload line must end with its newline")
        if len(line) > max_record_bytes:
            raise ValueError(f"a payload line of {len(line)} bytes does not fit a record of {max_record_bytes}")
        if size + len(line) > max_record_bytes:
            records.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        records.append(b"".join(current))
    return records


def batch_records(
    records: Sequence[bytes], *, max_records: int = MAX_BATCH_RECORDS, max_bytes: int = MAX_BATCH_BYTES
) -> list[list[bytes]]:
    """Records, in order, grouped into as few calls as the per-call limits allow."""
    batches: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and (len(current) == max_records or size + len(record) > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        batches.append(current)
    return batches


def failures_of(response: Mapping[str, Any]) -> list[RecordFailure]:
    """The failed records of a PutRecordBatch response (`FailedPutCount`, and an `ErrorCode` in the failed
    records' entries of `RequestResponses`, which are in the order of the records sent)."""
    failed_count = int(response.get("FailedPutCount", 0))
    if not failed_count:
        return []
    failures = [
        RecordFailure(index, str(answer["ErrorCode"]), str(answer.get("ErrorMessage", "")))
        for index, answer in enumerate(response.get("RequestResponses", []))
        if answer.get("ErrorCode")
    ]
    if not failures:
        raise PayloadLogError(f"PutRecordBatch reported {failed_count} failed records without naming them")
    return failures


def deliver(
    batch: Sequence[bytes],
    send: Send,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None],
    rng: random.Random,
    what: str = "the payload stream",
) -> int:
    """Send `batch`, then re-send only the records reported failed, with backoff, until none is left; return the
    number of calls made. Raises PayloadLogError when `policy.max_attempts` calls leave records unsent (`send`
    raises it itself for a call refused as a whole)."""
    pending = list(batch)
    attempts = 0
    while pending:
        attempts += 1
        failures = send(pending)
        if not failures:
            return attempts
        failed = sorted({failure.index for failure in failures})
        if failed[0] < 0 or failed[-1] >= len(pending):
            raise PayloadLogError(f"{what} reported a failure for a record it was not sent: {failures[0]}")
        if attempts >= policy.max_attempts:
            codes = sorted({failure.error_code for failure in failures})
            raise PayloadLogError(
                f"{len(failed)} of {len(batch)} payload records not accepted by {what} after {attempts} attempts "
                f"(errors: {', '.join(codes)}; first: {failures[0].error_message or failures[0].error_code})"
            )
        pending = [pending[index] for index in failed]
        sleep(policy.delay(attempts, rng))
    return attempts
