"""A class of 30 on one 2-core server, every student training the app's default model open-ended: does every run
start at once, does every run make progress, do the cores go to the class, do the pages and the teacher's page keep
up? (issue 21's judging line)

    .venv/bin/python benchmarks/class_load.py [--students 30] [--seconds 60] [--worker-nice N] [--browsers 4]

Part 1, the controller (in this process: the explorer code the server runs for each page, without
Streamlit's own work). First one run of the app's default model (char LSTM 1×128, Tiny Shakespeare) trains
alone on one thread for --lone-seconds: its steps/s is what one core gives a run. Then one Classroom (no
limit unless --max-runs: what memory holds; store in a temp dir), --students Sessions on the default model,
open-ended, each with its seat and its own RunStore, as the app gives every browser session (no worker until
Train, as a class page). Each page turns once a second on its own thread, as the app's fragment does
(REFRESH_S); a *page turn* is status(), buttons(), message(), snapshot(), observe(), student_board() and the
gap chart built and handed over as the page does (streamlit_parts.vega). Every 2 s (the teacher page's
REFRESH_S) a teacher refresh is timed: the board read from the store as class_board() reads it when its 1 s
cache has expired, the three class charts, the predictions' tally. Everyone presses Train, --press-gap apart;
each run's start is the time from its Train to its first step on its page. Once all train, every run's step
is read every --sample seconds for --seconds: per-run steps/s (the slowest against the fair share, cores ×
the lone run's steps/s / students), the slowest run in each window (no run may stall), the class's total
against cores × the lone run's steps/s; page turn median and p95; each worker's unique memory (USS).
--worker-nice sets the niceness of the class's workers ($EXPLORER_WORKER_NICE; 0: as the server) to compare
the page turns with and without their yielding.

Part 2, the real server: `streamlit run streamlit_app.py` in class mode (EXPLORER_CLASS, a fixed token,
EXPLORER_MAX_RUNS) on part 1's store, so the teacher's page draws part 1's 30 runs as well as the live ones
(its "joined" count is this server's: the browsers). Headless Chromium opens the teacher's page and
--browsers students' pages (separate contexts: separate sessions); each joins and presses Train in turn.
Then, while every page keeps refreshing, a running student presses Pause, the first in line must start
while the others keep waiting, and the paused one presses Resume (back of the queue), round after round:
  round trip   click -> that page shows the result (its buttons read "▶ Resume", "… Waiting", ...),
               timed inside the page from the click event to the first animation frame that shows it;
  hand-over    Pause click -> the next student's status line says Training (the queue's dispatcher, a
               warm worker taking the run, that page's once-a-second refresh);
  buttons      whether that page's buttons follow (❚❚ Pause enabled) within 10 s; if not, the page is
               counted and its student presses the Train button the page still offers, to go on;
  status line  time between changes of a training student's status line (its step count): the page's
               real refresh period, where a stall would show;
  teacher      time between changes of the leaderboard's text (it changes at every refresh while runs
               train, as their step counts move): how often the teacher sees news, not how long a refresh
               takes on the server (that is part 1's figure).
Chromium shares the 2 cores with the server (the CPU split is printed): in a classroom the browsers run on
the students' laptops, so the server here has less CPU than it would have, and the figures err on the slow
side. Niceness does not fix that: Playwright starts Chromium in a session of its own, and with the kernel's
autogroup scheduling `nice` alone (benchmarks/concurrency.py's --browser-nice) changes nothing; setting the
niceness of Chromium's autogroup (--browser-nice here does both) starves it instead: at 19 a click on a
2-core machine timed out after 90 s, at 10 (other programs busy too) round trips took 10–30 s.
Four students and the teacher: the two runs alone would take both cores, each open page costs the server a
rerun a second and Chromium its drawing; with five pages the machine is saturated (the CPU line), so more
pages would measure Chromium, not the server.

Part 2 keeps a queue to measure (--browser-max-runs, default 2: the teacher's limit, below the browsers).
Targets (the issue): every run starts within 5 s of its Train; the slowest run ≥ 0.5× the fair share; the
class's total ≥ 0.9× the cores' one run per core; page turn median < 1 s, p95 < 2 s; the teacher's page
under 2 s per refresh; in the browser, round trip median < 1 s and the queue drains in order.
Takes about 4 minutes with the defaults.

--ray: part 1 only, with every run in a Ray actor on a local cluster of two nodes (`ray.cluster_utils.Cluster`: a
head and a second node, each its own raylet, each offering half the class's runs as logical CPUs, since Ray places
one run per CPU and both nodes share this machine's cores as the local class does). It adds the runs per node and
Ray's overhead per run: one run in an actor against one in a local worker process, each alone on one thread. The
yardsticks of the fair share and of the total are then the runs in actors.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.classroom import board as board_module
from explorer.classroom.board import student_board
from explorer.classroom.charts import class_curves_chart, knob_timeline_chart, outcome_chart
from explorer.classroom.seats import Classroom
from explorer.faces.streamlit.parts import vega
from explorer.page.session import Session
from explorer.runs.cpu import WORKER_NICE
from explorer.runs.protocol import RAY_ENV
from explorer.runs.store import RunStore
from explorer.spec.knobs import Config
from explorer.views.registry import VIEWS
from tests.app_server import (
    CHROMIUM_ARGS,
    StreamlitServer,
    niced_chromium,
    status_text,
    step_of,
    tiny_query,
    wait_until,
)

CLASS = "load-test"
TOKEN = "class-load-teacher-token-0123456789"
STUDENT_REFRESH_S = 1.0  # streamlit_app.REFRESH_S: a class page's fragment reruns once a second
TEACHER_REFRESH_S = 2.0  # explorer.faces.streamlit.teacher_page.REFRESH_S
DEFAULT = Config(steps=1_000_000)  # the app's default model; open-ended in class mode anyway


# ------------------------------------------------------------------------------------------------ figures
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan


def spread(values: list[float], unit: str = "s") -> str:
    if not values:
        return "none measured"
    scale, digits = (1000, 0) if unit == "ms" else (1, 2)
    median, p95, top = (scale * v for v in (pct(values, 0.5), pct(values, 0.95), max(values)))
    n = len(values)
    return f"median {median:.{digits}f} {unit}, p95 {p95:.{digits}f} {unit}, max {top:.{digits}f} {unit} (n={n})"


class Report:
    """Rows of (part, what, figure), printed as one table at the end."""

    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []
        # per target: (what was found, True/False if it decides the verdict, None if it is only context)
        self.verdicts: dict[str, list[tuple[str, bool | None]]] = {
            key: [] for key in ("start", "progress", "total", "round trip", "order", "teacher")
        }

    def add(self, part: str, what: str, figure: str) -> None:
        self.rows.append((part, what, figure))
        print(f"  {what}: {figure}", flush=True)

    def print(self) -> None:
        width = max(len(what) for _, what, _ in self.rows)
        part = None
        print("\n== figures ==")
        for where, what, figure in self.rows:
            if where != part:
                part = where
                print(f"\n{where}")
            print(f"  {what:<{width}}  {figure}")


class CpuMeter:
    """CPU seconds used by the machine, by a process tree, and by this process's other children (psutil)."""

    def __init__(self):
        import psutil

        self.psutil = psutil

    def used(self, process) -> float:
        try:
            times = process.cpu_times()
            return times.user + times.system + times.children_user + times.children_system
        except self.psutil.Error:
            return 0.0

    def tree(self, pid: int) -> float:
        try:
            root = self.psutil.Process(pid)
            return self.used(root) + sum(self.used(c) for c in root.children(recursive=True))
        except self.psutil.Error:
            return 0.0

    def name(self, process) -> str:
        try:
            return process.name() or ""
        except self.psutil.Error:
            return ""

    def chromium(self) -> float:
        """Chromium started by this process (Playwright's), not other programs' browsers."""
        me = self.psutil.Process()
        return sum(self.used(c) for c in me.children(recursive=True) if "chrom" in self.name(c))

    def machine(self) -> float:
        times = self.psutil.cpu_times()
        return times.user + times.nice + times.system + getattr(times, "irq", 0) + getattr(times, "softirq", 0)

    def split(self) -> tuple[float, float, float]:
        """CPU seconds so far: this process, its children (workers, forkserver), the whole machine."""
        me = self.psutil.Process()
        times = me.cpu_times()
        own = times.user + times.system
        children = sum(self.used(c) for c in me.children(recursive=True)) + times.children_user + times.children_system
        return own, children, self.machine()

    def unique_memory(self) -> tuple[int, float]:
        """(processes, MB of unique memory) of this process's children: forkserver and workers."""
        total, count = 0, 0
        for child in self.psutil.Process().children(recursive=True):
            try:
                total += child.memory_full_info().uss
                count += 1
            except self.psutil.Error:
                pass
        return count, total / 2**20


