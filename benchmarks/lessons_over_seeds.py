"""Do the lessons' claims hold across seeds? Every preset pair over paired seeds, through the sweep
machinery (local worker processes, one torch thread each; every trial a run in the store), then a table:
the claim, in how many seeds it held, the paired difference and its 95 % interval.

    python benchmarks/lessons_over_seeds.py [--seeds 0,1,2,3,4] [--store PATH] [--turn-seeds 3]

Re-running with the same --store resumes (finished trials are skipped). The presets were tuned on
seeds 10–12; the default check seeds 0–4 were not used for tuning. `--turn-seeds N` also times the
overfitting turn (validation 0.3 nats above its minimum) in N live runs trained exactly as the app trains
them: a worker process, one torch thread (what the app gives a run on a 2-core machine).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.config import plural
from explorer.live import LiveRun
from explorer.presets import PRESETS, preset_config
from explorer.stats import paired
from explorer.store import RunStore
from explorer.summary import summarize
from explorer.sweep import Arm, Plan, parse_seeds, run_sweep

Metric = Callable[[dict, list[dict]], float]  # (run summary, its records) -> a number


def column(name: str) -> Metric:
    return lambda run, records: math.nan if run[name] is None else run[name]


def step_max(key: str) -> Metric:
    return lambda run, records: max(r[key] for r in records if r["kind"] == "step")


@dataclass(frozen=True)
class Claim:
    """B's metric minus A's, seed by seed: the claim holds in a seed when the difference is below
    `below` (a claim of "lower by at least x" has below = −x)."""

    a: str
    b: str
    text: str
    metric_a: Metric
    metric_b: Metric
    below: float
    unit: str = "nats"


CLAIMS = [
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: best validation loss lower by ≥ 0.03 nats",
        column("best_val_loss"),
        column("best_val_loss"),
        -0.03,
    ),
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: final gap smaller by ≥ 1 nat",
        column("final_gap"),
        column("final_gap"),
        -1.0,
    ),
    Claim(
        "overfit",
        "l2",
        "L2: final validation loss lower by ≥ 0.1 nats (a slower climb)",
        column("last_val_loss"),
        column("last_val_loss"),
        -0.1,
    ),
    Claim(
        "overfit",
        "early-stop",
        "early stopping: the model it keeps scores ≥ 0.3 nats better than overfit's final one",
        column("last_val_loss"),
        column("best_val_loss"),
        -0.3,
    ),
    Claim(
        "exploding",
        "clip",
        "clipping at norm 1: the largest step loss lower by ≥ 1 nat",
        step_max("train_loss"),
        step_max("train_loss"),
        -1.0,
    ),
    Claim(
        "exploding",
        "clip",
        "clipping at norm 1: best validation loss lower by ≥ 0.1 nats",
        column("best_val_loss"),
        column("best_val_loss"),
        -0.1,
    ),
    Claim(
        "overfit",
        "batchnorm",
        "batch norm: best validation loss lower by ≥ 0.03 nats",
        column("best_val_loss"),
        column("best_val_loss"),
        -0.03,
    ),
]


def measure(store: RunStore, name: str) -> dict[str, dict[int, tuple[dict, list[dict]]]]:
    """{preset: {seed: (run summary, records)}} for the sweep's finished trials."""
    summary = summarize(store, name)
    return {
        arm.label: {seed: (run, list(store.records(run["id"]))) for seed, run in arm.runs.items()}
        for arm in summary.arms
    }


def turn_seconds(seed: int) -> tuple[float | None, int | None]:
    """Wall time and step of the overfitting turn in a live run, trained as the app trains it."""
    run = LiveRun(preset_config("overfit").replace(seed=seed), torch_threads=1, store=False)
    try:
        run.start()
        started, best = time.monotonic(), math.inf
        while time.monotonic() - started < 180:
            evals = run.snapshot().evals
            for e in evals:
                best = min(best, e["val_loss"])
                if e["val_loss"] >= best + 0.3:
                    return time.monotonic() - started, e["step"]
            time.sleep(0.1)
        return None, None
    finally:
        run.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--store", help="run store (default: a fresh temporary one)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--turn-seeds", type=int, default=0, help="also time the overfitting turn in N live runs")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    store = RunStore(args.store or Path(tempfile.mkdtemp()) / "runs.sqlite")
    presets = list(dict.fromkeys(name for claim in CLAIMS for name in (claim.a, claim.b)))
    arms = tuple(Arm(name, {"preset": name}, preset_config(name), index=i) for i, name in enumerate(presets))
    name = "lessons-over-seeds"
    started = time.monotonic()
    run_sweep(
        Plan(name, arms, seeds),
        store,
        args.workers,
        progress=lambda p: print(f"  {p.text}", file=sys.stderr, flush=True),
    )
    print(f"{plural(len(arms) * len(seeds), 'trial')} in {time.monotonic() - started:.0f} s (store: {store.path})\n")
    results = measure(store, name)

    print(f"| claim (B vs A, paired by seed; seeds {args.seeds}) | held in | B − A per seed | mean (95 % interval) |")
    print("|---|---|---|---|")
    for claim in CLAIMS:
        a = {s: claim.metric_a(*v) for s, v in results[claim.a].items()}
        b = {s: claim.metric_b(*v) for s, v in results[claim.b].items()}
        p = paired(a, b)
        held = sum(d < claim.below for d in p.differences)
        per_seed = ", ".join(f"{d:+.3f}" for d in p.differences)
        i = p.interval
        print(
            f"| `{claim.b}` vs `{claim.a}`: {claim.text} | **{held} of {len(p.seeds)}** | {per_seed} | "
            f"{i.mean:+.3f} ({i.lo:+.3f} to {i.hi:+.3f}) |"
        )
    print("\nPer preset, mean over seeds (best val / final val / final gap / steps):")
    for preset, runs in results.items():
        cols = {
            k: [r[k] for r, _ in runs.values() if r[k] is not None]
            for k in ("best_val_loss", "last_val_loss", "final_gap", "steps")
        }
        print(f"  {preset:<11} " + "  ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in cols.items() if v))
    if args.turn_seeds:
        print("\nOverfitting turn in a live run (the app's worker, 1 torch thread):")
        for seed in range(args.turn_seeds):
            seconds, step = turn_seconds(seed)
            print(f"  seed {seed}: " + (f"{seconds:.1f} s (step {step})" if seconds else "no turn within 180 s"))
    print(f"\nPresets: {', '.join(f'{n}' for n in PRESETS)}")


if __name__ == "__main__":
    main()
