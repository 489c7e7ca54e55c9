"""Steps/s of the Trainer (every instrument on, at its defaults: an evaluation every `eval_every` steps with the
training subset, gradient details, the memorisation meter, all within the instruments' budget) against a plain
PyTorch loop on the same model, data, batch and optimiser (torch.optim.Adam as a user writes it) that evaluates the
validation text as often, in one process.
Target: ratio ≥ 0.97 on CPU. The instruments' measured share of training time is printed.

    python benchmarks/throughput.py                 # char LSTM 1×128 on Tiny Shakespeare, CPU, 1 thread
    python benchmarks/throughput.py --word          # 2×200 word LSTM on PTB, its 10k-word vocabulary (20×35)
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


def plain_step(model: RNNLM, stream, lr: float, valid, eval_every: int, eval_batches: int):
    """pytorch/examples word_language_model's loop: forward, loss, backward, step, loss.item(); and every
    `eval_every` steps its evaluate() on the first `eval_batches` batches of `valid`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, vocab, steps = None, model.decoder.out_features, 0

    @torch.no_grad()
    def evaluate():
        model.eval()
        hidden, total = None, 0.0
        for i in range(eval_batches):
            x, y = valid.batch(i)
            logits, hidden = model(x, hidden)
            total += F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).item()
        model.train()
        return total / eval_batches

    def step():
        nonlocal state, steps
        steps += 1
        if steps % eval_every == 0:
            evaluate()
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
    config = trainer.config
    valid = trainer.valid_stream
    return plain_step(model, trainer.train_stream, config.lr, valid, config.eval_every, config.eval_batches)


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
    parser.add_argument("--word", action="store_true", help="2×200 word-level LSTM on PTB, 10k-word vocabulary")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (fixed, whatever the CPU policy says)")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--block-steps", type=int, default=100, help="a whole number of evaluations")
    parser.add_argument("--budget", type=float, default=Config.instrument_budget, help="the instruments' share")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = Config(device=args.device, steps=10**7, instrument_budget=args.budget)
    if args.ptb or args.word:
        size = 650 if args.ptb else 200
        word = dict(corpus=str(PTB), level="word", cell="lstm", layers=2, hidden=size, embed=size, vocab_size=10_000)
        config = config.replace(**word, batch_size=20, seq_len=35)
    trainer = Trainer(config)
    block_steps = args.block_steps
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
    cadence = trainer.budget.cadence()
    print(
        f"explorer Trainer   : {mine:7.1f} steps/s  {mine * tokens:10.0f} tokens/s (gradient details every "
        f"{cadence['detail_every_now']} steps, asked {config.detail_every}; meter every "
        f"{cadence.get('meter_every_now', '-')} steps; budget {config.instrument_budget:.0%})"
    )
    print(
        f"instruments' measured share of training time: {cadence['instrument_share']:.1%} (gradient details, "
        f"meter) + {cadence['train_eval_share']:.1%} (the training subset, {len(trainer.train_subset.rows)} of "
        f"{config.batch_size} rows, at every evaluation); their first runs, a one-off: "
        f"{cadence['instrument_warm_up_s']:.2f} s"
    )
    print(
        f"ratio Trainer/plain: {ratio:.3f}  "
        f"(median of {args.blocks} paired blocks of {block_steps} steps, both evaluating every "
        f"{config.eval_every}; target ≥ 0.97)"
    )


if __name__ == "__main__":
    main()
