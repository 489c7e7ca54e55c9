"""Front-end policy, written once: what happens when a viewer presses a button, moves a knob, opens a
link or uploads a file, and what the page then says. The Streamlit app and the notebook dashboard both
hold one `Session` and only draw what it answers (buttons, the status line, ONE message, the link).

Values are parsed once, here (widget -> `Session.wanted` -> the run -> the model); a run is only ever
steered through the session that started it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from explorer.core.data import NOT_OFFERED, SHIPPED, UPLOADS, save_upload
from explorer.page.controls import check_from_page, widget_values
from explorer.page.guesses import GUESSES, QUESTION, Prediction
from explorer.page.links import link_query
from explorer.page.panels import MAX_SAMPLE_TOKENS, NO_KNOB
from explorer.page.status import STATUS_LEVEL, Message, describe_changes, setup_changes, status_line, waiting_line
from explorer.runs import worker
from explorer.runs.cpu import CORES, sweep_workers, trials_limit
from explorer.runs.history import Snapshot
from explorer.runs.live import LiveRun
from explorer.runs.store import RunStore
from explorer.runs.sweep_job import SweepJob
from explorer.runs.sweep_plan import grid_plan, parse_grid, parse_seeds, repeat_plan
from explorer.runs.sweep_summary import SweepSummary
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import KNOBS, LIVE_KNOBS, Config
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import describe_move, plural, size_problem
from explorer.views.run_charts import describe_differences


@dataclass(frozen=True)
class Button:
    label: str
    enabled: bool
    help: str


MAX_UPLOADS = 3  # a viewer's own files


def schedule_of(snap: Snapshot) -> dict[int, dict]:
    """A run's knob moves as a schedule ({step: {knob: value}}), to repeat it with other seeds."""
    schedule: dict[int, dict] = {}
    for event in snap.knob_changes():
        schedule.setdefault(event["step"], {})[event["knob"]] = event["new"]
    return schedule


