"""Text from the model: what a student reads to judge a language model by ear, not only by its loss."""

from __future__ import annotations

import torch

from explorer.core.data import CorpusError, Vocab, tokenize
from explorer.core.model import RNNLM
from explorer.spec.errors import ConfigError


def check_sampling(length: int, temperature: float) -> None:
    """Refuse settings that would give no text or a broken distribution, before any model runs."""
    if not 0 < temperature <= 10:
        raise ConfigError(f"temperature must be in (0, 10], got {temperature}")
    if length < 0:
        raise ConfigError(f"length must be ≥ 0, got {length}")


def prompt_ids(vocab: Vocab, level: str, prompt: str = "") -> list[int]:
    """The prompt as token ids. With no prompt, start after a line break (the most neutral context
    either tokeniser has)."""
    tokens = tokenize(prompt, level, lowercase=False) if prompt else []
    if level == "char":
        unknown = sorted({t for t in tokens if t not in vocab.stoi})
        if unknown:
            raise CorpusError(f"the prompt has characters the model never saw: {''.join(unknown)!r}")
    if not tokens:
        return [vocab.stoi.get("\n" if level == "char" else "<eos>", 0)]
    return vocab.encode(tokens).tolist()


@torch.no_grad()
def generate_ids(
    model: RNNLM, ids: list[int], length: int, temperature: float, generator: torch.Generator
) -> list[int]:
    """The one sampling loop: `length` token ids after `ids`, drawn from `generator` alone, so sampling
    never moves anyone else's random state. The model runs in eval mode and is left in the mode it was
    found in; the recurrent state is local to this call. Settings are the caller's to check
    (`check_sampling`)."""
    was_training = model.training
    model.eval()
    try:
        reader = WindowReader(model, ids) if model.attention is not None else StepReader(model, ids)
        out = []
        for _ in range(length):
            probs = torch.softmax(reader.logits / temperature, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
            out.append(token)
            reader.read(token)
    finally:
        model.train(was_training)
    return out


class StepReader:
    """A recurrent model reads one token at a time: its state holds everything it has seen. Each token is read
    at its position in the window it would have had in training (the stream cut into windows of
    `model.window`): recurrent batch norm keeps statistics per position."""

    def __init__(self, model: RNNLM, ids: list[int]):
        self.model, self.device = model, next(model.parameters()).device
        logits, self.state = model(torch.tensor([ids], device=self.device))
        self.logits, self.position = logits[0, -1], len(ids)

    def read(self, token: int) -> None:
        start = self.position % self.model.window
        logits, self.state = self.model(torch.tensor([[token]], device=self.device), self.state, start=start)
        self.logits, self.position = logits[0, -1], self.position + 1


class WindowReader:
    """With attention the model must read as it trained: in windows of `model.window` tokens, the recurrent
    state carried from one window to the next, attention looking back over the window so far (one token
    at a time it would see only itself)."""

    def __init__(self, model: RNNLM, ids: list[int]):
        self.model, self.device = model, next(model.parameters()).device
        self.state, self.window = None, list(ids)
        self._advance()

    def read(self, token: int) -> None:
        self.window.append(token)
        self._advance()

    def _advance(self) -> None:
        while len(self.window) > self.model.window:  # a full window behind: carry its state on
            _, self.state = self.model(torch.tensor([self.window[: self.model.window]], device=self.device), self.state)
            self.window = self.window[self.model.window :]
        logits, _ = self.model(torch.tensor([self.window], device=self.device), self.state)
        self.logits = logits[0, -1]


def generate(
    model: RNNLM, vocab: Vocab, level: str, prompt: str = "", length: int = 200, temperature: float = 0.8, seed: int = 0
) -> str:
    """Continue `prompt` by `length` tokens. Low temperature: safe and repetitive; high: adventurous."""
    check_sampling(length, temperature)
    ids = prompt_ids(vocab, level, prompt)
    generator = torch.Generator(next(model.parameters()).device).manual_seed(seed)
    out = generate_ids(model, ids, length, temperature, generator)
    return prompt + ("" if level == "char" or not prompt else " ") + vocab.decode(out, level)
