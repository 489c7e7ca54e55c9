"""explorer — the classroom app: train a small RNN language model live and steer it with the sidebar.

    make app        (= .venv/bin/streamlit run streamlit_app.py --browser.gatherUsageStats=false)

It only draws: the widgets come from `explorer.controls`, every decision (links, presets, uploads, buttons,
messages) from one `explorer.session.Session` per browser session, the charts from `explorer.charts.VIEWS`.
The run trains in its own worker process; the whole setup lives in the URL.
"""

from __future__ import annotations

import streamlit as st
import torch
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import charts
from explorer.config import KNOBS, format_value
from explorer.controls import ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, widget_values
from explorer.data import MAX_UPLOAD_BYTES
from explorer.export import chart_to_png, history_csv
from explorer.presets import PRESETS
from explorer.session import Session, ViewerWatchdog, parse_link

REFRESH_S = 1.0  # charts redraw once a second while the run trains
NO_PRESET = "— pick a lesson —"
SAMPLE_TAB = "Text sample"
TABS = [view.title for view in charts.VIEWS.values()] + [SAMPLE_TAB]
SHOW = {"error": st.error, "warning": st.warning, "success": st.success, "info": st.info}

st.set_page_config(page_title="explorer — watch an RNN overfit", page_icon="📉", layout="wide")
ss = st.session_state
ctx = get_script_run_ctx()
session_id = ctx.session_id if ctx else "local"


# ------------------------------------------------------------------------------ one session per viewer
def viewer_present() -> bool:  # called from the run's reader thread: a thread-safe runtime call only
    return not runtime.exists() or runtime.get_instance().is_active_session(session_id)


def viewer_left() -> None:
    print(f"explorer: run stopped (viewer left) session={session_id[:8]}", flush=True)


if "session" not in ss:  # a new browser session: the link sets everything
    config, preset, notices = parse_link(st.query_params.to_dict())
    ss.session = Session(
        config,
        source="app",
        owner=session_id,
        preset=preset,
        notices=notices,
        watchdog=ViewerWatchdog(viewer_present, on_leave=viewer_left),
    )
    ss.update(widget_values(config), preset=preset or NO_PRESET, corpus="tinyshakespeare", projector=False)
session: Session = ss.session


# ------------------------------------------------------------------------------ callbacks
def knobs_moved() -> None:
    session.act(
        session.set_knobs, {c.name: ss[c.name] for c in ALL_CONTROLS if session.movable(c.name)} | {"corpus": ss.corpus}
    )


def preset_picked() -> None:
    if ss.preset in PRESETS:
        session.act(session.apply_preset, ss.preset)
        ss.update(widget_values(session.wanted))


def file_uploaded() -> None:
    if (upload := ss.get("upload")) is not None:
        session.act(session.upload, upload.name, upload.getvalue())
        ss.corpus = session.wanted.corpus


# ------------------------------------------------------------------------------ sidebar
def widget(c) -> None:
    kind = KNOBS[c.name].kind
    common = dict(key=c.name, help=c.help, on_change=knobs_moved, disabled=not session.movable(c.name))
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
    choices = session.corpus_choices()
    st.selectbox(
        "Corpus",
        list(choices.values()),
        key="corpus",
        on_change=knobs_moved,
        format_func={path: label for label, path in choices.items()}.get,
    )
    st.file_uploader(
        f"…or your own UTF-8 .txt file (at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB)",
        type=["txt"],
        key="upload",
        on_change=file_uploaded,
        max_upload_size=max(1, MAX_UPLOAD_BYTES // 2**20),
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
    f"[data-testid='stMainBlockContainer'] p {{font-size: {size}}}</style>"
)
st.markdown("**explorer** — watch an RNN language model overfit, then fix it live")
buttons = session.buttons()
with st.container(horizontal=True):
    for key, action, kind in (
        ("train", session.train, "primary"),
        ("pause", session.pause_or_resume, "secondary"),
        ("reset", session.reset, "secondary"),
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
    st.warning(f"From the link: {notice}")
if message := session.message():
    SHOW[message.level](message.text)


def show_chart(spec, snap, **opts) -> None:
    height = 560 if ss.projector else 300  # the gap chart whole on 1024×768 below the buttons and the status
    try:  # the charts are valid by construction (tests/test_charts.py): skip Altair's slow schema check
        chart = spec.build(snap, list(session.run.saved.values()), height=height, projector=ss.projector, **opts)
        vega = chart.to_dict(validate=False)
        if "hconcat" not in vega:  # stretch to the page's width only: Streamlit's default "fit" would squeeze
            vega["autosize"] = {"type": "fit-x", "contains": "padding"}  # title, legend and plot into one height
        st.vega_lite_chart(vega, width="stretch")
    except Exception as err:  # noqa: BLE001 - one odd chart must not take the lesson down
        st.warning(f"This chart could not be drawn: {type(err).__name__}: {err}")


def sample_panel() -> None:
    st.text_input("Prompt", "ROMEO:", key="prompt")
    length, temperature = st.columns(2)
    length.slider("Length (tokens)", 20, 1000, 300, step=20, key="sample_length")
    temperature.select_slider(
        "Temperature",
        (0.2, 0.5, 0.8, 1.0, 1.2, 1.5),
        0.8,
        key="temperature",
        help="Low: safe and repetitive; high: adventurous and noisy.",
    )
    if st.button("Generate text", key="generate", help="From the weights as they are now; training goes on."):
        ss.samples = ss.get("samples", 0) + 1
        ss.sample_step = session.run.snapshot().last_step
        ss.sample, ss.sample_problem = session.sample(ss.prompt, ss.sample_length, ss.temperature, ss.samples)
    if problem := ss.get("sample_problem"):
        SHOW[problem.level](problem.text)
    elif ss.get("sample"):
        st.caption(f"Sampled after step {ss.sample_step:,}:")
        st.code(ss.sample, language=None, wrap_lines=True)


def live_panel() -> None:
    """Redrawn every REFRESH_S seconds while the run trains (st.fragment, rendered on every run)."""
    status = session.run.status
    if ss.refreshing != (status == "running"):
        st.rerun()  # the run ended, paused or went on: one full rerun updates the buttons and the refresh
    snap = session.run.snapshot()
    line = session.status()
    SHOW[line.level](line.text)
    tabs = st.tabs(TABS, key="view", on_change="rerun")
    for tab, view in zip(tabs, charts.VIEWS.values()):
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
    if tabs[-1].open:
        with tabs[-1]:
            sample_panel()


ss.refreshing = session.run.status == "running"
st.fragment(live_panel, run_every=REFRESH_S if ss.refreshing else None)()


def png(spec) -> bytes:  # built when the button is clicked, from the run as it is then
    return chart_to_png(spec.build(session.run.snapshot(), list(session.run.saved.values())))


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
    for spec in charts.CHARTS.values():
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
