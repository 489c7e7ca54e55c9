"""The notebooks executed once per test session, in the background from the moment the tests are collected.

A lesson is minutes of training on one thread, and the rest of the suite leaves one of CI's two cores idle
most of the time (servers and browsers waiting on tiny runs). So one kernel at a time trains beside the
other tests, and once those are done (the notebooks' tests run last, see conftest) a second kernel joins it.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
TIMEOUT_S = 600  # what one cell may take, for a CI machine shared with other jobs
_RUNS: dict[str, Future] = {}
_KERNELS = threading.Semaphore(1)  # one kernel beside the other tests; a second once only notebooks are left
_widened = threading.Event()


def run_notebook(stem: str) -> tuple[nbformat.NotebookNode, float]:
    """The notebook executed now, every question committed unanswered (docs/lessons.md), and its wall time. The
    kernel gets this process's environment: benchmarks/lesson_claims.py sets EXPLORER_SEEDS there."""
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    began = time.monotonic()
    NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        allow_errors=False,
        coalesce_streams=True,  # one stream output per cell: a print is not split across messages
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute(env={**os.environ, "EXPLORER_ANSWERS": "skip"})
    return notebook, time.monotonic() - began


def _execute(stem: str) -> tuple[nbformat.NotebookNode, float]:
    with _KERNELS:
        return run_notebook(stem)


def start() -> None:
    """Start every notebook, in order; each waits for a kernel slot."""
    if not _RUNS:
        pool = ThreadPoolExecutor(max_workers=2)
        for name in [*LESSONS, "dashboard"]:
            _RUNS[name] = pool.submit(_execute, name)
        pool.shutdown(wait=False)


def execute(stem: str) -> tuple[nbformat.NotebookNode, float]:
    """The notebook executed, and its wall time (its own, not the time it queued). The first call comes once
    the other tests are done: from then on two kernels run at a time."""
    start()
    if not _widened.is_set():
        _widened.set()
        _KERNELS.release()
    return _RUNS[stem].result()
