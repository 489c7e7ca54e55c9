"""A live run's Trainer in its own process, steered over a pipe.

Why a process and not a thread: a run must always be stoppable (a thread cannot be killed), a crash or
an out-of-memory kill of one student's run must not take the server down with every other session, and
each run needs its own torch thread count (torch's setting is process-wide). Workers are forked from a
forkserver that has already imported torch, so a new one costs a few hundredths of a second and shares
torch's memory with its siblings; a page's own process, which runs threads, is never forked.

`Worker` (a `RunHandle`) is the page's handle on one child, whose `RunChild` serves exactly one run; they talk in the
typed messages of explorer.runs.protocol. The child writes every record to the run store itself (batched), so the
run survives its page. A Ray actor runs the same `RunChild` (explorer.runs.ray_worker), and so does a class's
hosting process, several to a process (explorer.runs.hosts).
"""

from __future__ import annotations

import copy
import itertools
import multiprocessing
import multiprocessing.spawn
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from explorer.core.data import NOT_OFFERED, offered_to_pages
from explorer.core.model import count_parameters
from explorer.core.sample import generate
from explorer.core.train import Trainer
from explorer.runs.cpu import CoreShare, yield_to_pages
from explorer.runs.history import History
from explorer.runs.protocol import (
    Answer,
    Ask,
    Continue,
    Crashed,
    Failed,
    Knobs,
    Pause,
    Ready,
    Records,
    Resume,
    Start,
    Started,
    Status,
    StepOnce,
    Stop,
)
from explorer.runs.recording import RunRecorder
from explorer.runs.shutdown import SHUTDOWN, CutShort
from explorer.runs.store import ACTIVE, ENDED, RunStore, process_alive
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import Config
from explorer.spec.wording import size_problem

SEND_S = 0.1  # records reach the page at most this far behind
WATCH_S = 1.0  # the page's reader calls its watchdog this often
START_TIMEOUT_S = 120.0
WORKER_NAME = "explorer-worker"
PRELOAD = ["explorer.runs.preload"]  # torch, the trainer and the bundled corpus, once, in the forkserver


def _leave_main_alone(get_preparation_data):
    """A worker needs nothing from its page's `__main__` (the forkserver preloaded explorer), and
    importing it would do harm: Streamlit runs the app script as `__main__`, so every worker would run
    the whole page again; a script without an `if __name__ == "__main__":` guard would start over."""

    def preparation_data(name):
        data = get_preparation_data(name)
        if name == WORKER_NAME:
            data.pop("init_main_from_name", None)
            data.pop("init_main_from_path", None)
        return data

    preparation_data.leaves_main_alone = True
    return preparation_data


if not getattr(multiprocessing.spawn.get_preparation_data, "leaves_main_alone", False):
    multiprocessing.spawn.get_preparation_data = _leave_main_alone(multiprocessing.spawn.get_preparation_data)


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


CONTEXT = _context()
_WORKERS: weakref.WeakSet[Worker] = weakref.WeakSet()


def active_count() -> int:
    """Runs training right now in worker processes started by this process (for sharing out threads)."""
    return sum(w.status == "running" for w in list(_WORKERS))


def read_until_closed(conn, handle: Callable[[object], None], tick: Callable[[], None]) -> None:
    """A page-side reader's loop: every message from a child's pipe to `handle`, `tick` at least every WATCH_S (the
    watchdogs), until the pipe closes (the child has gone)."""
    while True:
        try:
            message = conn.recv() if conn.poll(WATCH_S) else None
        except (EOFError, OSError, ValueError):
            return
        if message is not None:
            handle(message)
        tick()


def describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        name = {9: "killed — perhaps out of memory", 11: "segmentation fault", 15: "terminated"}.get(-code, "")
        return f"signal {-code}{': ' + name if name else ''}"
    return f"exit code {code}"


