"""buildspec.yml checked statically: each step calls an entry point of ours with arguments it accepts, in order."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from deploy.cli import build_parser as deploy_parser
from lambdas.serving.smoke_test import build_parser as smoke_parser

REPO = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((REPO / "buildspec.yml").read_text())
BUILD = [" ".join(command.split()) for command in SPEC["phases"]["build"]["commands"]]


def words(command: str) -> list[str]:
    """The command's words, with the buildspec's own `env.variables` substituted as the shell would."""
    for name, value in SPEC["env"]["variables"].items():
        command = command.replace(f"${name}", str(value))
    return shlex.split(command)


def step(pattern: str) -> int:
    (index,) = [i for i, command in enumerate(BUILD) if re.search(pattern, command)]
    return index


def arguments_after(command: str, marker: str) -> list[str]:
    split = words(command)
    return split[split.index(marker) + 1 :]


def test_buildspec_is_version_0_2_with_every_deploy_step_in_one_phase() -> None:
    assert SPEC["version"] == 0.2
    assert set(SPEC["phases"]) == {"install", "build"}


def test_steps_run_in_order_verify_build_smoke_push_shift_mark() -> None:
    order = [
        step(r"-m deploy verify"),
        step(r"^docker build"),
        step(r"^docker run"),
        step(r"docker push"),
        step(r"-m deploy shift-alias"),
        step(r"-m deploy mark-deployed"),
    ]
    assert order == sorted(order)


def test_deploy_commands_parse_with_the_entry_points_parser() -> None:
    for command in ("verify", "shift-alias", "mark-deployed"):
        parsed = deploy_parser().parse_args(arguments_after(BUILD[step(rf"deploy {command}")], "deploy"))
        assert parsed.command == command


def test_the_image_is_built_single_architecture_from_the_verified_model_dir() -> None:
    build = words(BUILD[step(r"^docker build")])
    verify = deploy_parser().parse_args(arguments_after(BUILD[step("deploy verify")], "deploy"))
    assert {"--platform", "linux/amd64", "--provenance=false"} <= set(build)
    assert f"MODEL_DIR={verify.model_dir}" in build
    assert (REPO / build[build.index("-f") + 1]).is_file()


def test_the_smoke_test_runs_our_module_inside_the_built_image_with_arguments_it_accepts() -> None:
    run = words(BUILD[step(r"^docker run")])
    mounted = [run[i + 1] for i, word in enumerate(run) if word == "-v"]
    parsed = smoke_parser().parse_args(arguments_after(BUILD[step(r"^docker run")], "lambdas.serving.smoke_test"))
    assert run[run.index("--entrypoint") + 1] == "python"
    assert "-m" in run
    assert "$CODE_DIR/lambdas/serving/smoke_test.py:/var/task/lambdas/serving/smoke_test.py:ro" in mounted
    assert (REPO / "lambdas/serving/smoke_test.py").is_file()
    assert str(parsed.sample) == "/smoke/sample.json"


def test_the_deploy_requirements_are_pinned_and_hashed() -> None:
    install = " ".join(SPEC["phases"]["install"]["commands"])
    text = (REPO / "deploy/requirements.txt").read_text()
    pins = re.findall(r"^([a-z0-9-]+)==\S+ \\$", text, flags=re.MULTILINE)
    assert "--require-hashes" in install
    assert "deploy/requirements.txt" in install
    assert "boto3" in pins
    assert text.count("--hash=sha256:") >= 2 * len(pins)
