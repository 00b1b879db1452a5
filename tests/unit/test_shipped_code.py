"""Images and bundles ship only what runs in them: nothing of the command line, the emulator, the demo, the
benchmarks or the tests, and no code that imports them, moto, a test library or the Pulumi SDK."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from infra.bundles import ALL_BUNDLES, archive_files
from infra.code_bundle import code_bundle_files
from infra.images import REPO_ROOT as REPO
from infra.images import copied_files

#: Top-level folders of the repository that run only on a developer's machine or CI.
LOCAL_ONLY = frozenset({"autoretrain", "bench", "tests", "infra"})
#: Packages no shipped module may import (the emulator, test tools, the infrastructure SDK, and our own top).
FORBIDDEN_IMPORTS = LOCAL_ONLY | {"moto", "pytest", "hypothesis", "pulumi", "pulumi_aws", "pulumi_docker_build"}
FORBIDDEN_REQUIREMENTS = ("moto", "pytest", "hypothesis", "pulumi")


def image_files(dockerfile_path: str) -> dict[str, Path]:
    """Repository path -> file, for everything a Dockerfile copies from the build context (as infra tags it)."""
    return {path.relative_to(REPO).as_posix(): path for path in copied_files(REPO, dockerfile_path)}


SHIPPED: dict[str, Callable[[], dict[str, Path]]] = {
    "jobs image": partial(image_files, "batch_jobs/Dockerfile"),
    "serving image": partial(image_files, "lambdas/serving/Dockerfile"),
    "CodeBuild bundle": code_bundle_files,
    **{f"{bundle.name} zip": partial(archive_files, bundle) for bundle in ALL_BUNDLES},
}


def imported_packages(source: Path) -> set[str]:
    """Top-level names of every import in a module, function-local ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("artefact", SHIPPED, ids=str)
def test_ships_no_local_only_folder(artefact: str) -> None:
    files = SHIPPED[artefact]()
    assert files
    assert sorted(name for name in files if name.split("/")[0] in LOCAL_ONLY) == []


@pytest.mark.parametrize("artefact", SHIPPED, ids=str)
def test_no_shipped_module_imports_tooling(artefact: str) -> None:
    modules = {name: path for name, path in SHIPPED[artefact]().items() if name.endswith(".py")}
    assert modules
    offending = {name: sorted(imported_packages(path) & FORBIDDEN_IMPORTS) for name, path in modules.items()}
    assert {name: found for name, found in offending.items() if found} == {}


@pytest.mark.parametrize("artefact", SHIPPED, ids=str)
def test_no_shipped_requirements_install_tooling(artefact: str) -> None:
    requirements = [path for name, path in SHIPPED[artefact]().items() if name.endswith("requirements.txt")]
    pinned = {line.split("==")[0].strip().lower() for path in requirements for line in path.read_text().splitlines()}
    assert sorted(pinned & set(FORBIDDEN_REQUIREMENTS)) == []


def test_the_import_scan_sees_function_local_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import json\n\n\ndef f() -> None:\n    from moto import mock_aws\n    import autoretrain.demo\n")
    assert imported_packages(module) == {"json", "moto", "autoretrain"}


def test_the_codebuild_bundle_holds_every_module_its_steps_import() -> None:
    """The deploy steps run from the bundle, the serving image is built from it, and its smoke test runs in it."""
    script = (
        "import json, sys, deploy.cli, lambdas.serving.handler, lambdas.serving.smoke_test\n"
        "print(json.dumps(sorted(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] in {'core', 'lambdas', 'deploy'} and getattr(m, '__file__', None))))"
    )
    imported = json.loads(
        subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, text=True).stdout
    )
    bundle = {path.resolve() for path in code_bundle_files().values()}
    needed = {Path(path).resolve() for path in imported} | copied_files(REPO, "lambdas/serving/Dockerfile")
    assert sorted(str(path) for path in needed - bundle) == []
