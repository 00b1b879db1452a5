"""The lake's compaction job (`python -m batch_jobs.compact_lake --now <ISO time>`), scheduled hourly: merges each
day's small Parquet files of the model into compacted ones (`batch_jobs.lake.compaction`, whose docstring says how
and how many files a day that leaves).

Reads the payload bucket and the model from the environment (`core.settings.LakeSettings`, `EnvVar.MODEL_NAME`),
prints one JSON line with what it did and exits 0; an AWS error fails the job (non-zero), so Batch retries it, and
the retry finishes what the failed run left (the compaction's manifests). `--settle-seconds` (default 900) is how
old a file must be to be merged; the demo, whose ETL runs in step with it, passes 0 (and S3's own clock as `--now`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from batch_jobs.lake.compaction import CompactionConfig, S3CompactionFiles, compact_lake
from core.aws import shared_session
from core.records import parse_timestamp
from core.settings import EnvVar, LakeSettings, require_env


def build_parser() -> argparse.ArgumentParser:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="compact_lake", description="Compact the lake's small Parquet files.")
    parser.add_argument(
        "--now", type=parse_timestamp, default=None, help="ISO 8601 time with offset: the schedule's (default: now)"
    )
    parser.add_argument(
        "--settle-seconds",
        type=int,
        default=int(CompactionConfig().settle.total_seconds()),
        help="leave files younger than this (an ETL retry may rewrite them); 0 when no writer runs meanwhile",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, read settings, compact, print the summary as JSON; 0 once done."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = LakeSettings.from_env()
    model_name = require_env(EnvVar.MODEL_NAME)
    files = S3CompactionFiles(shared_session(), settings.bucket)
    if arguments.settle_seconds < 0:
        raise SystemExit("--settle-seconds must not be negative")
    config = CompactionConfig(settle=timedelta(seconds=arguments.settle_seconds))
    result = compact_lake(files, model_name, arguments.now or datetime.now(UTC), config)
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
