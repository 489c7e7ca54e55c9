"""The live dashboard: one `explorer.page.session.Session` drawn as ipywidgets, assembled from its panels.

    from explorer.faces.notebook import dashboard
    dashboard()                                            # everything, as in the Streamlit app
    dashboard("dropout", show=("dropout", "dropout_kind"))  # a lesson: one preset, two knobs in view
    dashboard(config=model, locked={"cell": "rnn"}, hidden=("layernorm",))
    dashboard(query="preset=dropout&lock=dropout,cell&hide=l2")  # a link locks and hides knobs the same way

It only draws: every decision (presets, links, uploads, locked knobs, errors, the status line, the one
message, which buttons are on, sweeps) is the session's; the tabs and charts come from
`explorer.views.registry.VIEWS`, and a job's (Compare runs → Repeat over seeds, the Sweep tab) from its SWEEP_VIEWS.
The panels: the knobs (knobs.py), the chart tabs (tabs.py), seeds and sweep (jobs.py), the text sample
(sample.py); this module holds the buttons, the status and message lines, and the pump that redraws them all.

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
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl

import ipywidgets as W

from explorer.faces.notebook.chart import CHART_WIDTH, enable_offline_charts
from explorer.faces.notebook.heartbeat import Heartbeat
from explorer.faces.notebook.jobs import JobAnswers, JobPanel, SeedsPanel, SweepPanel
from explorer.faces.notebook.knobs import KnobPanel
from explorer.faces.notebook.parts import button, line
from explorer.faces.notebook.sample import SamplePanel
from explorer.faces.notebook.tabs import VIEWS, ChartTabs
from explorer.page.controls import ALL_CONTROLS
from explorer.page.links import parse_link
from explorer.page.panels import JOB_TABS, SAMPLE, SWEEP, TAB_TITLES
from explorer.page.session import Session
from explorer.page.status import Message, knob_change_lines
from explorer.page.watchdog import ViewerWatchdog
from explorer.runs.history import Snapshot
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.presets import preset_config
from explorer.views.export import history_csv

REFRESH_S = 0.5  # at most two chart redraws a second
VIEWER_TIMEOUT_S = 90.0  # no heartbeat for this long: the page is gone (background tabs beat once a minute)
BUTTON_STYLES = {"train": "success", "pause": "warning", "reset": "", "branch": "", "save": "", "clear": ""}


class Dashboard(W.VBox):
    """Build it with `dashboard(...)`. Parts a test or a lesson may reach: `.session` (its run is
    `.session.run`), `.controls` {knob: widget}, `.corpus`, `.upload`, `.preset`, `.buttons` {train, pause,
    reset, branch, save, clear, generate, export, repeat, sweep, cancel_seeds, cancel_sweep}, `.charts`
    {chart name: JupyterChart}, `.status`, `.notice` (the link's notices and the session's one message),
    `.knob_list`, `.tabs`, `.views`, `.metric`, `.projector`, `.heartbeat`, `.redraws`; for the jobs ("seeds":
    Compare runs → Repeat over seeds, "sweep": the Sweep tab): `.job_lines` {kind: HTML}, `.job_charts`
    {kind: {chart name: JupyterChart}}, `.repeat_seeds`, `.sweep_knobs`, `.sweep_values` (two each),
    `.sweep_seeds`, `.sweep_steps`; for the text sample: `.prompt`, `.sample_length`, `.temperature`,
    `.sample_text`."""

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
        self.knobs = KnobPanel(self.session, self._act, presets)
        self.controls, self.corpus, self.upload = self.knobs.controls, self.knobs.corpus, self.knobs.upload
        self.preset, self.preset_text = self.knobs.preset, self.knobs.preset_text
        self._make_buttons()
        self._make_panels()
        super().__init__(children=[self._layout()], layout=W.Layout(width="100%"))
        self.add_class("explorer-dashboard")
        self.knobs.sync()
        self._shown = self._refresh(None)
        self._pump_thread = threading.Thread(target=self._pump, name="explorer-dashboard-pump", daemon=True)
        self._pump_thread.start()

    # -------------------------------------------------------------------------------- building
    def _make_buttons(self) -> None:
        """The run's buttons (labels and states come from the session), the projector toggle, Export, and the
        lines the pump writes: status, the one message, the knob changes."""
        actions = {
            "train": self.session.train,
            "pause": self.session.pause_or_resume,
            "reset": self.session.reset,
            "branch": self.session.branch,
            "save": self._save,
            "clear": self.session.clear_saved,
        }
        self.buttons = {key: button(style=BUTTON_STYLES[key]) for key in actions}
        for key, action in actions.items():
            self.buttons[key].on_click(lambda _, action=action: self._act(action))
        self.projector = W.Checkbox(
            value=False, description="Projector: bigger type and charts", indent=False, layout=W.Layout(width="auto")
        )
        self.projector.observe(lambda _: self._poke(), names="value")
        self.status = W.HTML(layout=W.Layout(min_height="1.6em"))
        self.notice = W.HTML()
        self.knob_list = W.HTML()
        self.export_link = W.HTML()
        self.buttons["export"] = button("History as CSV", "A spreadsheet of every kept step and evaluation")
        self.buttons["export"].on_click(lambda _: self._export())

    def _make_panels(self) -> None:
        """The panels of the views asked for (seeds come with Compare runs), then the tabs that hold them."""
        answers = JobAnswers(self.session, self._poke)
        self.job_panels: dict[str, JobPanel] = {}
        panels: dict[str, W.Widget] = {}
        if "compare" in self.views:
            seeds = self.job_panels["seeds"] = SeedsPanel(answers)
            self.repeat_seeds, panels["compare"] = seeds.repeat_seeds, seeds.widget
        if SWEEP in self.views:
            sweep = self.job_panels["sweep"] = SweepPanel(answers)
            self.sweep_knobs, self.sweep_values = sweep.sweep_knobs, sweep.sweep_values
            self.sweep_seeds, self.sweep_steps, panels[SWEEP] = sweep.sweep_seeds, sweep.sweep_steps, sweep.widget
        self._answers = answers
        for kind, panel in self.job_panels.items():
            self.buttons[panel.start_key] = panel.start
            self.buttons[f"cancel_{kind}"] = panel.cancel
        self.job_lines = {kind: panel.line for kind, panel in self.job_panels.items()}
        self.job_charts = {kind: panel.charts for kind, panel in self.job_panels.items()}
        if SAMPLE in self.views:
            sample = SamplePanel(self.session, self._width)
            self.prompt, self.sample_length, self.temperature = sample.prompt, sample.sample_length, sample.temperature
            self.sample_text, self.buttons["generate"] = sample.sample_text, sample.generate
            panels[SAMPLE] = sample.widget
        self.chart_tabs = ChartTabs(self.views, panels, self._width, self._poke)
        self.tabs, self.metric, self.charts = self.chart_tabs.tabs, self.chart_tabs.metric, self.chart_tabs.charts

    def _layout(self) -> W.Widget:
        """The knobs on the left; on the right the buttons, the lines, the tabs and Export."""
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
            [self.knobs.widget, W.VBox(right, layout=W.Layout(flex="1 1 560px", min_width="0"))],
            layout=W.Layout(flex_flow="row wrap", width="100%"),
        )

    # -------------------------------------------------------------------------------- callbacks (main thread)
    def _poke(self, busy_s: float = 3.0) -> None:
        self._busy_until = time.monotonic() + busy_s
        self._wake.set()

    def _act(self, action: Callable, *args):
        """One user action through the session (which turns a mistake into the page's one message); then the
        widgets show what the session now holds, and the pump redraws."""
        result = self.session.act(action, *args)
        self.knobs.sync()
        self._poke()
        return result

    def _save(self) -> None:
        self.session.save()
        if "compare" in self.views:
            self.tabs.selected_index = self.views.index("compare")

    def _export(self) -> None:
        data = base64.b64encode(history_csv(self.session.snapshot()).encode()).decode()
        self.export_link.value = (
            f"<a download='explorer-history.csv' href='data:text/csv;base64,{data}'>⬇ explorer-history.csv</a>"
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
            busy = self.session.busy()  # read BEFORE drawing: a run or job that ends mid-draw is drawn again
            try:
                shown = self._refresh(shown)
                self.pump_error = None  # a passing problem (a dict changed mid-read) is gone once a redraw works
            except Exception as err:  # noqa: BLE001 - the pump must survive a bad redraw and say so
                self.pump_error = f"{type(err).__name__}: {err}"
            moving = busy or time.monotonic() < self._busy_until
            self._wake.wait(self._period if moving else None)  # idle: sleep until a button or knob moves

    def _refresh(self, shown: tuple | None) -> tuple:
        """Push what changed since `shown` (the (page, charts) keys last drawn; the job panels keep their own);
        returns the new keys."""
        session = self.session
        runs = session.comparison()  # the saved runs, the live branches, then this run
        snap = runs[-1]
        view, big = self.chart_tabs.view, self.projector.value
        status, message, buttons = session.status(), session.message(), session.buttons()
        page = (status, message, tuple(buttons.items()), big, self.pump_error, snap.last_step, len(snap.events))
        # a run's name and progress tell a Reset (a new run), a run saved or cleared, a branch added
        progress = tuple((s.name, s.start is None, s.last_step, len(s.evals), len(s.events)) for s in runs)
        drawn = (progress, view, self.metric.value, big)
        old_page, old_drawn = shown or (None, None)
        began = time.monotonic()
        if page != old_page:
            self._draw_page(status, message, buttons, snap)
        if drawn != old_drawn:
            self.redraws += self.chart_tabs.draw(view, snap, runs[:-1], big)
        for kind, panel in self.job_panels.items():
            self.redraws += panel.refresh(view == JOB_TABS[kind], big, self._width)
        elapsed = time.monotonic() - began
        self._period = max(self._refresh_s, 3 * elapsed)  # on a busy 2-core laptop, drawing never crowds out training
        return page, drawn

    def _draw_page(self, status: Message, message: Message | None, buttons: dict, snap: Snapshot) -> None:
        big = self.projector.value
        self.status.value = line(status, "1.5em" if big else "1.15em", bold=True)
        lines = [line(Message("warning", f"From the link: {notice}")) for notice in self.session.notices]
        if message is not None and not any(self._answers.says(kind) for kind in self.job_panels):
            lines.append(line(message, "1.2em" if big else "1em"))
        if self.pump_error:
            lines.append(line(Message("warning", f"(display problem: {self.pump_error})")))
        self.notice.value = "".join(lines)
        changes = knob_change_lines(snap)
        self.knob_list.value = (
            ("<div style='color:#444'>Knob changes: " + " · ".join(map(html.escape, changes)) + "</div>")
            if changes
            else ""
        )
        for key, state in buttons.items():
            widget = self.buttons[key]
            widget.description, widget.disabled, widget.tooltip = state.label, not state.enabled, state.help

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

    preset   a lesson from `explorer.spec.presets.PRESETS` to start from ("overfit", "dropout", ...).
    config   the starting Config (the preset is applied on top of it; default: Config()).
    locked   knobs shown but not movable; a mapping also sets them: locked={"cell": "rnn"}.
    hidden   knobs not shown at all (they keep the starting value); `show` is the opposite: only these.
    views    tabs, from "gap", "gradients", "weights", "compare", "reach", "masks", "memorisation"
             (explorer.views.registry.VIEWS), "sweep" and "sample";
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
