"""Steps/s of the Trainer (every metric on) against a plain PyTorch loop on the same model, data,
batch and optimiser, in one process. Target: ratio ≥ 0.9 on CPU.

    python benchmarks/throughput.py                 # char LSTM 1×128 on Tiny Shakespeare, CPU
    python benchmarks/throughput.py --ptb --device cuda   # 2×650 word LSTM on PTB batches (20×35)

Blocks of steps alternate between the two loops; the ratio is the median over neighbouring pairs of
blocks, so a machine whose speed drifts (a shared 2-core VM) slows both sides of each pair alike. A block
is a whole number of `detail_every` periods, so every block carries its share of the detail steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from explorer.core.model import RNNLM, detach_state
from explorer.core.train import Trainer
from explorer.spec.knobs import Config

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"


def plain_step(model: RNNLM, stream, lr: float):
    """pytorch/examples word_language_model's loop: forward, loss, backward, step, loss.item()."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, vocab = None, model.decoder.out_features

    def step():
        nonlocal state
        x, y, new_epoch = stream.next()
        logits, state = model(x, None if new_epoch else detach_state(state))
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def plain_loop(trainer: Trainer):
    """The plain loop on a fresh copy of the trainer's model, reading the trainer's batches."""
    torch.manual_seed(trainer.config.seed)
    model = RNNLM(trainer.vocab_size, trainer.config).to(trainer.device)
    return plain_step(model, trainer.train_stream, trainer.config.lr)


def rate(step, steps: int, device: torch.device) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ptb", action="store_true", help="2×650 word-level LSTM on PTB (20×35 batches)")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--block-steps", type=int, default=None, help="default: 2 × detail_every")
    args = parser.parse_args()
    if args.ptb:
        config = Config(
            corpus=str(PTB),
            level="word",
            cell="lstm",
            layers=2,
            hidden=650,
            embed=650,
            batch_size=20,
            seq_len=35,
            device=args.device,
            steps=10**7,
            eval_every=10**6,
        )
    else:
        config = Config(device=args.device, steps=10**7, eval_every=10**6)
    trainer = Trainer(config)
    block_steps = args.block_steps or 2 * config.detail_every
    baseline = plain_loop(trainer)
    ours = trainer.step
    for fn in (baseline, ours):  # warm-up
        rate(fn, 5, trainer.device)
    plain_rates, trainer_rates = [], []
    for _ in range(args.blocks):
        plain_rates.append(rate(baseline, block_steps, trainer.device))
        trainer_rates.append(rate(ours, block_steps, trainer.device))
    plain, mine = statistics.median(plain_rates), statistics.median(trainer_rates)
    ratio = statistics.median(m / p for m, p in zip(trainer_rates, plain_rates))
    tokens = config.batch_size * config.seq_len
    print(
        f"device {trainer.device}, {config.cell} {config.layers}×{config.hidden}, batch {config.batch_size}×"
        f"{config.seq_len}, torch threads {torch.get_num_threads()}"
    )
    print(f"plain PyTorch loop : {plain:7.1f} steps/s  {plain * tokens:10.0f} tokens/s")
    print(
        f"explorer Trainer   : {mine:7.1f} steps/s  {mine * tokens:10.0f} tokens/s "
        f"(gradient details every {config.detail_every} steps)"
    )
    print(
        f"ratio Trainer/plain: {ratio:.3f}  "
        f"(median of {args.blocks} paired blocks of {block_steps} steps; target ≥ 0.95)"
    )


if __name__ == "__main__":
    main()
