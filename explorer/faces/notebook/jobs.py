"""The session's background jobs as panels: Repeat over seeds (under Compare runs) and the Sweep tab. Each is
its controls and start button, a Cancel button while it runs, its one status line and its charts; the job
itself (a `SweepJob`, trials in worker processes) is the session's, the panel only reads its line and summary."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import ipywidgets as W

from explorer.faces.notebook.chart import chart_widget
from explorer.faces.notebook.parts import button, intro, line, number_box
from explorer.page.panels import CANCEL, JOB_CHARTS, NO_KNOB, SEEDS_PANEL, SWEEP_PANEL, job_chart_height, job_message
from explorer.page.session import Session
from explorer.page.status import Message
from explorer.runs.sweep_summary import SweepSummary
from explorer.views import registry as chart_views

# A sweep chart's labels and colour legend come on top of its plot width: drawn to fit this many pixels in all.
JOB_EXTRA_WIDTH = 60
FIT = alt.AutoSizeParams(type="fit-x", contains="padding")
BOX_WIDTH = "290px"  # the Sweep tab's boxes, two to a row


class JobAnswers:
    """Which job's button the page's one message answers: that answer is drawn next to the button, not at
    the top of the page."""

    def __init__(self, session: Session, poke: Callable[[], None]):
        self.session, self._poke = session, poke
        self._said: tuple[str, Message | None] | None = None  # (job, the message its button got)

    def act(self, kind: str, action: Callable, *args) -> None:
        self.session.act(action, *args)
        self._said = (kind, self.session.flash)
        self._poke()

    def says(self, kind: str) -> Message | None:
        """The page's one message, when it answers this job's button."""
        return job_message(self._said, kind, self.session.flash)


class JobPanel:
    """One job's panel (`widget`): `start` and `cancel` buttons, `line` (its answer and status), `charts`
    {chart name: JupyterChart}, made when a started job is first shown (a page loads few chart widgets at once)."""

    def __init__(self, kind: str, answers: JobAnswers, above: list[W.Widget], controls: list, start: W.Button):
        self.kind, self.answers, self.session, self.start = kind, answers, answers.session, start
        self.cancel = button(CANCEL.label, CANCEL.help, "danger")
        self.cancel.layout.display = "none"  # shown while the job runs
        self.cancel.on_click(lambda _: answers.act(kind, self.session.cancel_job, kind))
        self.line = W.HTML()
        self.charts: dict[str, alt.JupyterChart] = {}
        self._box = W.VBox()
        self._line_key: tuple | None = None  # what the line and the charts were last drawn from
        self._charts_key: tuple | None = None
        row = W.HBox([*controls, start, self.cancel], layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.widget = W.VBox([*above, row, self.line, self._box])

    def refresh(self, shown: bool, projector: bool, width: int) -> int:
        """Draw what changed since the last call: the line when the answer to its button or the job's status
        changed; the charts, while its tab is open (`shown`), when a trial has ended (the session's summary
        is read anew then), the projector toggled or the tab was opened. Returns how many charts were drawn."""
        session, kind = self.session, self.kind
        answer, status, running = self.answers.says(kind), session.job_line(kind), session.job_running(kind)
        if self._line_key != (answer, status, running):
            self._line_key = (answer, status, running)
            self._draw_line(answer, status, running)
        if status is None or not shown:
            self._charts_key = None
            return 0
        summary = session.job_summary(kind)
        if self._charts_key is not None and self._charts_key[0] is summary and self._charts_key[1] == projector:
            return 0
        self._charts_key = (summary, projector)
        return self._draw_charts(summary, width, projector)

    def _draw_line(self, answer: Message | None, status: Message | None, running: bool) -> None:
        """The job's button's answer (if the last action was it), then the job's one status line."""
        lines = [line(answer)] if answer is not None else []
        if status is not None:
            lines.append(line(status, bold=True))
        self.line.value = "".join(lines)
        self.cancel.layout.display = None if running else "none"
        self.start.disabled = running

    def _draw_charts(self, summary: SweepSummary, width: int, projector: bool) -> int:
        drawn = {spec.name: _chart(spec, summary, width, projector) for spec in JOB_CHARTS[self.kind]}
        if not self.charts:
            self.charts.update({name: chart_widget(chart) for name, chart in drawn.items()})
            self._box.children = list(self.charts.values())
        else:
            for name, chart in drawn.items():
                self.charts[name].chart = chart
        return len(drawn)


