"""Static checks of the project's Dockerfiles (no Docker engine here): pinned bases, non-root, real entry points.

To check another Dockerfile, add a `DockerfileCase` to `DOCKERFILES`.
"""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest

from tests.dockerfiles import (
    DOCKERFILES,
    REPO,
    DockerfileCase,
    arg_defaults,
    context_copies,
    instructions,
    parse_commands,
)

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PINNED_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-\[\],]+)==(\S+)")


def _pip_requirement_files(commands: tuple[dockerfile.Command, ...]) -> list[tuple[str, bool]]:
    """(image path of each `-r` file, whether its pip install uses --require-hashes)."""
    found: list[tuple[str, bool]] = []
    for command in instructions(commands, "RUN"):
        for part in re.split(r"&&|;", " ".join(command.value)):
            words = shlex.split(part)
            if "pip" not in words or "install" not in words:
                continue
            files = [words[i + 1] for i, word in enumerate(words[:-1]) if word in {"-r", "--requirement"}]
            found.extend((path, "--require-hashes" in words) for path in files)
    return found


def _repository_source(commands: tuple[dockerfile.Command, ...], image_path: str) -> Path:
    for sources, destination in context_copies(commands):
        for source in sources:
            target = destination if not destination.endswith("/") else destination + Path(source).name
            if target == image_path:
                return REPO / source
    raise AssertionError(f"no COPY puts a file at {image_path}")


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_base_images_are_pinned_by_digest(case: DockerfileCase) -> None:
    commands = parse_commands(case)
    stages = {command.value[2].lower() for command in instructions(commands, "FROM") if len(command.value) == 3}
    images = [command.value[0] for command in instructions(commands, "FROM")]
    external = [image for image in images if image.lower() not in stages | {"scratch"}]
    assert external
    assert [image for image in external if not DIGEST.search(image)] == []


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_image_runs_as_a_non_root_user(case: DockerfileCase) -> None:
    users = instructions(parse_commands(case), "USER")
    assert users, "no USER instruction: the image would run as root"
    user = users[-1].value[0].split(":")[0]
    assert user not in {"root", "0"}


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_entry_point_exists_in_the_repository(case: DockerfileCase) -> None:
    commands = parse_commands(case)
    if case.entry_point == "lambda_handler":
        (handler,) = instructions(commands, "CMD")[-1].value
        module_name, _, function = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), function))
    else:
        words = [
            word
            for command in instructions(commands, "ENTRYPOINT") + instructions(commands, "CMD")
            for word in command.value
        ]
        module_name = words[words.index("-m") + 1]
        assert importlib.util.find_spec(module_name) is not None


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_copied_sources_exist_in_the_repository(case: DockerfileCase) -> None:
    sources = [source for sources, _ in context_copies(parse_commands(case)) for source in sources]
    assert sources
    assert [source for source in sources if not (REPO / source).exists()] == []


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_requirements_are_installed_with_hashes_from_the_repository(case: DockerfileCase) -> None:
    commands = parse_commands(case)
    installs = _pip_requirement_files(commands)
    assert installs, "no `pip install -r` found"
    for image_path, require_hashes in installs:
        assert require_hashes, f"pip install -r {image_path} without --require-hashes"
        text = _repository_source(commands, image_path).read_text()
        entries = re.split(r"(?<!\\)\n(?=\S)", re.sub(r"(?m)^\s*#.*\n", "", text).strip())
        assert entries
        assert [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry] == []


@pytest.mark.parametrize("case", DOCKERFILES, ids=lambda case: case.path)
def test_requirements_name_no_package_index(case: DockerfileCase) -> None:
    commands = parse_commands(case)
    for image_path, _ in _pip_requirement_files(commands):
        text = _repository_source(commands, image_path).read_text()
        assert not re.search(r"(?m)://|--(extra-)?index-url|--find-links|^\s*-[if]\s", text)


@pytest.mark.parametrize("entry", ["lambdas.serving.handler", "lambdas.serving.smoke_test"])
def test_serving_image_copies_every_module_its_entry_points_import(entry: str) -> None:
    """The handler, and the release pipeline's smoke test (buildspec.yml mounts only smoke_test.py into the image)."""
    script = (
        f"import sys, {entry}\n"
        "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] in {'core', 'autoretrain', 'lambdas', 'batch_jobs', 'deploy'}"
        " and getattr(m, '__file__', None))))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    copied = {
        (REPO / source).resolve()
        for sources, _ in context_copies(parse_commands(DockerfileCase("lambdas/serving/Dockerfile", "lambda_handler")))
        for source in sources
    } | {(REPO / "lambdas/serving/smoke_test.py").resolve()}
    assert imported
    assert [path for path in imported if Path(path).resolve() not in copied] == []


def test_serving_image_pins_the_numeric_stack_like_development() -> None:
    def pins(path: Path) -> dict[str, str]:
        matches = (PINNED_REQUIREMENT.match(line) for line in path.read_text().splitlines())
        return {match.group(1).lower(): match.group(2) for match in matches if match}

    serving, development = pins(REPO / "lambdas/serving/requirements.txt"), pins(REPO / "requirements/dev.txt")
    shared = ("numpy", "pandas", "scikit-learn", "scipy", "joblib", "threadpoolctl", "boto3", "botocore")
    assert {name: serving.get(name) for name in shared} == {name: development.get(name) for name in shared}


def test_serving_image_default_model_directory_holds_no_model() -> None:
    commands = parse_commands(DockerfileCase("lambdas/serving/Dockerfile", "lambda_handler"))
    default = REPO / arg_defaults(commands)["MODEL_DIR"]
    assert default.is_dir()
    assert not (default / "manifest.json").exists()
    assert not (default / "model.pkl").exists()


def test_jobs_image_pins_the_numeric_stack_like_development() -> None:
    def pins(path: Path) -> dict[str, str]:
        matches = (PINNED_REQUIREMENT.match(line) for line in path.read_text().splitlines())
        return {match.group(1).lower(): match.group(2) for match in matches if match}

    jobs, development = pins(REPO / "batch_jobs/requirements.txt"), pins(REPO / "requirements/dev.txt")
    shared = ("numpy", "pandas", "scikit-learn", "scipy", "pyarrow", "joblib", "threadpoolctl", "boto3", "botocore")
    assert {name: jobs.get(name) for name in shared} == {name: development.get(name) for name in shared}


def test_jobs_image_runs_python_and_copies_both_entry_points() -> None:
    commands = parse_commands(DockerfileCase("batch_jobs/Dockerfile", "python_module"))
    (entrypoint,) = instructions(commands, "ENTRYPOINT")
    copied = {source for sources, _ in context_copies(commands) for source in sources}
    assert entrypoint.value == ("python",)
    assert {"core/", "batch_jobs/"} <= copied
    assert importlib.util.find_spec("batch_jobs.retrain") is not None