# ------------------------------------------------------------------------------------------------ part 1
class SimPage:
    """One student's browser session as the server holds it: a Session (no worker until Train, as a class page),
    its seat, its own RunStore."""

    def __init__(self, classroom: Classroom, index: int, config: Config):
        self.index, self.key, self.open = index, f"sim-{index:02d}", True
        self.session = Session(config, source="app", owner=self.key, store=classroom.store_path, warm=False)
        self.seat = classroom.join(self.key, f"Student {index + 1:02d}", self.session, lambda: self.open)
        self.session.join_class(classroom, self.seat)
        self.store = RunStore(classroom.store_path)
        self.classroom = classroom

    def turn(self) -> float:
        """What one refresh of the page asks of the server's explorer code; seconds."""
        began, s = time.perf_counter(), self.session
        s.status(), s.buttons(), s.message()
        snap = s.run.snapshot()
        s.observe()
        student_board(self.classroom, self.store, self.seat)
        others = s.comparison()[:-1]
        vega(VIEWS["gap"].charts[0].build(snap, others, height=300))
        return time.perf_counter() - began

    def step(self) -> int:
        return self.session.run.snapshot().last_step

    def close(self) -> None:
        self.open = False
        self.session.close()
        self.store.close()


def teacher_refresh(classroom: Classroom, store: RunStore) -> tuple[float, int, int]:
    """One refresh of the teacher's board panel on a cache miss: (seconds, leaderboard rows, curve points)."""
    began = time.perf_counter()
    classroom.check_teacher(TOKEN)
    board = board_module._read_now(classroom, store)  # what class_board does when its 1 s cache has expired
    classroom.board_read = (time.monotonic(), board)
    vega(class_curves_chart(board, height=360, projector=True))
    vega(outcome_chart(board, classroom.lesson.compare_by, height=300, projector=True))
    height = max(240, min(720, 34 * len({m["student"] for m in board.moves})))
    vega(knob_timeline_chart(board, height=height, projector=True))
    classroom.tally(TOKEN)
    return time.perf_counter() - began, len(board.rows), len(board.curves)


