"""A class in real browsers: one real server in class mode, the teacher and three students in separate
Chromium contexts (separate cookies and sessions, as on separate laptops)."""

from __future__ import annotations

import time

from tests.app_server import StreamlitServer, launch_chromium, status_text, step_of, tiny_query, wait_until

TOKEN = "test-teacher-token-0123456789"
EVIL = "<img src=x onerror=pwned=1>"  # 27 characters: names are cut at 32


def student(browser, server, name: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.link(**tiny_query()))
    page.locator(".st-key-join_name input").fill(name)
    page.get_by_role("button", name="Join the class").click()
    page.get_by_role("button", name="▶ Train", exact=True).wait_for(timeout=90_000)
    return page


def pick(page, key: str, option: str) -> None:
    """Choose `option` in the select or multiselect `key`, as a teacher would: type it, press Enter."""
    box = page.locator(f".st-key-{key} input")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_a_teacher_and_three_students_on_one_server():
    from playwright.sync_api import sync_playwright

    env = {"EXPLORER_CLASS": "7B", "EXPLORER_CLASS_TOKEN": TOKEN, "EXPLORER_MAX_RUNS": "2"}
    with StreamlitServer(env=env) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        teacher = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        teacher.set_default_timeout(60_000)
        teacher.goto(server.link(teacher=TOKEN))
        teacher.get_by_text("the teacher's page").wait_for(timeout=90_000)
        assert wait_until(lambda: TOKEN not in teacher.url, 10), teacher.url  # off the projected address bar

        ada, evil, cy = (student(browser, server, name) for name in ("Ada", EVIL, "Cy"))
        for page in (ada, evil, cy):
            page.get_by_role("button", name="▶ Train", exact=True).click()
            time.sleep(0.5)
        # two train, the third waits its turn and says so
        assert wait_until(lambda: step_of(status_text(ada)) >= 1 and step_of(status_text(evil)) >= 1, 60)
        assert wait_until(lambda: "Waiting for a free slot: 0 ahead" in cy.content(), 20)

        # the teacher sees them within 5 s: names as text (the script-like one shown, not run)
        seen = time.monotonic()
        assert wait_until(lambda: "Ada" in teacher.inner_text("body") and EVIL in teacher.inner_text("body"), 30)
        assert time.monotonic() - seen < 5 + 2  # + the store's one-second flush and a refresh

        def counts() -> str:
            return next((line for line in teacher.inner_text("body").splitlines() if "joined" in line), "")

        assert wait_until(lambda: "3 joined · 2 training · 1 waiting" in counts(), 5), counts()
        assert teacher.evaluate("() => window.pwned") is None
        assert evil.evaluate("() => window.pwned") is None

        # Ada pauses: her slot goes to Cy, who was first in line
        ada.get_by_role("button", name="❚❚ Pause", exact=True).click()
        assert wait_until(lambda: step_of(status_text(cy)) >= 1, 60), status_text(cy)

        # the teacher sets a lesson and locks dropout: every student's page follows
        pick(teacher, "lesson_preset", "dropout")
        pick(teacher, "lesson_locked", "dropout")
        teacher.get_by_role("button", name="Set for the class").click()
        teacher.get_by_text("Set: the students' pages follow").wait_for()
        for page in (ada, evil, cy):
            locked = page.locator(".st-key-dropout [role='group'][data-disabled='true']")
            assert wait_until(lambda locked=locked: locked.count() == 1, 10)
            slider = page.locator(".st-key-dropout")
            assert wait_until(lambda slider=slider: "0.50" in slider.inner_text(), 10), slider.inner_text()
            assert wait_until(lambda page=page: "lesson dropout" in page.inner_text("body"), 10)
        # a locked knob does not move, whatever the page sends: the slider is disabled and the session refuses it
        thumb = ada.locator(".st-key-dropout").get_by_role("slider")
        thumb.focus()
        thumb.press("ArrowLeft")
        time.sleep(2)
        assert "0.50" in ada.locator(".st-key-dropout").inner_text()

        # without the token: the student's join page, no class data
        stranger = browser.new_context().new_page()
        for link in (server.link(teacher="wrong"), server.link(teacher=TOKEN[:-1]), server.link()):
            stranger.goto(link)
            stranger.get_by_role("button", name="Join the class").wait_for(timeout=60_000)
            text = stranger.inner_text("body")
            assert "teacher's page" not in text and "Ada" not in text and "Cy" not in text
        browser.close()


def test_a_student_back_after_the_class_restarts_has_her_seat_without_joining_again(tmp_path):
    """The class's server stops and starts again with the same name and store (a crash, a power cut): the
    student's reload finds her seat, as Ada, with no join page; a new browser still has to join."""
    from playwright.sync_api import sync_playwright

    env = {"EXPLORER_CLASS": "7B", "EXPLORER_CLASS_TOKEN": TOKEN, "EXPLORER_HOME": str(tmp_path)}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        with StreamlitServer(env=env) as server:
            ada = student(browser, server, "Ada")
        with StreamlitServer(env=env) as server:  # cookies are the host's, whatever the port
            ada.goto(server.link(**tiny_query()))
            ada.get_by_role("button", name="▶ Train", exact=True).wait_for(timeout=90_000)
            assert "Join the class" not in ada.inner_text("body")
            newcomer = browser.new_context().new_page()
            newcomer.goto(server.link())
            newcomer.get_by_role("button", name="Join the class").wait_for(timeout=60_000)
            ada.get_by_role("button", name="▶ Train", exact=True).click()  # her new run is Ada's, on the board
            teacher = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            teacher.goto(server.link(teacher=TOKEN))
            assert wait_until(lambda: "Ada" in teacher.inner_text("body"), 60)
        browser.close()
