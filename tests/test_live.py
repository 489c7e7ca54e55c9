"""LiveRun: a real trainer in a real worker process, steered the way a front end steers it."""

import os
import signal
import threading
import time
import tracemalloc

import pytest

import explorer.runs.history as history_module
from explorer.runs.history import History
from explorer.runs.live import LiveRun
from explorer.runs.store import RunStore, process_alive
from explorer.spec.errors import ConfigError, ExplorerError
from tests.conftest import tiny, wait_until


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "runs.sqlite"


@pytest.fixture
def run(store_path):
    live = LiveRun(torch_threads=1, store=store_path, open_ended=False, source="test")
    yield live
    live.close()


def test_a_knob_set_mid_run_is_in_force_in_the_next_record(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 5)
    asked_at = run.snapshot().last_step
    run.set_knobs(dropout=0.4)
    assert wait_until(lambda: any(e["knob"] == "dropout" for e in run.snapshot().knob_changes()))
    snap = run.snapshot()
    change = snap.knob_changes()[0]
    assert (change["old"], change["new"]) == (0.0, 0.4) and change["step"] > asked_at
    by_step = {r["step"]: r for r in snap.steps}
    assert by_step[change["step"]]["dropout"] == 0.4 and by_step[change["step"] - 1]["dropout"] == 0.0
    assert run.config.dropout == 0.4  # kept for the next reset too


def test_a_burst_of_moves_on_one_knob_is_one_change_in_the_charts_and_the_store(run, store_path):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 5)
    for value in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):  # ten key presses
        run.set_knobs(dropout=value)
        time.sleep(0.05)
    assert wait_until(lambda: run.snapshot().knob_changes() and run.snapshot().knob_changes()[-1]["new"] == 0.5)
    changes = run.snapshot().knob_changes()
    assert [(c["old"], c["new"]) for c in changes] == [(0.0, 0.5)]
    steps_in_force = [r["step"] for r in run.snapshot().steps if r["dropout"] > 0]
    assert changes[0]["step"] == steps_in_force[0]  # the burst's FIRST step
    run.stop()
    stored = [r for r in RunStore(store_path).records(run.run_id) if r["kind"] == "event" and r["event"] == "knob"]
    assert [(e["step"], e["old"], e["new"]) for e in stored] == [(changes[0]["step"], 0.0, 0.5)]


def test_a_setup_knob_cannot_be_changed_in_a_running_model(run):
    run.start(tiny(steps=100_000))
    with pytest.raises(ConfigError, match="hidden is part of the setup"):
        run.set_knobs(hidden=64)
    assert run.config.hidden == 16
    assert run.sample(length=5)  # the model it samples from still has the shape it was built with


def test_pause_stops_steps_and_step_once_advances_exactly_one(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 3)
    run.pause()
    assert wait_until(lambda: run.status == "paused")
    time.sleep(0.3)  # records in flight (at most 0.1 s behind) have arrived
    paused_at = run.snapshot().last_step
    time.sleep(0.3)
    assert run.snapshot().last_step == paused_at and run.status == "paused"
    run.step_once()
    assert wait_until(lambda: run.snapshot().last_step == paused_at + 1)
    time.sleep(0.3)
    assert run.snapshot().last_step == paused_at + 1
    run.resume()
    assert wait_until(lambda: run.snapshot().last_step > paused_at + 3) and run.status == "running"


def test_stop_ends_the_worker_process(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 2)
    pid, began = run.pid, time.monotonic()
    run.stop()
    assert time.monotonic() - began < 2.0 and not run.alive and run.status == "stopped"
    assert not process_alive(pid, None)


def test_fifty_start_stop_cycles_leave_no_process_or_thread_behind(run):
    threads_before = threading.active_count()
    pids = []
    for _ in range(50):
        run.start(tiny(steps=100_000))
        pids.append(run.pid)
        run.stop()
    assert not [pid for pid in pids if process_alive(pid, None)]
    assert wait_until(lambda: threading.active_count() <= threads_before + 2)  # the warm worker's reader (+ starter)


def test_a_stuck_step_is_still_stopped_within_the_timeout(run):
    # a step of this model takes many seconds on a CPU: the worker cannot notice a polite stop in time
    run.start(
        tiny(
            hidden=2048,
            layers=3,
            seq_len=200,
            batch_size=200,
            embed=512,
            train_fraction=1.0,
            steps=100_000,
            detail_every=1000,
        )
    )
    time.sleep(1.0)  # it is inside its first step now
    pid, began = run.pid, time.monotonic()
    run.stop(timeout=1.0)
    assert time.monotonic() - began < 5.0 and not process_alive(pid, None) and run.status == "stopped"


