"""What the mechanism views look at: how far back the gradient reaches, and the dropout masks a step drew.

Both are taken every `detail_every` steps. The reach costs one forward and backward of ONE sequence; the
masks are the ones the training step really applied (the model keeps them in `taps` on those steps), cut
to their first MASK_UNITS units so that a record stays small. Also the lessons' probes of a trained model:
a test-time dropout rule other than explorer's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from explorer.core.model import RNNLM

MASK_UNITS = 32  # units of each mask kept in a record: enough to see the pattern, small enough to store
SHOWN_TOKENS = {"\n": "⏎", " ": "␣", "\t": "⇥"}  # characters a chart could not show as they are


def _rounded(value: float) -> float | None:
    return float(f"{value:.4g}") if math.isfinite(value) else None


def gradient_reach(
    model: RNNLM, tokens: torch.Tensor, targets: torch.Tensor, training: bool = False
) -> list[list[float | None]]:
    """‖∂L_T/∂x_t‖ for every position t of one sequence (1, T), for each layer's input x: how much the loss
    at the LAST position still depends on what the layer received T−1−t steps earlier. In eval mode (no
    dropout masks, running batch-norm statistics) from a zero state, on the same sequence every time, so
    snapshots differ only because the weights changed. `training`: in training mode instead, with the masks a
    training step would draw (from the model's generator): the gradient training itself computes. Parameters'
    .grad are left untouched."""
    was_training = model.training
    model.train(training)
    model.taps = {}
    try:
        with torch.enable_grad():
            logits, _ = model(tokens)
            inputs = [model.taps[f"input.layer{i}"] for i in range(1, len(model.rnns) + 1)]
            loss = F.cross_entropy(logits[:, -1], targets[:, -1])
            grads = torch.autograd.grad(loss, inputs)
    finally:
        model.taps = None
        model.train(was_training)
    norms = torch.stack([g[0].norm(dim=-1) for g in grads]).double().tolist()
    return [[_rounded(v) for v in layer] for layer in norms]


def mask_record(taps: dict[str, torch.Tensor], knobs: dict, tokens: torch.Tensor, itos: list[str]) -> dict:
    """The masks drawn for the first sequence of the batch, as strings of 1 (kept) and 0 (dropped):
    dropout sites as units × time (locked masks repeated over time, as they were applied; the recurrent
    sites' masks on h_{t−1} with their own kind, naive or gal), the tokens whose embedding row was dropped, and a
    corner of each layer's hidden-to-hidden weight mask."""
    steps = tokens.numel()
    sites = {}
    for name, mask in taps.items():
        if not name.startswith("mask."):
            continue
        site = name.removeprefix("mask.")
        if site == "embedding":
            dropped = mask[tokens, 0] == 0
            sites[site] = {
                "keep": 1 - knobs["embed_dropout"],
                "rows": [_bits(~dropped)],
                "tokens": [SHOWN_TOKENS.get(t, t) for t in (itos[i] for i in tokens.tolist())],
            }
        elif site.startswith("weight_drop."):
            corner = mask[:MASK_UNITS, :MASK_UNITS] != 0
            sites[site] = {"keep": 1 - knobs["weight_drop"], "rows": [_bits(row) for row in corner]}
        else:
            units = (mask[0, :, :MASK_UNITS] != 0).expand(steps, -1).T  # (units, time)
            if site.startswith("recurrent."):
                sites[site] = {"keep": 1 - knobs["recurrent_dropout"], "kind": knobs["recurrent_dropout_kind"]}
            else:
                sites[site] = {"keep": 1 - knobs["dropout"]}
            sites[site]["rows"] = [_bits(row) for row in units]
    return {"kind": knobs["dropout_kind"], "sites": sites}


def _bits(row: torch.Tensor) -> str:
    return "".join("1" if kept else "0" for kept in row.tolist())


@contextmanager
def dropout_sites_scaled(model: RNNLM, factor: float) -> Iterator[RNNLM]:
    """The model evaluated with the `dropout` knob's sites (the layers' inputs and outputs) multiplied by
    `factor`, which is what multiplying the weights that read them by `factor` does (the decoder's bias aside):
    the test-time weight rules lesson 10 puts side by side. Training is untouched."""
    model.eval_scale = factor
    try:
        yield model
    finally:
        model.eval_scale = 1.0
