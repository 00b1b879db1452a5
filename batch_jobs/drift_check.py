"""`python -m batch_jobs.drift_check [--now ISO8601] [--window-days N] [--label-delay-days N] [--adapt-days N]`
(also `autoretrain drift-check`): check the champion's recent traffic for drift and decay, write the report, publish
metrics and events, and request a retrain when the trigger policy says so.

Reads its resources from the environment (`core.settings.DriftCheckSettings`); boto3 finds the endpoint and
credentials as usual (`AWS_ENDPOINT_URL` points it at an emulator). Exit codes: 0 when the check ran — drift or not,
enough data or not, and when there is no champion to check (said on stdout); 1 when it failed (missing profile,
AWS error, bad settings); 2 on bad arguments. Prints the run's summary as one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from batch_jobs.lake.engine import LakeQueryError
from batch_jobs.lake.windows import open_lake
from batch_jobs.monitoring.adapters import (
    LakeLiveReads,
    MetricsError,
    MetricsPublisher,
    ModelBucket,
    ModelBucketError,
)
from batch_jobs.monitoring.pipeline import DriftCheckError, DriftCheckRequest, run_drift_check
from batch_jobs.monitoring.policy import ADAPT_DAYS, TriggerPolicy
from batch_jobs.monitoring.ports import DriftCheckPorts
from batch_jobs.monitoring.review import design_of
from batch_jobs.monitoring.state import DriftStateStore, StateStoreError
from core.aws import shared_session
from core.events import EventBus, EventPublishError
from core.model_lifecycle import RegistryError
from core.payload_store import PayloadStoreError
from core.records import parse_timestamp
from core.registry import Registry
from core.settings import DriftCheckSettings, LakeSettings, MissingSettingError

logger = logging.getLogger("batch_jobs.drift_check")

#: Every error that means "the check failed"; anything else is a bug and propagates with its traceback.
FAILURES = (
    DriftCheckError,
    EventPublishError,
    MetricsError,
    MissingSettingError,
    ModelBucketError,
    PayloadStoreError,
    LakeQueryError,
    RegistryError,
    StateStoreError,
)


def _timestamp(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {error} (expected ISO 8601 with offset, e.g. 2026-11-23T03:00:00Z)"
        ) from error


def _days(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The job's arguments; unset numbers default to the settings from the environment."""
    parser = argparse.ArgumentParser(prog="autoretrain drift-check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--now", type=_timestamp, help="the check's time (default: the wall clock), ISO 8601 with offset"
    )
    parser.add_argument(
        "--window-days",
        type=_days,
        help="length of the current window in days (default: $AUTORETRAIN_DRIFT_WINDOW_DAYS, else 7)",
    )
    parser.add_argument(
        "--label-delay-days",
        type=_days,
        help="age in days at which labels count as matured (default: $AUTORETRAIN_LABEL_DELAY_DAYS, else 7)",
    )
    parser.add_argument(
        "--adapt-days",
        type=_days,
        default=ADAPT_DAYS,
        help="matured days of drifted traffic before drift is acted on (default 7; 0: as soon as labels mature)",
    )
    return parser


def build_request(args: argparse.Namespace, settings: DriftCheckSettings) -> DriftCheckRequest:
    """The check the arguments ask for; numbers the arguments leave unset come from the settings."""
    window_days = settings.window_days if args.window_days is None else args.window_days
    if window_days < 1:
        raise DriftCheckError("--window-days must be at least 1")
    label_delay_days = settings.label_delay_days if args.label_delay_days is None else args.label_delay_days
    return DriftCheckRequest(
        model_name=settings.model_name,
        now=args.now if args.now is not None else datetime.now(UTC),
        window_days=window_days,
        label_delay_days=label_delay_days,
        policy=TriggerPolicy(
            consecutive_checks=settings.consecutive_checks,
            cooldown=timedelta(days=settings.cooldown_days),
            max_requests=settings.max_retrains,
            period=timedelta(days=settings.cap_period_days),
            label_delay=timedelta(days=label_delay_days),
            adapt_days=timedelta(days=args.adapt_days),
        ),
        review=design_of(settings.review),
    )


def build_ports(settings: DriftCheckSettings) -> DriftCheckPorts:
    """The real adapters, on clients of the shared session."""
    session = shared_session()
    dynamodb = session.client("dynamodb")
    model_bucket = ModelBucket(session.client("s3"))
    lake = open_lake(LakeSettings.from_env(), session)
    return DriftCheckPorts(
        registry=Registry(dynamodb, settings.registry_table),
        champion_files=model_bucket,
        payloads=lake,
        reports=model_bucket,
        report_bucket=settings.model_bucket,
        metrics=MetricsPublisher(session.client("cloudwatch")),
        events=EventBus(session.client("events"), settings.event_bus),
        state=DriftStateStore(dynamodb, settings.payload_table),
        feature_metrics=settings.feature_metrics,
        reviews=LakeLiveReads(lake) if settings.review.enabled else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build the adapters, run one check, return the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = DriftCheckSettings.from_env()
        outcome = run_drift_check(build_request(args, settings), build_ports(settings))
    except FAILURES as error:
        logger.error("drift check failed: %s", error)  # the message is the whole story
        return 1
    summary: dict[str, object] = {"message": outcome.message}
    if outcome.result is not None:
        summary.update(
            run_id=outcome.result.run_id,
            verdict=outcome.result.verdict,
            retrain_requested=outcome.result.decision.retrain_requested,
            report_uri=outcome.result.report_uri,
            result_uri=outcome.result.result_uri,
        )
    print(json.dumps(summary))  # the job's one line of output
    return 0


if __name__ == "__main__":
    sys.exit(main())
