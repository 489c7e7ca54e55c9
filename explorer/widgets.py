"""The notebook / Voilà front end: the Streamlit app's knobs, buttons and charts as ipywidgets over one
`LiveRun`, plus `experiment()`, the lessons' synchronous runs with a chart that redraws while they train.

    from explorer.widgets import dashboard
    dashboard()                                            # everything, as in the Streamlit app
    dashboard("dropout", show=("dropout", "dropout_kind"))  # a lesson: one preset, two knobs in view
    dashboard(locked={"cell": "rnn"}, hidden=("layernorm",))

Threads, and who may touch what:
- the LiveRun trains on its own thread and only appends to its history;
- button and knob callbacks run on the kernel's main thread: they call LiveRun and wake the pump, they never draw;
- ONE pump thread per dashboard turns snapshots into widget trait updates (status line, knob changes, charts),
  at most every `refresh_s` seconds while the run advances, and sleeps while it is idle, paused or finished, so
  an abandoned kernel is left quiet. Nothing here calls display() or writes to an Output from a thread.
- an invisible heartbeat widget pings the kernel from the open page; once the pings stop (tab closed) for
  `viewer_timeout_s`, the run's watchdog stops it.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import altair as alt
import anywidget
import ipywidgets as W
import torch
import traitlets

from . import charts
from .config import KNOBS, LIVE_KNOBS, Config, ConfigError, ExplorerError, format_value
from .controls import (ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, Control, ViewerWatchdog,
                       config_from_query, describe_changes, knob_change_lines, setup_changes,
                       status_line, torch_threads_for, widget_value)
from .data import BUNDLED, save_upload
from .export import history_csv
from .history import History, Snapshot
from .live import LiveRun
from .presets import PRESETS, preset_config
from .train import Trainer

VIEWS = {"gap": "Generalisation gap", "gradients": "Gradients", "weights": "Weights",
         "compare": "Compare runs", "sample": "Text sample"}
CHART_WIDTH = 600           # plot width in pixels (axes and legends come on top)
REFRESH_S = 0.5             # at most two chart redraws a second
VIEWER_TIMEOUT_S = 90.0     # no heartbeat for this long: the page is gone (background tabs beat once a minute)
BEAT_MS = 5000
LABEL_WIDTH, ROW_WIDTH = "190px", "400px"
NO_PRESET = "— pick a lesson —"
UPLOADS = Path(tempfile.gettempdir()) / "explorer-uploads"
EMBED_OPTIONS = {"renderer": "svg", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}


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
    return alt.JupyterChart(chart if chart is not None else charts.gap_chart(Snapshot(), width=width),
                            embed_options=EMBED_OPTIONS)


# ------------------------------------------------------------------------------------------ knob widgets
def control_widget(control: Control, value) -> W.ValueWidget:
    """The ipywidget for one `controls.Control` spec, showing `value`."""
    value = widget_value(control, value)
    common = dict(description=control.label, tooltip=f"{control.label}: {control.help}",
                  style={"description_width": LABEL_WIDTH}, layout=W.Layout(width=ROW_WIDTH))
    integer = KNOBS[control.name].kind is int
    if control.kind == "slider":
        cls = W.IntSlider if integer else W.FloatSlider
        return cls(value=value, min=control.lo, max=control.hi, step=control.step, continuous_update=False,
                   **({} if integer else {"readout_format": ".2f"}), **common)
    if control.kind == "choice_slider":
        return W.SelectionSlider(options=[(format_value(o), o) for o in control.options], value=value,
                                 continuous_update=False, **common)
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
      const timer = setInterval(beat, %d);
      return () => { clearInterval(timer); model.off("change:beats", show); };
    }
    export default { render };
    """ % BEAT_MS
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


def _button(label: str, tooltip: str, style: str = "") -> W.Button:
    return W.Button(description=label, tooltip=tooltip, button_style=style, layout=W.Layout(width="auto"))


def _heading(text: str) -> W.HTML:
    return W.HTML(f"<b style='font-size:1.05em'>{html.escape(text)}</b>")


