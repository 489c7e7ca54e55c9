"""A lesson's experiment, headless: train a few named configurations to their end, one after another, in
the calling thread, each recorded in the run store like any other run. A notebook draws the progress
(explorer.faces.notebook.experiment); a script or a test just calls `run_experiment`, or `run_over_seeds` when a
claim must hold over seeds (each configuration becomes an `Arm`: one run per seed, and its spread).

Every step goes through `Trainer.run`, the one loop driver, so a lesson's run is the same run the CLI
would train: same records, same schedule semantics, same end.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from explorer.core.train import Trainer
from explorer.runs.history import History, Snapshot
from explorer.runs.recording import recording
from explorer.runs.store import RunStore
from explorer.runs.sweep_plan import parse_seeds
from explorer.runs.sweep_summary import ArmSummary, SweepSummary
from explorer.spec.knobs import Config
from explorer.spec.wording import plural


def lesson_seeds() -> tuple[int, ...]:
    """The seeds every lesson trains and shows its claims over: 0, 1, 2 (the presets were tuned on 10 and up), or
    EXPLORER_SEEDS ("3" or "3,4,20"), which benchmarks/lesson_claims.py sets to check a lesson on seeds it was
    never shown on."""
    text = os.environ.get("EXPLORER_SEEDS", "").strip()
    return parse_seeds(text if "," in text else f"{text},") if text else (0, 1, 2)


SEEDS = lesson_seeds()


@dataclass
class Result:
    """One finished run: its trainer (the model, to measure weights or evaluate again) and its history."""

    name: str
    config: Config
    trainer: Trainer
    snapshot: Snapshot
    seconds: float
    run_id: str | None = None  # its id in the run store (None when not stored)

    @cached_property
    def test(self) -> dict:
        """The model you would keep, scored once on the TEST split, which no choice in the lesson looked at:
        the fair final score (validation chose the stopping step). With early stopping on, that model is the
        best one seen, also when the step budget ran out before the patience did (the Trainer then keeps
        its last weights, so that a live run can go on); without it, the model as it ended."""
        if self.trainer.knobs["early_stop"]:
            self.trainer.restore_best()
        return self.trainer.test_score()

    @cached_property
    def best_test(self) -> dict:
        """The model at its lowest validation loss, early stopping on or off, scored once on the TEST split: how
        recipes that overfit at different speeds compare at their best (validation picked the step, the test split
        judges it). Its trainer keeps those weights: where `test` is wanted too, read it first."""
        self.trainer.restore_best()
        return self.trainer.test_score()

    def final(self, key: str = "val_loss") -> float:
        """`key` at the last evaluation (NaN before any, or after a divergence)."""
        evals = self.snapshot.evals
        if not evals or self.trainer.stopped_reason == "diverged":
            return math.nan
        return evals[-1][key]

    def best(self, key: str = "val_loss") -> float:
        best = self.snapshot.best_eval()
        return math.nan if best is None else best[key]


@dataclass
class Arm:
    """One configuration trained once per seed: what a lesson's claim is about, never a single run."""

    name: str
    results: list[Result]

    @property
    def seeds(self) -> list[int]:
        return [r.config.seed for r in self.results]

    def values(self, measure: Callable[[Result], float]) -> list[float]:
        return [measure(r) for r in self.results]

    def by_seed(self, measure: Callable[[Result], float]) -> dict[int, float]:
        """{seed: measure}: what `explorer.runs.stats.paired` pairs two arms by."""
        return dict(zip(self.seeds, self.values(measure)))

    def spread(self, measure: Callable[[Result], float], digits: int = 3) -> str:
        """'2.104 (2.071 to 2.139 over 3 seeds)': the mean and the range of the seeds, which with three seeds
        says more honestly than an interval how far one run can land from another."""
        values = [v for v in self.values(measure) if math.isfinite(v)]
        if not values:
            return "no finite value"
        lost = len(self.results) - len(values)
        note = f", {lost} diverged" if lost else ""
        if len(values) == 1:
            return f"{values[0]:.{digits}f} (1 seed{note})"
        mean, lo, hi = sum(values) / len(values), min(values), max(values)
        return f"{mean:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f} over {len(values)} seeds{note})"

    def summary(self, index: int = 0) -> ArmSummary:
        """As a sweep's arm, for the over-seeds charts (charts.variance_band_chart)."""
        return arm_summary(self.name, index, [r.snapshot for r in self.results], self.seeds)


def arm_summary(name: str, index: int, snapshots: Sequence[Snapshot], seeds: Sequence[int]) -> ArmSummary:
    """Runs of one configuration (finished or in progress) as a sweep's arm: its curves by seed."""
    arm = ArmSummary(name, {}, index)
    for seed, snap in zip(seeds, snapshots):
        if snap.evals:
            last, best = snap.evals[-1], snap.best_eval()
            ended = snap.final_event()
            status = ended["event"] if ended else "running"
            arm.runs[seed] = {
                "status": status,
                "best_val_loss": best["val_loss"],
                "final_gap": last["gap"],
                "last_val_loss": last["val_loss"],
            }
            arm.curves[seed] = snap.evals
    return arm


def seeds_summary(name: str, arms: Mapping[str, Arm]) -> SweepSummary:
    return SweepSummary(name, [arm.summary(i) for i, arm in enumerate(arms.values())], [])


def setup(config: Config) -> dict:
    """Every knob of a run but its seed: what two runs of a comparison must share, but for the knobs it credits."""
    return {knob: value for knob, value in config.to_dict().items() if knob != "seed"}


def setups(*experiments: Mapping[str, Arm], **groups: Mapping[str, Arm]) -> dict[str, dict]:
    """{run name: every knob but the seed}: what a lesson prints so that a claim comparing its runs can be refused
    when they differ in more than the knobs it credits (explorer.runs.claims). Runs of an experiment named in
    `groups` are listed as "GROUP: name" (two experiments of a lesson may reuse a name for different setups)."""
    named = [arms.items() for arms in experiments] + [
        ((f"{group}: {name}", arm) for name, arm in arms.items()) for group, arms in groups.items()
    ]
    listed: dict[str, dict] = {}
    for name, arm in (pair for pairs in named for pair in pairs):
        if name in listed:
            raise ValueError(f"two experiments both have a run named {name!r}: pass one of them by a group name")
        listed[name] = setup(arm.results[0].config)
    return listed


def seed_run_name(arm: str, seed: int) -> str:
    return f"{arm} · seed {seed}"


def holds(flags: Sequence[bool]) -> str:
    """'in 3 of 3 seeds': how often a per-seed claim held, the way every lesson states it."""
    flags = list(flags)
    return f"in {sum(flags)} of {plural(len(flags), 'seed')}"


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


def run_over_seeds(
    runs: Mapping[str, Config],
    seeds: Sequence[int] = SEEDS,
    schedules: Mapping[str, dict] | None = None,
    progress: Callable[[Progress], None] | None = None,
    **options,
) -> dict[str, Arm]:
    """`run_experiment` for every configuration on every seed (seed by seed, so the first complete picture
    comes early); the runs are stored as "NAME · seed S". Returns {name: Arm}, in the order given."""
    expanded = {seed_run_name(name, seed): config.replace(seed=seed) for seed in seeds for name, config in runs.items()}
    per_run = {seed_run_name(name, seed): (schedules or {}).get(name) for seed in seeds for name in runs}
    results = run_experiment(expanded, schedules={k: v for k, v in per_run.items() if v}, progress=progress, **options)
    return {name: Arm(name, [results[seed_run_name(name, seed)] for seed in seeds]) for name in runs}


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
