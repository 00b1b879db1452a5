"""Shared fixtures: one moto server per test session, a fresh set of resources per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

from autoretrain.emulator import Emulator, LocalResources, patched_environ, provision, release

MODEL_NAME = "churn"


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """moto's server on a loopback port, reached through the standard AWS_ENDPOINT_URL."""
    server = Emulator()
    server.start()
    with patched_environ(server.environment()):
        yield server
    server.stop()


@pytest.fixture
def aws_session(emulator: Emulator) -> boto3.Session:
    """A boto3 session; the endpoint comes from AWS_ENDPOINT_URL, as in production code."""
    return boto3.Session()


@pytest.fixture
def resources(aws_session: boto3.Session) -> Iterator[LocalResources]:
    """Buckets, tables, topic, bus and payload stream created from the stack's definitions, unique to one test."""
    created = provision(aws_session, prefix=f"t{uuid.uuid4().hex[:12]}")
    yield created
    release(aws_session, created)


@pytest.fixture
def deployed_env(resources: LocalResources, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment contract's environment variables, set as infra sets them."""
    environment = resources.environment(MODEL_NAME)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return environment
