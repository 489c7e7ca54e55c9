# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 6 — Early stopping: patience, and restoring the best weights
#
# Lesson 1 showed the validation loss falling, reaching a minimum and climbing again. The simplest
# regulariser of all is to **stop near the minimum**. Every $k$ steps we evaluate; we remember the best
# validation loss so far and a copy of the weights that achieved it:
#
# $$\theta^\star = \theta_{s^\star}, \qquad s^\star = \arg\min_{s \in \{k, 2k, \dots\}} L_\text{val}(\theta_s).$$
#
# Validation loss is noisy, so one bad evaluation must not end the run: we stop only after **patience**
# $P$ evaluations in a row without a new best, and then **restore** $\theta^\star$. The run therefore
# ends $P \cdot k$ steps after the best one, and the model we keep is the best one seen, not the last.

# %%
import json
import os

from explorer import charts
from explorer.config import Config
from explorer.widgets import chart_widget, dashboard, experiment

FAST = os.environ.get("EXPLORER_FAST") == "1"  # set by the tests: the same experiment, fewer steps

model = Config(
    cell="lstm",
    hidden=128,
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    train_fraction=0.005,
    steps=300 if FAST else 800,
    eval_every=10,
    eval_batches=4 if FAST else 10,
    seed=0,
)
PATIENCE = 3

# %% [markdown]
# ## The experiment
#
# The same overfitting model twice: trained for all its steps, and with early stopping (patience 3).

# %%
runs = experiment(
    {
        "no early stopping": model,
        f"early stopping, patience {PATIENCE}": model.replace(early_stop=PATIENCE),
    },
    threads=1,
)

# %% [markdown]
# ## The chart that proves it
#
# The green line marks where early stopping ended the run; the black diamond is the best validation loss,
# whose weights were put back.

# %%
full, stopped = runs["no early stopping"], runs[f"early stopping, patience {PATIENCE}"]
chart_widget(charts.gap_chart(stopped.snapshot))

# %% [markdown]
# ## The numbers: were the best weights really restored?
#
# Evaluate the model we kept, now, on the same validation batches as during training. If the best
# weights were restored, the number equals the best validation loss recorded during training.

# %%
trainer = stopped.trainer
end = stopped.snapshot.final_event()
restored_val = trainer.mean_loss(trainer.valid_stream, model.eval_batches)  # the kept model, evaluated now
last_val = stopped.snapshot.evals[-1]["val_loss"]  # the weights at the stop
full_final = full.snapshot.evals[-1]["val_loss"]

print(
    f"stopped at step {end['step']} ({end['event']}); best step {end['best_step']}, "
    f"{end['step'] - end['best_step']} steps = {PATIENCE} evaluations later"
)
print(f"best validation loss during training {end['best_val_loss']:.4f}; the kept model now: {restored_val:.4f}")
print(f"the weights at the stop had {last_val:.4f}; training on to step {model.steps} would end at {full_final:.4f}")
print(f"steps saved: {model.steps - end['step']} of {model.steps}")

results = {
    "event": end["event"],
    "stop_step": end["step"],
    "best_step": end["best_step"],
    "best_val_loss": end["best_val_loss"],
    "restored_val_loss": restored_val,
    "val_at_stop": last_val,
    "full_run_final_val": full_final,
    "patience": PATIENCE,
    "eval_every": model.eval_every,
    "steps": model.steps,
}
print("RESULTS", json.dumps(results))  # one line the tests read back

# %% [markdown]
# ## How sure is this? (over seeds)
#
# This page trains one seed. With patience 4 on the `overfit` preset (the `early-stop` preset), early
# stopping was checked over 5 paired seeds (`benchmarks/lessons_over_seeds.py`):
# - the model it kept scored at least 0.3 nats better on validation than overfit's final model, in
#   **5 of 5** seeds (1.53 better on average);
# - it got there in fewer steps in **5 of 5** seeds (196 against 400 on average).

# %% [markdown]
# ## Try this
#
# - Set **Early-stopping patience** to 1 in the dashboard and train: it may stop on the first noisy bump,
#   too early. Then try 10.
# - Early stopping is a *live* knob: start with 0 (off), watch the validation loss turn, then set the
#   patience to 3. The run stops 3 evaluations after the best so far.
# - Combine with **Dropout rate** 0.3: the minimum comes later and lower.

# %%
dashboard(config=model.replace(early_stop=PATIENCE), show=("early_stop", "dropout"), views=("gap", "compare"))