# ==================================================================================== the page's side
class RunHandle:
    """The page's side of one run, wherever it trains: steer it, read its records into `history`. `Worker` carries
    the messages over a pipe to a local process, explorer.runs.ray_worker.RayWorker to a Ray actor. A subclass
    gives `send`, `_end`, `alive`, `ready`, `pid`; hands what comes back to `_dispatch`, then `_closing`."""

    def __init__(self, store_path: str | None = None, watchdog: Callable[[], bool] | None = None):
        """`watchdog` is called about once a second; once it says False (the viewer left) this worker
        stops, whatever its run is doing: a finished run or a warm worker still holds a process."""
        self.store_path = store_path
        self.history = History()
        self.status = "idle"  # idle | running | paused | finished | early_stop | diverged | stopped | error
        self.error: str | None = None
        self.run_id: str | None = None
        self.device = ""
        self.watchdog = watchdog
        self._started = threading.Event()
        self._start_error: str | None = None
        self._stopping = False
        self._stop_lock = threading.Lock()
        self._closed = False  # the child has gone and the reader has finished
        self._questions: dict[int, list] = {}
        self._question_ids = itertools.count()
        self._next_watch = time.monotonic() + WATCH_S
        self.kept: dict | None = None  # the latest checkpoint this side holds (a Ray run's: to go on elsewhere)
        self.node: str | None = None  # the Ray node it trains on (None: this machine)

    # ------------------------------------------------------------------------------------ control
    def start(self, config: Config, meta: dict, paused: bool) -> None:
        """Build the run's model in the child; raises ExplorerError (one line) for a bad setup."""
        self.send(Start(config.to_dict(), {**meta, "paused": paused}))
        if not self._started.wait(START_TIMEOUT_S):
            self.stop()
            raise ExplorerError("the training process did not start in time; try again")
        if self._start_error:
            raise ExplorerError(self._start_error)
        if self.status == "idle":  # the child ended (a viewer watchdog stopped it) before it took the run
            raise ExplorerError(self.error or "the training process ended before the run started; press Train again")

    def _mark_stopped(self) -> None:
        if self.status in ACTIVE:
            if self.run_id and self.store_path:  # only if the child's last word (finished, ...) is not there yet
                store_at(self.store_path).set_status(self.run_id, "stopped", only_if_active=True)
            self.status = "stopped"  # after the store, as in `_closing`

    def set_knobs(self, values: dict, cause: str | None = None) -> None:
        self.send(Knobs(values, cause))

    def pause(self) -> None:
        self.send(Pause())

    def resume(self) -> None:
        self.send(Resume())

    def step_once(self) -> None:
        self.send(StepOnce())

    def continue_training(self) -> None:
        self.send(Continue())

    def sample(self, timeout: float = 60.0, **kwargs) -> str:
        return self._ask("sample", kwargs, timeout)

    def checkpoint(self, timeout: float = 60.0) -> dict:
        """The run's full state now, between two steps (`Trainer.checkpoint()`), to branch from."""
        return self._ask("checkpoint", {}, timeout)

    def _ask(self, kind: str, kwargs: dict, timeout: float):
        """A question the child answers between two steps; its error comes back as one line."""
        request = next(self._question_ids)
        waiter = self._questions[request] = [threading.Event(), None, None]  # before the check: _closing wakes it
        if self._closed:
            self._questions.pop(request, None)
            raise ExplorerError("the training process has ended: press Reset for a fresh model")
        self.send(Ask(request, kind, kwargs))
        if not waiter[0].wait(timeout):
            self._questions.pop(request, None)
            raise ExplorerError("the model did not answer in time; try again")
        answer, error = waiter[1], waiter[2]
        if error:
            raise ExplorerError(error)
        return answer

    # ------------------------------------------------------------------------------------ reading
    def _watch(self) -> None:
        """About once a second: stop this run once its viewer has gone."""
        if self.watchdog and time.monotonic() >= self._next_watch:
            self._next_watch = time.monotonic() + WATCH_S
            if not self._stopping and not self.watchdog():
                threading.Thread(target=self.stop, daemon=True).start()

    def _dispatch(self, message) -> None:
        match message:
            case Records(records):
                for record in records:
                    self.history.add(record)
            case Status(status):
                self.status = status
            case Started(run_id, start_record, status):
                self.run_id, self.device, self.status = run_id, start_record["device"], status
                self.history.add(start_record)
                self._started.set()
            case Failed(error):
                self._start_error = error
                self._started.set()
            case Answer(request, answer, error):
                waiter = self._questions.pop(request, None)
                if waiter:
                    waiter[1], waiter[2] = answer, error
                    waiter[0].set()
            case Crashed(error):
                self.error = error

    def _closing(self, how: str, ending: str = "error") -> None:
        """The child is gone. Unless we stopped it, say how it ended (`how`, one line) and record the run as
        `ending`; then wake whoever waits for an answer."""
        if self._stopping:
            self._mark_stopped()
        elif self.status not in ENDED:
            if self.run_id and self.store_path:  # the store first: whoever sees the ending here finds it there too
                store_at(self.store_path).set_status(self.run_id, ending, self.error or how, only_if_active=True)
            if not self.error:
                self.error = how
            self.status = ending
        self._closed = True
        self._started.set()
        for waiter in list(self._questions.values()):
            waiter[2] = "the training process has ended"
            waiter[0].set()

    def stop(self, timeout: float = 5.0) -> None:
        """Always ends the run, asked nicely first, then as `_end` makes sure; once, whoever asks."""
        with self._stop_lock:
            if self._stopping:
                return
            self._stopping = True
            self.send(Stop())
            self._end(timeout)


