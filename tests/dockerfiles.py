"""Test helpers: the project's Dockerfiles, parsed statically (no Docker engine here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dockerfile

REPO = Path(__file__).resolve().parents[1]
ARG_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class DockerfileCase:
    """A Dockerfile and how its entry point is named: a Lambda handler (`pkg.module.function` in CMD) or a
    Python module run with `python -m pkg.module` (in ENTRYPOINT or CMD)."""

    path: str
    entry_point: Literal["lambda_handler", "python_module"]


DOCKERFILES = (
    DockerfileCase("lambdas/serving/Dockerfile", "lambda_handler"),
    DockerfileCase("batch_jobs/Dockerfile", "python_module"),
)


def parse_commands(case: DockerfileCase) -> tuple[dockerfile.Command, ...]:
    return tuple(dockerfile.parse_file(str(REPO / case.path)))


def instructions(commands: tuple[dockerfile.Command, ...], name: str) -> list[dockerfile.Command]:
    return [command for command in commands if command.cmd == name]


def arg_defaults(commands: tuple[dockerfile.Command, ...]) -> dict[str, str]:
    defaults: dict[str, str] = {}
    for command in instructions(commands, "ARG"):
        name, _, default = command.value[0].partition("=")
        defaults[name] = default
    return defaults


def context_copies(commands: tuple[dockerfile.Command, ...]) -> list[tuple[list[str], str]]:
    """(repository sources with ARG defaults substituted, destination) of each COPY from the build context."""
    defaults = arg_defaults(commands)
    copies: list[tuple[list[str], str]] = []
    for command in instructions(commands, "COPY"):
        if any(flag.startswith("--from") for flag in command.flags):
            continue
        *sources, destination = command.value
        substituted = [ARG_REFERENCE.sub(lambda m: defaults[m.group(1) or m.group(2)], src) for src in sources]
        copies.append((substituted, destination))
    return copies


def environment(commands: tuple[dockerfile.Command, ...]) -> dict[str, str]:
    """The variables the image's ENV instructions set (`ENV a=1 b=2` and `ENV a 1` alike; the last one wins)."""
    values: dict[str, str] = {}
    for command in instructions(commands, "ENV"):
        pairs = command.value
        values.update(zip(pairs[::2], pairs[1::2], strict=True))
    return values
