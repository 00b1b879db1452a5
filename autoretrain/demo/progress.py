"""A plain-text progress bar on stderr (no dependency): redrawn in place on a terminal, a line per step otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`[#####.....]  12/90 days  0:42  <note>`; `update` redraws at most ~10 times a second on a terminal."""

    def __init__(self, total: int, *, stream: TextIO | None = None, width: int = 30, unit: str = "days") -> None:
        self._total = max(1, total)
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._unit = unit
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._interactive = self._stream.isatty()
        self._done = 0
        self._note = ""

    def update(self, done: int, note: str = "") -> None:
        """Show `done` of the total, with a short note."""
        self._done, self._note = min(done, self._total), note or self._note
        now = time.monotonic()
        if self._interactive and now - self._last_draw < 0.1 and done < self._total:
            return
        self._last_draw = now
        filled = round(self._width * self._done / self._total)
        elapsed = int(now - self._started)
        line = (
            f"[{'#' * filled}{'.' * (self._width - filled)}] {self._done:>3}/{self._total} {self._unit} "
            f"{elapsed // 60}:{elapsed % 60:02d}  {self._note}"
        )
        if self._interactive:
            self._stream.write("\r" + line[:119].ljust(119))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self._interactive:
            self._stream.write("\n")
            self._stream.flush()
