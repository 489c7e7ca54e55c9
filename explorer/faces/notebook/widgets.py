"""The notebook / Voilà front end: one `explorer.session.Session` drawn as ipywidgets, plus `experiment()`,
which draws a lesson's headless experiment (explorer.lessons) while it trains.

    from explorer.widgets import dashboard
    dashboard()                                            # everything, as in the Streamlit app
    dashboard("dropout", show=("dropout", "dropout_kind"))  # a lesson: one preset, two knobs in view
    dashboard(config=model, locked={"cell": "rnn"}, hidden=("layernorm",))
    dashboard(query="preset=dropout&lock=dropout,cell&hide=l2")  # a link locks and hides knobs the same way

It only draws: every decision (presets, links, uploads, locked knobs, errors, the status line, the one
message, which buttons are on, sweeps) is the session's; the tabs and charts come from `explorer.views.VIEWS`, and
a sweep's (Compare runs → Repeat over seeds, the Sweep tab) from `explorer.views.SWEEP_VIEWS`.

Threads, and who may touch what:
- the run trains in its own worker process; the session's LiveRun reads its records on a reader thread;
- button and knob callbacks run on the kernel's main thread: they call the session, put the knob widgets
  back to what the session holds, and wake the pump; they never draw charts;
- a sweep (`SweepJob`) runs its trials in worker processes, driven by a thread of its own; the dashboard
  only reads its status line and its summary from the store;
- ONE pump thread per dashboard turns the session's answers into widget trait updates (status line, message,
  buttons, knob changes, charts, the jobs' lines and charts), at most every `refresh_s` seconds while the run
  or a job advances, and sleeps while all are idle, paused or ended, so an abandoned kernel is left quiet.
  Nothing here calls display() or writes to an Output from a thread.
- an invisible heartbeat widget pings the kernel from the open page; once the pings stop (tab closed) for
  `viewer_timeout_s`, the run's watchdog stops it.
"""

from __future__ import annotations

import base64
import html
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qsl

import altair as alt
import anywidget
import ipywidgets as W
import traitlets

from explorer.page.controls import ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, Control, widget_value
from explorer.page.session import (
    GRID_DEFAULTS,
    JOB_CHARTS,
    NO_KNOB,
    SWEEP_KNOBS,
    Message,
    Session,
    ViewerWatchdog,
    knob_change_lines,
    parse_link,
)
from explorer.runs.experiments import Arm, Progress, Result, arm_summary, run_experiment, run_over_seeds
from explorer.runs.history import Snapshot
from explorer.runs.sweep_job import SweepJob
from explorer.runs.sweep_summary import SweepSummary
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import format_value
from explorer.views import charts
from explorer.views import registry as chart_views
from explorer.views.export import history_csv

SWEEP = "sweep"  # the Sweep tab: a grid × seeds in the background, drawn from chart_views.SWEEP_VIEWS
SAMPLE = "sample"  # the text sample tab: not a chart view, so not in chart_views.VIEWS
TAB_TITLES = {**{name: view.title for name, view in chart_views.VIEWS.items()}, SWEEP: "Sweep", SAMPLE: "Text sample"}
VIEWS = tuple(TAB_TITLES)  # every tab, in order
# The session's background jobs: the tab that shows each.
JOB_TABS = {"seeds": "compare", "sweep": SWEEP}
CHART_WIDTH = 520  # plot width in pixels (axes and legends come on top): knobs and chart side by side at 1024 px
CHART_HEIGHT, PROJECTOR_HEIGHT = 300, 560  # plot heights: whole on 1024×768; with the projector toggle on
JOB_HEIGHT, JOB_PROJECTOR_HEIGHT = 240, 420  # a job's charts come below its controls: a little shorter
# A sweep chart's labels and colour legend come on top of its plot width: drawn to fit this many pixels in all.
JOB_EXTRA_WIDTH = 60
FIT = alt.AutoSizeParams(type="fit-x", contains="padding")
REFRESH_S = 0.5  # at most two chart redraws a second
VIEWER_TIMEOUT_S = 90.0  # no heartbeat for this long: the page is gone (background tabs beat once a minute)
BEAT_MS = 5000
LABEL_WIDTH, ROW_WIDTH = "150px", "330px"
NO_PRESET = "— pick a lesson —"
EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}
BUTTON_STYLES = {"train": "success", "pause": "warning", "reset": "", "branch": "", "save": "", "clear": ""}


