"""What goes into each zip-packaged Lambda: our code and nothing heavy.

The runtime provides boto3; everything else a function imports is its package under `lambdas/` and the `core`
modules that package imports, directly or through other `core` modules (`shared_modules`, read off the sources'
import statements, so a new import ships with the next deploy instead of failing its first invocation). A test
imports the handler from an extracted copy of the zip alone.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infra.images import REPO_ROOT


@dataclass(frozen=True, slots=True)
class LambdaBundle:
    """A zip Lambda: its package under `lambdas/` (and the `core` modules it imports: `shared_modules`)."""

    name: str
    package_dir: str
    handler: str


SHARED_PACKAGE = "core"


def _imported_core_modules(source: Path) -> set[str]:
    """The `core` modules a source file imports (`from core.x import ...`, `import core.x`, `from core import x`),
    wherever the import statement is (module level, a function, a TYPE_CHECKING block)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        names: Iterable[str] = ()
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == SHARED_PACKAGE:
                names = (f"{SHARED_PACKAGE}.{alias.name}" for alias in node.names)
            else:
                names = (node.module,)
        elif isinstance(node, ast.Import):
            names = (alias.name for alias in node.names)
        found.update(name.split(".")[1] for name in names if name.startswith(f"{SHARED_PACKAGE}.") and "." in name)
    return found


def shared_modules(bundle: LambdaBundle, repo_root: Path = REPO_ROOT) -> tuple[str, ...]:
    """`__init__` and every `core` module the bundle's package imports, directly or through other `core` modules,
    sorted."""
    core = repo_root / SHARED_PACKAGE
    pending = set().union(*(_imported_core_modules(source) for source in (repo_root / bundle.package_dir).glob("*.py")))
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module in seen or not (core / f"{module}.py").is_file():
            continue
        seen.add(module)
        pending |= _imported_core_modules(core / f"{module}.py") - seen
    return ("__init__", *sorted(seen))


PAYLOAD_ETL_BUNDLE = LambdaBundle(
    name="payload-etl",
    package_dir="lambdas/payload_etl",
    handler="lambdas.payload_etl.handler",
)


def archive_files(bundle: LambdaBundle, repo_root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive path -> source file for a bundle's zip, in a stable order."""
    files = {"lambdas/__init__.py": repo_root / "lambdas" / "__init__.py"}
    for source in sorted((repo_root / bundle.package_dir).glob("*.py")):
        files[f"{bundle.package_dir}/{source.name}"] = source
    for module in shared_modules(bundle, repo_root):
        files[f"{SHARED_PACKAGE}/{module}.py"] = repo_root / SHARED_PACKAGE / f"{module}.py"
    return files


def build_zip(bundle: LambdaBundle, destination: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Write the zip Lambda would run, with fixed timestamps so equal sources give equal bytes."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in archive_files(bundle, repo_root).items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return destination


ALERTING_BUNDLE = LambdaBundle(
    name="alerting",
    package_dir="lambdas/alerting",
    handler="lambdas.alerting.handler",
)

ALL_BUNDLES = (PAYLOAD_ETL_BUNDLE, ALERTING_BUNDLE)
