"""Text from the model: what a student reads to judge a language model by ear, not only by its loss."""

from __future__ import annotations

import torch

from .config import ConfigError
from .data import CorpusError, Vocab, tokenize
from .model import RNNLM


@torch.no_grad()
def generate(
    model: RNNLM, vocab: Vocab, level: str, prompt: str = "", length: int = 200, temperature: float = 0.8, seed: int = 0
) -> str:
    """Continue `prompt` by `length` tokens. Low temperature: safe and repetitive; high: adventurous."""
    if not 0 < temperature <= 10:
        raise ConfigError(f"temperature must be in (0, 10], got {temperature}")
    if length < 0:
        raise ConfigError(f"length must be ≥ 0, got {length}")
    device = next(model.parameters()).device
    tokens = tokenize(prompt, level, lowercase=False) if prompt else []
    if level == "char":
        unknown = sorted({t for t in tokens if t not in vocab.stoi})
        if unknown:
            raise CorpusError(f"the prompt has characters the model never saw: {''.join(unknown)!r}")
    ids = vocab.encode(tokens).tolist() if tokens else [_start_token(vocab, level)]
    generator = torch.Generator(device).manual_seed(seed)
    was_training = model.training
    model.eval()
    logits, state = model(torch.tensor([ids], device=device))
    out = []
    for _ in range(length):
        probs = torch.softmax(logits[0, -1] / temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=generator)
        out.append(int(token))
        logits, state = model(token.view(1, 1), state)
    model.train(was_training)
    return (prompt if prompt else "") + ("" if level == "char" or not prompt else " ") + vocab.decode(out, level)


def _start_token(vocab: Vocab, level: str) -> int:
    """With no prompt, start after a line break (the most neutral context either tokeniser has)."""
    return vocab.stoi.get("\n" if level == "char" else "<eos>", 0)
