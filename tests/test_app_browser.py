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
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from explorer.runs.store import RunStore, process_alive
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


def shows(page, tab: str, words: str) -> bool:
    """Whether the tab's chart says `words`; if not, click the tab again: a click that lands while the live panel
    redraws (a loaded machine) can be lost, and a reader would click again too."""
    if words in gap_chart_text(page):
        return True
    page.get_by_role("tab", name=tab).click()
    return False


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

        # The mechanism views draw from the same run: the masks its steps drew since dropout went on, how far
        # back its gradient reaches, and its memorisation meter.
        for tab, words in (
            ("Masks", "embeddings → layer 1"),
            ("Reach", "distance back from the last position"),
            ("Memorisation", "share of the sample's n-grams"),
        ):
            page.get_by_role("tab", name=tab).click()
            assert wait_until(lambda tab=tab, words=words: shows(page, tab, words), 60), (tab, gap_chart_text(page))
            page.screenshot(path=str(ARTIFACTS / f"app-1024x768-{tab.lower().replace(' ', '-')}.png"))
        page.get_by_role("tab", name="Generalisation gap").click()
        events = [r for r in RunStore().records(newest_app_run()["id"]) if r["kind"] == "event"]
        assert [(e["old"], e["new"]) for e in events if e.get("knob") == "dropout"] == [(0.0, 0.5)]

        # The history as CSV and a chart as PNG, built when clicked.
        header = downloaded(page, "history.csv").read_text().splitlines()[0]
        assert header.startswith("step,epoch,train_loss") and "dropout" in header
        assert downloaded(page, "gap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

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


def downloaded(page, name: str) -> Path:
    """Click the download button called `name` and return the file. While the page refreshes every second, a
    refresh that lands between the click and the fetch drops that run's deferred file and the browser reports
    the download as canceled (Streamlit's deferred download_button): a second click gets it, as it would for a
    student. Two canceled clicks in a row fail the test."""
    from playwright.sync_api import Error

    for attempt in range(2):
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile(re.escape(name))).click()
        try:
            return Path(download.value.path())
        except Error:
            if attempt:
                raise


def axis_title_box(page, title: str) -> dict | None:
    """Where the first chart draws the axis title `title`, in the window's pixels (None: not drawn yet)."""
    return page.evaluate(
        """title => {
        const texts = document.querySelectorAll("[data-testid='stVegaLiteChart'] svg .role-axis-title text");
        const text = Array.from(texts).find(t => t.textContent === title);
        if (!text) return null;
        const box = text.getBoundingClientRect();
        return {top: box.top, bottom: box.bottom};
    }""",
        title,
    )


