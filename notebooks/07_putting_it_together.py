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
# # Lesson 7 — Putting it together: small and regularised beats big and unregularised
#
# "A bigger model is better" is true only when there is enough data or enough regularisation. Here a
# **big** LSTM (256 units, no regularisation, trained for its whole budget) competes with a **small** one
# (96 units) that uses everything from the previous lessons:
#
# - **variational dropout** $p = 0.3$ (lesson 2),
# - **decoupled weight decay** with AdamW, $\lambda = 0.1$ (lesson 3),
# - **gradient clipping** by norm at 1, a safety net that costs nothing when it does not fire (lesson 4),
# - **early stopping** with patience 4 and the best weights restored (lesson 6).
#
# The score is what you would ship: the **validation perplexity** of the model each recipe ends with,
#
# $$\mathrm{PPL}_\text{val} = \exp\Big(-\frac{1}{N}\sum_{t} \ln p_\theta(x_{t+1} \mid x_{\le t})\Big),$$
#
# over validation text neither model has seen: lower is better, and a ratio of perplexities reads as
# "this many times less unsure".

# %%
import json
import math
import os

from explorer import charts
from explorer.config import Config
from explorer.model import count_parameters
from explorer.widgets import chart_widget, dashboard, experiment

FAST = os.environ.get("EXPLORER_FAST") == "1"  # set by the tests: the same experiment, fewer steps

data = Config(
    cell="lstm",
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    train_fraction=0.005,
    steps=250 if FAST else 600,
    eval_every=10,
    eval_batches=4 if FAST else 10,
    seed=0,
)
big = data.replace(hidden=256)
small = data.replace(
    hidden=96, dropout=0.3, dropout_kind="variational", optimizer="adamw", weight_decay=0.1, clip=1.0, early_stop=4
)

# %% [markdown]
# ## The experiment

# %%
runs = experiment({"big, unregularised": big, "small, regularised": small}, threads=1)

# %% [markdown]
# ## The charts that prove it
#
# The big model races ahead, then memorises: its validation loss climbs for the rest of the run. The small
# regularised one keeps improving slowly and stops near its best.

# %%
chart_widget(charts.gap_chart(runs["big, unregularised"].snapshot, metric="ppl"))

# %%
chart_widget(charts.gap_chart(runs["small, regularised"].snapshot, metric="ppl"))

# %% [markdown]
# ## The numbers
#
# Each final model is evaluated again now on the same validation batches (for the small one these are
# the restored best weights).

# %%
numbers = {}
for name, result in runs.items():
    trainer = result.trainer
    val = trainer.mean_loss(trainer.valid_stream, data.eval_batches)
    numbers[name] = {
        "parameters": count_parameters(trainer.model),
        "val_loss": val,
        "val_ppl": math.exp(val),
        "best_val_ppl": result.snapshot.best_eval()["val_ppl"],
        "steps": trainer.step_count,
        "seconds": result.seconds,
    }
    n = numbers[name]
    print(
        f"{name:20s} {n['parameters']:7,} parameters · {n['steps']} steps in {n['seconds']:.0f} s · "
        f"final validation perplexity {n['val_ppl']:.2f} (best seen {n['best_val_ppl']:.2f})"
    )

b, s = numbers["big, unregularised"], numbers["small, regularised"]
results = {
    "big_val_ppl": b["val_ppl"],
    "small_val_ppl": s["val_ppl"],
    "big_best_val_ppl": b["best_val_ppl"],
    "small_best_val_ppl": s["best_val_ppl"],
    "big_parameters": b["parameters"],
    "small_parameters": s["parameters"],
    "small_steps": s["steps"],
    "big_steps": b["steps"],
}
print(
    f"the small model has {s['parameters'] / b['parameters']:.0%} of the parameters and a validation "
    f"perplexity {b['val_ppl'] / s['val_ppl']:.2f}x lower"
)
print("RESULTS", json.dumps(results))  # one line the tests read back

# %% [markdown]
# Note the big model's *best* perplexity: for a moment it was nearly as good. Early stopping alone would
# have rescued it — but you only get that moment if you are watching the validation loss.
#
# ## Try this
#
# - Build your own winner in the dashboard: start from the big model (the experiment's `big` model), press **Save
#   run** after one run, then switch regularisers on, **↺ Reset**, **▶ Train**, and compare the
#   curves in **Compare runs**.
# - Which single knob buys the most? Try each alone with the others off.
# - Give the big model more data (*Fraction of training text used* 0.05): does it still need regularising?

# %%
dashboard(config=big)
