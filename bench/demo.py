"""The default `autoretrain demo` (90 simulated days): wall time and peak memory, in a subprocess, against the cost
of its emulator requests measured in the same run.

The run is the one `make demo` does (`autoretrain demo --out <tmp>` with every default); its wall time is
measured around the subprocess and its peak resident memory is the child's `ru_maxrss`. Target: under two
minutes on 2 cores (the issue's); the demo itself reports how long each part of the replay took in summary.json.

The peer: every AWS call of the replay is an HTTP request to moto's server, answered by the same process. After
the demo, this entry times the cheapest such request (a DynamoDB `GetItem` of one small item, through boto3, on a
fresh emulator in this process) and multiplies it by the number of requests the replay made (`emulator_requests`
in summary.json): the time the replay would take if its requests were all that cheap and nothing else ran. The
ratio says how much of the wall time is spent beyond that floor.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3

from autoretrain.emulator import Emulator, create_table, patched_environ
from bench import Metric
from core.tables import REGISTRY_TABLE

NAME = "demo"
DESCRIPTION = "autoretrain demo, default 90 days: wall time and peak memory (subprocess), against its request floor"
TARGET_SECONDS = 120.0
#: Timed GetItem calls (after as many untimed ones), in blocks whose median is taken.
ROUND_TRIPS, BLOCKS = 300, 5


def request_round_trip_seconds() -> float:
    """Median seconds of one boto3 `GetItem` of a small item on a fresh in-process emulator."""
    emulator = Emulator()
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            session = boto3.session.Session()
            table = create_table(session, REGISTRY_TABLE, f"bench-{uuid.uuid4().hex[:12]}")
            dynamodb = session.client("dynamodb")
            key = {"pk": {"S": "churn"}, "sk": {"S": "v1"}}
            dynamodb.put_item(TableName=table, Item=key)
            block = ROUND_TRIPS // BLOCKS
            for _ in range(ROUND_TRIPS):
                dynamodb.get_item(TableName=table, Key=key)
            per_call = []
            for _ in range(BLOCKS):
                started = time.perf_counter()
                for _ in range(block):
                    dynamodb.get_item(TableName=table, Key=key)
                per_call.append((time.perf_counter() - started) / block)
            return statistics.median(per_call)
    finally:
        emulator.stop()


def run() -> list[Metric]:
    """Run the default demo once, measure it, then measure its request floor."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as directory:
        out = Path(directory) / "out"
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "autoretrain.cli", "demo", "--out", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"the demo failed: {completed.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0  # Linux reports KiB
    run_info = summary["run"]
    requests = int(run_info["emulator_requests"])
    round_trip = request_round_trip_seconds()
    floor = requests * round_trip
    detected = sum(1 for event in summary["injected_events"] if event.get("detected"))
    return [
        Metric(
            "wall time",
            elapsed,
            "s",
            target=TARGET_SECONDS,
            higher_is_better=False,
            note=f"{run_info['days']} days, {run_info['predictions']:,} predictions",
        ),
        Metric("peak memory", peak_mib, "MiB", higher_is_better=False, note="ru_maxrss of the demo process"),
        Metric(
            "predictions per second",
            run_info["predictions"] / elapsed,
            "predictions/s",
            note="served, logged, loaded and monitored",
        ),
        Metric("emulator requests", float(requests), "", note="HTTP requests the replay made to moto's server"),
        Metric(
            "request round trip",
            round_trip * 1000.0,
            "ms",
            higher_is_better=False,
            note="boto3 GetItem of one small item, in-process emulator (same run)",
        ),
        Metric(
            "request floor",
            floor,
            "s",
            higher_is_better=False,
            note="requests x round trip: the replay's time if nothing but its requests ran, each as cheap",
        ),
        Metric("wall time / request floor", elapsed / floor, "x", higher_is_better=False, note="same run"),
        Metric(
            "injected events detected",
            float(detected),
            "",
            target=float(len(summary["injected_events"])),
            note="of the scenario's events",
        ),
    ]
