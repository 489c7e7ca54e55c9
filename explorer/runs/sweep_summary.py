"""A sweep read back from the store: per arm, the mean and 95 % interval over seeds of the best
validation loss, the final gap and the validation curve; between arms, the paired per-seed comparison.

Everything here is computed from the store alone, so `explorer sweep show`, the app's Sweep tab and a
notebook all say the same thing about the same sweep, while it runs and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from explorer.runs.stats import Band, Interval, Paired, band, paired, t_interval
from explorer.runs.store import RunStore
from explorer.runs.sweep_plan import DONE, stored_arm, stored_trial_key
from explorer.spec.wording import format_value, plural

METRICS = {  # run-summary column -> how a sentence names it
    "best_val_loss": "best validation loss",
    "final_gap": "final gap",
    "last_val_loss": "final validation loss",
    "test_loss": "test loss of the kept model",
}


@dataclass
class ArmSummary:
    label: str
    knobs: dict
    index: int  # its place in the plan (grid order)
    runs: dict[int, dict] = field(default_factory=dict)  # seed -> its finished run's summary
    curves: dict[int, list[dict]] = field(default_factory=dict)  # seed -> its eval records

    def values(self, metric: str) -> dict[int, float]:
        """{seed: value}; a diverged seed's is NaN (its last finite numbers are not an outcome), so the
        statistics leave it out and the tables count it apart."""
        return {
            seed: math.nan if run["status"] == "diverged" else _number(run[metric]) for seed, run in self.runs.items()
        }

    @property
    def diverged(self) -> int:
        return sum(run["status"] == "diverged" for run in self.runs.values())

    def interval(self, metric: str) -> Interval:
        return t_interval(list(self.values(metric).values()))

    def band(self, key: str = "val_loss") -> Band:
        """The curve of `key` (val_loss or train_eval_loss) over this arm's seeds."""
        return band([([e["step"] for e in c], [_number(e[key]) for e in c]) for c in self.curves.values()])

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "knobs": self.knobs,
            "seeds": self.seeds,
            "n": len(self.runs),
            "diverged": self.diverged,
            **{metric: self.interval(metric).to_dict() for metric in METRICS},
        }


@dataclass
class SweepSummary:
    name: str
    arms: list[ArmSummary]
    trials: list[dict]  # every trial's latest run: run_id, arm, knobs, seed, status, best_val_loss, final_gap

    @property
    def knobs(self) -> list[str]:
        """The knobs the arms differ by, in grid order."""
        names: dict[str, None] = {}
        for arm in self.arms:
            names.update(dict.fromkeys(arm.knobs))
        return [n for n in names if len({format_value(a.knobs.get(n)) for a in self.arms}) > 1] or list(names)

    def arm(self, label: str) -> ArmSummary:
        for arm in self.arms:
            if arm.label == label:
                return arm
        raise KeyError(label)

    def compare(self, a: ArmSummary, b: ArmSummary, metric: str = "best_val_loss") -> Paired:
        """B against A on the seeds both finished."""
        return paired(a.values(metric), b.values(metric))

    def comparisons(self, metric: str = "best_val_loss") -> list[tuple[ArmSummary, ArmSummary, Paired]]:
        """Every arm against the first (the baseline: the grid's first values, or the first saved run)."""
        if not self.arms:
            return []
        base = self.arms[0]
        return [(base, arm, self.compare(base, arm, metric)) for arm in self.arms[1:]]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "trials": self.trials,
            "arms": [arm.to_dict() for arm in self.arms],
            "comparisons": [
                {
                    "baseline": a.label,
                    "arm": b.label,
                    "metric": metric,
                    **p.to_dict(),
                    "sentence": p.sentence(METRICS[metric]),
                }
                for metric in ("best_val_loss", "final_gap")
                for a, b, p in self.comparisons(metric)
            ],
        }

    def table(self) -> str:
        """Per arm: seeds, best validation loss and final gap as mean [95 % interval]; then the paired
        comparisons against the baseline, in words."""
        if not self.trials:
            return f"sweep {self.name!r}: no trials in the store yet"
        width = max(len("arm"), *(len(a.label) for a in self.arms)) if self.arms else 3
        lines = [
            f"sweep {self.name!r}: {plural(len(self.trials), 'trial')}, "
            f"{sum(t['status'] in DONE for t in self.trials)} finished",
            "",
            f"{'arm':<{width}}  seeds  {'best val loss (95 % interval)':<30}  final gap (95 % interval)",
        ]
        for arm in self.arms:
            best, gap = arm.interval("best_val_loss"), arm.interval("final_gap")
            diverged = f" ({arm.diverged} diverged)" if arm.diverged else ""
            lines.append(f"{arm.label:<{width}}  {best.n:>5}  {_cell(best):<30}  {_cell(gap)}{diverged}")
        for metric in ("best_val_loss", "final_gap"):
            comparisons = self.comparisons(metric)
            if comparisons:
                lines += ["", f"paired against {self.arms[0].label} ({METRICS[metric]}):"]
                lines += [f"  {b.label}: {p.sentence(METRICS[metric])}" for _, b, p in comparisons]
        return "\n".join(lines)


def summarize(store: RunStore, name: str) -> SweepSummary:
    """The sweep `name` as it is in the store now (finished trials count; the latest run per trial)."""
    latest: dict[str, dict] = {}
    for run in reversed(store.runs(sweep=name)):  # oldest first, so a later run of a trial wins
        key = stored_trial_key(run)
        if key not in latest or run["status"] in DONE or latest[key]["status"] not in DONE:
            latest[key] = run
    runs = list(latest.values())
    arms: dict[str, ArmSummary] = {}
    for run in runs:
        arm = stored_arm(run)
        summary = arms.setdefault(arm["label"], ArmSummary(arm["label"], arm["knobs"], arm["index"]))
        if run["status"] in DONE:
            summary.runs[run["config"]["seed"]] = run
    finished = [run["id"] for run in runs if run["status"] in DONE]
    curves = store.records_of(finished)
    for arm in arms.values():
        arm.curves = {seed: curves[run["id"]] for seed, run in arm.runs.items()}
    trials = [
        {
            "run_id": run["id"],
            "arm": stored_arm(run)["label"],
            "knobs": stored_arm(run)["knobs"],
            "seed": run["config"]["seed"],
            "status": run["status"],
            "steps": run["steps"],
            "best_val_loss": run["best_val_loss"],
            "final_gap": run["final_gap"],
            "message": run["message"],
        }
        for run in sorted(runs, key=lambda r: (stored_arm(r)["index"], r["config"]["seed"]))
    ]
    return SweepSummary(name, sorted(arms.values(), key=lambda a: a.index), trials)


def sweeps(store: RunStore) -> list[dict]:
    """Every sweep in the store: name, trials, finished, newest first."""
    out: dict[str, dict] = {}
    for run in store.runs():
        if run["sweep"]:
            entry = out.setdefault(run["sweep"], {"name": run["sweep"], "trials": 0, "finished": 0})
            entry["trials"] += 1
            entry["finished"] += run["status"] in DONE
    return list(out.values())


def _cell(i: Interval) -> str:
    if i.n == 0:
        return "–"
    if i.n == 1 or not math.isfinite(i.lo):
        return f"{i.mean:.3f}"
    return f"{i.mean:.3f} [{i.lo:.3f}, {i.hi:.3f}]"


def _number(value) -> float:
    return math.nan if value is None else float(value)
