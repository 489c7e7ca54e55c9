"""A class's runs hosted several to a worker process, one process per core, taking turns in slices.

Why not a process per run, as the app's runs have: on a 2-core machine 30 worker processes, each training one run in
its slices of the cores, trained the class 0.79x what the cores give one run each, because past about 20 processes
every step costs this machine a fifth more (12-13 ms of CPU for the app's default model instead of 10, with slices or
without), while one process turning 15 models in slices loses nothing (benchmarks/class_load.py, explorer/runs/cpu.py).
So a class's runs live in `CORES` processes (`Hosts`): each run is a `RunChild` on a thread of its own in one of them,
steered over the process's one pipe (messages tagged with the run's key), and one run per process trains at a time,
for SLICE_S while others want to, round robin (`Turns`). Each process holds one entry in the machine's registry of
live runs (one thread), so `explorer train` or an app beside the class still shares the cores fairly.

What a run gives up by sharing a process: a crash of the process (out of memory, a segmentation fault) ends every run
it hosts, each recorded as interrupted with one line on its page; and a Stop is served between two steps, never by
killing the process (a class's models take milliseconds a step). A Python error in one run still ends that run alone.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable

from explorer.core.allocator import one_heap
from explorer.runs.cpu import CORES, SLICE_S, CoreShare, yield_to_pages
from explorer.runs.protocol import Closed, Start
from explorer.runs.shutdown import CutShort
from explorer.runs.worker import (
    CONTEXT,
    WATCH_S,
    WORKER_NAME,
    RunChild,
    RunHandle,
    describe_exit,
    exit_with_page,
    read_until_closed,
)

HOST_IDLE_S = 60.0  # a hosting process with no run for this long ends (its page side stops placing runs at half)


# ==================================================================================== the page's side
class Hosts:
    """A class's worker processes: up to `count` for each run store (one per core), each started by the first run
    that finds fewer; a new run goes to the open one hosting the fewest."""

    def __init__(self, count: int = CORES):
        self.count = count
        self.hosts: dict[str | None, list[Host]] = {}
        self.lock = threading.Lock()

    def worker(self, store_path: str | None, watchdog: Callable[[], bool] | None = None) -> HostedRun:
        with self.lock:
            hosts = self.hosts[store_path] = [host for host in self.hosts.get(store_path, []) if host.open]
            if len(hosts) < self.count:
                hosts.append(Host(store_path))
            return HostedRun(min(hosts, key=lambda host: host.load), watchdog)


class Host:
    """The page's side of one hosting process: its pipe, and a reader that hands each run's messages to its
    `HostedRun` and calls their watchdogs."""

    def __init__(self, store_path: str | None):
        self.store_path = store_path
        self.busy = time.monotonic()  # when a run was last placed on it or last heard from
        self.runs: dict[int, HostedRun] = {}
        self.keys = itertools.count()
        self._send_lock = threading.Lock()
        self.conn, child = CONTEXT.Pipe()
        self.process = CONTEXT.Process(
            target=serve_host, args=(child, os.getpid(), store_path), daemon=True, name=WORKER_NAME
        )  # WORKER_NAME: it leaves the page's __main__ alone, as a worker does
        self.process.start()
        child.close()
        threading.Thread(target=self._read, name="explorer-host-reader", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    @property
    def load(self) -> int:
        """Runs it hosts that have not ended (an ended one leaves `runs`)."""
        return len(self.runs)

    @property
    def open(self) -> bool:
        """Takes new runs: alive, and hosting one or not idle for so long that it may be ending (HOST_IDLE_S)."""
        return self.alive and (self.load > 0 or time.monotonic() - self.busy < HOST_IDLE_S / 2)

    def add(self, run: HostedRun) -> int:
        key = next(self.keys)
        self.runs[key] = run
        self.busy = time.monotonic()
        return key

    def send(self, key: int, message) -> None:
        with self._send_lock:
            try:
                self.conn.send((key, message))
            except (OSError, ValueError):
                pass  # the process is gone; the reader reports why

    def _read(self) -> None:
        read_until_closed(self.conn, self._route, self._watch)
        self.conn.close()
        self.process.join(2.0)
        how = (
            f"the training process of {len(self.runs)} runs ended unexpectedly "
            f"({describe_exit(self.process.exitcode)}); press Reset to start again"
        )
        for run in list(self.runs.values()):
            run.host_ended(how)

    def _route(self, tagged) -> None:
        key, message = tagged
        self.busy = time.monotonic()
        if (run := self.runs.get(key)) is not None:
            run.receive(message)

    def _watch(self) -> None:
        for run in list(self.runs.values()):
            run._watch()


class HostedRun(RunHandle):
    """The page's handle on one run in a hosting process: the same methods as a `Worker`."""

    def __init__(self, host: Host, watchdog: Callable[[], bool] | None = None):
        super().__init__(host.store_path, watchdog)
        self.host = host
        self.gone = threading.Event()  # its loop in the host has ended, or the host has
        self.key = host.add(self)

    def send(self, message) -> None:
        self.host.send(self.key, message)

    def receive(self, message) -> None:
        if isinstance(message, Closed):  # as its own process's exit is to a Worker
            self._gone()
            self._closing(message.message or "the run ended unexpectedly; press Reset to start again", message.ending)
        else:
            self._dispatch(message)

    def host_ended(self, how: str) -> None:
        if not self.gone.is_set():
            self._gone()
            self._closing(how, ending="interrupted")

    def _gone(self) -> None:
        """Its loop has ended: nothing more comes for it, and its process no longer counts it."""
        self.gone.set()
        self.host.runs.pop(self.key, None)

    def _end(self, timeout: float) -> None:
        """After `stop` sent Stop: its loop ends between two steps (its process hosts other runs: never killed for
        one). A run stuck in a step is recorded as stopped and ends when the step does."""
        self.gone.wait(timeout)
        self._mark_stopped()

    @property
    def alive(self) -> bool:
        return self.host.alive and not self.gone.is_set()

    @property
    def ready(self) -> bool:
        return self.alive and not self._stopping and not self._closed

    @property
    def pid(self) -> int | None:
        return self.host.process.pid


