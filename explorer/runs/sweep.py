"""The sweep engine: a plan's trials (explorer.runs.sweep_plan: the same experiment over several seeds and knob
values) run in parallel, every trial a run in the store tagged with its sweep.

Trials run on local worker processes (forked from the workers' warm forkserver, one per core, each on its
share of the cores: one thread while every core has a trial, more for the last ones) or as Ray tasks; Ray is
the engine for a class or lab that outgrows one machine, so there is no scheduler of our own beyond "keep N
trials in flight". Either
way a trial is `run_trial` — the one loop driver, `Trainer.run` — returning its records, and this
process writes them to the store when it ends: the same code path for both engines, so their results
are identical seed for seed, and a killed sweep loses only the trials in flight. Running a plan again
skips the trials whose finished runs are in the store (a sweep resumes).
"""

from __future__ import annotations

import math
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from explorer.core.train import Trainer
from explorer.runs.cpu import CORES, CoreShare
from explorer.runs.protocol import Failed, Records
from explorer.runs.ray_worker import connect, one_line
from explorer.runs.store import RunStore
from explorer.runs.sweep_plan import DONE, MAX_TRIALS, Plan, SweepError, Trial, stored_trial_key
from explorer.runs.worker import CONTEXT, WORKER_NAME, describe_exit, exit_with_page
from explorer.spec.errors import ExplorerError
from explorer.spec.knobs import Config

WAIT_S = 0.5


# ==================================================================================== one trial
def run_trial(config: dict, schedule: dict | None = None, cores: CoreShare | None = None) -> list[dict]:
    """Train one trial to its end and return its records, the last its kept model's score on the test split (a
    local worker process and a Ray task both run exactly this). `cores`: a local trial's share of this machine's
    cores, adjusted between steps as explorer's other runs start and end; None (a Ray task, given one CPU by Ray):
    one torch thread."""
    if cores is None:
        torch.set_num_threads(1)
    trainer = Trainer(Config.from_dict(config))
    between_steps = cores.between_steps if cores is not None else None
    records = list(trainer.run({int(k): v for k, v in (schedule or {}).items()}, between_steps=between_steps))
    if trainer.stopped_reason != "diverged":  # the kept model (early stopping restored its best) on the test split
        records.append({"kind": "test", "step": trainer.step_count, **trainer.test_score()})
    return records


