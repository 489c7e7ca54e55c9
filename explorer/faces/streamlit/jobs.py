"""The page's background jobs, each under its own tab: Repeat over seeds (under Compare runs) and the Sweep
tab. Their controls come from `explorer.page.panels`, what they do from the Session; each job's status line
and charts are read from the run store as its trials end."""

from __future__ import annotations

import streamlit as st

from explorer.faces.streamlit.parts import draw, markdown_text, say, vega
from explorer.page.panels import (
    CANCEL,
    JOB_CHARTS,
    NO_KNOB,
    SEEDS_PANEL,
    SWEEP_PANEL,
    Number,
    job_chart_height,
    job_message,
)
from explorer.page.session import Session

ss = st.session_state
ICONS = {"info": "hourglass_top", "warning": "cancel", "success": "check_circle"}  # running, cancelled, done


def job_says(session: Session, kind: str):
    """The page's one message when it answers this job's own button (drawn next to that button)."""
    return job_message(ss.get("job_message"), kind, session.flash)


def job_action(session: Session, kind: str, action, *args) -> None:
    """A job's button: the session acts, its answer is drawn next to the button, the whole page follows."""
    session.act(action, *args)
    ss.job_message = (kind, session.flash)
    st.rerun()


def job_panel(session: Session, kind: str) -> None:
    """The job's one status line (its Cancel button while it runs), then its charts from the store."""
    if message := job_says(session, kind):
        say(message)
    line = session.job_line(kind)
    if line is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", key=f"job_{kind}"):
        if line.level == "error":
            st.error(markdown_text(line.text))
        else:
            st.markdown(f":material/{ICONS[line.level]}: {markdown_text(line.text)}", width="content")
        if session.job_running(kind) and st.button(CANCEL.label, key=f"cancel_{kind}", help=CANCEL.help):
            job_action(session, kind, session.cancel_job, kind)
    summary = session.job_summary(kind)  # read again only when another trial has ended
    for spec in JOB_CHARTS[kind]:
        draw(lambda spec=spec: job_chart(kind, spec, summary))


def job_chart(kind: str, spec, summary) -> dict:
    """A job's chart, built again only when its summary changes (a trial ended) or the projector toggles."""
    key, built = (kind, spec.name, ss.projector), ss.setdefault("job_charts", {})
    if key not in built or built[key][0] is not summary:
        height = job_chart_height(ss.projector)
        built[key] = (summary, vega(spec.build(summary, height=height, projector=ss.projector)))
    return built[key][1]


def intro(panel, **where) -> None:
    st.markdown(f"**{panel.intro.title}** {panel.intro.text.format(**where)}")


def number(spec: Number, key: str, width: int) -> None:
    """A panel's number box (one the spec leaves to the session starts at the value already in `ss[key]`)."""
    start = {} if spec.default is None else {"value": spec.default}
    st.number_input(spec.label, spec.lo, spec.hi, step=spec.step, key=key, width=width, **start)


def seeds_panel(session: Session) -> None:
    panel = SEEDS_PANEL
    intro(panel)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        number(panel.seeds, "repeat_seeds", 120)
        running = session.job_running("seeds")
        if st.button(panel.start.label, key="repeat", disabled=running, help=panel.start.help):
            job_action(session, "seeds", session.repeat_over_seeds, ss.repeat_seeds)
    job_panel(session, "seeds")


def sweep_panel(session: Session) -> None:
    panel = SWEEP_PANEL
    intro(panel, where="in the sidebar")
    if "sweep_steps" not in ss:
        ss.sweep_steps = session.wanted.steps
    knobs = []
    for column, slot, choice in zip(st.columns(2), (1, 2), panel.knobs):
        options = list(choice.options)
        knob = column.selectbox(choice.label, options, index=options.index(choice.default), key=f"sweep_knob_{slot}")
        if knob != NO_KNOB:
            values = column.text_input(
                panel.values.label.format(knob=knob),
                panel.values_for(knob, session.wanted),
                key=f"sweep_values_{slot}_{knob}",
            )
            knobs.append((knob, values))
    with st.container(horizontal=True, vertical_alignment="bottom"):
        number(panel.seeds, "sweep_seeds", 120)
        number(panel.steps, "sweep_steps", 160)
        running = session.job_running("sweep")
        if st.button(panel.start.label, key="sweep_start", type="primary", disabled=running, help=panel.start.help):
            job_action(session, "sweep", session.start_sweep, knobs, ss.sweep_seeds, ss.sweep_steps)
    job_panel(session, "sweep")
