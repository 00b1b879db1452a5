"""The payload-ETL handler's peak memory, in a process of its own, within the memory it is configured with.

The function is scaled down to the smallest size the ETL runs in (`MIN_MEMORY_MB`: the runtime with the AWS SDK for
pandas layer, one lake file being written and a little working memory), and the objects with it: a poisoned 1 KB
gzip object (1 MiB of invalid lines) and a valid object just under that size's object limit, whose records all go
to the lake as well. The peak is the child's own high-water mark (`VmHWM` in /proc/self/status): `ru_maxrss` would
report the test process's size, which a forked child inherits, instead.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from autoretrain.emulator import LocalResources
from core.records import format_timestamp
from lambdas.payload_etl.limits import MEMORY_SIZE_VARIABLE, MIN_MEMORY_MB, EtlLimits

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMORY_MB = MIN_MEMORY_MB
PROC_STATUS = Path("/proc/self/status")
#: Runs the handler on every event read from stdin; prints the results and the process's peak resident memory.
CHILD = """
import json, sys
from lambdas.payload_etl import handler
results = [handler(event, None) for event in json.load(sys.stdin)]
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"results": results, "peak_kib": peak_kib}))
"""


def event_for(session: boto3.Session, bucket: str, key: str, body: bytes) -> dict[str, Any]:
    etag = session.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    record = {"bucket": {"name": bucket}, "object": {"key": key, "eTag": etag, "size": len(body)}}
    return {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": record}]}


def payload_line(index: int) -> str:
    moment = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(seconds=index * 3)
    return json.dumps(
        {
            "request_id": f"{index:012d}-4a5b-8c9d-0e1f2a3b4c5d",
            "model_name": "churn",
            "model_version": "20261120T030000Z-ab12cd",
            "timestamp": format_timestamp(moment),
            "features": {
                "tenure_months": index % 72,
                "monthly_charges": 18.25 + index % 100,
                "plan": ("basic", "pro", "enterprise")[index % 3],
                "autopay": index % 2 == 0,
                "region": ("eu", "us", "apac")[index % 3],
                "profile_score": (index % 997) / 997,
                "notes": "n" * (index % 120),
            },
            "prediction": {"score": (index % 89) / 89, "label": index % 2},
            "latency_ms": 12.5,
        }
    )


def valid_object(size: int) -> tuple[bytes, int]:
    """JSON Lines of valid payloads, just under `size` bytes, and how many."""
    lines: list[str] = []
    total = 0
    while True:
        line = payload_line(len(lines))
        if total + len(line) + 1 > size:
            return ("\n".join(lines) + "\n").encode(), len(lines)
        lines.append(line)
        total += len(line) + 1


@pytest.mark.skipif(not PROC_STATUS.exists(), reason="reads the peak from /proc (Linux)")
def test_the_handler_stays_within_its_memory_on_a_poisoned_and_a_large_valid_object(
    aws_session: boto3.Session, resources: LocalResources, deployed_env: dict[str, str]
) -> None:
    limits = EtlLimits.for_memory(MEMORY_MB)
    bad_lines = 524_288
    poisoned = gzip.compress(b"x\n" * bad_lines + payload_line(0).encode() + b"\n", 9)
    assert len(poisoned) < 2048
    large, records = valid_object(limits.max_object_bytes * 9 // 10)
    events = [
        event_for(
            aws_session, resources.payload_bucket, "payloads/model=churn/dt=2026-11-23/poisoned.jsonl.gz", poisoned
        ),
        event_for(aws_session, resources.payload_bucket, "payloads/model=churn/dt=2026-11-23/large.jsonl", large),
    ]
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, MEMORY_SIZE_VARIABLE: str(MEMORY_MB)},
        check=False,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout)
    poisoned_result, large_result = report["results"]
    assert (poisoned_result["loaded"], poisoned_result["quarantined"]) == (1, bad_lines)
    assert (large_result["loaded"], large_result["quarantined"]) == (records, 0)
    assert large_result["objects"][0]["lake_files"] >= 1
    assert report["peak_kib"] <= MEMORY_MB * 1024
