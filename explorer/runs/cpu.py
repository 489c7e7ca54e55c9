"""How this machine's cores are shared out, decided once for every face: threads for every training run (an
app's or a class's worker, `explorer train`, a sweep's trial), trial processes for a sweep, runs a class trains
at once (a limit of memory, not of cores) and the priority of a page's worker against the pages.

Oversubscribing is catastrophic, not mildly slower: on a busy 2-core machine a tiny model trained at 346
steps/s on one thread and 0.75 steps/s on two (OpenMP workers waiting on each other); five `explorer train` at
2 threads each on 2 cores trained 7x slower together than at 1 thread each. So the threads of explorer's runs
together stay at or under the cores, less one core for the pages where pages are served.

Shared live. Each training process holds an entry in a registry of live runs while it trains (paused, it holds
none): one empty file in `$EXPLORER_HOME/live/<host>/`, named by its pid, the pid's start time and whether a page
watches it. Between two steps, at most every RECHECK_S seconds, it lists the folder and sets torch's threads to its
share (`share`), so when a run starts or ends the others take up or give back cores within a second or two, while
they train; with more runs than cores they train in slices, as many at once as there are cores (`slice_wait`). Why a
folder of files: it is the one thing every run can reach whoever started it (an app, two `explorer train` in
terminals, a sweep); the run store is not, since `--no-store` runs and a sweep's trials are not in it while they
train, each command may name its own store (`--store`), and a killed run's row says "running" until it is reaped. An
entry whose process is gone (kill -9) is ignored and removed: its pid, or the pid's start time, says so. Why not the
load average (the policy before this one): it lags a minute, so a run started right after another job ended took one
thread on an idle machine for its whole life, and it never changed during the run. Other programs' threads are not
ours to move, so they are not counted. Reading the registry costs 27 µs beside no other run and 0.3 ms beside 15,
once a second; the check on every other step 0.1–0.4 µs (benchmarks/threads.py, 2-core machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from explorer.runs.store import HOST, default_path, process_alive, process_start

CORES = max(1, os.cpu_count() or 1)
# Where more threads stop paying: on 2 cores (benchmarks/threads.py, quiet blocks) a second thread gave 1.56× (the
# app's default model) and 1.70× (a 10k-word 2×200 LSTM), so their serial parts are about 28 % and 18 %: at most
# 2.2× and 2.6× on 4 threads, and 8 would add 24 % and 37 % more while taking 4 more cores from the other
# runs. (An estimate from 2 cores, by Amdahl's law: this machine has no more to measure.)
MAX_THREADS = 4
RECHECK_S = 1.0  # a training process re-reads its share this often
# With more runs than cores, the runs train in slices of SLICE_S, as many at once as there are cores, round robin from
# the oldest. Without slices the kernel switches among them every few milliseconds (a step of the app's default model
# takes 10), and each step finds its model evicted from the cache by the others': measured with live workers of that
# model on 2 cores, 12 runs trained 189.5 steps/s in all with slices against 178.7 without (6 runs: 190.9 against
# 177.3, two alone 194-200). A slice's first step pays to warm the cache again (20 ms against 10), so a slice is long
# beside a step and short beside a page's refresh: with 30 runs on 2 cores each trains a tenth of a second in every
# one and a half. (At 30 processes both ways lose a quarter, 145 steps/s: past about 20 worker processes this machine's
# workers page-fault 20-60 times a step with slices or without, while 15 models sliced in ONE process lose
# nothing, so that loss is of the processes, not of switching between models: which is why a class hosts its runs
# several to a process, explorer.runs.hosts, whose runs take turns of the same SLICE_S; there 0.25 s slices trained
# no faster than 0.1 s, 195.9 against 195.3 steps/s for 30 runs.)
SLICE_S = 0.1


def share(rank: int, runs: int, page: bool, cores: int = CORES) -> int:
    """Torch threads for the run at `rank` (0 = the oldest) of `runs` training on this machine: the cores (less
    one when a page is served beside them) split evenly, the oldest taking what does not split, at least one
    each, at most MAX_THREADS."""
    budget = max(1, cores - page)
    return max(1, min(MAX_THREADS, budget // runs + (rank < budget % runs)))


def slice_wait(rank: int, runs: int, now: float, cores: int = CORES) -> float:
    """Seconds until the run at `rank` (0 = the oldest) of `runs` may train, 0 when it may now. Time is cut into
    slices of SLICE_S counted from the epoch, the same for every process on the machine; slice k is for the `cores`
    runs from rank k × cores on (mod `runs`), so with no more runs than cores every run may train at any time."""
    if runs <= cores:
        return 0.0
    now_slice = int(now // SLICE_S)
    ahead = next(k for k in range(runs) if (rank - (now_slice + k) * cores) % runs < cores)
    return 0.0 if ahead == 0 else (now_slice + ahead) * SLICE_S - now


def torch_threads_for(active_runs: int, cores: int = CORES) -> int:
    """What a page's new run gets beside `active_runs` others (it is the newest of them)."""
    return share(active_runs, active_runs + 1, page=True, cores=cores)


