"""What a lesson notebook draws besides the dashboard: `experiment()`, a headless experiment
(explorer.runs.experiments) drawn while it trains, and `predict()`, the question a reader answers before it."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence

import altair as alt
import ipywidgets as W
from IPython.display import Markdown

from explorer.faces.notebook.chart import CHART_WIDTH, chart_widget
from explorer.runs.claims import claim_named, claims_of
from explorer.runs.experiments import Arm, Progress, Result, arm_summary, holds, run_experiment, run_over_seeds
from explorer.runs.history import Snapshot
from explorer.runs.questions import Question, question_named
from explorer.runs.sweep_summary import SweepSummary
from explorer.spec.knobs import Config
from explorer.views import run_charts, sweep_charts


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
    """`explorer.runs.experiments.run_experiment` (each configuration trained to its end, one after another,
    in THIS thread, every run in the store), drawn while it trains: a progress line and `chart(snapshots)` (the
    finished runs and the one in progress; default: their validation losses on one axis), redrawn about
    every `every_s` seconds. `schedules` {run name: {step: {knob: value}}} moves knobs mid-run, as a slider
    would; `threads` sets torch's CPU threads (1 is fastest for tiny models). Returns {name: Result}.

    `seeds`: train every configuration on each of these seeds (`run_over_seeds`); the default chart is then
    each configuration's mean curve with its seeds' 95 % band, and it returns {name: Arm}."""
    if seeds is not None and chart is None:
        names = list(runs)

        def chart(snaps: list[Snapshot]) -> alt.TopLevelMixin:  # run order: seed by seed, names in order
            arms = [
                arm_summary(name, i, snaps[i :: len(names)], seeds[: len(snaps[i :: len(names)])])
                for i, name in enumerate(names)
            ]
            return sweep_charts.variance_band_chart(SweepSummary("lesson", arms, []), width=width)

    draw = chart or (lambda snaps: run_charts.comparison_chart(snaps, width=width))
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
    choice is fixed when committed, explorer.faces.notebook.predict_first, and in any case once the outcome is
    in), and `check` says whether the runs agreed. A prediction written down first is what turns a chart from a
    picture into a test of the reader's own model. The question, its answers and the rule that decides among them
    are the registry's (explorer.runs.questions): the page only asks and draws."""

    def __init__(self, question: Question, **setup: object):
        self.question, self.setup = question, setup
        self.asks = question.asks.format(**setup)
        self.choice = W.RadioButtons(options=list(question.choices), value=None, layout={"width": "max-content"})
        self.verdict = W.HTML()
        self._outcome: tuple[str, str] | None = None
        self._fixed = False  # committed (explorer.faces.notebook.predict_first): the answer cannot change
        self.choice.observe(lambda _change: self._draw(), names="value")
        super().__init__([W.HTML(f"<b>Predict first.</b> {html.escape(self.asks)}"), self.choice, self.verdict])
        self._draw()

    def check(self, numbers: dict, evidence: str) -> Prediction:
        """Reveal the runs' answer, decided by the question's rule from `numbers` as the lesson prints them, and
        the evidence for it (over how many seeds). The answer and the setup the question was asked with are kept in
        `numbers["answers"]`, so that the lesson's RESULTS line says what its page said."""
        printed = _as_printed(numbers)
        if "setups" in printed and (unfair := self.question.unfair(printed["setups"])):
            raise ValueError(f"{self.question.name}: not like for like ({unfair})")
        answer = self.question.answer(printed)
        numbers.setdefault("answers", {})[self.question.name] = {"answer": answer, "setup": self.setup}
        self._outcome = (answer, evidence)
        self._draw()
        return self

    def fix(self) -> None:
        """The reader committed: this answer (or none) is the one the runs will be checked against."""
        self._fixed = True
        self._draw()

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
        # committed, or the outcome is in: an answer picked after the outcome is no prediction
        self.choice.disabled = self._fixed or self._outcome is not None


def predict(lesson: str, name: str, **setup: object) -> Prediction:
    """The lesson's question `name` (explorer.runs.questions), its {placeholders} filled from `setup`; after the
    experiment, `prediction.check(numbers, evidence)` reveals the runs' answer."""
    return Prediction(question_named(lesson, name), **setup)


def _as_printed(numbers: Mapping) -> dict:
    """The numbers as the lesson's RESULTS line prints them and the tests read them back (JSON: keys are text)."""
    return json.loads(json.dumps(numbers))


def held(lesson: str, name: str, numbers: Mapping, seeds: int) -> str:
    """'in 2 of 3 seeds': how often the lesson's claim `name` held in these numbers, decided by the registry as the
    lesson's closing table and the tests decide it, so that its prose never counts a claim a second way."""
    return holds(claim_named(lesson, name).verdicts(_as_printed(numbers), seeds))


def claims_table(lesson: str, numbers: Mapping, seeds: int) -> Markdown:
    """The lesson's claims (explorer.runs.claims, the ones the test suite checks) as its own runs decided them, seed
    by seed: the page says where a claim did not hold in this reader's runs instead of stating it regardless."""
    printed = _as_printed(numbers)
    rows = []
    for claim in claims_of(lesson):
        unfair = claim.unfair(printed["setups"]) if claim.runs else None
        if unfair:
            held = f"not decided: not like for like ({unfair})"
        else:
            verdicts = claim.verdicts(printed, seeds)
            held = f"{sum(verdicts)} of {len(verdicts)} seeds" if claim.per_seed else ("yes" if verdicts[0] else "no")
        rows.append(f"| {claim.says} | {claim.compares} | {held} |")
    return Markdown(
        "**What this lesson claims, decided by these runs** (the test suite checks the same claims; the docs' "
        "lessons page lists them all). A claim that compares runs is decided only when they differ in nothing but "
        "the knobs it names:\n\n| claim | runs differ only in | held in |\n|---|---|---|\n" + "\n".join(rows)
    )
