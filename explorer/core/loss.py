"""The training loss: mean cross-entropy whose backward is one pass over the logits.

PyTorch's `F.cross_entropy` backward fills a zero tensor the size of the logits, scatters the targets into it and
runs log-softmax's backward over both. The gradient is softmax − one-hot, so the saved log-probabilities become it
in place: exp, subtract 1 at the targets, scale. With a 10,000-word vocabulary (700 × 10,000 logits a batch) that is
2-4 % less time for the decoder and loss on CPU; below LARGE_VOCABULARY PyTorch's fused kernel is faster (measured
with 65 and 1,000 classes). Same loss, same gradient, to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

LARGE_VOCABULARY = 3000


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits, dim=-1)
        ctx.save_for_backward(log_probs, targets)
        return -log_probs.gather(1, targets.unsqueeze(1)).mean()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        log_probs, targets = ctx.saved_tensors
        grad_logits = log_probs.exp_()  # the saved buffer becomes the gradient: nothing reads it after this
        grad_logits[torch.arange(len(targets), device=targets.device), targets] -= 1
        return grad_logits.mul_(grad / len(targets)), None


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of (N, V) logits against (N,) target ids, for a loss backpropagated once."""
    if logits.size(1) < LARGE_VOCABULARY:
        return F.cross_entropy(logits, targets)
    return _CrossEntropy.apply(logits, targets)
