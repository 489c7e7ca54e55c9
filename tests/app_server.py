"""A real `streamlit run streamlit_app.py` on a free port, and headless Chromium to drive it.
Shared by tests/test_app_browser.py and benchmarks/concurrency.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# A model that trains fast on a busy 2-core machine; steps high so it is still running when looked at.
TINY = dict(
    hidden=16,
    embed=16,
    seq_len=16,
    batch_size=8,
    train_fraction=0.01,
    eval_every=5,
    eval_batches=2,
    detail_every=5,
    steps=1_000_000,
    device="cpu",
)


def tiny_query(**changes) -> dict[str, str]:
    """TINY (plus `changes`) as the app's URL query parameters."""
    from explorer.spec.knobs import Config

    return Config(**{**TINY, **changes}).to_query()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    return None


class StreamlitServer:
    """Starts the app, collects its stdout/stderr lines, stops it on exit."""

    def __init__(
        self,
        script: str = "streamlit_app.py",
        startup_timeout: float = 90.0,
        options: tuple = (),
        env: dict | None = None,
    ):
        self.port = free_port()
        self.env = env or {}  # more environment for the server (class mode's EXPLORER_CLASS, ...)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.lines: list[str] = []
        self.startup_timeout = startup_timeout
        self.command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            script,
            "--server.headless=true",
            f"--server.port={self.port}",
            "--server.address=127.0.0.1",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
            *options,
        ]

    def __enter__(self) -> StreamlitServer:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not wait_until(self._healthy, self.startup_timeout, every=0.5):
            self.__exit__()
            raise RuntimeError("streamlit did not start:\n" + self.output())
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("streamlit exited:\n" + self.output())
        try:
            with urllib.request.urlopen(self.url + "_stcore/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return "\n".join(self.lines)

    def link(self, **query) -> str:
        return self.url + ("?" + urlencode(query) if query else "")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid`, read from /proc (a forkserver, workers, a server a CLI started)."""
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        children.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass  # gone while read
    return children


def niced_chromium(nice: int) -> str:
    """A launcher that runs Chromium at the given niceness (Playwright then starts it like Chromium). Under
    the kernel's autogroup scheduling this only ranks Chromium against processes of its own session."""
    if not nice:
        return CHROMIUM
    wrapper = Path(tempfile.mkdtemp()) / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# ------------------------------------------------------------------------------ page helpers
def status_text(page) -> str:
    """The run's status line (its keyed container): whatever it says, an error without a step number included."""
    try:
        return " ".join(page.locator(".st-key-run_status [data-testid^='stAlertContent']").all_inner_texts()).strip()
    except Exception:  # noqa: BLE001 - an element replaced mid-read by a refresh: read again next time
        return ""


def step_of(text: str) -> int:
    """The step number in 'Training: step 1,234 · ...' (0 if absent)."""
    import re

    found = re.search(r"step ([\d,]+)", text)
    return int(found.group(1).replace(",", "")) if found else 0


def gap_chart_text(page) -> str:
    """All text drawn in the first chart's SVG (axis labels, knob-change labels)."""
    return page.evaluate("""() => {
        const svg = document.querySelector("[data-testid='stVegaLiteChart'] svg");
        return svg ? Array.from(svg.querySelectorAll('text'), t => t.textContent).join(' | ') : '';
    }""")
