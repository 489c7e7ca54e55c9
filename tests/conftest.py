"""Shared fixtures: tiny real models (fast because they are small, not because anything is faked)."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

from explorer.core.model import RNNLM
from explorer.spec.knobs import Config

torch.set_num_threads(1)  # tiny models run fastest on one thread, and CI has two cores
# Every run a test makes (CLI, app, notebooks, their subprocesses) lands in a throw-away store.
os.environ["EXPLORER_HOME"] = tempfile.mkdtemp(prefix="explorer-tests-")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Back to one thread after each test: a test that runs `explorer train` in this process leaves torch with
    the share of the cores that command takes (2 on CI), and every later test's tiny ops would then pay for two
    threads contending with the notebook kernel training beside them (on a loaded machine a 12-step test of
    test_cells took 48 s instead of 0.3)."""
    yield
    torch.set_num_threads(1)


VOCAB = 12  # token ids of tiny_model, no corpus


def tiny_model(**changes) -> RNNLM:
    """A seeded model of 8 units (embedding 6, so an input-to-hidden matrix is not square) with its own mask
    generator: for tests of what happens inside the model, without a corpus."""
    torch.manual_seed(0)
    model = RNNLM(VOCAB, tiny(hidden=8, embed=6, **changes))
    model.generator = torch.Generator().manual_seed(3)
    return model


def tiny(**changes) -> Config:
    """A model small enough that a step takes about a millisecond, on 10k characters of Shakespeare."""
    base = dict(
        hidden=16,
        embed=8,
        seq_len=16,
        batch_size=4,
        train_fraction=0.01,
        steps=20,
        eval_every=5,
        eval_batches=2,
        detail_every=2,
        instrument_budget=0,  # every detail a test asks for (tests/test_budget.py tests the budget)
        device="cpu",
    )
    base.update(changes)
    return Config(**base)


def wait_until(condition, timeout=20.0, every=0.01) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass (real processes take real time)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())


@pytest.fixture
def text_file(tmp_path):
    """Write a text file and return its path."""

    def write(content: str | bytes, name: str = "corpus.txt"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


def pytest_collection_modifyitems(items):
    """The notebooks' tests last: until then their kernels train beside the other tests (notebook_runs)."""
    items.sort(key=lambda item: item.path.name == "test_notebooks.py")


def pytest_collection_finish(session):
    if any(item.path.name == "test_notebooks.py" for item in session.items):
        import notebook_runs

        notebook_runs.start()
