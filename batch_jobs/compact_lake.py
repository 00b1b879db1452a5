"""The lake's compaction job (`python -m batch_jobs.compact_lake --now <ISO time>`), scheduled hourly: merges each
day's small Parquet files of the model into compacted ones (`batch_jobs.lake.compaction`, whose docstring says how
and how many files a day that leaves).

Reads the payload bucket and the model from the environment (`core.settings.LakeSettings`, `EnvVar.MODEL_NAME`),
prints one JSON line with what it did and exits 0; an AWS error fails the job (non-zero), so Batch retries it, and
the retry finishes what the failed run left (the compaction's manifests).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from batch_jobs.lake.compaction import S3CompactionFiles, compact_lake
from core.aws import shared_session
from core.records import parse_timestamp
from core.settings import EnvVar, LakeSettings, require_env


def build_parser() -> argparse.ArgumentParser:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="compact_lake", description="Compact the lake's small Parquet files.")
    parser.add_argument(
        "--now", type=parse_timestamp, default=None, help="ISO 8601 time with offset: the schedule's (default: now)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, read settings, compact, print the summary as JSON; 0 once done."""
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = LakeSettings.from_env()
    model_name = require_env(EnvVar.MODEL_NAME)
    files = S3CompactionFiles(shared_session(), settings.bucket)
    result = compact_lake(files, model_name, arguments.now or datetime.now(UTC))
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