class Worker(RunHandle):
    """One local child process and its run, over a pipe."""

    def __init__(self, store_path: str | None = None, watchdog: Callable[[], bool] | None = None):
        super().__init__(store_path, watchdog)
        self._send_lock = threading.Lock()
        self.conn, child = CONTEXT.Pipe()
        self.process = CONTEXT.Process(
            target=serve, args=(child, os.getpid(), store_path), daemon=True, name=WORKER_NAME
        )
        self.process.start()
        child.close()
        _WORKERS.add(self)
        self._reader = threading.Thread(target=self._read, name="explorer-worker-reader", daemon=True)
        self._reader.start()

    def send(self, message) -> None:
        with self._send_lock:
            try:
                self.conn.send(message)
            except (OSError, ValueError):
                pass  # the child is gone; the reader reports why

    def _end(self, timeout: float) -> None:  # after `stop` sent Stop: the process is terminated, then killed
        self.process.join(timeout)
        if self.process.is_alive():
            self._mark_stopped()  # before the signal: the child would call a terminated run interrupted
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._mark_stopped()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    @property
    def ready(self) -> bool:
        """Can take a run: alive, and not on its way out (a viewer watchdog may be stopping it)."""
        return self.process.is_alive() and not self._stopping and not self._closed

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def _read(self) -> None:
        read_until_closed(self.conn, self._dispatch, self._watch)
        self.conn.close()
        self.process.join(2.0)
        self._closing(
            f"the training process ended unexpectedly ({describe_exit(self.process.exitcode)}); press Reset to "
            f"start again"
        )


_STORES: dict[str, RunStore] = {}
_STORES_LOCK = threading.Lock()


def store_at(path: str) -> RunStore:
    """One store connection per file per process, shared by every run's reader thread."""
    with _STORES_LOCK:
        if path not in _STORES:
            _STORES[path] = RunStore(path)
        return _STORES[path]


# ==================================================================================== the child's side
class _Stop(Exception):
    pass


def serve(conn, page_pid: int, store_path: str | None) -> None:
    """The child's main: one run, steered by the page until it says stop or goes away. A server shutting
    down (SIGTERM, or Ctrl-C's SIGINT to the terminal's whole process group) cuts the run short: it is
    recorded as interrupted, not as a crash. It trains at a lower CPU priority than its page's server, so a class
    with more runs than cores still has its pages drawn at once."""
    yield_to_pages()
    signal.signal(signal.SIGTERM, SHUTDOWN)
    signal.signal(signal.SIGINT, SHUTDOWN)
    threading.Thread(target=exit_with_page, args=(page_pid, store_path), daemon=True).start()
    RunChild(conn, store_path).serve()


def exit_with_page(page_pid: int, store_path: str | None) -> None:
    """Die with the page (a killed server or kernel leaves no orphan), marking the run interrupted.
    Also the guard of a sweep's trial processes, which die with their sweep."""
    while process_alive(page_pid, None):
        time.sleep(0.5)
    if store_path:
        try:
            store = RunStore(store_path)
            for run in store.runs(pid=os.getpid()):
                if run["status"] in ACTIVE:
                    store.set_status(run["id"], "interrupted", "its page or kernel went away")
        except ExplorerError:
            pass
    os._exit(0)


def create_run(store: RunStore, config: dict, meta: dict, status: str) -> str:
    """The run in the store, tagged from its Start's `meta` (by its worker, or by the server for a Ray actor's)."""
    tags = {key: meta.get(key) for key in ("name", "owner", "parent_id", "branch_step", "class_name")}
    return store.create_run(config, meta.get("source", "app"), status=status, **tags)


