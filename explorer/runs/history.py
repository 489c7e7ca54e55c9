"""A bounded, thread-safe record of a run that front ends poll while the trainer appends to it.

Memory stays flat however long a run goes: each series keeps its latest points at full resolution
and thins older ones (every other point dropped, over and over), so an hour of training still fits
in a few thousand records. `snapshot()` copies list references under the lock and returns at once;
charts are then built from the copy with no lock held.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


class ThinningSeries:
    """The newest `recent` records kept whole; older ones kept at a stride that doubles whenever
    they would exceed `older` records (so the whole run is always covered, more coarsely as it ages)."""

    def __init__(self, recent: int = 500, older: int = 1500):
        self.recent: deque = deque()
        self.recent_cap = recent
        self.older: list = []
        self.older_cap = older
        self.stride = 1
        self._aged = 0  # records that have left `recent`, for picking every stride-th one

    def append(self, record: dict) -> None:
        self.recent.append(record)
        if len(self.recent) > self.recent_cap:
            aged = self.recent.popleft()
            if self._aged % self.stride == 0:
                self.older.append(aged)
                if len(self.older) > self.older_cap:
                    self.older = self.older[::2]
                    self.stride *= 2
            self._aged += 1

    def items(self) -> list:
        return self.older + list(self.recent)

    def __len__(self) -> int:
        return len(self.older) + len(self.recent)


@dataclass
class Snapshot:
    """What a chart needs, as plain record lists (see Trainer for the record fields)."""

    name: str = "current"
    start: dict | None = None
    steps: list[dict] = field(default_factory=list)  # every kept step record
    details: list[dict] = field(default_factory=list)  # step records carrying gradient/weight details
    evals: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # knob changes, early stop, divergence, finished

    @property
    def level(self) -> str | None:
        """char or word, from the start record (None before it arrives)."""
        return (self.start or {}).get("config", {}).get("level")

    @property
    def last_step(self) -> int:
        return self.steps[-1]["step"] if self.steps else 0

    def best_eval(self) -> dict | None:
        return min(self.evals, key=lambda r: r["val_loss"]) if self.evals else None

    def knob_changes(self) -> list[dict]:
        return [e for e in self.events if e["event"] == "knob"]

    def final_event(self) -> dict | None:
        """The event that ended the run (diverged / early_stop / finished), if it has ended."""
        ends = [e for e in self.events if e["event"] in ("diverged", "early_stop", "finished")]
        return ends[-1] if ends else None


def coalesce_events(events: list[dict]) -> list[dict]:
    """One knob event per burst of moves: the trainer re-sends a burst's event (same knob, same first
    step) with each further move, so the latest one stands for the burst; a burst that ended where it
    began changed nothing and is dropped."""
    kept: dict = {}
    for event in events:
        key = (event["knob"], event["step"]) if event["event"] == "knob" else id(event)
        kept[key] = event
    return [e for e in kept.values() if e["event"] != "knob" or e["old"] != e["new"]]


def snapshot_of(records: list[dict], name: str = "run") -> Snapshot:
    """A whole run's records (from the store or a metrics file) as one Snapshot, unthinned."""
    steps = [r for r in records if r["kind"] == "step"]
    return Snapshot(
        name,
        next((r for r in records if r["kind"] == "start"), None),
        steps,
        [r for r in steps if "grad_hist" in r],
        [r for r in records if r["kind"] == "eval"],
        coalesce_events([r for r in records if r["kind"] == "event"]),
    )


class History:
    MAX_EVENTS = 1000

    def __init__(self, name: str = "current"):
        self.name = name
        self._lock = threading.Lock()
        self._start: dict | None = None
        self._steps = ThinningSeries()
        self._details = ThinningSeries(recent=200, older=400)
        self._evals = ThinningSeries(recent=300, older=700)
        self._events: deque = deque(maxlen=self.MAX_EVENTS)

    def add(self, record: dict) -> None:
        with self._lock:
            kind = record["kind"]
            if kind == "step":
                self._steps.append(record)
                if "grad_hist" in record:
                    self._details.append(record)
            elif kind == "eval":
                self._evals.append(record)
            elif kind == "event":
                self._add_event(record)
            elif kind == "start":
                self._start = record

    def _add_event(self, event: dict) -> None:
        if event["event"] == "knob":  # a later move in the same burst replaces the burst's event, in place
            for i, old in enumerate(self._events):
                if old["event"] == "knob" and (old["knob"], old["step"]) == (event["knob"], event["step"]):
                    self._events[i] = event
                    return
        self._events.append(event)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                self.name,
                self._start,
                self._steps.items(),
                self._details.items(),
                self._evals.items(),
                [e for e in self._events if e["event"] != "knob" or e["old"] != e["new"]],
            )

    def __len__(self) -> int:
        with self._lock:
            return len(self._steps) + len(self._details) + len(self._evals) + len(self._events)
