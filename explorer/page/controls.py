"""Which widget each knob gets, its range and label, decided once: Streamlit and ipywidgets each turn
these specs into their own widgets and nothing more (what the widgets then DO is explorer.page.session).
Live runs are open-ended, so the CLI's step budget has no widget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from explorer.spec.errors import ConfigError
from explorer.spec.knob import Widget
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.wording import format_value


@dataclass(frozen=True)
class Control(Widget):
    """One widget: a knob's `Widget` hint from the knob table, with the knob's name and, for a drop-down, the
    knob's own choices as its options."""

    name: str = ""

    @property
    def help(self) -> str:
        return KNOBS[self.name].help


def _control(name: str) -> Control:
    knob = KNOBS[name]
    options = knob.widget.options or (knob.choices if knob.widget.kind == "select" else ())
    return replace(Control(name=name, **asdict(knob.widget)), options=options)


LIVE_CONTROLS: tuple[Control, ...] = tuple(_control(n) for n, k in KNOBS.items() if k.live and k.widget)
SETUP_CONTROLS: tuple[Control, ...] = tuple(_control(n) for n, k in KNOBS.items() if not k.live and k.widget)


# The setup knobs that have no widget, as far as a page (a link, a forged widget value) may take them: enough
# for every lesson, too little for one student to take the server's memory or the class's time.
PAGE_RANGES = {
    "vocab_size": (2, 10_000),
    "eval_every": (1, 10_000),
    "eval_batches": (1, 100),
    "meter_every": (0, 1_000),
}  # the others without a widget (steps, detail_every, meter_n, ...) are bounded by their Knob alone


def page_range(name: str) -> tuple[float, float] | None:
    """(lowest, highest) a page may set a setup knob to: what its widget offers, or PAGE_RANGES; None where
    the knob's own choices already bound it (or it is live: any value in its range is cheap to train with)."""
    if KNOBS[name].live:
        return None
    control = CONTROLS.get(name)
    if control is None:
        return PAGE_RANGES.get(name)
    if control.kind == "choice_slider":
        return min(control.options), max(control.options)
    if control.kind in ("slider", "number"):
        return control.lo, control.hi
    return None


def check_from_page(name: str, value) -> None:
    """Refuse a setup value beyond what the page offers (`?hidden=4096` builds a 69M-parameter model): checked
    where a page's value is applied, since a browser can send any value whatever its widget shows."""
    bounds = page_range(name)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        lo, hi = (format_value(KNOBS[name].kind(bound)) for bound in bounds)
        raise ConfigError(f"{name} {format_value(value)} is outside what a page may ask for ({lo} to {hi})")


def nearest_option(control: Control, value):
    """The option closest to `value`, so a preset or URL value always lands on a slider notch."""
    if value in control.options:
        return value
    return min(control.options, key=lambda option: abs(float(option) - float(value)))


# ------------------------------------------------------------------------------------------------
# Widgets <-> Config.

# Knobs a front end may tuck into an "advanced" section; the rest stay in plain view.
ADVANCED = frozenset(name for name, knob in KNOBS.items() if knob.advanced)
ALL_CONTROLS: tuple[Control, ...] = LIVE_CONTROLS + SETUP_CONTROLS
CONTROLS = {control.name: control for control in ALL_CONTROLS}


def widget_value(control: Control, value):
    """`value` as the widget can show it: on a slider notch / in the options / inside the range."""
    kind = KNOBS[control.name].kind
    if control.kind == "toggle":
        return bool(value)
    if control.kind == "select":
        return value if value in control.options else control.options[0]
    if control.kind == "choice_slider":
        return nearest_option(control, value)
    lo, hi = kind(control.lo), kind(control.hi)
    value = min(max(kind(value), lo), hi)
    if control.kind == "slider":
        notches = round((value - lo) / control.step)
        value = kind(round(lo + notches * control.step, 10))
    return value


def widget_values(config: Config) -> dict:
    """{knob name: widget value} for every control, from a Config (on load, after a preset)."""
    return {c.name: widget_value(c, getattr(config, c.name)) for c in ALL_CONTROLS}


def off_the_widgets(config: Config, names: set[str]) -> list[str]:
    """What a link set (the knobs `names`) that its widget cannot show (beyond a slider's end, between its
    notches): the run keeps the link's value, the widget shows the nearest it can, and the page says so."""
    notes = []
    for control in ALL_CONTROLS:
        if control.name not in names:
            continue
        value = getattr(config, control.name)
        shown = widget_value(control, value)
        if shown != value:
            notes.append(
                f"{control.name} {format_value(value)} is off the {control.label} control, which shows "
                f"{format_value(shown)}; the run uses {format_value(value)} until that control moves"
            )
    return notes
