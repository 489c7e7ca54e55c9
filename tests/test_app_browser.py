"""The classroom app in a real browser: a real `streamlit run` server and headless Chromium at 1024×768.

One walk through what a teacher does: open the link, press Train, let it run past what used to be its
step budget, nudge the dropout slider ten times and see ONE change marked on the gap chart, download the
history, close the tab and see the server stop the worker. Then a server killed outright leaves no worker
behind. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from explorer.store import RunStore, process_alive
from tests.app_server import (
    CHROMIUM,
    ROOT,
    StreamlitServer,
    gap_chart_text,
    launch_chromium,
    status_text,
    step_of,
    tiny_query,
    wait_until,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; scripts/ensure_chromium.sh does it as root)",
    ),
]
ARTIFACTS = ROOT / "artifacts"


def newest_app_run() -> dict | None:
    runs = RunStore().runs(source="app", limit=1)
    return runs[0] if runs else None


def chart_font_sizes(page) -> dict[str, float]:
    """The smallest font size (px) of the gap chart's tick labels and of its knob-change labels."""
    return page.evaluate("""() => {
        const svg = document.querySelector("[data-testid='stVegaLiteChart'] svg");
        const size = t => parseFloat(getComputedStyle(t).fontSize || t.getAttribute('font-size'));
        const ticks = Array.from(svg.querySelectorAll('.role-axis-label text'), size);
        const knobs = Array.from(svg.querySelectorAll('text'))
            .filter(t => t.textContent.includes('→')).map(size);
        return {tick: Math.min(...ticks), knob: knobs.length ? Math.min(...knobs) : 0};
    }""")


def test_a_lesson_in_a_real_browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with StreamlitServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
        page = context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.set_default_timeout(60_000)

        page.goto(server.link(**tiny_query()))
        train = page.get_by_role("button", name="▶ Train", exact=True)
        train.wait_for(timeout=90_000)
        assert wait_until(lambda: "Ready: press Train." in status_text(page), 30)

        # Train, then wait as a teacher talking to the class would: the run is open-ended, it goes on.
        pressed = time.monotonic()
        train.click()
        assert wait_until(lambda: step_of(status_text(page)) >= 1, 30), status_text(page)
        first_step_s = time.monotonic() - pressed
        time.sleep(40)
        assert "Training" in status_text(page), status_text(page)
        step, drawn = step_of(status_text(page)), gap_chart_text(page)
        assert wait_until(lambda: step_of(status_text(page)) >= step + 10 and gap_chart_text(page) != drawn, 60)

        # The series are named inside the chart, and the type is readable from the back of a room.
        text = gap_chart_text(page)
        assert "training" in text and "validation" in text, text
        assert chart_font_sizes(page)["tick"] >= 14

        # Ten quick presses on the dropout slider: ONE change, from its first step, to its last value.
        slider = page.locator(".st-key-dropout").get_by_role("slider")
        slider.focus()
        for _ in range(10):
            slider.press("ArrowRight")
        assert wait_until(lambda: "dropout 0 → 0.5" in gap_chart_text(page), 30), gap_chart_text(page)
        time.sleep(3)  # a few more redraws: no second label appears, the first does not change
        labels = {t for t in gap_chart_text(page).split(" | ") if "dropout" in t and "→" in t}
        assert labels == {"dropout 0 → 0.5"}, labels  # (each label is drawn twice: on a white halo, then on top)
        assert chart_font_sizes(page)["knob"] >= 16
        assert "dropout=0.5" in page.url  # the link now reproduces the knob
        step = step_of(status_text(page))
        assert wait_until(lambda: step_of(status_text(page)) > step + 5, 30)
        assert page.get_by_role("button", name="❚❚ Pause", exact=True).is_enabled()
        assert page.get_by_role("button", name="▶ Train", exact=True).is_disabled()
        page.screenshot(path=str(ARTIFACTS / "app-1024x768-training.png"))
        events = [r for r in RunStore().records(newest_app_run()["id"]) if r["kind"] == "event"]
        assert [(e["old"], e["new"]) for e in events if e.get("knob") == "dropout"] == [(0.0, 0.5)]

        # The history as CSV and a chart as PNG, built when clicked.
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("history.csv")).click()
        header = Path(download.value.path()).read_text().splitlines()[0]
        assert header.startswith("step,epoch,train_loss") and "dropout" in header
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("gap.png")).click()
        assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # Pause: the buttons follow the status; Continue goes on with the same run.
        page.get_by_role("button", name="❚❚ Pause", exact=True).click()
        assert wait_until(lambda: "Paused" in status_text(page), 20), status_text(page)
        continue_button = page.get_by_role("button", name="▶ Continue", exact=True)
        assert wait_until(continue_button.is_enabled, 10)
        paused_at = step_of(status_text(page))
        continue_button.click()
        assert wait_until(lambda: step_of(status_text(page)) > paused_at + 5, 30), status_text(page)

        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in page.content() and not page_errors, page_errors

        # Closing the tab stops the run's worker within 5 s (the viewer watchdog).
        run = newest_app_run()
        assert run["status"] == "running" and process_alive(run["pid"], None)
        closed = time.monotonic()
        page.close()
        assert wait_until(lambda: not process_alive(run["pid"], None), 8), "the worker outlived its page"
        assert time.monotonic() - closed <= 5.0
        assert wait_until(lambda: "run stopped (viewer left)" in server.output(), 5), server.output()
        assert RunStore().run(run["id"])["status"] == "stopped"
        browser.close()
    print(f"Train → first step on screen: {first_step_s:.2f} s")


def children_of(pid: int) -> list[int]:
    """Every descendant process of `pid` (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, p in parents.items() if p == parent]
        found += kids
        frontier += kids
    return found


def test_a_killed_server_leaves_no_worker_behind():
    from playwright.sync_api import sync_playwright

    with StreamlitServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        page.goto(server.link(**tiny_query()))
        page.get_by_role("button", name="▶ Train", exact=True).click(timeout=90_000)
        assert wait_until(lambda: step_of(status_text(page)) >= 5, 60), status_text(page)
        run = newest_app_run()
        descendants = children_of(server.process.pid)
        assert run["pid"] in descendants
        os.kill(server.process.pid, signal.SIGKILL)
        assert wait_until(lambda: not any(process_alive(pid, None) for pid in descendants), 10), [
            pid for pid in descendants if process_alive(pid, None)
        ]
        assert wait_until(lambda: RunStore().run(run["id"])["status"] == "interrupted", 5)
        assert RunStore().run(run["id"])["steps"] >= 1
        browser.close()
