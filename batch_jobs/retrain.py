"""The retrain job (`python -m batch_jobs.retrain`, `autoretrain retrain`): governance, data, quality, window,
fit, gate, and then a release or a recorded rejection.

    python -m batch_jobs.retrain --trigger {schedule,drift,performance,on_demand,initial} [--reason TEXT] [--now ISO]

The entry point: it parses the arguments, reads the settings (`core.settings.RetrainSettings`), wires the real
adapters into the pipeline's ports (`build_deps`) and runs `batch_jobs.training.pipeline.run_retrain`, whose
docstring describes the steps.

Exit code 0 for every decided outcome (refused, rejected, released), printed as one JSON line on stdout;
non-zero when the job itself failed (AWS errors, bad settings), so Batch retries it. A retry with the same
`--now` and data produces the same version and finishes whatever the failed run left undone.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from batch_jobs.lake.catalog import GlueLakeCatalog
from batch_jobs.lake.windows import open_lake
from batch_jobs.release import SHADOW_TRIGGERS, Publisher
from batch_jobs.training.adapters import ObjectStore, TrainingSetReader
from batch_jobs.training.job import (
    RETRAIN_TRIGGERS,
    Outcome,
    RetrainConfig,
    RetrainRequest,
    RetrainResult,
)
from batch_jobs.training.pipeline import run_retrain
from batch_jobs.training.ports import RetrainDeps
from core.aws import shared_session
from core.events import NO_REGIME, EventBus
from core.model_lifecycle import Trigger
from core.records import parse_timestamp
from core.registry import Registry
from core.settings import LakeSettings, RetrainSettings

__all__ = [
    "RETRAIN_TRIGGERS",
    "Outcome",
    "RetrainConfig",
    "RetrainDeps",
    "RetrainRequest",
    "RetrainResult",
    "build_deps",
    "build_parser",
    "code_version",
    "main",
    "run_retrain",
]


def build_parser() -> argparse.ArgumentParser:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain retrain", description="Retrain, gate and release the model.")
    parser.add_argument("--trigger", choices=[trigger.value for trigger in RETRAIN_TRIGGERS], default="on_demand")
    parser.add_argument("--reason", default="", help="why the retrain was requested (recorded in the registry)")
    parser.add_argument("--now", type=parse_timestamp, default=None, help="ISO 8601 time with offset (default: now)")
    parser.add_argument(
        "--regime-start",
        type=_optional_timestamp,
        default=None,
        help="recovery after decay: train and judge on rows served since this ISO 8601 time ('none': not a recovery)",
    )
    parser.add_argument(
        "--incremental", action="store_true", help="update the champion incrementally when its estimator allows"
    )
    return parser


def _optional_timestamp(text: str) -> datetime | None:
    """`none` or empty (what Batch passes when the event names no regime) as None, else an ISO 8601 time."""
    return None if text.strip().lower() in ("", NO_REGIME) else parse_timestamp(text)


def code_version(configured: str) -> str:
    """The configured code version, else `git describe`, else `unknown`."""
    if configured:
        return configured
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607  # git from PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return described.stdout.strip() or "unknown"


def build_deps(settings: RetrainSettings, workdir: Path) -> RetrainDeps:
    """The pipeline's ports, wired to the real adapters over one boto3 session."""
    session = shared_session()
    s3 = session.client("s3")
    registry = Registry(session.client("dynamodb"), settings.registry_table)
    models = ObjectStore(s3, settings.model_bucket)
    bus = EventBus(session.client("events"), settings.event_bus)
    lake = LakeSettings.from_env()
    return RetrainDeps(
        model_name=settings.model_name,
        registry=registry,
        payloads=open_lake(lake, session),
        training_sets=TrainingSetReader(s3, settings.payload_bucket),
        models=models,
        publisher=Publisher(
            models,
            registry,
            bus,
            settings.model_name,
            shadow_triggers=SHADOW_TRIGGERS if settings.shadow_releases else frozenset(),
        ),
        bus=bus,
        code_version=code_version(settings.code_version),
        workdir=workdir,
        lake_catalog=GlueLakeCatalog(session.client("glue"), lake.database),
    )


def main(argv: Sequence[str] | None = None, config: RetrainConfig | None = None) -> int:
    """Parse arguments, read settings, run the retrain, print the result as JSON; 0 for any decided outcome."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = RetrainSettings.from_env()
    base = config or RetrainConfig()
    config = dataclasses.replace(
        base,
        label_delay=timedelta(days=settings.label_delay_days),
        incremental=base.incremental or arguments.incremental,
    )
    request = RetrainRequest(
        trigger=Trigger(arguments.trigger),
        reason=arguments.reason or f"{arguments.trigger} retrain",
        now=arguments.now or datetime.now(UTC),
        regime_start=arguments.regime_start,
    )
    with tempfile.TemporaryDirectory(prefix="autoretrain-") as workdir:
        result = run_retrain(request, build_deps(settings, Path(workdir)), config)
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
