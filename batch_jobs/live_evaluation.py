"""`python -m batch_jobs.live_evaluation [--now ISO8601]`: export yesterday's review sample, measure the business
impact of the control-group experiment, and decide a shadow period (`batch_jobs.monitoring.live`).

Reads its resources and settings from the environment (`core.settings.LiveEvaluationSettings`, `LakeSettings`);
boto3 finds the endpoint and credentials as usual. Exit codes: 0 when the run completed (whatever it found, and
when there is no champion yet), 1 when it failed (AWS error, bad settings), 2 on bad arguments. Prints the run's
summary as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from batch_jobs.drift_check import FAILURES as DRIFT_CHECK_FAILURES
from batch_jobs.lake.windows import open_lake
from batch_jobs.monitoring.adapters import LakeLiveReads, MetricsPublisher, ModelBucket
from batch_jobs.monitoring.business import ImpactConfig
from batch_jobs.monitoring.live import LiveEvaluationRequest, LivePorts, run_live_evaluation
from batch_jobs.monitoring.review import design_of
from batch_jobs.monitoring.shadow import ShadowConfig
from batch_jobs.release import Publisher
from batch_jobs.training.adapters import ObjectStore, StorageError
from core.aws import shared_session
from core.events import EventBus
from core.records import parse_timestamp
from core.registry import Registry
from core.release_bundle import ReleaseError
from core.settings import LakeSettings, LiveEvaluationSettings

logger = logging.getLogger("batch_jobs.live_evaluation")

#: Every error that means "the run failed"; anything else is a bug and propagates with its traceback.
FAILURES = (*DRIFT_CHECK_FAILURES, ReleaseError, StorageError)


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error} (expected ISO 8601 with offset)") from error


def build_parser() -> argparse.ArgumentParser:
    """The job's one argument."""
    parser = argparse.ArgumentParser(prog="python -m batch_jobs.live_evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--now", type=_timestamp, help="the run's time (default: the wall clock), ISO 8601")
    return parser


def build_request(settings: LiveEvaluationSettings, now: datetime) -> LiveEvaluationRequest:
    """The run the settings describe, at `now`."""
    return LiveEvaluationRequest(
        model_name=settings.model_name,
        now=now,
        review=design_of(settings.review),
        label_delay=timedelta(days=settings.label_delay_days),
        impact=ImpactConfig(lifetime_value=settings.lifetime_value),
        shadow=ShadowConfig(min_requests=settings.shadow.min_requests, min_days=float(settings.shadow.min_days)),
    )


def build_ports(settings: LiveEvaluationSettings) -> LivePorts:
    """The real adapters, on clients of the shared session."""
    session = shared_session()
    registry = Registry(session.client("dynamodb"), settings.registry_table)
    bus = EventBus(session.client("events"), settings.event_bus)
    return LivePorts(
        registry=registry,
        lake=LakeLiveReads(open_lake(LakeSettings.from_env(), session)),
        files=ModelBucket(session.client("s3")),
        payload_bucket=settings.payload_bucket,
        report_bucket=settings.model_bucket,
        metrics=MetricsPublisher(session.client("cloudwatch")),
        events=bus,
        releases=Publisher(
            ObjectStore(session.client("s3"), settings.model_bucket), registry, bus, settings.model_name
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the adapters, run once, return the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = LiveEvaluationSettings.from_env()
        result = run_live_evaluation(build_request(settings, args.now or datetime.now(UTC)), build_ports(settings))
    except FAILURES as error:
        logger.error("live evaluation failed: %s", error)
        return 1
    print(json.dumps({"message": result.summary(), "run_id": result.run_id, "result_uri": result.result_uri}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
