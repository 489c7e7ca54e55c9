"""Time per training step of the explicit cell (explorer/cells.py) against the fused nn.RNN/GRU/LSTM, on the
same model, data, batch and optimiser, for each cell × each knob that runs it. Target: ratio ≤ 3 on CPU for
the default model (LSTM 1×128, embed 64, batch 32×64).

    nice python benchmarks/cell_speed.py                  # CPU, every cell and knob
    python benchmarks/cell_speed.py --device cuda --cells lstm

A step is forward, loss, backward, Adam step, loss.item(). Blocks of steps alternate between the fused and
the explicit model; each ratio is the median over neighbouring pairs of blocks, so a machine whose speed
drifts (a shared 2-core VM) slows both sides of each pair alike.

Not used, measured: TorchScript of the LSTM loop with recurrent dropout was 30 vs 33–41 ms for the layer's
forward and backward (2 threads), within this machine's noise, deprecated, and it cannot call the norm modules;
torch.compile of the same layer ran it in 32–37 vs 41–48 ms, after 79 s of compiling on the first call (again
for each mask kind and norm): a class would wait that long at the switch of a live knob. Indexing xw[t] instead of
unbinding it once made each step's backward build a zero gradient of the whole window: 164 vs 78 ms with batch norm.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from throughput import plain_step, rate

from explorer.core.data import BatchStream, Corpus
from explorer.core.model import RNNLM
from explorer.core.train import resolve_device
from explorer.spec.knobs import Config

VARIANTS = {
    "recurrent dropout naive": {"recurrent_dropout": 0.25, "recurrent_dropout_kind": "naive"},
    "recurrent dropout gal": {"recurrent_dropout": 0.25, "recurrent_dropout_kind": "gal"},
    "cell_norm layer": {"cell_norm": "layer"},
    "cell_norm batch": {"cell_norm": "batch"},
}


def training_step(config: Config, corpus: Corpus, device: torch.device, knobs: dict):
    """One step of a plain loop on a model with `knobs` applied (the fused model: no knobs)."""
    torch.manual_seed(config.seed)
    model = RNNLM(len(corpus.vocab), config).to(device)
    model.generator = torch.Generator(device).manual_seed(1)
    model.apply_knobs({**config.live(), **knobs})
    return plain_step(model, BatchStream(corpus.train, config.batch_size, config.seq_len, device), config.lr)


def seconds(step, steps: int, device: torch.device) -> float:
    return 1 / rate(step, steps, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--block-steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (a live run trains on 1 or 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    corpus = Corpus.from_config(Config())
    print(f"device {device}, 1×128 hidden, embed 64, batch 32×64, torch threads {torch.get_num_threads()}")
    print(f"{'cell':5s} {'knob':24s} {'fused ms':>9s} {'explicit ms':>12s} {'ratio':>6s}")
    for cell in args.cells:
        config = Config(cell=cell, device=str(device))
        fused = training_step(config, corpus, device, {})
        for name, knobs in VARIANTS.items():
            explicit = training_step(config, corpus, device, knobs)
            for fn in (fused, explicit):  # warm-up
                seconds(fn, 2, device)
            pairs = [
                (seconds(fused, args.block_steps, device), seconds(explicit, args.block_steps, device))
                for _ in range(args.blocks)
            ]
            ratio = statistics.median(e / f for f, e in pairs)
            fused_ms, explicit_ms = (1000 * statistics.median(side) for side in zip(*pairs))
            print(f"{cell:5s} {name:24s} {fused_ms:9.1f} {explicit_ms:12.1f} {ratio:6.2f}", flush=True)


if __name__ == "__main__":
    main()
