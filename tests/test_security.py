"""A class that one hostile student cannot break. Each attack a hostile student was seen to make against a real
`explorer class` server is replayed here and must fail: over a raw websocket (Streamlit's own protobuf
messages, so the test sends what no widget would), over plain HTTP, and in Chromium where only a browser shows
what a page renders. See docs/security.md for the threat model these tests hold the code to."""

from __future__ import annotations

import http.client
import re
import uuid

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState

from explorer.classroom.seats import ClassError, Classroom, Lesson
from explorer.core.data import MAX_UPLOAD_MIB, save_upload
from explorer.page.controls import check_from_page
from explorer.page.links import parse_link
from explorer.page.session import Session
from explorer.runs.live import LiveRun
from explorer.spec.errors import ConfigError, ExplorerError
from tests.app_server import StreamlitServer, children_of, launch_chromium, tiny_query, wait_until
from tests.conftest import tiny
from tests.raw_client import RawClient, text

TOKEN = "security-test-teacher-token-0123"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("class")
    env = {
        "EXPLORER_CLASS": "7B",
        "EXPLORER_CLASS_TOKEN": TOKEN,
        "EXPLORER_MAX_RUNS": "2",
        "EXPLORER_HOME": str(home),
        "EXPLORER_UPLOADS": str(home / "uploads"),
    }
    with StreamlitServer(env=env) as running:
        yield running


def student(server, name: str, **query) -> RawClient:
    client = RawClient(server.url, tiny_query(**query))
    client.rerun()
    client.click("join", join_name=text(name))
    assert f"you are **{name}**" in client.texts(), client.texts()
    return client


def teacher(server) -> RawClient:
    client = RawClient(server.url, {"teacher": TOKEN})
    client.rerun()
    assert "the teacher's page" in client.texts()
    return client


def threads_and_children(pid: int) -> tuple[int, int]:
    """The server's threads, and its child processes (a worker, a forkserver)."""
    with open(f"/proc/{pid}/status") as status:
        threads = int(re.search(r"Threads:\s+(\d+)", status.read()).group(1))
    return threads, len(children_of(pid))


# ---------------------------------------------------------------------------------------- against a real server
def test_a_clear_cache_message_resets_nothing_and_starts_nothing(server):
    boss = teacher(server)
    boss.click(
        "set_lesson",
        lesson_preset=text("dropout"),
        lesson_locked=WidgetState(string_array_value={"data": ["dropout"]}),
        lesson_challenge=text("keep the gap under 0.1"),
    )
    assert "Set: the students' pages follow" in boss.texts()
    ada = student(server, "Ada")
    assert "keep the gap under 0" in ada.texts()
    before = threads_and_children(server.process.pid)

    for _ in range(50):  # the attack: clear_cache, then any rerun; from a page that never joined
        attacker = RawClient(server.url)
        attacker.rerun()
        attacker.clear_cache()
        attacker.rerun()
        attacker.close()
    ada.clear_cache()
    ada.rerun()

    assert "keep the gap under 0" in ada.texts() and "you are **Ada**" in ada.texts()  # the lesson and the seat stay
    ada.rerun(dropout=WidgetState(double_array_value={"data": [0.0]}))  # a knob the teacher locked
    dropout = ada.widget("dropout")
    assert dropout.disabled and list(dropout.value) == [0.5], dropout  # the run keeps the lesson's value
    boss.rerun()
    assert "**1** joined" in boss.texts(), boss.texts()
    assert wait_until(lambda: "refused a clear_cache message" in server.output(), 5)
    threads, children = threads_and_children(server.process.pid)
    assert children == before[1], "a connection that never joined started a process"
    assert threads <= before[0] + 4, (before, threads)  # 51 connections later: no thread left per connection
    assert TOKEN.encode() not in ada.received


def test_a_page_cannot_name_a_server_file_as_its_corpus(server):
    eve = student(server, "Eve")
    answers = []
    for path in ("/etc/passwd", "/no/such/file.txt", "/etc", "../../etc/passwd"):
        eve.rerun(corpus=text(path))  # a value outside the select's options, straight over the websocket
        answers.append(re.sub(r"\\(.)", r"\1", eve.texts()))
        assert "that corpus is not offered here" in answers[-1]
    # the same words whether the path exists, is a folder or is nothing: nothing is learnt of the disk
    assert len({a.split("that corpus")[1].split("\n")[0] for a in answers}) == 1
    linked = RawClient(server.url, tiny_query() | {"corpus": "/etc/passwd"})
    linked.rerun()
    linked.click("join", join_name=text("Mal"))
    assert "is not available from a link" in linked.texts()
    assert TOKEN.encode() not in eve.received + linked.received