def alone_speed(args, store_path: Path, report: Report, part: str, runs: int, where: str = "") -> float:
    """Steps/s of `runs` class runs of the default model training together on one thread each, summed: with 1,
    what one core gives a run (the yardstick of the fair share); with one per core, what the cores give the
    class at best. The first call also starts the forkserver the class's workers come from."""
    ray = os.environ.get(RAY_ENV)
    room = Classroom(f"{CLASS}-{runs}{where}", token=TOKEN, max_runs=runs, store_path=str(store_path), ray=ray)
    pages = [SimPage(room, 90 + i, DEFAULT) for i in range(runs)]
    try:
        for page in pages:
            page.session.run.torch_threads = 1
            page.session.act(page.session.train)
        wait_until(lambda: all(page.step() > 20 for page in pages), 120)
        time.sleep(2)
        first, began = [page.step() for page in pages], time.monotonic()
        time.sleep(args.lone_seconds)
        rate = sum(page.step() - a for page, a in zip(pages, first)) / (time.monotonic() - began)
    finally:
        for page in pages:
            page.close()
    what = "one run alone, one thread" if runs == 1 else f"{runs} runs at once (one per core), one thread each"
    what += " in Ray actors" if ray else ""
    report.add(part, what, f"{rate:.1f} steps/s in all over {args.lone_seconds:g} s")
    return rate