PAGE_MAX_OUTPUTS = 2**25  # a web page's run: batch × sequence × vocabulary per step (a 128 MB output layer)


def check_size(trainer: Trainer, max_params: int | None, from_page: bool) -> None:
    """Refuse, before the first step, a model over a class challenge's parameter limit (enforced, not only
    labelled) and, for a page's run, an output layer that would take the server's memory (a word-level model
    at the widgets' largest batch and window holds 164M logits a step: several GB with their gradients)."""
    if problem := size_problem(count_parameters(trainer.model), max_params):
        raise ConfigError(problem)
    config = trainer.config
    outputs = config.batch_size * config.seq_len * trainer.vocab_size
    if from_page and outputs > PAGE_MAX_OUTPUTS:
        raise ConfigError(
            f"batch {config.batch_size} × sequence {config.seq_len} × vocabulary {trainer.vocab_size:,} is "
            f"{outputs:,} outputs a step; a page may ask for at most {PAGE_MAX_OUTPUTS:,}: a smaller batch or "
            f"shorter sequences, then Reset"
        )


class RunChild:
    """The child's side of one run: its loop (`Trainer.run`), steered through `conn` (a pipe's end, or any
    object with its send, poll and recv: a Ray actor's mailbox), its records sent back and, with a store, written."""

    def __init__(self, conn, store_path: str | None, cores=None):
        """`cores`: how it takes its share of the cores (default: its process's `CoreShare`; a hosted run's turn
        among its process's runs, explorer.runs.hosts.Turn)."""
        self.conn = conn
        self.store = RunStore(store_path) if store_path else None
        self.trainer: Trainer | None = None
        self.writer: RunRecorder | None = None
        self.paused = True
        self.single_steps = 0
        self.outbox: list[dict] = []
        self.last_send = time.monotonic()
        self.status = "idle"
        # its threads: a share of the cores while it trains (start sets fixed)
        self.cores = cores if cores is not None else CoreShare(page=True)
        self.ended: tuple[str, str | None] | None = None  # (ending, why) once closed

    def send(self, message) -> None:
        self.conn.send(message)

    def serve(self) -> None:
        ending, message = "stopped", None
        try:
            self.send(Ready(os.getpid()))
            while True:
                if self.trainer is not None and not self.trainer.done and self.wants_steps():
                    for record in self.trainer.run(start=False, between_steps=self.between_steps):
                        self.emit(record)
                    self.flush()
                    self.set_status(self.trainer.stopped_reason or self.status)
                else:
                    self.cores.leave()  # not training: its cores are the other runs'
                    self.flush()
                    self.handle(self.conn.recv())
        except _Stop:
            pass
        except (EOFError, OSError):
            ending = "interrupted"  # the page went away
        except CutShort as signal_name:
            ending, message = (
                "interrupted",
                f"ended by {signal_name}: the server stopping, or a stuck run ended by force",
            )
        except Exception as err:  # noqa: BLE001 - a crash reaches the page as one line
            ending, message = "error", f"training stopped: {type(err).__name__}: {err}"
            try:
                self.send(Crashed(message))
            except OSError:
                pass
        self.close(ending, message)

    def close(self, ending: str, message: str | None) -> None:
        self.ended = (ending, message)
        SHUTDOWN.closing = True  # the last records and the ending are written whatever signal comes now
        self.cores.leave()
        if self.writer is not None:
            self.writer.flush()
            if self.status in ACTIVE:  # unless the page has already said how it ended (stopped)
                self.store.set_status(self.writer.run_id, ending, message, only_if_active=True)
        try:
            self.flush_page()
        except OSError:
            pass

    # ------------------------------------------------------------------------------------ steering
    def wants_steps(self) -> bool:
        return not self.paused or self.single_steps > 0

    def between_steps(self) -> float:
        """Called by the trainer's loop before each step: serve the page; hold here while paused (out of the
        registry of live runs); take this run's share of the cores, as it stands now, waiting for its slice
        where it has to (serving the page meanwhile). Returns the seconds it waited for the slice."""
        while True:
            while self.conn.poll():
                self.handle(self.conn.recv())
            if not self.wants_steps():
                self.cores.leave()
                while not self.wants_steps():
                    self.flush()
                    self.handle(self.conn.recv())
            waited = self.cores.between_steps(wait=self.wait_for_slice)
            if waited is not None:
                break
        if self.paused:
            self.single_steps -= 1
        return waited

    def wait_for_slice(self, seconds: float) -> bool:
        """The page has every record so far while the run waits; a message from it ends the wait."""
        self.flush()
        return self.conn.poll(seconds)

    def handle(self, message) -> None:
        match message:
            case CutShort() | EOFError():  # posted by a hosting process ending (a signal, its page gone)
                raise message
            case Start(config, meta):
                self.start(Config.from_dict(config), meta)
            case Stop():
                raise _Stop
            case Ask(request) if self.trainer is None:
                self.send(Answer(request, None, "no model yet: press Train first"))
            case _ if self.trainer is None:
                pass
            case Knobs(values, cause):
                self.trainer.set_knobs(cause, **values)
            case Pause() | Resume() | StepOnce() if self.trainer.done:
                self.send(Status(self.status))  # the run ended before this arrived: put the page right
            case Continue() if self.trainer.stopped_reason == "diverged":
                self.send(Status(self.status))
            case Pause():
                self.paused = True
                self.set_status("paused")
            case Resume():
                self.paused = False
                self.set_status("running")
            case StepOnce():
                self.single_steps += 1
            case Continue():
                if self.trainer.done:
                    self.trainer.continue_training()
                self.paused = False
                self.set_status("running")
            case Ask(request, "sample", kwargs):
                self.sample(request, kwargs)
            case Ask(request, "checkpoint"):
                self.flush_page()  # the page has every record up to this step before it copies them for a branch
                self.send(Answer(request, self.trainer.checkpoint(), None))

    def start(self, config: Config, meta: dict) -> None:
        self.cores.fixed = meta.get("threads")  # None: shared live with explorer's other runs
        if meta.get("uploads") is not None and not offered_to_pages(config.corpus, Path(meta["uploads"])):
            self.send(Failed(NOT_OFFERED))
            return
        try:
            self.trainer = Trainer(config, open_ended=meta.get("open_ended", True))
            check_size(self.trainer, meta.get("max_params"), from_page=meta.get("uploads") is not None)
            if meta.get("resume"):
                self.trainer.restore(meta["resume"])  # a branch: the parent's state at the branch step
        except ExplorerError as err:
            self.trainer = None
            self.send(Failed(str(err)))
            return
        except Exception as err:  # noqa: BLE001 - e.g. out of memory building a huge model
            self.send(Failed(f"could not build this model: {type(err).__name__}: {err}"))
            return
        self.paused = meta.get("paused", False)
        status = "paused" if self.paused else "running"
        start_record = self.trainer.start_record()
        run_id = None
        if self.store is not None:
            run_id = create_run(self.store, config.to_dict(), meta, status)
            self.writer = RunRecorder(self.store, run_id, self.trainer)
            self.writer.add(start_record)
        self.status = status
        self.send(Started(run_id, start_record, status))

    def set_status(self, status: str) -> None:
        if status != self.status:
            self.flush()  # the records before a status change reach the page before it
            self.status = status
            self.send(Status(status))
            if self.writer is not None and status in ACTIVE:
                self.store.set_status(self.writer.run_id, status)

    def sample(self, request: int, kwargs: dict) -> None:
        model = copy.deepcopy(self.trainer.model)  # generation must not touch the training model's state
        try:
            text = generate(model, self.trainer.corpus.vocab, self.trainer.config.level, **kwargs)
            self.send(Answer(request, text, None))
        except ConfigError as err:
            self.send(Answer(request, None, str(err)))
        except Exception as err:  # noqa: BLE001 - a diverged model has NaN weights
            self.send(Answer(request, None, f"no sample from this model: {type(err).__name__}: {err}"))

    # ------------------------------------------------------------------------------------ records
    def emit(self, record: dict) -> None:
        self.outbox.append(record)
        if self.writer is not None:
            with SHUTDOWN.whole_write():
                self.writer.add(record)
        if time.monotonic() - self.last_send >= SEND_S:
            self.flush_page()

    def flush_page(self) -> None:
        self.last_send = time.monotonic()
        if self.outbox:
            outbox, self.outbox = self.outbox, []
            self.send(Records(outbox))

    def flush(self) -> None:
        self.flush_page()
        if self.writer is not None:
            with SHUTDOWN.whole_write():
                self.writer.flush()