def test_a_link_cannot_build_a_model_beyond_the_widgets(server):
    big = RawClient(server.url, tiny_query(hidden=4096))
    big.rerun()
    big.click("join", join_name=text("Big"))
    said = re.sub(r"\\(.)", r"\1", big.texts())
    assert "hidden 4096 is outside what a page may ask for (16 to 512); using 128" in said, said


def test_a_bad_teacher_token_is_a_wrong_token_and_no_traceback(server):
    for query in ({"teacher": "é"}, {"teacher": "\x00" * 40}, {"teacher": TOKEN + "x"}):
        page = RawClient(server.url, query)
        page.rerun()
        assert not page.has("exception") and "join to train your own run" in page.texts()
        assert TOKEN.encode() not in page.received


def test_an_upload_over_the_limit_is_refused_before_the_server_holds_it(server):
    """Its headers alone are answered 413: not one byte of the body is read, so none is held."""
    page = RawClient(server.url)
    page.rerun()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("PUT", f"/_stcore/upload_file/{page.session_id}/{uuid.uuid4()}")
    for name, value in (
        ("Content-Type", "multipart/form-data; boundary=x"),
        ("Content-Length", str((MAX_UPLOAD_MIB + 1) * 2**20)),
        ("X-Xsrftoken", page.xsrf),
        ("Cookie", f"_streamlit_xsrf={page.xsrf}"),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()
    small = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nhello\r\n--x--\r\n'
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request(  # a page that never joined may not park even a small file in the server's memory
        "PUT",
        f"/_stcore/upload_file/{page.session_id}/{uuid.uuid4()}",
        body=small,
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "X-Xsrftoken": page.xsrf,
            "Cookie": f"_streamlit_xsrf={page.xsrf}",
        },
    )
    connection.getresponse().read()
    assert wait_until(lambda: f"refused an upload from session {page.session_id[:8]}" in server.output(), 10)


def read(page) -> str:
    """A page's text as a reader reads it (the zero-width spaces that keep an address from linking aside)."""
    return page.inner_text("body").replace("\u200b", "")


def test_markdown_from_a_link_a_name_or_a_file_name_is_shown_as_text_and_two_tabs_are_one_seat(server):
    from playwright.sync_api import sync_playwright

    phishing = "[Log in again to keep your run](http://evil.example/login) _www.evil.example x_https://evil.example"
    pixel = "![t](http://127.0.0.1:9/pixel.png)"
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        board = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
        board.set_default_timeout(60_000)
        board.goto(server.link(teacher=TOKEN))
        board.get_by_text("the teacher's page").wait_for(timeout=90_000)

        laptop = browser.new_context(viewport={"width": 1280, "height": 900})
        tab = laptop.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(server.link(**tiny_query(), preset=phishing, lock=pixel))
        tab.locator(".st-key-join_name input").fill("www.evil.example")
        tab.get_by_role("button", name="Join the class").click()
        tab.get_by_role("button", name="▶ Train", exact=True).wait_for(timeout=90_000)
        assert wait_until(lambda: "Log in again to keep your run" in tab.inner_text("body"), 20)
        tab.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
            files=[{"name": "[x](http://evil.example).txt", "mimeType": "text/plain", "buffer": b"\x00\x01binary"}]
        )
        assert wait_until(lambda: "looks binary" in tab.inner_text("body"), 20)

        second = laptop.new_page()  # the same browser's second tab: the same seat, no second join
        second.set_default_timeout(60_000)
        second.goto(server.link(**tiny_query()))
        assert wait_until(lambda: "you are www.evil.example" in read(second), 60)
        assert second.locator(".st-key-join_name").count() == 0

        second.get_by_role("button", name="▶ Train", exact=True).click()  # on the board once it trains
        assert wait_until(lambda: "www.evil.example" in read(board), 30)
        for page in (tab, second, board):
            links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            assert not [href for href in links if "evil" in href or "pixel" in href], links
            assert page.locator("img[src*='pixel']").count() == 0
        names = [line for line in read(board).splitlines() if "www.evil.example" in line]
        assert names and board.locator("[data-testid='stTable'] a").count() == 0
        browser.close()


