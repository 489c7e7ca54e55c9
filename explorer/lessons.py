"""A lesson's experiment, headless: train a few named configurations to their end, one after another, in
the calling thread, each recorded in the run store like any other run. A notebook draws the progress
(explorer.widgets.experiment); a script or a test just calls `run_experiment`.

Every step goes through `Trainer.run`, the one loop driver, so a lesson's run is the same run the CLI
would train: same records, same schedule semantics, same end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import Config, plural
from .history import History, Snapshot
from .store import RunStore, recording
from .train import Trainer


@dataclass
class Result:
    """One finished run: its trainer (the model, to measure weights or evaluate again) and its history."""

    name: str
    config: Config
    trainer: Trainer
    snapshot: Snapshot
    seconds: float
    run_id: str | None = None  # its id in the run store (None when not stored)


@dataclass(frozen=True)
class Progress:
    """Where an experiment is: the finished runs' snapshots, then the one in progress (if any)."""

    snapshots: list[Snapshot]
    run: int  # the run in progress, counted from 1 (the last one once done)
    runs: int
    name: str  # its name
    step: int
    steps: int  # its budget (config.steps)
    seconds: float  # since the experiment began
    done: bool = False

    @property
    def text(self) -> str:
        if self.done:
            return f"{plural(self.runs, 'run')} done in {self.seconds:.0f} s."
        return f"Run {self.run}/{self.runs} {self.name}: step {self.step:,} of {self.steps:,}"


def run_experiment(
    runs: Mapping[str, Config],
    schedules: Mapping[str, dict] | None = None,
    progress: Callable[[Progress], None] | None = None,
    every_s: float = 1.0,
    threads: int | None = None,
    store: str | Path | bool = True,
    source: str = "notebook",
) -> dict[str, Result]:
    """Train each configuration to its end (its step budget, an early stop or a divergence), in order.

    schedules  {run name: {step: {knob: value}}}: knobs moved mid-run, as a slider would move them.
    progress   called at most every `every_s` seconds while a run trains, and once at the end, with a
               `Progress` (finished snapshots + the one in progress).
    threads    torch's CPU threads for this process (1 is fastest for tiny models).
    store      the run store's path, True for the default ($EXPLORER_HOME), False for none; each run is
               stored under its name with `source`; an interrupted run is marked stopped, a crash error.
    Returns {name: Result}, in the order given."""
    if threads:
        torch.set_num_threads(threads)
    db = None if store is False else RunStore(None if store is True else store)
    results: dict[str, Result] = {}
    began = time.monotonic()
    for index, (name, config) in enumerate(runs.items(), start=1):
        results[name] = _train_one(
            name,
            config,
            (schedules or {}).get(name),
            db,
            source,
            began,
            index,
            len(runs),
            [r.snapshot for r in results.values()],
            progress,
            every_s,
        )
    if progress is not None:
        last = list(results)[-1] if results else ""
        progress(
            Progress(
                [r.snapshot for r in results.values()],
                len(runs),
                len(runs),
                last,
                results[last].trainer.step_count if results else 0,
                results[last].config.steps if results else 0,
                time.monotonic() - began,
                done=True,
            )
        )
    return results


def _train_one(
    name: str,
    config: Config,
    schedule: dict | None,
    db: RunStore | None,
    source: str,
    began: float,
    index: int,
    total: int,
    finished: list[Snapshot],
    progress: Callable[[Progress], None] | None,
    every_s: float,
) -> Result:
    """One run through `Trainer.run`, written to the store as it goes (as `explorer train` does)."""
    start = last = time.monotonic()
    trainer, history = Trainer(config), History(name)
    with recording(db, config.to_dict(), source, name) as writer:
        for record in trainer.run(schedule):
            history.add(record)
            if writer is not None:
                writer.add(record)
            if progress is not None and time.monotonic() - last >= every_s:
                last = time.monotonic()
                progress(
                    Progress(
                        [*finished, history.snapshot()],
                        index,
                        total,
                        name,
                        trainer.step_count,
                        config.steps,
                        last - began,
                    )
                )
    return Result(
        name,
        config,
        trainer,
        history.snapshot(),
        time.monotonic() - start,
        writer.run_id if writer is not None else None,
    )
