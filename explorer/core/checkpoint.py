"""Save and load a trained model with what is needed to use it again (config and vocabulary), and a
run's periodic full checkpoints, the points a branch can start from.

Only tensors, numbers, strings, lists and dicts go in, so `torch.load(..., weights_only=True)` can
read it back without running any pickled code.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import torch

from explorer.core.data import CorpusError, Vocab
from explorer.core.model import RNNLM
from explorer.spec.knobs import Config


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
        model.load_state_dict(model.completed(saved["model"]))
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise CorpusError(f"{path} is not an explorer checkpoint ({type(err).__name__})") from None
    return model.to(device), vocab, config, saved["step"]


CHECKPOINTS_PER_RUN = 8
CHECKPOINT_BUDGET = 2 * 1024**3  # bytes of branch points kept on disk, all runs together (the newest runs keep theirs)
MAX_CHECKPOINT = 256 * 1024**2  # a model whose checkpoint would be bigger keeps none (branch it live instead)
FIRST_EVERY = 50  # steps between a run's checkpoints, doubled whenever it would keep more than CHECKPOINTS_PER_RUN


def checkpoints_root(store_path: str | Path) -> Path:
    return Path(store_path).expanduser().parent / "checkpoints"


class RunCheckpoints:
    """A run's periodic full checkpoints (`Trainer.checkpoint()`), the steps it can be branched from.

    Bounded: at most CHECKPOINTS_PER_RUN per run — when one more is due, every other one goes and the
    spacing doubles, so the whole run stays covered evenly — and CHECKPOINT_BUDGET bytes for all runs
    (older runs' folders go first). Best effort: a full disk or a vanished folder costs the branch points,
    never the run."""

    def __init__(self, store_path: str | Path, run_id: str):
        self.root = checkpoints_root(store_path)
        self.folder = self.root / run_id
        self.every = FIRST_EVERY

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def save(self, state: dict) -> None:
        if 4 * sum(t.nbytes for t in state["model"].values()) > MAX_CHECKPOINT:  # weights, 2 moments, best
            self.every = 0
            return
        try:
            first = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"step-{state['step']:09d}.pt"
            partial = path.with_suffix(".part")
            torch.save(state, partial)
            os.replace(partial, path)  # a run killed mid-write leaves no truncated branch point
            files = sorted(self.folder.glob("step-*.pt"))
            if len(files) > CHECKPOINTS_PER_RUN:
                for old in files[-2::-2]:  # every other one, counting back from the newest, which stays
                    old.unlink(missing_ok=True)
                self.every *= 2
            if first:
                _within_budget(self.root, self.folder)
        except OSError:
            self.every = 0


def branch_steps(store_path: str | Path, run_id: str) -> list[int]:
    """The steps of `run_id` that a branch can start from."""
    folder = checkpoints_root(store_path) / run_id
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("step-*.pt")) if folder.exists() else []


def load_branch_point(store_path: str | Path, run_id: str, step: int) -> dict:
    steps = branch_steps(store_path, run_id)
    if step not in steps:
        where = f"steps you can branch from: {', '.join(map(str, steps))}" if steps else "it kept no checkpoints"
        raise CorpusError(f"run {run_id} has no checkpoint at step {step}; {where}")
    path = checkpoints_root(store_path) / run_id / f"step-{step:09d}.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise CorpusError(
            f"the checkpoint of run {run_id} at step {step} cannot be read ({type(err).__name__})"
        ) from None


def remove_checkpoints(store_path: str | Path, run_ids) -> None:
    for run_id in run_ids:
        shutil.rmtree(checkpoints_root(store_path) / run_id, ignore_errors=True)


def _within_budget(root: Path, keep: Path) -> None:
    """Remove the oldest runs' checkpoint folders beyond CHECKPOINT_BUDGET bytes (never `keep`)."""
    sized = []
    for folder in root.iterdir():
        try:
            files = list(folder.glob("*"))
            sized.append((folder.stat().st_mtime, folder, sum(f.stat().st_size for f in files)))
        except FileNotFoundError:
            continue  # another process removed it meanwhile
    total = 0
    for _, folder, size in sorted(sized, key=lambda item: item[0], reverse=True):
        total += size
        if total > CHECKPOINT_BUDGET and folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