# ------------------------------------------------------------------------------------------ offline charts
def enable_offline_charts() -> None:
    """`alt.JupyterChart` loads vega-embed from a CDN unless told otherwise, and then silently draws nothing
    offline. Altair bundles it with vl-convert (3-8 s per kernel), so the bundle is cached on disk by version."""
    chart = alt.JupyterChart
    if getattr(chart, "_is_offline", False):
        return
    try:
        import vl_convert

        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "explorer"
        path = cache / f"jupyterchart-altair{alt.__version__}-vlc{vl_convert.__version__}.js"
        if hasattr(chart, "_is_offline") and path.is_file():
            chart._esm, chart._is_offline = path.read_text(encoding="utf-8"), True
            return
        chart.enable_offline()
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(chart._esm, encoding="utf-8")
        partial.replace(path)  # atomic: another kernel reading the cache never sees half a file
    except OSError:
        chart.enable_offline()


def chart_widget(chart: alt.TopLevelMixin | None = None, width: int = CHART_WIDTH) -> alt.JupyterChart:
    """A chart as a widget that renders offline (SVG, so it is sharp on a projector; the … menu saves
    PNG/SVG). Assign `.chart = new_chart` to redraw it."""
    enable_offline_charts()
    return alt.JupyterChart(
        chart if chart is not None else charts.gap_chart(Snapshot(), width=width), embed_options=EMBED_OPTIONS
    )


# ------------------------------------------------------------------------------------------ knob widgets
def control_widget(control: Control, value) -> W.ValueWidget:
    """The ipywidget for one `controls.Control` spec, showing `value`."""
    value = widget_value(control, value)
    common = dict(
        description=control.label,
        tooltip=f"{control.label}: {control.help}",
        style={"description_width": LABEL_WIDTH},
        layout=W.Layout(width=ROW_WIDTH),
    )
    integer = KNOBS[control.name].kind is int
    if control.kind == "slider":
        cls = W.IntSlider if integer else W.FloatSlider
        return cls(
            value=value,
            min=control.lo,
            max=control.hi,
            step=control.step,
            continuous_update=False,
            **({} if integer else {"readout_format": ".2f"}),
            **common,
        )
    if control.kind == "choice_slider":
        return W.SelectionSlider(
            options=[(format_value(o), o) for o in control.options], value=value, continuous_update=False, **common
        )
    if control.kind == "select":
        return W.Dropdown(options=list(control.options), value=value, **common)
    if control.kind == "toggle":
        return W.Checkbox(value=value, indent=True, **common)
    return W.BoundedIntText(value=value, min=int(control.lo), max=int(control.hi), step=int(control.step), **common)


