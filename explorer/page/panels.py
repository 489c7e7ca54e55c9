"""The panels both faces draw beside the charts, specified once: the text sample, Repeat over seeds and the
Sweep tab (their texts, ranges and defaults), the tabs, the chart heights, and which background job the
page's one message answers. Plain data and small functions: the Streamlit app and the notebook dashboard
each turn them into their own widgets, so a label or a range changes here for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.spec.knobs import KNOBS, Config
from explorer.spec.wording import format_value
from explorer.views.registry import SWEEP_VIEWS, VIEWS

NO_PRESET = "— pick a lesson —"  # the preset picker's first entry: no lesson chosen

# The tabs: one per chart view, then the Sweep tab and the text sample (not chart views).
SWEEP, SAMPLE = "sweep", "sample"
TAB_TITLES = {**{name: view.title for name, view in VIEWS.items()}, SWEEP: "Sweep", SAMPLE: "Text sample"}

# Plot heights (px): the gap chart whole on 1024×768 below the buttons and the status line; taller with the
# projector on. A job's charts come below its controls: a little shorter.
CHART_HEIGHT, PROJECTOR_HEIGHT = 300, 560
JOB_HEIGHT, JOB_PROJECTOR_HEIGHT = 240, 420


def chart_height(projector: bool) -> int:
    return PROJECTOR_HEIGHT if projector else CHART_HEIGHT


def job_chart_height(projector: bool) -> int:
    return JOB_PROJECTOR_HEIGHT if projector else JOB_HEIGHT


@dataclass(frozen=True)
class Number:
    """A slider or number box: `lo`..`hi` by `step`, starting at `default` (None: at a value of the session's)."""

    label: str
    lo: int
    hi: int
    default: int | None = None
    step: int = 1


@dataclass(frozen=True)
class Choice:
    """One of `options`, starting at `default`."""

    label: str
    options: tuple
    default: object
    help: str = ""


@dataclass(frozen=True)
class Text:
    label: str
    default: str = ""
    placeholder: str = ""


@dataclass(frozen=True)
class Action:
    """A button: its label and what it does, in a tooltip."""

    label: str
    help: str


@dataclass(frozen=True)
class Intro:
    """A panel's first line: its name in bold, then what it is for."""

    title: str
    text: str


# ------------------------------------------------------------------------------------------ the text sample
MAX_SAMPLE_TOKENS = 1000  # the longest sample (and prompt) a page may ask the worker for: Session.sample checks it


@dataclass(frozen=True)
class SamplePanel:
    prompt: Text
    length: Number
    temperature: Choice
    generate: Action

    @staticmethod
    def sampled_after(step: int) -> str:
        """The line above a sample: which weights wrote it."""
        return f"Sampled after step {step:,}:"


SAMPLE_PANEL = SamplePanel(
    prompt=Text("Prompt", "ROMEO:"),
    length=Number("Length (tokens)", 20, MAX_SAMPLE_TOKENS, 300, step=20),
    temperature=Choice(
        "Temperature", (0.2, 0.5, 0.8, 1.0, 1.2, 1.5), 0.8, help="Low: safe and repetitive; high: adventurous and noisy"
    ),
    generate=Action("Generate text", "From the weights as they are now; training goes on"),
)


# ------------------------------------------------------------------------------------------ background jobs
# The page's background jobs: "seeds" (Compare runs → Repeat over seeds) and "sweep" (the Sweep tab); the tab
# that shows each, and the charts each draws from the store.
JOB_TABS = {"seeds": "compare", "sweep": SWEEP}
JOB_CHARTS = {
    "seeds": SWEEP_VIEWS["seeds"].charts,
    "sweep": SWEEP_VIEWS["landscape"].charts + SWEEP_VIEWS["seeds"].charts,
}
CANCEL = Action("Cancel", "Stop it; the finished trials stay")


def job_message(answered: tuple | None, kind: str, flash):
    """The page's one message when it answers job `kind`'s own button (drawn next to that button, not at the
    top), else None. `answered`: (the job whose button was pressed last, the message it got then)."""
    if flash is not None and answered is not None and answered[0] == kind and answered[1] is flash:
        return flash
    return None


@dataclass(frozen=True)
class SeedsPanel:
    intro: Intro
    seeds: Number
    start: Action


SEEDS_PANEL = SeedsPanel(
    intro=Intro(
        "Repeat over seeds",
        "— is the difference real? Every run above trains again with other seeds, as long as it ran and with its "
        "knob moves, in the background.",
    ),
    seeds=Number("Seeds", 2, 10, 3),
    start=Action("Repeat over seeds", "Runs on the cores the live run leaves"),
)


# The Sweep tab: the knobs it offers (seeds and steps have their own boxes; corpus and device are the
# machine's), its starting grid (2 × 2 arms × 3 seeds: 12 trials, inside a 2-core machine's limit).
SWEEP_KNOBS = [name for name in KNOBS if name not in ("seed", "corpus", "device", "steps")]
GRID_DEFAULTS = {"dropout": "0, 0.5", "l2": "0, 1e-4"}
NO_KNOB = "— none —"  # the second knob's "no second knob"


@dataclass(frozen=True)
class SweepPanel:
    intro: Intro  # its text names where the setup is: format it with where="in the sidebar"
    knobs: tuple[Choice, Choice]  # the first knob, then the optional second (NO_KNOB first in its options)
    values: Text  # its label names the knob: format it with knob=...
    seeds: Number
    steps: Number  # the faces start it at the setup's own step budget (Session.wanted.steps)
    start: Action

    @staticmethod
    def values_for(knob: str, wanted: Config) -> str:
        """What a knob's values box starts with: the starting grid's, else the value the setup has."""
        return GRID_DEFAULTS.get(knob, format_value(getattr(wanted, knob)))


SWEEP_PANEL = SweepPanel(
    intro=Intro(
        "Sweep",
        "— a grid of knob values on top of the setup {where}, each trained with several seeds in the background "
        "while the live run goes on.",
    ),
    knobs=(
        Choice("First knob", tuple(SWEEP_KNOBS), "dropout"),
        Choice("Second knob (optional)", (NO_KNOB, *SWEEP_KNOBS), "l2"),
    ),
    values=Text("{knob} values, comma-separated", placeholder="0, 0.25, 0.5"),
    seeds=Number("Seeds", 1, 10, 3),
    steps=Number("Steps per trial", 1, int(KNOBS["steps"].hi), step=100),
    start=Action("Start sweep", "The grid × seeds, in the background"),
)
