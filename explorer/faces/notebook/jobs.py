"""The session's background jobs as panels: Repeat over seeds (under Compare runs) and the Sweep tab. Each is
its controls and start button, a Cancel button while it runs, its one status line and its charts; the job
itself (a `SweepJob`, trials in worker processes) is the session's, the panel only reads its line and summary."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import ipywidgets as W

from explorer.faces.notebook.chart import chart_widget
from explorer.faces.notebook.parts import button, line
from explorer.page.session import GRID_DEFAULTS, JOB_CHARTS, NO_KNOB, SWEEP_KNOBS, Message, Session
from explorer.runs.sweep_job import SweepJob
from explorer.runs.sweep_summary import SweepSummary
from explorer.spec.knobs import KNOBS
from explorer.spec.wording import format_value
from explorer.views import registry as chart_views

JOB_HEIGHT, JOB_PROJECTOR_HEIGHT = 240, 420  # a job's charts come below its controls: a little shorter
# A sweep chart's labels and colour legend come on top of its plot width: drawn to fit this many pixels in all.
JOB_EXTRA_WIDTH = 60
FIT = alt.AutoSizeParams(type="fit-x", contains="padding")


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
        said, flash = self._said, self.session.flash
        return flash if said is not None and said[0] == kind and said[1] is flash and flash is not None else None


class JobPanel:
    """One job's panel (`widget`): `start` and `cancel` buttons, `line` (its answer and status), `charts`
    {chart name: JupyterChart}, made when its first trial ends (a page loads few chart widgets at once)."""

    def __init__(
        self, kind: str, answers: JobAnswers, intro: str, above: list[W.Widget], controls: list, start: W.Button
    ):
        self.kind, self.answers, self.session, self.start = kind, answers, answers.session, start
        self.cancel = button("Cancel", "Stop it; the finished trials stay", "danger")
        self.cancel.layout.display = "none"  # shown while the job runs
        self.cancel.on_click(lambda _: answers.act(kind, self.session.cancel_job, kind))
        self.line = W.HTML()
        self.charts: dict[str, alt.JupyterChart] = {}
        self._box = W.VBox()
        row = W.HBox([*controls, start, self.cancel], layout=W.Layout(flex_flow="row wrap", align_items="center"))
        self.widget = W.VBox([W.HTML(intro), *above, row, self.line, self._box])

    @property
    def job(self) -> SweepJob | None:
        return self.session.jobs.get(self.kind)

    def key(self, shown: bool, projector: bool) -> tuple:
        """(answer, job, its line, shown?, trials ended, projector): the line is drawn again when one of the
        first three changes, the charts when anything does while its tab is open (`shown`). The job itself is
        in the key, so a new job with the same line is drawn anew."""
        job = self.job
        progress = job.progress if job is not None else None
        ended = -1 if progress is None else progress.done + progress.failed
        status = None if job is None else (job.text, job.running)
        return self.answers.says(self.kind), job, status, shown, ended, projector

    def draw_line(self) -> None:
        """The job's button's answer (if the last action was it), then the job's one status line."""
        lines = []
        if (message := self.answers.says(self.kind)) is not None:
            lines.append(line(message))
        job = self.job
        if job is not None:
            level = "error" if job.error else "info" if job.running else "warning" if job.cancelled else "success"
            lines.append(line(Message(level, job.text), bold=True))
        self.line.value = "".join(lines)
        running = job is not None and job.running
        self.cancel.layout.display = None if running else "none"
        self.start.disabled = running

    def draw_charts(self, width: int, projector: bool) -> int:
        """Every chart of the job drawn from its summary; returns how many were drawn."""
        summary = self.job.summary()  # read again only when another trial has ended
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
    height = JOB_PROJECTOR_HEIGHT if projector else JOB_HEIGHT
    chart = spec.build(summary, width=width + JOB_EXTRA_WIDTH, height=height, projector=projector)
    return chart.properties(autosize=FIT)


class SeedsPanel(JobPanel):
    """Compare runs → Repeat over seeds: every run compared trains again with other seeds (`repeat_seeds`)."""

    def __init__(self, answers: JobAnswers):
        self.repeat_seeds = W.BoundedIntText(
            value=3,
            min=2,
            max=10,
            description="Seeds",
            style={"description_width": "50px"},
            layout=W.Layout(width="130px"),
        )
        repeat = button(
            "Repeat over seeds", "Every run above trains again with other seeds, as long as it ran, in the background"
        )
        repeat.on_click(lambda _: answers.act("seeds", answers.session.repeat_over_seeds, self.repeat_seeds.value))
        intro = (
            "<b>Repeat over seeds</b> — is the difference real? Every run above trains again with other seeds, "
            "as long as it ran and with its knob moves, in the background."
        )
        super().__init__("seeds", answers, intro, [], [self.repeat_seeds], repeat)


class SweepPanel(JobPanel):
    """The Sweep tab: up to two knobs (`sweep_knobs`) with their values (`sweep_values`), × `sweep_seeds`
    seeds, each trial `sweep_steps` long."""

    def __init__(self, answers: JobAnswers):
        wanted, style = answers.session.wanted, {"description_width": "110px"}
        self.sweep_knobs = [
            W.Dropdown(options=SWEEP_KNOBS, value="dropout", description="First knob", style=style),
            W.Dropdown(options=[NO_KNOB, *SWEEP_KNOBS], value="l2", description="Second knob", style=style),
        ]
        self.sweep_values = [
            W.Text(value=GRID_DEFAULTS[knob.value], description="values", placeholder="0, 0.25, 0.5", style=style)
            for knob in self.sweep_knobs
        ]
        for knob, values in zip(self.sweep_knobs, self.sweep_values):
            knob.observe(lambda change, values=values: self._on_knob(change["new"], values), names="value")
        self.sweep_seeds = W.BoundedIntText(value=3, min=1, max=10, description="Seeds", style=style)
        self.sweep_steps = W.BoundedIntText(
            value=wanted.steps, min=1, max=int(KNOBS["steps"].hi), step=100, description="Steps per trial", style=style
        )
        for widget in (*self.sweep_knobs, *self.sweep_values, self.sweep_seeds, self.sweep_steps):
            widget.layout = W.Layout(width="290px")
        start = button("Start sweep", "The grid × seeds, in the background", "primary")
        start.on_click(lambda _: answers.act("sweep", self._start))
        intro = (
            "<b>Sweep</b> — a grid of knob values on top of the setup on the left, each trained with several seeds "
            "in the background while the live run goes on."
        )
        grid = W.GridBox(
            [self.sweep_knobs[0], self.sweep_knobs[1], self.sweep_values[0], self.sweep_values[1]],
            layout=W.Layout(grid_template_columns="repeat(2, 300px)"),
        )
        super().__init__("sweep", answers, intro, [grid], [self.sweep_seeds, self.sweep_steps], start)

    def _on_knob(self, knob: str, values: W.Text) -> None:
        values.disabled = knob == NO_KNOB
        if knob != NO_KNOB:
            values.value = GRID_DEFAULTS.get(knob, format_value(getattr(self.session.wanted, knob)))

    def _start(self) -> None:
        knobs = [(k.value, v.value) for k, v in zip(self.sweep_knobs, self.sweep_values)]
        self.session.start_sweep(knobs, self.sweep_seeds.value, self.sweep_steps.value)
