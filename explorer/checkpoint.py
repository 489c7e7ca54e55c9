"""Save and load a trained model with what is needed to use it again (config and vocabulary).

Only tensors, numbers, strings, lists and dicts go in, so `torch.load(..., weights_only=True)` can
read it back without running any pickled code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from .config import Config
from .data import CorpusError, Vocab
from .model import RNNLM


def save_checkpoint(path: str | Path, model: RNNLM, vocab: Vocab, config: Config, step: int) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": config.to_dict(), "vocab": vocab.itos, "step": step, "model": model.state_dict()}, path)


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[RNNLM, Vocab, Config, int]:
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"checkpoint not found: {path}")
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        config = Config.from_dict(saved["config"])
        vocab = Vocab(saved["vocab"])
        model = RNNLM(len(vocab), config)
        model.load_state_dict(saved["model"])
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise CorpusError(f"{path} is not an explorer checkpoint ({type(err).__name__})") from None
    return model.to(device), vocab, config, saved["step"]
