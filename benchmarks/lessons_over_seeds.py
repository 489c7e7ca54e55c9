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

from explorer.runs.live import LiveRun
from explorer.runs.stats import paired
from explorer.runs.store import RunStore
from explorer.runs.sweep import run_sweep
from explorer.runs.sweep_plan import Arm, Plan, parse_seeds
from explorer.runs.sweep_summary import summarize
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import plural

Metric = Callable[[dict, list[dict]], float]  # (run summary, its records) -> a number


def column(name: str) -> Metric:
    return lambda run, records: math.nan if run[name] is None else run[name]


def at_step(step: int, key: str) -> Metric:
    return lambda run, records: next(r[key] for r in records if r["kind"] == "eval" and r["step"] == step)


def max_step_loss_over_uniform(run: dict, records: list[dict]) -> float:
    """The largest training-step loss as a multiple of a uniform guess's (ln of the vocabulary size)."""
    start = next(r for r in records if r["kind"] == "start")
    return max(r["train_loss"] for r in records if r["kind"] == "step") / math.log(start["vocab_size"])


def last_copied_share(run: dict, records: list[dict]) -> float:
    """The memorisation meter's last reading: the share of the sample's n-grams copied from the training text."""
    shares = [r["copied_share"] for r in records if r["kind"] == "eval" and "copied_share" in r]
    return shares[-1] if shares else math.nan


@dataclass(frozen=True)
class Claim:
    """A statement about preset B against preset A, checked seed by seed on (A's value, B's value)."""

    a: str
    b: str
    text: str
    metric_a: Metric
    metric_b: Metric
    holds: Callable[[float, float], bool]
    unit: str = "nats"


def lower_by(nats: float) -> Callable[[float, float], bool]:
    return lambda a, b: b <= a - nats


def under(share: float) -> Callable[[float, float], bool]:
    return lambda a, b: b < share * a


CLAIMS = [
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: best validation loss lower by ≥ 0.03 nats",
        column("best_val_loss"),
        column("best_val_loss"),
        lower_by(0.03),
    ),
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: on the test split, its final model scores ≥ 0.5 nats better than overfit's",
        column("test_loss"),
        column("test_loss"),
        lower_by(0.5),
    ),
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: final gap under half of overfit's",
        column("final_gap"),
        column("final_gap"),
        under(0.5),
    ),
    Claim(
        "overfit",
        "dropout",
        "dropout 0.5: the last sample copies under half the training-text n-grams overfit's does (and overfit's ≥ 5 %)",
        last_copied_share,
        last_copied_share,
        lambda a, b: a >= 0.05 and b <= a / 2,
        "share of n-grams",
    ),
    Claim(
        "overfit",
        "noising",
        "data noising (unigram, γ = 0.2): final gap under half of overfit's",
        column("final_gap"),
        column("final_gap"),
        under(0.5),
    ),
    Claim(
        "overfit",
        "noising",
        "data noising: the last sample copies a share of the training-text n-grams at least 0.05 below overfit's",
        last_copied_share,
        last_copied_share,
        lower_by(0.05),
        "share of n-grams",
    ),
    Claim(
        "overfit",
        "l2",
        "L2 (λ = 0.001): final validation loss lower by ≥ 0.5 nats",
        column("last_val_loss"),
        column("last_val_loss"),
        lower_by(0.5),
    ),
    Claim(
        "overfit",
        "l2",
        "L2 (λ = 0.001): final gap under half of overfit's",
        column("final_gap"),
        column("final_gap"),
        under(0.5),
    ),
    Claim(
        "overfit",
        "early-stop",
        "early stopping (patience 4): on the test split, the model it keeps (its best weights, restored) scores ≥ 0.3 "
        "nats better than overfit's final one",
        column("test_loss"),
        column("test_loss"),
        lower_by(0.3),
    ),
    Claim(
        "overfit",
        "early-stop",
        "early stopping: it trains fewer steps",
        column("steps"),
        column("steps"),
        lower_by(1),
        "steps",
    ),
    Claim(
        "overfit",
        "batchnorm",
        "batch norm: training loss (eval mode) at step 40 lower by ≥ 0.5 nats",
        at_step(40, "train_eval_loss"),
        at_step(40, "train_eval_loss"),
        lower_by(0.5),
    ),
    Claim(
        "overfit",
        "batchnorm",
        "batch norm: a final gap over 0.3 nats larger at the same step (it fits faster; regularising at equal fit is "
        "not measured)",
        column("final_gap"),
        column("final_gap"),
        lambda a, b: b > a + 0.3,
    ),
    Claim(
        "exploding",
        "clip",
        "clipping at norm 1: no step loss beyond twice a uniform guess's; without clipping, one is",
        max_step_loss_over_uniform,
        max_step_loss_over_uniform,
        lambda a, b: a > 2 and b < 2,
        "× a uniform guess",
    ),
    Claim(
        "exploding",
        "clip",
        "clipping at norm 1: final validation loss lower by ≥ 2 nats",
        column("last_val_loss"),
        column("last_val_loss"),
        lower_by(2.0),
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
        started = time.monotonic()
        while time.monotonic() - started < 180:
            best = math.inf
            for e in run.snapshot().evals:
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
        held = sum(claim.holds(a[s], b[s]) for s in p.seeds)
        per_seed = ", ".join(f"{d:+.3g}" for d in p.differences)
        i = p.interval
        print(
            f"| `{claim.b}` vs `{claim.a}`: {claim.text} | **{held} of {len(p.seeds)}** | {per_seed} | "
            f"{i.mean:+.3g} ({i.lo:+.3g} to {i.hi:+.3g}) {claim.unit} |"
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
