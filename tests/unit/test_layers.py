"""The house is enforced: `make lint` runs import-linter, and an import that climbs a layer fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "lambdas", "batch_jobs", "deploy", "infra", "autoretrain", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the project's Python sources and its contracts, to break on purpose."""
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "results")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout
    assert " 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "named"),
    [
        ("core/upward.py", "from autoretrain import emulator\n", "core.upward -> autoretrain.emulator"),
        ("core/upward.py", "import batch_jobs.gate\n", "core.upward -> batch_jobs.gate"),
        ("lambdas/alerting/upward.py", "from batch_jobs import drift_check\n", "lambdas.alerting.upward -> batch_jobs"),
        ("batch_jobs/upward.py", "import infra.stack\n", "batch_jobs.upward -> infra.stack"),
        ("lambdas/serving/upward.py", "from lambdas.alerting import logic\n", "lambdas.serving.upward -> lambdas"),
        ("batch_jobs/upward.py", "import moto\n", "batch_jobs.upward -> moto"),
        ("core/upward.py", "import numpy\n", "core.upward -> numpy"),
    ],
)
def test_an_import_against_the_layers_fails_lint(tree: Path, module: str, statement: str, named: str) -> None:
    (tree / module).write_text(f'"""Breaks the house."""\n\n{statement}')
    result = lint_imports(tree)
    assert result.returncode != 0
    assert named in result.stdout


def test_a_function_local_import_does_not_dodge_the_layers(tree: Path) -> None:
    (tree / "core/upward.py").write_text('"""Breaks the house."""\n\n\ndef f() -> None:\n    import autoretrain.demo\n')
    result = lint_imports(tree)
    assert result.returncode != 0
    assert "core.upward -> autoretrain.demo" in result.stdout