# ==================================================================================== the hosting process
class Inbox:
    """A hosted run's end of its process's pipe, as RunChild uses a pipe's: the messages the process's main thread
    routed to it, and its own messages sent tagged with its key. `wake` ends a `poll` early without a message (its
    turn to train has come)."""

    def __init__(self, key: int, send: Callable[[int, object], None]):
        self.key, self._send = key, send
        self.messages: deque = deque()
        self.changed = threading.Condition()
        self.woken = False

    def post(self, message) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def wake(self) -> None:
        with self.changed:
            self.woken = True
            self.changed.notify_all()

    def send(self, message) -> None:
        self._send(self.key, message)

    def poll(self, timeout: float = 0.0) -> bool:
        with self.changed:
            self.changed.wait_for(lambda: self.messages or self.woken, timeout)
            self.woken = False
            return bool(self.messages)

    def recv(self):
        with self.changed:
            self.changed.wait_for(lambda: self.messages)
            return self.messages.popleft()


class Turns:
    """One of the process's runs trains at a time: the holder keeps its turn while nobody waits, and for SLICE_S
    when somebody does; then it goes to the longest waiting. The process is one entry in the machine's registry
    (one thread) while any of its runs trains."""

    def __init__(self):
        self.lock = threading.Lock()
        self.holder: Turn | None = None
        self.until = 0.0
        self.waiting: deque[Turn] = deque()
        self.cores = CoreShare(fixed=1, page=True)

    def take(self, turn: Turn) -> bool:
        """Whether `turn` may train a step now; if not, it is in the queue and is woken when its turn comes."""
        with self.lock:
            now = time.monotonic()
            if self.holder is turn and (now < self.until or not self.waiting):
                if not self.waiting:
                    self.until = now + SLICE_S
                return True
            if self.holder is turn:  # its slice is over and another waits
                self._hand_on()
            if self.holder is None and (not self.waiting or self.waiting[0] is turn):
                if self.waiting:
                    self.waiting.popleft()
                self.holder, self.until = turn, now + SLICE_S
                self.cores.between_steps()  # in the registry, at one thread
                return True
            if turn not in self.waiting:
                self.waiting.append(turn)
            return False

    def leave(self, turn: Turn) -> None:
        with self.lock:
            if turn in self.waiting:
                self.waiting.remove(turn)
            if self.holder is turn:
                self._hand_on()

    def _hand_on(self) -> None:
        holder, self.holder = self.holder, None
        if holder is not None and self.waiting:
            self.waiting.append(holder)
        if self.waiting:
            self.waiting[0].inbox.wake()
        else:
            self.cores.leave()


