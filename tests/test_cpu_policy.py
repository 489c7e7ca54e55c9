"""The one CPU policy: every run's torch threads come from explorer's runs training on this machine, and move
while they train. Real processes (`explorer train` in subprocesses, an app's worker); the threads in force are
read from the runs' own step records, never timed."""

from __future__ import annotations

import bisect
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer.core.train import Trainer
from explorer.page.status import status_line
from explorer.runs.cpu import CORES, SLICE_S, CoreShare, live_runs, registry, share, slice_wait
from explorer.runs.history import History
from explorer.runs.live import LiveRun
from explorer.runs.store import RunStore, process_start
from explorer.runs.sweep import run_sweep
from explorer.runs.sweep_plan import grid_plan, parse_grid
from tests.conftest import tiny, wait_until

TINY = ["--hidden", "16", "--embed", "8", "--seq-len", "16", "--batch-size", "4", "--train-fraction", "0.05"]
LONE, OLDER, NEWER = share(0, 1, False), share(0, 2, False), share(1, 2, False)


@pytest.mark.parametrize(
    "rank, runs, page, cores, threads",
    [
        (0, 1, False, 2, 2),  # a lone run takes both cores
        (0, 2, False, 2, 1),  # two share them
        (1, 2, False, 2, 1),
        (0, 1, True, 2, 1),  # a page is served: one core stays free for it
        (0, 3, False, 4, 2),  # what does not split goes to the oldest
        (1, 3, False, 4, 1),
        (2, 3, False, 4, 1),
        (0, 2, True, 4, 2),
        (1, 2, True, 4, 1),
        (0, 1, False, 16, 4),  # more threads stop helping
        (5, 6, False, 2, 1),  # never less than one
        (0, 1, True, 1, 1),
    ],
)
def test_the_cores_are_split_evenly_among_the_runs(rank, runs, page, cores, threads):
    assert share(rank, runs, page, cores) == threads