class SlowPage:
    """Stands in the page's websocket to make a busy page's timing certain. `holding = "answer"`: the server's
    answer to a download click (the made file's address) reaches the page only once the server has ended a few
    more runs of the page (a busy browser, late to fetch the file); `holding = "request"`: the click's request
    for its file reaches the server only then (a click made just before the whole page reran)."""

    def __init__(self, page):
        self.page, self.holding, self.held, self.ended = page, None, [], 0
        page.route_web_socket(re.compile(r".*/_stcore/stream"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        ws.on_message(lambda message: self._pass(message, "request", server.send))
        server.on_message(lambda message: self._pass(message, "answer", ws.send))

    def _pass(self, message, direction: str, send) -> None:
        data = message if isinstance(message, bytes) else message.encode()
        if direction == "answer":
            kind = ForwardMsg.FromString(data).WhichOneof("type")
            self.ended += kind == "script_finished"
        else:
            kind = BackMsg.FromString(data).WhichOneof("type")
        if direction == self.holding and kind in ("backend_operation_request", "backend_operation_response"):
            self.held.append((send, message))
        else:
            send(message)

    def wait(self, condition, timeout: float = 30.0) -> None:
        """Until `condition()`, letting the page and this go-between work meanwhile."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "the page did not get there"
            self.page.wait_for_timeout(50)

    def release_after(self, runs: int) -> None:
        """Let what is held go after the server has ended `runs` more runs of the page."""
        until = self.ended + runs
        self.wait(lambda: self.ended >= until)
        for send, message in self.held:
            send(message)
        self.held.clear()


def download_late(page, slow: SlowPage, name: str, holding: str, meanwhile=lambda: None) -> Path:
    """ONE click on the download button called `name`, its request or its answer held across three runs of
    the page (and `meanwhile()` done in between): its file, or the test fails."""
    slow.holding = holding
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name=re.compile(re.escape(name))).click()
        slow.wait(lambda: slow.held)  # the click's request (or the server's answer) is held before `meanwhile`
        meanwhile()
        slow.release_after(runs=3)
    slow.holding = None
    return Path(download.value.path())


def test_at_1024x768_the_gap_chart_shows_its_step_axis_and_downloads_arrive_while_the_page_refreshes():
    """A new user on a 1024×768 screen: the key chart, the gap chart, shows its step axis with its title without
    scrolling. While the run trains, its charts rerun every second and a slider move reruns the whole page: a
    download clicked meanwhile arrives at the first click, fetched however late, whatever reran in between."""
    from playwright.sync_api import sync_playwright

    with StreamlitServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1024, "height": 768}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(60_000)
        slow = SlowPage(page)
        page.goto(server.link(**tiny_query()))
        page.get_by_role("button", name="▶ Train", exact=True).click(timeout=90_000)
        assert wait_until(lambda: "best validation loss" in status_text(page), 60), status_text(page)

        box = wait_until(lambda: axis_title_box(page, "step"), 30)
        assert box and 0 <= box["top"] and box["bottom"] <= 768, box
        scrolled = page.evaluate("() => window.scrollY + document.querySelector(\"[data-testid='stMain']\").scrollTop")
        assert scrolled == 0

        # fetched late: three refreshes end between the file's making and the browser's fetch
        header = download_late(page, slow, "history.csv", "answer").read_text().splitlines()[0]
        assert header.startswith("step,epoch,train_loss"), header
        assert download_late(page, slow, "gap.png", "answer").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # clicked just before a slider move reran the whole page: the button the click used is the previous run's
        slider = page.locator(".st-key-dropout").get_by_role("slider")

        def move_dropout() -> None:
            slider.focus()
            slider.press("ArrowRight")
            slow.wait(lambda: "dropout=0.05" in page.url)

        assert download_late(page, slow, "history.csv", "request", move_dropout).read_text().startswith("step,")
        assert "Training" in status_text(page), status_text(page)
        browser.close()


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


# ------------------------------------------------------------------------------ over seeds, sweeps
SHOTS = Path("/tmp/explorer-shots")


def chart_texts(page) -> list[str]:
    """The text drawn in each chart on the page, in page order."""
    return page.evaluate("""() => Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart']"),
        c => Array.from(c.querySelectorAll('svg text'), t => t.textContent).join(' | '))""")


def job_line(page, kind: str) -> str:
    """The job's status line ("3 done · 2 running · …", "Done: …"), its icon's name first."""
    line = page.locator(f".st-key-job_{kind}")
    try:
        return line.inner_text(timeout=1000) if line.count() else ""
    except Exception:  # noqa: BLE001 - replaced mid-read by a refresh: read again next time
        return ""


def shoot_charts(page, prefix: str, names: list[str]) -> None:
    """Each chart on the page as its own screenshot (the main area scrolls inside the page)."""
    for index, name in enumerate(names):
        if name:
            page.locator("[data-testid='stVegaLiteChart']").nth(index).screenshot(
                path=str(SHOTS / f"{prefix}-{name}.png")
            )


def open_tiny_app(playwright, server):
    browser = launch_chromium(playwright)
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(60_000)
    page.goto(server.link(**tiny_query()))
    page.get_by_role("button", name="▶ Train", exact=True).wait_for(timeout=90_000)
    return browser, page, errors


def enter(page, key: str, value) -> None:
    """Type into the text or number box of widget `key` and commit it, as a teacher would."""
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    time.sleep(0.5)  # the rerun that takes the value


def test_repeat_over_seeds_in_a_real_browser_while_the_run_trains():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with StreamlitServer() as server, sync_playwright() as playwright:
        browser, page, errors = open_tiny_app(playwright, server)

        def press(name: str) -> None:
            page.get_by_role("button", name=name, exact=True).click()

        # every button in one row: the gap chart stays whole on 1024×768 below them and the status line
        def button_tops() -> list[int]:
            return page.evaluate("""() => Array.from(document.querySelectorAll('.st-key-buttons button'))
                .map(b => b.getBoundingClientRect()).filter(r => r.width > 0).map(r => Math.round(r.top))""")

        assert wait_until(lambda: len(button_tops()) == 6, 30), button_tops()  # the row is drawn button by button
        tops = button_tops()
        assert len(set(tops)) == 1, tops

        # the lesson: a run saved, dropout moved, a fresh model from the same seed (README, minutes 3–4)
        press("▶ Train")
        assert wait_until(lambda: step_of(status_text(page)) >= 10, 60), status_text(page)
        press("❚❚ Pause")
        assert wait_until(lambda: "Paused" in status_text(page), 20), status_text(page)
        press("Save run")
        assert wait_until(lambda: page.get_by_text("Saved as").count(), 20)
        slider = page.locator(".st-key-dropout").get_by_role("slider")
        for _ in range(3):  # dropout all the way, 0.9 (a key pressed while the page re-renders can be lost)
            slider.focus()
            slider.press("End")
            if wait_until(lambda: "dropout=0.9&" in page.url, 10):
                break
        assert "dropout=0.9&" in page.url, page.url
        press("↺ Reset")
        assert wait_until(lambda: step_of(status_text(page)) == 0 and "Paused" in status_text(page), 20)
        press("▶ Continue")
        assert wait_until(lambda: step_of(status_text(page)) >= 10, 60), status_text(page)
        press("❚❚ Pause")  # the repeat trains each run as long as it ran: keep them short for the test
        assert wait_until(lambda: "Paused" in status_text(page), 20), status_text(page)

        page.get_by_role("tab", name="Compare runs").click()
        enter(page, "repeat_seeds", 2)
        press("Repeat over seeds")
        assert wait_until(lambda: "Started 4 trials" in page.inner_text("body"), 30)
        press("▶ Continue")  # the live run trains on while the trials run
        assert wait_until(lambda: "Training" in status_text(page), 20), status_text(page)
        assert wait_until(lambda: "Done: 4 trials" in job_line(page, "seeds"), 180), job_line(page, "seeds")
        assert "Training" in status_text(page), status_text(page)
        drawn = wait_until(lambda: (t := chart_texts(page)) and len(t) == 3 and "dropout 0.9" in t[2] and t, 30)
        assert drawn, chart_texts(page)
        assert "Validation loss over seeds" in drawn[1] and "run 1: dropout 0 (2 seeds)" in drawn[1]
        assert "Paired differences" in drawn[2]
        page.locator(".st-key-job_seeds").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "app-seeds-1024x768.png"))
        shoot_charts(page, "app-seeds", ["comparison", "bands", "paired"])
        assert downloaded(page, "seeds-variance-bands.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert page.locator("[data-testid='stException']").count() == 0 and not errors, errors
        browser.close()


def test_a_sweep_in_a_real_browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with StreamlitServer() as server, sync_playwright() as playwright:
        browser, page, errors = open_tiny_app(playwright, server)
        page.get_by_role("tab", name="Sweep").click()
        page.locator(".st-key-sweep_start").wait_for()
        page.screenshot(path=str(SHOTS / "app-sweep-empty.png"))
        enter(page, "sweep_values_2_l2", "0, 0.001")
        enter(page, "sweep_seeds", 2)
        enter(page, "sweep_steps", 30)
        page.get_by_role("button", name="Start sweep").click()
        assert wait_until(lambda: "hourglass" in job_line(page, "sweep"), 30), job_line(page, "sweep")
        page.screenshot(path=str(SHOTS / "app-sweep-running.png"))
        assert wait_until(lambda: "Done: 8 trials" in job_line(page, "sweep"), 180), job_line(page, "sweep")
        drawn = wait_until(lambda: (t := chart_texts(page)) and "Best:" in t[0] and t, 30)
        assert drawn and len(drawn) == 3, chart_texts(page)
        assert "dropout" in drawn[0] and "l2" in drawn[0] and "Landscape" in drawn[0]
        assert "Validation loss over seeds" in drawn[1] and "Paired differences" in drawn[2]
        assert "Ready: press Train." in status_text(page)  # the sweep left the live run alone
        page.screenshot(path=str(SHOTS / "app-sweep-1024x768.png"))
        shoot_charts(page, "app-sweep", ["landscape", "bands", "paired"])

        # too big for the machine: one line next to the button, nothing starts
        enter(page, "sweep_seeds", 10)
        enter(page, "sweep_values_1_dropout", ", ".join(f"{v / 100:g}" for v in range(40)))
        page.get_by_role("button", name="Start sweep").click()
        message = page.locator("[data-testid='stAlertContentError']")
        assert wait_until(
            lambda: "more than this machine trains in a lesson" in " ".join(message.all_inner_texts()), 30
        )
        assert message.count() == 1 and "Done: 8 trials" in job_line(page, "sweep")
        page.locator(".st-key-sweep_start").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "app-sweep-too-big.png"))
        assert page.locator("[data-testid='stException']").count() == 0 and not errors, errors
        browser.close()