# ------------------------------------------------------------------------------------------ the dashboard
class Dashboard(W.VBox):
    """Build it with `dashboard(...)`. Parts a test or a lesson may reach: `.run` (the LiveRun),
    `.controls` {knob: widget}, `.buttons` {train, pause, reset, save, clear, generate, export},
    `.charts` {name: JupyterChart}, `.status`, `.knob_list`, `.notice`, `.tabs`, `.preset`, `.redraws`."""

    def __init__(self, config: Config, *, preset: str | None = None, preset_base: Config | None = None,
                 fixed: Iterable[str] = (), hidden: Iterable[str] = (), views: Iterable[str] = tuple(VIEWS),
                 presets: bool = True, notices: Iterable[str] = (), width: int = CHART_WIDTH,
                 refresh_s: float = REFRESH_S, viewer_timeout_s: float = VIEWER_TIMEOUT_S):
        enable_offline_charts()
        self._base, self._preset_base = config, preset_base or Config()
        self._fixed, self._hidden = set(fixed), set(hidden)
        self._views = [v for v in views if v in VIEWS] or ["gap"]
        self._width, self._refresh_s, self._period = width, refresh_s, refresh_s
        self._viewer_timeout_s = viewer_timeout_s
        self._flash: str | None = None
        self._notices = list(notices)
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._busy_until = 0.0     # keep polling a little after any action (a Reset's first record, a step)
        self.redraws = 0           # chart redraws so far (tests check that an idle dashboard stays idle)
        self.pump_error: str | None = None
        self.heartbeat = Heartbeat()
        self.run = LiveRun(config, watchdog=ViewerWatchdog(self._viewer_present, on_leave=self._viewer_left))

        # --- knobs
        self.controls = {c.name: control_widget(c, getattr(config, c.name)) for c in ALL_CONTROLS}
        for name, widget in self.controls.items():
            widget.disabled = name in self._fixed
            widget.observe(lambda change, name=name: self._on_knob(name, change["new"]), names="value")
        self._corpora = {"Tiny Shakespeare (bundled)": "tinyshakespeare"}
        if config.corpus not in self._corpora.values():
            self._corpora[Path(config.corpus).name] = config.corpus
        self.corpus = W.Dropdown(options=list(self._corpora.items()), value=config.corpus, description="Corpus",
                                 style={"description_width": LABEL_WIDTH}, layout=W.Layout(width=ROW_WIDTH),
                                 disabled="corpus" in self._fixed, tooltip="The text the model learns")
        self.corpus.observe(lambda _: self._poke(), names="value")
        self.upload = W.FileUpload(accept=".txt", multiple=False, description="Use my own .txt file",
                                   layout=W.Layout(width="auto", margin="2px 0 6px 194px"),
                                   disabled="corpus" in self._fixed)
        self.upload.observe(self._on_upload, names="value")
        self.preset = W.Dropdown(options=[NO_PRESET, *PRESETS], value=preset if preset in PRESETS else NO_PRESET,
                                 description="Lesson preset", style={"description_width": "110px"},
                                 layout=W.Layout(width=ROW_WIDTH), tooltip="Fills in every knob for one lesson; "
                                 "then press Reset (or Train)")
        self.preset_text = W.HTML(layout=W.Layout(width=ROW_WIDTH))
        self._describe_preset()
        self.preset.observe(self._on_preset, names="value")

        # --- buttons, status
        self.buttons = {
            "train": _button("▶ Train", "Start a run (or resume a paused one)", "success"),
            "pause": _button("❚❚ Pause", "Hold the run; Resume goes on from the same step", "warning"),
            "reset": _button("↺ Reset", "A fresh model with the current setup and knobs, same seed; waits for Train"),
            "save": _button("Save run for comparison", "Keep this run's curves; they stay on Compare runs"),
            "clear": _button("Clear comparisons", "Forget the saved runs"),
        }
        self.buttons["train"].on_click(lambda _: self._act(self._start))
        self.buttons["pause"].on_click(lambda _: self._act(self._pause_or_resume))
        self.buttons["reset"].on_click(lambda _: self._act(self._start, True))
        self.buttons["save"].on_click(lambda _: self._act(self._save))
        self.buttons["clear"].on_click(lambda _: self._act(self.run.clear_saved))
        self.status = W.HTML(layout=W.Layout(min_height="1.6em"))
        self.notice = W.HTML()
        self.knob_list = W.HTML()

        # --- views
        self.metric = W.ToggleButtons(options=[("loss", "loss"), ("perplexity", "ppl")], value="loss",
                                      style={"button_width": "90px"}, tooltip="Loss in nats/token, or perplexity = e^loss")
        self.metric.observe(lambda _: self._poke(), names="value")
        self.charts: dict[str, alt.JupyterChart] = {}
        pages = {}
        for view in self._views:
            if view == "gap":
                self.charts["gap"] = chart_widget(width=width)
                pages[view] = W.VBox([self.metric, self.charts["gap"]])
            elif view == "gradients":
                self.charts["gradient_histogram"] = chart_widget(width=width)
                self.charts["layer_gradients"] = chart_widget(width=width)
                pages[view] = W.VBox([self.charts["gradient_histogram"], self.charts["layer_gradients"]])
            elif view == "weights":
                self.charts["weight_norms"] = chart_widget(width=width)
                pages[view] = W.VBox([self.charts["weight_norms"]])
            elif view == "compare":
                self.charts["comparison"] = chart_widget(width=width)
                pages[view] = W.VBox([self.charts["comparison"]])
            elif view == "sample":
                pages[view] = self._sample_panel()
        self.tabs = W.Tab(children=list(pages.values()), titles=[VIEWS[v] for v in pages])
        self.tabs.observe(lambda _: self._poke(), names="selected_index")
        self.export_link = W.HTML()
        self.buttons["export"] = _button("History as CSV", "A spreadsheet of every kept step and evaluation")
        self.buttons["export"].on_click(lambda _: self._act(self._export))

        super().__init__(children=[self._layout(presets)], layout=W.Layout(width="100%"))
        self.add_class("explorer-dashboard")
        self._refresh(None)
        self._pump_thread = threading.Thread(target=self._pump, name="explorer-dashboard-pump", daemon=True)
        self._pump_thread.start()

    # -------------------------------------------------------------------------------- layout
    def _layout(self, presets: bool) -> W.Widget:
        def visible(controls):
            return [self.controls[c.name] for c in controls if c.name not in self._hidden]

        live_main = visible(c for c in LIVE_CONTROLS if c.name not in ADVANCED)
        live_more = visible(c for c in LIVE_CONTROLS if c.name in ADVANCED)
        setup = visible(c for c in SETUP_CONTROLS if c.name not in ADVANCED)
        setup += visible(c for c in SETUP_CONTROLS if c.name in ADVANCED)
        if "corpus" not in self._hidden:
            setup = [self.corpus, W.HBox([self.upload]), *setup]
        left = []
        if presets:
            left += [self.preset, self.preset_text]
        if live_main or live_more:
            left.append(_heading("Live knobs: they act at the next step"))
            left += live_main
        for title, widgets in (("More live knobs", live_more), ("Setup: a new model, applies on Reset", setup)):
            if widgets:
                accordion = W.Accordion(children=[W.VBox(widgets)], titles=[title], layout=W.Layout(width="440px"))
                left.append(accordion)
        right = [W.HBox(list(self.buttons[b] for b in ("train", "pause", "reset", "save", "clear")),
                        layout=W.Layout(flex_flow="row wrap")),
                 self.status, self.notice, self.knob_list, self.tabs,
                 W.HBox([self.buttons["export"], self.export_link], layout=W.Layout(align_items="center")),
                 self.heartbeat]
        return W.HBox([W.VBox(left, layout=W.Layout(width="450px", min_width="450px")),
                       W.VBox(right, layout=W.Layout(flex="1 1 600px", min_width="0"))],
                      layout=W.Layout(flex_flow="row wrap", width="100%"))

    def _sample_panel(self) -> W.Widget:
        self.prompt = W.Text(value="ROMEO:", description="Prompt", layout=W.Layout(width=ROW_WIDTH))
        self.sample_length = W.IntSlider(value=300, min=20, max=1000, step=20, description="Length (tokens)",
                                         style={"description_width": "110px"}, layout=W.Layout(width=ROW_WIDTH))
        self.temperature = W.SelectionSlider(options=[0.2, 0.5, 0.8, 1.0, 1.2, 1.5], value=0.8,
                                             description="Temperature", style={"description_width": "110px"},
                                             layout=W.Layout(width=ROW_WIDTH),
                                             tooltip="Low: safe and repetitive; high: adventurous and noisy")
        self.buttons["generate"] = _button("Generate text", "Text from the model's current weights", "info")
        self.buttons["generate"].on_click(lambda _: self._generate())
        self.sample_text = W.HTML()
        self._samples = 0
        return W.VBox([self.prompt, self.sample_length, self.temperature, self.buttons["generate"], self.sample_text],
                      layout=W.Layout(align_items="flex-start"))

    # -------------------------------------------------------------------------------- what the widgets say
    def wanted_config(self) -> Config:
        """The setup and knobs the widgets show (locked and hidden knobs keep the dashboard's values)."""
        free = {name: w.value for name, w in self.controls.items()
                if name not in self._fixed and name not in self._hidden}
        corpus = self._base.corpus if "corpus" in self._fixed or "corpus" in self._hidden else self.corpus.value
        return self._base.replace(corpus=corpus, **free)

    def _describe_preset(self) -> None:
        name = self.preset.value
        self.preset_text.value = (f"<i><b>{html.escape(name)}</b> teaches: {html.escape(PRESETS[name].teaches)}.</i>"
                                  if name in PRESETS else "")

    # -------------------------------------------------------------------------------- callbacks (main thread)
    def _poke(self, busy_s: float = 3.0) -> None:
        self._busy_until = time.monotonic() + busy_s
        self._wake.set()

    def _act(self, action: Callable, *args, **kwargs) -> None:
        """Run a button's action; a user's mistake becomes one line on the page, never a traceback."""
        self._flash = None
        try:
            action(*args, **kwargs)
        except ExplorerError as err:
            self._flash = str(err)
        except Exception as err:  # noqa: BLE001 - e.g. out of memory for a huge model: say so, keep the page
            self._flash = f"could not do that: {type(err).__name__}: {err}"
        self._poke()

    def _on_knob(self, name: str, value) -> None:
        if name in LIVE_KNOBS:
            self._act(self.run.set_knobs, **{name: round(value, 10) if isinstance(value, float) else value})
        else:
            self._poke()  # setup: the notice "press Reset" appears

    def _on_preset(self, change) -> None:
        self._describe_preset()
        name = change["new"]
        if name not in PRESETS:
            return
        config = preset_config(name, self._preset_base)
        self._base = config.replace(**{k: getattr(self._base, k) for k in self._fixed | self._hidden})
        for control in ALL_CONTROLS:  # as if moved by hand: live knobs reach a running model, as in the app
            if control.name not in self._fixed and control.name not in self._hidden:
                self.controls[control.name].value = widget_value(control, getattr(config, control.name))
        self._poke()

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        try:
            path = save_upload(item["name"], bytes(item["content"]), UPLOADS / uuid.uuid4().hex[:12])
        except ExplorerError as err:
            self._flash = str(err)
        else:
            self._corpora[item["name"]] = str(path)
            self.corpus.options = list(self._corpora.items())
            self.corpus.value = str(path)
            self._flash = None
        self._poke()

    def _start(self, paused: bool = False) -> None:
        others = sum(t.name == "explorer-liverun" and t.is_alive() for t in threading.enumerate()) - self.run.alive
        self.run.torch_threads = torch_threads_for(others)
        config = self.wanted_config()
        (self.run.reset if paused else self.run.train)(config)

    def _pause_or_resume(self) -> None:
        (self.run.resume if self.run.paused else self.run.pause)()

    def _save(self) -> None:
        if self.run.trainer is None:
            raise ConfigError("nothing to save yet: press Train first")
        name = self.run.save_run()
        self._flash = f"Saved as “{name}”: change a knob, Reset and Train, then look at Compare runs."
        if "compare" in self._views:
            self.tabs.selected_index = self._views.index("compare")

    def _export(self) -> None:
        data = base64.b64encode(history_csv(self.run.snapshot()).encode()).decode()
        self.export_link.value = (f"<a download='explorer-history.csv' href='data:text/csv;base64,{data}'>"
                                  f"⬇ explorer-history.csv</a>")

    def _generate(self) -> None:
        self._samples += 1
        try:
            text = self.run.sample(self.prompt.value, self.sample_length.value, self.temperature.value,
                                   seed=self._samples)
        except ExplorerError as err:
            text, style = str(err), "color:#555"
        except Exception as err:  # noqa: BLE001 - a diverged model has NaN weights
            text, style = f"No sample from this model: {type(err).__name__}: {err}", "color:#D55E00"
        else:
            style = ""
        self.sample_text.value = (f"<div style='white-space:pre-wrap;font-family:monospace;line-height:1.35;"
                                  f"background:#f6f6f6;padding:8px;max-width:{self._width + 100}px;{style}'>"
                                  f"{html.escape(text)}</div>")

    def _viewer_present(self) -> bool:  # called from the LiveRun worker thread
        return not self._closed.is_set() and self.heartbeat.alive(self._viewer_timeout_s)

    def _viewer_left(self) -> None:
        self._flash = "Stopped: the page stopped answering (closed?). Press Train to start again."
        self._wake.set()

    # -------------------------------------------------------------------------------- the pump (its own thread)
    def _pump(self) -> None:
        shown = None
        while not self._closed.is_set():
            self._wake.clear()
            try:
                shown = self._refresh(shown)
            except Exception as err:  # noqa: BLE001 - the pump must survive a bad redraw and say so
                self.pump_error = f"{type(err).__name__}: {err}"
            moving = self.run.status == "running" or time.monotonic() < self._busy_until
            self._wake.wait(self._period if moving else None)  # idle: sleep until a button or knob moves

    def _refresh(self, shown):
        """Push what changed since `shown` (a key of the state last drawn); returns the new key."""
        run, snap = self.run, self.run.snapshot()
        status = run.status
        tab = self.tabs.selected_index
        view = self._views[tab] if tab is not None and tab < len(self._views) else None
        wanted, notice = None, ""
        try:
            wanted = self.wanted_config()
        except ExplorerError as err:
            notice = str(err)
        if wanted is not None and run.trainer is not None and (pending := setup_changes(run.config, wanted)):
            notice = f"Setup changed ({describe_changes(pending)}): press Reset to build the new model."
        key = (status, snap.last_step, len(snap.evals), len(snap.events), tuple(run.saved), view,
               self.metric.value, self._flash, run.error, notice, self.pump_error, tuple(self._notices))
        if key == shown:
            return shown
        began = time.monotonic()
        device = str(run.trainer.device) if run.trainer else ""
        colour = {"diverged": "#D55E00", "error": "#D55E00", "finished": "#009E73", "early_stop": "#009E73"}
        self.status.value = (f"<div style='font-size:1.15em;color:{colour.get(status, '#0072B2')}'><b>"
                             f"{html.escape(status_line(status, snap, device, run.error))}</b></div>")
        lines = [f"From the link: {n}" for n in self._notices] + [x for x in (self._flash, notice) if x]
        if self.pump_error:
            lines.append(f"(display problem: {self.pump_error})")
        self.notice.value = "".join(f"<div style='color:#8a4b00'>{html.escape(x)}</div>" for x in lines)
        changes = knob_change_lines(snap)
        self.knob_list.value = ("<div style='color:#444'>Knob changes: " + " · ".join(map(html.escape, changes))
                                + "</div>") if changes else ""
        self.buttons["train"].disabled = status == "running"
        self.buttons["pause"].description = "▶ Resume" if status == "paused" else "❚❚ Pause"
        self.buttons["pause"].disabled = status not in ("running", "paused")
        self.buttons["save"].disabled = run.trainer is None
        self.buttons["clear"].disabled = not run.saved
        self._draw(view, snap)
        elapsed = time.monotonic() - began
        self._period = max(self._refresh_s, 3 * elapsed)  # on a busy 2-core laptop, drawing never crowds out training
        return key

    def _draw(self, view: str | None, snap: Snapshot) -> None:
        width = self._width
        builders = {
            "gap": lambda: charts.gap_chart(snap, metric=self.metric.value, width=width),
            "gradient_histogram": lambda: charts.gradient_histogram_chart(snap, width=width),
            "layer_gradients": lambda: charts.layer_gradient_chart(snap, width=width),
            "weight_norms": lambda: charts.weight_norm_chart(snap, width=width),
            "comparison": lambda: charts.comparison_chart([*self.run.saved.values(), snap], width=width),
        }
        names = {"gap": ["gap"], "gradients": ["gradient_histogram", "layer_gradients"],
                 "weights": ["weight_norms"], "compare": ["comparison"]}.get(view, [])
        for name in names:
            self.charts[name].chart = builders[name]()
            self.redraws += 1

    # -------------------------------------------------------------------------------- ending
    def close(self) -> None:
        """Stop the run and the pump thread, then close the widget."""
        self._closed.set()
        self._wake.set()
        self.run.stop()
        if self._pump_thread is not threading.current_thread():
            self._pump_thread.join(2.0)
        super().close()


