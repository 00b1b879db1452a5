"""`autoretrain demo`: the whole loop on an embedded emulator (see `autoretrain.demo.runner`)."""

from __future__ import annotations

from autoretrain.demo.cli import main

__all__ = ["main"]
