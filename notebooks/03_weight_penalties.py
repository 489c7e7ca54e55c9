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
# # Lesson 3 — Weight penalties: L2, L1 and decoupled weight decay
#
# Memorising a small text usually needs large, finely tuned weights. A **penalty** on the weights makes
# that expensive. For the weight matrices $w$ (not biases, not normalisation parameters):
#
# | | added to the loss | its gradient | what it does to a weight |
# |---|---|---|---|
# | **L2** | $\lambda_2 \sum w^2$ | $2\lambda_2 w$ | shrinks every weight in proportion to its size: all get smaller, few reach zero |
# | **L1** | $\lambda_1 \sum \lvert w\rvert$ | $\lambda_1 \operatorname{sign}(w)$ | the same push for every weight, however small: unhelpful weights are driven to **zero** (sparsity) |
#
# **Weight decay** is the optimiser's version of L2: each step also does $w \leftarrow w - \eta\lambda w$.
# With plain SGD the two are identical. With **Adam** they are not: Adam divides every gradient, the
# penalty's included, by the running size of that weight's gradients $\sqrt{\hat v}$, so weights with
# large gradients are barely decayed. **AdamW** (Loshchilov & Hutter, 2019) *decouples* the decay from
# the gradient:
#
# $$w \leftarrow w - \eta\left(\frac{\hat m}{\sqrt{\hat v}+\epsilon} + \lambda w\right),$$
#
# so every weight shrinks by the same factor $1-\eta\lambda$ per step, whatever its gradient history.

# %%
import json
import os

import torch

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
    steps=200 if FAST else 500,
    eval_every=10,
    eval_batches=4 if FAST else 10,
    detail_every=5,
    seed=0,
)

# %% [markdown]
# ## The experiment
#
# Four runs from the same start: no penalty, L2 ($\lambda_2 = 10^{-3}$), L1 ($\lambda_1 = 10^{-4}$), and
# AdamW with decoupled weight decay $\lambda = 0.3$.

# %%
runs = experiment(
    {
        "no penalty": model,
        "L2 1e-3": model.replace(l2=1e-3),
        "L1 1e-4": model.replace(l1=1e-4),
        "AdamW decay 0.3": model.replace(optimizer="adamw", weight_decay=0.3),
    },
    threads=1,
)

# %% [markdown]
# ## The charts that prove it
#
# Weight norms per layer during training. With L2 both norms fall smoothly. With L1 the share of weights
# that are practically zero ($|w| < 10^{-3}$, right panel) climbs: L1 switches weights off.

# %%
chart_widget(charts.weight_norm_chart(runs["L2 1e-3"].snapshot))

# %%
chart_widget(charts.weight_norm_chart(runs["L1 1e-4"].snapshot))

# %% [markdown]
# ## The numbers
#
# Measured on the final weights themselves: the overall L2 norm $\sqrt{\sum w^2}$ and the share of
# near-zero weights, plus each run's generalisation gap at the end.


# %%
def weight_stats(trainer) -> dict:
    weights = torch.cat([w.detach().flatten() for w in trainer.penalised])  # the penalised matrices
    return {"l2_norm": weights.norm().item(), "near_zero": (weights.abs() < 1e-3).float().mean().item()}


numbers = {}
for name, result in runs.items():
    last = result.snapshot.evals[-1]
    numbers[name] = {**weight_stats(result.trainer), "final_gap": last["gap"], "final_val_loss": last["val_loss"]}
    n = numbers[name]
    print(
        f"{name:16s} weight norm {n['l2_norm']:6.1f} · near-zero weights {n['near_zero']:6.1%} · "
        f"gap {n['final_gap']:.3f} · validation loss {n['final_val_loss']:.3f}"
    )

none, l2, l1, adamw = (numbers[k] for k in runs)
results = {
    "near_zero_none": none["near_zero"],
    "near_zero_l2": l2["near_zero"],
    "near_zero_l1": l1["near_zero"],
    "near_zero_adamw": adamw["near_zero"],
    "norm_none": none["l2_norm"],
    "norm_l2": l2["l2_norm"],
    "norm_l1": l1["l2_norm"],
    "norm_adamw": adamw["l2_norm"],
    "gap_none": none["final_gap"],
    "gap_l2": l2["final_gap"],
    "gap_l1": l1["final_gap"],
    "gap_adamw": adamw["final_gap"],
}
print(
    f"L1 leaves {l1['near_zero'] / l2['near_zero']:.0f}x as many near-zero weights as L2; "
    f"L2 shrinks the weight norm to {l2['l2_norm'] / none['l2_norm']:.0%}, AdamW to "
    f"{adamw['l2_norm'] / none['l2_norm']:.0%} of the unpenalised run's"
)
print("RESULTS", json.dumps(results))  # one line the tests read back

# %% [markdown]
# Both penalties also narrow the gap: the model cannot afford the weights memorising would need.
# Decoupled weight decay shrinks the weights too, but gently at this learning rate: its per-step factor
# is $1 - \eta\lambda = 1 - 0.003 \cdot 0.3$.

# %% [markdown]
# ## How sure is this? (over seeds)
#
# This page trains one seed. On the `overfit` preset, L2 with λ = 0.001 (the `l2` preset) gave a final
# validation loss at least 0.5 nats lower in **5 of 5** paired seeds (1.46 lower on average, 95 %
# interval 1.26 to 1.65), and a final gap under half of overfit's in **5 of 5**
# (`benchmarks/lessons_over_seeds.py`).

# %% [markdown]
# ## Try this
#
# - In the dashboard, **▶ Train**, wait for the gap to open, then move **L2 λ** to 0.001. Open the
#   **Weights** tab: the norms bend down from the marked step.
# - Do the same with **L1 λ** and watch the near-zero share climb. Then set it back to 0: do the zeros
#   come back to life?
# - Too much of a good thing: L2 λ = 0.01 makes the model under-fit (both losses stay high).
# - Under *Setup* choose the **adamw** optimiser and use **Weight decay** (in *More live knobs*).

# %%
dashboard(config=model, show=("l2", "l1", "weight_decay", "optimizer"), views=("gap", "weights", "compare"))
