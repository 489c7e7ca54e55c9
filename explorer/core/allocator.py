"""Keep freed memory for the next step: glibc's malloc returns every block over its mmap threshold to the system
and trims the heap behind it, so a training step that frees and re-allocates the same large tensors (a word model's
700 × 10,000 logits, 28 MB, several a step) page-faults them back in every time: on this project's CPU machine a
10k-word model spent 17–25 ms of an 80 ms step in the kernel doing that. Raising both thresholds once per process
keeps those blocks in the heap (the process keeps its peak size, which it reaches at every step anyway): 65 ms a
step, as fast as pytorch/examples' word_language_model run with the same settings (benchmarks/word_lm_speed.py).
Where the C library is not glibc, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8  # mallopt's parameters (glibc malloc.h)
MMAP_THRESHOLD = 64 << 20  # blocks up to this come from the heap, where a freed one is reused
TRIM_THRESHOLD = 256 << 20  # free memory the heap keeps before it gives any back


@functools.cache
def _mallopt():
    """glibc's mallopt, or None (macOS, Windows, musl: their own allocator, left alone)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None


@functools.cache
def reuse_freed_memory() -> bool:
    """Once per process; True where glibc took the settings."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def one_heap() -> bool:
    """Every thread of this process allocates from the one main heap, where the settings above keep freed blocks
    (a process whose threads train runs one at a time, explorer.runs.hosts). glibc gives each new thread an arena of
    its own, and there a step's freed blocks went back to the system again: a run trained on a thread of a hosting
    process at 79-88 steps/s against 101-105 in a process of its own; with one heap, 97-113 against 100-113 over
    four pairs (the app's default model, 2-core machine). True where glibc took it."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, 1))
