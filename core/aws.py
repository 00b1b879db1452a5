"""The jobs' boto3 session: one per process.

A Batch job or CodeBuild step is one process, so this is the session it would create anyway. Where several runs
share a process (the demo, the tests), they share the session too and skip what a new session costs: reading
botocore's endpoint and service model files again (about 50 ms per client). Clients are still created per run,
so each one resolves the endpoint (`AWS_ENDPOINT_URL`) and the region from the environment of that moment; the
credential chain is resolved once per process, as in a container.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import boto3


@functools.cache
def shared_session() -> boto3.session.Session:
    """This process's boto3 session (created on first use)."""
    import boto3  # noqa: PLC0415  # deferred: importing a job module must not need the AWS SDK

    return boto3.session.Session()
