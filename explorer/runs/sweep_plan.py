"""A sweep's plan: ARMS (a grid point, or a saved run to repeat: a config plus the knob moves of its schedule)
crossed with SEEDS, and how a stored run is found again as one of its trials. Plain data, no torch: the sweep
summary and the charts read plans and stored runs without loading the engine (explorer.runs.sweep).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from explorer.spec.errors import ExplorerError
from explorer.spec.knobs import KNOBS, Config, split_assignment
from explorer.spec.wording import format_value, plural

DONE = ("finished", "early_stop", "diverged")  # a trial with one of these outcomes is not run again
MAX_TRIALS = 200


class SweepError(ExplorerError):
    pass


def parse_grid(items: Sequence[str]) -> dict[str, tuple]:
    """['dropout=0,0.25', 'l2=0,1e-5'] -> {'dropout': (0.0, 0.25), 'l2': (0.0, 1e-05)}, every value checked."""
    grid: dict[str, tuple] = {}
    for item in items:
        name, values = split_assignment(item, "--grid KNOB=V1,V2,…")
        if name == "seed":
            raise SweepError("seeds are not a grid knob: use --seeds N (or --seeds 0,3,7)")
        if name in grid:
            raise SweepError(f"--grid names {name} twice; give all its values in one --grid")
        parts = [v.strip() for v in values.split(",") if v.strip()]
        if not parts:
            raise SweepError(f"--grid {name} has no values")
        parsed = tuple(dict.fromkeys(KNOBS[name].parse(v) for v in parts))  # checked, duplicates dropped
        grid[name] = parsed
    return grid


def parse_seeds(text: str | int, first: int = 0) -> tuple[int, ...]:
    """'5' -> five seeds from `first`; '0,3,7' -> those seeds."""
    text = str(text).strip()
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise SweepError(f"--seeds must be ≥ 1, got {count}")
            return tuple(range(first, first + count))
        seeds = tuple(dict.fromkeys(int(s) for s in text.split(",") if s.strip()))
    except ValueError:
        raise SweepError(f"--seeds takes a count (5) or a list (0,3,7), got {text!r}") from None
    for seed in seeds:
        KNOBS["seed"].check(seed)
    return seeds


@dataclass(frozen=True)
class Arm:
    """One setting compared: a grid point, or a saved run repeated (its config and its knob moves)."""

    label: str  # "dropout=0.5, l2=1e-05", or a saved run's name
    knobs: dict[str, Any]  # what sets it apart, for tables and the landscape's axes
    config: Config  # the seed is replaced per trial
    schedule: dict[int, dict] = field(default_factory=dict)  # {step: {knob: value}}
    index: int = 0  # its place in the plan: tables and charts keep the plan's order

    @property
    def stored_schedule(self) -> dict[str, dict]:
        """The schedule as JSON keeps it (step numbers as strings): what the store holds and trials get."""
        return {str(k): v for k, v in self.schedule.items()}

    def to_dict(self) -> dict:
        return {"label": self.label, "knobs": self.knobs, "schedule": self.stored_schedule, "index": self.index}


@dataclass(frozen=True)
class Trial:
    arm: Arm
    seed: int

    @property
    def config(self) -> Config:
        return self.arm.config.replace(seed=self.seed)

    @property
    def key(self) -> str:
        """What makes two trials the same: their arm, config and schedule (two saved runs with the same
        settings are still two arms)."""
        return trial_key(self.arm.label, self.config.to_dict(), self.arm.stored_schedule)

    def name(self, sweep: str) -> str:
        return f"{sweep}: {self.arm.label} seed {self.seed}"


def trial_key(label: str, config: dict, schedule: dict) -> str:
    return json.dumps([label, config, schedule], sort_keys=True)


def stored_arm(run: dict) -> dict:
    """A stored run's arm (label, knobs, schedule, index); a run stored without one is the "base" arm."""
    return {"label": "base", "knobs": {}, "schedule": {}, "index": 0, **(run["arm"] or {})}


def stored_trial_key(run: dict) -> str:
    """Its trial's key, read through today's knobs: a run stored before a knob was added or a value renamed
    is the same trial as one planned now (a sweep resumes instead of refusing its own name)."""
    arm = stored_arm(run)
    config = Config.from_dict(run["config"]).to_dict()
    schedule = {step: {k: KNOBS[k].parse(v) for k, v in knobs.items()} for step, knobs in arm["schedule"].items()}
    return trial_key(arm["label"], config, schedule)


@dataclass(frozen=True)
class Plan:
    name: str
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]

    @property
    def trials(self) -> list[Trial]:
        return [Trial(arm, seed) for arm in self.arms for seed in self.seeds]

    def check(self, max_trials: int = MAX_TRIALS) -> Plan:
        if not self.name.strip():
            raise SweepError("a sweep needs a name (--name)")
        if not self.arms or not self.seeds:
            raise SweepError("the sweep is empty: give at least one --grid value and one seed")
        count = len(self.arms) * len(self.seeds)
        if count > max_trials:
            raise SweepError(
                f"{plural(count, 'trial')} ({plural(len(self.arms), 'arm')} × {plural(len(self.seeds), 'seed')}) "
                f"is more than the limit of {max_trials}: use fewer values or seeds, or raise --max-trials"
            )
        return self


def arm_label(knobs: dict) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in knobs.items()) or "base"


def grid_plan(
    name: str, base: Config, grid: dict[str, tuple], seeds: Sequence[int], schedule: dict[int, dict] | None = None
) -> Plan:
    """Every combination of the grid's values on top of `base` (and its `schedule` of knob moves, the
    same for every arm), crossed with `seeds`."""
    arms = []
    for index, values in enumerate(itertools.product(*grid.values())):
        knobs = dict(zip(grid, values))
        arms.append(Arm(arm_label(knobs), knobs, base.replace(**knobs), dict(schedule or {}), index))
    return Plan(name, tuple(arms), tuple(seeds))


def repeat_plan(name: str, runs: Sequence[tuple[str, dict, int, dict[int, dict]]], seeds: Sequence[int]) -> Plan:
    """Runs on screen repeated over `seeds`: each (label, config, steps trained, knob moves) becomes an
    arm that trains as long as that run did and moves its knobs at the same steps."""
    arms = []
    for index, (label, config, steps, schedule) in enumerate(runs):
        if steps < 1:
            raise SweepError(f"{label} has not trained a step yet: nothing to repeat")
        arms.append(Arm(label, {}, Config.from_dict({**config, "steps": steps}), dict(schedule), index))
    return Plan(name, tuple(arms), tuple(seeds))
