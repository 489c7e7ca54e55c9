"""Whose page this is: one `Session` per browser session, set up by the link; in a class, a seat first (its
join page, its cookie), and the seat's Session shared by that browser's tabs. Also what the page follows
from elsewhere: the teacher's lesson, and knobs another tab of the same seat moved."""

from __future__ import annotations

import streamlit as st
from streamlit import runtime
from streamlit.runtime.runtime import RuntimeState
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.classroom.seats import Classroom, Pages
from explorer.faces.streamlit.parts import markdown_text, seat_key
from explorer.page.links import parse_link
from explorer.page.panels import NO_PRESET
from explorer.page.session import Session
from explorer.page.watchdog import ViewerWatchdog
from explorer.spec.errors import ExplorerError

ss = st.session_state
SERVER_ENDING = (RuntimeState.STOPPING, RuntimeState.STOPPED)


def page_id() -> str:
    """This page's Streamlit session id ("local" outside a server)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else "local"


def page_open(page: str) -> bool:  # called from the run's reader thread: a thread-safe runtime call only
    """Is this page still there? While the server is stopping (a SIGTERM to `explorer class`) its pages count as
    there: the runtime closes every session before the process ends, and a watchdog that took that for the
    viewers leaving would record their runs as stopped instead of interrupted by the server's end."""
    if not runtime.exists():
        return True
    instance = runtime.get_instance()
    return instance.state in SERVER_ENDING or instance.is_active_session(page)


def on_leave(page: str):
    """What the watchdog does when it gives up on `page`: log it (the tests and a teacher read the log)."""
    return lambda: print(f"explorer: run stopped (viewer left) session={page[:8]}", flush=True)


def new_session(watchdog: ViewerWatchdog, warm: bool = True) -> Session:
    """A viewer's Session, set up by the link (each value checked: a link is as untrusted as a widget).
    `warm=False`: its worker process starts at its first Train, not now (a class: a seat that never trains
    holds no process)."""
    link = parse_link(st.query_params.to_dict())
    return Session(
        link.config,
        source="app",
        owner=page_id(),
        locked=link.locked_values,
        hidden=frozenset(link.hidden),
        preset=link.preset,
        notices=link.problems,
        watchdog=watchdog,
        warm=warm,
    )


def draw_session(session: Session) -> None:
    """This page draws `session` from now on: its widgets start at what it wants."""
    ss.session = session
    ss.update(session.widget_state(), preset=session.preset or NO_PRESET)
    ss.setdefault("projector", False)


def join_class(classroom: Classroom, name: str, teacher_token: str | None) -> None:
    """This browser takes a seat: only now does it get a Session (and so a worker process)."""
    page = page_id()
    pages = Pages(page_open)
    pages.add(page)
    session = new_session(ViewerWatchdog(pages, grace_s=0, on_leave=on_leave(page)), warm=False)  # Pages: the grace
    try:
        seat = classroom.join(
            ss.seat_key, name, session, pages, teacher_token=teacher_token, address=st.context.ip_address or ""
        )
    except ExplorerError as err:
        session.close()
        ss.join_problem = str(err)
        return
    session.join_class(classroom, seat)
    draw_session(session)


def join_page(classroom: Classroom, teacher_token: str | None) -> None:
    """A class's page before its browser has a seat: another tab of a seated browser finds its seat, the
    teacher takes one at once, a student joins with a name (the page stops here until they do)."""
    if "seat_key" not in ss:  # once per browser session: a key made again on a rerun (typing a name) would race
        ss.seat_key, ss.seat_cookie = seat_key(st.context.cookies)  # the cookie the page last set
    if ss.seat_cookie:  # drawn on every run until the join, so the page surely ran it (a server-made key only)
        st.html(ss.seat_cookie, unsafe_allow_javascript=True)
    if (seat := classroom.seat_for(ss.seat_key)) is not None:  # another tab, or a reload, of a seated browser
        seat.present.add(page_id())
        draw_session(seat.session)
    elif classroom.is_teacher(teacher_token) or classroom.returning(ss.seat_key):
        join_class(classroom, "", teacher_token)  # the teacher's own run, or a seat the class kept over a restart
    else:
        st.markdown(f"### Class {markdown_text(classroom.name)}: join to train your own run")
        if problem := ss.pop("join_problem", None):
            st.error(markdown_text(problem))
        st.text_input("Your name (optional: you get an animal's otherwise)", key="join_name", max_chars=32)
        st.button(
            "Join the class",
            type="primary",
            key="join",
            on_click=lambda: join_class(classroom, ss.join_name, teacher_token),
        )
        st.stop()


def this_pages_session(classroom: Classroom | None, teacher_token: str | None) -> Session:
    """The Session this page draws, made at its first run (in a class, once it has a seat)."""
    if "session" not in ss:
        if classroom is not None:
            join_page(classroom, teacher_token)
        else:  # a new browser session: the link sets everything
            page = page_id()
            draw_session(new_session(ViewerWatchdog(lambda: page_open(page), on_leave=on_leave(page))))
    session: Session = ss.session
    if classroom is not None and session.lesson_version != classroom.lesson.version:  # the teacher set a lesson
        session.follow(classroom.lesson)
        ss.preset = session.preset or NO_PRESET
    if ss.get("drawn_wanted") is not session.wanted:  # moved elsewhere (the lesson, another tab): the widgets follow
        ss.update(session.widget_state())
        ss.drawn_wanted = session.wanted
    return session
