"""Each zip Lambda: small, our code only, and importable on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.bundles import ALL_BUNDLES, LambdaBundle, archive_files, build_zip

HEAVY = ("pandas", "scipy", "sklearn", "numpy", "pydantic", "moto", "pyarrow", "aws_lambda_powertools")


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_the_zip_is_under_one_megabyte(bundle: LambdaBundle, tmp_path: Path) -> None:
    archive = build_zip(bundle, tmp_path / "etl.zip")
    assert archive.stat().st_size < 1_000_000


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_the_zip_holds_only_our_python_modules(bundle: LambdaBundle, tmp_path: Path) -> None:
    with zipfile.ZipFile(build_zip(bundle, tmp_path / "etl.zip")) as archive:
        names = archive.namelist()
    assert all(name.split("/")[0] in {"core", "lambdas"} for name in names)
    assert all(name.endswith(".py") for name in names)
    assert not [name for name in names if any(part in name for part in HEAVY)]


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_equal_sources_give_equal_zip_bytes(bundle: LambdaBundle, tmp_path: Path) -> None:
    first = build_zip(bundle, tmp_path / "a.zip").read_bytes()
    assert build_zip(bundle, tmp_path / "b.zip").read_bytes() == first


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_every_archived_source_exists(bundle: LambdaBundle) -> None:
    assert all(source.is_file() for source in archive_files(bundle).values())


@pytest.mark.parametrize("bundle", ALL_BUNDLES, ids=lambda bundle: bundle.name)
def test_the_handler_imports_from_an_extracted_copy_alone(bundle: LambdaBundle, tmp_path: Path) -> None:
    with zipfile.ZipFile(build_zip(bundle, tmp_path / "etl.zip")) as archive:
        archive.extractall(tmp_path / "function")
    root = (tmp_path / "function").resolve()
    probe = f"""
import json, sys
sys.path.insert(0, {str(root)!r})
import importlib
module_name, _, attribute = {bundle.handler!r}.rpartition(".")
handler = getattr(importlib.import_module(module_name), attribute)
ours = {{name: getattr(module, "__file__", None) for name, module in sys.modules.items()
        if name.split(".")[0] in ("core", "autoretrain", "lambdas", "infra", "batch_jobs", "deploy")}}
heavy = sorted(name for name in sys.modules if name.split(".")[0] in {list(HEAVY)!r})
print(json.dumps({{"ours": ours, "heavy": heavy, "callable": callable(handler)}}))
"""
    completed = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    report = json.loads(completed.stdout)
    assert report["callable"]
    assert report["heavy"] == []
    assert report["ours"], "no project module was imported"
    outside = {name: path for name, path in report["ours"].items() if path is None or not path.startswith(str(root))}
    assert outside == {}
