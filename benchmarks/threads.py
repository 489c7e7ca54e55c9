"""Steps/s of the Trainer (every metric on) at 1, 2, … torch threads, and what sharing the cores live costs: the
figures behind explorer.runs.cpu's MAX_THREADS and RECHECK_S.

    python benchmarks/threads.py                  # the app's default model and a 10k-word model, 1 … cores threads
    python benchmarks/threads.py --max-threads 8  # beyond the cores too (oversubscribed: slower, by how much)

Models: the app's default (char LSTM 1×128, embed 64, batch 32×64, Tiny Shakespeare) and a 10k-word-vocabulary
model (word LSTM 2×200 on PTB, batch 20×35, the reference script's shape). Blocks of steps alternate between the
thread counts, and each count's figure is the median of its blocks, so a machine whose speed drifts (a shared
VM) slows every count alike. Then the live policy's own cost: `CoreShare.between_steps()` on most steps (nothing
due) and once a second (the registry listed, the share worked out, torch's threads set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from explorer.core.train import Trainer
from explorer.runs.cpu import CORES, CoreShare
from explorer.spec.knobs import Config

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"
MODELS = {
    "app default (char LSTM 1×128, batch 32×64)": Config(device="cpu", steps=10**7, eval_every=10**6),
    "10k words (word LSTM 2×200 on PTB, batch 20×35)": Config(
        corpus=str(PTB),
        level="word",
        layers=2,
        hidden=200,
        embed=200,
        batch_size=20,
        seq_len=35,
        device="cpu",
        steps=10**7,
        eval_every=10**6,
    ),
}


def rate(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return steps / (time.perf_counter() - start)


def thread_rates(config: Config, counts: list[int], blocks: int, block_steps: int) -> dict[int, float]:
    trainer = Trainer(config)
    rates: dict[int, list[float]] = {n: [] for n in counts}
    for n in counts:  # warm-up
        torch.set_num_threads(n)
        rate(trainer, 3)
    for _ in range(blocks):
        for n in counts:
            torch.set_num_threads(n)
            rates[n].append(rate(trainer, block_steps))
    return {n: statistics.median(r) for n, r in rates.items()}


def per_call_us(call, times: int) -> float:
    start = time.perf_counter()
    for _ in range(times):
        call()
    return (time.perf_counter() - start) / times * 1e6


def policy_cost(others: int) -> tuple[float, float]:
    """Microseconds per `between_steps()` call, with `others` live runs beside this one: (nothing due, due)."""
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) for _ in range(others)]
    try:
        with tempfile.TemporaryDirectory() as home:
            cores = CoreShare(home=Path(home))
            for p in sleepers:  # registered as live runs, as their own CoreShare would
                (cores.folder).mkdir(parents=True, exist_ok=True)
                (cores.folder / f"{p.pid}-0-solo").touch()
            with cores:
                quiet = per_call_us(cores.between_steps, 100_000)

                def due():
                    cores.due = 0.0
                    cores.between_steps()

                busy = per_call_us(due, 2000)
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
    return quiet, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-threads", type=int, default=CORES)
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--block-steps", type=int, default=20)
    args = parser.parse_args()
    counts = list(range(1, args.max_threads + 1))
    print(f"{CORES} cores (os.cpu_count), torch {torch.__version__}, load average {os.getloadavg()[0]:.2f} at start")
    for name, config in MODELS.items():
        rates = thread_rates(config, counts, args.blocks, args.block_steps)
        print(f"{name}: median of {args.blocks} blocks of {args.block_steps} steps, alternating")
        for n, r in rates.items():
            print(f"  {n} thread{'s' if n > 1 else ' '}: {r:7.1f} steps/s  ({r / rates[1]:.2f}× one thread)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end of the thread counts (other programs' threads count)")
    flips = iter(range(10**9))
    switch = per_call_us(lambda: torch.set_num_threads(1 + next(flips) % 2), 2000)
    print(f"torch.set_num_threads switching 1 ↔ 2: {switch:.1f} µs a switch")
    for others in (0, 3, 15):
        quiet, busy = policy_cost(others)
        print(
            f"live sharing beside {others:2d} other runs: {quiet:.2f} µs a step, {busy:.0f} µs once a second "
            f"(registry listed, share set): {busy / 1e4:.4f}% of a second"
        )


if __name__ == "__main__":
    main()