def controller_part(args, store_path: Path, report: Report, meter: CpuMeter | None) -> None:
    nice = os.environ.get("EXPLORER_WORKER_NICE", str(WORKER_NICE))
    part = f"Part 1 · controller in-process: {args.students} students, the app's default model, workers at nice {nice}"
    print(f"\n{part}", flush=True)
    lone = alone_speed(args, store_path, report, part, 1)
    if args.ray:  # from here on, every run in an actor on the cluster
        os.environ[RAY_ENV] = args.ray
        local, lone = lone, alone_speed(args, store_path, report, part, 1, "-ray")
        pace = f"a run in an actor trains at {lone / local:.2f}× a local worker's steps/s"
        report.add(part, "Ray's overhead per run", pace)
    per_core = alone_speed(args, store_path, report, part, os.cpu_count() or 1)
    classroom = Classroom(
        CLASS, token=TOKEN, max_runs=args.max_runs, store_path=str(store_path), ray=os.environ.get(RAY_ENV)
    )
    report.add(part, "the class's limit", f"{classroom.max_runs} runs at once ({classroom.limit_by})")
    pages = [SimPage(classroom, i, DEFAULT) for i in range(args.students)]
    stop = threading.Event()
    turns: list[tuple[float, float]] = []  # (when, seconds) of every page turn
    teacher: list[tuple[float, float, int, int]] = []  # (when, seconds, rows, curve points)
    first_step: dict[int, float] = {}  # when each run's first step reached its page
    errors: list[str] = []

    def page_loop(page: SimPage) -> None:
        next_at = time.monotonic() + random.uniform(0, STUDENT_REFRESH_S)  # pages are not in step
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            began = time.monotonic()
            try:
                turns.append((began, page.turn()))
            except Exception as err:  # noqa: BLE001 - a failed turn is a finding, not the end of the benchmark
                errors.append(f"{page.key}: {type(err).__name__}: {err}")
            next_at = max(began + STUDENT_REFRESH_S, time.monotonic())  # a slow turn delays the next, no pile-up

    def teacher_loop(store: RunStore) -> None:
        while not stop.wait(TEACHER_REFRESH_S):
            try:
                teacher.append((time.monotonic(), *teacher_refresh(classroom, store)))
            except Exception as err:  # noqa: BLE001
                errors.append(f"teacher: {type(err).__name__}: {err}")

    def watch_starts() -> None:
        while not stop.is_set() and len(first_step) < len(pages):
            for page in pages:
                if page.index not in first_step and page.step() >= 1:
                    first_step[page.index] = time.monotonic()
            time.sleep(0.02)

    teacher_store = RunStore(str(store_path))
    threads = [threading.Thread(target=page_loop, args=(p,), name=f"page-{p.index}", daemon=True) for p in pages]
    threads += [
        threading.Thread(target=teacher_loop, args=(teacher_store,), name="teacher", daemon=True),
        threading.Thread(target=watch_starts, name="watch", daemon=True),
    ]
    samples: list[tuple[float, list[int]]] = []  # (when, every run's step) every --sample seconds
    try:
        for thread in threads:
            thread.start()
        time.sleep(2 * STUDENT_REFRESH_S)  # every page has turned at least once
        pressed: dict[int, float] = {}
        for page in pages:  # everyone presses Train, one after another as a class does within a few seconds
            pressed[page.index] = time.monotonic()
            page.session.act(page.session.train)
            if page.session.flash is not None:
                errors.append(f"{page.key} Train: {page.session.flash.text}")
            time.sleep(args.press_gap)
        wait_until(lambda: len(first_step) == len(pages), 240 if args.ray else 60)  # 30 actors import torch
        time.sleep(3)  # past the starts: the class as it trains
        cpu_before, began = (meter.split() if meter else None), time.monotonic()
        while time.monotonic() - began < args.seconds:
            samples.append((time.monotonic(), [p.step() for p in pages]))
            time.sleep(min(args.sample, max(0.0, began + args.seconds - time.monotonic())))
        samples.append((time.monotonic(), [p.step() for p in pages]))
        cpu_after = meter.split() if meter else None
        memory = worker_memory(pages) if meter else []
        if args.ray:
            nodes = [page.session.run.node for page in pages]
            counts = ", ".join(f"{nodes.count(node)} on node {node[:8]}" for node in dict.fromkeys(nodes))
            report.add(part, "runs per node of the Ray cluster", counts)
        statuses = [p.session.run.status for p in pages]
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        stop.set()
        with ThreadPoolExecutor(8) as pool:  # each close stops a worker process
            list(pool.map(SimPage.close, pages))
        teacher_store.close()
    measured = (began, samples[-1][0])
    class_figures(args, report, part, (lone, per_core), pressed, first_step, samples, turns, teacher, measured)
    if cpu_before and cpu_after:
        own, children, machine = ((b - a) / (measured[1] - measured[0]) for a, b in zip(cpu_before, cpu_after))
        report.add(
            part,
            "CPU over the window",
            f"this process (the pages, the teacher) {own:.2f} cores, the workers {children:.2f}, the whole machine "
            f"{machine:.2f} of {os.cpu_count()} (the rest: other programs)",
        )
    if memory:
        report.add(
            part,
            "memory per run (its worker process's unique memory, USS, over the runs it hosts)",
            f"{spread(memory, 'MB')}; {sum(memory):,.0f} MB for {len(memory)} runs in "
            f"{len({page.session.run.pid for page in pages})} processes",
        )
    running = sum(s == "running" for s in statuses)
    report.add(part, "runs still training at the end", f"{running}/{len(pages)}")
    report.add(part, "errors", "; ".join(errors[:5]) + (f" (+{len(errors) - 5})" if len(errors) > 5 else "") or "none")


def worker_memory(pages: list[SimPage]) -> list[float]:
    """MB of unique memory (USS) per training run: its worker process's, shared out among the runs that process
    hosts (a local class hosts several runs to a process, explorer.runs.hosts; a Ray actor one)."""
    import psutil

    hosted: dict[int, int] = {}
    for page in pages:
        if page.session.run.pid is not None:
            hosted[page.session.run.pid] = hosted.get(page.session.run.pid, 0) + 1
    sizes = []
    for pid, runs in hosted.items():
        try:
            sizes += [psutil.Process(pid).memory_full_info().uss / 2**20 / runs] * runs
        except psutil.Error:
            pass
    return sizes


