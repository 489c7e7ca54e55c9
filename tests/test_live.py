"""LiveRun: a real trainer on a real thread, steered the way a front end steers it."""

import threading
import time
import tracemalloc

import pytest

from explorer.data import CorpusError
from explorer.history import History
from explorer.live import LiveRun
from tests.conftest import tiny


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture
def run():
    live = LiveRun(torch_threads=1)
    yield live
    live.stop()


def test_a_knob_set_mid_run_is_in_force_in_the_next_record(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 5)
    run.set_knobs(dropout=0.4)
    asked_at = run.snapshot().last_step
    assert wait_until(lambda: any(e["knob"] == "dropout" for e in run.snapshot().knob_changes()))
    snap = run.snapshot()
    change = snap.knob_changes()[0]
    assert (change["old"], change["new"]) == (0.0, 0.4) and change["step"] > asked_at
    by_step = {r["step"]: r for r in snap.steps}
    assert by_step[change["step"]]["dropout"] == 0.4 and by_step[change["step"] - 1]["dropout"] == 0.0
    assert run.config.dropout == 0.4  # kept for the next reset too


def test_pause_stops_steps_and_step_once_advances_exactly_one(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 3)
    run.pause()
    time.sleep(0.2)
    paused_at = run.snapshot().last_step
    time.sleep(0.3)
    assert run.snapshot().last_step == paused_at and run.status == "paused"
    run.step_once()
    assert wait_until(lambda: run.snapshot().last_step == paused_at + 1)
    time.sleep(0.2)
    assert run.snapshot().last_step == paused_at + 1
    run.resume()
    assert wait_until(lambda: run.snapshot().last_step > paused_at + 3) and run.status == "running"


def test_stop_joins_the_thread_within_a_second(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 2)
    began = time.monotonic()
    run.stop()
    assert time.monotonic() - began < 1.0 and not run.alive and run.status == "stopped"


def test_fifty_start_stop_cycles_leave_no_threads_behind(run):
    before = threading.active_count()
    for _ in range(50):
        run.start(tiny(steps=100_000))
        run.stop()
    assert threading.active_count() == before
    assert not [t for t in threading.enumerate() if t.name == "explorer-liverun"]


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
    names = [s.name for s in run.comparison()]
    assert names == ["baseline", "current"]
    run.clear_saved()
    assert [s.name for s in run.comparison()] == ["current"]


def test_events_for_early_stop_and_finish_reach_the_history(run):
    run.start(tiny(hidden=64, train_fraction=0.003, lr=0.01, steps=3000, eval_every=5, early_stop=2))
    assert wait_until(lambda: run.status == "early_stop", timeout=60)
    snap = run.snapshot()
    end = snap.final_event()
    assert end["event"] == "early_stop" and end["best_step"] == snap.best_eval()["step"]


def test_the_watchdog_stops_a_run_whose_viewer_left():
    viewer_here = threading.Event()
    viewer_here.set()
    live = LiveRun(torch_threads=1, watchdog=viewer_here.is_set)
    live.start(tiny(steps=100_000))
    assert wait_until(lambda: live.snapshot().last_step >= 2)
    viewer_here.clear()
    assert wait_until(lambda: not live.alive, timeout=5)
    live.stop()


def test_bad_setup_raises_and_leaves_the_current_run_alone(run, tmp_path):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 2)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CorpusError, match="empty"):
        run.start(tiny(corpus=str(empty)))
    assert run.alive and run.config.corpus == "tinyshakespeare"


def test_sampling_uses_the_current_weights_without_disturbing_training(run):
    run.start(tiny(steps=100_000))
    assert wait_until(lambda: run.snapshot().last_step >= 3)
    text = run.sample(prompt="KING", length=30, seed=1)
    assert text.startswith("KING") and len(text) == 34
    assert run.status == "running"


def test_history_memory_stays_flat_over_100k_steps():
    history = History()
    detail = {"grad_norms": {"embedding": 1.0, "decoder": 2.0}, "grad_hist": [0] * 48}

    def feed(start, stop):
        for step in range(start, stop):
            history.add({"kind": "step", "step": step, "train_loss": 1.0, **(detail if step % 10 == 0 else {})})
            if step % 25 == 0:
                history.add({"kind": "eval", "step": step, "val_loss": 1.0})

    tracemalloc.start()
    feed(1, 20_001)
    at_20k = tracemalloc.get_traced_memory()[0]
    feed(20_001, 100_001)
    at_100k = tracemalloc.get_traced_memory()[0]
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
    assert run.status == "paused" and run.snapshot().last_step == 0 and run.trainer.config.hidden == 24
    run.train()
    assert wait_until(lambda: run.snapshot().last_step >= 2) and run.status == "running"
