"""A lesson's headless experiment loop (explorer.lessons): runs trained through Trainer.run, in the store."""

from __future__ import annotations

import pytest

from explorer.lessons import Progress, run_experiment
from explorer.store import RunStore
from tests.conftest import tiny


def test_progress_sees_the_finished_runs_then_the_one_in_progress_and_a_last_call_when_done(tmp_path):
    seen: list[Progress] = []
    results = run_experiment(
        {"a": tiny(steps=6), "b": tiny(steps=6, seed=1)},
        progress=seen.append,
        every_s=0.0,
        store=tmp_path / "runs.sqlite",
    )
    during_b = [p for p in seen if not p.done and p.name == "b"]
    assert during_b and [s.name for s in during_b[-1].snapshots] == ["a", "b"]
    assert during_b[-1].text.startswith("Run 2/2 b: step ")
    assert seen[-1].done and [s.name for s in seen[-1].snapshots] == ["a", "b"] and "2 runs done" in seen[-1].text
    assert [r.snapshot.last_step for r in results.values()] == [6, 6]
    runs = RunStore(tmp_path / "runs.sqlite").runs()
    assert {(r["name"], r["source"], r["status"]) for r in runs} == {
        ("a", "notebook", "finished"),
        ("b", "notebook", "finished"),
    }


@pytest.mark.parametrize("raised, status", [(KeyboardInterrupt, "stopped"), (RuntimeError, "error")])
def test_an_interrupted_or_failed_run_is_marked_so_in_the_store(tmp_path, raised, status):
    def progress(p: Progress) -> None:
        if p.step >= 3:
            raise raised("stop here")

    with pytest.raises(raised):
        run_experiment({"a": tiny(steps=50)}, progress=progress, every_s=0.0, store=tmp_path / "runs.sqlite")
    [run] = RunStore(tmp_path / "runs.sqlite").runs()
    assert run["status"] == status and run["steps"] >= 3


def test_no_store_means_no_run_id(tmp_path):
    [result] = run_experiment({"a": tiny(steps=3)}, store=False).values()
    assert result.run_id is None and result.trainer.step_count == 3
