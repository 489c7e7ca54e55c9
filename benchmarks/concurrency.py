"""Several students on one server: N browser sessions train at once; do they all progress, and does the
page still answer a slider quickly?

    .venv/bin/python benchmarks/concurrency.py                 # 5 sessions, the app's default model
    .venv/bin/python benchmarks/concurrency.py --sessions 3 --tiny

One `streamlit run` server, one headless Chromium with N separate sessions (browser contexts), all on
this machine. In a classroom each student's browser runs on the student's own laptop; here Chromium
(drawing N sets of charts, in software) shares the server's cores, so it runs at nice 19 (--browser-nice)
to stand in for "elsewhere" without taking CPU the server needs. The CPU split is printed. Each session
presses Train; after a warm-up every session gets a few one-notch nudges of its dropout slider, one
session at a time while all keep training. Two times per nudge:
  round trip  key press -> the server has re-run the script with the new value (the URL, which the
              script writes, shows dropout=...): what a student feels when moving a slider;
  on chart    key press -> the change is drawn as a labelled rule on that session's gap chart (the run
              applies it at its next step, the chart refreshes once a second).
Training progress is the step counter of each session's status line over the measured window.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from explorer.spec.knobs import Config  # noqa: E402
from tests.app_server import (  # noqa: E402  # noqa: E402
    CHROMIUM_ARGS,
    StreamlitServer,
    niced_chromium,
    status_text,
    step_of,
    tiny_query,
    wait_until,
)


class CpuMeter:
    """CPU seconds used by the server's process tree and by everything else named chromium (psutil)."""

    def __init__(self, server_pid: int):
        try:
            import psutil
        except ImportError:
            self.psutil = None
            return
        self.psutil, self.server = psutil, psutil.Process(server_pid)

    def read(self) -> tuple[float, float] | None:
        if self.psutil is None:
            return None

        def used(process):
            try:
                times = process.cpu_times()
                return times.user + times.system
            except self.psutil.Error:
                return 0.0

        server = used(self.server) + sum(used(c) for c in self.server.children(recursive=True))
        browser = sum(used(p) for p in self.psutil.process_iter(["name"]) if "chrom" in (p.info["name"] or ""))
        return server, browser


def nudge(page, value: str, timeout_s: float = 30.0) -> tuple[float, float]:
    """ArrowRight on the dropout slider; (round trip, on chart) in seconds (inf: not within timeout_s)."""
    slider = page.locator(".st-key-dropout").get_by_role("slider")
    slider.focus()
    began = time.perf_counter()
    slider.press("ArrowRight")
    try:
        page.wait_for_function(
            f"() => location.search.includes('dropout={value}&') || location.search.endsWith('dropout={value}')",
            polling="raf",
            timeout=timeout_s * 1000,
        )
        round_trip = time.perf_counter() - began
        page.wait_for_function(
            """label => {
            const svg = document.querySelector("[data-testid='stVegaLiteChart'] svg");
            return svg && Array.from(svg.querySelectorAll('text')).some(t => t.textContent.includes(label));
        }""",
            arg=f"→ {value}",
            polling=100,
            timeout=timeout_s * 1000,
        )
    except PlaywrightTimeout:
        return (round_trip if "round_trip" in locals() else math.inf), math.inf
    return round_trip, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of training before measuring")
    parser.add_argument("--nudges", type=int, default=3, help="slider nudges per session")
    parser.add_argument("--tiny", action="store_true", help="a tiny model instead of the app's default one")
    parser.add_argument("--browser-nice", type=int, default=19, help="niceness of Chromium (0: same as the server)")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="--SECTION.NAME=VALUE",
        help="a streamlit config option for the server, e.g. --option=--runner.postScriptGC=true",
    )
    args = parser.parse_args()

    query = tiny_query() if args.tiny else Config(device="cpu", steps=1_000_000).to_query()
    tokens_per_step = int(query.get("batch_size", Config.batch_size)) * int(query.get("seq_len", Config.seq_len))
    model = "tiny (hidden 16, seq 16, batch 8)" if args.tiny else "default (char LSTM 1×128, seq 64, batch 32)"
    print(
        f"{args.sessions} sessions, model: {model}, {os.cpu_count()} CPU cores, options: {args.option or 'none'}, "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    with StreamlitServer(options=tuple(args.option)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=niced_chromium(args.browser_nice), headless=True, args=CHROMIUM_ARGS
        )
        meter = CpuMeter(server.process.pid)
        pages = []
        for _ in range(args.sessions):
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(120_000)
            page.goto(server.link(**query))
            pages.append(page)
        for page in pages:
            page.get_by_role("button", name="▶ Train", exact=True).wait_for()
            page.get_by_role("button", name="▶ Train", exact=True).click()
        for page in pages:
            assert wait_until(lambda page=page: step_of(status_text(page)) > 0, 120), "a session never started"
        time.sleep(args.warmup)

        began, cpu_before = time.monotonic(), meter.read()
        first = [step_of(status_text(page)) for page in pages]
        trips, charted = [[] for _ in pages], [[] for _ in pages]
        for n in range(1, args.nudges + 1):
            value = f"{0.05 * n:g}"
            for i, page in enumerate(pages):
                trip, chart = nudge(page, value)
                trips[i].append(trip)
                charted[i].append(chart)
        time.sleep(2)
        elapsed, cpu_after = time.monotonic() - began, meter.read()
        last = [step_of(status_text(page)) for page in pages]
        exceptions = sum(page.locator("[data-testid='stException']").count() for page in pages)
        browser.close()

    print(
        f"\n{'session':>8} {'steps/s':>8} {'tokens/s':>9} {'round trip median / max (s)':>28} "
        f"{'on chart median / max (s)':>26}"
    )
    for i in range(args.sessions):
        rate = (last[i] - first[i]) / elapsed
        print(
            f"{i + 1:>8} {rate:>8.1f} {rate * tokens_per_step:>9.0f} "
            f"{statistics.median(trips[i]):>15.2f} / {max(trips[i]):<10.2f} "
            f"{statistics.median(charted[i]):>13.2f} / {max(charted[i]):.2f}"
        )
    every_trip = [t for session in trips for t in session]
    every_chart = [t for session in charted for t in session]
    progressed = sum(b > a for a, b in zip(first, last))
    total = sum(b - a for a, b in zip(first, last)) / elapsed
    print(
        f"\nall sessions: {progressed}/{args.sessions} made progress over {elapsed:.0f} s "
        f"({total:.1f} steps/s, {total * tokens_per_step:,.0f} tokens/s together); "
        f"slider round trip median {statistics.median(every_trip):.2f} s, max {max(every_trip):.2f} s "
        f"({sum(t < 1 for t in every_trip)}/{len(every_trip)} under 1 s); knob on chart median "
        f"{statistics.median(every_chart):.2f} s, max {max(every_chart):.2f} s; "
        f"exceptions on pages: {exceptions}; load average after: {os.getloadavg()[0]:.1f}"
    )
    if cpu_before and cpu_after:
        server, browser = (after - before for before, after in zip(cpu_before, cpu_after))
        print(
            f"CPU over the window: server {server / elapsed:.2f} cores, Chromium {browser / elapsed:.2f} cores "
            f"(of {os.cpu_count()}; the rest of the machine's load is other programs)"
        )


if __name__ == "__main__":
    main()
