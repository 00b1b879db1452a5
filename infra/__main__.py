"""Pulumi entry point (`main: infra/` in Pulumi.yaml): load the settings once, build the stack."""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this directory with runpy, which puts infra/ itself first on sys.path. Import everything as
# `infra.*` from the project root instead, so no module here can shadow a top-level package of the same name.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from infra.config import load_settings  # noqa: E402
from infra.stack import build  # noqa: E402

build(load_settings())
