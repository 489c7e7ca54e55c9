"""The dashboard's left column: the lesson preset, the live knobs, the setup (corpus, upload, model) — every
knob widget shows what the session wants, and every move goes through the session."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as W

from explorer.faces.notebook.parts import LABEL_WIDTH, ROW_WIDTH, control_widget, heading
from explorer.page.controls import ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, widget_value
from explorer.page.panels import NO_PRESET
from explorer.page.session import Session
from explorer.spec.presets import PRESETS


class KnobPanel:
    """The knob widgets (`controls` {knob: widget}, `corpus`, `upload`, `preset`, `preset_text`) and the column
    they are laid out in. `act(method, *args)` is the dashboard's way to call the session from a widget."""

    def __init__(self, session: Session, act: Callable, presets: bool = True):
        self.session, self._act = session, act
        self._syncing = False  # True while the widgets are set from the session (their callbacks stay quiet)
        wanted = session.wanted
        self.controls = {c.name: control_widget(c, getattr(wanted, c.name)) for c in ALL_CONTROLS}
        for name, widget in self.controls.items():
            widget.disabled = not session.movable(name)
            widget.observe(lambda change, name=name: self._on_knob(name, change["new"]), names="value")
        self.corpus = W.Dropdown(
            options=self._corpus_options(),
            value=wanted.corpus,
            description="Corpus",
            style={"description_width": LABEL_WIDTH},
            layout=W.Layout(width=ROW_WIDTH),
            disabled=not session.movable("corpus"),
            tooltip="The text the model learns",
        )
        self.corpus.observe(lambda change: self._on_knob("corpus", change["new"]), names="value")
        self.upload = W.FileUpload(
            accept=".txt",
            multiple=False,
            description="Use my own .txt file",
            layout=W.Layout(width="auto", margin="2px 0 6px 194px"),
            disabled=not session.movable("corpus"),
        )
        self.upload.observe(self._on_upload, names="value")
        self.preset = W.Dropdown(
            options=[NO_PRESET, *PRESETS],
            value=session.preset if session.preset in PRESETS else NO_PRESET,
            description="Lesson preset",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
            tooltip="Fills in every knob for one lesson: live knobs act at once, setup waits for Reset",
        )
        self.preset_text = W.HTML(layout=W.Layout(width=ROW_WIDTH))
        self.preset.observe(self._on_preset, names="value")
        self.widget = W.VBox(self._column(presets), layout=W.Layout(width="350px", min_width="350px"))

    def _column(self, presets: bool) -> list[W.Widget]:
        """The preset picker, the live knobs in view, then "More live knobs" and the setup, folded."""

        def visible(controls, advanced: bool):
            return [
                self.controls[c.name]
                for c in controls
                if (c.name in ADVANCED) == advanced and c.name not in self.session.hidden
            ]

        live_main, live_more = visible(LIVE_CONTROLS, False), visible(LIVE_CONTROLS, True)
        setup = visible(SETUP_CONTROLS, False) + visible(SETUP_CONTROLS, True)
        if "corpus" not in self.session.hidden:
            setup = [self.corpus, W.HBox([self.upload]), *setup]
        column = [self.preset, self.preset_text] if presets else []
        if live_main or live_more:
            column.append(heading("Live knobs: they act at the next step"))
            column += live_main
        for title, widgets in (("More live knobs", live_more), ("Setup: a new model, applies on Reset", setup)):
            if widgets:
                column.append(W.Accordion(children=[W.VBox(widgets)], titles=[title], layout=W.Layout(width="340px")))
        return column

    def sync(self) -> None:
        """Every knob widget back to the session's value (a refused or adjusted move does not stay shown)."""
        session, self._syncing = self.session, True
        try:
            for control in ALL_CONTROLS:
                self.controls[control.name].value = widget_value(control, getattr(session.wanted, control.name))
            options = self._corpus_options()
            if list(self.corpus.options) != options:
                self.corpus.options = options
            self.corpus.value = session.wanted.corpus
            if session.preset in PRESETS and session.preset != self.preset.value:
                self.preset.value = session.preset
            self._describe_preset()
        finally:
            self._syncing = False

    def _corpus_options(self) -> list[tuple[str, str]]:
        return list(self.session.corpus_choices().items())

    def _describe_preset(self) -> None:
        name = self.preset.value
        self.preset_text.value = (
            f"<i><b>{html.escape(name)}</b> teaches: {html.escape(PRESETS[name].teaches)}.</i>"
            if name in PRESETS
            else ""
        )

    def _on_knob(self, name: str, value) -> None:
        if not self._syncing:
            self._act(self.session.set_knobs, {name: round(value, 10) if isinstance(value, float) else value})

    def _on_preset(self, change) -> None:
        if self._syncing:
            return
        self._describe_preset()
        if change["new"] in PRESETS:
            self._act(self.session.apply_preset, change["new"])

    def _on_upload(self, change) -> None:
        if self._syncing or not change["new"]:
            return
        item = change["new"][0]
        self._act(self.session.upload, item["name"], bytes(item["content"]))
        self._syncing = True
        try:
            self.upload.value = ()  # the same file may be chosen again
        finally:
            self._syncing = False
