"""Branching: a run forked at a step goes on from exactly the same state; only the changed knob differs."""

import json

import torch
from conftest import tiny, wait_until

from explorer.core.checkpoint import CHECKPOINTS_PER_RUN, MAX_CHECKPOINT, RunCheckpoints, branch_steps
from explorer.core.train import Trainer
from explorer.faces.cli.main import main
from explorer.runs.live import LiveRun
from explorer.runs.store import RunStore

FLAGS = (
    "--hidden 16 --embed 8 --seq-len 16 --batch-size 4 --train-fraction 0.01 --eval-every 5 --eval-batches 2 "
    "--device cpu --dropout 0.2 --layers 2 --quiet"
).split()


def losses(path) -> dict[int, float]:
    return {r["step"]: r["train_loss"] for r in map(json.loads, open(path)) if r["kind"] == "step"}


def test_a_restored_trainer_takes_exactly_the_steps_the_original_would(tmp_path):
    config = tiny(steps=50, dropout=0.3, layers=2, weight_drop=0.2, embed_dropout=0.1)
    whole = {r["step"]: r["train_loss"] for r in Trainer(config).run() if r["kind"] == "step"}
    first = Trainer(config)
    for record in first.run():
        if record["kind"] == "step" and record["step"] == 20:
            break
    torch.save(first.checkpoint(), tmp_path / "state.pt")  # through the disk, read back as weights only
    second = Trainer(config)
    second.restore(torch.load(tmp_path / "state.pt", weights_only=True))
    rest = {r["step"]: r["train_loss"] for r in second.run(start=False) if r["kind"] == "step"}
    assert min(rest) == 21 and rest == {step: whole[step] for step in rest}


def test_a_live_branch_starts_from_identical_weights_and_differs_only_by_the_knob(tmp_path):
    run = LiveRun(tiny(steps=10**6, dropout=0.2), store=tmp_path / "runs.sqlite")
    try:
        run.start(paused=True)
        for _ in range(20):
            run.step_once()
        assert wait_until(lambda: run.snapshot().last_step == 20)
        name = run.branch()
        branch = run.branches[name]
        assert name == "branch at step 20" and branch.status == "paused"

        def last(snap, step):
            return snap.steps[-1]["train_loss"] if snap.last_step == step else None

        run.step_once()  # both take step 21 from the same state, with the same knobs
        assert wait_until(lambda: last(run.snapshot(), 21) is not None and last(branch.history.snapshot(), 21))
        assert last(run.snapshot(), 21) == last(branch.history.snapshot(), 21)
        run.set_knobs(dropout=0.6)  # only the run takes it; the branch keeps 0.2
        run.step_once()
        assert wait_until(lambda: last(run.snapshot(), 22) is not None and last(branch.history.snapshot(), 22))
        assert last(run.snapshot(), 22) != last(branch.history.snapshot(), 22)
        assert branch.history.snapshot().steps[-1]["dropout"] == 0.2 and run.snapshot().steps[-1]["dropout"] == 0.6
        # the comparison shows the branch beside the run, its curve starting at the parent's
        names = [snap.name for snap in run.comparison()]
        assert names == ["branch at step 20", "current"]
        assert run.comparison()[0].steps[0]["step"] == 1
        stored = RunStore(tmp_path / "runs.sqlite").run(branch.run_id)
        assert (stored["parent_id"], stored["branch_step"]) == (run.run_id, 20)
    finally:
        run.close()
    assert not branch.alive  # closing the page stops its branches too