def class_figures(args, report, part, yardsticks, pressed, first_step, samples, turns, teacher, measured) -> None:
    """The judging line's figures and verdicts from what part 1 recorded."""
    (lone, per_core), cores, n = yardsticks, os.cpu_count() or 1, len(pressed)
    starts = [first_step[i] - pressed[i] for i in pressed if i in first_step]
    report.add(part, "Train -> the run's first step on its page", f"{spread(starts)}; {len(starts)}/{n} started")
    report.verdicts["start"].append(
        (
            f"{len(starts)}/{n} started, slowest {max(starts, default=math.nan):.2f} s",
            len(starts) == n and max(starts) < 5,
        )
    )
    (t0, first), (t1, last) = samples[0], samples[-1]
    rates = [(b - a) / (t1 - t0) for a, b in zip(first, last)]
    fair = cores * lone / n
    report.add(
        part,
        f"steps/s per run over {t1 - t0:.0f} s",
        f"slowest {min(rates):.2f}, median {pct(rates, 0.5):.2f}, fastest {max(rates):.2f}; fair share {fair:.2f} "
        f"({cores} cores × {lone:.1f} / {n})",
    )
    windows = [
        min((b - a) / (u1 - u0) for a, b in zip(s0, s1)) for (u0, s0), (u1, s1) in zip(samples, samples[1:]) if u1 > u0
    ]
    report.add(
        part,
        f"the slowest run in each {args.sample:g} s window",
        f"{spread(windows, 'steps/s')}; windows in which a run made no step: {sum(w <= 0 for w in windows)}",
    )
    report.verdicts["progress"] += [
        (f"slowest run {min(rates):.2f} steps/s = {min(rates) / fair:.2f}× the fair share", min(rates) >= 0.5 * fair),
        (
            f"every run advanced in every {args.sample:g} s window: {'yes' if min(windows) > 0 else 'NO'}",
            min(windows) > 0,
        ),
    ]
    total = sum(rates)
    report.add(
        part,
        "the class's total",
        f"{total:.1f} steps/s = {total / per_core:.2f}× {cores} runs at once ({per_core:.1f}), "
        f"{total / (cores * lone):.2f}× {cores} × one alone",
    )
    report.verdicts["total"].append(
        (f"{total / per_core:.2f}× what the cores give one run per core", total >= 0.9 * per_core)
    )
    window = [s for when, s in turns if measured[0] <= when <= measured[1]]
    report.add(part, f"page turn, {n} pages each every {STUDENT_REFRESH_S:g} s, all training", spread(window, "ms"))
    per_page = len(window) / (measured[1] - measured[0]) / n
    report.add(part, "refreshes a page got", f"{per_page:.2f} per second each (asked: {1 / STUDENT_REFRESH_S:g})")
    report.verdicts["round trip"] += [
        (f"controller page turn median {pct(window, 0.5):.2f} s", pct(window, 0.5) < 1),
        (f"p95 {pct(window, 0.95):.2f} s", pct(window, 0.95) < 2),
    ]
    refresh = [s for when, s, *_ in teacher if measured[0] <= when <= measured[1]]
    rows = teacher[-1][2] if teacher else 0
    report.add(part, f"teacher refresh ({rows} runs: store read + 3 charts + tally)", spread(refresh))
    report.verdicts["teacher"].append(
        (f"controller: slowest refresh {max(refresh, default=math.nan):.2f} s", bool(refresh) and max(refresh) < 2)
    )


# ------------------------------------------------------------------------------------------------ part 2
STATE_JS = """() => {
    const labels = Array.from(document.querySelectorAll('.st-key-buttons button'), b => [b.innerText, b.disabled]);
    if (!labels.length) return 'none';
    if (labels.some(([t]) => t.includes('Waiting'))) return 'waiting';
    if (labels.some(([t]) => t.includes('Resume'))) return 'paused';
    if (labels.some(([t, off]) => t.includes('Pause') && !off)) return 'running';
    return 'idle';
}"""
# on every student page: when the last click happened, and every change of the status line (50 ms resolution)
WATCH_JS = """
document.addEventListener('click', () => { window.__clickAt = performance.now(); }, true);
window.__status = [];
setInterval(() => {
    const alerts = document.querySelectorAll("[data-testid^='stAlertContent']");
    const text = Array.from(alerts, a => a.innerText).find(t => t.includes('step ')) || '';
    const seen = window.__status;
    if (!seen.length || seen[seen.length - 1][1] !== text) seen.push([performance.now(), text]);
}, 50);
"""
TRAINING_JS = """() => Array.from(document.querySelectorAll("[data-testid^='stAlertContent']"), a => a.innerText)
    .some(t => t.startsWith('Training'))"""
TEACHER_JS = """() => {
    window.__changes = [];
    let last = null;
    setInterval(() => {
        const table = document.querySelector("[data-testid='stTable']");
        const text = table ? table.innerText : '';
        if (text !== last) { last = text; window.__changes.push(performance.now()); }
    }, 50);
}"""


