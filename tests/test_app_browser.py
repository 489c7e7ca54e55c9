"""The classroom app in a real browser: a real `streamlit run` server and headless Chromium.

One walk through what a teacher does: open the link, press Train, watch the charts grow, nudge the
dropout slider and see the change marked on the gap chart, download the history, close the tab and
see the server stop the run. Screenshots go to artifacts/ (git-ignored)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.app_server import (CHROMIUM, ROOT, StreamlitServer, gap_chart_text, launch_chromium, status_text,
                              step_of, tiny_query, wait_until)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} "
                                 "(apt-get install chromium; scripts/ensure_chromium.sh does it as root)")]
ARTIFACTS = ROOT / "artifacts"


def test_a_lesson_in_a_real_browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with StreamlitServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.set_default_timeout(60_000)

        page.goto(server.link(**tiny_query()))
        train = page.get_by_role("button", name="▶ Train", exact=True)
        train.wait_for(timeout=90_000)
        assert wait_until(lambda: "Ready: press Train." in status_text(page), 30)

        # Train: the status line and the gap chart refresh by themselves (st.fragment run_every).
        train.click()
        assert wait_until(lambda: step_of(status_text(page)) >= 10, 60), status_text(page)
        step, drawn = step_of(status_text(page)), gap_chart_text(page)
        assert wait_until(lambda: step_of(status_text(page)) >= step + 20 and gap_chart_text(page) != drawn, 60)
        assert "validation" in gap_chart_text(page)

        # A live knob: one notch right on the dropout slider is marked on the chart, and the run goes on.
        slider = page.locator(".st-key-dropout").get_by_role("slider")
        slider.focus()
        slider.press("ArrowRight")
        assert wait_until(lambda: "dropout 0 → 0.05" in gap_chart_text(page), 30), gap_chart_text(page)
        assert "dropout=0.05" in page.url  # the link now reproduces the knob
        step = step_of(status_text(page))
        assert wait_until(lambda: step_of(status_text(page)) > step + 5, 30)
        page.screenshot(path=str(ARTIFACTS / "app-browser-training.png"))

        # The history as CSV, built when clicked.
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("history.csv")).click()
        header = Path(download.value.path()).read_text().splitlines()[0]
        assert header.startswith("step,epoch,train_loss") and "dropout" in header
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("gap.png")).click()
        assert Path(download.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in page.content() and not page_errors, page_errors

        # Closing the tab ends the run on the server within seconds (the LiveRun's watchdog).
        page.close()
        assert wait_until(lambda: "run stopped (viewer left)" in server.output(), 20), server.output()

        # A run that reaches its last step stops refreshing and hands the buttons back by itself.
        page = context.new_page()
        page.goto(server.link(**tiny_query(steps=60)))
        page.get_by_role("button", name="▶ Train", exact=True).click()
        assert wait_until(lambda: "Finished: step 60" in status_text(page), 60), status_text(page)
        assert wait_until(lambda: page.get_by_role("button", name="▶ Train", exact=True).is_enabled(), 30)
        assert page.get_by_role("button", name="Pause", exact=True).is_disabled()
        page.screenshot(path=str(ARTIFACTS / "app-browser-finished.png"))
        assert page.locator("[data-testid='stException']").count() == 0 and not page_errors, page_errors
        browser.close()