def test_a_new_run_never_receives_an_old_runs_records(run):
    run.start(tiny(steps=100_000, seed=1))
    assert wait_until(lambda: run.snapshot().last_step >= 20)
    old_id = run.run_id
    run.reset(tiny(steps=100_000, seed=2, hidden=24))
    time.sleep(0.5)
    snap = run.snapshot()
    assert run.run_id != old_id and snap.steps == [] and snap.start["config"]["hidden"] == 24
    run.resume()
    assert wait_until(lambda: run.snapshot().last_step >= 5)
    assert [r["step"] for r in run.snapshot().steps][:5] == [1, 2, 3, 4, 5]


def test_reset_gives_the_same_start_and_runs_differ_only_by_changed_knobs(run):
    run.start(tiny(steps=6, eval_every=3))
    assert wait_until(lambda: run.status == "finished")
    first = run.snapshot()
    run.save_run("baseline")
    run.reset()
    assert run.status == "paused"
    run.resume()
    assert wait_until(lambda: run.status == "finished")
    again = run.snapshot()
    assert [r["train_loss"] for r in again.steps] == [r["train_loss"] for r in first.steps]
    run.set_knobs(l2=0.01)
    run.start()
    assert wait_until(lambda: run.status == "finished")
    changed = run.snapshot()
    assert changed.steps[0]["train_loss"] == first.steps[0]["train_loss"]  # same weights, same first batch
    assert changed.steps[-1]["train_loss"] != first.steps[-1]["train_loss"]  # the knob made the difference
    assert [s.name for s in run.comparison()] == ["baseline", "current"]
    run.clear_saved()
    assert [s.name for s in run.comparison()] == ["current"]


def test_train_after_a_finished_budget_or_an_early_stop_continues_the_same_model(run):
    run.start(tiny(hidden=64, train_fraction=0.003, lr=0.01, steps=3000, eval_every=5, early_stop=2))
    assert wait_until(lambda: run.status == "early_stop", timeout=60)
    snap = run.snapshot()
    end = snap.final_event()
    assert end["event"] == "early_stop" and end["best_step"] == snap.best_eval()["step"]
    stopped_at, run_id = snap.last_step, run.run_id
    run.train()
    assert wait_until(lambda: run.snapshot().last_step > stopped_at + 3)
    assert run.run_id == run_id and run.snapshot().steps[0]["step"] == 1  # same run, same history


def test_a_live_run_is_open_ended(store_path):
    live = LiveRun(torch_threads=1, store=store_path)
    try:
        live.start(tiny(steps=5))
        assert wait_until(lambda: live.snapshot().last_step > 30)  # the CLI's budget does not apply
        assert live.status == "running"
    finally:
        live.close()


def test_the_watchdog_stops_a_run_whose_viewer_left(store_path):
    viewer_here = threading.Event()
    viewer_here.set()
    live = LiveRun(torch_threads=1, watchdog=viewer_here.is_set, store=store_path)
    try:
        live.start(tiny())
        assert wait_until(lambda: live.snapshot().last_step >= 2)
        pid = live.pid
        viewer_here.clear()
        assert wait_until(lambda: not process_alive(pid, None), timeout=5)
        assert wait_until(lambda: live.status == "stopped", timeout=2)
    finally:
        live.close()


def test_when_the_viewer_leaves_a_finished_run_and_the_warm_worker_stop_too(store_path):
    viewer_here = threading.Event()
    viewer_here.set()
    live = LiveRun(torch_threads=1, watchdog=viewer_here.is_set, store=store_path, open_ended=False)
    try:
        live.start(tiny(steps=5))
        assert wait_until(lambda: live.status == "finished")
        warm = live._warm.result()  # the worker waiting for the next Train
        pids = [live.pid, warm.process.pid]
        viewer_here.clear()
        assert wait_until(lambda: not any(process_alive(pid, None) for pid in pids), timeout=5)
        assert live.status == "finished" and RunStore(store_path).run(live.run_id)["status"] == "finished"
        viewer_here.set()  # the viewer is back and presses Train: a fresh worker takes it
        live.start(tiny(steps=5))
        assert wait_until(lambda: live.status == "finished")
    finally:
        live.close()


def test_bad_setup_raises_and_leaves_the_current_run_alone(run, tmp_path):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 2)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ExplorerError, match="empty"):
        run.start(tiny(corpus=str(empty)))
    assert run.alive and run.config.corpus == "tinyshakespeare" and run.status == "running"