# ---------------------------------------------------------------------------------------- where values are applied
def test_the_worker_of_a_page_refuses_any_corpus_but_the_shipped_ones_and_uploads(tmp_path):
    uploads = tmp_path / "uploads"
    good = save_upload(b"to be or not to be, that is the question " * 300, uploads, "hamlet.txt")
    outside = tmp_path / "notes.txt"
    outside.write_text("secret " * 2000)
    run = LiveRun(tiny(), store=False)
    run.uploads = str(uploads)
    try:
        for corpus in (str(outside), "/etc/passwd", str(uploads / ".." / outside.name)):
            with pytest.raises(ExplorerError, match="not offered here"):
                run.start(tiny(corpus=corpus), paused=True)
        run.start(tiny(corpus=str(good)), paused=True)
        run.start(tiny(corpus="tinyshakespeare"), paused=True)
    finally:
        run.close()


def test_a_session_applies_only_values_its_page_offers(tmp_path):
    session = Session(tiny(), source="app", owner="page", store=False, uploads=tmp_path)
    try:
        for values, said in (
            ({"corpus": "/etc/passwd"}, "that corpus is not offered here"),
            ({"hidden": 4096}, "hidden 4096 is outside what a page may ask for (16 to 512)"),
            ({"batch_size": 1_000}, "batch_size 1000 is outside"),
            ({"eval_batches": 10_000}, "eval_batches 10000 is outside"),
        ):
            session.act(session.set_knobs, values)
            assert session.flash is not None and said in session.flash.text
        assert session.wanted.corpus == "tinyshakespeare" and session.wanted.hidden == 16
        session.act(session.upload, "mine.txt", b"a text of my own, long enough to train on. " * 400)
        assert session.flash is None and session.wanted.corpus.startswith(str(tmp_path))
        session.act(session.set_knobs, {"hidden": 512, "corpus": "recall"})
        assert session.flash is None and session.wanted.hidden == 512
        for length, prompt in ((10**9, "ROMEO:"), (300, "x" * 10**6), (-5, "")):  # what no sample panel offers
            text, problem = session.sample(prompt, length, 0.8, 0)
            assert text is None and "a sample is at most 1,000 tokens" in problem.text
    finally:
        session.close()


def test_a_page_cannot_ask_for_an_output_layer_that_takes_the_servers_memory(tmp_path):
    run = LiveRun(tiny(), store=False)
    run.uploads = str(tmp_path)  # a page's run
    try:
        with pytest.raises(ExplorerError, match=r"batch 64 × sequence 128 × vocabulary 10,000 is 81,920,000"):
            run.start(tiny(level="word", batch_size=64, seq_len=128, train_fraction=1.0), paused=True)
        run.start(tiny(level="word", batch_size=32, seq_len=64, train_fraction=1.0), paused=True)  # the widgets' own
    finally:
        run.close()


def seated(room: Classroom, key: str, name: str, address: str, **knobs) -> Session:
    session = Session(tiny(steps=100_000, **knobs), source="app", owner=key, store=room.store_path, warm=False)
    session.join_class(room, room.join(key, name, session, lambda: True, address=address))
    return session


def test_one_computer_trains_one_run_whatever_its_browsers(tmp_path):
    room = Classroom("7B", max_runs=3, store_path=str(tmp_path / "runs.sqlite"))
    first, private_window = seated(room, "k1", "Ada", "10.0.0.5"), seated(room, "k2", "Ada again", "10.0.0.5")
    other = seated(room, "k3", "Bo", "10.0.0.6")
    try:
        first.act(first.train)
        assert wait_until(lambda: first.run.status == "running", 30)
        private_window.act(private_window.train)
        assert "another page on your computer already has a run" in private_window.flash.text
        assert private_window.waiting() is None and private_window.run.status == "idle"
        other.act(other.train)  # another computer trains as usual
        assert wait_until(lambda: other.run.status == "running", 30)
        first.act(first.pause_or_resume)  # a paused run still holds its process: still one run per computer
        private_window.act(private_window.train)
        assert "already has a run" in private_window.flash.text and private_window.run.status == "idle"
        first.close()  # that browser closed (its watchdog stops the run): the other may train
        private_window.act(private_window.train)
        assert wait_until(lambda: private_window.run.status == "running", 30), private_window.flash
        with pytest.raises(ClassError, match="this computer already has 2 seats"):
            seated(room, "k4", "Ada's script", "10.0.0.5")
    finally:
        for session in (first, private_window, other):
            session.close()


