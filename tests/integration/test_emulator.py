"""The embedded emulator counts the HTTP requests it answers (the demo reports the count)."""

from __future__ import annotations

import boto3
import pytest

from autoretrain.emulator import Emulator, patched_environ

pytestmark = pytest.mark.integration


def test_the_emulator_counts_every_request_it_answers_errors_included() -> None:
    emulator = Emulator()
    emulator.start()
    try:
        with patched_environ(emulator.environment()):
            s3 = boto3.session.Session().client("s3")
            before = emulator.requests
            s3.create_bucket(Bucket="counted")
            for index in range(5):
                s3.put_object(Bucket="counted", Key=f"k{index}", Body=b"x")
            with pytest.raises(s3.exceptions.NoSuchKey):
                s3.get_object(Bucket="counted", Key="missing")
            assert emulator.requests - before == 7
    finally:
        emulator.stop()