def _trial_process(conn, parent_pid: int, config: dict, schedule: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the sweep's to handle: it kills its trials
    threading.Thread(target=exit_with_page, args=(parent_pid, None), daemon=True).start()
    try:
        with CoreShare() as cores:
            records = run_trial(config, schedule, cores)
        conn.send(Records(records))
    except ExplorerError as err:
        conn.send(Failed(str(err)))
    except Exception as err:  # noqa: BLE001 - a crash is this trial's outcome, in one line
        conn.send(Failed(f"{type(err).__name__}: {err}"))


_IN_FLIGHT = threading.BoundedSemaphore(CORES)  # local trials of every sweep in this process together


class _LocalPool:
    """Trials in worker processes, at most `size` at once, and at most one per core for all the sweeps of
    this process together (a class server's pages share its cores); a cancelled sweep kills its trials."""

    def __init__(self, size: int):
        self.size = size
        self.running: dict[Any, tuple[Trial, Any]] = {}

    def has_room(self) -> bool:
        return len(self.running) < self.size and _IN_FLIGHT.acquire(blocking=False)

    def submit(self, trial: Trial) -> None:
        conn, child = CONTEXT.Pipe(duplex=False)
        process = CONTEXT.Process(
            target=_trial_process,
            args=(child, os.getpid(), trial.config.to_dict(), trial.arm.stored_schedule),
            name=WORKER_NAME,  # the workers' name: never imports the caller's __main__ (see worker.py)
            daemon=True,
        )
        process.start()
        child.close()
        self.running[conn] = (trial, process)

    def wait(self, timeout: float) -> list[tuple[Trial, list | None, str | None]]:
        ended = []
        if not self.running:
            time.sleep(timeout)  # every core is busy with other sweeps' trials: wait for a free one
            return []
        for conn in multiprocessing.connection.wait(list(self.running), timeout):
            trial, process = self.running.pop(conn)
            _IN_FLIGHT.release()
            try:
                answer = conn.recv()
            except (EOFError, OSError):
                process.join(5)
                answer = Failed(f"its process ended unexpectedly ({describe_exit(process.exitcode)})")
            conn.close()
            process.join(5)
            records, error = (answer.records, None) if isinstance(answer, Records) else (None, answer.message)
            ended.append((trial, records, error))
        return ended

    def cancel(self) -> None:
        for conn, (_, process) in list(self.running.items()):
            process.kill()
            process.join(5)
            conn.close()
            _IN_FLIGHT.release()
        self.running.clear()

    def close(self) -> None:
        self.cancel()


class _RayPool:
    """Trials as Ray tasks (one CPU each), as many in flight as the cluster has CPUs."""

    def __init__(self, address: str):
        ray = sys.modules.get("ray")  # not imported here: connect imports it with its connection settings
        self.started = ray is None or not ray.is_initialized()  # by this sweep, which then shuts it down
        try:
            self.ray = connect(address)  # the live runs' connection: one line, one short try where none answers
        except ExplorerError as err:
            raise SweepError(str(err)) from None
        self.remote = self.ray.remote(num_cpus=1, max_retries=0)(run_trial)
        self.size = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self.running: dict[Any, Trial] = {}

    def has_room(self) -> bool:
        return len(self.running) < self.size

    def submit(self, trial: Trial) -> None:
        ref = self.remote.remote(trial.config.to_dict(), trial.arm.stored_schedule)
        self.running[ref] = trial

    def wait(self, timeout: float) -> list[tuple[Trial, list | None, str | None]]:
        if not self.running:
            return []
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        ended = []
        for ref in ready:
            trial = self.running.pop(ref)
            try:
                ended.append((trial, self.ray.get(ref), None))
            except Exception as err:  # noqa: BLE001 - a failed task is this trial's outcome
                cause = getattr(err, "cause", None) or err
                ended.append((trial, None, one_line(cause)))
        return ended

    def cancel(self) -> None:
        for ref in list(self.running):
            self.ray.cancel(ref, force=True)
        self.running.clear()

    def close(self) -> None:
        self.cancel()
        if self.started:
            self.ray.shutdown()


# ==================================================================================== running a plan
@dataclass(frozen=True)
class Progress:
    done: int
    running: int
    left: int  # not started yet
    failed: int
    skipped: int  # finished in an earlier run of the sweep
    seconds: float
    trial_seconds: float  # mean wall time of a trial so far (0 before the first)
    parallel: int

    @property
    def eta_s(self) -> float | None:
        if not self.trial_seconds:
            return None
        return self.trial_seconds * (self.left + self.running / 2) / self.parallel

    @property
    def text(self) -> str:
        parts = [f"{self.done} done", f"{self.running} running", f"{self.left} left"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} already in the store")
        if self.eta_s is not None and (self.left or self.running):
            parts.append(f"about {_duration(self.eta_s)} to go")
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def pending_trials(plan: Plan, store: RunStore) -> tuple[list[Trial], int]:
    """The plan's trials not yet finished in the store, and how many are. Refuses a name already used
    by a sweep with other settings (its trials would be mixed with these)."""
    keys = {t.key for t in plan.trials}
    done = set()
    for run in store.runs(sweep=plan.name):
        key = stored_trial_key(run)
        if run["status"] not in DONE:
            continue
        if key not in keys:
            raise SweepError(
                f"sweep {plan.name!r} already holds trials with other settings (e.g. run {run['id']}): "
                f"give this one another --name, or remove the old one with `explorer sweep rm {plan.name}`"
            )
        done.add(key)
    return [t for t in plan.trials if t.key not in done], len(done)


def store_trial(store: RunStore, sweep: str, trial: Trial, records: list | None, error: str | None) -> str:
    """One ended trial as a run of the sweep (an error too: the store says what happened). Created as
    running and ended by its own records, so a sweep killed in between leaves it `interrupted` (run
    again), never "finished" without its records."""
    run_id = store.create_run(
        trial.config.to_dict(), "sweep", name=trial.name(sweep), sweep=sweep, arm=trial.arm.to_dict()
    )
    if records:
        store.append(run_id, records, 0)  # its end event sets the status
    trained = [record for record in records or [] if record["kind"] != "test"]  # the test score comes after
    if error or not trained or trained[-1].get("event") not in DONE:  # a whole run ends with its end event
        store.set_status(run_id, "error", error or "the trial ended without finishing")
    return run_id


def run_sweep(
    plan: Plan,
    store: RunStore,
    workers: int | None = None,
    ray: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    max_trials: int = MAX_TRIALS,
) -> Progress:
    """Run the plan's unfinished trials, `workers` local processes at once (default: one per core) or on
    Ray (`ray`: "auto" for the running cluster, an address, or "local" to start one here). Each ended
    trial is in the store before the next progress call. Returns the final progress."""
    plan.check(max_trials)
    todo, skipped = pending_trials(plan, store)
    if workers is not None and workers < 1:
        raise SweepError(f"--workers must be ≥ 1, got {workers}")
    pool = _RayPool(ray) if ray else _LocalPool(workers or CORES)
    began, seconds, done, failed = time.monotonic(), [], 0, 0
    starts: dict[int, float] = {}
    queue = list(todo)

    def report() -> Progress:
        p = Progress(
            done,
            len(pool.running),
            len(queue),
            failed,
            skipped,
            time.monotonic() - began,
            sum(seconds) / len(seconds) if seconds else 0.0,
            pool.size,
        )
        if progress is not None:
            progress(p)
        return p

    def fill() -> None:
        while queue and pool.has_room():
            trial = queue.pop(0)
            starts[id(trial)] = time.monotonic()
            pool.submit(trial)

    try:
        fill()
        report()
        while queue or pool.running:
            if cancel is not None and cancel.is_set():
                pool.cancel()
                break
            ended = pool.wait(WAIT_S)
            for trial, records, error in ended:
                store_trial(store, plan.name, trial, records, error)
                seconds.append(time.monotonic() - starts.pop(id(trial)))
                done += error is None
                failed += error is not None
            fill()
            if ended:
                report()
    finally:
        pool.close()
    return report()
