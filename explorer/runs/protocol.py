"""What a page and its run's worker process (explorer.runs.worker) say to each other, typed: each message is a
small frozen dataclass sent over a multiprocessing pipe, matched by its class on the other side, so a field is
named where it is read instead of being `message[2]` in a tuple.

page -> worker: Start, Knobs, Pause, Resume, StepOnce, Continue, Ask (a sample or a checkpoint), Stop
worker -> page: Ready, Started, Failed, Records, Status, Answer, Crashed (and Closed from a hosted run)
A sweep's trial process answers its sweep with Records or Failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RAY_ENV = "EXPLORER_RAY"  # a server's environment, set by `explorer app/class --ray ADDRESS`: its live runs train there


# ------------------------------------------------------------------------------------ page -> worker
@dataclass(frozen=True)
class Start:
    """Build this run's model and train it. `meta`: source, name, owner, threads, paused, open_ended, uploads,
    max_params; `resume` (a `Trainer.checkpoint()`), `parent_id` and `branch_step` for a branch."""

    config: dict
    meta: dict


@dataclass(frozen=True)
class Knobs:
    """Live knob values for the trainer's next step; `cause` names who moved them (a preset, a lesson)."""

    values: dict
    cause: str | None = None


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class StepOnce:
    """While paused: exactly one more step."""


@dataclass(frozen=True)
class Continue:
    """Train on past a finished budget or an early stop, the same model."""


@dataclass(frozen=True)
class Ask:
    """A question answered between two steps: "sample" (with generate's kwargs) or "checkpoint"."""

    request: int
    question: str
    kwargs: dict


@dataclass(frozen=True)
class Stop:
    pass


# ------------------------------------------------------------------------------------ worker -> page
@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class Started:
    run_id: str | None
    start_record: dict
    status: str


@dataclass(frozen=True)
class Failed:
    """The run could not start (or a sweep's trial ended with an error): one line for the user."""

    message: str


@dataclass(frozen=True)
class Records:
    records: list


@dataclass(frozen=True)
class Status:
    status: str


@dataclass(frozen=True)
class Answer:
    request: int
    answer: Any
    error: str | None


@dataclass(frozen=True)
class Crashed:
    message: str


@dataclass(frozen=True)
class Closed:
    """A hosted run's loop has ended (explorer.runs.hosts: its process goes on for the others): how, as the
    store has it (`ending`: stopped, interrupted, error), and the one line why."""

    ending: str
    message: str | None