@pytest.mark.parametrize("runs, cores", [(3, 2), (5, 2), (30, 2), (7, 3), (9, 4)])
def test_with_more_runs_than_cores_each_trains_in_slices_as_many_at_once_as_cores(runs, cores):
    for index in range(3 * runs):
        now = (index + 0.5) * SLICE_S
        on = [rank for rank in range(runs) if slice_wait(rank, runs, now, cores) == 0]
        assert len(on) == cores
        for rank in set(range(runs)) - set(on):  # the others wait for a slice of their own, and not longer than a round
            wait = slice_wait(rank, runs, now, cores)
            assert 0 < wait <= -(-runs // cores) * SLICE_S
            assert slice_wait(rank, runs, now + wait + 1e-6, cores) == 0
    assert all(slice_wait(rank, 2, 12.345, cores=2) == 0 for rank in range(2))  # no more runs than cores: no slices


SLICES = """
import json, sys, time
from pathlib import Path
from explorer.runs.cpu import CoreShare
steps = []
with CoreShare(home=Path(sys.argv[1])) as cores:
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        cores.between_steps()
        start = time.time()
        while time.time() - start < 0.004:  # a step: 4 ms of work
            pass
        steps.append((start, time.time()))
print(json.dumps(steps))
"""


def stepping(steps: list[tuple[float, float]], instant: float) -> bool:
    i = bisect.bisect_right(steps, (instant, math.inf)) - 1
    return i >= 0 and instant < steps[i][1]


def test_runs_beyond_the_cores_train_in_slices_in_real_processes(tmp_path):
    """CORES + 2 processes step through the real registry: once each has read how many train (within its
    RECHECK_S), at most CORES of them are inside a step at any moment, bar a step's overrun at a slice's end, and
    every one of them steps in every round of slices."""
    runs = CORES + 2
    processes = [
        subprocess.Popen([sys.executable, "-c", SLICES, str(tmp_path), "6"], stdout=subprocess.PIPE, text=True)
        for _ in range(runs)
    ]
    steps = [[tuple(s) for s in json.loads(process.communicate(timeout=120)[0])] for process in processes]
    begin, end = max(s[0][0] for s in steps) + 1.5, min(s[-1][1] for s in steps) - 0.1
    assert end - begin > 2
    instants = [begin + i * 0.001 for i in range(int((end - begin) * 1000))]
    inside = [sum(stepping(s, t) for s in steps) for t in instants]
    crowded = sum(n > CORES for n in inside) / len(instants)
    # without slices all 6 would be inside a step nearly all the time; a busy machine (CI runs a lesson's kernel
    # beside this test) lengthens the overruns at a slice's end, which measured 15 % there once
    assert crowded < 0.25, f"more than {CORES} runs inside a step {crowded:.0%} of the time"
    round_s = -(-runs // CORES) * SLICE_S
    for s in steps:
        starts = [a for a, _ in s if begin <= a < end]
        assert max(b - a for a, b in zip([begin, *starts], [*starts, end])) < round_s + 0.15


def test_runs_hosted_in_one_process_train_one_at_a_time_in_turns_and_a_message_is_served_at_once(tmp_path, monkeypatch):
    """Three runs' threads in one hosting process (explorer.runs.hosts.Turns): never two inside a step at once,
    each steps in every round (3 × SLICE_S), a paused one hands its turn on at once, and a message to a waiting
    run ends its wait."""
    import threading
    import time

    from explorer.runs.hosts import Inbox, Turn, Turns

    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))  # the process's one registry entry goes here
    turns, stop = Turns(), threading.Event()
    inboxes = [Inbox(key, lambda key, message: None) for key in range(3)]
    seats = [Turn(turns, inbox) for inbox in inboxes]
    steps: list[list[tuple[float, float]]] = [[] for _ in seats]
    served: list[float] = []

    def train(i: int) -> None:
        while not stop.is_set():  # as RunChild.between_steps: serve the page, then wait for its turn
            while inboxes[i].poll():
                inboxes[i].recv()
                served.append(time.monotonic())
            if seats[i].between_steps(wait=inboxes[i].poll) is None:
                continue
            began = time.monotonic()
            time.sleep(0.005)  # a step
            steps[i].append((began, time.monotonic()))
        seats[i].leave()

    threads = [threading.Thread(target=train, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    sent = time.monotonic()
    inboxes[0].post("a page's message")
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(5)
    spans = sorted(span for run in steps for span in run)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "two runs inside a step at once"
    for run in steps:
        starts = [a for a, _ in run]
        assert len(starts) > 20 and max(b - a for a, b in zip(starts, starts[1:])) < 3 * SLICE_S + 0.1
    assert served and served[0] - sent < 0.05  # its wait ended when the message came, not at its turn


def test_entries_of_processes_that_are_gone_are_ignored_and_removed(tmp_path):
    folder = registry(tmp_path)
    folder.mkdir(parents=True)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    me, started = os.getpid(), process_start(os.getpid())
    for name in (f"{ended.stdout.strip()}-0-solo", f"{me}-{started + 1}-solo", f"{me}-{started}-page", "notes.txt"):
        (folder / name).touch()  # a run killed -9, a recycled pid (another start time), a live run, a stray file
    assert live_runs(folder) == [(started, me, True)]
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{me}-{started}-page", "notes.txt"])


def test_a_run_counts_while_it_trains_and_leaves_when_it_pauses_or_ends(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with CoreShare(home=tmp_path) as cores:
            assert cores.threads == torch.get_num_threads() == LONE
            (cores.folder / f"{other.pid}-{process_start(other.pid)}-solo").touch()
            cores.between_steps()
            assert cores.threads == LONE  # not due yet: the registry is read at most every RECHECK_S
            cores.due = 0.0
            cores.between_steps()
            assert cores.threads == torch.get_num_threads() == share(1, 2, False)  # the newer of two
            cores.leave()
            assert [pid for _, pid, _ in live_runs(cores.folder)] == [other.pid]
            cores.between_steps()  # training again: back in at once, its share read now
            assert len(live_runs(cores.folder)) == 2
        assert [pid for _, pid, _ in live_runs(cores.folder)] == [other.pid]
        with CoreShare(fixed=3, home=tmp_path) as fixed:  # --threads 3: fixed, whoever else trains
            assert torch.get_num_threads() == 3 and len(live_runs(fixed.folder)) == 2
        (tmp_path / "a file").touch()
        with CoreShare(home=tmp_path / "a file") as unwritable:  # no registry can be written: it trains, alone
            assert unwritable.entry is None and torch.get_num_threads() == LONE
    finally:
        other.kill()
        other.wait()


# Ctrl-C reaches it as in a terminal: a suite started in the background of a non-interactive shell (`nohup … &`)
# hands its children SIGINT ignored (the CI run that failed: SigIgn 0x81001007), and Python then leaves it ignored.
AS_IN_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def train(home: Path, metrics: Path, *more: str) -> subprocess.Popen:
    """`explorer train` in its own process, not in the store: it counts only through the registry."""
    command = [sys.executable, "-c", AS_IN_A_TERMINAL, "-m", "explorer", "train", "--no-store", "--quiet"]
    command += ["--metrics-out", str(metrics)]
    return subprocess.Popen(
        [*command, *TINY, "--eval-every", "100000", "--steps", more[0] if more else "10000000"],
        env={**os.environ, "EXPLORER_HOME": str(home)},
    )


def threads(metrics: Path, first: bool = False) -> int | None:
    """The threads in force at the run's first step, or at its latest one."""
    try:
        with open(metrics, "rb") as file:
            if not first:
                file.seek(max(0, metrics.stat().st_size - 65536))
            lines = file.read(None if not first else 65536).split(b"\n")
    except FileNotFoundError:
        return None
    lines = lines[:-1] if first else lines[1:-1]  # whole lines only: the writer may be mid-line
    steps = [r for r in map(json.loads, lines) if r["kind"] == "step"]
    return (steps[0] if first else steps[-1])["threads"] if steps else None


def exits_within(process: subprocess.Popen, seconds: float) -> None:
    """Waits for it to exit; if it has not within `seconds`, an AssertionError saying what its signal masks and
    state were (SigIgn 0x…2 set: SIGINT ignored, as a background job of a non-interactive shell inherits it)."""
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        wanted = ("State", "SigBlk", "SigIgn", "SigCgt", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        raise AssertionError(
            "still running after SIGINT: " + "; ".join(s for s in status if s.startswith(wanted))
        ) from None


def stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_runs_share_the_cores_live_started_and_ended_from_other_terminals(tmp_path):
    """A run started right after another job ends takes the machine's cores (the load average, still high, is
    not asked); a second run takes half and the first gives half up while training; when the second ends (Ctrl-C)
    the first takes them back."""
    job = train(tmp_path, tmp_path / "job.jsonl", "300")
    assert job.wait(120) == 0 and threads(tmp_path / "job.jsonl", first=True) == LONE
    first = train(tmp_path, tmp_path / "first.jsonl")
    second = None
    try:
        assert wait_until(lambda: threads(tmp_path / "first.jsonl") is not None, timeout=120)
        assert threads(tmp_path / "first.jsonl", first=True) == LONE
        second = train(tmp_path, tmp_path / "second.jsonl")
        assert wait_until(lambda: threads(tmp_path / "second.jsonl") == NEWER, timeout=120)
        assert wait_until(lambda: threads(tmp_path / "first.jsonl") == OLDER, timeout=30)
        second.send_signal(signal.SIGINT)  # Ctrl-C in its terminal: it leaves the registry on its way out
        exits_within(second, 60)
        assert wait_until(lambda: threads(tmp_path / "first.jsonl") == LONE, timeout=30)
    finally:
        stop(first, *([second] if second else []))


def test_an_app_run_and_a_command_line_run_share_the_cores_and_leave_one_for_the_pages(tmp_path):
    """An app's worker counts like any run, and while it trains a core stays free for the pages."""
    home = Path(os.environ["EXPLORER_HOME"])  # the app's workers were forked with it
    cli = train(home, tmp_path / "cli.jsonl")
    live = LiveRun(tiny(steps=10**7, eval_every=10**5), store=tmp_path / "runs.sqlite", warm=False)
    try:
        assert wait_until(lambda: threads(tmp_path / "cli.jsonl") == LONE, timeout=120)
        live.start()
        assert wait_until(lambda: live.snapshot().steps and live.snapshot().steps[-1]["threads"] == share(1, 2, True))
        assert wait_until(lambda: threads(tmp_path / "cli.jsonl") == share(0, 2, True), timeout=30)
        live.pause()  # a paused run holds no cores
        assert wait_until(lambda: threads(tmp_path / "cli.jsonl") == LONE, timeout=30)
        live.resume()
        assert wait_until(lambda: threads(tmp_path / "cli.jsonl") == share(0, 2, True), timeout=30)
    finally:
        live.close()
        stop(cli)


def test_a_sweeps_last_trial_takes_the_cores_the_others_left(tmp_path):
    """A trial is a run like any other: alone, it trains on the cores (no longer one thread whatever happens)."""
    # the tests' machine-wide registry: nothing else of ours trains now (an earlier test's workers may still be ending)
    assert wait_until(lambda: live_runs(registry()) == [], timeout=30), live_runs(registry())
    store = RunStore(tmp_path / "runs.sqlite")
    run_sweep(grid_plan("lone", tiny(steps=10), parse_grid(["dropout=0"]), (0,)), store, workers=1)
    (run,) = store.runs(sweep="lone")
    assert {r["threads"] for r in store.records(run["id"]) if r["kind"] == "step"} == {LONE}


def test_the_status_line_says_the_threads_in_force_on_a_cpu():
    history = History()
    for record in Trainer(tiny(steps=3)).run():
        history.add(record)
    line = status_line("running", history.snapshot(), "cpu")
    assert f"cpu ({torch.get_num_threads()} thread" in line
    assert "thread" not in status_line("running", history.snapshot(), "cuda:0")