def test_cli_branch_from_a_stored_checkpoint(tmp_path, capsys):
    store = str(tmp_path / "runs.sqlite")
    one = ["--threads", "1"]  # as every test: the CLI would take 2 cores' share, against the notebook kernels beside
    assert (
        main(["train", *FLAGS, "--steps", "120", "--store", store, *one, "--metrics-out", str(tmp_path / "p.jsonl")])
        == 0
    )
    parent = RunStore(store).runs()[0]["id"]
    assert branch_steps(store, parent) == [50, 100]
    assert main(["runs", "show", parent, "--store", store]) == 0
    assert "branch from    steps 50, 100" in capsys.readouterr().out

    same, moved = tmp_path / "same.jsonl", tmp_path / "moved.jsonl"
    assert (
        main(
            ["train", "--branch-from", f"{parent}@50", "--steps", "120", "--store", store, "--quiet", *one]
            + ["--metrics-out", str(same)]
        )
        == 0
    )
    assert (
        main(
            ["train", "--branch-from", f"{parent}@50", "--steps", "120", "--dropout", "0.6", "--store", store]
            + ["--quiet", *one, "--metrics-out", str(moved)]
        )
        == 0
    )
    p, s, m = losses(tmp_path / "p.jsonl"), losses(same), losses(moved)
    assert min(s) == 51 and s == {step: p[step] for step in s}  # same state, same knobs: the same steps
    assert m[51] != p[51]
    events = [r for r in map(json.loads, open(moved)) if r.get("event") == "knob"]
    assert [(e["step"], e["knob"], e["old"], e["new"]) for e in events] == [(51, "dropout", 0.2, 0.6)]
    branch = RunStore(store).runs()[0]
    assert (branch["parent_id"], branch["branch_step"], branch["steps"]) == (parent, 50, 120)

    for args, words in [
        ([f"{parent}@60"], "no checkpoint at step 60; steps you can branch from: 50, 100"),
        ([f"{parent}@50", "--hidden", "32"], "only live knobs can change, not hidden"),
        ([f"{parent}@50", "--steps", "40"], "--steps must be more than the branch step 50"),
        (["nope@50"], "no run 'nope'"),
        ([parent], "--branch-from takes RUN@STEP"),
    ]:
        assert main(["train", "--store", store, "--quiet", "--branch-from", *args]) == 2
        assert words in capsys.readouterr().err


def test_checkpoints_stay_bounded_and_cover_the_whole_run(tmp_path):
    checkpoints = RunCheckpoints(tmp_path / "runs.sqlite", "r1")
    saved = []
    for step in range(1, 2001):
        if checkpoints.due(step):
            checkpoints.save({"step": step, "model": {"w": torch.zeros(4)}})
            saved.append(step)
    steps = branch_steps(tmp_path / "runs.sqlite", "r1")
    assert len(steps) <= CHECKPOINTS_PER_RUN and steps[-1] == 2000 and steps[0] <= 400
    assert not list((tmp_path / "checkpoints" / "r1").glob("*.part"))  # written whole, then renamed
    # a model too big to checkpoint keeps none (it can still be branched live)
    big = RunCheckpoints(tmp_path / "runs.sqlite", "r2")
    big.save({"step": 50, "model": {"w": torch.zeros(MAX_CHECKPOINT // 4 // 4 + 1)}})
    assert branch_steps(tmp_path / "runs.sqlite", "r2") == [] and not big.due(100)


def test_a_branch_of_a_finished_run_goes_on_when_the_run_continues(tmp_path):
    run = LiveRun(tiny(steps=15), store=tmp_path / "runs.sqlite", open_ended=False)
    try:
        run.start()
        assert wait_until(lambda: run.status == "finished")
        branch = run.branches[run.branch()]
        assert branch.status == "paused"  # beside an ended run, the branch waits
        run.train()  # Continue
        assert wait_until(lambda: branch.history.snapshot().last_step > 20 and run.snapshot().last_step > 20)
    finally:
        run.close()


def test_a_checkpoint_from_before_the_blank_token_still_branches():
    """Checkpoints written before data noising have no blank embedding: a branch from one trains on exactly
    as the run itself did (the blank is unused until blank noising is on)."""
    config = tiny(steps=12, eval_every=4)
    original = Trainer(config)
    for _ in range(6):
        original.step()
    saved = original.checkpoint()
    del saved["model"]["blank"]  # as an older explorer wrote it
    saved["best_weights"].pop("blank")
    saved["optimizer"]["param_groups"][-1]["params"].pop()
    branch = Trainer(config)
    branch.restore(saved)
    ahead = [r["train_loss"] for r in (original.step() + original.step()) if r["kind"] == "step"]
    assert ahead == [r["train_loss"] for r in (branch.step() + branch.step()) if r["kind"] == "step"]
    branch.restore_best()  # the best weights load too
