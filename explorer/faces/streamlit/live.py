"""The part of the page that refreshes every second while the run trains or a job runs (an `st.fragment`):
the status line, a prediction's outcome, the class so far, and the tabs (one per chart view, the Sweep tab,
the text sample). When what the whole page is drawn from changes, it reruns the whole page."""

from __future__ import annotations

import streamlit as st

from explorer.classroom.board import student_board
from explorer.classroom.seats import Classroom
from explorer.faces.streamlit.jobs import seeds_panel, sweep_panel
from explorer.faces.streamlit.parts import draw, markdown_text, say, vega
from explorer.page.panels import SAMPLE_PANEL, TAB_TITLES, chart_height
from explorer.page.session import Session
from explorer.views.registry import VIEWS, ChartSpec

REFRESH_S = 1.0  # charts redraw once a second while the run trains or a sweep runs
ss = st.session_state


def busy(session: Session, classroom: Classroom | None) -> bool:
    """The page refreshes while its run trains or one of its jobs runs; in a class, always (the lesson,
    the queue and the class's board move while this run does not)."""
    return classroom is not None or session.busy()


def page_state(session: Session, classroom: Classroom | None) -> tuple:
    """What the whole page is drawn from (the buttons, the refresh, the lesson): when the refreshing part
    sees it change (a run ended, a queued run started, a new lesson), it reruns the whole page."""
    lesson = classroom.lesson.version if classroom is not None else 0
    return busy(session, classroom), session.run_status(), session.waiting() is not None, lesson


def show_chart(session: Session, spec: ChartSpec, snap, **opts) -> None:
    height = chart_height(ss.projector)
    others = session.comparison()[:-1]  # the saved runs and the live branches: Compare runs draws them with snap
    draw(lambda: vega(spec.build(snap, others, height=height, projector=ss.projector, **opts)))


def sample_panel(session: Session) -> None:
    panel = SAMPLE_PANEL
    st.text_input(panel.prompt.label, panel.prompt.default, key="prompt")
    length, temperature = st.columns(2)
    spec = panel.length
    length.slider(spec.label, spec.lo, spec.hi, spec.default, step=spec.step, key="sample_length")
    spec = panel.temperature
    temperature.select_slider(spec.label, spec.options, spec.default, key="temperature", help=spec.help)
    if st.button(panel.generate.label, key="generate", help=panel.generate.help):
        ss.samples = ss.get("samples", 0) + 1
        ss.sample_step = session.snapshot().last_step
        ss.sample, ss.sample_problem = session.sample(ss.prompt, ss.sample_length, ss.temperature, ss.samples)
    if problem := ss.get("sample_problem"):
        say(problem)
    elif ss.get("sample"):
        st.caption(panel.sampled_after(ss.sample_step))
        st.code(ss.sample, language=None, wrap_lines=True)


def chart_tab(session: Session, view, snap, classroom: Classroom | None) -> None:
    """One chart view's tab: its charts (the gap chart with its loss/perplexity switch), and under Compare
    runs, Repeat over seeds (not in a class)."""
    opts = {}
    if view.name == "gap":
        metric = st.radio("Show", ["loss", "perplexity"], horizontal=True, key="metric", label_visibility="collapsed")
        opts["metric"] = "ppl" if metric == "perplexity" else "loss"
    for spec in view.charts:
        show_chart(session, spec, snap, **opts)
    if view.name == "compare" and classroom is None:
        seeds_panel(session)


def live_panel(session: Session, classroom: Classroom | None) -> None:
    """Redrawn every REFRESH_S seconds while the page is busy (st.fragment, rendered on every run)."""
    if ss.drawn != page_state(session, classroom):
        st.rerun()  # the run or a job ended, paused or went on, a queued run started, a new lesson: the page follows
    snap = session.snapshot()
    with st.container(key="run_status"):  # one place a reader (and a browser test) finds the run's line
        say(session.status())
    if outcome := session.observe():
        say(outcome)
    if classroom is not None and (lines := student_board(classroom, session.store(), session.seat)):
        st.caption("The class so far: " + " · ".join(markdown_text(line) for line in lines))
    tabs = st.tabs(list(TAB_TITLES.values()), key="view", on_change="rerun")
    for tab, view in zip(tabs, VIEWS.values()):
        if tab.open:
            with tab:
                chart_tab(session, view, snap, classroom)
    if tabs[-2].open:
        with tabs[-2]:
            if classroom is None:
                sweep_panel(session)
            else:
                st.info("Sweeps are off in class mode: the class's server trains one run per student.")
    if tabs[-1].open:
        with tabs[-1]:
            sample_panel(session)


def live_area(session: Session, classroom: Classroom | None) -> None:
    """The refreshing part, drawn on every run of the page (a fragment that stopped rendering would crash);
    it refreshes only while the page is busy (`ss.drawn`, read before the buttons were drawn)."""
    st.fragment(live_panel, run_every=REFRESH_S if ss.drawn[0] else None)(session, classroom)
