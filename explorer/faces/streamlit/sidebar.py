"""The sidebar: the lesson preset, the live knobs, the setup (corpus, upload, model) and the projector toggle.
Each widget is a `controls.Control` drawn as Streamlit's own; what a move does is the Session's."""

from __future__ import annotations

import streamlit as st
import torch

from explorer.classroom.seats import Classroom
from explorer.core.data import MAX_UPLOAD_BYTES, MAX_UPLOAD_MIB
from explorer.faces.streamlit.parts import drop_uploads
from explorer.faces.streamlit.seating import page_id
from explorer.page.controls import ADVANCED, LIVE_CONTROLS, SETUP_CONTROLS, Control
from explorer.page.panels import NO_PRESET
from explorer.page.session import Session
from explorer.spec.knobs import KNOBS
from explorer.spec.presets import PRESETS
from explorer.spec.wording import format_value

ss = st.session_state


# ------------------------------------------------------------------------------ callbacks
def knob_moved(session: Session, name: str) -> None:
    """One widget moved: only its knob is applied (another tab of the same seat, whose widgets may be stale,
    never puts back this one's moves). A knob that did not take (fixed by the lesson, refused, a value in
    flight when the lesson locked it) shows what the run has, whatever the page sent."""
    value = ss[name]
    if session.movable(name):
        session.act(session.set_knobs, {name: value})
    if name not in (session.pending or {}) and getattr(session.wanted, name) != value:
        ss[name] = session.widget_state()[name]
    ss.drawn_wanted = session.wanted  # what this page's widgets show: no resync of a slider still moving


def preset_picked(session: Session) -> None:
    if ss.preset in PRESETS:
        session.act(session.apply_preset, ss.preset)
        ss.update(session.widget_state())  # a lesson may bring its corpus


def file_uploaded(session: Session) -> None:
    if (upload := ss.get("upload")) is not None:  # a file the server did not keep has no content to read
        content = upload.getvalue() if hasattr(upload, "getvalue") else None
        session.act(session.upload, getattr(upload, "name", "your file"), content)
        ss.corpus = session.wanted.corpus
    drop_uploads(page_id())  # kept on disk if good; refused or not, the server's memory lets it go


# ------------------------------------------------------------------------------ widgets
def widget(session: Session, c: Control) -> None:
    kind = KNOBS[c.name].kind
    common = dict(
        key=c.name, help=c.help, on_change=knob_moved, args=(session, c.name), disabled=not session.movable(c.name)
    )
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


def widgets(session: Session, controls, advanced: bool) -> None:
    for control in controls:
        if (control.name in ADVANCED) == advanced and control.name not in session.hidden:
            widget(session, control)


def corpus_pickers(session: Session) -> None:
    """The shipped corpora and this viewer's uploads, then the upload box."""
    choices = session.corpus_choices()
    st.selectbox(
        "Corpus",
        list(choices.values()),
        key="corpus",
        on_change=knob_moved,
        args=(session, "corpus"),
        format_func={path: label for label, path in choices.items()}.get,
        disabled=not session.movable("corpus"),
    )
    st.file_uploader(
        f"…or your own UTF-8 .txt file (at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB)",
        type=["txt"],
        key="upload",
        on_change=file_uploaded,
        args=(session,),
        max_upload_size=MAX_UPLOAD_MIB,  # MiB; explorer refuses beyond its 5 MB itself
        disabled=not session.movable("corpus"),
    )


def sidebar(session: Session, classroom: Classroom | None) -> None:
    with st.sidebar:
        if classroom is None:
            st.selectbox(
                "Lesson preset",
                [NO_PRESET, *PRESETS],
                key="preset",
                on_change=preset_picked,
                args=(session,),
                help="Fills in every knob for one lesson: live knobs act at once, setup waits for Reset.",
            )
        if ss.preset in PRESETS:
            st.caption(f"**{ss.preset}** teaches: {PRESETS[ss.preset].teaches}.")
        st.subheader("Live knobs", help="They act on the running model at its next step: no restart.")
        widgets(session, LIVE_CONTROLS, advanced=False)
        with st.expander("More live knobs"):
            widgets(session, LIVE_CONTROLS, advanced=True)
        st.subheader("Setup", help="A new model: applies on Reset.")
        if "corpus" not in session.hidden:
            corpus_pickers(session)
        widgets(session, SETUP_CONTROLS, advanced=False)
        st.caption("auto = " + ("the CUDA GPU" if torch.cuda.is_available() else "the CPU (no CUDA GPU here)"))
        with st.expander("More setup"):
            widgets(session, SETUP_CONTROLS, advanced=True)
        st.toggle("Projector: bigger type and charts", key="projector")
