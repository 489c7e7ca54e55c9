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
# # Lesson 5 — Normalisation in a recurrent model: where it goes, and what it does
#
# **Batch normalisation** (Ioffe & Szegedy, 2015) rescales each feature to zero mean and unit variance
# using statistics of the current mini-batch, then lets the network pick its own scale and shift:
#
# $$\hat x = \frac{x - \mu_\mathcal{B}}{\sqrt{\sigma_\mathcal{B}^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta .$$
#
# At evaluation there *is* a batch, but we do not want a prediction to depend on which other examples
# happen to share it, and it must work for a single example (batch size 1). So evaluation uses **running
# averages** of $\mu$ and $\sigma^2$ collected during training: a fixed function of the one input. Early on
# those averages are still poor, and training and evaluation compute slightly different functions.
#
# **Layer normalisation** (Ba, Kiros & Hinton, 2016) takes the mean and variance over the features of
# *each example at each step* instead: no batch, the same computation in training and evaluation.
#
# ## Where it goes
#
# In a two-layer recurrent model there are two places, (A) and (B), and three techniques:
#
# ```
#                         ┌────────── recurrence: h(t-1) → h(t) ──────────┐
#   x(t) → embedding → [ LSTM layer 1 ]  →  (A)  →  [ LSTM layer 2 ]  →  (A)  →  decoder → p(next)
#                            (B) inside: on W_x·x and W_h·h(t-1) before the gates
# ```
#
# - **(A) between layers**, on each layer's output (`batchnorm`, `layernorm`): it normalises what the next
#   layer and the decoder read, and never touches the recurrence $h_{t-1} \to h_t$. With one layer, it only
#   normalises the decoder's input. In training mode, batch norm here pools its statistics over every
#   sequence **and every time step** of the batch.
# - **(B) inside the recurrence**, `cell_norm="layer"`: Ba et al.'s layer-normalised LSTM (the form of their LSTM experiments), on the gate
#   pre-activations $W_x x_t$ and $W_h h_{t-1}$ separately (and on $c_t$ before the output).
# - **(B) inside the recurrence**, `cell_norm="batch"`: Cooijmans et al. (2017)'s **recurrent batch norm**:
#   the same places, with batch statistics kept **separately for every time step** (step 5's statistics
#   are not step 20's), $\gamma$ initialised to 0.1.
#
# Are they regularisers? Batch norm's statistics change with the batch, a kind of noise that may
# regularise a little. Layer norm has **no batch noise at all**, though Ba et al. (2016) and Cooijmans et al. (2017)
# report faster training and, on some of their tasks, better held-out scores with normalised recurrences. This experiment cannot settle it: it reads every
# gap at the same step, and a gap read at a fixed step also grows with how far a model has fit by then. Its second
# question asks only that: does layer norm in the recurrence leave a smaller gap than no normalisation at the same
# step? The other placements' gaps are printed beside it.

# %%
import json

import torch
from IPython.display import Markdown, display

from explorer.core.train import Trainer
from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, holds, seeds_summary, setups
from explorer.runs.stats import paired
from explorer.spec.knobs import Config
from explorer.views import sweep_charts

STEM = "05_batch_norm"  # this lesson, as its claims are registered (explorer/runs/claims.py)

model = Config(
    cell="lstm",
    layers=2,
    hidden=64,
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    split="interleaved",
    train_fraction=0.005,
    steps=200,
    eval_every=20,
    eval_batches=5,
    meter_every=0,
)
recipes = {
    "none": model,
    "(A) batch norm between layers": model.replace(batchnorm=True),
    "(A) layer norm between layers": model.replace(layernorm=True),
    "(B) layer norm in the recurrence": model.replace(cell_norm="layer"),
    "(B) recurrent batch norm": model.replace(cell_norm="batch"),
}

# %% [markdown]
# ## The experiment
#
# Five runs, each on every seed of the lesson: the two-layer LSTM without normalisation and with each placement.

# %%
faster = predict(STEM, "faster")
regularises = predict(STEM, "regularises")
ask = predict_first(faster, regularises)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(recipes, seeds=SEEDS, threads=1)
none = runs["none"]

# %%
# %%after_prediction ask
Markdown(r"""
## Check your prediction

Training loss (evaluation mode, dashed) and validation loss, mean over the seeds with the seeds' band.
""")

# %%
# %%after_prediction ask
chart_widget(
    sweep_charts.variance_band_chart(seeds_summary("lesson 5", runs), show_train=True, title="Check your prediction")
)


# %%
# %%after_prediction ask
def train_loss_halfway(result) -> float:
    halfway = model.steps // 2
    return min(result.snapshot.evals, key=lambda e: abs(e["step"] - halfway))["train_eval_loss"]


def final_gap(result) -> float:
    return result.final("gap")


