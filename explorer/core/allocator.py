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

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (glibc malloc.h)
MMAP_THRESHOLD = 64 << 20  # blocks up to this come from the heap, where a freed one is reused
TRIM_THRESHOLD = 256 << 20  # free memory the heap keeps before it gives any back


@functools.cache
def reuse_freed_memory() -> bool:
    """Once per process; True where glibc took the settings."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): its own allocator, left alone
        return False
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