def dashboard(preset: str | None = None, *, config: Config | None = None,
              locked: Iterable[str] | Mapping[str, object] = (), hidden: Iterable[str] = (),
              show: Iterable[str] | None = None, views: Iterable[str] = tuple(VIEWS), presets: bool = True,
              query: str | None = None, width: int = CHART_WIDTH, refresh_s: float = REFRESH_S,
              viewer_timeout_s: float = VIEWER_TIMEOUT_S) -> Dashboard:
    """The live dashboard, ready to display (nothing trains until Train is pressed).

    preset   a lesson from `explorer.presets.PRESETS` to start from ("overfit", "dropout", ...).
    config   the starting Config (the preset is applied on top of it; default: Config()).
    locked   knobs shown but not movable; a mapping also sets them: locked={"cell": "rnn"}.
    hidden   knobs not shown at all (they keep the starting value); `show` is the opposite: only these.
    views    tabs, from "gap", "gradients", "weights", "compare", "sample".
    presets  False hides the preset picker.
    query    a shared link's query string ("preset=dropout&hidden=64"; Voilà passes the page's as the
             QUERY_STRING environment variable): its preset replaces `preset`, its knobs override both.
             A link may only name the bundled corpus; bad values are skipped and listed on the page.
    """
    base = config or Config()
    notices: list[str] = []
    params = dict(parse_qsl((query or "").lstrip("?")))
    if params.get("preset"):
        preset = params["preset"]
        if preset not in PRESETS:
            notices.append(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
            preset = None
    start = preset_config(preset, base) if preset else base
    for name, value in params.items():  # one at a time, so a bad value leaves the preset's in place
        if name in KNOBS:
            linked, problems = config_from_query({name: value}, corpus_allowed=lambda corpus: corpus in BUNDLED)
            notices += problems
            if not problems:
                start = start.replace(**{name: getattr(linked, name)})
    locked_values = dict(locked) if isinstance(locked, Mapping) else dict.fromkeys(locked)
    fixed, hidden = set(locked_values), set(hidden)
    if show is not None:
        hidden |= ({c.name for c in ALL_CONTROLS} | {"corpus"}) - set(show)
    unknown = sorted((fixed | hidden | set(show or ())) - set(KNOBS))
    if unknown:
        raise ConfigError(f"unknown knob {unknown[0]!r}; known: {', '.join(KNOBS)}")
    start = start.replace(**{k: v for k, v in locked_values.items() if v is not None})
    return Dashboard(start, preset=preset, preset_base=base, fixed=fixed, hidden=hidden,
                     views=views, presets=presets, notices=notices, width=width, refresh_s=refresh_s,
                     viewer_timeout_s=viewer_timeout_s)


# ------------------------------------------------------------------------------------------ lessons
@dataclass
class Result:
    """One finished run of `experiment()`: the trainer (its model, for measuring weights) and its history."""

    name: str
    config: Config
    trainer: Trainer
    snapshot: Snapshot
    seconds: float


def experiment(runs: Mapping[str, Config], chart: Callable[[list[Snapshot]], alt.TopLevelMixin] | None = None,
               schedules: Mapping[str, dict] | None = None, every_s: float = 1.0, threads: int | None = None,
               live: bool = True, width: int = CHART_WIDTH) -> dict[str, Result]:
    """Train each configuration to its end, one after another, in THIS thread (the cell returns when all are
    done), with a chart redrawn about every `every_s` seconds while they train: `chart(snapshots)` gets the
    finished runs and the one in progress (default: their validation losses on one axis). `schedules`
    {run name: {step: {knob: value}}} moves knobs mid-run, as a slider would. `threads` sets torch's CPU
    threads (1 is fastest for tiny models). Returns {name: Result}."""
    if threads:
        torch.set_num_threads(threads)
    draw = chart or (lambda snaps: charts.comparison_chart(snaps, width=width))
    progress = view = None
    if live:
        from IPython.display import display
        progress, view = W.HTML(), chart_widget(width=width)
        display(W.VBox([progress, view]))
    results: dict[str, Result] = {}
    for i, (name, config) in enumerate(runs.items(), start=1):
        began = last = time.monotonic()
        trainer, history = Trainer(config), History(name)
        for record in trainer.run((schedules or {}).get(name)):
            history.add(record)
            if live and time.monotonic() - last > every_s:
                last = time.monotonic()
                progress.value = f"Run {i}/{len(runs)} <b>{html.escape(name)}</b>: step {trainer.step_count:,} of {config.steps:,}"
                view.chart = draw([r.snapshot for r in results.values()] + [history.snapshot()])
        results[name] = Result(name, config, trainer, history.snapshot(), time.monotonic() - began)
    if live:
        total = sum(r.seconds for r in results.values())
        progress.value = f"{len(results)} run{'s' * (len(results) > 1)} done in {total:.0f} s."
        view.chart = draw([r.snapshot for r in results.values()])
    return results