def _chart(spec: chart_views.ChartSpec, summary: SweepSummary, width: int, projector: bool) -> alt.TopLevelMixin:
    """A sweep chart whose long arm labels and colour legend fit beside the knobs, as the gap chart does."""
    height = job_chart_height(projector)
    chart = spec.build(summary, width=width + JOB_EXTRA_WIDTH, height=height, projector=projector)
    return chart.properties(autosize=FIT)


class SeedsPanel(JobPanel):
    """Compare runs → Repeat over seeds: every run compared trains again with other seeds (`repeat_seeds`)."""

    start_key = "repeat"  # its start button in Dashboard.buttons

    def __init__(self, answers: JobAnswers):
        spec = SEEDS_PANEL
        self.repeat_seeds = number_box(spec.seeds, width="130px", label_width="50px")
        repeat = button(spec.start.label, spec.start.help)
        repeat.on_click(lambda _: answers.act("seeds", answers.session.repeat_over_seeds, self.repeat_seeds.value))
        super().__init__("seeds", answers, [intro(spec.intro)], [self.repeat_seeds], repeat)


class SweepPanel(JobPanel):
    """The Sweep tab: up to two knobs (`sweep_knobs`) with their values (`sweep_values`), × `sweep_seeds`
    seeds, each trial `sweep_steps` long."""

    start_key = "sweep"

    def __init__(self, answers: JobAnswers):
        spec, wanted = SWEEP_PANEL, answers.session.wanted
        self.sweep_knobs = [
            W.Dropdown(options=k.options, value=k.default, layout=W.Layout(width=BOX_WIDTH)) for k in spec.knobs
        ]
        self.sweep_values = [
            W.Text(
                value=spec.values_for(k.value, wanted),
                placeholder=spec.values.placeholder,
                layout=W.Layout(width=BOX_WIDTH),
            )
            for k in self.sweep_knobs
        ]
        self._labels = [W.Label() for _ in self.sweep_knobs]
        columns = []
        for slot, choice in enumerate(spec.knobs):
            self.sweep_knobs[slot].observe(lambda change, slot=slot: self._on_knob(slot, change["new"]), names="value")
            self._show_values(slot)
            columns.append(
                W.VBox([W.Label(choice.label), self.sweep_knobs[slot], self._labels[slot], self.sweep_values[slot]])
            )
        self.sweep_seeds = number_box(spec.seeds, width=BOX_WIDTH, label_width="110px")
        self.sweep_steps = number_box(spec.steps, wanted.steps, width=BOX_WIDTH, label_width="110px")
        start = button(spec.start.label, spec.start.help, "primary")
        start.on_click(lambda _: answers.act("sweep", self._start))
        grid = W.GridBox(columns, layout=W.Layout(grid_template_columns="repeat(2, 300px)"))
        above = [intro(spec.intro, where="on the left"), grid]
        super().__init__("sweep", answers, above, [self.sweep_seeds, self.sweep_steps], start)

    def _on_knob(self, slot: int, knob: str) -> None:
        if knob != NO_KNOB:
            self.sweep_values[slot].value = SWEEP_PANEL.values_for(knob, self.session.wanted)
        self._show_values(slot)

    def _show_values(self, slot: int) -> None:
        """A knob's values box, labelled with its name; none for "no second knob"."""
        knob, label, values = self.sweep_knobs[slot].value, self._labels[slot], self.sweep_values[slot]
        values.disabled = knob == NO_KNOB
        label.value = SWEEP_PANEL.values.label.format(knob=knob)
        label.layout.display = values.layout.display = "none" if knob == NO_KNOB else None

    def _start(self) -> None:
        knobs = [(k.value, v.value) for k, v in zip(self.sweep_knobs, self.sweep_values)]
        self.session.start_sweep(knobs, self.sweep_seeds.value, self.sweep_steps.value)
