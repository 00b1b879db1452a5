"""Both images cap the numeric libraries' thread pools (checked statically: no Docker engine here)."""

from __future__ import annotations

import dockerfile
import pytest

from tests.dockerfiles import DockerfileCase, environment, parse_commands

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _caps(case: DockerfileCase) -> dict[str, str | None]:
    values = environment(parse_commands(case))
    return {name: values.get(name) for name in THREAD_VARIABLES}


def test_serving_image_predicts_on_one_thread() -> None:
    assert _caps(DockerfileCase("lambdas/serving/Dockerfile", "lambda_handler")) == dict.fromkeys(THREAD_VARIABLES, "1")


def test_jobs_image_defaults_to_two_threads_which_each_job_overrides() -> None:
    assert _caps(DockerfileCase("batch_jobs/Dockerfile", "python_module")) == dict.fromkeys(THREAD_VARIABLES, "2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM scratch\nENV A=1 \\\n    B=2\n", {"A": "1", "B": "2"}),
        ("FROM scratch\nENV A 1\nENV A=3\n", {"A": "3"}),
    ],
    ids=["key=value pairs", "legacy form, then overridden"],
)
def test_environment_reads_both_env_forms(text: str, expected: dict[str, str]) -> None:
    assert environment(tuple(dockerfile.parse_string(text))) == expected
