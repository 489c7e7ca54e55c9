"""explorer's Trainer against pytorch/examples word_language_model's training loop, FROM THE SAME INITIAL WEIGHTS,
both in this process: the perplexity half of `word_lm_speed.py` with the initial weights taken out of the
comparison.

`word_lm_speed.py` runs both programs as users run them, so each draws its own initial weights (main.py numbers
the words by first appearance, explorer by frequency, so even the same seed gives each word another row) and its
own dropout masks: its pairs are unpaired draws. Here main.py's `RNNModel` is given a copy of the Trainer's initial
weights and trained by main.py's loop (its `train()`, written out: zero_grad, repackage the state, clip by norm,
`p.data.add_(p.grad, alpha=-lr)`), step for step beside `Trainer.step()` on the same batches; only the masks differ
(main.py's come from torch's global generator, explorer's from the run's own). Both models are then scored by
main.py's `evaluate` (10 rows, every token) on the test text.

    python benchmarks/word_lm_same_start.py --examples /tmp/pytorch-examples --fraction 0.25 --seeds 2001,2002

`--fraction F` trains on the first F of PTB's training split (the vocabulary stays the whole split's), for
`--epochs` epochs of it. Prints one line a seed, then the paired difference in per cent over the seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import torch
import torch.nn as nn
from word_lm_speed import PTB, SETTINGS  # the reference's settings, one copy (this folder is on the path)

from explorer.core.data import BatchStream, Corpus
from explorer.core.train import Trainer
from explorer.runs.stats import t_interval
from explorer.spec.knobs import Config


def reference_copy(rnn_model, trainer: Trainer):
    """main.py's RNNModel with the Trainer's weights (explorer keeps one nn.LSTM a layer, main.py one for all)."""
    ref = rnn_model("LSTM", trainer.vocab_size, SETTINGS["embed"], SETTINGS["hidden"], SETTINGS["layers"], 0.2)
    model = trainer.model
    with torch.no_grad():
        ref.encoder.weight.copy_(model.embedding.weight)
        ref.decoder.weight.copy_(model.decoder.weight)
        ref.decoder.bias.copy_(model.decoder.bias)
        for layer, rnn in enumerate(model.rnns):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(ref.rnn, f"{name}_l{layer}").copy_(getattr(rnn, f"{name}_l0"))
    return ref


def evaluate(model, text: torch.Tensor, rows: int = 10, bptt: int = 35) -> float:
    """main.py's `evaluate`: the text in `rows` columns, the state carried, every token scored."""
    columns = len(text) // rows
    data = text[: columns * rows].view(rows, -1).t().contiguous()
    model.eval()
    total, hidden, criterion = 0.0, model.init_hidden(rows), nn.NLLLoss()
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            length = min(bptt, len(data) - 1 - i)
            output, hidden = model(data[i : i + length], hidden)
            total += length * criterion(output, data[i + 1 : i + 1 + length].reshape(-1)).item()
    return total / (len(data) - 1)


def one_seed(rnn_model, ptb: Path, fraction: float, epochs: int, seed: int) -> tuple[float, float]:
    """(main.py's loop, explorer's Trainer): test perplexity after `epochs` epochs from the same weights."""
    config = Config(corpus=str(ptb), level="word", vocab_size=10_000, cell="lstm", optimizer="sgd", init="uniform")
    config = config.replace(**SETTINGS, train_fraction=fraction, seed=seed, eval_every=10**6, meter_every=0)
    per_epoch = BatchStream(
        Corpus.from_config(config).train, config.batch_size, config.seq_len, "cpu"
    ).batches_per_epoch
    trainer = Trainer(config.replace(steps=epochs * per_epoch, detail_every=10**6))
    ref = reference_copy(rnn_model, trainer)
    torch.manual_seed(seed)  # main.py's masks: torch's global generator, seeded as main.py seeds it
    data, criterion, bptt = trainer.train_stream.rows.t().contiguous(), nn.NLLLoss(), SETTINGS["seq_len"]
    for step in range(epochs * per_epoch):
        if step % per_epoch == 0:
            hidden = ref.init_hidden(SETTINGS["batch_size"])  # main.py: a zero state at each epoch's start
        i = (step % per_epoch) * bptt
        ref.train()
        ref.zero_grad()
        hidden = tuple(h.detach() for h in hidden)
        output, hidden = ref(data[i : i + bptt], hidden)
        criterion(output, data[i + 1 : i + 1 + bptt].reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), SETTINGS["clip"])
        for p in ref.parameters():
            p.data.add_(p.grad, alpha=-SETTINGS["lr"])
        trainer.step()
    test = trainer.corpus.test
    return math.exp(evaluate(ref, test)), math.exp(evaluate(reference_copy(rnn_model, trainer), test))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, type=Path, help="a checkout of pytorch/examples")
    parser.add_argument("--ptb", type=Path, default=PTB, help="a folder with train.txt/valid.txt/test.txt or ptb.*")
    parser.add_argument("--fraction", type=float, default=1.0, help="of PTB's training split")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="1111")
    args = parser.parse_args()
    wlm = args.examples / "word_language_model"
    if not (wlm / "model.py").exists():
        raise SystemExit(f"{wlm}/model.py not found: --examples must be a checkout of pytorch/examples")
    sys.path.insert(0, str(wlm))
    from model import RNNModel  # main.py's model, as main.py imports it

    torch.set_num_threads(1)
    differences = []
    for seed in (int(s) for s in args.seeds.split(",")):
        ref, ours = one_seed(RNNModel, args.ptb, args.fraction, args.epochs, seed)
        differences.append(100 * (ours / ref - 1))
        print(
            f"seed {seed}: test perplexity main.py's loop {ref:.2f}, explorer's Trainer {ours:.2f} "
            f"({differences[-1]:+.2f} %)",
            flush=True,
        )
    if len(differences) > 1:
        i = t_interval(differences)
        print(
            f"{len(differences)} seeds: explorer's perplexity {statistics.mean(differences):+.2f} % against "
            f"main.py's loop (95 % interval {i.lo:+.2f} to {i.hi:+.2f} %); lower in "
            f"{sum(d < 0 for d in differences)} of {len(differences)}"
        )


if __name__ == "__main__":
    main()
