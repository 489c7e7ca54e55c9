"""The teaching measurements taken from gradients and weights every `detail_every` steps.

All numbers are computed on the device as tensors and fetched in ONE transfer, so leaving them on
costs little (benchmarks/throughput.py and benchmarks/word_lm_speed.py measure it). A word model's
embedding and decoder hold millions of numbers, so nothing here takes a logarithm per element or
copies a parameter per group: the histogram bins |g| by its float32 bits, the norms use foreach kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from explorer.spec.records import GRAD_HIST_EDGES, NEAR_ZERO

# |g| is binned by its float32 bit pattern, which orders non-negative floats like their values: the bits
# between those of 1e-10 and 100 (the histogram's range; values outside count in the end bins) are cut
# into fine buckets 2^10 patterns wide, i.e. 1/8192 of a power of two or 0.00005 of a decade (a bin is
# 0.25), and a table maps each bucket to the bin of its midpoint. Only values within 0.00003 of a decade
# of a bin edge can land in the neighbouring bin (about 3 in 100,000 gradients of a trained PTB model).
_LOWEST, _HIGHEST = (int(np.float32(10.0**e).view(np.int32)) for e in (GRAD_HIST_EDGES[0], GRAD_HIST_EDGES[-1]))
_BUCKET_SHIFT = 10
_BUCKETS = ((_HIGHEST - _LOWEST) >> _BUCKET_SHIFT) + 1
_BUCKET_BINS: dict[str, torch.Tensor] = {}


def _bucket_bins(device: torch.device) -> torch.Tensor:
    """For each fine bucket of |g|'s bits, the histogram bin of its midpoint (built once per device)."""
    key = str(device)
    if key not in _BUCKET_BINS:
        starts = (np.arange(_BUCKETS, dtype=np.int64) << _BUCKET_SHIFT) + _LOWEST
        middle = (starts + (1 << (_BUCKET_SHIFT - 1))).astype(np.int32).view(np.float32).astype(np.float64)
        bins = np.searchsorted(GRAD_HIST_EDGES, np.log10(middle), side="right") - 1
        _BUCKET_BINS[key] = torch.from_numpy(np.clip(bins, 0, len(GRAD_HIST_EDGES) - 2)).to(device)
    return _BUCKET_BINS[key]


def log_abs_histogram(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Counts of log10 |x| over every element of `tensors` in the GRAD_HIST_EDGES bins (int64, on the
    device): one copy, in-place integer passes and a bincount, instead of abs, log10, clamp and histc."""
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    if flat.dtype != torch.float32:
        flat = flat.float()
    bits = flat.view(torch.int32)
    # |x| (sign bit off), into the histogram's range (NaN's bits sit above inf's: the top bin), its bucket
    bits.bitwise_and_(0x7FFFFFFF).clamp_(_LOWEST, _HIGHEST).sub_(_LOWEST).bitwise_right_shift_(_BUCKET_SHIFT)
    counts = torch.bincount(bits, minlength=_BUCKETS)
    hist = torch.zeros(len(GRAD_HIST_EDGES) - 1, dtype=counts.dtype, device=counts.device)
    return hist.index_add_(0, _bucket_bins(counts.device), counts)


@dataclass
class GradientDetails:
    groups: list[str]
    grad_norms: list[float]
    weight_l2: list[float]
    weight_l1: list[float]
    near_zero: list[float]
    grad_hist: list[int]

    def to_record(self) -> dict:
        return {
            "grad_norms": dict(zip(self.groups, self.grad_norms)),
            "weight_l2": dict(zip(self.groups, self.weight_l2)),
            "weight_l1": dict(zip(self.groups, self.weight_l1)),
            "near_zero": dict(zip(self.groups, self.near_zero)),
            "grad_hist": self.grad_hist,
        }


def _norm_of(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of the tensors taken together (as if concatenated), without concatenating them."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


@torch.no_grad()
def gradient_details(groups: dict[str, list[torch.Tensor]], weights: list[torch.Tensor]) -> GradientDetails:
    """Per-group gradient norms (where vanishing/exploding shows), per-group L2/L1 weight norms and the
    fraction of near-zero weights (matrices only, the ones penalties act on), and a histogram of
    log10 |g| over every gradient element."""
    weight_ids = {id(w) for w in weights}
    names = [name for name, params in groups.items() if params]
    rows, every_grad = [], []
    for name in names:
        params = groups[name]
        grads = [p.grad for p in params if p.grad is not None]
        every_grad += grads
        mats = [p for p in params if id(p) in weight_ids] or params
        size = sum(m.numel() for m in mats)
        absolute = [m.abs() for m in mats]
        grad_norm = _norm_of(grads) if grads else params[0].new_zeros(())
        l1 = torch.stack([a.sum() for a in absolute]).sum()
        near_zero = torch.stack([torch.count_nonzero(a < NEAR_ZERO) for a in absolute]).sum() / size
        rows.append(torch.stack([grad_norm, _norm_of(mats), l1, near_zero.to(l1.dtype)]))
    hist = log_abs_histogram(every_grad) if every_grad else torch.zeros(len(GRAD_HIST_EDGES) - 1)
    table = torch.stack(rows)
    values = torch.cat([table.reshape(-1).double(), hist.to(table.device, torch.float64)]).tolist()  # one transfer
    columns = [values[i : len(rows) * 4 : 4] for i in range(4)]
    return GradientDetails(names, *columns, grad_hist=[int(c) for c in values[len(rows) * 4 :]])
