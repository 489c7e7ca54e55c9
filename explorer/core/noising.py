"""Data noising, the language model's data augmentation (Xie et al., "Data Noising as Smoothing in Neural
Network Language Models", ICLR 2017): during training each INPUT token is, with probability γ, replaced
by a draw from the corpus's unigram distribution (unigram noising, like interpolating with unigram
counts) or by a blank token (blank noising). Targets are never noised (their Table 1), nor is evaluation.
"""

from __future__ import annotations

import torch


def unigram_distribution(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """How often each token occurs in the training text: the proposal distribution of unigram noising."""
    counts = torch.bincount(tokens, minlength=vocab_size).double()
    return counts / counts.sum()


def noise_inputs(
    x: torch.Tensor, gamma: float, kind: str, unigram: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the noised inputs, the blank positions or None). Draws from the run's own generator, so a noised
    run is as reproducible as a dropout run; γ = 0 draws nothing and leaves the run's numbers untouched."""
    if gamma == 0:
        return x, None
    chosen = torch.rand(x.shape, generator=generator, device=x.device) < gamma
    if kind == "blank":
        return x, chosen
    draws = torch.multinomial(unigram, x.numel(), replacement=True, generator=generator).view_as(x)
    return torch.where(chosen, draws, x), None
