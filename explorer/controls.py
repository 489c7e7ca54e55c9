"""What both front ends show, decided once: which widget each knob gets, its range and label, and the
status line. Streamlit and ipywidgets each turn these specs into their own widgets and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import KNOBS
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
            options=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)),
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
