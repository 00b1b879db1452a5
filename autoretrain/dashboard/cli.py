"""`autoretrain dashboard (--demo DIR | --stack env) [--port N] [--screenshots OUT_DIR]`.

Serves the Streamlit app (`app.py`) over a demo's output directory (no AWS) or a deployed stack (the deployment
contract's `AUTORETRAIN_*` variables and the standard AWS credentials; attach the stack's `dashboardAccessPolicyArn`
policy to the identity that runs it). It listens on loopback only; each page has its own address:
`http://127.0.0.1:PORT/?page=<slug>` (business, performance, shift, operations, backtest).

With `--screenshots OUT_DIR` it starts the server headless on a free port, opens every page in headless Chromium,
waits until the page's charts are drawn, writes `OUT_DIR/<slug>.png`, checks each is not blank, prints the paths
and exits (1 if a page failed).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from autoretrain.dashboard.browser import CHROMIUM, Browser, BrowserError, distinct_colours
from autoretrain.dashboard.sources import DEMO_SCHEME, SOURCE_ENV, STACK_SCHEME
from autoretrain.dashboard.views import MARKER_ID, PAGES

APP: Final = Path(__file__).with_name("app.py")
#: Fewer distinct colours than this and a screenshot is judged blank (an empty page has a few dozen at most).
MIN_COLOURS: Final = 200
#: How long the server may take to answer, and one page to draw.
SERVER_TIMEOUT: Final = 90.0
PAGE_TIMEOUT: Final = 60.0
#: Extra time after the charts are drawn, for tables (drawn on canvases) and fonts to settle.
SETTLE_SECONDS: Final = 1.0

_DRAWN = """(() => {{
  const marker = document.getElementById({marker!r});
  if (!marker || marker.dataset.page !== {slug!r}) return null;
  const wanted = Number(marker.dataset.charts);
  const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
  const drawn = Array.from(charts).filter(chart => {{
    const surface = chart.querySelector('svg.marks, canvas');
    return surface && surface.getBoundingClientRect().width > 0
      && (surface.tagName === 'CANVAS' || surface.querySelector('path, rect, line'));
  }}).length;
  return drawn >= wanted ? {{wanted: wanted, drawn: drawn}} : null;
}})()"""


@dataclass(frozen=True, slots=True)
class Shot:
    """One page's screenshot and what was checked on it."""

    slug: str
    path: Path
    charts: int
    colours: int


def build_parser() -> argparse.ArgumentParser:
    """The subcommand's arguments."""
    parser = argparse.ArgumentParser(prog="autoretrain dashboard", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", type=Path, metavar="DIR", help="a demo's output directory (summary.json, ...)")
    source.add_argument(
        "--stack",
        choices=["env"],
        help="a deployed stack, named by the AUTORETRAIN_* variables in the environment (env)",
    )
    parser.add_argument("--port", type=int, default=8501, help="the server's port (default 8501)")
    parser.add_argument("--screenshots", type=Path, metavar="OUT_DIR", help="screenshot every page and exit")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the Chromium executable (default {CHROMIUM})")
    return parser


def source_spec(arguments: argparse.Namespace) -> str:
    """The app's source (`sources.open_source`)."""
    if arguments.demo is not None:
        return f"{DEMO_SCHEME}{arguments.demo.resolve()}"
    return STACK_SCHEME


def server_command(port: int) -> list[str]:
    """`streamlit run` on the app: on loopback only (what it shows is read with the caller's AWS credentials),
    headless (no first-run prompt, no browser opened), telemetry and file watching off."""
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port)]
    command += ["--server.headless", "true", "--server.address", "127.0.0.1"]
    command += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    command += ["--client.toolbarMode", "viewer"]
    return command


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(spec: str, port: int, log: Path) -> Iterator[str]:
    """The app served headless on `port` (its output in `log`) until the block ends; yields its base URL."""
    environment = {**os.environ, SOURCE_ENV: spec}
    with log.open("wb") as output:
        command = server_command(port)
        process = subprocess.Popen(command, env=environment, stdout=output, stderr=output)  # noqa: S603 - our own argv
        try:
            _wait_healthy(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"the Streamlit server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise BrowserError(f"the Streamlit server did not answer within {SERVER_TIMEOUT:.0f} s")


def screenshot_pages(spec: str, out: Path, chromium: str = CHROMIUM) -> list[Shot]:
    """Serve the app over `spec`, screenshot every page into `out`, check each; `BrowserError` on the first page
    that is not drawn in time or comes out blank."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with running_server(spec, free_port(), out / "server.log") as url, Browser(chromium) as browser:
        for page in PAGES:
            browser.open(f"{url}/?page={page.slug}")
            drawn = browser.wait_for(_DRAWN.format(marker=MARKER_ID, slug=page.slug), PAGE_TIMEOUT)
            time.sleep(SETTLE_SECONDS)
            path = browser.screenshot(out / f"{page.slug}.png")
            colours = distinct_colours(path)
            if colours < MIN_COLOURS:
                raise BrowserError(f"{path} looks blank: {colours} distinct colours")
            shots.append(Shot(page.slug, path, int(drawn["drawn"]), colours))
    return shots


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Serve the dashboard (until interrupted), or screenshot every page and print the PNGs' paths."""
    arguments = build_parser().parse_args(argv)
    spec = source_spec(arguments)
    if arguments.screenshots is not None:
        try:
            shots = screenshot_pages(spec, arguments.screenshots, arguments.chromium)
        except BrowserError as error:
            print(f"dashboard screenshots failed: {error}", file=sys.stderr)
            return 1
        for shot in shots:
            print(f"{shot.slug}: {shot.path} ({shot.charts} charts, {shot.colours} colours)")
        return 0
    environment = {**(os.environ if environ is None else environ), SOURCE_ENV: spec}
    pages = ", ".join(f"?page={page.slug}" for page in PAGES)
    print(f"dashboard: http://127.0.0.1:{arguments.port}/  (pages: {pages}); Ctrl-C stops it")
    try:
        return subprocess.call(server_command(arguments.port), env=environment)  # noqa: S603 - ours
    except KeyboardInterrupt:
        return 0
