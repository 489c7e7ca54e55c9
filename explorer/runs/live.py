"""LiveRun: the handle a page holds on its run, which trains in a worker process (explorer.runs.worker) or, on a
server started with `--ray`, in an actor on a Ray cluster (explorer.runs.ray_worker): the page cannot tell them apart.

The page calls the methods below; the run's records come back into a bounded in-memory `History` for
fast redraws, and the worker writes them to the run store as well. Each start gets a fresh worker and a
fresh history, so an old run can never write into a new one's charts; a warm worker (torch already
imported) waits for the next Train, so pressing it does not wait for `import torch`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from explorer.runs.history import Snapshot
from explorer.runs.hosts import Hosts
from explorer.runs.protocol import RAY_ENV
from explorer.runs.store import ENDED, default_path
from explorer.runs.worker import RunHandle, Worker
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import KNOBS, Config

MAX_SAVED_RUNS = 8
MAX_BRANCHES = 2  # live branches at once: each trains in its own process, on a core of its own
_STARTER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="explorer-worker-starter")


class LiveRun:
    def __init__(
        self,
        config: Config | None = None,
        torch_threads: int | None = None,
        watchdog: Callable[[], bool] | None = None,
        store: str | Path | bool = True,
        source: str = "app",
        owner: str | None = None,
        open_ended: bool = True,
        warm: bool = True,
        ray: str | None = None,
    ):
        """`watchdog` is called about once a second while the run is active; returning False stops it
        (a front end passes "is my viewer still connected?"). `store`: the run store's path, True for
        the default ($EXPLORER_HOME), False for none. `source`/`owner` tag the runs in the store.
        `open_ended`: train until paused, stopped early or diverged (the app); False keeps
        `config.steps` as a budget. `torch_threads`: fixed, or None for the run's share of the cores, which
        its worker adjusts while it trains (explorer.runs.cpu). `warm`: keep a worker ready for the next
        start, so Train does not wait for one (False: start one only when a start needs it, e.g. a class,
        where a seat that never trains holds no process and one that trains holds one, not two). `ray`: the Ray
        cluster's address its runs train on (default: $EXPLORER_RAY; none: this machine). On Ray no worker waits
        warm: an idle actor would hold a CPU of the cluster that a classmate's run could use."""
        self.config = config or Config()
        self.torch_threads = torch_threads
        self.watchdog = watchdog
        self.store_path = None if store is False else str(default_path() if store is True else Path(store))
        self.source, self.owner, self.open_ended = source, owner, open_ended
        self.tags: dict = {}  # more of the store's columns for its runs: class mode's class_name and name
        self.uploads: str | None = None  # a web page's run: its worker trains only on shipped corpora and uploads here
        self.max_params: int | None = None  # a class challenge's limit: a bigger model is refused before it trains
        self.saved: OrderedDict[str, Snapshot] = OrderedDict()
        self.ray = ray or os.environ.get(RAY_ENV) or None
        self.branches: OrderedDict[str, RunHandle] = OrderedDict()  # name -> a branch training beside this run
        self._worker: RunHandle | None = None  # the current run's
        self._warm: Future | None = None  # a Worker getting ready for the next start
        self._viewer_gone = False
        self._viewer_lock = threading.Lock()
        self._closed = False  # the page closed: nothing starts again (a class's queue may start a run late)
        self.hosts: Hosts | None = None  # a class's: its runs are hosted several to a process (explorer.runs.hosts)
        self.warm = warm and not self.ray
        self._warm_up()

    def _warm_up(self, now: bool = False) -> None:
        """Start the next run's worker in the background (the first one in a process also starts the
        forkserver, about 2 s), so the page never waits for it unless Train is pressed at once. Without
        `warm`, only when a start needs one (`now`): a run holds one process, never a spare."""
        if self._warm is None and (self.warm or now):
            self._warm = _STARTER.submit(self._new_worker)

    def _new_worker(self) -> RunHandle:
        if self.ray:
            from explorer.runs.ray_worker import RayWorker  # only a server with --ray loads Ray

            return RayWorker(self.ray, self.store_path, self.viewer_here)
        if self.hosts is not None:
            return self.hosts.worker(self.store_path, self.viewer_here)
        return Worker(self.store_path, self.viewer_here)

    def _take_warm(self) -> RunHandle:
        """The warm worker, or a new one; one line (ExplorerError) if none can start (a full Ray cluster). Without a
        warm one, made on the caller's thread: a class's many Trains start their actors side by side."""
        if self._warm is None and not self.warm:
            return self._new_worker()
        self._warm_up(now=True)
        warm, self._warm = self._warm, None
        worker = warm.result()
        return worker if worker.ready else self._new_worker()

    def viewer_here(self) -> bool:
        """Both workers' watchdog: asks the front end's once a second, and once it says the viewer left,
        every worker of this run stops (the warm one and a finished run's too)."""
        with self._viewer_lock:
            if not self._viewer_gone and self.watchdog is not None and not self.watchdog():
                self._viewer_gone = True
            return not self._viewer_gone

    # ------------------------------------------------------------------------------------ control
    def start(self, config: Config | None = None, paused: bool = False) -> None:
        """A fresh run from `config` (or the current one); `paused` holds it at step 0. Raises
        ExplorerError for bad setup, leaving the current run untouched."""
        config = (config or self.config).validate()
        if self._closed:
            raise ExplorerError("this page has closed: its run does not start")
        self._viewer_gone = False  # someone pressed a button: a viewer is here
        worker = self._take_warm()
        meta = {
            "threads": self.torch_threads,
            "source": self.source,
            "owner": self.owner,
            "open_ended": self.open_ended,
            "uploads": self.uploads,
            "max_params": self.max_params,
            **self.tags,
        }
        try:
            worker.start(config, meta, paused)
        except Exception:
            worker.stop()
            self._warm_up()
            raise
        old, self._worker, self.config = self._worker, worker, config
        if old is not None:
            old.stop()
        self._stop_branches()
        if self._closed:  # closed while this run was starting: it must not train on without its page
            self.stop()
            raise ExplorerError("this page has closed: its run does not start")
        self._warm_up()

    def train(self, config: Config | None = None) -> None:
        """The Train button: resume a paused run, continue one that stopped early or finished its
        budget, otherwise start a fresh one."""
        status = self.status
        if status == "paused":
            self.resume()
        elif status in ("finished", "early_stop"):
            self._worker.continue_training()
            self._worker.status = "running"
            self.resume()  # its branches (started paused beside an ended run) go on with it
        elif status == "interrupted" and self._worker.kept is not None:
            self._go_on_elsewhere()
        elif status != "running":
            self.start(config)

    def reset(self, config: Config | None = None) -> None:
        """Fresh model with the current setup and knobs (or `config`, e.g. a changed setup): same seed,
        same initial weights and data order, so a new run differs from the last only by the knobs that
        were changed. Starts paused, at step 0 (no step slips in before the pause)."""
        self.start(config, paused=True)

    def set_knobs(self, cause: str | None = None, **changes) -> None:
        """Live knobs only: they take effect at the running model's next step and are kept for the next
        reset. A setup knob (the model's shape, the corpus) cannot change in a running model. `cause`:
        who moved them when not the viewer (kept in the knob events: "lesson")."""
        fixed = [name for name in changes if name in KNOBS and not KNOBS[name].live]
        if fixed:
            raise ConfigError(f"{fixed[0]} is part of the setup: it takes a new model (Reset), not a live change")
        self.config = self.config.replace(**changes)
        if self._worker is not None:
            self._worker.set_knobs({name: getattr(self.config, name) for name in changes}, cause)

    def pause(self) -> None:
        """Pause the run and its branches (they keep step with it)."""
        for worker in self._workers():
            if worker.status == "running":
                worker.pause()
                worker.status = "paused"

    def resume(self) -> None:
        for worker in self._workers():
            if worker.status == "paused":
                worker.resume()
                worker.status = "running"

    def step_once(self) -> None:
        """While paused: advance exactly one training step (the branches too)."""
        for worker in self._workers():
            if worker.status == "paused":
                worker.step_once()

    def stop(self, timeout: float = 5.0) -> None:
        """End the run and its branches: cooperatively, then by terminating after `timeout` seconds."""
        if self._worker is not None:
            self._worker.stop(timeout)
        self._stop_branches(timeout)

    def _workers(self) -> list[Worker]:
        return ([self._worker] if self._worker is not None else []) + list(self.branches.values())

    def _stop_branches(self, timeout: float = 5.0) -> None:
        for worker in self.branches.values():
            worker.stop(timeout)
        self.branches.clear()

    def branch(self) -> str:
        """Fork the run here: a branch starts from this step's exact state (weights, optimiser moments,
        data position, hidden state, dropout generator) and keeps the knobs as they are, in a process of
        its own, while this run goes on and takes whatever knob moves next. Returns the branch's name.
        The oldest branch stops when there would be more than MAX_BRANCHES."""
        if self.status in ("idle", "stopped", "error", "diverged"):
            raise ConfigError(
                "nothing to branch: press Train first" if self.status == "idle" else "this run cannot go on"
            )
        running = self.status == "running"
        self.pause()  # held while the branch starts, so both go on from the fork together
        try:
            name = self._fork()
        finally:
            if running:
                self.resume()  # the run and every branch
        return name

    def _fork(self) -> str:
        state = self._worker.checkpoint()
        name = f"branch at step {state['step']}"
        worker = self._start_from(state, name=f"branch of {self.run_id} at step {state['step']}")
        worker.history.name = name
        if name in self.branches:
            self.branches.pop(name).stop()
        self.branches[name] = worker
        while len(self.branches) > MAX_BRANCHES:
            self.branches.popitem(last=False)[1].stop()
        return name

    def _go_on_elsewhere(self) -> None:
        """Continue a run whose machine left the Ray cluster: a run of its own from the last checkpoint the server
        kept, its curves up to that step copied, wherever Ray places it now."""
        state = self._worker.kept
        worker = self._start_from(state, paused=False, name=f"{self.run_id} going on from step {state['step']}")
        old, self._worker = self._worker, worker
        old.stop()
        self._stop_branches()

    def _start_from(self, state: dict, paused: bool = True, name: str | None = None) -> RunHandle:
        """A worker training on from `state` (a `Trainer.checkpoint()` of this run), with this run's records up to
        its step: a branch, or the run going on elsewhere."""
        step = state["step"]
        worker = self._take_warm()
        parent = self.snapshot()
        for record in (*parent.steps, *parent.evals, *parent.events):
            if record["step"] <= step:
                worker.history.add(record)  # its curves start where the parent's were
        config = Config.from_dict({**state["config"], **state["knobs"]})
        meta = {
            "threads": self.torch_threads,
            "source": self.source,
            "owner": self.owner,
            "open_ended": True,
            "resume": state,
            "parent_id": self.run_id,
            "branch_step": step,
            "name": name,
            **{key: value for key, value in self.tags.items() if key != "name"},
        }
        try:
            worker.start(config, meta, paused=paused)
        except Exception:
            worker.stop()
            self._warm_up()
            raise
        worker.history.add(parent.start)  # its whole story starts as the parent's (repeating it over seeds)
        self._warm_up()
        return worker

    def close(self) -> None:
        """Stop the run and let the warm worker go too (the page is closing)."""
        self._closed = True
        self.stop()
        self._let_warm_go()

    def host_in(self, hosts: Hosts | None) -> None:
        """From now on its runs are hosted in a class's processes (none: each in its own), started when needed:
        a warm worker of its own would hold a process of its own."""
        self.hosts, self.warm = hosts, self.warm and hosts is None
        if hosts is not None:
            self._let_warm_go()

    def _let_warm_go(self) -> None:
        if self._warm is not None and self._warm.exception() is None:
            self._warm.result().stop(1.0)
        self._warm = None

    # ------------------------------------------------------------------------------------ state
    @property
    def started(self) -> bool:
        """A model exists (something to sample from, save, continue)."""
        return self._worker is not None

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.alive and self.status not in ENDED

    @property
    def paused(self) -> bool:
        return self.status == "paused"

    @property
    def status(self) -> str:
        """idle | running | paused | finished | early_stop | diverged | stopped | interrupted | error"""
        if self._worker is None:
            return "idle"
        if self._worker.status == "interrupted":  # its machine left the Ray cluster: Train goes on elsewhere
            return "interrupted"
        return "error" if self._worker.error else self._worker.status

    @property
    def error(self) -> str | None:
        return self._worker.error if self._worker else None

    @property
    def device(self) -> str:
        return self._worker.device if self._worker else ""

    @property
    def node(self) -> str | None:
        """The Ray node its run trains on (None: this machine)."""
        return self._worker.node if self._worker else None

    @property
    def run_id(self) -> str | None:
        return self._worker.run_id if self._worker else None

    @property
    def pid(self) -> int | None:
        return self._worker.pid if self._worker else None

    def snapshot(self) -> Snapshot:
        return self._worker.history.snapshot() if self._worker else Snapshot()

    # ------------------------------------------------------------------------------------ comparison
    def save_run(self, name: str | None = None) -> str:
        """Keep the current run's history to overlay later runs on ("save this run as baseline")."""
        name = name or f"run {len(self.saved) + 1}"
        snap = self.snapshot()
        snap.name = name
        self.saved[name] = snap
        while len(self.saved) > MAX_SAVED_RUNS:
            self.saved.popitem(last=False)
        return name

    def clear_saved(self) -> None:
        self.saved.clear()

    def comparison(self) -> list[Snapshot]:
        """The saved runs, the branches (live), then this run."""
        branches = list(self.branches.values())  # copies: a page's other thread may add one meanwhile
        return [*list(self.saved.values()), *(w.history.snapshot() for w in branches), self.snapshot()]

    # ------------------------------------------------------------------------------------ samples
    def sample(self, prompt: str = "", length: int = 200, temperature: float = 0.8, seed: int = 0) -> str:
        """Text from the current weights, generated in the worker between two steps."""
        if self._worker is None:
            raise ConfigError("no model yet: press Train first")
        return self._worker.sample(prompt=prompt, length=length, temperature=temperature, seed=seed)
