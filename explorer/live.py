"""LiveRun: a Trainer on its own thread that a UI steers while it trains.

The UI thread only ever calls the methods below; the worker thread only ever touches the trainer
and appends to the history. They share nothing else: knob changes go through the trainer's pending
queue (applied at the next step), metrics come back through the thread-safe History.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Callable

import torch

from .config import Config, ConfigError
from .history import History, Snapshot
from .model import RNNLM
from .sample import generate
from .train import Trainer

DEFAULT_TORCH_THREADS = max(1, min(4, os.cpu_count() or 1))
MAX_SAVED_RUNS = 8
SWITCH_INTERVAL_S = 0.0005
WATCHDOG_PERIOD_S = 1.0


class LiveRun:
    def __init__(self, config: Config | None = None, torch_threads: int = DEFAULT_TORCH_THREADS,
                 watchdog: Callable[[], bool] | None = None):
        """`watchdog` is called about once a second from the worker; returning False stops the run
        (a front end passes "is my viewer still connected?")."""
        self.config = config or Config()
        self.torch_threads = torch_threads
        self.watchdog = watchdog
        self.history = History()
        self.saved: OrderedDict[str, Snapshot] = OrderedDict()
        self.trainer: Trainer | None = None
        self.error: str | None = None  # an unexpected failure inside the worker, as one line
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._resume = threading.Event()  # set while running, clear while paused
        self._single_steps = 0
        self._lock = threading.Lock()      # guards _single_steps and the model against sampling mid-step

    # ------------------------------------------------------------------------------------ control
    def start(self, config: Config | None = None, paused: bool = False) -> None:
        """A fresh run from `config` (or the current one); `paused` holds it at step 0. Raises
        ExplorerError for bad setup; the previous run is left untouched in that case."""
        config = (config or self.config).validate()
        trainer = Trainer(config)
        self.stop()
        self.config, self.trainer, self.error = config, trainer, None
        self.history = History()
        self.history.add(trainer.start_record())
        self._stop.clear()
        if paused:
            self._resume.clear()
        else:
            self._resume.set()
        # Hand Python's lock between threads every 0.5 ms instead of 5: a front end building charts on
        # another thread would otherwise hold up each of the trainer's many short Python stretches.
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._thread = threading.Thread(target=self._work, name="explorer-liverun", daemon=True)
        self._thread.start()

    def train(self, config: Config | None = None) -> None:
        """The Train button: resume a paused run, otherwise start a fresh one."""
        if self.paused:
            self.resume()
        elif self.status != "running":
            self.start(config)

    def reset(self, config: Config | None = None) -> None:
        """Fresh model with the current setup and knobs (or `config`, e.g. a changed setup): same seed,
        same initial weights and data order, so a new run differs from the last only by the knobs that
        were changed. Starts paused, at step 0 (no step slips in before the pause)."""
        self.start(config, paused=True)

    def set_knobs(self, **changes) -> None:
        """Takes effect at the running model's next step; also kept for the next reset."""
        self.config = self.config.replace(**changes)
        if self.trainer is not None:
            self.trainer.set_knobs(**{k: getattr(self.config, k) for k in changes})

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def step_once(self) -> None:
        """While paused: advance exactly one training step."""
        with self._lock:
            self._single_steps += 1

    def stop(self, timeout: float = 2.0) -> None:
        """End the run; the worker thread is gone when this returns (it checks between steps)."""
        self._stop.set()
        self._resume.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._thread = None

    # ------------------------------------------------------------------------------------ state
    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def paused(self) -> bool:
        return self.alive and not self._resume.is_set()

    @property
    def status(self) -> str:
        """idle | running | paused | finished | early_stop | diverged | stopped | error"""
        if self.error:
            return "error"
        if self.trainer is None:
            return "idle"
        if self.trainer.stopped_reason:
            return self.trainer.stopped_reason
        if self.alive:
            return "paused" if self.paused else "running"
        return "stopped"

    def snapshot(self) -> Snapshot:
        return self.history.snapshot()

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
        return [*self.saved.values(), self.snapshot()]

    # ------------------------------------------------------------------------------------ samples
    def sample(self, prompt: str = "", length: int = 200, temperature: float = 0.8, seed: int = 0) -> str:
        """Text from a copy of the current weights (taken between steps, so training is not disturbed)."""
        if self.trainer is None:
            raise ConfigError("no model yet: press Train first")
        with self._lock:
            weights = copy.deepcopy(self.trainer.model.state_dict())
        model = RNNLM(self.trainer.vocab_size, self.config)
        model.load_state_dict(weights)
        model.apply_knobs(self.trainer.knobs)
        return generate(model, self.trainer.corpus.vocab, self.config.level, prompt, length, temperature, seed)

    # ------------------------------------------------------------------------------------ worker
    def _take_step_permission(self) -> bool:
        if self._resume.is_set():
            return True
        with self._lock:
            if self._single_steps:
                self._single_steps -= 1
                return True
        return False

    def _work(self) -> None:
        # Caps torch's intra-op threads (process-wide in practice): a front end serving several runs
        # passes the same small number to each, so runs on a 2-core machine don't oversubscribe it.
        torch.set_num_threads(self.torch_threads)
        trainer, next_check = self.trainer, time.monotonic() + WATCHDOG_PERIOD_S
        try:
            while not self._stop.is_set() and not trainer.done:
                if self.watchdog and time.monotonic() > next_check:
                    next_check = time.monotonic() + WATCHDOG_PERIOD_S
                    if not self.watchdog():
                        break
                if not self._take_step_permission():
                    self._resume.wait(0.05)
                    continue
                with self._lock:
                    records = trainer.step()
                for record in records:
                    self.history.add(record)
        except Exception as err:  # noqa: BLE001 - a crash must reach the page as a message, not kill it
            self.error = f"training stopped: {type(err).__name__}: {err}"
