"""`autoretrain cost --predictions-per-day N [N ...]`: the monthly cost per service at each traffic level, the
monitoring and retraining overhead, and whether the targets are met.

The usage comes from a replay on the embedded emulator (`autoretrain.cost.measure`, run now unless `--profile FILE`
names a saved one; `--save-profile FILE` keeps it), the stack's shape from the Pulumi program under mocks
(`autoretrain.cost.stack`, with `--stack-config Pulumi.<stack>.yaml` or the defaults), the prices from
`autoretrain.cost.prices` (`--price key=usd` overrides one).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TextIO

from autoretrain.cost.model import TARGETS, Assumptions, Estimate, estimate, firehose_billed_bytes, verdicts
from autoretrain.cost.prices import PRICES, PRICES_READ_ON, REGION, Price, with_overrides
from autoretrain.cost.stack import DEFAULT_STACK_CONFIG, StackInventory, read_stack
from autoretrain.cost.usage import AWS_CALLS, CPU_SECONDS, LakeScan, UsageProfile
from infra.config import DEFAULT_LAKE_SAMPLE_ROWS
from infra.mocks import load_stack_config

NO_SCAN = LakeScan(0, (), 0.0, 0)


def _volume(text: str) -> float:
    multipliers = {"k": 1e3, "m": 1e6}
    suffix = text[-1:].lower()
    value = float(text[:-1]) * multipliers[suffix] if suffix in multipliers else float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def _price_override(text: str) -> tuple[str, float]:
    key, _, value = text.partition("=")
    try:
        return key, float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected key=usd") from error


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain cost", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--predictions-per-day",
        type=_volume,
        nargs="+",
        required=True,
        metavar="N",
        help="one or more traffic levels (10000, 10k, 1m)",
    )
    parser.add_argument("--labels-per-day", type=_volume, metavar="M", help="labels a day (default: N, every one)")
    parser.add_argument(
        "--instances-per-request",
        type=float,
        default=1.0,
        help="instances the callers send per serving request (default 1)",
    )
    parser.add_argument(
        "--label-objects-per-day", type=float, default=24.0, help="label objects uploaded a day (default 24, hourly)"
    )
    parser.add_argument(
        "--call-latency-ms",
        type=float,
        default=10.0,
        help="a Lambda's wait per AWS call, added to its CPU time (default 10)",
    )
    parser.add_argument(
        "--cpu-factor",
        type=float,
        default=1.0,
        help="Lambda's CPU seconds per CPU second measured here, at a full vCPU (default 1)",
    )
    parser.add_argument(
        "--fargate-startup-seconds",
        type=float,
        default=60.0,
        help="billed Fargate seconds before a job starts its work (image pull; default 60)",
    )
    parser.add_argument(
        "--build-minutes",
        type=float,
        default=15.0,
        help="a release build's minutes before the canary bake (default 15; not measurable here)",
    )
    parser.add_argument("--profile", type=Path, help="reuse a saved usage profile instead of measuring now")
    parser.add_argument("--save-profile", type=Path, help="write the measured profile to this file")
    parser.add_argument("--stack-config", type=Path, help="a Pulumi.<stack>.yaml (default: us-east-1, defaults)")
    parser.add_argument(
        "--price",
        type=_price_override,
        action="append",
        default=[],
        metavar="KEY=USD",
        help="override one price of the table (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    return parser


def _money(value: float) -> str:
    return f"{value:,.2f}" if value >= 0.01 or value == 0 else f"{value:.4f}"


def _volume_label(value: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}/day"
    return f"{value:g}/day"


def render(
    estimates: Sequence[Estimate],
    profile: UsageProfile,
    inventory: StackInventory,
    prices: dict[str, Price],
    out: TextIO,
) -> None:
    """The table, the targets and what the figures assume."""
    shown = [item for item in estimates if item.assumptions.predictions_per_day in _requested(estimates)]
    keys = list(dict.fromkeys((line.service, line.item) for item in shown for line in item.lines))
    width = max(len(f"{service}: {item}") for service, item in keys) + 2
    header = f"{'USD per month (' + REGION + ' list prices)':<{width}}" + "".join(
        f"{_volume_label(item.assumptions.predictions_per_day):>14}" for item in shown
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    for service, name in keys:
        cells = []
        for item in shown:
            usd = sum(line.usd for line in item.lines if (line.service, line.item) == (service, name))
            overhead = all(line.overhead for line in item.lines if (line.service, line.item) == (service, name))
            cells.append(f"{_money(usd) + ('' if overhead else ' *'):>14}")
        out.write(f"{service + ': ' + name:<{width}}" + "".join(cells) + "\n")
    out.write("-" * len(header) + "\n")
    out.write(f"{'total':<{width}}" + "".join(f"{_money(item.total):>14}" for item in shown) + "\n")
    out.write(
        f"{'monitoring and retraining overhead':<{width}}"
        + "".join(f"{_money(item.overhead):>14}" for item in shown)
        + "\n"
    )
    out.write("  * the serving function's own compute: not overhead\n\n")
    out.write("By service (largest six):\n")
    for item in shown:
        parts = ", ".join(f"{service} {_money(usd)}" for service, usd in list(item.by_service().items())[:6])
        out.write(f"  {_volume_label(item.assumptions.predictions_per_day)}: {parts}\n")
    out.write("\nTargets (overhead a month):\n")
    for verdict in verdicts(estimates):
        status = "met" if verdict.met else "MISSED"
        out.write(
            f"  {_volume_label(verdict.predictions_per_day)}: ${_money(verdict.overhead_usd)} <= "
            f"${verdict.limit_usd:g}? {status}\n"
        )
        if not verdict.met:
            at = next(e for e in estimates if round(e.assumptions.predictions_per_day) == verdict.predictions_per_day)
            top = sorted(
                ((line.usd, f"{line.service}: {line.item}") for line in at.lines if line.overhead), reverse=True
            )[:4]
            out.write("    dominated by " + "; ".join(f"{name} ${_money(usd)}" for usd, name in top) + "\n")
    _render_assumptions(shown, profile, inventory, out)
    out.write(
        f"\nPrices: {REGION}, on-demand list prices read {PRICES_READ_ON}; free tiers ignored "
        "(autoretrain/cost/prices.py names each source):\n"
    )
    for key, entry in prices.items():
        out.write(f"  {key}: ${entry.usd:.10g} per {entry.unit} ({entry.source or 'override'})\n")


def _requested(estimates: Sequence[Estimate]) -> list[float]:
    return [item.assumptions.predictions_per_day for item in estimates if item.facts.get("requested", 1.0)]


def _render_assumptions(
    shown: Sequence[Estimate], profile: UsageProfile, inventory: StackInventory, out: TextIO
) -> None:
    first = shown[0].assumptions
    serving = profile.stages["serving"].at(first.instances_per_request)
    etl = profile.stages["etl_payloads"]
    out.write("\nWhat the figures assume:\n")
    lines = [
        f"measured {profile.measured_at} by a replay on the emulator of {profile.replay.get('predictions')} "
        f"predictions in {profile.replay.get('requests')} requests ({profile.replay.get('hours')} simulated hours), "
        f"{profile.replay.get('payload_objects')} payload and {profile.replay.get('label_objects')} label objects, "
        f"{profile.replay.get('alerting_runs')} alerting runs, one compaction, drift check and retrain",
        f"payloads reach S3 through {'Firehose' if profile.payload_writer == 'firehose' else 'serving PutObject'}; "
        f"per serving request of {first.instances_per_request:g} instance(s): "
        f"{serving.get(AWS_CALLS, 0):.2f} AWS calls, {serving.get(CPU_SECONDS, 0) * 1000:.1f} ms CPU, "
        f"{serving.get('firehose:PutRecordBatch:records', 0):.2f} Firehose records of "
        f"{serving.get('firehose:PutRecordBatch:record_bytes', 0):.0f} bytes "
        f"(billed {firehose_billed_bytes(profile, first.instances_per_request):.0f})",
        "Firehose writes one object per buffer interval with traffic "
        f"({inventory.firehose_buffer_seconds or profile.firehose_buffer_seconds} s) or per "
        f"{inventory.firehose_buffer_mb or profile.firehose_buffer_mb} MB, not one per request as moto does; the ETL's "
        f"usage per object is fitted as fixed + per record ({etl.samples} objects, "
        f"{etl.fixed.get(AWS_CALLS, 0):.1f} AWS calls + {etl.per_unit.get(AWS_CALLS, 0):.4f} per record)",
        f"labels: {'N' if first.labels_per_day is None else _volume_label(first.labels)} a day in "
        f"{first.label_objects_per_day:g} objects a day",
        f"Lambda duration (est.): the handler thread's CPU seconds measured here x {first.cpu_factor:g} x "
        f"1769/memory MB below a full vCPU, + {first.call_latency_seconds * 1000:g} ms per AWS call; "
        f"{first.lambda_platform_log_bytes:g} log bytes of START/END/REPORT per invocation",
        f"schedules as deployed: alerting {inventory.alerting_runs_per_day:g}/day (each reads its "
        f"{inventory.alert_window_minutes}-minute window), drift check "
        f"{inventory.job_runs_per_day.get('drift-check', 0):g}/day, retrain "
        f"{inventory.job_runs_per_day.get('retrain', 0) * 7:g}/week (each released: CodeBuild "
        f"{first.build_minutes:g} min + {inventory.canary_minutes} min canary), compaction "
        f"{inventory.job_runs_per_day.get('compact-lake', 0):g}/day",
        f"jobs on Fargate {inventory.job_vcpu:g} vCPU / {inventory.job_memory_mib} MiB: "
        f"{first.fargate_startup_seconds:g} s start-up + the measured run scaled by the rows it reads (up to the "
        "sample cap), 1-minute minimum; a retrain that read no lake bytes (too few matured rows in the replay) is "
        "charged the drift check's largest query per prediction over its look-back",
        f"Athena scans, per query, the measured compressed bytes per prediction (DuckDB's S3 reads of the columns the "
        f"SQL reads) x the predictions in its window (drift check {inventory.drift_window_days} days, retrain "
        f"{inventory.retrain_lookback_days} days), at least 10 MB; drift check per prediction: "
        + ", ".join(f"{value:.1f} B" for value in profile.scans.get("drift_check", NO_SCAN).bytes_per_prediction),
        f"storage at steady state: raw {profile.storage.raw_payload_gzip_bytes_per_prediction:.0f} B (gzip) + lake "
        f"{profile.storage.lake_bytes_per_prediction:.0f} B per prediction for {inventory.object_retention_days} "
        f"days (the replay's small Parquet files overstate the lake), DynamoDB items for "
        f"{inventory.payload_retention_days} days, logs for {inventory.log_retention_days} days",
    ]
    for text in lines:
        out.write(f"  - {text}\n")
    for item in shown:
        facts = ", ".join(f"{name} {value:,.1f}" for name, value in item.facts.items() if name != "requested")
        out.write(f"  - at {_volume_label(item.assumptions.predictions_per_day)}: {facts}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure (or load) the profile, read the stack, print the estimates."""
    args = build_parser().parse_args(argv)
    if args.profile is not None:
        profile = UsageProfile.load(args.profile)
    else:
        from autoretrain.cost.measure import measure  # noqa: PLC0415 - the replay loads the numeric stack

        profile = measure()
    if args.save_profile is not None:
        profile.save(args.save_profile)
    config = load_stack_config(args.stack_config) if args.stack_config else dict(DEFAULT_STACK_CONFIG)
    inventory = read_stack(config)
    prices = with_overrides(dict(args.price)) if args.price else dict(PRICES)
    requested = list(dict.fromkeys(args.predictions_per_day))
    volumes = requested + [float(volume) for volume, _ in TARGETS if float(volume) not in requested]
    estimates = []
    for volume in volumes:
        assumptions = Assumptions(
            predictions_per_day=volume,
            labels_per_day=args.labels_per_day,
            instances_per_request=args.instances_per_request,
            label_objects_per_day=args.label_objects_per_day,
            call_latency_seconds=args.call_latency_ms / 1000,
            cpu_factor=args.cpu_factor,
            fargate_startup_seconds=args.fargate_startup_seconds,
            build_minutes=args.build_minutes,
        )
        result = estimate(profile, inventory, assumptions, prices, lake_sample_rows=DEFAULT_LAKE_SAMPLE_ROWS)
        estimates.append(replace(result, facts={**result.facts, "requested": float(volume in requested)}))
    if args.json:
        document = {
            "estimates": [
                {
                    "assumptions": asdict(item.assumptions),
                    "total": item.total,
                    "overhead": item.overhead,
                    "lines": [asdict(line) for line in item.lines],
                    "facts": dict(item.facts),
                }
                for item in estimates
            ],
            "verdicts": [{**asdict(v), "met": v.met} for v in verdicts(estimates)],
            "prices_read_on": PRICES_READ_ON,
        }
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    render(estimates, profile, inventory, prices, sys.stdout)
    return 0
