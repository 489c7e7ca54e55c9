"""What both front ends show, decided once: which widget each knob gets, its range and label, and the
status line. Streamlit and ipywidgets each turn these specs into their own widgets and nothing more.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .config import FIXED_KNOBS, KNOBS, LIVE_KNOBS, Config, ConfigError, format_value, knob_for_query
from .history import Snapshot

# Log-spaced choices (0 = off) for the penalties, as a slider a class can read.
PENALTY_CHOICES = (0.0, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
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
    Control("dropout_kind", "Dropout kind", "select", options=("standard", "variational")),
    Control("embed_dropout", "Embedding (word) dropout", "slider", 0.0, 0.5, 0.05),
    Control("weight_drop", "Weight drop (recurrent DropConnect)", "slider", 0.0, 0.8, 0.05),
    Control("l2", "L2 λ (penalty λ·Σw²)", "choice_slider", options=PENALTY_CHOICES),
    Control("l1", "L1 λ (penalty λ·Σ|w|)", "choice_slider", options=PENALTY_CHOICES),
    Control("weight_decay", "Weight decay (decoupled with AdamW)", "choice_slider",
            options=(0.0, 1e-3, 1e-2, 3e-2, 0.1, 0.3)),
    Control("clip", "Gradient clip threshold (0 = off)", "choice_slider", options=CLIP_CHOICES),
    Control("clip_mode", "Clip by", "select", options=("norm", "value")),
    Control("batchnorm", "Batch norm", "toggle"),
    Control("layernorm", "Layer norm", "toggle"),
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
    Control("train_fraction", "Fraction of training text used", "choice_slider",
            options=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0)),
    Control("optimizer", "Optimiser", "select", options=("adam", "adamw", "sgd")),
    Control("init", "Initialisation", "select", options=("default", "xavier", "orthogonal")),
    Control("seed", "Seed", "number", 0, 2**31 - 1, 1),
    Control("device", "Device", "select", options=("auto", "cpu", "cuda")),
    Control("steps", "Steps to train", "number", 1, 10_000_000, 100),
)


def nearest_option(control: Control, value):
    """The option closest to `value`, so a preset or URL value always lands on a slider notch."""
    if value in control.options:
        return value
    return min(control.options, key=lambda option: abs(float(option) - float(value)))


def status_line(status: str, snap: Snapshot, device: str = "", error: str | None = None) -> str:
    """One line a class can read from the back row: where the run is, how fast, how good so far."""
    if error:
        return error
    if status == "idle":
        return "Ready: press Train."
    end = snap.final_event()
    if status == "diverged" and end:
        return (f"Diverged at step {end['step']}: {end['cause']} — lower the learning rate or turn on "
                f"clipping, then Reset.")
    parts = [f"step {snap.last_step:,}"]
    if snap.steps:
        last = snap.steps[-1]
        parts += [f"epoch {last['epoch']:.2f}", f"{last['tokens_per_s'] / 1000:.1f}k tokens/s"]
    if device:
        parts.append(device)
    best = snap.best_eval()
    if best:
        parts.append(f"best validation loss {best['val_loss']:.3f} at step {best['step']:,}")
    prefix = {"running": "Training", "paused": "Paused", "finished": "Finished", "stopped": "Stopped",
              "early_stop": "Stopped early (best weights restored)"}.get(status, status)
    return f"{prefix}: " + " · ".join(parts)


# ------------------------------------------------------------------------------------------------
# Shared front-end logic: widgets <-> Config, what a link may set, pending setup, threads, viewers.

# Knobs a front end may tuck into an "advanced" section; the rest stay in plain view.
ADVANCED = frozenset({"embed_dropout", "weight_drop", "weight_decay", "layernorm",
                      "embed", "optimizer", "init", "steps"})
ALL_CONTROLS: tuple[Control, ...] = LIVE_CONTROLS + SETUP_CONTROLS


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


def config_from_query(query: dict, corpus_allowed: Callable[[str], bool] = lambda corpus: True
                      ) -> tuple[Config, list[str]]:
    """A Config from a shared link's query parameters, keeping every valid value and naming each bad
    one (a mistyped link still opens). `corpus_allowed` guards which corpus a link may name: a server
    must not let a link train on, and sample back, any file it can read."""
    config, problems = Config(), []
    for key, value in query.items():
        name = knob_for_query(key)
        if name not in KNOBS:
            continue
        if isinstance(value, (list, tuple)):
            value = value[-1]
        if name == "corpus" and not corpus_allowed(str(value)):
            problems.append(f"corpus {value!r} is not available here; using Tiny Shakespeare")
            continue
        try:
            config = config.replace(**{name: value})
        except ConfigError as err:
            problems.append(f"{err}; using {getattr(config, name)!r}")
    return config, problems


def setup_changes(current: Config, wanted: Config) -> dict[str, tuple]:
    """{fixed knob: (in force, wanted)} for setup that only a Reset applies."""
    return {name: (getattr(current, name), getattr(wanted, name)) for name in FIXED_KNOBS
            if getattr(current, name) != getattr(wanted, name)}


def live_changes(current: Config, wanted: Config) -> dict:
    """{live knob: wanted value} where the widgets differ from the run: pass to LiveRun.set_knobs."""
    return {name: getattr(wanted, name) for name in LIVE_KNOBS if getattr(current, name) != getattr(wanted, name)}


def describe_changes(changes: dict[str, tuple]) -> str:
    """'hidden 128 → 16, cell lstm → gru' (file paths shortened to their names)."""
    def show(name, value):
        return Path(str(value)).name if name == "corpus" else format_value(value)
    return ", ".join(f"{name} {show(name, old)} → {show(name, new)}" for name, (old, new) in changes.items())


def torch_threads_for(active_runs: int, cores: int | None = None) -> int:
    """CPU threads for one more run when `active_runs` others are training in this process: the cores
    but one (kept for the page and the browser) shared out, at least one each, at most 4. Oversubscribing
    is catastrophic, not mildly slower: on a busy 2-core machine a tiny model trained at 346 steps/s on
    one thread and 0.75 steps/s on two (OpenMP workers waiting on each other)."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(4, (cores - 1) // (active_runs + 1)))


class ViewerWatchdog:
    """A LiveRun watchdog: True while the viewer is there; False once `is_present()` has said no for
    `grace_s` seconds in a row (a brief reconnect must not end a class demo). `on_leave` is called once,
    when it gives up (to log "run stopped (viewer left)")."""

    def __init__(self, is_present: Callable[[], bool], grace_s: float = 3.0,
                 on_leave: Callable[[], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.is_present, self.grace_s, self.on_leave, self.clock = is_present, grace_s, on_leave, clock
        self._gone_since: float | None = None

    def __call__(self) -> bool:
        if self.is_present():
            self._gone_since = None
            return True
        now = self.clock()
        if self._gone_since is None:
            self._gone_since = now
        if now - self._gone_since < self.grace_s:
            return True
        if self.on_leave:
            self.on_leave()
        self._gone_since = None  # a later run with the same watchdog starts with a fresh grace period
        return False


# ------------------------------------------------------------------------------------------------
# Small helpers both front ends need (added for the ipywidgets dashboard; self-contained).

def knob_change_lines(snap: Snapshot, limit: int = 5) -> list[str]:
    """The latest knob changes of a run, newest last: ['step 57: dropout 0 → 0.5', ...]."""
    return [f"step {e['step']:,}: {e['knob']} {format_value(e['old'])} → {format_value(e['new'])}"
            for e in snap.knob_changes()[-limit:]]

