"""Sweeps: real trial processes, a real SQLite store, a real local Ray; results compared seed for seed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import tiny, wait_until

from explorer.faces.cli.main import main
from explorer.runs.store import RunStore
from explorer.runs.sweep import run_sweep
from explorer.runs.sweep_plan import SweepError, grid_plan, parse_grid, parse_seeds, repeat_plan, stored_trial_key
from explorer.runs.sweep_summary import summarize
from explorer.spec.errors import ExplorerError
from tests.app_server import children_of

TINY_FLAGS = (
    "--hidden 16 --embed 8 --seq-len 16 --batch-size 4 --train-fraction 0.01 --eval-every 5 --eval-batches 2 "
    "--detail-every 10 --device cpu"
).split()


def plan_2x2(name: str, seeds=(0, 1)):
    return grid_plan(name, tiny(steps=30), parse_grid(["dropout=0,0.5", "hidden=8,16"]), seeds)


def results(store: RunStore, name: str) -> dict:
    return {
        (t["arm"], t["seed"]): (t["status"], t["best_val_loss"], t["final_gap"]) for t in summarize(store, name).trials
    }


def test_grid_and_seeds_are_parsed_and_checked():
    assert parse_grid(["dropout=0,0.25,0.25", "l2=0,1e-5", "cell=rnn,lstm"]) == {
        "dropout": (0.0, 0.25),
        "l2": (0.0, 1e-5),
        "cell": ("rnn", "lstm"),
    }
    assert parse_seeds("3", first=5) == (5, 6, 7) and parse_seeds("0,3,7") == (0, 3, 7)
    for bad, words in [
        (["dropout=0,2"], "dropout must be in [0, 1)"),
        (["foo=1"], "unknown knob 'foo'"),
        (["dropout="], "has no values"),
        (["seed=1,2"], "use --seeds"),
        (["dropout"], "expected --grid KNOB=V1,V2"),
    ]:
        with pytest.raises(ExplorerError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            parse_grid(bad)
    with pytest.raises(SweepError, match="8 trials .* is more than the limit of 3"):
        plan_2x2("big", seeds=(0, 1)).check(max_trials=3)
    with pytest.raises(SweepError, match="--seeds takes"):
        parse_seeds("a few")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--grid", "dropout=0,2"], "dropout must be in [0, 1)"),
        (["--grid", "nope=1"], "unknown knob 'nope'"),
        (["--grid", "dropout="], "has no values"),
        ([], "give at least one --grid"),
        (["--grid", "dropout=0,0.5", "--seeds", "11", "--max-trials", "20"], "22 trials (2 arms × 11 seeds)"),
    ],
)
def test_bad_sweeps_fail_in_one_line_before_anything_trains(tmp_path, capsys, args, words):
    store = tmp_path / "runs.sqlite"
    assert main(["sweep", *TINY_FLAGS, "--store", str(store), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert RunStore(store).runs() == []


def test_a_sweep_lands_in_the_store_with_its_statistics(tmp_path, capsys):
    store = tmp_path / "runs.sqlite"
    code = main(
        ["sweep", *TINY_FLAGS, "--steps", "30", "--store", str(store), "--grid", "dropout=0,0.5", "--grid", "l2=0,1e-3"]
        + ["--seeds", "2", "--name", "grid", "--workers", "2", "--quiet", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "grid" and len(out["trials"]) == 8 and len(out["arms"]) == 4
    trial = out["trials"][0]
    assert {"run_id", "knobs", "seed", "status", "best_val_loss", "final_gap"} <= set(trial)
    assert trial["knobs"] == {"dropout": 0.0, "l2": 0.0} and trial["status"] == "finished"
    arm = out["arms"][3]
    assert arm["knobs"] == {"dropout": 0.5, "l2": 1e-3} and arm["n"] == 2 and arm["seeds"] == [0, 1]
    assert arm["best_val_loss"]["lo"] < arm["best_val_loss"]["mean"] < arm["best_val_loss"]["hi"]
    assert {c["metric"] for c in out["comparisons"]} == {"best_val_loss", "final_gap"}
    runs = RunStore(store).runs(sweep="grid")
    assert len(runs) == 8 and {r["source"] for r in runs} == {"sweep"}
    assert all(r["steps"] == 30 and r["arm"]["label"] for r in runs)
    # every trial ends scored on the test split, which no choice during the run saw
    last = list(RunStore(store).records(runs[0]["id"]))[-1]
    assert last["kind"] == "test" and last["test_loss"] == runs[0]["test_loss"] and 0 < last["test_loss"] < 10
    assert arm["test_loss"]["lo"] < arm["test_loss"]["mean"] < arm["test_loss"]["hi"]
    # the summary table reads the same store
    assert main(["sweep", "show", "grid", "--store", str(store)]) == 0
    table = capsys.readouterr().out
    assert "dropout=0.5, l2=0.001" in table and "paired against dropout=0, l2=0" in table
    # same command again: nothing left to train
    before = {r["id"] for r in runs}
    assert (
        main(
            ["sweep", *TINY_FLAGS, "--steps", "30", "--store", str(store), "--grid", "dropout=0,0.5"]
            + ["--grid", "l2=0,1e-3", "--seeds", "2", "--name", "grid", "--quiet"]
        )
        == 0
    )
    assert {r["id"] for r in RunStore(store).runs(sweep="grid")} == before


def test_a_sweep_name_with_other_settings_is_refused(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run_sweep(grid_plan("s", tiny(steps=10), parse_grid(["dropout=0"]), (0,)), store, workers=1)
    with pytest.raises(SweepError, match="already holds trials with other settings"):
        run_sweep(grid_plan("s", tiny(steps=11), parse_grid(["dropout=0"]), (0,)), store, workers=1)
    # more seeds for the same settings extend it
    run_sweep(grid_plan("s", tiny(steps=10), parse_grid(["dropout=0"]), (0, 1)), store, workers=1)
    assert len(store.runs(sweep="s")) == 2


def test_a_killed_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    store_path = tmp_path / "runs.sqlite"
    command = [sys.executable, "-m", "explorer", "sweep", *TINY_FLAGS, "--steps", "400", "--store", str(store_path)]
    command += ["--grid", "dropout=0,0.5", "--seeds", "3", "--name", "resume", "--workers", "1", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RunStore(store_path)
    assert wait_until(lambda: len(store.runs(sweep="resume")) >= 2, timeout=120), process.stderr.read()
    # the trial in flight: a child of the workers' forkserver, itself a child of the sweep
    assert wait_until(lambda: any(children_of(server) for server in children_of(process.pid)), timeout=30)
    in_flight = [trial for server in children_of(process.pid) for trial in children_of(server)]
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {r["id"]: r["config"]["seed"] for r in store.runs(sweep="resume")}
    assert 2 <= len(finished) < 6
    # it dies with its sweep (it watches the sweep's pid): no orphan keeps training
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in in_flight), timeout=10)
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    runs = store.runs(sweep="resume")
    assert len(runs) == 6 and all(r["status"] == "finished" for r in runs)
    assert set(finished) <= {r["id"] for r in runs}  # the finished ones were kept, not trained again


def test_repeating_runs_over_seeds_keeps_their_knob_moves(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    config = tiny(steps=999).to_dict()
    plan = repeat_plan("again", [("run 1", config, 25, {}), ("current", config, 25, {11: {"dropout": 0.5}})], (0, 1))
    run_sweep(plan, store, workers=2)
    summary = summarize(store, "again")
    assert [a.label for a in summary.arms] == ["run 1", "current"]
    current = summary.arm("current")
    assert all(run["steps"] == 25 for run in current.runs.values())
    records = list(store.records(current.runs[0]["id"]))
    assert [(e["step"], e["knob"], e["new"]) for e in records if e.get("event") == "knob"] == [(11, "dropout", 0.5)]
    # up to the knob move, the two arms trained the same model on the same seed: the same losses
    steps = {
        arm.label: {r["step"]: r["train_loss"] for r in store.records(arm.runs[0]["id"]) if r["kind"] == "step"}
        for arm in summary.arms
    }
    assert [steps["run 1"][s] for s in range(1, 11)] == [steps["current"][s] for s in range(1, 11)]
    assert steps["run 1"][12] != steps["current"][12]


@pytest.mark.slow
def test_ray_and_local_processes_give_the_same_results_seed_for_seed(tmp_path):
    ray = pytest.importorskip("ray")
    store = RunStore(tmp_path / "runs.sqlite")
    run_sweep(plan_2x2("local"), store, workers=2)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        started = time.monotonic()
        final = run_sweep(plan_2x2("ray"), store, ray="auto")
        assert final.done == 8 and final.failed == 0, time.monotonic() - started
    finally:
        ray.shutdown()
    local, on_ray = results(store, "local"), results(store, "ray")
    assert len(local) == 8 and local == on_ray
    assert all(r["source"] == "sweep" for r in store.runs(sweep="ray"))


@pytest.mark.slow
def test_a_sweep_on_ray_from_a_fresh_command_line(tmp_path):
    """`explorer sweep --ray` in its own process, where nothing imported Ray before the sweep connects: the
    connection imports it (here "local": a Ray instance of the sweep's own, shut down after)."""
    pytest.importorskip("ray")
    store_path = tmp_path / "runs.sqlite"
    command = [sys.executable, "-m", "explorer", "sweep", *TINY_FLAGS, "--steps", "10", "--store", str(store_path)]
    command += ["--grid", "dropout=0,0.5", "--seeds", "1", "--name", "fresh", "--ray", "local", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = RunStore(store_path).runs(sweep="fresh")
    assert len(runs) == 2 and all(r["status"] == "finished" for r in runs)


def test_two_saved_runs_with_the_same_settings_stay_two_arms(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    config = tiny().to_dict()
    run_sweep(repeat_plan("twins", [("run 1", config, 10, {}), ("current", config, 10, {})], (0, 1)), store, workers=2)
    summary = summarize(store, "twins")
    assert [len(a.runs) for a in summary.arms] == [2, 2]
    assert "not distinguishable" in summary.comparisons()[0][2].sentence()


def test_a_pages_sweep_stops_when_its_viewer_leaves(tmp_path):
    from explorer.page.session import Session

    here = [True]
    session = Session(
        tiny(steps=5000), source="app", owner="viewer", watchdog=lambda: here[0], store=tmp_path / "runs.sqlite"
    )
    try:
        session.start_sweep([("dropout", "0, 0.5")], seeds=1)
        job = session.jobs["sweep"]
        assert wait_until(lambda: job.progress is not None and job.progress.running >= 1, timeout=30)
        here[0] = False  # the tab closed
        assert wait_until(lambda: not job.running, timeout=15)
        assert job.cancelled and job.text.startswith("Cancelled: 0 of 2 trials")
    finally:
        session.close()


def test_diverged_seeds_are_counted_apart_not_averaged(tmp_path):
    import torch

    from explorer.core.train import Trainer
    from explorer.runs.sweep import store_trial
    from explorer.runs.sweep_plan import Arm, Trial

    store = RunStore(tmp_path / "runs.sqlite")
    arm = Arm("boom", {}, tiny(steps=40))
    for seed in (0, 1):
        trainer = Trainer(arm.config.replace(seed=seed))
        records = [trainer.start_record(), *[r for _ in range(12) for r in trainer.step()]]
        with torch.no_grad():
            trainer.model.decoder.bias[0] = float("inf")  # what an exploding update leaves behind
        records += list(trainer.run(start=False))
        assert trainer.stopped_reason == "diverged" and records[-1]["event"] == "diverged"
        store_trial(store, "boom", Trial(arm, seed), records, None)
    summary = summarize(store, "boom")
    boom = summary.arm("boom")
    assert boom.diverged == 2 and boom.interval("best_val_loss").n == 0  # its last finite numbers are no outcome
    assert all(r["status"] == "diverged" and r["best_val_loss"] is not None for r in boom.runs.values())
    assert "(2 diverged)" in summary.table()


def test_a_trial_stored_before_a_rename_or_a_new_knob_is_the_same_trial():
    base = tiny(steps=10, dropout=0.3, dropout_kind="locked")
    trial = grid_plan("old", base, parse_grid(["dropout=0,0.5"]), (0,), {5: {"dropout_kind": "locked"}}).trials[0]
    config = {**trial.config.to_dict(), "dropout_kind": "variational"}
    del config["l1_kind"], config["split"]  # stored before these knobs existed
    arm = {**trial.arm.to_dict(), "schedule": {"5": {"dropout_kind": "variational"}}}
    assert stored_trial_key({"config": config, "arm": arm}) == trial.key
