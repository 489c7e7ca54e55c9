"""A sweep in the background of a page: the app's and the dashboard's "Repeat over seeds" and Sweep
tab start one, keep drawing while it runs, and read its summary from the store as trials finish."""

from __future__ import annotations

import threading
from collections.abc import Callable

from explorer.runs.store import RunStore
from explorer.runs.sweep import Progress, run_sweep
from explorer.runs.sweep_plan import Plan
from explorer.runs.sweep_summary import SweepSummary, summarize
from explorer.spec.errors import ExplorerError

WATCH_S = 1.0


class SweepJob:
    def __init__(
        self,
        plan: Plan,
        store_path: str,
        workers: int,
        max_trials: int,
        watchdog: Callable[[], bool] | None = None,
    ):
        """`watchdog`: the page's "is my viewer still here?"; once it says no, the job is cancelled (a
        closed tab must not keep the machine busy)."""
        self.plan = plan
        self.watchdog = watchdog
        self.progress: Progress | None = None
        self.error: str | None = None
        self._cancel = threading.Event()
        self._store = RunStore(store_path)
        self._summary: tuple[int, SweepSummary] | None = None
        self._thread = threading.Thread(
            target=self._run, args=(workers, max_trials), name="explorer-sweep", daemon=True
        )
        self._thread.start()
        if watchdog is not None:
            threading.Thread(target=self._watch, name="explorer-sweep-watch", daemon=True).start()

    def _watch(self) -> None:
        while self._thread.is_alive():
            if not self.watchdog():
                self._cancel.set()
                return
            self._thread.join(WATCH_S)

    def _run(self, workers: int, max_trials: int) -> None:
        try:
            run_sweep(
                self.plan, self._store, workers, progress=self._report, cancel=self._cancel, max_trials=max_trials
            )
        except ExplorerError as err:
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - the page shows one line and stays usable
            self.error = f"the sweep stopped: {type(err).__name__}: {err}"

    def _report(self, progress: Progress) -> None:
        self.progress = progress

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self, wait: bool = True) -> None:
        """Stop: the trials in flight are killed; the finished ones stay in the store."""
        self._cancel.set()
        if wait:
            self._thread.join(30)

    @property
    def text(self) -> str:
        """One line for the page: where the sweep is, or how it ended."""
        if self.error:
            return self.error
        p = self.progress
        if p is None:
            return "Starting…"
        if self.cancelled and not self.running:
            return f"Cancelled: {p.done + p.skipped} of {len(self.plan.trials)} trials finished (kept in the store)."
        if not self.running:
            return f"Done: {p.done} trials{f', {p.failed} failed' if p.failed else ''} in {p.seconds:.0f} s."
        return p.text

    def summary(self) -> SweepSummary:
        """Read back from the store, again only when another trial has ended."""
        ended = -1 if self.progress is None else self.progress.done + self.progress.failed
        if self._summary is None or self._summary[0] != ended:
            self._summary = (ended, summarize(self._store, self.plan.name))
        return self._summary[1]
