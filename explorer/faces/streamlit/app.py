"""explorer — the classroom app: train a small RNN language model live and steer it with the sidebar.

    make app        (= .venv/bin/streamlit run streamlit_app.py --browser.gatherUsageStats=false)
    explorer app    (an installed package: `streamlit run` of entry.py beside this file)

It only draws: the widgets come from `explorer.page.controls` and `explorer.page.panels`, every decision
(links, presets, uploads, buttons, messages, sweeps) from one `explorer.page.session.Session` per browser
session, the charts from `explorer.views.registry`. The run trains in its own worker process, a sweep's
trials in theirs; the whole setup lives in the URL.

Streamlit runs the entry script again on every interaction, so `main()` draws the whole page each time;
what must outlive a run lives in `st.session_state` (the Session above all).
"""

from __future__ import annotations

import streamlit as st

from explorer.classroom.seats import Classroom, the_classroom
from explorer.faces.streamlit.downloads import downloads
from explorer.faces.streamlit.jobs import job_says
from explorer.faces.streamlit.live import live_area, page_state
from explorer.faces.streamlit.parts import harden_server, markdown_text, say
from explorer.faces.streamlit.seating import this_pages_session
from explorer.faces.streamlit.sidebar import sidebar
from explorer.faces.streamlit.teacher_page import teacher_page
from explorer.page.guesses import GUESSES
from explorer.page.panels import JOB_CHARTS
from explorer.page.session import Session

ss = st.session_state
STYLE = (
    "<style>[data-testid='stMainBlockContainer'] {{padding-top: 1rem; padding-bottom: 1rem}} "
    "[data-testid='stMainBlockContainer'] p {{font-size: {size}}} "
    # half the space between the parts: the gap chart whole, its step axis too, on 1024×768
    "[data-testid='stMainBlockContainer'] [data-testid='stVerticalBlock'] {{gap: 0.5rem}} "
    ".st-key-buttons button {{padding-left: 0.5rem; padding-right: 0.5rem}}</style>"  # six in a row at 1024 px
)


def teacher_token(classroom: Classroom | None) -> str | None:
    """The class's teacher token this browser session holds, taken off the address bar at once (it is
    projected), or None."""
    if classroom is not None and classroom.is_teacher(st.query_params.get("teacher")):
        ss.teacher_token = st.query_params.pop("teacher")
    return ss.get("teacher_token")


def header(session: Session, classroom: Classroom | None) -> None:
    st.html(STYLE.format(size="1.3rem" if ss.projector else "1rem"))
    st.markdown("**explorer** — watch an RNN language model overfit, then fix it live")
    if classroom is None:
        return
    if session.seat.teacher:
        st.button("← The class", key="to_class", on_click=lambda: ss.update(teacher_view="class"))
    lesson = classroom.lesson
    st.markdown(
        f"Class **{markdown_text(classroom.name)}** · you are **{markdown_text(session.seat.name)}**"
        + (f" · lesson **{lesson.preset}**" if lesson.preset else "")
    )
    if lesson.challenge:
        limit = f" (at most {lesson.max_params:,} parameters)" if lesson.max_params else ""
        st.info(f"Challenge: {markdown_text(lesson.challenge)}{limit}", icon=":material/flag:")


def prediction_skipped(session: Session) -> None:
    session.skip_prediction()
    ss.update(session.widget_state())  # the knobs go back to what the run has


def predict_box(session: Session) -> None:
    """Predict, then observe: a held knob move waits for the student's guess."""
    with st.container(border=True, key="predict"):
        st.markdown(f"**{markdown_text(session.question)}** ({markdown_text(session.pending_move())})")
        with st.container(horizontal=True):
            for guess, words in GUESSES.items():
                st.button(f"It will {words}", key=f"guess_{guess}", on_click=session.act, args=(session.answer, guess))
            st.button("Never mind", key="guess_skip", on_click=prediction_skipped, args=(session,), type="tertiary")


def button_row(session: Session) -> None:
    """Train, Pause, Reset, Branch, Save, Clear: labels and states from the session."""
    buttons = session.buttons()
    with st.container(horizontal=True, gap="xsmall", key="buttons"):
        for key, action, kind in (
            ("train", session.train, "primary"),
            ("pause", session.pause_or_resume, "secondary"),
            ("reset", session.reset, "secondary"),
            ("branch", session.branch, "secondary"),
            ("save", session.save, "secondary"),
            ("clear", session.clear_saved, "secondary"),
        ):
            button = buttons[key]
            st.button(
                button.label,
                key=key,
                type=kind,
                help=button.help,
                disabled=not button.enabled,
                on_click=session.act,
                args=(action,),
            )


def main() -> None:
    """Draw the whole page for this browser session (Streamlit calls it on every interaction)."""
    st.set_page_config(page_title="explorer — watch an RNN overfit", page_icon="📉", layout="wide")
    classroom = the_classroom()
    harden_server(None if classroom is None else classroom.seated)  # no client resets the server or parks uploads
    token = teacher_token(classroom)
    if classroom is not None and classroom.is_teacher(token) and ss.get("teacher_view", "class") == "class":
        teacher_page(classroom, token)  # the token is checked again by every read and action it makes
        return
    session = this_pages_session(classroom, token)
    sidebar(session, classroom)
    if (query := session.link()) != st.query_params.to_dict():
        st.query_params.from_dict(query)  # the link in the address bar reopens this setup
    header(session, classroom)
    if session.pending:
        predict_box(session)
    ss.drawn = page_state(session, classroom)  # before the buttons: a change after this reruns the page
    button_row(session)
    for notice in session.notices:
        st.warning(f"From the link: {markdown_text(notice)}")
    if (message := session.message()) and not any(job_says(session, kind) for kind in JOB_CHARTS):
        say(message)
    live_area(session, classroom)
    downloads(session)
