"""Steps/s of the Trainer (every metric on) at 1, 2, … torch threads, and what sharing the cores live costs: the
figures behind explorer.runs.cpu's MAX_THREADS and RECHECK_S.

    python benchmarks/threads.py                  # the app's default model and a 10k-word model, 1 … cores threads
    python benchmarks/threads.py --max-threads 8  # beyond the cores too (oversubscribed: slower, by how much)

Models: the app's default (char LSTM 1×128, embed 64, batch 32×64, Tiny Shakespeare) and a 10k-word-vocabulary
model (word LSTM 2×200 on PTB, batch 20×35, the reference script's shape). Blocks of steps alternate between the
thread counts, and each count's figure is the median of its blocks in which other programs kept the cores
nearly idle (/proc/stat less this process's own CPU time): threads contended by another program collapse
(OpenMP threads wait on each other), which says nothing about the cap. Then the live policy's own cost:
`CoreShare.between_steps()` on most steps (nothing due) and once a second (the registry listed, the share
worked out, torch's threads set).
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

QUIET = 0.1  # a block counts when other programs kept less than this share of the cores busy
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


def busy_s() -> float:
    """CPU seconds the whole machine has been busy (Linux /proc/stat: all but idle and iowait)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def rate(trainer: Trainer, steps: int) -> tuple[float, float]:
    """Steps/s, and the share of the machine's cores other programs kept busy meanwhile."""
    start, busy, own = time.perf_counter(), busy_s(), sum(os.times()[:2])
    for _ in range(steps):
        trainer.step()
    elapsed = time.perf_counter() - start
    others = (busy_s() - busy) - (sum(os.times()[:2]) - own)
    return steps / elapsed, max(0.0, others / (elapsed * CORES))


def thread_rates(config: Config, counts: list[int], blocks: int, block_steps: int) -> dict[int, tuple]:
    """Per thread count: the median steps/s over the blocks in which other programs kept under QUIET of the
    cores busy (all blocks when none was), how many blocks were quiet, and the kept blocks' load from others."""
    trainer = Trainer(config)
    rates: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
    for n in counts:  # warm-up
        torch.set_num_threads(n)
        rate(trainer, 3)
    for _ in range(blocks):
        for n in counts:
            torch.set_num_threads(n)
            rates[n].append(rate(trainer, block_steps))
    figures = {}
    for n, measured in rates.items():
        quiet = [m for m in measured if m[1] < QUIET]
        kept = quiet or measured
        figures[n] = (statistics.median(r for r, _ in kept), len(quiet), statistics.mean(o for _, o in kept))
    return figures


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
    print(f"{CORES} cores (os.cpu_count), torch {torch.__version__}")
    for name, config in MODELS.items():
        rates = thread_rates(config, counts, args.blocks, args.block_steps)
        print(f"{name}: median of {args.blocks} blocks of {args.block_steps} steps, alternating")
        for n, (r, kept, others) in rates.items():
            print(
                f"  {n} thread{'s' if n > 1 else ' '}: {r:7.1f} steps/s  ({r / rates[1][0]:.2f}× one thread)  "
                f"{kept} of {args.blocks} blocks quiet (none: all blocks), other programs busy {others:.0%} of the "
                "cores in those"
            )
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
