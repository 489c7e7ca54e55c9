"""explorer — the classroom app: train a small RNN language model live and steer it with the sidebar.

    make app        (= .venv/bin/streamlit run streamlit_app.py --browser.gatherUsageStats=false)

It only draws: the widgets come from `explorer.controls`, every decision (links, presets, uploads, buttons,
messages, sweeps) from one `explorer.session.Session` per browser session, the charts from
`explorer.views.VIEWS` and `SWEEP_VIEWS`. The run trains in its own worker process, a sweep's trials in
theirs; the whole setup lives in the URL.
"""

from __future__ import annotations

import streamlit as st
import torch
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.classroom.board import student_board
from explorer.classroom.seats import Pages, the_classroom
from explorer.core.data import MAX_UPLOAD_BYTES, MAX_UPLOAD_MIB
from explorer.faces.streamlit.parts import drop_uploads, harden_server, markdown_text, seat_key, vega
from explorer.faces.streamlit.teacher_page import teacher_page
from explorer.page.controls import ADVANCED, LIVE_CONTROLS, SETUP_CONTROLS
from explorer.page.guesses import GUESSES
from explorer.page.panels import (
    CANCEL,
    JOB_CHARTS,
    NO_KNOB,
    NO_PRESET,
    SAMPLE_PANEL,
    SEEDS_PANEL,
    SWEEP_PANEL,
    TAB_TITLES,
    chart_height,
    job_chart_height,
    job_message,
)
from explorer.page.session import Session, ViewerWatchdog, parse_link
from explorer.runs.store import RunStore
from explorer.spec.errors import ExplorerError
from explorer.spec.knobs import KNOBS
from explorer.spec.presets import PRESETS
from explorer.spec.wording import describe_move, format_value
from explorer.views import registry as views
from explorer.views.export import chart_to_png, history_csv

REFRESH_S = 1.0  # charts redraw once a second while the run trains or a sweep runs
TABS = list(TAB_TITLES.values())
SHOW = {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}


def say(message) -> None:
    """A session's Message, as text: it may quote a link, a file name or a value a client sent."""
    SHOW[message.level](markdown_text(message.text))


st.set_page_config(page_title="explorer — watch an RNN overfit", page_icon="📉", layout="wide")
ss = st.session_state
ctx = get_script_run_ctx()
session_id = ctx.session_id if ctx else "local"


classroom = the_classroom()
harden_server(None if classroom is None else classroom.seated)  # no client resets the server or parks uploads
if classroom is not None and classroom.is_teacher(st.query_params.get("teacher")):
    ss.teacher_token = st.query_params.pop("teacher")  # kept by this browser session, off the projected address bar
teacher_token = ss.get("teacher_token")
if classroom is not None and classroom.is_teacher(teacher_token) and ss.get("teacher_view", "class") == "class":
    teacher_page(classroom, teacher_token)  # the token is checked again by every read and action it makes
    st.stop()


# ------------------------------------------------------------------------------ one session per viewer
def page_open(page_id: str) -> bool:  # called from the run's reader thread: a thread-safe runtime call only
    return not runtime.exists() or runtime.get_instance().is_active_session(page_id)


def viewer_left() -> None:
    print(f"explorer: run stopped (viewer left) session={session_id[:8]}", flush=True)


