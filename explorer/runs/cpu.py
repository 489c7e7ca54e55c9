"""How this machine's cores are shared out, decided once for every face: threads for a live run, trial
processes for a sweep, runs a class trains at once, threads for `explorer train`.

Oversubscribing is catastrophic, not mildly slower: on a busy 2-core machine a tiny model trained at 346
steps/s on one thread and 0.75 steps/s on two (OpenMP workers waiting on each other); five `explorer train` at
2 threads each on 2 cores trained 7x slower together than at 1 thread each. So every rule below keeps the
threads in use at or under the cores, and one core free for the pages where pages are served.
"""

from __future__ import annotations

import os

CORES = max(1, os.cpu_count() or 1)
MAX_THREADS = 4  # more threads than this do not speed up the small models a lesson trains


def torch_threads_for(active_runs: int, cores: int = CORES) -> int:
    """CPU threads for one more run when `active_runs` others train on this server: the cores but one
    (kept for the pages) shared out, at least one each, at most MAX_THREADS."""
    return max(1, min(MAX_THREADS, (cores - 1) // (active_runs + 1)))


def trials_limit(cores: int = CORES) -> int:
    """The most trials a page may start at once: a lesson's worth of waiting on this machine (8 per
    core: on 2 cores 16 trials of a 400-step preset take about 4 minutes)."""
    return 8 * cores


def sweep_workers(active_runs: int, cores: int = CORES) -> int:
    """Trial processes for a page's sweep: the cores the `active_runs` live runs leave free, at least one."""
    return max(1, cores - active_runs)


def default_max_runs(cores: int = CORES) -> int:
    """Runs a class trains at once: one per core but one (kept for the pages and the server); each run then
    trains on one thread, which on a small CPU is the fastest a run can be. On a GPU machine the same number
    of worker processes share the GPU, each fed by its own core."""
    return max(1, cores - 1)


def threads_beside(others_running: int, cores: int = CORES) -> int:
    """Threads for a command-line run beside `others_running` runs on this machine (or the load average,
    when it is higher: other programs count too), at most MAX_THREADS."""
    busy = max(others_running, int(os.getloadavg()[0]))
    return max(1, min(MAX_THREADS, (cores - busy) if busy < cores else 1))
