"""The serving-code bundle: the release pipeline's `code` source, uploaded by Pulumi to the artifact bucket.

It carries `buildspec.yml` and what the buildspec runs (the serving image's Dockerfile and code, the deploy steps
and the core they import), as a zip: CodePipeline's S3 sources must be zip files. Caches and bytecode are left out
so an unchanged tree gives an unchanged bundle.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.images import REPO_ROOT

BUILDSPEC = "buildspec.yml"
CODE_BUNDLE_KEY = "sources/serving-code.zip"
#: The `core` modules the deploy steps, the serving image and its smoke test import (a test derives the closure).
CORE_MODULES = (
    "__init__",
    "artifacts",
    "assignment",
    "aws",
    "events",
    "features",
    "layout",
    "model_lifecycle",
    "record_limits",
    "records",
    "registry",
    "release_bundle",
    "retry",
    "settings",
    "tables",
)
#: Files and directories of the repository the code bundle carries (what buildspec.yml uses).
CODE_BUNDLE_SOURCES = (
    BUILDSPEC,
    *(f"core/{module}.py" for module in CORE_MODULES),
    "lambdas/__init__.py",
    "lambdas/serving",
    "deploy",
)
SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})


class CodeBundleError(ValueError):
    """A file the code bundle needs is missing."""


def code_bundle_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive path -> file of the code bundle, in a stable order (caches and bytecode left out)."""
    files: dict[str, Path] = {}
    for source in CODE_BUNDLE_SOURCES:
        path = root / source
        if not path.exists():
            raise CodeBundleError(f"the release pipeline's code bundle needs {source}, which does not exist")
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for item in found:
            relative = item.relative_to(root)
            if not SKIPPED_PARTS & set(relative.parts) and item.suffix != ".pyc":
                files[relative.as_posix()] = item
    return files


def code_bundle() -> pulumi.AssetArchive:
    """The bundle as the archive Pulumi zips and uploads."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in code_bundle_files().items()})


def uploaded_code_bundle(name: str, bucket: pulumi.Input[str], parent: pulumi.Resource) -> aws.s3.BucketObjectv2:
    """The bundle as the object `CODE_BUNDLE_KEY` of `bucket` (versioned: each upload is a new source version)."""
    return aws.s3.BucketObjectv2(
        name,
        bucket=bucket,
        key=CODE_BUNDLE_KEY,
        source=code_bundle(),
        content_type="application/zip",
        opts=pulumi.ResourceOptions(parent=parent),
    )