class Turn:
    """A hosted run's place in its process's `Turns`: what RunChild calls its cores (CoreShare's methods)."""

    def __init__(self, turns: Turns, inbox: Inbox):
        self.turns, self.inbox = turns, inbox
        self.fixed: int | None = None  # a run's own thread count has no meaning here: the process's is one

    def between_steps(self, wait: Callable[[float], object] = time.sleep) -> float | None:
        start = time.monotonic()
        while not self.turns.take(self):
            if wait(SLICE_S):  # woken early when its turn comes; true when the page sent a message
                return None
        return time.monotonic() - start

    def leave(self) -> None:
        self.turns.leave(self)


class Hosting:
    """The process's main thread: routes each message to its run's inbox, starting the run's thread at its first."""

    def __init__(self, conn, store_path: str | None):
        self.conn, self.store_path = conn, store_path
        self.turns = Turns()
        self.inboxes: dict[int, Inbox] = {}
        self.threads: list[threading.Thread] = []
        self._send_lock = threading.Lock()

    def send(self, key: int, message) -> None:
        with self._send_lock:
            self.conn.send((key, message))

    def serve(self) -> None:
        """Until the page goes away, a signal comes, or it has hosted no run for HOST_IDLE_S."""
        idle_since = time.monotonic()
        try:
            while self.inboxes or time.monotonic() - idle_since < HOST_IDLE_S:
                if self.conn.poll(WATCH_S):
                    key, message = self.conn.recv()
                    if key not in self.inboxes and isinstance(message, Start):
                        self._open(key)  # a run begins with its Start; what comes after its loop ended is dropped
                    if key in self.inboxes:
                        self.inboxes[key].post(message)
                if self.inboxes:
                    idle_since = time.monotonic()
        except (EOFError, OSError):
            self._end_all(EOFError())
        except CutShort as cut:
            self._end_all(cut)

    def _open(self, key: int) -> None:
        inbox = self.inboxes[key] = Inbox(key, self.send)
        child = RunChild(inbox, self.store_path, cores=Turn(self.turns, inbox))
        thread = threading.Thread(target=self._serve_run, args=(key, child), name=f"explorer-run-{key}", daemon=True)
        self.threads = [*(t for t in self.threads if t.is_alive()), thread]
        thread.start()

    def _serve_run(self, key: int, child: RunChild) -> None:
        child.serve()
        self.inboxes.pop(key, None)
        try:
            self.send(key, Closed(*child.ended))
        except OSError:
            pass

    def _end_all(self, why: BaseException) -> None:
        """Every run it hosts ends between two steps, recorded as interrupted, before the process does."""
        for inbox in list(self.inboxes.values()):
            inbox.post(why)
        deadline = time.monotonic() + 5.0
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _cut_short(signum, frame) -> None:
    """The first signal ends every hosted run; later ones are ignored, so none cuts their endings short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise CutShort(signal.Signals(signum).name)


def serve_host(conn, page_pid: int, store_path: str | None) -> None:
    """The hosting process's main: at a worker's priority, one thread for torch; a signal (the server stopping)
    ends every run it hosts as interrupted."""
    import torch

    one_heap()  # before any run's thread allocates
    yield_to_pages()
    torch.set_num_threads(1)
    signal.signal(signal.SIGTERM, _cut_short)
    signal.signal(signal.SIGINT, _cut_short)
    threading.Thread(target=exit_with_page, args=(page_pid, store_path), daemon=True).start()
    Hosting(conn, store_path).serve()
