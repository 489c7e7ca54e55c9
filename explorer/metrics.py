"""The teaching measurements taken from gradients and weights every `detail_every` steps.

All numbers are computed on the device as tensors and fetched in ONE transfer, so leaving them on
costs little (benchmarks/throughput.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Fixed bins of log10 |gradient| so histograms from different steps (and runs) line up on one axis.
GRAD_HIST_EDGES = np.linspace(-10.0, 2.0, 49)
NEAR_ZERO = 1e-3  # |w| below this counts as "switched off" in the sparsity view (L1 drives weights there)


@dataclass
class GradientDetails:
    groups: list[str]
    grad_norms: list[float]
    weight_l2: list[float]
    weight_l1: list[float]
    near_zero: list[float]
    grad_hist: list[int]

    def to_record(self) -> dict:
        return {"grad_norms": dict(zip(self.groups, self.grad_norms)),
                "weight_l2": dict(zip(self.groups, self.weight_l2)),
                "weight_l1": dict(zip(self.groups, self.weight_l1)),
                "near_zero": dict(zip(self.groups, self.near_zero)),
                "grad_hist": self.grad_hist}


@torch.no_grad()
def gradient_details(groups: dict[str, list[torch.Tensor]], weights: list[torch.Tensor]) -> GradientDetails:
    """Per-group gradient norms (where vanishing/exploding shows), per-group L2/L1 weight norms and the
    fraction of near-zero weights (matrices only, the ones penalties act on), and a histogram of
    log10 |g| over every gradient element."""
    weight_ids = {id(w) for w in weights}
    names = [name for name, params in groups.items() if params]
    rows = []
    for name in names:
        params = groups[name]
        grads = [p.grad.reshape(-1) for p in params if p.grad is not None]
        grad = torch.cat(grads) if grads else params[0].new_zeros(1)
        mats = [p.reshape(-1) for p in params if id(p) in weight_ids] or [p.reshape(-1) for p in params]
        w = torch.cat(mats)
        rows.append(torch.stack([grad.norm(), w.norm(), w.abs().sum(), (w.abs() < NEAR_ZERO).float().mean()]))
    every_grad = torch.cat([p.grad.reshape(-1) for name in names for p in groups[name] if p.grad is not None])
    logs = every_grad.abs().clamp_min(1e-30).log10().clamp(GRAD_HIST_EDGES[0], GRAD_HIST_EDGES[-1])
    hist = torch.histc(logs, bins=len(GRAD_HIST_EDGES) - 1, min=GRAD_HIST_EDGES[0], max=GRAD_HIST_EDGES[-1])
    table = torch.stack(rows).tolist()
    return GradientDetails(names, *[list(col) for col in zip(*table)], grad_hist=[int(c) for c in hist.tolist()])