def nice_autogroup(nice: int) -> str:
    """Playwright starts Chromium in a session of its own, and with the kernel's autogroup scheduling (on
    by default) a process's niceness only weighs against its own session: at nice 19 Chromium still took
    half of the machine. Setting the niceness of its autogroup (/proc/PID/autogroup) makes it count."""
    import psutil

    groups = {}
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name():
                groups.setdefault(Path(f"/proc/{child.pid}/autogroup").read_text().split()[0], child.pid)
        except (psutil.Error, OSError, IndexError):
            pass
    done = []
    for group, pid in groups.items():
        try:
            Path(f"/proc/{pid}/autogroup").write_text(str(nice))
            done.append(group)
        except OSError:
            pass
    return f"{', '.join(done)} set to nice {nice}" if done else "no autogroup could be set (not Linux, or not allowed)"


def state(page) -> str:
    try:
        return page.evaluate(STATE_JS)
    except Exception:  # noqa: BLE001 - a page mid-redraw: ask again
        return "none"


def steady_state(page, tries: int = 5) -> str:
    """The page's state, asked again while a redraw leaves it without buttons."""
    for _ in range(tries):
        if (now := state(page)) != "none":
            return now
        time.sleep(0.1)
    return "none"


def round_trip(page, label: str, want: str, timeout_s: float = 60.0) -> float:
    """Click the button `label`; seconds from the click event to the first frame whose buttons say `want`."""
    page.evaluate("() => { window.__clickAt = null; }")
    page.locator(".st-key-buttons").get_by_role("button", name=label, exact=True).click()
    return since_click(page, want, timeout_s)


def since_click(page, want: str, timeout_s: float) -> float:
    """Seconds from the page's last click event to the first frame whose buttons say `want`."""
    done = page.wait_for_function(
        f"want => window.__clickAt !== null && ({STATE_JS})() === want && performance.now() - window.__clickAt + 1e-6",
        arg=want,
        polling="raf",
        timeout=timeout_s * 1000,
    )
    return done.json_value() / 1000


