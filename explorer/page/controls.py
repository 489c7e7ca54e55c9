"""Which widget each knob gets, its range and label, decided once: Streamlit and ipywidgets each turn
these specs into their own widgets and nothing more (what the widgets then DO is explorer.session).
Live runs are open-ended, so the CLI's step budget has no widget.
"""

from __future__ import annotations

from dataclasses import dataclass

from explorer.spec.errors import ConfigError
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.wording import format_value

# Log-spaced choices (0 = off) for the penalties, as a slider a class can read.
PENALTY_CHOICES = (0.0, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
# Proximal L1's threshold is lr·λ, not rescaled by Adam: it needs λ far above the subgradient's to bite.
L1_CHOICES = (*PENALTY_CHOICES, 0.03, 0.1, 0.2, 0.5)
LR_CHOICES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 2.0, 3.0)
CLIP_CHOICES = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class Control:
    """One widget. kind: 'slider' (lo..hi by step), 'choice_slider' (one of `options`, shown in
    order), 'select' (a drop-down of `options`), 'toggle' (on/off), 'number' (an integer box)."""

    name: str
    label: str
    kind: str
    lo: float = 0.0
    hi: float = 1.0
    step: float = 0.05
    options: tuple = ()

    @property
    def help(self) -> str:
        return KNOBS[self.name].help


LIVE_CONTROLS: tuple[Control, ...] = (
    Control("dropout", "Dropout rate", "slider", 0.0, 0.9, 0.05),
    Control("dropout_kind", "Dropout kind", "select", options=("standard", "locked")),
    Control("embed_dropout", "Embedding (word) dropout", "slider", 0.0, 0.5, 0.05),
    Control("weight_drop", "Weight drop (recurrent DropConnect)", "slider", 0.0, 0.8, 0.05),
    Control("recurrent_dropout", "Recurrent dropout (on h(t−1), inside the cell)", "slider", 0.0, 0.8, 0.05),
    Control("recurrent_dropout_kind", "Recurrent dropout kind", "select", options=("naive", "gal")),
    Control("cell_norm", "Normalisation inside the cell", "select", options=("none", "layer", "batch")),
    Control("noise", "Data noising γ (share of input tokens replaced)", "slider", 0.0, 0.5, 0.05),
    Control("noise_kind", "Noising replaces with", "select", options=("unigram", "blank")),
    Control("l2", "L2 λ (penalty λ·Σw²)", "choice_slider", options=PENALTY_CHOICES),
    Control("l1", "L1 λ (penalty λ·Σ|w|)", "choice_slider", options=L1_CHOICES),
    Control("l1_kind", "L1 applied as", "select", options=("subgradient", "proximal")),
    Control(
        "weight_decay",
        "Weight decay (coupled with Adam/SGD, decoupled with AdamW)",
        "choice_slider",
        options=(0.0, 1e-3, 2e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
    ),
    Control("clip", "Gradient clip threshold (0 = off)", "choice_slider", options=CLIP_CHOICES),
    Control("clip_mode", "Clip by", "select", options=("norm", "value")),
    Control("batchnorm", "Batch norm (on each layer's output)", "toggle"),
    Control("layernorm", "Layer norm (on each layer's output)", "toggle"),
    Control("lr", "Learning rate", "choice_slider", options=LR_CHOICES),
    Control("early_stop", "Early-stopping patience (evaluations, 0 = off)", "slider", 0, 20, 1),
)

SETUP_CONTROLS: tuple[Control, ...] = (
    Control("level", "Tokens", "select", options=("char", "word")),
    Control("cell", "Cell", "select", options=("rnn", "gru", "lstm")),
    Control("layers", "Layers", "slider", 1, 3, 1),
    Control("hidden", "Hidden units", "choice_slider", options=(16, 32, 64, 128, 256, 384, 512)),
    Control("embed", "Embedding size", "choice_slider", options=(16, 32, 64, 128, 256)),
    Control("seq_len", "Sequence length", "choice_slider", options=(16, 32, 64, 128)),
    Control("batch_size", "Batch size", "choice_slider", options=(8, 16, 32, 64, 128)),
    Control(
        "train_fraction",
        "Fraction of training text used",
        "choice_slider",
        options=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0),
    ),
    Control("split", "Held-out text", "select", options=("contiguous", "interleaved")),
    Control("optimizer", "Optimiser", "select", options=("adam", "adamw", "sgd")),
    Control("init", "Initialisation", "select", options=("default", "xavier", "orthogonal")),
    Control("attention", "Attention over the window", "toggle"),
    Control("forget_bias", "LSTM forget-gate bias 1", "toggle"),
    Control("seed", "Seed", "number", 0, 2**31 - 1, 1),
    Control("device", "Device", "select", options=("auto", "cpu", "cuda")),
)


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
ADVANCED = frozenset(
    {
        "embed_dropout",
        "weight_drop",
        "recurrent_dropout",
        "recurrent_dropout_kind",
        "cell_norm",
        "noise_kind",
        "l1_kind",
        "weight_decay",
        "layernorm",
        "embed",
        "split",
        "optimizer",
        "init",
        "forget_bias",
    }
)
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
