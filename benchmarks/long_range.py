"""Which setups learn to hold a key across look-alike filler, by distance: the long-range preset trained as a
vanilla RNN, a GRU, an LSTM, and an RNN and an LSTM with attention, on each seed, then its loss on the recalled
keys by distance (explorer.core.recall.recall_loss_by_distance; ln 8 ≈ 2.08 nats is a guess among the keys).

    python benchmarks/long_range.py [--seeds 0,1,2] [--setups rnn,lstm] [--steps N]

Runs go one after another, each on one torch thread (what the app gives a run), through Trainer.run, the
one loop driver. Three tables: every recall; those whose key is in the same window of seq_len tokens as
the query (attention can see it); those whose key is in an earlier window (only the hidden state carries
it). The preset was tuned on seeds 10-12; the default seeds 0-2 were not used for tuning.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from explorer.core.recall import WINDOWS, recall_loss_by_distance
from explorer.core.recall_corpus import DISTANCES
from explorer.core.train import Trainer
from explorer.spec.presets import preset_config

SETUPS = {
    "rnn": {"cell": "rnn"},
    "gru": {"cell": "gru"},
    "lstm": {"cell": "lstm"},
    "rnn+attention": {"cell": "rnn", "attention": True},
    "lstm+attention": {"cell": "lstm", "attention": True},
}


def measure(setup: str, seed: int, steps: int | None) -> tuple[float, dict[str, dict[int, float]]]:
    """Train one run to its end; (seconds, {window: {distance: recall loss}})."""
    config = preset_config("long-range").replace(**SETUPS[setup], seed=seed, device="cpu")
    if steps is not None:
        config = config.replace(steps=steps)
    trainer = Trainer(config)
    started = time.perf_counter()
    for _ in trainer.run():
        pass
    seconds = time.perf_counter() - started
    losses = {
        window: recall_loss_by_distance(trainer.model, trainer.corpus, config.seq_len, config.batch_size, window)
        for window in WINDOWS
    }
    return seconds, losses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--steps", type=int, help="override the preset's training steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    setups = args.setups.split(",")
    results = {}
    for setup in setups:
        for seed in seeds:
            results[setup, seed] = measure(setup, seed, args.steps)
            seconds, losses = results[setup, seed]
            print(f"{setup} seed {seed}: {seconds:.1f} s", file=sys.stderr, flush=True)

    header = f"{'setup':<15} {'seed':>4} {'s':>5} " + " ".join(f"{f'k={k}':>6}" for k in DISTANCES)
    for window, title in (
        ("any", "every recall"),
        ("same", "key in the same window as the query"),
        ("earlier", "key in an earlier window"),
    ):
        print(f"\nRecall loss (nats) by distance k: {title}")
        print(header)
        for (setup, seed), (seconds, losses) in results.items():
            row = " ".join(f"{losses[window][k]:6.2f}" for k in DISTANCES)
            print(f"{setup:<15} {seed:>4} {seconds:5.1f} {row}")


if __name__ == "__main__":
    main()
