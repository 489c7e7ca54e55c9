# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 6 — Early stopping: patience, the best weights, and an honest final score
#
# Lesson 1 showed the validation loss falling, reaching a minimum and climbing again. The simplest
# regulariser of all is to **stop near the minimum**. Every $k$ steps we evaluate; we remember the best
# validation loss so far and a copy of the weights that achieved it:
#
# $$\theta^\star = \theta_{s^\star}, \qquad s^\star = \arg\min_{s \in \{k, 2k, \dots\}} L_\text{val}(\theta_s).$$
#
# Validation loss is noisy, so one bad evaluation must not end the run: we stop only after **patience**
# $P$ evaluations in a row without a new best, and then **restore** $\theta^\star$. The run therefore
# ends $P \cdot k$ steps after the best one, and the model we keep is the best one seen, not the last. (If the
# step budget runs out first, explorer's run keeps its last weights, so that a live run can go on; the
# lessons then put the best ones back before the test.)
#
# One catch. The validation loss **chose** $s^\star$: among all the evaluations, we kept the one that
# happened to score lowest on those very batches, noise included. So the best validation loss is, on average,
# an optimistic estimate of how the kept model does on new text. The honest final score is measured once, at
# the end, on the **test** split, which took no part in any choice.

# %%
import json

from IPython.display import Markdown, display

from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, holds, seeds_summary, setups
from explorer.spec.knobs import Config
from explorer.views import run_charts, sweep_charts

STEM = "06_early_stopping"  # this lesson, as its claims are registered (explorer/runs/claims.py)

model = Config(
    cell="lstm",
    hidden=128,
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    split="interleaved",
    train_fraction=0.005,
    steps=500,
    eval_every=20,
    eval_batches=5,
    meter_every=0,
)
PATIENCE = 3

# %% [markdown]
# ## The experiment
#
# The same overfitting model (lesson 1's small text) trained for all its steps, and with early
# stopping at patience 3, each on every seed of the lesson. With the same seed the two runs are one trajectory
# (the same initial weights, the same batches, no dropout, and evaluating draws no random numbers): the kept
# model IS the full run's model at the step early stopping chose (the full run's own lowest validation loss can
# come later, if it dips again). Lesson 1 showed validation loss climbing after its best step; the question asks
# how the two points compare on text no choice looked at, and by how much.

# %%
question = predict(STEM, "kept", steps=model.steps)
ask = predict_first(question)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(
    {"no early stopping": model, f"early stopping, patience {PATIENCE}": model.replace(early_stop=PATIENCE)},
    seeds=SEEDS,
    threads=1,
)
full, stopped = runs["no early stopping"], runs[f"early stopping, patience {PATIENCE}"]

# %%
# %%after_prediction ask
Markdown(r"""
## Check your prediction

The validation curves over the seeds (the early-stopped runs end sooner), then one early-stopped run
close up: the green line marks the stop, the black diamond the best evaluation, whose weights were put
back.
""")

# %%
# %%after_prediction ask
chart_widget(sweep_charts.variance_band_chart(seeds_summary("lesson 6", runs), title="Check your prediction"))

# %%
# %%after_prediction ask
chart_widget(run_charts.gap_chart(stopped.results[0].snapshot))


# %%
# %%after_prediction ask
def test_loss(result) -> float:
    return result.test["test_loss"]


results = {  # what the lesson's claims read (explorer/runs/claims.py), one value per seed; printed whole at the end
    "patience": PATIENCE,
    "eval_every": model.eval_every,
    "steps": model.steps,
    "test_full": full.values(test_loss),
    "test_stopped": stopped.values(test_loss),
}
differences = [s - f for s, f in zip(stopped.values(test_loss), full.values(test_loss))]  # early-stopped − full
mean_difference = sum(differences) / len(differences)
question.check(
    results,
    f"Test loss: trained to the end {full.spread(test_loss)}, early-stopped {stopped.spread(test_loss)}; "
    f"early-stopped minus full, per seed: {', '.join(f'{d:+.3f}' for d in differences)} (mean {mean_difference:+.3f}: "
    f"the answer goes by the mean). The kept model's lower by more than 0.05 nats "
    f"{held(STEM, 'kept_lower', results, len(SEEDS))}; the full run's lower by more than that "
    f"{holds([d > 0.05 for d in differences])}.",
)
print(question.text)

# %%
# %%after_prediction ask
Markdown(r"""
## Why: were the best weights really restored, and how optimistic is the best validation loss?

For each early-stopped run: where it stopped, and the kept model evaluated again now on the validation
batches. If the best weights were restored, that equals the best validation loss recorded in training.
Then the same model on the test split.
""")

# %%
# %%after_prediction ask
numbers = []
for result in stopped.results:
    trainer, end = result.trainer, result.snapshot.final_event()
    restored = trainer.mean_loss(trainer.valid_stream, model.eval_batches)  # the kept model, evaluated now
    numbers.append(
        {
            "event": end["event"],
            "stop_step": end["step"],
            "best_step": end["best_step"],
            "best_val_loss": end["best_val_loss"],
            "restored_val_loss": restored,
            "val_at_stop": result.final("val_loss"),
            "test_loss": test_loss(result),
        }
    )
    print(
        f"seed {result.config.seed}: {end['event']} at step {end['step']}, best step {end['best_step']} "
        f"({(end['step'] - end['best_step']) // model.eval_every} evaluations earlier); best validation loss "
        f"{end['best_val_loss']:.4f}, the kept model now {restored:.4f}, at the stop it was "
        f"{result.final('val_loss'):.4f}; on the test split {test_loss(result):.4f}"
    )
print(f"steps trained: {stopped.spread(lambda r: r.trainer.step_count, 0)} instead of {model.steps}")
results["runs"] = numbers
above = [n["test_loss"] - n["best_val_loss"] for n in numbers]
print(
    "the kept model's test loss minus its best validation loss: "
    + ", ".join(f"{d:+.3f}" for d in above)
    + f"; above it by more than 0.02 nats {held(STEM, 'test_above_best', results, len(SEEDS))}"
)

# %%
# %%after_prediction ask
Markdown(r"""
The kept model is the best one seen (evaluated again, the same number to within $10^{-5}$), not the one at
the stop. Its test loss is the number to report: the best validation loss is the minimum of the very
evaluations that chose when to stop, so it can flatter the model, while no choice looked at the test text.
The last line above compares the two. That difference mixes two things this lesson does not separate: the
flattery of choosing by a minimum, and the difference between the validation batches' text and the test
text.
""")

# %%
# %%after_prediction ask
results["setups"] = setups(runs)  # every run's knobs: a claim comparing runs that differ in more is refused
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - Set **Early-stopping patience** to 1 in the dashboard and train: it may stop on the first noisy bump,
#   too early. Then try 10.
# - Early stopping is a *live* knob: start with 0 (off), watch the validation loss turn, then set the
#   patience to 3. The run stops once 3 evaluations have passed without a new best (at the next evaluation,
#   if the best is already that old), and restores the best weights.
# - Combine with **Dropout rate** 0.3: does the minimum come later, and lower?

# %%
dashboard(config=model.replace(early_stop=PATIENCE), show=("early_stop", "dropout"), views=("gap", "compare"))
