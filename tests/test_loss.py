"""The training loss's one-pass backward: the same loss and gradient as PyTorch's cross-entropy."""

import torch
import torch.nn.functional as F

from explorer.core.loss import LARGE_VOCABULARY, cross_entropy


def test_a_large_vocabulary_gets_the_same_loss_and_gradient_as_pytorch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(70, LARGE_VOCABULARY + 7, generator=generator, requires_grad=True)
    targets = torch.randint(LARGE_VOCABULARY + 7, (70,), generator=generator)
    theirs = F.cross_entropy(logits, targets)
    (expected,) = torch.autograd.grad(3 * theirs, logits)
    ours = cross_entropy(logits, targets)
    assert ours.grad_fn is not None and "CrossEntropy" in type(ours.grad_fn).__name__  # the one-pass backward
    (got,) = torch.autograd.grad(3 * ours, logits)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(got, expected)


def test_a_small_vocabulary_uses_pytorchs_own():
    logits = torch.randn(8, 65, requires_grad=True)
    assert "CrossEntropy" not in type(cross_entropy(logits, torch.zeros(8, dtype=torch.long)).grad_fn).__name__
