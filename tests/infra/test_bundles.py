"""Zip bundles: the `core` modules a Lambda ships are read off its import statements, transitively."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bundles import ALL_BUNDLES, LambdaBundle, archive_files, shared_modules

BUNDLE = LambdaBundle(name="probe", package_dir="lambdas/probe", handler="lambdas.probe.handler")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "lambdas" / "probe").mkdir(parents=True)
    (tmp_path / "core").mkdir()
    for name in ("__init__", "direct", "indirect", "whole", "local", "typing_only", "unused"):
        (tmp_path / "core" / f"{name}.py").write_text("")
    (tmp_path / "lambdas" / "__init__.py").write_text("")
    (tmp_path / "lambdas" / "probe" / "__init__.py").write_text("from core.direct import thing\n")
    (tmp_path / "lambdas" / "probe" / "handler.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import core.whole\n"
        "if TYPE_CHECKING:\n    from core.typing_only import Kind\n"
        "def handler(event, context):\n    from core import local\n    return local\n"
    )
    (tmp_path / "core" / "direct.py").write_text("from core.indirect import other\nimport json\n")
    return tmp_path


def test_shared_modules_follow_imports_through_core(repo: Path) -> None:
    assert shared_modules(BUNDLE, repo) == ("__init__", "direct", "indirect", "local", "typing_only", "whole")


def test_the_archive_holds_the_package_and_its_shared_modules_only(repo: Path) -> None:
    assert set(archive_files(BUNDLE, repo)) == {
        "lambdas/__init__.py",
        "lambdas/probe/__init__.py",
        "lambdas/probe/handler.py",
        *(f"core/{name}.py" for name in ("__init__", "direct", "indirect", "local", "typing_only", "whole")),
    }


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_every_lambda_ships_the_settings_it_reads(bundle: LambdaBundle) -> None:
    assert {"__init__", "settings"} <= set(shared_modules(bundle))