def test_a_full_class_frees_the_seats_of_students_gone_or_refuses_one_more(tmp_path):
    room = Classroom("7B", max_runs=1, store_path=str(tmp_path / "runs.sqlite"), max_seats=2)
    here = {"a": True, "b": True}
    sessions = []
    for key in "ab":
        session = Session(tiny(), source="app", owner=key, store=room.store_path, warm=False)
        room.join(key, key.upper(), session, lambda key=key: here[key])
        sessions.append(session)
    late = Session(tiny(), source="app", owner="c", store=room.store_path, warm=False)
    try:
        with pytest.raises(ClassError, match="the class is full"):
            room.join("c", "C", late, lambda: True)
        here["a"] = False  # A's pages have gone and A's run neither trains nor waits: the seat is freed
        assert room.join("c", "C", late, lambda: True).name == "C" and set(room.seats) == {"b", "c"}
    finally:
        for session in (*sessions, late):
            session.close()


def test_a_knob_the_lesson_hides_takes_the_lessons_value_whatever_the_link_said(tmp_path):
    room = Classroom("7B", store_path=str(tmp_path / "runs.sqlite"))
    session = seated(room, "k1", "Ada", "10.0.0.5", lr=3.0)  # ?lr=3 in the student's link
    try:
        session.follow(room.set_lesson(room.token, Lesson(hidden=("lr",))))
        assert session.wanted.lr == 2e-3 and not session.movable("lr")
    finally:
        session.close()


def test_a_seat_that_never_trains_holds_no_worker_process(tmp_path):
    room = Classroom("7B", store_path=str(tmp_path / "runs.sqlite"))
    session = seated(room, "k1", "Ada", "10.0.0.5")
    try:
        assert session.run._warm is None and session.run._worker is None
        session.act(session.train)
        assert wait_until(lambda: session.run.status == "running", 30), session.flash
        assert session.run._warm is None  # and one that trains holds its run's process, no spare beside it
    finally:
        session.close()


def test_a_challenges_parameter_limit_is_enforced_before_the_run_trains(tmp_path):
    room = Classroom("7B", max_runs=2, store_path=str(tmp_path / "runs.sqlite"))
    session = Session(tiny(steps=100_000), source="app", owner="page", store=room.store_path)
    try:
        seat = room.join("seat-key", "Ada", session, lambda: True)
        session.join_class(room, seat)
        session.follow(room.set_lesson(room.token, Lesson(max_params=1_000, challenge="small")))
        session.act(session.train)
        assert wait_until(lambda: session.flash is not None and "challenge" in session.flash.text, 30), session.flash
        assert re.search(r"has [\d,]{5,} parameters; the challenge allows at most 1,000", session.flash.text)
        assert session.run.status == "idle" and session.run.run_id is None
        session.follow(room.set_lesson(room.token, Lesson(max_params=100_000, challenge="small")))
        session.act(session.train)
        assert wait_until(lambda: session.run.status == "running", 30), session.flash
        session.follow(room.set_lesson(room.token, Lesson(max_params=1_000, challenge="smaller")))  # while it trains
        assert session.run.status == "paused" and "the challenge allows at most 1,000" in session.flash.text
        session.act(session.train)  # Continue does not get round it
        assert wait_until(lambda: session.flash is not None and "challenge" in session.flash.text, 30)
        assert session.run.status == "paused"
    finally:
        session.close()


def test_a_session_holds_one_upload_in_the_servers_memory():
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    from explorer.faces.streamlit.parts import harden_server

    harden_server()
    manager = MemoryUploadedFileManager("/upload")
    for n in range(5):
        manager.add_file("page", UploadedFileRec(f"file-{n}", "x.txt", "text/plain", b"x" * 1000))
    manager.add_file("other", UploadedFileRec("file-a", "y.txt", "text/plain", b"y" * 10))
    assert [f.file_id for f in manager.get_files("page", [f"file-{n}" for n in range(5)])] == ["file-4"]
    assert len(manager.get_files("other", ["file-a"])) == 1


def test_a_session_from_a_link_cannot_exceed_the_widgets():
    link = parse_link({"hidden": "4096", "embed_size": "9999", "eval_batches": "5000", "dropout": "0.5"})
    assert (link.config.hidden, link.config.embed, link.config.dropout) == (128, 64, 0.5)
    assert any("hidden 4096 is outside" in p for p in link.problems)
    assert any("eval_batches 5000 is outside" in p for p in link.problems)
    with pytest.raises(ConfigError):
        check_from_page("layers", 4)