# ------------------------------------------------------------------------------------------------ the session
class Session:
    """One viewer's page: the setup and knobs they want, their run, and what the page should say."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        source: str,
        owner: str,
        watchdog: Callable[[], bool] | None = None,
        locked: dict | None = None,
        hidden: frozenset = frozenset(),
        notices: list[str] | None = None,
        preset: str | None = None,
        store: str | Path | bool = True,
        uploads: Path = UPLOADS,
        warm: bool = True,
    ):
        self.locked = dict(locked or {})  # knob -> value: shown, not movable
        self.hidden = frozenset(hidden)  # not shown; keep their starting value
        self.wanted = (config or Config()).replace(**self.locked)
        self.preset = preset
        self.notices = list(notices or [])  # what a link could not do: shown until the page reloads
        self.flash: Message | None = None  # the last action's outcome: shown until the next action
        self.uploads: dict[str, str] = {}  # this viewer's own uploads: label -> path
        self.uploads_dir = uploads
        self.run = LiveRun(self.wanted, watchdog=watchdog, store=store, source=source, owner=owner, warm=warm)
        if source == "app":  # a web page's run: its worker, too, refuses any corpus but the shipped ones and uploads
            self.run.uploads = str(uploads)
        self.owner = owner
        self.jobs: dict[str, SweepJob] = {}  # "seeds": the comparison repeated over seeds; "sweep": a grid
        self.lock = threading.RLock()  # the page's actions and the class queue's start of this run, one at a time
        self._sampling = threading.Lock()  # a sample asked of the worker, one at a time
        self.predict = False  # a class lesson's: a knob move waits for the viewer's prediction (explorer.page.guesses)
        self.question = QUESTION
        self.pending: dict | None = None  # knob values held until the viewer predicts
        self.predictions: list[Prediction] = []
        self.classroom = None  # class mode: the server's Classroom and this viewer's Seat in it
        self.seat = None
        self.lesson_version = 0  # the class lesson this page last followed
        self._store: RunStore | None = None  # opened by the first read: store()

    # ------------------------------------------------------------------------------------ actions
    def act(self, action: Callable, *args, **kwargs):
        """Run one user action; a mistake becomes the page's one message, never a traceback. One at a
        time: the class queue starts a run from its own thread under the same lock."""
        with self.lock:
            self.flash = None
            try:
                return action(*args, **kwargs)
            except ExplorerError as err:
                self.flash = Message("error", str(err))
            except Exception as err:  # noqa: BLE001 - e.g. out of memory for a huge model: say so, keep the page
                self.flash = Message("error", f"could not do that: {type(err).__name__}: {err}")
            return None

    def widget_state(self) -> dict:
        """What every widget shows for the setup and knobs this page wants (the corpus select too)."""
        return widget_values(self.wanted) | {"corpus": self.wanted.corpus}

    def movable(self, name: str) -> bool:
        return name not in self.locked and name not in self.hidden

    def set_knobs(self, values: dict) -> None:
        """Widget values in: the ones that differ are parsed into `wanted`; live ones reach the running
        model at its next step; setup waits for Reset. A locked knob cannot move (checked here, not only
        by a disabled widget)."""
        shown = widget_values(self.wanted)  # a widget still showing its nearest to a link's value did not move
        changed = {
            name: value
            for name, value in values.items()
            if getattr(self.wanted, name) != value and (name not in shown or shown[name] != value)
        }
        if not changed:
            return
        blocked = [name for name in changed if not self.movable(name)]
        if blocked:
            raise ConfigError(f"{blocked[0]} is fixed in this lesson")
        for name, value in changed.items():
            self._check_from_page(name, value)
        live = {name: value for name, value in changed.items() if name in LIVE_KNOBS}
        if self.predict and live and self._baseline() is not None:
            self.pending = (self.pending or {}) | live  # they take effect once the viewer has predicted
            changed = {name: value for name, value in changed.items() if name not in live}
        self._apply(changed)

    def _check_from_page(self, name: str, value) -> None:
        """A page's value is untrusted (a browser can send any value, whatever its widget offers): the corpus
        must be one this page lists, setup within what the widgets offer. Said without looking at the disk."""
        if name == "corpus":
            if value not in self.corpus_choices().values():
                raise ConfigError(NOT_OFFERED)
        elif name in KNOBS:
            check_from_page(name, KNOBS[name].parse(value))

    def _apply(self, changed: dict, cause: str | None = None) -> None:
        self.wanted = self.wanted.replace(**changed)
        live = {name: getattr(self.wanted, name) for name in changed if name in LIVE_KNOBS}
        if live:
            self.run.set_knobs(cause, **live)

    # ------------------------------------------------------------------------------------ predict, then observe
    def _baseline(self) -> float | None:
        """The validation loss a prediction is measured from: the running run's latest evaluation."""
        evals = self.run.snapshot().evals if self.run.status in ("running", "paused") else []
        return evals[-1]["val_loss"] if evals else None

    def answer(self, guess: str) -> None:
        """The viewer's prediction for the held knob move: the move takes effect now, the outcome is known
        PREDICT_EVALS evaluations later (`observe`)."""
        if guess not in GUESSES:
            raise ConfigError(f"a prediction is one of {', '.join(GUESSES)}")
        if not self.pending:
            raise ConfigError("no knob move is waiting for a prediction")
        changed, self.pending = self.pending, None
        before, step, move = self._baseline(), self.run.snapshot().last_step, self._move(changed)
        self._apply(changed)
        if before is not None:
            self.predictions.append(Prediction(move, guess, self.run.run_id, step, before))
            self._keep_predictions()
            self.flash = Message("info", f"Noted: you expect validation loss to {GUESSES[guess]}. Watch the chart.")

    def _keep_predictions(self) -> None:
        """In a class, the seat's predictions go to the store too: a restarted class keeps its tally."""
        if self.classroom is not None:
            self.classroom.save_seat(self.seat)

    def _move(self, values: dict) -> str:
        """'dropout 0 → 0.5': from what this page wants now to `values`."""
        return describe_move({name: (getattr(self.wanted, name), value) for name, value in values.items()})

    def pending_move(self) -> str:
        """The knob move held until the viewer predicts, as the question's page says it."""
        return self._move(self.pending or {})

    def skip_prediction(self) -> None:
        """Take the held move back (the page puts its knobs back to `wanted`)."""
        self.pending = None

    def observe(self) -> Message | None:
        """The outcomes of the predictions whose evaluations are in; the page shows the latest one known."""
        snap = self.run.snapshot()
        for i, prediction in enumerate(self.predictions):
            if (known := prediction.observed(self.run.run_id, snap.evals)) is not None:
                self.predictions[i] = known
                self._keep_predictions()
        known = [p for p in self.predictions if p.outcome is not None]
        return Message("success" if known[-1].right else "warning", known[-1].sentence()) if known else None

    # ------------------------------------------------------------------------------------ class mode
    def join_class(self, classroom, seat) -> None:
        """This page's runs are the seat's: tagged with the class and the student's name in the store."""
        self.classroom, self.seat = classroom, seat
        self.run.host_in(classroom.hosts)  # its runs share the class's processes, one per core
        self.run.tags = {"class_name": classroom.name, "name": seat.name}
        self.run.source = "teacher" if seat.teacher else "class"

    def follow(self, lesson) -> None:
        """The teacher's lesson. A new preset sets every knob to the lesson's (live ones at once, setup on
        Reset; the corpus too), recorded as the lesson's moves, not the student's; an edit that keeps the
        preset (a new challenge, another locked knob) leaves the student's knobs alone. Locked and hidden
        knobs take the lesson's value; a held prediction goes only if its knob is now fixed. A parameter limit
        set while the run trains pauses a run over it."""
        with self.lock:
            lessons = preset_config(lesson.preset) if lesson.preset else Config()
            target = {name: getattr(lessons, name) for name in KNOBS if name != "device"}
            if lesson.preset is None or lesson.preset == self.preset:
                target = {name: target[name] for name in (*lesson.locked, *lesson.hidden)}
            self.preset = lesson.preset
            self._apply({k: v for k, v in target.items() if getattr(self.wanted, k) != v}, cause="lesson")
            self.hidden = frozenset(lesson.hidden)
            self.locked = {name: getattr(self.wanted, name) for name in lesson.locked}
            if self.pending and not all(self.movable(name) for name in self.pending):
                self.pending = None
            self.predict, self.question = lesson.predict, lesson.question
            self.run.max_params = lesson.max_params  # enforced by the worker before the run's first step
            if self.run.status == "running" and (problem := self._over_size()):
                self.run.pause()  # a limit set while it trains: it stops here, not at its next start
                self.flash = Message("error", problem)
            self.lesson_version = lesson.version

    def _over_size(self) -> str | None:
        """Why the run's model is over the class challenge's parameter limit, or None."""
        start = self.run.snapshot().start
        return size_problem(start["parameters"], self.run.max_params) if start else None

    def report(self, level: str, text: str) -> None:
        """What the class queue did off the page's thread (a start that failed, a place lost): the page's
        one message."""
        self.flash = Message(level, text)

    def end_turn(self) -> bool:
        """The class queue's: this run has trained a whole turn while classmates wait, so it pauses and queues
        again at the back; it goes on by itself from the same step when its turn comes. False if its page is
        busy (a Reset building a model): the queue asks again at its next look rather than wait for it."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if self.run.status != "running":
                return True
            self.run.pause()
            self.classroom.ask_to_train(self.seat, self._train_now)
            self.flash = Message(
                "info",
                f"Your turn is over ({self.classroom.turn_s:g} s while classmates waited): your run is paused "
                f"and goes on by itself from the same step when its turn comes again.",
            )
            return True
        finally:
            self.lock.release()

    def waiting(self) -> int | None:
        """Students ahead of this one in the class's queue, or None when not waiting."""
        return self.classroom.ahead(self.seat) if self.classroom is not None else None

    def _not_in_class(self, what: str) -> None:
        if self.classroom is not None:
            raise ConfigError(
                f"{what} is off in class mode: the class's server trains at most "
                f"{plural(self.classroom.max_runs, 'run')} at once, one per student"
            )

    def apply_preset(self, name: str) -> None:
        """A lesson's knobs, as if moved by hand: live ones reach the running model, setup waits for Reset.
        The corpus (unless the lesson brings its own), the device and the lesson's locked and hidden knobs stay."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        stay = ("device", *self.locked, *self.hidden) + (() if "corpus" in PRESETS[name].changes else ("corpus",))
        kept = {k: getattr(self.wanted, k) for k in stay}
        config = preset_config(name, Config()).replace(**kept)
        self.preset = name
        self.set_knobs({k: getattr(config, k) for k in KNOBS if getattr(config, k) != getattr(self.wanted, k)})

    def upload(self, name: str, content: bytes | None) -> None:
        """A viewer's own text file: stored by content, usable by this session only, selected at once. At most
        MAX_UPLOADS each: the server keeps uploads within a budget, least recently used first, so one page
        must not push out everyone else's."""
        if not self.movable("corpus"):
            raise ConfigError("corpus is fixed in this lesson")
        if len(self.uploads) >= MAX_UPLOADS:
            raise ConfigError(f"at most {MAX_UPLOADS} files of your own: train on one you uploaded already")
        if content is None:
            raise ConfigError("the file did not reach the server (it holds too many uploads at once): try again")
        path = str(save_upload(content, self.uploads_dir, name))
        self.uploads[f"{Path(name).name} (yours)"] = path
        self.set_knobs({"corpus": path})

    def corpus_choices(self) -> dict[str, str]:
        """Label -> corpus: the corpora explorer ships, this viewer's uploads, and a lesson's own file if it set one."""
        choices = {label: corpus for corpus, label in SHIPPED.items()} | self.uploads
        if self.wanted.corpus not in choices.values():
            choices[Path(self.wanted.corpus).name] = self.wanted.corpus
        return choices

    def viewer_left(self) -> None:
        """The viewer watchdog gave up: say why the run stopped, for when the page comes back."""
        self.flash = Message("warning", "Stopped: the page stopped answering (closed?). Press Train to start again.")

    def train(self) -> None:
        """Start (or resume, or continue after an early stop) with the wanted setup; in class mode, when a
        slot is free (else the run waits its turn and starts by itself)."""
        if self.classroom is None or self.run.status == "running":
            return self._train_now()
        self.classroom.ask_to_train(self.seat, self._train_now)  # while it waits, the status line says so

    def _train_now(self) -> None:
        with self.lock:
            if self.run.started and (problem := self._over_size()):  # a limit set while the run was paused
                raise ConfigError(problem)
            self._touch_upload()
            self.run.train(self.wanted)

    def reset(self) -> None:
        if self.classroom is not None:
            self.classroom.leave_queue(self.seat)
        self._touch_upload()
        self.run.reset(self.wanted)

    def _touch_upload(self) -> None:
        """An upload in use is recently used: the uploads folder's cleaning keeps it."""
        if self.wanted.corpus not in SHIPPED and Path(self.wanted.corpus).exists():
            os.utime(self.wanted.corpus)

    def pause_or_resume(self) -> None:
        """Pause frees the run's class slot; Resume asks for one again (Train does the same); while
        waiting for one, this button leaves the queue."""
        if self.waiting() is not None:
            self.classroom.leave_queue(self.seat)
            self.flash = Message("info", "You left the queue; your run is as it was. Train queues again.")
        else:
            (self.train if self.run.status == "paused" else self.run.pause)()

    def save(self) -> str:
        if not self.run.started:
            raise ConfigError("nothing to save yet: press Train first")
        name = self.run.save_run()
        self.flash = Message("success", f"Saved as “{name}”: change a knob, Reset and Train, then open Compare runs.")
        return name

    def clear_saved(self) -> None:
        self.run.clear_saved()

    def branch(self) -> str:
        """ "What if I had turned dropout on at step 300?": fork the run here; the branch keeps the knobs,
        this run takes the next move; Compare runs shows both from the same point."""
        self._not_in_class("Branching")
        name = self.run.branch()
        self.flash = Message(
            "success",
            f"Branched: “{name}” goes on with the knobs as they are; move a knob now and only this run takes "
            f"it. Compare runs shows both.",
        )
        return name

    def sample(self, prompt: str, length: int, temperature: float, seed: int) -> tuple[str | None, Message | None]:
        """(text, None) or (None, why not): the sample panel shows one or the other. The length and prompt are a
        page's values: bounded here, or one forged request would keep the run's worker generating for hours."""
        if not self._sampling.acquire(blocking=False):  # one at a time, whatever the number of tabs
            return None, Message("info", "a sample is being written for this run: wait for it")
        try:
            if not 1 <= int(length) <= MAX_SAMPLE_TOKENS or len(str(prompt)) > MAX_SAMPLE_TOKENS:
                raise ConfigError(f"a sample is at most {MAX_SAMPLE_TOKENS:,} tokens after a prompt of at most as many")
            return self.run.sample(str(prompt), int(length), temperature, seed), None
        except ExplorerError as err:
            return None, Message("info" if not self.run.started else "warning", str(err))
        finally:
            self._sampling.release()

    def repeat_over_seeds(self, seeds: int) -> None:
        """The comparison on screen (the saved runs and the current one) trained again over `seeds` seeds
        in the background, each as long as it ran and with its knob moves at the same steps."""
        snaps = [s for s in self.comparison() if s.start is not None]
        if not snaps:
            raise ConfigError("nothing to repeat yet: press Train first")
        differences = describe_differences(snaps)
        runs = [
            (
                f"{snap.name}: {differences[snap.name]}" if differences.get(snap.name) else snap.name,
                snap.start["config"],
                snap.last_step,
                schedule_of(snap),
            )
            for snap in snaps
        ]
        first = min(snap.start["config"]["seed"] for snap in snaps)
        plan = repeat_plan(self._job_name("seeds"), runs, parse_seeds(seeds, first))
        self._start_job("seeds", plan)

    def start_sweep(self, grid: list[tuple[str, str]], seeds: int, steps: int | None = None) -> None:
        """A grid of knob values ([("dropout", "0, 0.25, 0.5"), ...], as the Sweep tab's pickers hold them;
        NO_KNOB is skipped) × seeds on top of the setup shown, each trial trained for `steps` (default: the
        setup's budget) in the background."""
        picked = [(knob, values) for knob, values in grid if knob and knob != NO_KNOB]
        if not picked:
            raise ConfigError("pick at least one knob and its values")
        names = [knob for knob, _ in picked]
        if len(set(names)) < len(names):
            raise ConfigError(f"{names[0]} is picked twice: pick another second knob, or {NO_KNOB}")
        items = [f"{knob}={values}" for knob, values in picked]
        base = self.wanted if steps is None else self.wanted.replace(steps=steps)
        plan = grid_plan(self._job_name("sweep"), base, parse_grid(items), parse_seeds(seeds, base.seed))
        self._start_job("sweep", plan)

    def cancel_job(self, kind: str) -> None:
        if kind in self.jobs:
            self.jobs[kind].cancel()

    def _job_name(self, kind: str) -> str:
        return f"{kind}-{self.owner[:8]}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"

    def _start_job(self, kind: str, plan) -> None:
        self._not_in_class("Training in the background")
        if kind in self.jobs and self.jobs[kind].running:
            raise ConfigError("one is still running: cancel it first, or wait for it to finish")
        limit = trials_limit()
        trials = len(plan.arms) * len(plan.seeds)
        if trials > limit:
            raise ConfigError(
                f"{plural(trials, 'trial')} is more than this machine trains in a lesson (at most {limit} on "
                f"{plural(CORES, 'core')}): use fewer values or seeds"
            )
        plan.check(limit)
        if self.run.store_path is None:
            raise ConfigError("sweeps need the run store, and this page runs without one")
        workers = sweep_workers(worker.active_count())
        self.jobs[kind] = SweepJob(plan, self.run.store_path, workers, limit, watchdog=self.run.viewer_here)
        self.flash = Message(
            "success",
            f"Started {plural(trials, 'trial')} ({plural(len(plan.arms), 'arm')} × {plural(len(plan.seeds), 'seed')})"
            f" in the background on {plural(workers, 'worker')}; the charts fill in as trials finish.",
        )

    def close(self) -> None:
        for job in self.jobs.values():
            job.cancel(wait=False)
        self.run.close()
        if self._store is not None:
            self._store.close()

    # ------------------------------------------------------------------------------------ what to draw
    def status(self) -> Message:
        if (ahead := self.waiting()) is not None:
            return Message("info", waiting_line(ahead, self.classroom.max_runs))
        status, snap = self.run.status, self.run.snapshot()
        return Message(STATUS_LEVEL.get(status, "info"), status_line(status, snap, self.run.device, self.run.error))

    def message(self) -> Message | None:
        """The page's ONE message: the last action's outcome, else setup that waits for Reset."""
        if self.flash is not None:
            return self.flash
        if self.run.started and (pending := setup_changes(self.run.config, self.wanted)):
            return Message("info", f"Setup changed ({describe_changes(pending)}): press Reset to build the new model.")
        return None

    def buttons(self) -> dict[str, Button]:
        """Labels and states from the run's status alone, so they always agree with it."""
        status, started = self.run.status, self.run.started
        goes_on = status in ("paused", "finished", "early_stop")
        if self.waiting() is not None:
            train = Button("… Waiting", False, "Your run starts by itself when a slot is free")
        else:
            train = Button(
                "▶ Continue" if goes_on else "▶ Train",
                status != "running",
                "Go on with the same model" if goes_on else "Start a run with the setup and knobs shown",
            )
        return {
            "train": train,
            "pause": Button(
                "▶ Resume" if status == "paused" else "❚❚ Pause",
                status in ("running", "paused"),
                "Hold the run; Resume goes on from the same step",
            )
            if self.waiting() is None
            else Button("✕ Leave the queue", True, "Stop waiting for a slot; your run stays as it is"),
            "reset": Button(
                "↺ Reset", True, "A fresh model with the current setup and knobs, same seed; waits for Train"
            ),
            "branch": Button(
                "↳ Branch here",
                self.classroom is None and status in ("running", "paused", "finished", "early_stop"),
                "Fork the run at this step: the branch keeps the knobs, this run takes your next change",
            ),
            "save": Button("Save run", started, "Keep this run's curves to compare later runs with (Compare runs)"),
            "clear": Button("Clear saved", bool(self.run.saved), "Forget the saved runs"),
        }

    def link(self) -> dict[str, str]:
        return link_query(self.wanted, self.preset, self.locked, self.hidden)

    def snapshot(self) -> Snapshot:
        """This page's run as it is now (what its charts, its sample and its downloads are drawn from)."""
        return self.run.snapshot()

    def comparison(self) -> list[Snapshot]:
        return self.run.comparison()

    def run_status(self) -> str:
        """idle | running | paused | finished | early_stop | stopped | diverged | error."""
        return self.run.status

    def busy(self) -> bool:
        """True while the run trains or a background job runs: the page keeps refreshing."""
        return self.run.status == "running" or any(self.job_running(kind) for kind in list(self.jobs))

    def job_running(self, kind: str) -> bool:
        return kind in self.jobs and self.jobs[kind].running

    def job_line(self, kind: str) -> Message | None:
        """A background job's one status line ("3 done · 2 running · …", "Done: …"), None before it starts."""
        job = self.jobs.get(kind)
        if job is None:
            return None
        level = "error" if job.error else "info" if job.running else "warning" if job.cancelled else "success"
        return Message(level, job.text)

    def job_summary(self, kind: str) -> SweepSummary:
        """What a started job has found so far, from the store (read again only when another trial has ended)."""
        return self.jobs[kind].summary()

    def store(self) -> RunStore:
        """The run store this page's runs go to, opened once, for reading (a class's board reads it)."""
        if self._store is None:
            self._store = RunStore(self.run.store_path)
        return self._store
