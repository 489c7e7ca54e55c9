"""The instruments' budget: what the teaching measurements cost a run, and how far apart they must be so
that together they take at most a stated share of its training time, at any model size.

An instrument (the gradient details of a step, the memorisation meter of an evaluation) runs on a grid of
steps `first + k·period`, the cadence the run asked for. Each time it runs its cost is measured; training's
cost per step is a moving average. The budget is shared out by water-filling: instruments are taken from the
cheapest up, each gets an equal part of what is left, and one that needs more is stretched to a whole multiple
of its period (so it stays on its grid and a stretch of 1 is exactly the cadence asked for). A share of 0 is no
budget: every instrument keeps the cadence asked for (a lesson that must see every step).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Instrument:
    first: int  # the first step it runs at
    period: int  # steps between runs, as asked for
    stretch: int = 1  # the period in force is period × stretch
    next_step: int = 0
    costs: deque = field(default_factory=lambda: deque(maxlen=3))  # seconds, its latest runs but the first
    runs: int = 0
    spent: float = 0.0  # seconds, all its runs

    def __post_init__(self) -> None:
        self.next_step = self.first

    @property
    def every(self) -> int:
        return self.period * self.stretch

    @property
    def cost(self) -> float:
        """The least of its latest runs: a busy moment does not count as its cost."""
        return min(self.costs)


class InstrumentBudget:
    def __init__(self, share: float, instruments: dict[str, Instrument]):
        self.share = share
        self.instruments = instruments
        self.step_s = 0.0  # training seconds per step (moving average, instruments excluded)
        self.trained = 0.0  # training seconds so far
        self._steps = 0
        self.unspaced = 0.0  # seconds of measurements that are measured but never spaced (the training subset)
        self.warm_up = 0.0  # seconds of the instruments' first runs (not in their share: one-off, like set-up)

    def due(self, name: str, step: int) -> bool:
        instrument = self.instruments.get(name)
        return instrument is not None and step >= instrument.next_step

    def trained_step(self, seconds: float) -> None:
        """One training step's time, instruments excluded; the first is all warm-up and is left out."""
        self._steps += 1
        if self._steps == 1:
            return
        self.trained += seconds
        self.step_s = seconds if self._steps == 2 else 0.95 * self.step_s + 0.05 * seconds

    def ran(self, name: str, step: int, seconds: float) -> None:
        """`name` ran at `step` and took `seconds`: plan anew, and its next run is one period in force later."""
        instrument = self.instruments[name]
        # The first run is its warm-up, a one-off cost like loading the corpus (the meter builds its n-gram index):
        # planned from, a cheap instrument could be pushed so far off that it never runs again. Kept apart.
        if instrument.runs:
            instrument.costs.append(seconds)
            instrument.spent += seconds
        else:
            self.warm_up += seconds
        instrument.runs += 1
        self._plan()
        instrument.next_step = step + instrument.every

    def resume(self, step: int) -> None:
        """After a restore at `step`: each instrument's next run is its first grid step after it."""
        for instrument in self.instruments.values():
            done = max(0, (step - instrument.first) // instrument.every + 1) if step >= instrument.first else 0
            instrument.next_step = instrument.first + done * instrument.every

    def _plan(self) -> None:
        measured = [i for i in self.instruments.values() if i.costs]
        if not self.share or not self.step_s:
            for instrument in measured:
                instrument.stretch = 1
            return
        wanted = {id(i): i.cost / (i.period * self.step_s) for i in measured}  # share at the cadence asked for
        # what the training subset's evaluation (never spaced: the gap needs it at every evaluation) leaves; a
        # tenth at least, so that an instrument still runs now and then where the subset alone overspends
        left = max(self.share - (self.unspaced / self.trained if self.trained else 0.0), self.share / 10)
        waiting = len(self.instruments)
        for instrument in sorted(measured, key=lambda i: wanted[id(i)]):
            allowance = left / waiting
            instrument.stretch = max(1, math.ceil(wanted[id(instrument)] / allowance - 1e-9))
            left -= wanted[id(instrument)] / instrument.stretch
            waiting -= 1

    def share_spent(self) -> float:
        """The instruments' time so far as a share of training time so far."""
        spent = sum(i.spent for i in self.instruments.values())
        return spent / self.trained if self.trained else 0.0

    def cadence(self) -> dict:
        """The cadence in force, for the records: each instrument's period in steps, the share the spaced
        instruments spent after their warm-up, the share of the training-subset evaluation (every evaluation,
        never spaced) and the seconds the instruments' first runs took."""
        trained = self.trained or math.inf
        return {f"{name}_every_now": i.every for name, i in self.instruments.items()} | {
            "instrument_share": round(self.share_spent(), 4),
            "train_eval_share": round(self.unspaced / trained, 4),
            "instrument_warm_up_s": round(self.warm_up, 3),
        }
