"""The Voilà dashboard in a real browser: serve notebooks/dashboard.ipynb, open it in headless Chromium,
press Train, move a slider, and see the chart redraw with the knob change marked; then the gradient and
mechanism tabs (gradient reach, dropout masks, memorisation) draw the same run. Screenshots go to
artifacts/ (git-ignored): look at them when this fails."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from explorer.views.registry import VIEWS
from tests.app_server import launch_chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VOILA = Path(sys.executable).with_name("voila")
# A tiny model (live runs are open-ended: it trains until paused); the link carries the setup, no widget fiddling.
QUERY = "?hidden=32&embed=16&seq_len=32&batch_size=16&train_fraction=0.01&eval_every=10"
# Harmless offline noise: jupytext's lab extension does not load in Voilà; Voilà's template asks a CDN
# for Font Awesome.
NOISE = ("RUNTIME-012", "jupyterlab-jupytext", "fontawesome", "net::ERR_NAME_NOT_RESOLVED", "Failed to load resource")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def voila(notebook: str, env: dict | None = None):
    """Voilà serving `notebook` on a free port; yields its base address. Its log: artifacts/voila-*.log."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/ensure_chromium.sh installs it as root)")
    pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log = (ARTIFACTS / f"voila-{Path(notebook).stem}.log").open("w")
    server = subprocess.Popen(
        [str(VOILA), notebook, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail(f"voila exited: see {log.name}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def voila_url():
    with voila("notebooks/dashboard.ipynb") as url:
        yield url + QUERY


def svg(page, tab_index: int = 0) -> str:
    """The current SVG of the first chart in the given tab's page."""
    return page.locator(".explorer-dashboard .vega-embed svg.marks").nth(tab_index).inner_html()


def real_errors(problems: list[str]) -> list[str]:
    """The page's console errors less the harmless offline noise."""
    return [p for p in problems if not any(n.lower() in p.lower() for n in NOISE)]


def visible_chart_texts(page) -> list[str]:
    """The text of each chart on the open tab (what a failure message shows)."""
    return page.locator(".explorer-dashboard .vega-embed:visible svg.marks").all_text_contents()


def open_chart_tab(page, tab: str, text: str, problems: list[str], timeout: int = 45_000) -> None:
    """Open a tab and wait until one of its charts draws `text` (a redraw of the live run, not a placeholder)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_role("tab", name=tab, exact=True).click()
    try:
        page.wait_for_function(
            """text => [...document.querySelectorAll('.explorer-dashboard .vega-embed svg.marks')]
                        .some(s => s.getBoundingClientRect().width > 0 && s.textContent.includes(text))""",
            arg=text,
            timeout=timeout,
        )
    except PlaywrightTimeout:
        pytest.fail(
            f"the {tab!r} tab never drew {text!r}; its charts say {visible_chart_texts(page)}; "
            f"page errors so far: {real_errors(problems)}"
        )


def cut_off_charts(page) -> list[str]:
    """The open tab's charts that stick out of the box that clips them (drawn wider than their column)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.explorer-dashboard .vega-embed svg.marks')]
            .filter(s => s.getBoundingClientRect().width > 0)
            .flatMap(s => {
                let box = s.parentElement;
                while (box && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
                if (!box) return [];
                const right = box.getBoundingClientRect().left + box.clientLeft + box.clientWidth;
                const over = Math.round(s.getBoundingClientRect().right - right);
                const title = s.querySelector('.role-title-text');
                return over > 1 ? [`${title ? title.textContent : 'a chart'}: ${over} px cut off at the right`] : [];
            })"""
    )


def test_voila_dashboard_trains_and_a_slider_moves_the_running_model(voila_url):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            page.goto(voila_url, timeout=120_000)
            # the placeholder chart renders offline (no CDN): JupyterChart works
            page.wait_for_selector(".explorer-dashboard .vega-embed svg.marks", timeout=120_000)
            expect(page.get_by_text("Ready: press Train.")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "voila-loaded.png"))
            before = svg(page)
            assert "No data yet" in before

            page.get_by_role("button", name="▶ Train").click()
            expect(page.get_by_text("Training: step", exact=False)).to_be_visible(timeout=60_000)
            # evaluations arrive and the chart redraws with both curves
            page.wait_for_function(
                """() => {
                const s = document.querySelector('.explorer-dashboard .vega-embed svg.marks');
                return s && s.innerHTML.includes('validation') && !s.innerHTML.includes('No data yet');
            }""",
                timeout=60_000,
            )
            drawn = svg(page)
            assert drawn != before

            # a teacher talks for a while: the run is open-ended and still trains 40 s later
            time.sleep(40)
            expect(page.get_by_text("Training: step", exact=False)).to_be_visible()

            # ten quick presses on the dropout slider are ONE change, drawn once, from 0 to 0.5
            handle = page.locator(".widget-slider", has_text="Dropout rate").locator(".noUi-handle")
            handle.focus()
            for _ in range(10):
                handle.press("ArrowRight")
            expect(page.get_by_text("Knob changes: step", exact=False)).to_contain_text(
                "dropout 0 → 0.5", timeout=30_000
            )
            page.wait_for_function(
                """() => document.querySelector('.explorer-dashboard .vega-embed svg.marks')
                                        .textContent.includes('dropout 0 → 0.5')""",
                timeout=30_000,
            )
            time.sleep(3)  # more redraws: no second label appears
            labels = page.evaluate(
                """() => Array.from(document.querySelector('.explorer-dashboard .vega-embed svg.marks')
                                    .querySelectorAll('text'), t => t.textContent)
                          .filter(t => t.includes('dropout') && t.includes('→'))"""
            )
            assert set(labels) == {"dropout 0 → 0.5"}, labels
            assert page.get_by_text("Knob changes: step", exact=False).inner_text().count("dropout") == 1
            page.set_viewport_size({"width": 1024, "height": 768})
            time.sleep(1.5)
            page.screenshot(path=str(ARTIFACTS / "voila-1024x768.png"))
            page.set_viewport_size({"width": 1366, "height": 1000})
            later = svg(page)
            time.sleep(2.5)
            assert svg(page) != later, "the chart keeps redrawing while the run trains"
            page.screenshot(path=str(ARTIFACTS / "voila-training.png"))

            # the heartbeat reached the kernel and came back
            beats = page.locator(".explorer-heartbeat").get_attribute("data-beats")
            assert beats is not None and int(beats) >= 1

            # pause: the status says so and the redraws stop
            page.get_by_role("button", name="❚❚ Pause").click()
            expect(page.get_by_text(re.compile(r"^Paused.*: step"))).to_be_visible(timeout=30_000)
            expect(page.get_by_role("button", name="▶ Resume")).to_be_visible()

            # the gradient view draws the histogram of the same run
            page.get_by_role("tab", name="Gradients").click()
            page.wait_for_function(
                """() => [...document.querySelectorAll('.explorer-dashboard svg.marks')]
                                        .some(s => s.textContent.includes('Gradient magnitudes'))""",
                timeout=30_000,
            )
            page.screenshot(path=str(ARTIFACTS / "voila-gradients.png"))

            # the mechanism views of the same run (dropout is on since the slider moved), on a 1024×768 laptop:
            # each draws the live run, whole (nothing cut off at the right of the knobs-and-chart layout)
            page.set_viewport_size({"width": 1024, "height": 768})
            wrong: list = []  # every tab is looked at before the test says what was wrong
            for view, text in (
                ("reach", "distance back from the last position"),
                ("masks", "embeddings → layer 1"),
                ("memorisation", "share of the sample's n-grams"),
            ):
                tab = VIEWS[view].title
                open_chart_tab(page, tab, text, problems)
                time.sleep(1)  # the redraw settles (vega renders asynchronously)
                texts = visible_chart_texts(page)
                cut_off = cut_off_charts(page)
                page.set_viewport_size({"width": 1024, "height": 1300})  # same width, the whole tab in the shot
                time.sleep(0.5)
                page.screenshot(path=str(ARTIFACTS / f"voila-{view}.png"))
                page.set_viewport_size({"width": 1024, "height": 768})
                # every chart of the tab drew the run (none still shows the page's first placeholder), whole
                if len(texts) != len(VIEWS[view].charts) or any("No data yet" in t for t in texts):
                    wrong.append((tab, "a chart was not redrawn", texts))
                if cut_off:
                    wrong.append((tab, cut_off))
            assert not wrong, (wrong, real_errors(problems))
        finally:
            browser.close()
    real = [p for p in problems if not any(n.lower() in p.lower() for n in NOISE)]
    assert not real, real


SHOTS = Path("/tmp/explorer-shots")


def shoot_charts(page, prefix: str, names: list[str]) -> None:
    """The open tab's charts, one screenshot each (to look at)."""
    charts = page.locator(".explorer-dashboard .vega-embed:visible")
    for index, name in enumerate(names):
        charts.nth(index).screenshot(path=str(SHOTS / f"{prefix}-{name}.png"))


def test_voila_sweep_tab_and_repeat_over_seeds_draw_their_charts(voila_url):
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def box(label: str):
            return page.locator(".explorer-dashboard .widget-inline-hbox", has_text=label).locator("input:visible")

        def slider(label: str):
            return page.locator(".explorer-dashboard .widget-slider", has_text=label).locator(".noUi-target")

        def svgs_text() -> str:
            return " | ".join(page.locator(".explorer-dashboard .vega-embed svg.marks").all_text_contents())

        try:
            page.goto(f"{voila_url}&lock=lr&hide=l1", timeout=120_000)  # a lesson's link: lr fixed, L1 left out
            page.wait_for_selector(".explorer-dashboard .vega-embed svg.marks", timeout=120_000)
            expect(slider("Learning rate")).to_have_attribute("disabled", "true")
            expect(slider("Dropout rate")).not_to_have_attribute("disabled", "true")
            expect(slider("L1 λ")).to_have_count(0)

            # the Sweep tab: a 2 × 2 grid × 2 seeds of short trials; the live run is never touched
            page.get_by_role("tab", name="Sweep").click()
            for label, value in (("Seeds", "2"), ("Steps per trial", "30")):
                box(label).fill(value)
                box(label).press("Enter")
            page.get_by_role("button", name="Start sweep").click()
            expect(page.get_by_text("Started 8 trials", exact=False)).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Done: 8 trials", exact=False)).to_be_visible(timeout=180_000)
            page.wait_for_function(
                """() => [...document.querySelectorAll('.explorer-dashboard svg.marks')]
                        .some(s => s.textContent.includes('Landscape') && s.textContent.includes('Best:'))""",
                timeout=30_000,
            )
            assert "Validation loss over seeds" in svgs_text() and "Paired differences" in svgs_text()
            page.screenshot(path=str(SHOTS / "voila-sweep-1024x768.png"))
            shoot_charts(page, "voila-sweep", ["landscape", "bands", "paired"])

            # Repeat over seeds: a short run saved, then the comparison over 2 seeds
            page.get_by_role("button", name="▶ Train").click()
            # a step trained before the pause (the line reads "step 0" until the first one arrives)
            expect(page.get_by_text(re.compile(r"Training: step [1-9]"))).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="❚❚ Pause").click()
            expect(page.get_by_text(re.compile(r"^Paused.*: step"))).to_be_visible(timeout=30_000)
            page.get_by_role("button", name="Save run").click()  # opens Compare runs
            page.get_by_role("button", name="▶ Continue").click()  # the current run goes on past the saved one
            time.sleep(1)
            page.get_by_role("button", name="❚❚ Pause").click()
            expect(page.get_by_role("button", name="▶ Resume")).to_be_visible(timeout=30_000)
            box("Seeds").fill("2")
            box("Seeds").press("Enter")
            page.get_by_role("button", name="Repeat over seeds").click()
            expect(page.get_by_text("Started 4 trials", exact=False)).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Done: 4 trials", exact=False)).to_be_visible(timeout=180_000)
            page.wait_for_function(
                """() => [...document.querySelectorAll('.explorer-dashboard svg.marks')]
                        .some(s => s.textContent.includes('run 1: same settings (2 seeds)'))""",
                timeout=30_000,
            )
            shoot_charts(page, "voila-seeds", ["comparison", "bands", "paired"])
        finally:
            browser.close()
    real = [p for p in problems if not any(n.lower() in p.lower() for n in NOISE)]
    assert not real, real


def test_a_voila_lesson_shows_no_outcome_until_the_prediction_is_committed_then_fixes_it(tmp_path):
    """Lesson 1 as Voilà serves it: every cell has run, yet no run, verdict or explanation is on the page until
    the reader commits an answer; then the experiment trains, the verdict is the one the runs printed, and the
    answer can no longer change. The lesson's second question stays closed until it is committed too."""
    from playwright.sync_api import expect, sync_playwright

    verdicts = ("The runs say", "Right:", "Not this time")
    with voila("notebooks/01_overfitting.ipynb", {"EXPLORER_HOME": str(tmp_path)}) as url, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        try:
            page.goto(url, timeout=120_000)
            commit = page.get_by_role("button", name="Commit my answers and run")
            expect(commit).to_have_count(2, timeout=120_000)  # both questions drawn: every cell has run
            page.wait_for_selector(".explorer-dashboard", timeout=60_000)  # down to the last cell
            time.sleep(2)  # a kernel that trained on load would have drawn by now
            text = page.inner_text("body")
            assert not any(v in text for v in verdicts), "a verdict before any answer"
            assert "runs done" not in text and "Run 1/" not in text, "the experiment ran before the answer"
            assert "learned by heart" not in text and "harder than the training text" not in text, "explained first"
            page.screenshot(path=str(ARTIFACTS / "voila-lesson-before.png"))

            commit.first.click()  # no answer yet: nothing starts
            expect(page.get_by_text("Pick an answer to every question first")).to_be_visible(timeout=10_000)
            first = page.locator(".widget-radio-box").first
            first.get_by_text("only the 5 % run", exact=True).click()
            commit.first.click()
            expect(page.get_by_text("Running the experiment below")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("Done: the verdicts are above")).to_be_visible(timeout=300_000)

            verdict = page.get_by_text("you predicted “only the 5 % run”", exact=False).first.inner_text()
            printed = [line for line in page.inner_text("body").splitlines() if "you predicted" in line]
            assert len(set(printed)) == 1 and printed[0].strip() == verdict.strip(), (verdict, printed)
            assert verdict.startswith(("Right:", "Not this time:"))
            assert "learned by heart" in page.inner_text("body")  # the explanation comes after the verdict
            radios = first.locator("input")
            assert all(radios.nth(i).is_disabled() for i in range(radios.count()))
            assert first.locator("input:checked").evaluate("r => r.parentElement.textContent") == "only the 5 % run"
            assert commit.first.is_disabled() and not commit.nth(1).is_disabled()  # the second is still open
            assert "harder than the training text" not in page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "voila-lesson-after.png"))
        finally:
            browser.close()
    assert not problems, problems