def browser_part(args, home: Path, report: Report, meter: CpuMeter | None) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    part = f"Part 2 · real server: {args.browsers} students + the teacher in Chromium"
    print(f"\n{part}", flush=True)
    env = {
        "EXPLORER_CLASS": CLASS,
        "EXPLORER_CLASS_TOKEN": TOKEN,
        "EXPLORER_MAX_RUNS": str(args.browser_max_runs),
        "EXPLORER_HOME": str(home),
    }
    joins, trains, pauses, resumes, handovers, checks, stale = [], [], [], [], [], [], []
    with StreamlitServer(env=env) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=niced_chromium(args.browser_nice), headless=True, args=CHROMIUM_ARGS
        )
        groups = nice_autogroup(args.browser_nice) if args.browser_nice and meter else "left as it is (nice 0)"
        try:
            teacher = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
            teacher.set_default_timeout(90_000)
            teacher.goto(server.link(teacher=TOKEN))
            teacher.get_by_text("the teacher's page").wait_for()
            teacher.get_by_text("joined ·").wait_for()  # the board panel has drawn (part 1's runs, if any, in it)
            teacher.evaluate(TEACHER_JS)

            students = []
            for i in range(args.browsers):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_init_script(WATCH_JS)
                page = context.new_page()
                page.set_default_timeout(90_000)
                page.goto(server.link(**tiny_query()))
                page.locator(".st-key-join_name input").fill(f"Browser {i + 1}")
                page.evaluate("() => { window.__clickAt = null; }")
                page.get_by_role("button", name="Join the class").click()
                joins.append(since_click(page, "idle", 90))
                students.append(page)
            # the students press Train in order: the first ones start, the rest queue
            for i, page in enumerate(students):
                trains.append(round_trip(page, "▶ Train", "running" if i < args.browser_max_runs else "waiting", 90))
                time.sleep(0.3)
            running, queue = deque(students[: args.browser_max_runs]), deque(students[args.browser_max_runs :])
            time.sleep(3)  # the runs get going, the teacher's page sees them

            cpu_before = (meter.tree(server.process.pid), meter.chromium(), meter.machine()) if meter else None
            began = time.monotonic()
            teacher_from = teacher.evaluate("() => performance.now()")
            status_from = [page.evaluate("() => performance.now()") for page in students]
            while time.monotonic() - began < args.seconds:
                paused = running.popleft()
                clicked = time.perf_counter()
                pauses.append(round_trip(paused, "❚❚ Pause", "paused"))
                if queue:
                    following = queue.popleft()
                    try:  # the queue started the run: the page's status line (redrawn every second) says so
                        following.wait_for_function(TRAINING_JS, polling=50, timeout=60_000)
                        handovers.append(time.perf_counter() - clicked)
                        problem = (
                            "" if all(steady_state(p) == "waiting" for p in queue) else "another page left the queue"
                        )
                    except PlaywrightTimeout:
                        problem = "the first in line's status line did not say Training within 60 s"
                    checks.append(not problem)
                    try:  # and its buttons follow (Pause enabled), drawn by a full rerun the page asks for itself
                        following.wait_for_function(f"() => ({STATE_JS})() === 'running'", polling=50, timeout=10_000)
                    except PlaywrightTimeout:
                        stale.append(steady_state(following))
                        problem = problem or f"its run trains, but 10 s on its buttons still say {stale[-1]!r}"
                    if problem:
                        print(f"  ! hand-over {len(checks)}: {problem}:", flush=True)
                        for n, page in enumerate(students, start=1):
                            mark = " (first in line)" if page is following else ""
                            print(f"    Browser {n}{mark}: {steady_state(page)}: {status_text(page)!r}", flush=True)
                        print("    server log: " + " | ".join(server.lines[-3:]), flush=True)
                    if steady_state(following) != "running":  # what the student would do: press the enabled Train
                        following.locator(".st-key-train button:visible").first.click()
                        following.wait_for_function(f"() => ({STATE_JS})() === 'running'", polling=50)
                    running.append(following)
                    resumes.append(round_trip(paused, "▶ Resume", "waiting"))
                    queue.append(paused)
                else:
                    resumes.append(round_trip(paused, "▶ Resume", "running"))
                    running.append(paused)
                time.sleep(0.5)
            elapsed = time.monotonic() - began
            statuses = [
                page.evaluate("from => window.__status.filter(([t]) => t >= from)", since)
                for page, since in zip(students, status_from)
            ]
            changes = teacher.evaluate("from => window.__changes.filter(t => t >= from)", teacher_from)
            if meter:
                after = (meter.tree(server.process.pid), meter.chromium(), meter.machine())
                server_cpu, browser_cpu, machine = (b - a for a, b in zip(cpu_before, after))
            exceptions = sum(p.locator("[data-testid='stException']").count() for p in [teacher, *students])
            teacher_rows = teacher.locator("[data-testid='stTable']").first.locator("tbody tr").count()
        finally:
            browser.close()
    errors = [line for line in server.lines if "Traceback" in line or "Error" in line or "explorer:" in line]

    report.add(part, "Chromium's scheduling group", groups)
    report.add(part, "join (click -> the Train button)", spread(joins))
    report.add(
        part,
        "Train round trip",
        f"starting a run: {', '.join(f'{s:.2f} s' for s in trains[: args.browser_max_runs])}; "
        f"queued: {', '.join(f'{s:.2f} s' for s in trains[args.browser_max_runs :])}",
    )
    report.add(part, "Pause round trip (click -> '▶ Resume' shown)", spread(pauses))
    report.add(part, "Resume round trip (click -> '… Waiting' shown)", spread(resumes))
    every = trains + pauses + resumes
    report.add(part, "every button round trip", f"{spread(every)}; {sum(t < 1 for t in every)}/{len(every)} under 1 s")
    report.verdicts["round trip"] += [
        (f"browser button round trip median {pct(every, 0.5):.2f} s", pct(every, 0.5) < 1),
        (f"{len(stale)} pages left with stale buttons after the queue started their run", None),
    ]
    report.add(part, "queue hand-over (Pause click -> the next page's status line says Training)", spread(handovers))
    report.add(
        part,
        "order checks",
        f"{sum(checks)}/{len(checks)} hand-overs went to the first in line while the others kept waiting",
    )
    report.add(
        part,
        "buttons left behind",
        f"{len(stale)}/{len(checks)} pages whose run the queue started still showed {sorted(set(stale))} buttons "
        "10 s later (Pause disabled while it trains), until the student pressed the Train button"
        if stale
        else f"none: every page whose run the queue started showed ❚❚ Pause within 10 s ({len(checks)} hand-overs)",
    )
    report.verdicts["order"].append(
        (f"browser: {sum(checks)}/{len(checks)} hand-overs in order", bool(checks) and all(checks))
    )
    training = [
        (b[0] - a[0]) / 1000
        for seen in statuses
        for a, b in zip(seen, seen[1:])
        if a[1].startswith("Training") and b[1].startswith("Training")
    ]
    report.add(part, "a training student's status line: time between updates", spread(training))
    moved = [
        (step_of(b[1]) - step_of(a[1]), (b[0] - a[0]) / 1000)
        for seen in statuses
        for a, b in zip(seen, seen[1:])
        if a[1].startswith("Training") and b[1].startswith("Training")
    ]
    if moved:
        rate = sum(steps for steps, _ in moved) / sum(seconds for _, seconds in moved)
        report.add(part, "a training run's speed (its status line)", f"{rate:.0f} steps/s")
    periods = [(b - a) / 1000 for a, b in zip(changes, changes[1:])]
    report.add(
        part,
        f"teacher page: time between leaderboard updates ({teacher_rows} rows)",
        f"{spread(periods)} over {elapsed:.0f} s",
    )
    report.verdicts["teacher"] += [
        (
            f"browser: the leaderboard updated every {pct(periods, 0.5):.2f} s (median; its timer: "
            f"{TEACHER_REFRESH_S:g} s, allowed {TEACHER_REFRESH_S + 0.5:g})",
            pct(periods, 0.5) <= TEACHER_REFRESH_S + 0.5,
        ),
        (f"p95 {pct(periods, 0.95):.2f} s", None),
    ]
    if meter:
        report.add(
            part,
            "CPU over the window",
            f"server and its workers {server_cpu / elapsed:.2f} cores, Chromium {browser_cpu / elapsed:.2f} cores, "
            f"the whole machine {machine / elapsed:.2f} of {os.cpu_count()} cores (the rest: other programs)",
        )
    report.add(
        part,
        "errors",
        f"{exceptions} exceptions drawn on the pages; server log: " + ("; ".join(errors[:3]) or "clean"),
    )


