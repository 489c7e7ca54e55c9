"""A sweep's parallel speed-up, measured: the same 8 tiny trials one after another in this process, on
2 local worker processes, and on a local Ray instance with 2 CPUs (after it has started: a class's
cluster is up before the lesson; likewise the local workers' forkserver, started once per process).

    python benchmarks/sweep_speed.py [--trials 8] [--steps 400]

Targets: local pool ≤ 0.6× the serial time; Ray ≤ 1.2× the local pool.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from explorer.runs.store import RunStore
from explorer.runs.sweep import run_sweep, run_trial
from explorer.runs.sweep_plan import grid_plan, parse_grid
from explorer.spec.knobs import Config

TINY = dict(
    hidden=32,
    embed=16,
    seq_len=32,
    batch_size=8,
    train_fraction=0.02,
    eval_every=50,
    eval_batches=4,
    detail_every=10,
    device="cpu",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = Config(**TINY, steps=args.steps)
    seeds = tuple(range(args.trials // 2))
    plan = lambda name: grid_plan(name, base, parse_grid(["dropout=0,0.5"]), seeds)  # noqa: E731
    store = RunStore(Path(tempfile.mkdtemp()) / "runs.sqlite")

    started = time.perf_counter()
    for trial in plan("serial").trials:
        run_trial(trial.config.to_dict())
    serial = time.perf_counter() - started

    run_sweep(grid_plan("local-warm-up", base, {}, (99,)), store, workers=1)  # starts the workers' forkserver
    started = time.perf_counter()
    run_sweep(plan("local"), store, workers=2)
    local = time.perf_counter() - started

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    run_sweep(plan("ray-warm-up"), store, ray="auto")  # Ray starts its worker processes on first use
    started = time.perf_counter()
    run_sweep(plan("ray"), store, ray="auto")
    on_ray = time.perf_counter() - started
    ray.shutdown()

    print(f"{args.trials} trials of {args.steps} steps (hidden {base.hidden}), 1 torch thread each")
    print(f"  one after another   {serial:6.1f} s")
    print(f"  2 local workers     {local:6.1f} s   {local / serial:.2f}× serial   (target ≤ 0.60×)")
    print(f"  Ray, 2 CPUs         {on_ray:6.1f} s   {on_ray / local:.2f}× local    (target ≤ 1.20×)")


if __name__ == "__main__":
    main()
