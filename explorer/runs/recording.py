"""Writing a run as it trains: its records into the store (batched) and, when due, its checkpoints, the steps it
can be branched from. One writer for the worker process, `explorer train` and the lessons' runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from explorer.core.checkpoint import RunCheckpoints
from explorer.core.train import Trainer
from explorer.runs.store import RunStore, RunWriter


class RunRecorder:
    """A run's records and checkpoints. `trainer`: the model to checkpoint when one is due (None: records only,
    as a lesson's many short runs over seeds need no branch points)."""

    def __init__(self, store: RunStore, run_id: str, trainer: Trainer | None = None):
        self.store, self.run_id, self.trainer = store, run_id, trainer
        self.writer = RunWriter(store, run_id)
        self.checkpoints = RunCheckpoints(store.path, run_id) if trainer is not None else None

    def add(self, record: dict) -> None:
        self.writer.add(record)
        if self.checkpoints is not None and record["kind"] == "step" and self.checkpoints.due(record["step"]):
            self.checkpoints.save(self.trainer.checkpoint(copy_tensors=False))

    def flush(self) -> None:
        self.writer.flush()


@contextmanager
def recording(
    store: RunStore | None,
    config: dict,
    source: str,
    name: str | None = None,
    trainer: Trainer | None = None,
    **tags: Any,
) -> Iterator[RunRecorder | None]:
    """A headless run's recorder (None without a store): flushed at the end, the run marked `stopped` on
    Ctrl-C and `error` on a crash; finished, early-stopped and diverged runs say so in their records.
    `trainer`: checkpoint it as it goes (branch points). `tags`: more of `create_run`'s columns (parent_id and
    branch_step for a branch)."""
    if store is None:
        yield None
        return
    writer = RunRecorder(store, store.create_run(config, source, name=name, **tags), trainer)
    ending: tuple[str, str] | None = ("stopped", "interrupted by the user")
    try:
        yield writer
        ending = None
    except Exception as err:
        ending = ("error", f"{type(err).__name__}: {err}")
        raise
    finally:
        writer.flush()
        if ending:
            store.set_status(writer.run_id, *ending)