@contextmanager
def local_cluster(students: int):
    """A head and a second node on this machine, half the class's runs each (logical CPUs); all of it stopped after."""
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # one machine: no token to pass around
    half = {"num_cpus": math.ceil(students / 2) + 1, "include_dashboard": False}  # + the yardsticks' runs
    cluster = Cluster(initialize_head=True, head_node_args=half)
    cluster.add_node(**half)
    try:
        yield cluster.address
    finally:
        os.environ.pop(RAY_ENV, None)
        ray.shutdown()
        cluster.shutdown()


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="simulated students in part 1")
    parser.add_argument("--max-runs", type=int, default=None, help="part 1's limit (default: what memory holds)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each part's measured window")
    parser.add_argument("--lone-seconds", type=float, default=10.0, help="the lone run's measured window")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between reads of every run's step")
    parser.add_argument("--press-gap", type=float, default=0.1, help="seconds between two students' Train")
    parser.add_argument("--worker-nice", type=int, default=None, help=f"workers' niceness (default {WORKER_NICE})")
    parser.add_argument("--browsers", type=int, default=4, help="students' pages in Chromium in part 2")
    parser.add_argument("--browser-max-runs", type=int, default=2, help="part 2's limit: the queue it measures")
    parser.add_argument(
        "--browser-nice", type=int, default=0, help="niceness of Chromium and of its autogroup (0: left as it is)"
    )
    parser.add_argument("--parts", choices=("both", "controller", "browser"), default="both")
    parser.add_argument("--ray", action="store_true", help="part 1 on a local Ray cluster of two nodes (see above)")
    args = parser.parse_args()
    if args.ray:
        args.parts = "controller"
    if args.browsers <= args.browser_max_runs:
        parser.error("--browsers must be more than --browser-max-runs: part 2 measures the queue")
    if args.worker_nice is not None:  # read by every worker as it starts (explorer.runs.cpu.yield_to_pages)
        os.environ["EXPLORER_WORKER_NICE"] = str(args.worker_nice)

    try:
        meter = CpuMeter()
    except ImportError:
        meter = None
    print(
        f"{os.cpu_count()} CPU cores, load average before: {os.getloadavg()[0]:.1f}; "
        "part 1: the app's default model; part 2: tiny models (hidden 16, sequence 16)",
        flush=True,
    )
    report, started = Report(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="explorer-class-load-") as home:
        if args.ray:
            with local_cluster(args.students) as address:
                args.ray = address
                controller_part(args, Path(home) / "runs.sqlite", report, meter)
        elif args.parts in ("both", "controller"):
            controller_part(args, Path(home) / "runs.sqlite", report, meter)
        if args.parts in ("both", "browser"):
            browser_part(args, Path(home), report, meter)
    report.print()
    print("\n== verdicts ==")
    for title, key in (
        ("every run starts within 5 s of its Train", "start"),
        ("every run makes progress: the slowest ≥ 0.5× the fair share", "progress"),
        ("the class's total ≥ 0.9× the cores' one run per core", "total"),
        ("page round trip median < 1 s, p95 < 2 s", "round trip"),
        ("the queue drains in order", "order"),
        ("the teacher's page under 2 s per refresh", "teacher"),
    ):
        found = report.verdicts[key]
        if not found:
            print(f"{title}: not measured (--parts {args.parts})")
            continue
        deciding = [passed for _, passed in found if passed is not None]
        verdict = "PASS" if deciding and all(deciding) else "FAIL"
        print(f"{title}: {verdict} ({'; '.join(text for text, _ in found)})")
    print(f"\nran {time.monotonic() - started:.0f} s; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
