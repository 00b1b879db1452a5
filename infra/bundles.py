"""What goes into each zip-packaged Lambda: our code and nothing heavy.

The runtime provides boto3; everything else a function imports is listed in its bundle and checked by a test
that imports the handler from an extracted copy of the zip alone.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.images import REPO_ROOT


@dataclass(frozen=True, slots=True)
class LambdaBundle:
    """A zip Lambda: its package under `lambdas/` and the `core` modules it imports."""

    name: str
    package_dir: str
    shared_modules: tuple[str, ...]
    handler: str


PAYLOAD_ETL_BUNDLE = LambdaBundle(
    name="payload-etl",
    package_dir="lambdas/payload_etl",
    shared_modules=(
        "__init__",
        "records",
        "record_limits",
        "layout",
        "tables",
        "segments",
        "settings",
        "payload_store",
        "quarantine",
        "lake",
    ),
    handler="lambdas.payload_etl.handler",
)


def archive_files(bundle: LambdaBundle, repo_root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive path -> source file for a bundle's zip, in a stable order."""
    files = {"lambdas/__init__.py": repo_root / "lambdas" / "__init__.py"}
    for source in sorted((repo_root / bundle.package_dir).glob("*.py")):
        files[f"{bundle.package_dir}/{source.name}"] = source
    for module in bundle.shared_modules:
        files[f"core/{module}.py"] = repo_root / "core" / f"{module}.py"
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
    shared_modules=(
        "__init__",
        "records",
        "record_limits",
        "baseline",
        "events",
        "features",
        "layout",
        "odds",
        "payload_store",
        "quarantine",
        "model_lifecycle",
        "registry",
        "segments",
        "settings",
        "tables",
    ),
    handler="lambdas.alerting.handler",
)

ALL_BUNDLES = (PAYLOAD_ETL_BUNDLE, ALERTING_BUNDLE)
