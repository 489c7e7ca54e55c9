"""A lesson's headless experiment loop (explorer.runs.experiments): runs trained through Trainer.run, in the store."""

from __future__ import annotations

import pytest

from explorer.runs.experiments import Progress, holds, run_experiment, run_over_seeds, seed_run_name, seeds_summary
from explorer.runs.store import RunStore
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


def test_over_seeds_each_configuration_is_an_arm_of_one_run_per_seed_stored_by_name(tmp_path):
    arms = run_over_seeds(
        {"plain": tiny(steps=10), "dropout": tiny(steps=10, dropout=0.5)},
        seeds=(0, 1, 2),
        store=tmp_path / "runs.sqlite",
    )
    assert list(arms) == ["plain", "dropout"]
    plain, dropout = arms.values()
    assert plain.seeds == [0, 1, 2] and all(r.config.dropout == 0.5 for r in dropout.results)
    assert len(set(plain.values(lambda r: r.final("val_loss")))) == 3  # three seeds, three different runs
    alone = run_experiment({"again": tiny(steps=10, seed=1)}, store=False)["again"]
    assert plain.results[1].final("val_loss") == alone.final("val_loss")  # seed 1's run is the seed-1 run
    assert plain.by_seed(lambda r: r.final("val_loss"))[1] == alone.final("val_loss")  # keyed by its seed
    names = {r["name"] for r in RunStore(tmp_path / "runs.sqlite").runs()}
    assert names == {seed_run_name(arm, seed) for arm in arms for seed in (0, 1, 2)}
    summary = seeds_summary("lesson", arms)
    assert [a.label for a in summary.arms] == ["plain", "dropout"] and sorted(summary.arms[0].curves) == [0, 1, 2]


def test_an_arm_states_its_spread_and_a_claim_says_in_how_many_seeds_it_held():
    arms = run_over_seeds({"a": tiny(steps=5)}, seeds=(0, 1), store=False)
    values = arms["a"].values(lambda r: r.final("val_loss"))
    text = arms["a"].spread(lambda r: r.final("val_loss"))
    assert text == f"{sum(values) / 2:.3f} ({min(values):.3f} to {max(values):.3f} over 2 seeds)"
    assert holds([True, False, True]) == "in 2 of 3 seeds"


def test_the_test_score_is_the_final_model_on_the_test_split():
    [result] = run_experiment({"a": tiny(steps=5)}, store=False).values()
    assert result.test == result.trainer.test_score() and result.test["test_loss"] > 0
