"""Headless Chromium driven over the DevTools protocol: open a page, wait until it says it is drawn, screenshot it.

Chromium's own `--screenshot`/`--dump-dom` with `--virtual-time-budget` does not work for Streamlit: the page's
content arrives over a WebSocket after the load event, and virtual time does not wait for WebSocket traffic, so
those flags capture the empty skeleton. Driving the browser lets us wait for the page's marker and for its charts.
The client is `websockets` (a Streamlit dependency); nothing here knows about Streamlit but the selectors given.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from PIL import Image
from websockets.sync.client import ClientConnection, connect

CHROMIUM: Final = "/usr/bin/chromium"
#: The flags of a quiet, disposable headless browser (no sync, updates, first-run or background traffic).
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)
WINDOW: Final = (1400, 2000)


class BrowserError(RuntimeError):
    """Chromium did not start, or a page did not get drawn in time."""


class Browser:
    """One headless Chromium with a fresh profile, and one tab in it (`with Browser() as browser: ...`)."""

    def __init__(self, executable: str = CHROMIUM, window: tuple[int, int] = WINDOW, start_timeout: float = 30.0):
        self._executable = executable
        self._window = window
        self._start_timeout = start_timeout
        self._profile = Path(tempfile.mkdtemp(prefix="autoretrain-chromium-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._closing = ExitStack()
        self._ids = itertools.count(1)

    def __enter__(self) -> Self:
        width, height = self._window
        command = [self._executable, *FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}"]
        self._process = subprocess.Popen(  # noqa: S603 - the configured executable with our own flags
            [*command, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next((target for target in targets if target.get("type") == "page"), None)
        if page is None:
            raise BrowserError("Chromium opened no page")
        self._socket = self._closing.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        )
        self.call("Page.enable")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._closing.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _devtools_port(self) -> int:
        """The port Chromium chose, from the `DevToolsActivePort` file it writes into the profile."""
        deadline = time.monotonic() + self._start_timeout
        path = self._profile / "DevToolsActivePort"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrowserError(f"{self._executable} exited with code {self._process.returncode}")
            lines = path.read_text().splitlines() if path.is_file() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.1)
        raise BrowserError(f"{self._executable} did not open its DevTools port within {self._start_timeout:.0f} s")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one DevTools command and return its result (events arriving meanwhile are skipped)."""
        if self._socket is None:
            raise BrowserError("the browser is not started")
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params or {}}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") != number:
                continue
            if "error" in message:
                raise BrowserError(f"{method} failed: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        """Navigate the tab to `url`."""
        self.call("Page.navigate", {"url": url})

    def wait_for(self, expression: str, timeout: float, poll: float = 0.25) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value, or raise `BrowserError`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise BrowserError(f"timed out after {timeout:.0f} s waiting for: {expression}")

    def screenshot(self, path: Path) -> Path:
        """The viewport as a PNG at `path`."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


def distinct_colours(path: Path, limit: int = 1 << 16) -> int:
    """How many distinct colours a PNG has (capped at `limit`): a blank or skeleton page has a handful."""
    with Image.open(path) as image:
        colours: Sequence[Any] | None = image.convert("RGB").getcolors(maxcolors=limit)
    return limit if colours is None else len(colours)
