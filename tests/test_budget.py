"""The instruments' budget: spacing on the grid asked for, training numbers unchanged by it, and evaluation
that gives the same numbers at any evaluation batch size."""

import math

from conftest import tiny

from explorer.core.budget import Instrument, InstrumentBudget
from explorer.core.train import Trainer
from explorer.page.status import status_line
from explorer.runs.history import snapshot_of
from explorer.spec.presets import PRESETS
from explorer.spec.wording import instruments_line


def planned(share: float, costs: dict[str, float], step_s: float = 0.01) -> dict[str, int]:
    budget = InstrumentBudget(share, {name: Instrument(10, 10) for name in costs})
    for _ in range(3):
        budget.trained_step(step_s)
    for name, cost in costs.items():
        budget.ran(name, 10, 100 * cost)  # the first run is warm-up: nothing is planned from it
        budget.ran(name, 10, cost)
    return {name: i.stretch for name, i in budget.instruments.items()}


def test_the_cheap_instrument_keeps_its_cadence_and_the_dear_one_is_stretched():
    # at the cadence asked for: "cheap" would take 1 % of training time, "dear" 20 %
    stretch = planned(0.05, {"cheap": 0.001, "dear": 0.02})
    assert stretch == {"cheap": 1, "dear": 5}  # 1 % + 4 % = 5 %: water-filling gives the dear one what is left
    assert planned(0.05, {"cheap": 0.001, "dear": 0.003}) == {"cheap": 1, "dear": 1}  # within budget: as asked


def test_no_budget_keeps_every_cadence_asked_for():
    assert planned(0.0, {"a": 1.0, "b": 5.0}) == {"a": 1, "b": 1}


def test_a_stretched_instrument_stays_on_its_grid_and_resumes_on_it():
    budget = InstrumentBudget(0.05, {"detail": Instrument(20, 20)})
    for _ in range(3):
        budget.trained_step(0.01)
    budget.ran("detail", 20, 3.0)  # warm-up: the cadence asked for stays
    assert budget.instruments["detail"].every == 20
    budget.ran("detail", 20, 0.03)  # 15 % at every 20 steps: every 60 steps
    detail = budget.instruments["detail"]
    assert detail.every == 60 and detail.next_step == 80
    assert not budget.due("detail", 79) and budget.due("detail", 80)
    budget.resume(81)
    assert detail.next_step == 140


def test_the_budget_spaces_details_and_leaves_the_training_numbers_as_they_were():
    def run(share):
        trainer = Trainer(tiny(steps=40, detail_every=2, eval_every=10, instrument_budget=share))
        return list(trainer.run())

    asked, budgeted = run(0), run(1e-4)  # details cost far more than 0.01 % of a tiny model's training
    detail_steps = [r["step"] for r in budgeted if r["kind"] == "step" and "grad_hist" in r]
    assert detail_steps[0] == 2 and all(step % 2 == 0 for step in detail_steps)
    assert len(detail_steps) < len([r for r in asked if r["kind"] == "step" and "grad_hist" in r]) == 20
    evals = [r for r in budgeted if r["kind"] == "eval"]
    assert evals[-1]["detail_every_now"] > 2 and evals[-1]["instrument_share"] > 0
    assert all(0 < r["train_eval_share"] for r in evals)

    def numbers(records):
        keys = ("train_loss", "grad_norm", "val_loss", "train_eval_loss")
        return [[r.get(k) for k in keys] for r in records if r["kind"] in ("step", "eval")]

    assert numbers(asked) == numbers(budgeted)  # the instruments only read: same seed, same numbers


def test_the_training_subset_is_a_share_of_the_rows_spread_over_the_text_and_the_gap_is_read_on_it():
    trainer = Trainer(tiny(batch_size=8, train_subset=0.25, steps=10))
    rows = trainer.train_stream.rows
    assert trainer.train_subset.rows.tolist() == rows[[0, 4]].tolist()  # 2 of 8 rows, one from each half
    assert Trainer(tiny(batch_size=8, train_subset=0.01)).train_subset.rows.shape[0] == 1  # one row at least
    records = list(trainer.run())
    last = [r for r in records if r["kind"] == "eval"][-1]
    on_subset = trainer.mean_loss(trainer.train_subset, trainer.config.eval_batches)
    assert math.isclose(last["train_eval_loss"], on_subset, rel_tol=1e-5)
    assert math.isclose(last["gap"], last["val_loss"] - on_subset, rel_tol=1e-5)


def test_the_budget_counts_the_training_subset_against_what_the_spaced_instruments_get():
    budget = InstrumentBudget(0.05, {"detail": Instrument(10, 10)})
    for _ in range(3):
        budget.trained_step(0.01)
    budget.unspaced = 0.0006  # the subset took 3 % of the 0.02 s trained: 2 % is left
    budget.ran("detail", 10, 0.004)  # warm-up
    budget.ran("detail", 10, 0.004)  # 4 % at every 10 steps: every 20 steps
    assert budget.instruments["detail"].every == 20


def test_the_status_line_says_the_cadence_in_force_and_the_cli_what_the_instruments_cost():
    records = list(Trainer(tiny(steps=40, detail_every=2, eval_every=10, instrument_budget=1e-4)).run())
    last = [r for r in records if r["kind"] == "eval"][-1]
    line = status_line("running", snapshot_of(records))
    assert f"details every {last['detail_every_now']:,} steps ·" in line and "memorisation" not in line  # one line
    full = instruments_line(last)
    assert f"details every {last['detail_every_now']:,} steps, memorisation every {last['meter_every_now']:,}" in full
    assert full.endswith(f"{last['instrument_share'] + last['train_eval_share']:.1%} of training")


def test_evaluation_gives_the_same_numbers_at_any_evaluation_batch_size():
    trainer = Trainer(tiny(batch_size=6, eval_batches=3))
    for _ in range(5):
        trainer.step()
    streams = [trainer.valid_stream, trainer.train_stream]
    together = trainer.mean_losses(streams, 3)  # 12 rows: the default groups
    for rows in (1, 5, 6, 12):
        for mine, theirs in zip(trainer.mean_losses(streams, 3, rows=rows), together):
            assert math.isclose(mine, theirs, rel_tol=1e-5)
    assert math.isclose(trainer.mean_loss(trainer.valid_stream, 3), together[0], rel_tol=1e-5)


def test_a_word_model_evaluates_in_groups_and_a_small_vocabulary_all_at_once():
    trainer = Trainer(tiny())
    assert trainer.eval_rows(64, 64) == 64  # a character model's logits are small
    trainer.vocab_size = 10_000
    assert trainer.eval_rows(40, 35) == 10  # 10 × 35 × 10k logits per pass, in four equal groups


def test_the_exploding_lesson_sees_every_step():
    changes = PRESETS["exploding"].changes
    assert changes["instrument_budget"] == 0 and changes["detail_every"] == 1