class Heartbeat(anywidget.AnyWidget):
    """Invisible. While a page shows it, the page sends a beat every few seconds; `alive()` turns False
    once beats stop for `timeout_s` (the tab was closed). Before the first beat it stays True: a front end
    that cannot run it (nbclient, a plain console) must not stop runs. `beats` counts the beats received and
    goes back to the page (as the element's data-beats attribute), so a browser test sees the round trip."""

    _esm = """
    function render({ model, el }) {
      el.classList.add("explorer-heartbeat");
      const show = () => { el.dataset.beats = String(model.get("beats")); };
      model.on("change:beats", show);
      show();
      const beat = () => model.send({ beat: Date.now() });
      beat();
      const timer = setInterval(beat, BEAT_MS);
      return () => { clearInterval(timer); model.off("change:beats", show); };
    }
    export default { render };
    """.replace("BEAT_MS", str(BEAT_MS))
    beats = traitlets.Int(0).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(layout=W.Layout(display="none"), **kwargs)
        self.last_beat: float | None = None
        self.on_msg(self._on_beat)

    def _on_beat(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and "beat" in content:
            self.last_beat = time.monotonic()
            self.beats += 1

    def alive(self, timeout_s: float) -> bool:
        return self.last_beat is None or time.monotonic() - self.last_beat < timeout_s


def _button(label: str = "", tooltip: str = "", style: str = "") -> W.Button:
    return W.Button(description=label, tooltip=tooltip, button_style=style, layout=W.Layout(width="auto"))


def _heading(text: str) -> W.HTML:
    return W.HTML(f"<b style='font-size:1.05em'>{html.escape(text)}</b>")


def _line(message: Message, size: str = "1em", bold: bool = False) -> str:
    text = html.escape(message.text)
    return f"<div style='color:{message.colour};font-size:{size}'>{f'<b>{text}</b>' if bold else text}</div>"


# ------------------------------------------------------------------------------------------ the dashboard
class Dashboard(W.VBox):
    """Build it with `dashboard(...)`. Parts a test or a lesson may reach: `.session` (its run is
    `.session.run`), `.controls` {knob: widget}, `.corpus`, `.upload`, `.preset`, `.buttons` {train, pause,
    reset, branch, save, clear, generate, export, repeat, sweep, cancel_seeds, cancel_sweep}, `.charts`
    {chart name: JupyterChart}, `.status`, `.notice` (the link's notices and the session's one message),
    `.knob_list`, `.tabs`, `.views`, `.metric`, `.projector`, `.heartbeat`, `.redraws`; for the jobs ("seeds":
    Compare runs → Repeat over seeds, "sweep": the Sweep tab): `.job_lines` {kind: HTML}, `.job_charts`
    {kind: {chart name: JupyterChart}}, `.repeat_seeds`, `.sweep_knobs`, `.sweep_values` (two each),
    `.sweep_seeds`, `.sweep_steps`."""

    def __init__(
        self,
        config: Config,
        *,
        preset: str | None = None,
        locked: Mapping[str, object] | None = None,
        hidden: Iterable[str] = (),
        notices: Iterable[str] = (),
        views: Iterable[str] = VIEWS,
        presets: bool = True,
        width: int = CHART_WIDTH,
        refresh_s: float = REFRESH_S,
        viewer_timeout_s: float = VIEWER_TIMEOUT_S,
    ):
        self._closed = threading.Event()
        self._wake = threading.Event()
        self.views = list(views)
        unknown = [v for v in self.views if v not in TAB_TITLES]
        if unknown or not self.views:  # before the session exists: a bad call leaves no worker behind
            raise ConfigError(f"unknown view {unknown[0] if unknown else None!r}; views: {', '.join(TAB_TITLES)}")
        enable_offline_charts()
        self._width, self._refresh_s, self._period = width, refresh_s, refresh_s
        self._viewer_timeout_s = viewer_timeout_s
        self._busy_until = 0.0  # keep polling a little after any action (a Reset's first record, a step)
        self._syncing = False  # True while the widgets are set from the session (their callbacks stay quiet)
        self.redraws = 0  # chart redraws so far (tests check that an idle dashboard stays idle)
        self.pump_error: str | None = None
        self.heartbeat = Heartbeat()
        self.session = Session(
            config,
            source="notebook",
            owner=uuid.uuid4().hex,
            locked=locked,
            hidden=frozenset(hidden),
            notices=list(notices),
            preset=preset,
            watchdog=ViewerWatchdog(self._viewer_present, on_leave=self._viewer_left),
        )
        wanted = self.session.wanted

        # --- knobs: what the session wants, shown; locked ones disabled
        self.controls = {c.name: control_widget(c, getattr(wanted, c.name)) for c in ALL_CONTROLS}
        for name, widget in self.controls.items():
            widget.disabled = not self.session.movable(name)
            widget.observe(lambda change, name=name: self._on_knob(name, change["new"]), names="value")
        self.corpus = W.Dropdown(
            options=self._corpus_options(),
            value=wanted.corpus,
            description="Corpus",
            style={"description_width": LABEL_WIDTH},
            layout=W.Layout(width=ROW_WIDTH),
            disabled=not self.session.movable("corpus"),
            tooltip="The text the model learns",
        )
        self.corpus.observe(lambda change: self._on_knob("corpus", change["new"]), names="value")
        self.upload = W.FileUpload(
            accept=".txt",
            multiple=False,
            description="Use my own .txt file",
            layout=W.Layout(width="auto", margin="2px 0 6px 194px"),
            disabled=not self.session.movable("corpus"),
        )
        self.upload.observe(self._on_upload, names="value")
        self.preset = W.Dropdown(
            options=[NO_PRESET, *PRESETS],
            value=preset if preset in PRESETS else NO_PRESET,
            description="Lesson preset",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
            tooltip="Fills in every knob for one lesson: live knobs act at once, setup waits for Reset",
        )
        self.preset_text = W.HTML(layout=W.Layout(width=ROW_WIDTH))
        self.preset.observe(self._on_preset, names="value")

        # --- buttons (labels and states come from the session), status, the one message
        actions = {
            "train": self.session.train,
            "pause": self.session.pause_or_resume,
            "reset": self.session.reset,
            "branch": self.session.branch,
            "save": self._save,
            "clear": self.session.clear_saved,
        }
        self.buttons = {key: _button(style=BUTTON_STYLES[key]) for key in actions}
        for key, action in actions.items():
            self.buttons[key].on_click(lambda _, action=action: self._act(action))
        self.projector = W.Checkbox(
            value=False, description="Projector: bigger type and charts", indent=False, layout=W.Layout(width="auto")
        )
        self.projector.observe(lambda _: self._poke(), names="value")
        self.status = W.HTML(layout=W.Layout(min_height="1.6em"))
        self.notice = W.HTML()
        self.knob_list = W.HTML()

        # --- views: one tab per chart_views.VIEWS entry asked for, one chart widget per ChartSpec
        self.metric = W.ToggleButtons(
            options=[("loss", "loss"), ("perplexity", "ppl")],
            value="loss",
            style={"button_width": "90px"},
            tooltip="Loss in nats/token, or perplexity = e^loss",
        )
        self.metric.observe(lambda _: self._poke(), names="value")
        # Chart widgets are made when their tab is first drawn: each loads its own copy of the offline Vega
        # bundle, and anywidget gives a widget 2 s to load before it stops taking updates, which a slow
        # laptop misses when a dozen load at once.
        self.charts: dict[str, alt.JupyterChart] = {}
        self.job_lines: dict[str, W.HTML] = {}
        self.job_charts: dict[str, dict[str, alt.JupyterChart]] = {}
        self._job_boxes: dict[str, W.VBox] = {}
        self._job_message: tuple[str, Message | None] | None = None  # (job, the message its button got)
        self._chart_boxes: dict[str, W.VBox] = {}
        pages = []
        for name in self.views:
            if name == SAMPLE:
                pages.append(self._sample_panel())
                continue
            if name == SWEEP:
                pages.append(self._sweep_panel())
                continue
            self._chart_boxes[name] = W.VBox()
            widgets = [self.metric] if name == "gap" else []
            widgets.append(self._chart_boxes[name])
            if name == "compare":
                widgets.append(self._seeds_panel())
            pages.append(W.VBox(widgets))
        self.tabs = W.Tab(children=pages, titles=[TAB_TITLES[v] for v in self.views])
        self.tabs.observe(lambda _: self._poke(), names="selected_index")
        self.export_link = W.HTML()
        self.buttons["export"] = _button("History as CSV", "A spreadsheet of every kept step and evaluation")
        self.buttons["export"].on_click(lambda _: self._export())

        super().__init__(children=[self._layout(presets)], layout=W.Layout(width="100%"))
        self.add_class("explorer-dashboard")
        self._sync_widgets()
        self._shown = self._refresh(None)
        self._pump_thread = threading.Thread(target=self._pump, name="explorer-dashboard-pump", daemon=True)
        self._pump_thread.start()

    # -------------------------------------------------------------------------------- layout
    def _layout(self, presets: bool) -> W.Widget:
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
        left = [self.preset, self.preset_text] if presets else []
        if live_main or live_more:
            left.append(_heading("Live knobs: they act at the next step"))
            left += live_main
        for title, widgets in (("More live knobs", live_more), ("Setup: a new model, applies on Reset", setup)):
            if widgets:
                left.append(W.Accordion(children=[W.VBox(widgets)], titles=[title], layout=W.Layout(width="340px")))
        right = [
            W.HBox(
                [*(self.buttons[b] for b in BUTTON_STYLES), self.projector],
                layout=W.Layout(flex_flow="row wrap", align_items="center"),
            ),
            self.status,
            self.notice,
            self.knob_list,
            self.tabs,
            W.HBox([self.buttons["export"], self.export_link], layout=W.Layout(align_items="center")),
            self.heartbeat,
        ]
        return W.HBox(
            [
                W.VBox(left, layout=W.Layout(width="350px", min_width="350px")),
                W.VBox(right, layout=W.Layout(flex="1 1 560px", min_width="0")),
            ],
            layout=W.Layout(flex_flow="row wrap", width="100%"),
        )

    def _sample_panel(self) -> W.Widget:
        self.prompt = W.Text(value="ROMEO:", description="Prompt", layout=W.Layout(width=ROW_WIDTH))
        self.sample_length = W.IntSlider(
            value=300,
            min=20,
            max=1000,
            step=20,
            description="Length (tokens)",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
        )
        self.temperature = W.SelectionSlider(
            options=[0.2, 0.5, 0.8, 1.0, 1.2, 1.5],
            value=0.8,
            description="Temperature",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
            tooltip="Low: safe and repetitive; high: adventurous and noisy",
        )
        self.buttons["generate"] = _button(
            "Generate text", "From the weights as they are now; training goes on", "info"
        )
        self.buttons["generate"].on_click(lambda _: self._generate())
        self.sample_text = W.HTML()
        self._samples = 0
        return W.VBox(
            [self.prompt, self.sample_length, self.temperature, self.buttons["generate"], self.sample_text],
            layout=W.Layout(align_items="flex-start"),
        )

    def _job_panel(self, kind: str, controls: list[W.Widget], start: W.Button) -> list[W.Widget]:
        """A job's controls and start button, its Cancel button, its status line and its charts."""
        cancel = self.buttons[f"cancel_{kind}"] = _button("Cancel", "Stop it; the finished trials stay", "danger")
        cancel.layout.display = "none"  # shown while the job runs
        cancel.on_click(lambda _: self._job_act(kind, self.session.cancel_job, kind))
        self.job_lines[kind] = W.HTML()
        self.job_charts[kind] = {}  # made when its first trial ends (see above: loading widgets one by one)
        self._job_boxes[kind] = W.VBox()
        row = W.HBox([*controls, start, cancel], layout=W.Layout(flex_flow="row wrap", align_items="center"))
        return [row, self.job_lines[kind], self._job_boxes[kind]]

    def _seeds_panel(self) -> W.Widget:
        self.repeat_seeds = W.BoundedIntText(
            value=3,
            min=2,
            max=10,
            description="Seeds",
            style={"description_width": "50px"},
            layout=W.Layout(width="130px"),
        )
        repeat = self.buttons["repeat"] = _button(
            "Repeat over seeds", "Every run above trains again with other seeds, as long as it ran, in the background"
        )
        repeat.on_click(lambda _: self._job_act("seeds", self.session.repeat_over_seeds, self.repeat_seeds.value))
        intro = W.HTML(
            "<b>Repeat over seeds</b> — is the difference real? Every run above trains again with other seeds, "
            "as long as it ran and with its knob moves, in the background."
        )
        return W.VBox([intro, *self._job_panel("seeds", [self.repeat_seeds], repeat)])

    def _sweep_panel(self) -> W.Widget:
        wanted, style = self.session.wanted, {"description_width": "110px"}
        self.sweep_knobs = [
            W.Dropdown(options=SWEEP_KNOBS, value="dropout", description="First knob", style=style),
            W.Dropdown(options=[NO_KNOB, *SWEEP_KNOBS], value="l2", description="Second knob", style=style),
        ]
        self.sweep_values = [
            W.Text(value=GRID_DEFAULTS[knob.value], description="values", placeholder="0, 0.25, 0.5", style=style)
            for knob in self.sweep_knobs
        ]
        for knob, values in zip(self.sweep_knobs, self.sweep_values):
            knob.observe(lambda change, values=values: self._on_sweep_knob(change["new"], values), names="value")
        self.sweep_seeds = W.BoundedIntText(value=3, min=1, max=10, description="Seeds", style=style)
        self.sweep_steps = W.BoundedIntText(
            value=wanted.steps, min=1, max=int(KNOBS["steps"].hi), step=100, description="Steps per trial", style=style
        )
        for widget in (*self.sweep_knobs, *self.sweep_values, self.sweep_seeds, self.sweep_steps):
            widget.layout = W.Layout(width="290px")
        start = self.buttons["sweep"] = _button("Start sweep", "The grid × seeds, in the background", "primary")
        start.on_click(lambda _: self._job_act("sweep", self._start_sweep))
        intro = W.HTML(
            "<b>Sweep</b> — a grid of knob values on top of the setup on the left, each trained with several seeds "
            "in the background while the live run goes on."
        )
        grid = W.GridBox(
            [self.sweep_knobs[0], self.sweep_knobs[1], self.sweep_values[0], self.sweep_values[1]],
            layout=W.Layout(grid_template_columns="repeat(2, 300px)"),
        )
        return W.VBox([intro, grid, *self._job_panel("sweep", [self.sweep_seeds, self.sweep_steps], start)])

    def _on_sweep_knob(self, knob: str, values: W.Text) -> None:
        values.disabled = knob == NO_KNOB
        if knob != NO_KNOB:
            values.value = GRID_DEFAULTS.get(knob, format_value(getattr(self.session.wanted, knob)))

    def _start_sweep(self) -> None:
        knobs = [(k.value, v.value) for k, v in zip(self.sweep_knobs, self.sweep_values)]
        self.session.start_sweep(knobs, self.sweep_seeds.value, self.sweep_steps.value)

    def _corpus_options(self) -> list[tuple[str, str]]:
        return list(self.session.corpus_choices().items())

    # -------------------------------------------------------------------------------- callbacks (main thread)
    def _poke(self, busy_s: float = 3.0) -> None:
        self._busy_until = time.monotonic() + busy_s
        self._wake.set()

    def _act(self, action: Callable, *args):
        """One user action through the session (which turns a mistake into the page's one message); then the
        widgets show what the session now holds, and the pump redraws."""
        result = self.session.act(action, *args)
        self._sync_widgets()
        self._poke()
        return result

    def _job_act(self, kind: str, action: Callable, *args) -> None:
        """A job's button: the session's answer is drawn next to that button, not at the top of the page."""
        self.session.act(action, *args)
        self._job_message = (kind, self.session.flash)
        self._poke()

    def _job_says(self, kind: str) -> Message | None:
        """The page's one message, when it answers this job's button."""
        said = self._job_message
        flash = self.session.flash
        return flash if said is not None and said[0] == kind and said[1] is flash and flash is not None else None

    def _sync_widgets(self) -> None:
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

    def _save(self) -> None:
        self.session.save()
        if "compare" in self.views:
            self.tabs.selected_index = self.views.index("compare")

    def _export(self) -> None:
        data = base64.b64encode(history_csv(self.session.run.snapshot()).encode()).decode()
        self.export_link.value = (
            f"<a download='explorer-history.csv' href='data:text/csv;base64,{data}'>⬇ explorer-history.csv</a>"
        )

    def _generate(self) -> None:
        self._samples += 1
        text, problem = self.session.sample(
            self.prompt.value, self.sample_length.value, self.temperature.value, self._samples
        )
        if problem is not None:
            self.sample_text.value = _line(problem)
            return
        step = self.session.run.snapshot().last_step
        self.sample_text.value = (
            f"<div style='color:#555'>Sampled after step {step:,}:</div>"
            f"<div style='white-space:pre-wrap;font-family:monospace;line-height:1.35;"
            f"background:#f6f6f6;padding:8px;max-width:{self._width + 100}px'>"
            f"{html.escape(text)}</div>"
        )

    def _viewer_left(self) -> None:  # called from the run's reader thread, once
        self.session.viewer_left()
        self._wake.set()

    def _viewer_present(self) -> bool:  # called from the run's reader thread
        return not self._closed.is_set() and self.heartbeat.alive(self._viewer_timeout_s)

    # -------------------------------------------------------------------------------- the pump (its own thread)
    def _pump(self) -> None:
        shown = self._shown
        while not self._closed.is_set():
            self._wake.clear()
            status = self.session.run.status  # read BEFORE drawing: a run that ends mid-draw is drawn again
            jobs = any(job.running for job in list(self.session.jobs.values()))  # (and so is a job)
            try:
                shown = self._refresh(shown)
                self.pump_error = None  # a passing problem (a dict changed mid-read) is gone once a redraw works
            except Exception as err:  # noqa: BLE001 - the pump must survive a bad redraw and say so
                self.pump_error = f"{type(err).__name__}: {err}"
            moving = status == "running" or jobs or time.monotonic() < self._busy_until
            self._wake.wait(self._period if moving else None)  # idle: sleep until a button or knob moves

    def _refresh(self, shown: tuple | None) -> tuple:
        """Push what changed since `shown` (the (page, charts, jobs) keys last drawn); returns the new keys."""
        session, run = self.session, self.session.run
        snap = run.snapshot()
        tab = self.tabs.selected_index
        view = self.views[tab] if tab is not None and tab < len(self.views) else None
        status, message, buttons = session.status(), session.message(), session.buttons()
        page = (
            status,
            message,
            tuple(buttons.items()),
            self.projector.value,
            self.pump_error,
            snap.last_step,
            len(snap.events),
        )
        drawn = (
            run.run_id,
            snap.last_step,
            len(snap.evals),
            len(snap.events),
            tuple(run.saved),
            tuple(list(run.branches)),  # the kernel's thread may add a branch meanwhile
            view,
            self.metric.value,
            self.projector.value,
        )
        jobs = {kind: self._job_key(kind, view) for kind in self.job_lines}
        old_page, old_drawn, old_jobs = shown or (None, None, {})
        began = time.monotonic()
        if page != old_page:
            self._draw_page(status, message, buttons, snap)
        if drawn != old_drawn:
            self._draw_charts(view, snap)
        for kind, key in jobs.items():
            old = old_jobs.get(kind)
            if old is None or key[:3] != old[:3]:
                self._draw_job_line(kind)
            if key[1] is not None and key[3] and (old is None or key != old):
                self._draw_job_charts(kind)
        elapsed = time.monotonic() - began
        self._period = max(self._refresh_s, 3 * elapsed)  # on a busy 2-core laptop, drawing never crowds out training
        return page, drawn, jobs

    def _job_key(self, kind: str, view: str | None) -> tuple:
        """(message, job, its line, shown?, trials ended, projector): the line is drawn again when one of the
        first three changes, the charts when anything does while its tab is open. The job itself is in the
        key, so a new job with the same line is drawn anew."""
        job: SweepJob | None = self.session.jobs.get(kind)
        progress = job.progress if job is not None else None
        ended = -1 if progress is None else progress.done + progress.failed
        line = None if job is None else (job.text, job.running)
        return self._job_says(kind), job, line, view == JOB_TABS[kind], ended, self.projector.value

    def _draw_page(self, status: Message, message: Message | None, buttons: dict, snap: Snapshot) -> None:
        big = self.projector.value
        self.status.value = _line(status, "1.5em" if big else "1.15em", bold=True)
        lines = [_line(Message("warning", f"From the link: {notice}")) for notice in self.session.notices]
        if message is not None and not any(self._job_says(kind) for kind in self.job_lines):
            lines.append(_line(message, "1.2em" if big else "1em"))
        if self.pump_error:
            lines.append(_line(Message("warning", f"(display problem: {self.pump_error})")))
        self.notice.value = "".join(lines)
        changes = knob_change_lines(snap)
        self.knob_list.value = (
            ("<div style='color:#444'>Knob changes: " + " · ".join(map(html.escape, changes)) + "</div>")
            if changes
            else ""
        )
        for key, button in buttons.items():
            widget = self.buttons[key]
            widget.description, widget.disabled, widget.tooltip = button.label, not button.enabled, button.help

    def _draw_charts(self, view: str | None, snap: Snapshot) -> None:
        if view not in chart_views.VIEWS:
            return
        big = self.projector.value
        saved = self.session.comparison()[:-1]  # the saved runs and the live branches
        box = self._chart_boxes.get(view)
        if box is not None and not box.children:  # the tab's first draw: its widgets are made now
            for spec in chart_views.VIEWS[view].charts:
                self.charts[spec.name] = chart_widget(width=self._width)
            box.children = [self.charts[spec.name] for spec in chart_views.VIEWS[view].charts]
        for spec in chart_views.VIEWS[view].charts:
            self.charts[spec.name].chart = spec.build(
                snap,
                saved,
                width=self._width,
                metric=self.metric.value,
                projector=big,
                height=PROJECTOR_HEIGHT if big else CHART_HEIGHT,
            )
            self.redraws += 1

    def _draw_job_line(self, kind: str) -> None:
        """The job's button's answer (if the last action was it), then the job's one status line."""
        lines = []
        if (message := self._job_says(kind)) is not None:
            lines.append(_line(message))
        job = self.session.jobs.get(kind)
        if job is not None:
            level = "error" if job.error else "info" if job.running else "warning" if job.cancelled else "success"
            lines.append(_line(Message(level, job.text), bold=True))
        self.job_lines[kind].value = "".join(lines)
        running = job is not None and job.running
        self.buttons[f"cancel_{kind}"].layout.display = None if running else "none"
        self.buttons["repeat" if kind == "seeds" else "sweep"].disabled = running

    def _draw_job_charts(self, kind: str) -> None:
        summary = self.session.jobs[kind].summary()  # read again only when another trial has ended
        if not self.job_charts[kind]:
            self.job_charts[kind] = {
                spec.name: chart_widget(self._job_chart(spec, summary)) for spec in JOB_CHARTS[kind]
            }
            self._job_boxes[kind].children = list(self.job_charts[kind].values())
        for spec in JOB_CHARTS[kind]:
            self.job_charts[kind][spec.name].chart = self._job_chart(spec, summary)
            self.redraws += 1

    def _job_chart(self, spec: chart_views.ChartSpec, summary: SweepSummary) -> alt.TopLevelMixin:
        """A sweep chart whose long arm labels and colour legend fit beside the knobs, as the gap chart does."""
        big = self.projector.value
        width = self._width + JOB_EXTRA_WIDTH
        chart = spec.build(summary, width=width, height=JOB_PROJECTOR_HEIGHT if big else JOB_HEIGHT, projector=big)
        return chart.properties(autosize=FIT)

    # -------------------------------------------------------------------------------- ending
    def close(self) -> None:
        """Stop the run (its worker processes too) and the pump thread, then close the widget."""
        self._closed.set()
        self._wake.set()
        if (session := getattr(self, "session", None)) is not None:  # None: the constructor failed early
            session.close()
        pump = getattr(self, "_pump_thread", None)
        if pump is not None and pump is not threading.current_thread():
            pump.join(2.0)
        super().close()


def dashboard(
    preset: str | None = None,
    *,
    config: Config | None = None,
    locked: Iterable[str] | Mapping[str, object] = (),
    hidden: Iterable[str] = (),
    show: Iterable[str] | None = None,
    views: Iterable[str] = VIEWS,
    presets: bool = True,
    query: str | None = None,
    width: int = CHART_WIDTH,
    refresh_s: float = REFRESH_S,
    viewer_timeout_s: float = VIEWER_TIMEOUT_S,
) -> Dashboard:
    """The live dashboard, ready to display (nothing trains until Train is pressed).

    preset   a lesson from `explorer.presets.PRESETS` to start from ("overfit", "dropout", ...).
    config   the starting Config (the preset is applied on top of it; default: Config()).
    locked   knobs shown but not movable; a mapping also sets them: locked={"cell": "rnn"}.
    hidden   knobs not shown at all (they keep the starting value); `show` is the opposite: only these.
    views    tabs, from "gap", "gradients", "weights", "compare", "reach", "masks", "memorisation"
             (explorer.views.VIEWS), "sweep" and "sample";
             "compare" brings Repeat over seeds with it.
    presets  False hides the preset picker.
    query    a shared link's query string ("preset=dropout&hidden=64"; Voilà passes the page's as the
             QUERY_STRING environment variable), read by `session.parse_link` exactly as the app reads its
             URL: its preset replaces `preset`, its knobs override both, its `lock=` and `hide=` knobs join
             `locked` (at the link's values) and `hidden`; problems are listed on the page.
    """
    if preset is not None:
        preset_config(preset)  # a lesson's own typo fails loudly, unlike a viewer's link
    shared = dict(parse_qsl((query or "").lstrip("?")))
    link = parse_link({"preset": preset, **shared} if preset else shared, config or Config())
    start = link.config
    locked_values = link.locked_values | (dict(locked) if isinstance(locked, Mapping) else dict.fromkeys(locked))
    hidden = set(hidden) | set(link.hidden)
    if show is not None:
        hidden |= ({c.name for c in ALL_CONTROLS} | {"corpus"}) - set(show)
    unknown = sorted((set(locked_values) | hidden | set(show or ())) - set(KNOBS))
    if unknown:
        raise ConfigError(f"unknown knob {unknown[0]!r}; known: {', '.join(KNOBS)}")
    locked_values = {k: getattr(start, k) if v is None else v for k, v in locked_values.items()}
    return Dashboard(
        start,
        preset=link.preset,
        locked=locked_values,
        hidden=hidden,
        notices=link.problems,
        views=views,
        presets=presets,
        width=width,
        refresh_s=refresh_s,
        viewer_timeout_s=viewer_timeout_s,
    )


# ------------------------------------------------------------------------------------------ lessons
def experiment(
    runs: Mapping[str, Config],
    chart: Callable[[list[Snapshot]], alt.TopLevelMixin] | None = None,
    schedules: Mapping[str, dict] | None = None,
    every_s: float = 1.0,
    threads: int | None = None,
    live: bool = True,
    width: int = CHART_WIDTH,
    seeds: Sequence[int] | None = None,
) -> dict[str, Result] | dict[str, Arm]:
    """`explorer.lessons.run_experiment` (each configuration trained to its end, one after another, in THIS
    thread, every run in the store), drawn while it trains: a progress line and `chart(snapshots)` (the
    finished runs and the one in progress; default: their validation losses on one axis), redrawn about
    every `every_s` seconds. `schedules` {run name: {step: {knob: value}}} moves knobs mid-run, as a slider
    would; `threads` sets torch's CPU threads (1 is fastest for tiny models). Returns {name: Result}.

    `seeds`: train every configuration on each of these seeds (`lessons.run_over_seeds`); the default chart
    is then each configuration's mean curve with its seeds' 95 % band, and it returns {name: Arm}."""
    if seeds is not None and chart is None:
        names = list(runs)

        def chart(snaps: list[Snapshot]) -> alt.TopLevelMixin:  # run order: seed by seed, names in order
            arms = [
                arm_summary(name, i, snaps[i :: len(names)], seeds[: len(snaps[i :: len(names)])])
                for i, name in enumerate(names)
            ]
            return charts.variance_band_chart(SweepSummary("lesson", arms, []), width=width)

    draw = chart or (lambda snaps: charts.comparison_chart(snaps, width=width))
    progress = None
    if live:
        from IPython.display import display

        line, view = W.HTML(), chart_widget(width=width)
        display(W.VBox([line, view]))

        def progress(p: Progress) -> None:
            line.value = html.escape(p.text)
            view.chart = draw(p.snapshots)

    options = {"schedules": schedules, "progress": progress, "every_s": every_s, "threads": threads}
    if seeds is not None:
        return run_over_seeds(runs, seeds, **options)
    return run_experiment(runs, **options)


class Prediction(W.VBox):
    """A lesson's "predict before you observe": the reader picks an answer BEFORE the experiment runs (the
    choice is fixed once it meets the outcome), and `check` says whether the runs agreed. A prediction
    written down first is what turns a chart from a picture into a test of the reader's own model."""

    def __init__(self, question: str, choices: Sequence[str]):
        self.question = question
        self.choice = W.RadioButtons(options=list(choices), value=None, layout={"width": "max-content"})
        self.verdict = W.HTML()
        self._outcome: tuple[str, str] | None = None
        self.choice.observe(lambda _change: self._draw(), names="value")
        super().__init__([W.HTML(f"<b>Predict first.</b> {html.escape(question)}"), self.choice, self.verdict])
        self._draw()

    def check(self, answer: str, evidence: str) -> Prediction:
        """Reveal the runs' answer (one of the choices) and the evidence for it (over how many seeds)."""
        if answer not in self.choice.options:
            raise ValueError(f"{answer!r} is not one of the choices {self.choice.options}")
        self._outcome = (answer, evidence)
        self._draw()
        return self

    @property
    def text(self) -> str:
        """The verdict as a sentence (what the page shows, for a script or a test)."""
        if self._outcome is None:
            return "Pick an answer, then run the experiment below."
        answer, evidence = self._outcome
        if self.choice.value is None:
            return f"The runs say: {answer}. {evidence}"
        mark = "Right" if self.choice.value == answer else "Not this time"
        return f"{mark}: you predicted “{self.choice.value}”; the runs say “{answer}”. {evidence}"

    def _draw(self) -> None:
        self.verdict.value = html.escape(self.text)
        self.choice.disabled = self._outcome is not None and self.choice.value is not None


def predict(question: str, *choices: str) -> Prediction:
    """Show a prediction question; after the experiment, `prediction.check(answer, evidence)` reveals it."""
    return Prediction(question, choices)