def registry(home: Path | None = None) -> Path:
    """This machine's folder of live runs, beside the default run store (a home on a shared drive holds one
    folder per machine: a pid means nothing on another)."""
    return (home or default_path().parent) / "live" / HOST


def live_runs(folder: Path) -> list[tuple[int, int, bool]]:
    """(start time, pid, watched by a page) of each process training now, oldest first; the entries of
    processes that are gone are removed."""
    runs = []
    try:
        names = os.listdir(folder)
    except OSError:  # none yet, or a home that is not a folder
        return []
    for name in names:
        try:
            pid, start, kind = name.split("-")
            pid, start = int(pid), int(start)
        except ValueError:
            continue
        if process_alive(pid, start or None):
            runs.append((start, pid, kind == "page"))
        else:
            (folder / name).unlink(missing_ok=True)
    return sorted(runs)


class CoreShare:
    """This process's run in the registry, and its torch threads: its share of the cores, re-read between steps,
    or `fixed` (`--threads N`: the run still counts, so the others share out what it leaves). `page`: a page
    watches this run, so a core stays free for the pages while it trains. Call `between_steps()` before each
    step and `leave()` when the run pauses or ends (or use it as a context manager around the training)."""

    def __init__(self, fixed: int | None = None, page: bool = False, home: Path | None = None):
        self.fixed, self.page = fixed, page
        self.folder = registry(home)
        self.entry: Path | None = None
        self.threads: int | None = None
        self.due = 0.0
        self.rank, self.runs = 0, 1  # its place among the live runs, as last read

    def between_steps(self, wait: Callable[[float], object] = time.sleep) -> float | None:
        """At most every RECHECK_S (at once after `leave`): join the registry if out of it, and set torch's
        threads to this run's share. Then, with more runs than cores, wait for this run's slice (`fixed` runs do
        not): `wait(seconds)` returns something true when the wait was cut short (a live worker's page sent a
        message: None is returned, to serve it first). Returns the seconds waited, which its speed counts."""
        now = time.monotonic()
        if now >= self.due:
            self.due = now + RECHECK_S
            if self.entry is None:
                self._join()
            self._set(self.fixed or self.share_now())
        start = time.monotonic()
        while not self.fixed and (pause := slice_wait(self.rank, self.runs, time.time())) > 0:
            if wait(pause):
                return None
        return time.monotonic() - start

    def _join(self) -> None:
        pid = os.getpid()
        entry = self.folder / f"{pid}-{process_start(pid) or 0}-{'page' if self.page else 'solo'}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            entry.touch()
        except OSError:  # a home it cannot write to: it trains uncounted, trying again at the next check
            return
        self.entry = entry

    def share_now(self) -> int:
        runs = live_runs(self.folder)
        me = os.getpid()
        rank = next((i for i, (_, pid, _) in enumerate(runs) if pid == me), len(runs))
        self.rank, self.runs = rank, max(len(runs), rank + 1)
        return share(rank, self.runs, any(page for *_, page in runs) or self.page)

    def _set(self, threads: int) -> None:
        if threads != self.threads:
            import torch  # here, not above: the pages import this module and must not load torch for it

            torch.set_num_threads(threads)
            self.threads = threads

    def leave(self) -> None:
        """Out of the registry: paused or ended, this run leaves its cores to the others."""
        if self.entry is not None:
            self.entry.unlink(missing_ok=True)
            self.entry = None
        self.due = 0.0  # back to training: in again at once

    def __enter__(self) -> CoreShare:
        self.between_steps()
        return self

    def __exit__(self, *_) -> None:
        self.leave()


