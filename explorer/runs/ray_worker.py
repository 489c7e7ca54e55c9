"""A live run trained in a Ray actor on a cluster (`explorer class --ray`, `explorer app --ray`), steered by its
page exactly as a local worker process is: `RayWorker` is the page's side, `RunActor` the cluster's.

The actor runs the worker's own loop (explorer.runs.worker.RunChild) on a thread, talking through a mailbox
instead of a pipe: the page posts its messages (numbered, because a threaded actor may run two calls out of
order) and a reader thread on the server takes what the run sends back, a batch a call. The SERVER writes the run
store (no disk shared with the cluster's machines) and keeps the run's checkpoints as they become due, so a run
whose machine leaves the cluster is recorded as interrupted and goes on from its last checkpoint on another.

Ray's scheduler places every actor (one CPU each; a share of a GPU where the cluster has one free, the model
then on CUDA only where torch finds it inside the actor): nothing here chooses a machine.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import logging
import os
import socket
import threading
import time
import weakref
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from explorer.core.checkpoint import RunCheckpoints
from explorer.core.data import SHIPPED
from explorer.runs.cpu import yield_to_pages
from explorer.runs.protocol import Answer, Ask, Records, Started, Status
from explorer.runs.store import ACTIVE, RunWriter
from explorer.runs.worker import START_TIMEOUT_S, WATCH_S, RunChild, RunHandle, create_run, store_at
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import Config
from explorer.spec.wording import plural

GATHER_S = 0.25  # a run's records come back in one call at most this often (a class page redraws once a second)
# A node's death reaches the cluster's table after its actor is seen lost: soon where it leaves as asked, after Ray's
# missed health checks (5, 3 s apart, after a 5 s grace: about 20 s) where it vanishes.
NODE_NEWS_S, NODE_POLL_S = 30.0, 0.5
GPU_SHARE = 1 / 32  # of one GPU per run, where the cluster has a GPU free: a small model's run uses a sliver of one
# An unreachable address: Ray tries 20 times, 40 s each (measured: still trying after 10 minutes); with these, one
# try of about 15 s, which a reachable head answers in well under a second.
CONNECT_WAIT = {"RAY_py_gcs_connect_timeout_s": "5", "RAY_gcs_server_port_wait_time_s": "1"}
_CONNECT_LOCK = threading.Lock()


# ==================================================================================== the cluster
@contextmanager
def stderr_silenced():
    """File descriptor 2 to /dev/null for a while: Ray's C++ core writes there directly (an unreachable
    address retries for ~20 s, with a warning a second)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__


def connect(address: str):
    """Ray, connected to the cluster at `address` ("auto": the one this machine has joined), once per process;
    one line if Ray is missing or the cluster cannot be reached."""
    with _CONNECT_LOCK, _environment(CONNECT_WAIT):  # Ray reads the first when it is imported, the second in init
        try:
            import ray
        except ImportError:
            raise ExplorerError("--ray needs Ray, which is not installed: pip install 'explorer[cluster]'") from None
        if not ray.is_initialized():
            try:
                with stderr_silenced():
                    ray.init(
                        address=address,
                        include_dashboard=False,
                        log_to_driver=False,
                        logging_level=logging.ERROR,
                        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
                    )
                atexit.register(_server_stopping)
            except Exception as err:  # noqa: BLE001 - Ray raises several kinds; the user needs one line
                if address == "auto" and "Could not find any running Ray instance" in str(err):
                    raise ExplorerError(
                        "--ray auto: this machine has joined no Ray cluster (ray start --head starts one, "
                        "ray start --address=HEAD:6379 joins one), or give the head's address"
                    ) from None
                raise ExplorerError(f"cannot reach the Ray cluster at {address!r}: {one_line(err)}") from None
    return ray