def test_a_crashed_worker_is_one_line_and_the_run_is_in_the_store(run, store_path):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 20)
    time.sleep(1.5)  # the worker writes to the store at least once a second
    os.kill(run.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert wait_until(lambda: run.status == "error", timeout=5)
    assert "ended unexpectedly (signal 9" in run.error and "\n" not in run.error
    began = time.monotonic()
    with pytest.raises(ExplorerError, match="has ended"):
        run.sample(length=5)  # at once, not after a time-out
    assert time.monotonic() - began < 1.0
    stored = RunStore(store_path).run(run.run_id)
    assert stored["status"] == "error" and stored["steps"] >= 1
    run.start(tiny(steps=100_000))  # the page stays usable
    assert wait_until(lambda: run.snapshot().last_step >= 2) and run.status == "running"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_run_cut_short_by_a_server_stopping_is_interrupted_not_an_error(run, store_path, signum):
    """`explorer class` stopped with Ctrl-C or a service manager's SIGTERM: every process of the group gets
    the signal; the class's runs are interrupted (the teacher page says so after a restart), not crashes."""
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 20)
    os.kill(run.pid, signum)
    assert wait_until(lambda: not run.alive, timeout=10)
    stored = RunStore(store_path).run(run.run_id)
    assert stored["status"] == "interrupted" and signal.Signals(signum).name in stored["message"]
    assert stored["steps"] >= 20


def test_signals_during_the_last_write_let_it_finish(run, store_path):
    """A service manager that signals again while a stopping worker writes its last records (SIGTERM, then
    more): the write finishes, every record the page was shown is in the store with no gap, and the run is
    interrupted. A signal raised inside the write used to lose that batch and print a traceback."""
    run.start(tiny(steps=100_000, eval_every=2, detail_every=1))  # big records: each write takes a while
    assert wait_until(lambda: run.snapshot().last_step >= 30)
    pid, shown = run.pid, run.snapshot().last_step
    deadline = time.monotonic() + 3
    while process_alive(pid, None) and time.monotonic() < deadline:
        os.kill(pid, signal.SIGTERM)  # a storm: some land in the middle of the final flush
        time.sleep(0.0005)
    assert wait_until(lambda: not run.alive, timeout=10)
    stored = RunStore(store_path).run(run.run_id)
    assert stored["status"] == "interrupted" and "SIGTERM" in stored["message"]
    steps = [r["step"] for r in RunStore(store_path).records(run.run_id) if r["kind"] == "step"]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] >= shown


def test_sampling_uses_the_current_weights_without_disturbing_training(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 3)
    text = run.sample(prompt="KING", length=30, seed=1)
    assert text.startswith("KING") and len(text) == 34
    assert run.status == "running"
    with pytest.raises(ExplorerError, match="temperature"):
        run.sample(temperature=0)


def test_every_live_run_is_in_the_store_with_its_records(run, store_path):
    run.start(tiny(steps=12, eval_every=4))
    assert wait_until(lambda: run.status == "finished")
    stored = RunStore(store_path).run(run.run_id)
    assert stored["status"] == "finished" and stored["steps"] == 12 and stored["source"] == "test"
    kinds = [r["kind"] for r in RunStore(store_path).records(run.run_id)]
    assert kinds.count("step") == 12 and kinds.count("eval") == 3 and kinds[0] == "start"


def test_history_memory_stays_flat_over_100k_steps():
    history = History()
    detail = {"grad_norms": {"embedding": 1.0, "decoder": 2.0}, "grad_hist": [0] * 48}

    def feed(start, stop):
        for step in range(start, stop):
            history.add({"kind": "step", "step": step, "train_loss": 1.0, **(detail if step % 10 == 0 else {})})
            if step % 25 == 0:
                history.add({"kind": "eval", "step": step, "val_loss": 1.0})

    def held() -> int:
        """Bytes allocated here and in the history module and still held: not the other threads' of this
        process (the notebooks executing beside the tests, a worker's reader), which once tipped the ratio."""
        mine = (tracemalloc.Filter(True, __file__), tracemalloc.Filter(True, history_module.__file__))
        return sum(stat.size for stat in tracemalloc.take_snapshot().filter_traces(mine).statistics("filename"))

    tracemalloc.start()
    feed(1, 20_001)
    at_20k = held()
    feed(20_001, 100_001)
    at_100k = held()
    tracemalloc.stop()
    snap = history.snapshot()
    assert len(snap.steps) <= 2000 and len(snap.evals) <= 1000 and len(snap.details) <= 600
    assert at_100k < at_20k * 1.25
    assert snap.steps[0]["step"] == 1 and snap.steps[-1]["step"] == 100_000  # the whole run stays covered
    gaps = [b["step"] - a["step"] for a, b in zip(snap.steps, snap.steps[1:])]
    assert gaps[-1] == 1 and max(gaps) <= 128  # recent points dense, old ones thinned


def test_reset_with_a_new_setup_waits_at_step_zero(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 2)
    run.reset(tiny(steps=100_000, hidden=24))
    time.sleep(0.3)
    assert run.status == "paused" and run.snapshot().last_step == 0
    assert run.snapshot().start["config"]["hidden"] == 24
    run.train()
    assert wait_until(lambda: run.snapshot().last_step >= 2) and run.status == "running"
