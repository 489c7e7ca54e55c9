"""What the memorisation meter costs: its index on a full corpus, and one measure() against training time.

    python benchmarks/meter_cost.py

1. Index build and look-ups on the whole Tiny Shakespeare training split (char level, n = 12), and on
   PTB (word level, n = 4) when ../shared/data/ptb is there. Look-ups use 200-token (60 for words)
   samples that are copied (a training excerpt), fresh text (a validation excerpt) and noise.
2. One measure() of the `overfit` preset's model against its mean training step, on one thread, and so
   every how many evaluations the meter stays within 5 % of the training time at eval_every = 20.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from explorer.core.data import Corpus
from explorer.core.memorisation import MemorisationMeter, NgramIndex, found_ngrams
from explorer.core.train import Trainer
from explorer.spec.presets import preset_config

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"
BUDGET = 0.05


def seconds(action, repeats: int = 5) -> float:
    """The median wall time of `action()`, so one busy moment on a shared machine does not count."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def index_cost(name: str, corpus: Corpus, n: int, length: int) -> None:
    train = corpus.train.numpy()
    began = time.perf_counter()
    index = NgramIndex(train, n, len(corpus.vocab))
    built = time.perf_counter() - began
    began = time.perf_counter()
    index.text  # noqa: B018 - the text as one character per token, made on the first long copy
    as_text = time.perf_counter() - began
    print(f"{name}: {len(train):,} tokens, n = {n}: index {built:.3f} s (+ {as_text:.3f} s for long copies)")
    rng = np.random.default_rng(0)
    samples = {
        "copied": train[500_000 : 500_000 + length],
        "fresh": corpus.valid.numpy()[1000 : 1000 + length],
        "noise": rng.integers(0, len(corpus.vocab), length),
    }
    for kind, sample in samples.items():
        matches = index.matches(sample)
        lookup = seconds(lambda s=sample: found_ngrams(index.matches(s), n))
        longest = seconds(lambda s=sample, m=matches: index.longest_copy(s, m))
        print(
            f"  {kind:>6} {length}-token sample: shares {lookup * 1e3:.2f} ms, longest copy "
            f"{index.longest_copy(sample, matches)} in {longest * 1e3:.2f} ms"
        )


def training_cost(lengths=(100, 200, 400), rounds: int = 3) -> None:
    """Rounds of 10 steps and one measure() of each length alternate, so a busy machine slows both alike."""
    trainer = Trainer(preset_config("overfit").replace(device="cpu"))
    every = trainer.config.eval_every
    meters = {length: MemorisationMeter(trainer.corpus, length=length) for length in lengths}
    for _ in range(5):
        trainer.step()
    for meter in meters.values():
        meter.measure(trainer.model)  # builds this corpus's indexes once
    steps, costs = [], {length: [] for length in lengths}
    for round_ in range(1, rounds + 1):
        while len(steps) < 10 * round_:
            began = time.perf_counter()
            trainer.step()
            if trainer.step_count % every:  # evaluation steps are timed apart
                steps.append(time.perf_counter() - began)
        for length, meter in meters.items():
            costs[length].append(seconds(lambda m=meter: m.measure(trainer.model), repeats=1))
    step = statistics.median(steps)
    evaluation = seconds(trainer.evaluate)
    interval = every * step + evaluation
    print(
        f"overfit preset ({len(steps)} steps): step {step * 1e3:.1f} ms, evaluation {evaluation * 1e3:.1f} ms, "
        f"{every} steps + 1 evaluation = {interval:.2f} s"
    )
    for length, times in costs.items():
        cost = statistics.median(times)
        evaluations = max(1, math.ceil(cost / (BUDGET * interval)))
        print(
            f"  measure() of {length} chars: {cost * 1e3:.0f} ms = {cost / step:.1f} steps = "
            f"{cost / interval:.1%} of an evaluation interval: every {evaluations} evaluation(s) keeps it "
            f"≤ {BUDGET:.0%} ({cost / (evaluations * interval):.1%})"
        )


def main() -> None:
    torch.set_num_threads(1)
    index_cost("Tiny Shakespeare (char)", Corpus.build("tinyshakespeare", "char", False, 10_000, 1.0), 12, 200)
    if PTB.is_dir():
        index_cost("PTB (word)", Corpus.build(str(PTB), "word", False, 10_000, 1.0), 4, 60)
    else:
        print(f"PTB: skipped ({PTB} not found)")
    training_cost()


if __name__ == "__main__":
    main()