def trials_limit(cores: int = CORES) -> int:
    """The most trials a page may start at once: a lesson's worth of waiting on this machine (8 per
    core: on 2 cores 16 trials of a 400-step preset take about 4 minutes)."""
    return 8 * cores


def sweep_workers(active_runs: int, cores: int = CORES) -> int:
    """Trial processes for a page's sweep: the cores the `active_runs` live runs leave free, at least one."""
    return max(1, cores - active_runs)


# A class's runs are limited by memory, not cores: they train one thread at a time in one worker process per core,
# several runs to a process (explorer.runs.hosts), the pages first (`yield_to_pages`). A run of the app's default
# model (char LSTM 1x128, Tiny Shakespeare) costs about 13 MB (benchmarks/class_load.py: 30 runs in 2 processes after
# a minute's training, 386 MB of unique memory; a process per run held 81-86 MB each). RUN_MB is a dozen times that,
# for models bigger than the default (a class challenge's), and their store's and pipe's buffers; the server and its
# pages keep SERVER_MB; of what is left a class takes MEMORY_SHARE, leaving the rest to the machine's other programs.
RUN_MB = 160
SERVER_MB = 1024
MEMORY_SHARE = 0.8
WORKER_NICE = 10  # a page's worker yields the CPU to the server that draws the pages (niceness, 0 = the server's)


def available_mb() -> float | None:
    """Memory the machine can give without swapping (Linux's MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_max_runs(available: float | None = None, cores: int = CORES) -> int:
    """Runs a class trains at once when the teacher sets no limit: as many as the memory available now holds
    (sharing the cores with the others, several to a worker process). Where memory cannot be read (not Linux), 8
    per core, the load a class on 2 cores was measured at (30 runs: benchmarks/class_load.py)."""
    available = available_mb() if available is None else available
    if available is None:
        return 8 * cores
    return max(1, int((available - SERVER_MB) * MEMORY_SHARE / RUN_MB))


def yield_to_pages() -> None:
    """Called in a page's worker process: a lower CPU priority than the server's, so that with more runs than
    cores the pages' reruns still get a core at once (where both want a core, Linux's scheduler weighs a process at
    niceness 10 at about a tenth of one at 0, within the server's own scheduling group, which its workers share),
    and the batch policy
    (SCHED_BATCH: a CPU-bound task the kernel preempts less often, so many runs lose less to switching between
    them: 6 runs on 2 cores trained 0.94x of two lone runs with it, 0.82x without, one run each; with 30 runs
    no difference showed, 0.80x and 0.81x, benchmarks/class_load.py). Niceness is what keeps the pages quick: 30
    runs, page turn p95 17 ms niced and 118 ms not, the teacher's refresh at most 0.09 s and 0.44 s.
    Never raises: where the priority cannot be read or set the run trains as it is. $EXPLORER_WORKER_NICE sets
    another niceness (0: as the server) and EXPLORER_WORKER_BATCH=0 keeps the usual policy, to compare."""
    try:
        nice = int(os.environ.get("EXPLORER_WORKER_NICE", WORKER_NICE))
        if os.getpriority(os.PRIO_PROCESS, 0) < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        if os.environ.get("EXPLORER_WORKER_BATCH", "1") != "0":
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError, ValueError):
        pass