lowest = [min(recipes, key=lambda n: train_loss_halfway(runs[n].results[i])) for i in range(len(SEEDS))]
results = {  # what the lesson's claims and questions read (explorer/runs), one value per seed; printed whole at the end
    **{f"halfway_{name}": arm.values(train_loss_halfway) for name, arm in runs.items()},
    **{f"gap_{name}": arm.values(final_gap) for name, arm in runs.items()},
    "halfway_lowest": lowest,
}
mean_halfway = {name: sum(arm.values(train_loss_halfway)) / len(SEEDS) for name, arm in runs.items()}
first, second = sorted(mean_halfway, key=mean_halfway.get)[:2]
top_two = paired(runs[first].by_seed(train_loss_halfway), runs[second].by_seed(train_loss_halfway))
faster.check(
    results,
    "Training loss halfway: "
    + "; ".join(f"{name} {arm.spread(train_loss_halfway)}" for name, arm in runs.items())
    + f". Lowest in each seed: {', '.join(lowest)}. "
    + top_two.sentence("training loss halfway", second, first)
    + ".",
)
ln = runs["(B) layer norm in the recurrence"]
smaller = [g < n - 0.05 for g, n in zip(ln.values(final_gap), none.values(final_gap))]
regularises.check(
    results,
    f"Final gap: none {none.spread(final_gap)}, layer norm in the recurrence {ln.spread(final_gap)}; "
    f"smaller by more than 0.05 {holds(smaller)}.",
)
print(faster.text)
print(regularises.text)
for name, arm in runs.items():
    print(
        f"{name:34s} final gap {arm.spread(final_gap)} · best validation {arm.spread(lambda r: r.best('val_loss'))}"
        f" · test {arm.spread(lambda r: r.test['test_loss'])}"
    )

# %% [markdown]
# ## Why: can a later character change an earlier output? And batch size 1
#
# A check of what the placements above compute, not a prediction: take a freshly built model in training mode
# and change only the **last** character of every sequence in a batch. Does the output at the **first** time step
# change? A recurrent model reads left to right, so without normalisation it cannot: the first step's output is
# computed before the last character is read. Which statistics pool over time is in the description of each
# placement above.


# %%
# %%after_prediction ask
@torch.no_grad()
def future_leak(config: Config) -> float:
    trainer = Trainer(config)
    x, _ = trainer.train_stream.batch(0)
    changed = x.clone()
    changed[:, -1] = (changed[:, -1] + 1) % trainer.vocab_size
    trainer.model.train()
    first = trainer.model(x)[0][:, 0]
    first_changed = trainer.model(changed)[0][:, 0]
    return (first - first_changed).abs().max().item()


leaks = {name: future_leak(config) for name, config in recipes.items()}
for name, leak in leaks.items():
    print(f"{name:34s} largest change at step 1 from changing step {model.seq_len}: {leak:.1e}")
leaking = {name for name, leak in leaks.items() if leak > 0}
results["leaks"] = leaks
print(
    "The models whose first output moved: " + (", ".join(sorted(leaking)) or "none") + ". (No seed is involved: "
    "this is about what each computation depends on, and one freshly built model shows it.)"
)

# %%
# %%after_prediction ask
Markdown(r"""
Batch norm between layers pools its statistics over every time step of the batch, so the last character
reaches the first step's output through the mean and the variance; per-time-step recurrent batch norm
pools over the batch at one step only, and layer norm over one position's own units, so they cannot leak.

And at evaluation, with running statistics, one sequence gets the same prediction alone as in a batch:
""")


# %%
# %%after_prediction ask
@torch.no_grad()
def alone_vs_batch(result) -> float:
    net = result.trainer.model.eval()
    x, _ = result.trainer.valid_stream.batch(0)
    difference = (net(x)[0][:1] - net(x[:1])[0]).abs().max().item()
    result.trainer.model.train()
    return difference


batch_one = {name: alone_vs_batch(arm.results[0]) for name, arm in runs.items()}
print(", ".join(f"{name}: {value:.1e}" for name, value in batch_one.items()))

# %%
# %%after_prediction ask
results["batch_one"] = batch_one
Markdown(rf"""
**What this shows.** Every placement makes the model fit faster: halfway through, each run's training loss is
over 0.3 nats below the plain model's, {held(STEM, "faster", results, len(SEEDS))}. And at the end of the same
budget every normalised run has a gap over 0.3 nats larger than the plain one, layer norm (which has no batch
noise at all) included, {held(STEM, "no_narrowing", results, len(SEEDS))}.
Read at a fixed step, that mixes speed with regularisation: a model that fits faster has had more time to
memorise by then, so this does not show that normalisation would leave a larger gap at equal training loss.
What it does show is that at this budget no placement narrowed the gap; whether normalisation regularises at
equal fit is not tested here. The literature differs: Laurent et al. (2016, *Batch Normalized Recurrent Neural
Networks*) found faster training and no better generalisation with batch norm on the input-to-hidden term;
Cooijmans et al. (2017), normalising the recurrent term too, reported faster convergence and better
generalisation on their tasks, over far longer training. This budget is short (the validation curves above show
whether each model had reached its lowest by its last step), so it cannot settle which holds here.
""")

# %%
# %%after_prediction ask
results["setups"] = setups(runs)  # every run's knobs: a claim comparing runs that differ in more is refused
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - **▶ Train** the dashboard below, then tick **Batch norm (on each layer's output)** mid-run: does the
#   training curve bend at the mark?
# - Switch **Normalisation inside the cell** to layer, then batch: the page says when the slower explicit
#   cell is running.
# - Turn normalisation *off* again after a while: does the loss jump? A model that learnt to expect normalised
#   inputs would show it: live knobs show what a network depends on.
# - Add **Dropout rate** 0.3 with normalisation on: fast *and* a smaller gap?

# %%
dashboard(config=model, show=("batchnorm", "layernorm", "cell_norm", "dropout"), views=("gap", "gradients", "compare"))