@contextmanager
def _environment(values: dict):
    """Environment variables set for a while (where the user has not set them), as they were after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if saved[name] is None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def explorer_version() -> str:
    """This explorer's version and a digest of its code as it is on disk now (3 ms): a node that would train
    differently differs here (a checkout's version number stays the same from commit to commit)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        number = version("explorer")
    except PackageNotFoundError:
        number = "(not installed)"
    return f"{number}+{digest.hexdigest()[:8]}"


# ==================================================================================== the actor's side
class Mailbox:
    """What the run's loop (RunChild) takes for its pipe: `send`, `poll`, `recv`. The page's messages come in
    through `post`, numbered, and are handed on in their order; the run's go out through `take`."""

    def __init__(self):
        self.changed = threading.Condition()
        self.inbox: dict[int, object] = {}
        self.next_in = 0
        self.outbox: list = []
        self.closed = False

    def post(self, seq: int, message) -> None:
        with self.changed:
            self.inbox[seq] = message
            self.changed.notify_all()

    def take(self, timeout: float) -> tuple[list, bool]:
        """What the run has sent since the last take (waiting up to `timeout` for something, then GATHER_S for
        more: one call a few times a second per run, not one per batch of records), and whether its loop has
        ended."""
        with self.changed:
            if self.changed.wait_for(lambda: self.outbox or self.closed, timeout) and not self.closed:
                self.changed.wait_for(lambda: self.closed, GATHER_S)
            out, self.outbox = self.outbox, []
            return out, self.closed and not self.outbox

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def send(self, message) -> None:
        with self.changed:
            self.outbox.append(message)
            self.changed.notify_all()

    def poll(self, timeout: float = 0.0) -> bool:
        """As a pipe's poll: whether a message is waiting, waiting up to `timeout` seconds for one."""
        with self.changed:
            return self.changed.wait_for(lambda: self.next_in in self.inbox, timeout)

    def recv(self):
        with self.changed:
            self.changed.wait_for(lambda: self.next_in in self.inbox)
            self.next_in += 1
            return self.inbox.pop(self.next_in - 1)


class RunActor:
    """One run on a node of the cluster: the worker's loop on a thread of its own, from the actor's start. Its
    records go back to the server, never to a store here."""

    def __init__(self):
        yield_to_pages()  # where the node is also the server's machine, its pages come first
        self.mailbox = Mailbox()
        threading.Thread(target=self._serve, name="explorer-ray-run", daemon=True).start()

    def _serve(self) -> None:
        try:
            RunChild(self.mailbox, None).serve()
        finally:
            self.mailbox.close()

    def hello(self) -> dict:
        """Where this run trains, and with which explorer."""
        import ray
        import torch

        return {
            "version": explorer_version(),
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "cuda": torch.cuda.is_available(),
        }

    def post(self, seq: int, message) -> None:
        self.mailbox.post(seq, message)

    def take(self, timeout: float) -> tuple[list, bool]:
        return self.mailbox.take(timeout)


# ==================================================================================== the page's side
CPU_WAIT_S = 5.0  # an actor that just ended gives its CPU back a moment later (Ray reports it asynchronously)


def _free_resources(ray) -> dict:
    """The cluster's free resources, waiting up to CPU_WAIT_S for a CPU: a run stopped and started again at once,
    or a class's runs ending as others start, would otherwise be refused for a CPU that is already on its way back."""
    deadline = time.monotonic() + CPU_WAIT_S
    while (free := ray.available_resources()).get("CPU", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    return free


class RayWorker(RunHandle):
    """The page's handle on one run in a Ray actor: the same methods as a local `Worker`."""

    def __init__(self, address: str, store_path: str | None = None, watchdog=None):
        """Places the actor and checks its explorer; one line (ExplorerError) if it cannot train there."""
        super().__init__(store_path, watchdog)
        self.ray = ray = connect(address)
        free = _free_resources(ray)
        if free.get("CPU", 0) < 1:  # else Ray would hold the run back until one is, with nothing on its page
            cpus = int(ray.cluster_resources().get("CPU", 0))
            raise ExplorerError(
                f"the Ray cluster has no CPU free for this run (all {plural(cpus, 'CPU')} are training): press Train "
                f"again when a run has ended, or add a machine (ray start --address=…)"
            )
        options = {"num_cpus": 1, "max_restarts": 0, "max_concurrency": 4}
        if free.get("GPU", 0) >= GPU_SHARE:
            options["num_gpus"] = GPU_SHARE
        self.actor = ray.remote(RunActor).options(**options).remote()
        self.where = self._hello()
        self.node, self.host = self.where["node"], self.where["host"]
        self._seq = itertools.count()
        self._send_lock = threading.Lock()
        self._config: dict = {}
        self._meta: dict = {}
        self._writer: RunWriter | None = None
        self._checkpoints: RunCheckpoints | None = None
        self._keeping: set[int] = set()  # checkpoints asked for, to keep
        self._reader = threading.Thread(target=self._read, name="explorer-ray-reader", daemon=True)
        self._reader.start()
        _RAY_WORKERS.add(self)

    def _hello(self) -> dict:
        ray = self.ray
        try:
            where = ray.get(self.actor.hello.remote(), timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            ray.kill(self.actor)
            raise ExplorerError(
                f"the Ray cluster did not start this run within {START_TIMEOUT_S:.0f} s (a classmate's run may have "
                f"taken the last CPU): press Train again"
            ) from None
        except ray.exceptions.RayError as err:
            ray.kill(self.actor)
            raise ExplorerError(node_problem(err)) from None
        if where["version"] != (mine := explorer_version()):
            ray.kill(self.actor)
            raise ExplorerError(
                f"the Ray node {where['host']} has explorer {where['version']}, this server {mine}: "
                f"install the same explorer on every machine of the cluster"
            )
        return where

    # ------------------------------------------------------------------------------------ control
    def send(self, message) -> None:
        with self._send_lock:  # numbered in the order sent: the actor hands them on in this order
            self.actor.post.remote(next(self._seq), message)

    def start(self, config: Config, meta: dict, paused: bool) -> None:
        if config.corpus not in SHIPPED:
            raise ConfigError(
                "an uploaded text stays on this server, and runs here train on the Ray cluster: pick a corpus "
                "from the list"
            )
        self._config, self._meta = config.to_dict(), {**meta, "threads": 1}  # Ray gave it one CPU
        super().start(config, self._meta, paused)

    def _end(self, timeout: float) -> None:
        """Asked nicely (`stop` sent Stop: its last records come back and are written), then the actor is killed."""
        self._reader.join(timeout)
        self._mark_stopped()
        self.ray.kill(self.actor)
        self._reader.join(2.0)

    @property
    def alive(self) -> bool:
        return not self._closed

    @property
    def ready(self) -> bool:
        return not self._stopping and not self._closed

    @property
    def pid(self) -> int | None:
        """The actor's process id on its own machine."""
        return self.where["pid"]

    # ------------------------------------------------------------------------------------ reading
    def _read(self) -> None:
        lost = None
        while True:
            try:  # a take answers within WATCH_S: one that does not has lost its actor
                messages, ended = self.ray.get(self.actor.take.remote(WATCH_S), timeout=START_TIMEOUT_S)
            except self.ray.exceptions.RayError as err:
                lost = err
                break
            for message in messages:
                self._dispatch(message)
            self._watch()
            if ended:
                break
        if self._writer is not None:
            self._writer.flush()
        if lost is not None and not self._stopping and self._node_left():
            self._closing(self._left_line(), "interrupted")
        else:
            self._closing(f"its Ray actor on {self.host} ended unexpectedly ({one_line(lost or EOFError())})")
        if not self._stopping:
            self.ray.kill(self.actor)

    def _node_left(self) -> bool:
        """Whether the lost actor's machine left the cluster. Its actor is often seen gone before the cluster marks
        the node dead (a leaving node's workers end first; a vanished one is found by missed health checks), so ask
        until it is, for at most NODE_NEWS_S; an actor lost on a machine that stays is only said a little later."""
        deadline = time.monotonic() + NODE_NEWS_S
        while self._node_alive():
            if self._stopping or time.monotonic() > deadline:
                return False
            time.sleep(NODE_POLL_S)
        return True

    def _node_alive(self) -> bool:
        try:
            return any(node["NodeID"] == self.node and node["Alive"] for node in self.ray.nodes())
        except Exception:  # noqa: BLE001 - Ray itself shutting down (the server stopping)
            return True

    def _left_line(self) -> str:
        go_on = (
            f"press Train to go on from step {self.kept['step']:,}, its last checkpoint, on another machine"
            if self.kept
            else "no checkpoint was kept yet: press Reset to start again"
        )
        return f"The machine training this run ({self.host}) left the cluster: {go_on}."

    def _dispatch(self, message) -> None:
        """What the run sends, into the store too (as a local worker's child writes it there)."""
        store = store_at(self.store_path) if self.store_path else None
        match message:
            case Started(_, start_record, status) if store is not None:
                run_id = create_run(store, self._config, self._meta, status)
                self._writer = RunWriter(store, run_id)
                self._checkpoints = RunCheckpoints(store.path, run_id)
                self._writer.add(start_record)
                message = Started(run_id, start_record, status)
            case Records(records) if self._writer is not None:
                for record in records:
                    self._writer.add(record)
                    if record["kind"] == "step" and not self._keeping and self._checkpoints.due(record["step"]):
                        self._keep_next()
            case Status(status) if self._writer is not None:
                self._writer.flush()  # a finished, early-stopped or diverged run's ending is in its records
                if status in ACTIVE:
                    store.set_status(self._writer.run_id, status)
            case Answer(request, answer, None) if request in self._keeping:
                self._keeping.discard(request)
                self.kept = answer
                self._checkpoints.save(answer)
                return
            case Answer(request) if request in self._keeping:
                self._keeping.discard(request)
                return
        super()._dispatch(message)

    def _keep_next(self) -> None:
        """Ask the run for its checkpoint now (it answers between two steps), without waiting for it."""
        request = next(self._question_ids)
        self._keeping.add(request)
        self.send(Ask(request, "checkpoint", {}))


_RAY_WORKERS: weakref.WeakSet[RayWorker] = weakref.WeakSet()


def _server_stopping() -> None:
    """The server is ending (a SIGTERM, Ctrl-C): Ray ends its actors with it, and their runs, which this process
    writes, are recorded as interrupted with their last records (a local worker does the same for its own).
    Registered after `ray.init`, so it runs before Ray's own exit handler ends the actors."""
    for worker in list(_RAY_WORKERS):
        if worker._writer is not None and worker.status in ACTIVE:
            worker._writer.flush()
            store_at(worker.store_path).set_status(
                worker._writer.run_id, "interrupted", "the server stopped", only_if_active=True
            )


def node_problem(err: BaseException) -> str:
    """One line for an actor that could not start: most often a machine without explorer (or with one too old to
    have this module), which Ray reports as its worker's ImportError."""
    cause = getattr(err, "cause", None) or err
    if "No module named 'explorer" in str(err) or isinstance(cause, ImportError):
        return (
            f"a machine of the Ray cluster cannot run explorer's runs (explorer is missing there, or another "
            f"version): install explorer {explorer_version().split('+')[0]} on every machine of the cluster"
        )
    return f"the run could not start on the Ray cluster: {one_line(cause)}"