def new_session(watchdog: ViewerWatchdog, warm: bool = True) -> Session:
    """A viewer's Session, set up by the link (each value checked: a link is as untrusted as a widget).
    `warm=False`: its worker process starts at its first Train, not now (a class: a seat that never trains
    holds no process)."""
    link = parse_link(st.query_params.to_dict())
    return Session(
        link.config,
        source="app",
        owner=session_id,
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


# ------------------------------------------------------------------------------ class mode: a seat, the lesson
def join_class(name: str) -> None:
    """This browser takes a seat: only now does it get a Session (and so a worker process)."""
    pages = Pages(page_open)
    pages.add(session_id)
    session = new_session(ViewerWatchdog(pages, grace_s=0, on_leave=viewer_left), warm=False)  # Pages has the grace
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


if classroom is not None and "session" not in ss:
    if "seat_key" not in ss:  # once per browser session: a key made again on a rerun (typing a name) would race
        ss.seat_key, ss.seat_cookie = seat_key(st.context.cookies)  # the cookie the page last set
    if ss.seat_cookie:  # drawn on every run until the join, so the page surely ran it (a server-made key only)
        st.html(ss.seat_cookie, unsafe_allow_javascript=True)
    if (seat := classroom.seat_for(ss.seat_key)) is not None:  # another tab, or a reload, of a seated browser
        seat.present.add(session_id)
        draw_session(seat.session)
    elif classroom.is_teacher(teacher_token):
        join_class("")  # the teacher's own run: highlighted on the teacher page
    else:
        st.markdown(f"### Class {markdown_text(classroom.name)}: join to train your own run")
        if problem := ss.pop("join_problem", None):
            st.error(markdown_text(problem))
        st.text_input("Your name (optional: you get an animal's otherwise)", key="join_name", max_chars=32)
        st.button("Join the class", type="primary", key="join", on_click=lambda: join_class(ss.join_name))
        st.stop()
elif "session" not in ss:  # a new browser session: the link sets everything
    draw_session(new_session(ViewerWatchdog(lambda: page_open(session_id), on_leave=viewer_left)))
session: Session = ss.session


def class_lines() -> list[str]:
    """Where this student stands in the class (names only if the teacher allows them)."""
    if "class_store" not in ss:
        ss.class_store = RunStore(classroom.store_path)
    return student_board(classroom, ss.class_store, session.seat)


def describe_pending() -> str:
    return describe_move({name: (getattr(session.wanted, name), value) for name, value in session.pending.items()})


if classroom is not None and session.lesson_version != classroom.lesson.version:  # the teacher set a lesson
    session.follow(classroom.lesson)
    ss.preset = session.preset or NO_PRESET
if ss.get("drawn_wanted") is not session.wanted:  # moved elsewhere (the lesson, another tab): the widgets follow
    ss.update(session.widget_state())
    ss.drawn_wanted = session.wanted


# ------------------------------------------------------------------------------ callbacks
def knob_moved(name: str) -> None:
    """One widget moved: only its knob is applied (another tab of the same seat, whose widgets may be stale,
    never puts back this one's moves). A knob that did not take (fixed by the lesson, refused, a value in
    flight when the lesson locked it) shows what the run has, whatever the page sent."""
    value = ss[name]
    if session.movable(name):
        session.act(session.set_knobs, {name: value})
    if name not in (session.pending or {}) and getattr(session.wanted, name) != value:
        ss[name] = session.widget_state()[name]
    ss.drawn_wanted = session.wanted  # what this page's widgets show: no resync of a slider still moving


def preset_picked() -> None:
    if ss.preset in PRESETS:
        session.act(session.apply_preset, ss.preset)
        ss.update(session.widget_state())  # a lesson may bring its corpus


def file_uploaded() -> None:
    if (upload := ss.get("upload")) is not None:  # a file the server did not keep has no content to read
        content = upload.getvalue() if hasattr(upload, "getvalue") else None
        session.act(session.upload, getattr(upload, "name", "your file"), content)
        ss.corpus = session.wanted.corpus
    drop_uploads(session_id)  # kept on disk if good; refused or not, the server's memory lets it go


# ------------------------------------------------------------------------------ sidebar
def widget(c) -> None:
    kind = KNOBS[c.name].kind
    common = dict(key=c.name, help=c.help, on_change=knob_moved, args=(c.name,), disabled=not session.movable(c.name))
    if c.kind == "slider":
        st.slider(c.label, kind(c.lo), kind(c.hi), step=kind(c.step), **common)
    elif c.kind == "choice_slider":
        st.select_slider(c.label, c.options, format_func=format_value, **common)
    elif c.kind == "select":
        st.radio(c.label, c.options, horizontal=True, **common)
    elif c.kind == "toggle":
        st.toggle(c.label, **common)
    else:
        st.number_input(c.label, int(c.lo), int(c.hi), step=int(c.step), **common)


def widgets(controls, advanced: bool) -> None:
    for control in controls:
        if (control.name in ADVANCED) == advanced and control.name not in session.hidden:
            widget(control)


with st.sidebar:
    if classroom is None:
        st.selectbox(
            "Lesson preset",
            [NO_PRESET, *PRESETS],
            key="preset",
            on_change=preset_picked,
            help="Fills in every knob for one lesson: live knobs act at once, setup waits for Reset.",
        )
    if ss.preset in PRESETS:
        st.caption(f"**{ss.preset}** teaches: {PRESETS[ss.preset].teaches}.")
    st.subheader("Live knobs", help="They act on the running model at its next step: no restart.")
    widgets(LIVE_CONTROLS, advanced=False)
    with st.expander("More live knobs"):
        widgets(LIVE_CONTROLS, advanced=True)
    st.subheader("Setup", help="A new model: applies on Reset.")
    if "corpus" not in session.hidden:
        choices = session.corpus_choices()
        st.selectbox(
            "Corpus",
            list(choices.values()),
            key="corpus",
            on_change=knob_moved,
            args=("corpus",),
            format_func={path: label for label, path in choices.items()}.get,
            disabled=not session.movable("corpus"),
        )
        st.file_uploader(
            f"…or your own UTF-8 .txt file (at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB)",
            type=["txt"],
            key="upload",
            on_change=file_uploaded,
            max_upload_size=MAX_UPLOAD_MIB,  # MiB; explorer refuses beyond its 5 MB itself
            disabled=not session.movable("corpus"),
        )
    widgets(SETUP_CONTROLS, advanced=False)
    st.caption("auto = " + ("the CUDA GPU" if torch.cuda.is_available() else "the CPU (no CUDA GPU here)"))
    with st.expander("More setup"):
        widgets(SETUP_CONTROLS, advanced=True)
    st.toggle("Projector: bigger type and charts", key="projector")

if (query := session.link()) != st.query_params.to_dict():
    st.query_params.from_dict(query)  # the link in the address bar reopens this setup


# ------------------------------------------------------------------------------ main area
size = "1.3rem" if ss.projector else "1rem"
st.html(
    f"<style>[data-testid='stMainBlockContainer'] {{padding-top: 1rem; padding-bottom: 1rem}} "
    f"[data-testid='stMainBlockContainer'] p {{font-size: {size}}} "
    ".st-key-buttons button {padding-left: 0.5rem; padding-right: 0.5rem}</style>"  # six in a row at 1024 px
)
st.markdown("**explorer** — watch an RNN language model overfit, then fix it live")
if classroom is not None:
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


def prediction_skipped() -> None:
    session.skip_prediction()
    ss.update(session.widget_state())  # the knobs go back to what the run has


if session.pending:  # predict, then observe: the move waits for the student's guess
    with st.container(border=True, key="predict"):
        st.markdown(f"**{markdown_text(session.question)}** ({markdown_text(describe_pending())})")
        with st.container(horizontal=True):
            for guess, words in GUESSES.items():
                st.button(f"It will {words}", key=f"guess_{guess}", on_click=session.act, args=(session.answer, guess))
            st.button("Never mind", key="guess_skip", on_click=prediction_skipped, type="tertiary")


def busy() -> bool:
    """The page refreshes while its run trains or one of its jobs runs; in a class, always (the lesson,
    the queue and the class's board move while this run does not)."""
    return classroom is not None or session.run.status == "running" or any(job.running for job in session.jobs.values())


def page_state() -> tuple:
    """What the whole page is drawn from (the buttons, the refresh, the lesson): when the refreshing part
    sees it change (a run ended, a queued run started, a new lesson), it reruns the whole page."""
    lesson = classroom.lesson.version if classroom is not None else 0
    return busy(), session.run.status, session.waiting() is not None, lesson


ss.drawn = page_state()
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
for notice in session.notices:
    st.warning(f"From the link: {markdown_text(notice)}")


def job_says(kind: str):
    """The page's one message when it answers this job's own button (drawn next to that button)."""
    return job_message(ss.get("job_message"), kind, session.flash)


if (message := session.message()) and not any(job_says(kind) for kind in JOB_CHARTS):
    say(message)


def draw(make_vega) -> None:
    try:
        st.vega_lite_chart(make_vega(), width="stretch")
    except Exception as err:  # noqa: BLE001 - one odd chart must not take the lesson down
        st.warning(f"This chart could not be drawn: {type(err).__name__}: {err}")


def show_chart(spec, snap, **opts) -> None:
    height = chart_height(ss.projector)
    others = session.comparison()[:-1]  # the saved runs and the live branches: Compare runs draws them with snap
    draw(lambda: vega(spec.build(snap, others, height=height, projector=ss.projector, **opts)))


# ------------------------------------------------------------------------------ background jobs: seeds, sweep
def job_action(kind: str, action, *args) -> None:
    """A job's button: the session acts, its answer is drawn next to the button, the whole page follows."""
    session.act(action, *args)
    ss.job_message = (kind, session.flash)
    st.rerun()


def job_panel(kind: str) -> None:
    """The job's one status line (its Cancel button while it runs), then its charts from the store."""
    if message := job_says(kind):
        say(message)
    job = session.jobs.get(kind)
    if job is None:
        return
    with st.container(horizontal=True, vertical_alignment="center", key=f"job_{kind}"):
        if job.error:
            st.error(markdown_text(job.text))
        else:
            icon = "hourglass_top" if job.running else ("cancel" if job.cancelled else "check_circle")
            st.markdown(f":material/{icon}: {markdown_text(job.text)}", width="content")
        if job.running and st.button(CANCEL.label, key=f"cancel_{kind}", help=CANCEL.help):
            job_action(kind, session.cancel_job, kind)
    summary = job.summary()  # read again only when another trial has ended
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


def number(spec, key: str, width: int) -> None:
    """A panel's number box (one the spec leaves to the session starts at the value already in `ss[key]`)."""
    start = {} if spec.default is None else {"value": spec.default}
    st.number_input(spec.label, spec.lo, spec.hi, step=spec.step, key=key, width=width, **start)


def seeds_panel() -> None:
    panel = SEEDS_PANEL
    intro(panel)
    running = "seeds" in session.jobs and session.jobs["seeds"].running
    with st.container(horizontal=True, vertical_alignment="bottom"):
        number(panel.seeds, "repeat_seeds", 120)
        if st.button(panel.start.label, key="repeat", disabled=running, help=panel.start.help):
            job_action("seeds", session.repeat_over_seeds, ss.repeat_seeds)
    job_panel("seeds")


def sweep_panel() -> None:
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
    running = "sweep" in session.jobs and session.jobs["sweep"].running
    with st.container(horizontal=True, vertical_alignment="bottom"):
        number(panel.seeds, "sweep_seeds", 120)
        number(panel.steps, "sweep_steps", 160)
        if st.button(panel.start.label, key="sweep_start", type="primary", disabled=running, help=panel.start.help):
            job_action("sweep", session.start_sweep, knobs, ss.sweep_seeds, ss.sweep_steps)
    job_panel("sweep")


def sample_panel() -> None:
    panel = SAMPLE_PANEL
    st.text_input(panel.prompt.label, panel.prompt.default, key="prompt")
    length, temperature = st.columns(2)
    spec = panel.length
    length.slider(spec.label, spec.lo, spec.hi, spec.default, step=spec.step, key="sample_length")
    spec = panel.temperature
    temperature.select_slider(spec.label, spec.options, spec.default, key="temperature", help=spec.help)
    if st.button(panel.generate.label, key="generate", help=panel.generate.help):
        ss.samples = ss.get("samples", 0) + 1
        ss.sample_step = session.run.snapshot().last_step
        ss.sample, ss.sample_problem = session.sample(ss.prompt, ss.sample_length, ss.temperature, ss.samples)
    if problem := ss.get("sample_problem"):
        say(problem)
    elif ss.get("sample"):
        st.caption(panel.sampled_after(ss.sample_step))
        st.code(ss.sample, language=None, wrap_lines=True)


def live_panel() -> None:
    """Redrawn every REFRESH_S seconds while the run trains or a job runs (st.fragment, rendered on every run)."""
    if ss.drawn != page_state():
        st.rerun()  # the run or a job ended, paused or went on, a queued run started, a new lesson: the page follows
    snap = session.run.snapshot()
    line = session.status()
    say(line)
    if outcome := session.observe():
        say(outcome)
    if classroom is not None and (lines := class_lines()):
        st.caption("The class so far: " + " · ".join(markdown_text(line) for line in lines))
    tabs = st.tabs(TABS, key="view", on_change="rerun")
    for tab, view in zip(tabs, views.VIEWS.values()):
        if tab.open:
            with tab:
                opts = {}
                if view.name == "gap":
                    metric = st.radio(
                        "Show", ["loss", "perplexity"], horizontal=True, key="metric", label_visibility="collapsed"
                    )
                    opts["metric"] = "ppl" if metric == "perplexity" else "loss"
                for spec in view.charts:
                    show_chart(spec, snap, **opts)
                if view.name == "compare" and classroom is None:
                    seeds_panel()
    if tabs[-2].open:
        with tabs[-2]:
            if classroom is None:
                sweep_panel()
            else:
                st.info("Sweeps are off in class mode: the class's server trains one run per student.")
    if tabs[-1].open:
        with tabs[-1]:
            sample_panel()


st.fragment(live_panel, run_every=REFRESH_S if ss.drawn[0] else None)()


def png(spec) -> bytes:  # built when the button is clicked, from the run as it is then
    *others, snap = session.comparison()  # the saved runs, the live branches, then this run
    return chart_to_png(spec.build(snap, others))


with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("Download")
    st.download_button(
        "history.csv",
        lambda: history_csv(session.run.snapshot()),
        "explorer-history.csv",
        "text/csv",
        key="download_csv",
        on_click="ignore",
        icon=":material/download:",
        type="tertiary",
    )
    for spec in views.CHARTS.values():
        st.download_button(
            spec.file_name.removeprefix("explorer-"),
            lambda spec=spec: png(spec),
            spec.file_name,
            "image/png",
            key=f"download_{spec.name}",
            on_click="ignore",
            icon=":material/download:",
            type="tertiary",
        )
    for kind, job in session.jobs.items():
        for spec in JOB_CHARTS[kind]:
            name = f"{kind}-{spec.file_name.removeprefix('explorer-')}"
            st.download_button(
                name,
                lambda job=job, spec=spec: chart_to_png(spec.build(job.summary())),
                f"explorer-{name}",
                "image/png",
                key=f"download_{kind}_{spec.name}",
                on_click="ignore",
                icon=":material/download:",
                type="tertiary",
            )
