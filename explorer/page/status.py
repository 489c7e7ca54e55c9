"""What the page says: its messages (one level and one text each), the status line a class reads from the
back row, the knob changes so far, setup that waits for Reset, a place in the class's queue. Written once for
both faces; `Session` decides which to say when."""

from __future__ import annotations

from dataclasses import dataclass

from explorer.core.data import SHIPPED
from explorer.runs.history import Snapshot
from explorer.spec.knobs import FIXED_KNOBS, Config, slower_cell_note
from explorer.spec.wording import describe_move, format_value, instruments_line, loss_readout, plural

COLOURS = {"error": "#D55E00", "warning": "#8a4b00", "success": "#009E73", "info": "#0072B2"}


@dataclass(frozen=True)
class Message:
    """One thing the page says, at a level each face shows in its own colour."""

    level: str  # error | warning | success | info
    text: str

    @property
    def colour(self) -> str:
        return COLOURS[self.level]


STATUS_LEVEL = {"diverged": "error", "error": "error", "finished": "success", "early_stop": "success"}


def describe_changes(changes: dict[str, tuple]) -> str:
    """'hidden 128 → 16, cell lstm → gru' (an uploaded corpus is called 'your file')."""

    def show(name, value):
        if name != "corpus":
            return format_value(value)
        return SHIPPED[value].split(" (")[0] if value in SHIPPED else "your file"

    return describe_move(changes, show)


def setup_changes(current: Config, wanted: Config) -> dict[str, tuple]:
    """{fixed knob: (in force, wanted)} for setup that only a Reset applies."""
    return {
        name: (getattr(current, name), getattr(wanted, name))
        for name in FIXED_KNOBS
        if name != "steps" and getattr(current, name) != getattr(wanted, name)
    }


def status_line(status: str, snap: Snapshot, device: str = "", error: str | None = None) -> str:
    """One line a class can read from the back row: where the run is, how fast, how good so far."""
    if error:
        return error
    if status == "idle":
        return "Ready: press Train."
    end = snap.final_event()
    if status == "diverged" and end:
        return (
            f"Diverged at step {end['step']:,}: {end['cause']} — lower the learning rate or turn on "
            f"clipping, then Reset."
        )
    parts = [f"step {snap.last_step:,}"]
    if snap.steps:
        last = snap.steps[-1]
        parts += [f"epoch {last['epoch']:.2f}", f"{last['tokens_per_s'] / 1000:.1f}k tokens/s"]
        cell = (snap.start or {}).get("config", {}).get("cell", "")
        if note := slower_cell_note(cell, last.get("recurrent_dropout", 0.0), last.get("cell_norm", "none")):
            parts.append(note)
    if device:  # on a CPU, its share of the cores, which moves as explorer's other runs start and end
        threads = snap.steps[-1].get("threads") if device == "cpu" and snap.steps else None
        parts.append(f"{device} ({plural(threads, 'thread')})" if threads else device)
    if snap.evals and snap.evals[-1].get("detail_every_now"):  # the cadence the instruments' budget leaves in force
        parts.append(instruments_line(snap.evals[-1], short=True))
    best = snap.best_eval()
    if best:
        readout = f" ({loss_readout(best['val_loss'], snap.level)})" if snap.level else ""
        parts.append(f"best validation loss {best['val_loss']:.3f}{readout} at step {best['step']:,}")
    prefix = {
        "running": "Training",
        "paused": "Paused (Train goes on)",
        "finished": "Finished (Train goes on)",
        "stopped": "Stopped",
        "early_stop": "Stopped early, best weights restored (Train goes on)",
    }.get(status, status)
    return f"{prefix}: " + " · ".join(parts)


def knob_change_lines(snap: Snapshot, limit: int = 5) -> list[str]:
    """The latest knob changes of a run, newest last: ['step 57: dropout 0 → 0.5', ...]."""
    return [
        f"step {e['step']:,}: {describe_move({e['knob']: (e['old'], e['new'])})}" for e in snap.knob_changes()[-limit:]
    ]


def waiting_line(ahead: int, slots: int) -> str:
    return (
        f"Waiting for a free slot: {ahead} ahead. The class trains {plural(slots, 'run')} at a time; "
        f"yours starts by itself."
    )
