"""explorer — the classroom app: train a small RNN language model live and steer it with the sidebar.

    make app        (= .venv/bin/streamlit run streamlit_app.py --browser.gatherUsageStats=false)

Thin by design: the widgets come from `explorer.controls`, the run is a `LiveRun` (one per browser
session, in st.session_state), the charts come from `explorer.charts`. The whole Config lives in the
URL, so a link reproduces the setup and the knobs.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import streamlit as st
import torch
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer import charts
from explorer.config import KNOBS, Config, ExplorerError
from explorer.controls import (ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, ViewerWatchdog,
                               config_from_query, describe_changes, live_changes, setup_changes, status_line,
                               torch_threads_for, widget_values)
from explorer.data import BUNDLED, MAX_UPLOAD_BYTES, CorpusError, save_upload
from explorer.export import chart_to_png, history_csv
from explorer.live import LiveRun
from explorer.presets import PRESETS, preset_config

REFRESH_S = 1.0  # charts redraw once a second while the run trains
UPLOADS = Path(tempfile.gettempdir()) / "explorer-uploads"
NO_PRESET = "— pick a lesson —"
SHAKESPEARE, MY_FILE = "Tiny Shakespeare (bundled)", "My own .txt file"
VIEWS = ["Generalisation gap", "Gradients", "Weights", "Compare runs", "Text sample"]

st.set_page_config(page_title="explorer — watch an RNN overfit", page_icon="📉", layout="wide")
ss = st.session_state
ctx = get_script_run_ctx()
session_id = ctx.session_id if ctx else "local"


# ------------------------------------------------------------------------------ one run per viewer
def viewer_present() -> bool:  # called from the worker thread: thread-safe runtime call only
    return not runtime.exists() or runtime.get_instance().is_active_session(session_id)


def viewer_left() -> None:
    print(f"explorer: run stopped (viewer left) session={session_id[:8]}", flush=True)


def corpus_allowed(corpus: str) -> bool:
    """A link may name the bundled corpus or a file uploaded to this server, nothing else."""
    return corpus in BUNDLED or Path(corpus).resolve().is_relative_to(UPLOADS.resolve())


if "run" not in ss:  # a new browser session: the URL sets everything
    config, ss.notices = config_from_query(st.query_params.to_dict(), corpus_allowed)
    ss.update(widget_values(config), config=config, preset=NO_PRESET,
              corpus_source=SHAKESPEARE if config.corpus in BUNDLED else MY_FILE,
              upload_path=None if config.corpus in BUNDLED else config.corpus, upload_error=None)
    ss.run = LiveRun(config, watchdog=ViewerWatchdog(viewer_present, on_leave=viewer_left))
run: LiveRun = ss.run


# ------------------------------------------------------------------------------ actions (callbacks)
def act(action, *args) -> None:
    """Run a button's action; a user's mistake becomes one line on the page, never a traceback."""
    ss.flash = None
    try:
        action(*args)
    except ExplorerError as err:
        ss.flash = str(err)
    except Exception as err:  # noqa: BLE001 - e.g. out of memory for a huge model: say so, keep the page
        ss.flash = f"{type(err).__name__}: {err}"


def start(paused: bool = False) -> None:
    others = sum(t.name == "explorer-liverun" and t.is_alive() for t in threading.enumerate()) - ss.run.alive
    ss.run.torch_threads = torch_threads_for(others)
    (ss.run.reset if paused else ss.run.train)(ss.config)


def save() -> None:
    ss.saved_as = ss.run.save_run()


def apply_preset() -> None:
    if ss.preset in PRESETS:
        ss.config = preset_config(ss.preset, Config(corpus=ss.config.corpus, device=ss.config.device))
        ss.update(widget_values(ss.config))


# ------------------------------------------------------------------------------ sidebar
def fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def widget(c) -> None:
    kind, common = KNOBS[c.name].kind, dict(key=c.name, help=c.help)
    if c.kind == "slider":
        st.slider(c.label, kind(c.lo), kind(c.hi), step=kind(c.step), **common)
    elif c.kind == "choice_slider":
        st.select_slider(c.label, c.options, format_func=fmt, **common)
    elif c.kind == "select":
        st.radio(c.label, c.options, horizontal=True, **common)
    elif c.kind == "toggle":
        st.toggle(c.label, **common)
    else:
        st.number_input(c.label, int(c.lo), int(c.hi), step=int(c.step), **common)


def corpus_picker() -> str:
    if st.radio("Corpus", [SHAKESPEARE, MY_FILE], key="corpus_source") == SHAKESPEARE:
        return "tinyshakespeare"
    upload = st.file_uploader(f"A UTF-8 .txt file, at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB", type=["txt"],
                              key="upload", max_upload_size=max(1, MAX_UPLOAD_BYTES // 2**20))
    if upload is not None and ss.get("upload_id") != upload.file_id:
        ss.upload_id = upload.file_id
        try:
            ss.upload_path, ss.upload_error = str(save_upload(upload.name, upload.getvalue(),
                                                              UPLOADS / session_id[:12])), None
        except CorpusError as err:
            ss.upload_path, ss.upload_error = None, str(err)
    if ss.upload_error:
        st.error(ss.upload_error)
    if ss.upload_path:
        st.caption(f"Using {Path(ss.upload_path).name}.")
        return ss.upload_path
    st.caption("No file yet: Tiny Shakespeare stays in use.")
    return "tinyshakespeare"


with st.sidebar:
    st.selectbox("Lesson preset", [NO_PRESET, *PRESETS], key="preset", on_change=apply_preset,
                 help="Fills in every knob for one lesson; then press Reset (or Train).")
    if ss.preset in PRESETS:
        st.caption(f"**{ss.preset}** teaches: {PRESETS[ss.preset].teaches}.")
    st.subheader("Live knobs", help="They act on the running model at its next step: no restart.")
    for control in LIVE_CONTROLS:
        if control.name not in ADVANCED:
            widget(control)
    with st.expander("More live knobs"):
        for control in LIVE_CONTROLS:
            if control.name in ADVANCED:
                widget(control)
    st.subheader("Setup", help="A new model: applies on Reset.")
    corpus = corpus_picker()
    for control in SETUP_CONTROLS:
        if control.name not in ADVANCED:
            widget(control)
    st.caption("auto = " + ("the CUDA GPU" if torch.cuda.is_available() else "the CPU (no CUDA GPU here)"))
    with st.expander("More setup"):
        for control in SETUP_CONTROLS:
            if control.name in ADVANCED:
                widget(control)

try:
    ss.config = ss.config.replace(corpus=corpus, **{c.name: ss[c.name] for c in ALL_CONTROLS})
except ExplorerError as err:
    st.error(str(err))
desired: Config = ss.config
if changes := live_changes(run.config, desired):
    run.set_knobs(**changes)  # the running model picks them up at its next step
if (query := desired.to_query()) != st.query_params.to_dict():
    st.query_params.from_dict(query)  # the link in the address bar reproduces this setup


# ------------------------------------------------------------------------------ main area
st.html("<style>[data-testid='stMainBlockContainer'] {padding-top: 2.5rem}</style>")
st.markdown("### explorer — watch an RNN language model overfit, then fix it live")
st.caption("Press **Train**, then move a live knob: the model takes it at its next step and the charts mark it. "
           "Setup waits for **Reset**.")
status = run.status
with st.container(horizontal=True):
    st.button("▶ Train", key="train", type="primary", on_click=act, args=(start,), disabled=status == "running",
              help="Start a run (or resume a paused one).")
    st.button("Resume" if status == "paused" else "Pause", key="pause", disabled=status not in ("running", "paused"),
              on_click=act, args=(run.resume if status == "paused" else run.pause,))
    st.button("Reset", key="reset", on_click=act, args=(start, True),
              help="A fresh model with the current setup and knobs, same seed; waits for Train.")
    st.button("Save run for comparison", key="save", on_click=act, args=(save,), disabled=run.trainer is None)
    st.button("Clear comparisons", key="clear", on_click=act, args=(run.clear_saved,), disabled=not run.saved)

for notice in ss.notices:
    st.warning(f"From the link: {notice}")
if flash := ss.pop("flash", None):  # shown once, until the next click or change
    st.error(flash)
if ss.pop("saved_as", None):
    st.toast("Saved: see **Compare runs**. Change a knob, Reset and Train to add a curve.")
if run.trainer is not None and (pending := setup_changes(run.config, desired)):
    st.info(f"Setup changed ({describe_changes(pending)}): press **Reset** to build the new model.")


def show_chart(build, *args, **kwargs) -> None:
    try:  # the charts are valid by construction (tests/test_charts.py): skip Altair's slow schema check
        spec = build(*args, **kwargs).to_dict(validate=False)
        if "hconcat" not in spec:  # Streamlit fits title + legend + plot into `height`, squashing the plot
            spec["autosize"] = {"type": "fit-x", "contains": "padding"}  # of charts with tall legends
        st.vega_lite_chart(spec, width="stretch")
    except Exception as err:  # noqa: BLE001 - one odd chart must not take the lesson down
        st.warning(f"This chart could not be drawn: {type(err).__name__}: {err}")


def sample_panel() -> None:
    st.text_input("Prompt", "ROMEO:", key="prompt")
    length, temperature = st.columns(2)
    length.slider("Length (tokens)", 20, 1000, 300, step=20, key="sample_length")
    temperature.select_slider("Temperature", (0.2, 0.5, 0.8, 1.0, 1.2, 1.5), 0.8, key="temperature",
                              help="Low: safe and repetitive; high: adventurous and noisy.")
    if st.button("Generate text", key="generate", help="From the weights as they are now; training goes on."):
        ss.samples = ss.get("samples", 0) + 1
        try:
            ss.sample_step = run.snapshot().last_step
            ss.sample = run.sample(ss.prompt, ss.sample_length, ss.temperature, seed=ss.samples)
        except ExplorerError as err:
            ss.sample = None
            st.info(str(err))
        except Exception as err:  # noqa: BLE001 - a diverged model has NaN weights
            ss.sample = None
            st.warning(f"No sample from this model: {type(err).__name__}: {err}")
    if ss.get("sample"):
        st.caption(f"Sampled after step {ss.sample_step:,}:")
        st.code(ss.sample, language=None, wrap_lines=True)


def live_panel() -> None:
    """Redrawn every REFRESH_S seconds while the run trains (st.fragment, rendered on every run)."""
    now, snap = run.status, run.snapshot()
    if ss.refreshing and now != "running":
        st.rerun()  # the run ended or paused: one full rerun updates the buttons and stops the refresh
    device = str(run.trainer.device) if run.trainer else ""
    message = {"diverged": st.error, "error": st.error, "finished": st.success, "early_stop": st.success}
    message.get(now, st.info)(status_line(now, snap, device, run.error))
    gap, gradients, weights, compare, sample = st.tabs(VIEWS, key="view", on_change="rerun")
    if gap.open:
        with gap:
            metric = st.radio("Show", ["loss", "perplexity"], horizontal=True, key="metric",
                              label_visibility="collapsed")
            show_chart(charts.gap_chart, snap, metric="ppl" if metric == "perplexity" else "loss")
    if gradients.open:
        with gradients:
            show_chart(charts.gradient_histogram_chart, snap)
            show_chart(charts.layer_gradient_chart, snap)
    if weights.open:
        with weights:
            show_chart(charts.weight_norm_chart, snap)
    if compare.open:
        with compare:
            show_chart(charts.comparison_chart, run.comparison())
    if sample.open:
        with sample:
            sample_panel()


ss.refreshing = status == "running"
st.fragment(live_panel, run_every=REFRESH_S if ss.refreshing else None)()


def png(name: str) -> bytes:  # built when the button is clicked, from the run as it is then
    return chart_to_png(charts.all_charts(run.snapshot(), list(run.saved.values()))[name])


with st.container(horizontal=True, vertical_alignment="center"):
    st.caption("Download")
    st.download_button("history.csv", lambda: history_csv(run.snapshot()), "explorer-history.csv", "text/csv",
                       key="download_csv", on_click="ignore", icon=":material/download:", type="tertiary")
    for name in ("gap", "gradient_histogram", "layer_gradients", "weight_norms", "comparison"):
        file_name = f"{name.replace('_', '-')}.png"
        st.download_button(file_name, lambda name=name: png(name), f"explorer-{file_name}", "image/png",
                           key=f"download_{name}", on_click="ignore", icon=":material/download:", type="tertiary")
