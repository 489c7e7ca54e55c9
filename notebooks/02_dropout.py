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
# # Lesson 2 — Dropout in a recurrent network: where the mask goes, and how often it changes
#
# **Dropout** (Srivastava et al., 2014) switches off a random share $p$ of the units on every training
# step (here $p$ is the drop rate; their paper's $p$ is the keep rate, lesson 10), so no unit can rely on one particular partner being there. With a keep-mask
# $m_i \sim \mathrm{Bernoulli}(1-p)$,
#
# $$\tilde h_i = \frac{m_i\, h_i}{1-p}, \qquad \mathbb{E}[\tilde h_i] = h_i .$$
#
# Each mask picks one "thinned" network out of $2^n$. At evaluation we would like the **average
# prediction of all of them**. Two ways to get it:
# - switch dropout **off** and use the full, deterministic network. This is an approximation of that
#   average (Srivastava et al.'s weight-scaling rule), and the division by $1-p$ during training is what
#   lets us use the weights as they are: the expected input of every unit is already right, so
#   evaluation needs **no rescaling**;
# - keep dropout **on** and average the predictions of many passes (**Monte-Carlo dropout**, Gal &
#   Ghahramani 2016 used it on language models).
#
# ## Where the mask goes in a recurrent network
#
# A recurrent layer has two kinds of connections: **non-recurrent** ones (embedding → layer, layer →
# layer, layer → decoder) and the **recurrent** one, $h_{t-1} \to h_t$, which carries the memory. The
# story of recurrent dropout is about which of them to drop, and how often to redraw the mask:
#
# 1. **Naive recurrent dropout**: a new mask on $h_{t-1}$ at every time step. What that costs depends on
#    the cell. A vanilla RNN's $h$ is its whole memory: each step silences a different random share of
#    it, and the noise compounds over the sequence: "the recurrence amplifies noise, which in turn hurts
#    learning" (Bayer et al. 2013, as Zaremba et al. 2014 sum it up). An LSTM's memory is its cell $c$:
#    explorer masks $h_{t-1}$ where it enters the gates and never $c$, so the LSTM keeps one unmasked
#    memory path (Semeniuta et al. 2016, *Recurrent Dropout without Memory Loss*, drop only the cell's
#    update $g_t$, never $c$ itself, for this reason). A GRU's $h_{t-1}$ is masked where it enters the gates, not where the update
#    gate carries it forward.
# 2. **Zaremba et al. (2014)**: so drop **only the non-recurrent connections**, with a new mask at every time
#    step (their argument: there nothing compounds from step to step). explorer's `dropout` with kind
#    `standard` is this: it masks the embedding's output and the LSTM's output, two sites.
# 3. **Gal & Ghahramani (2016)** argue that the trouble was not dropping $h_{t-1}$ but *redrawing* the mask:
#    use **one mask per sequence**, the same at every time step, on the inputs, the outputs **and**
#    $h_{t-1}$, so that each sequence is run by one consistent thinned network. In explorer:
#    `dropout_kind="locked"` with `recurrent_dropout_kind="gal"`. The experiment below tests the schedule
#    part of that argument on its own.
# 4. **AWD-LSTM (Merity et al., 2018)** keeps the fast fused LSTM untouched: **locked dropout** (one mask
#    per window on the non-recurrent connections, `dropout_kind="locked"`) and, for the recurrent
#    connection, **weight drop** (DropConnect on the hidden-to-hidden matrix, one mask per batch).
#
# Two details of how explorer applies masks. A mask lives for one training **window** (`seq_len`
# characters): the next batch draws new masks while the hidden state carries on across the boundary.
# **Embedding dropout** drops whole rows of the embedding matrix, that is word *types*: in a character
# model, every "e" at once. Gal & Ghahramani (2016) drop word types with one mask per sequence; explorer
# draws one mask per batch, shared by all its sequences, as the AWD-LSTM code does (Merity et al. 2018,
# `embedded_dropout`).
#
# Dropping $h_{t-1}$ needs the recurrence written out step by step (explorer's explicit cell), which is
# slower than PyTorch's fused LSTM; the dashboard says when it is in use.

# %%
import json

import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, setups
from explorer.runs.stats import paired
from explorer.spec.knobs import Config
from explorer.views import mechanism_charts

STEM = "02_dropout"  # this lesson, as its claims are registered (explorer/runs/claims.py)

# The overfitting setup of lesson 1: 128 LSTM units on 0.5 % of Tiny Shakespeare, interleaved split.
model = Config(
    cell="lstm",
    hidden=128,
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    split="interleaved",
    train_fraction=0.005,
    steps=300,
    eval_every=20,
    eval_batches=5,
    detail_every=20,
    meter_every=0,
    instrument_budget=0,  # every detail and sample at the cadence asked for: the lesson reads them
)
# Each comparison changes ONE thing. Where the mask goes: the non-recurrent connections or h(t-1). How often
# it is redrawn: at every time step, or once per window (one thinned network for the whole sequence).
recipes = {
    "no dropout": model,
    "standard 0.5": model.replace(dropout=0.5),  # non-recurrent, a new mask at every step (Zaremba et al.)
    "locked 0.5": model.replace(dropout=0.5, dropout_kind="locked"),  # the same sites, one mask per window
    "naive recurrent 0.5": model.replace(recurrent_dropout=0.5, recurrent_dropout_kind="naive"),  # h(t-1), per step
    "Gal recurrent 0.5": model.replace(recurrent_dropout=0.5, recurrent_dropout_kind="gal"),  # h(t-1), per window
}
pairs = {  # the two like-for-like comparisons of the mask's schedule: (a new mask every step, one per window)
    "non-recurrent": ("standard 0.5", "locked 0.5"),
    "recurrent": ("naive recurrent 0.5", "Gal recurrent 0.5"),
}

# %% [markdown]
# ## The experiment
#
# Five runs, each on every seed of the lesson, every dropout at $p = 0.5$: none; on the non-recurrent connections with a new
# mask at every step (**standard**, Zaremba et al.) or one mask per window (**locked**); on $h_{t-1}$ with a
# new mask at every step (**naive**) or one mask per window (**Gal**). Standard and locked differ only in
# how often the mask is redrawn, and so do naive and Gal: each pair is a like-for-like test of
# "one mask per sequence". The **gap** is the final validation loss minus the final training loss (measured
# with dropout off). "No clear difference" means that the 95 % interval of the per-seed difference between
# the pair's two gaps includes zero.

# %%
schedule_questions = {kind: predict(STEM, f"schedule_{kind}") for kind in pairs}
where = predict(STEM, "lowest_test")
ask = predict_first(*schedule_questions.values(), where)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(recipes, seeds=SEEDS, threads=1)

# %% [markdown]
# ## Check your prediction


# %%
# %%after_prediction ask
def final_val(result) -> float:
    return result.final("val_loss")


def final_gap(result) -> float:
    return result.final("gap")


def final_train(result) -> float:
    return result.final("train_eval_loss")  # measured with dropout off, as the gap's training side is


def test_loss(result) -> float:
    return result.test["test_loss"]


print("final gap: " + "; ".join(f"{name} {arm.spread(final_gap)}" for name, arm in runs.items()))
results = {  # what the lesson's claims and questions read (explorer/runs), one value per seed; printed whole at the end
    **{f"val_{name}": arm.values(final_val) for name, arm in runs.items()},
    **{f"gap_{name}": arm.values(final_gap) for name, arm in runs.items()},
    **{f"test_{name}": arm.values(test_loss) for name, arm in runs.items()},
    **{f"train_{name}": arm.values(final_train) for name, arm in runs.items()},
}
for kind, (a, b) in pairs.items():
    schedule = paired(runs[a].by_seed(final_gap), runs[b].by_seed(final_gap))
    schedule_questions[kind].check(results, "Final gap, " + schedule.sentence("final gap", b, a) + ".")
    print(schedule_questions[kind].text)
lowest_test = [min(runs, key=lambda name: runs[name].results[i].test["test_loss"]) for i in range(len(SEEDS))]
means = {name: sum(arm.values(test_loss)) / len(SEEDS) for name, arm in runs.items()}
first, second = sorted(means, key=means.get)[:2]
where.check(
    results,
    "Test loss: "
    + "; ".join(f"{name} {arm.spread(test_loss)}" for name, arm in runs.items())
    + f". Lowest in each seed: {', '.join(lowest_test)}. "
    + paired(runs[first].by_seed(test_loss), runs[second].by_seed(test_loss)).sentence("test loss", second, first)
    + ".",
)
print(where.text)
naive, gal = (runs[name].by_seed(test_loss) for name in pairs["recurrent"])
print("One mask per window on h(t-1), test loss, " + paired(naive, gal).sentence("test loss", "Gal", "naive") + ".")
print(
    "both non-recurrent runs left a gap over 0.1 nats smaller than both recurrent ones "
    + held(STEM, "site", results, len(SEEDS))
)
print("final validation loss: " + "; ".join(f"{name} {arm.spread(final_val)}" for name, arm in runs.items()))
print("final training loss: " + "; ".join(f"{name} {arm.spread(final_train)}" for name, arm in runs.items()))

# %%
# %%after_prediction ask
epochs = runs["no dropout"].results[0].snapshot.evals[-1]["epoch"]
characters = len(runs["no dropout"].results[0].trainer.corpus.train)
Markdown(rf"""
What the runs say, over the seeds above (each verdict is computed from them, with how many seeds it held
in):

- **Every form of dropout narrowed the gap**, by more than 0.1 nats, {held(STEM, "every_dropout", results, len(SEEDS))},
  and the two on the non-recurrent connections narrowed it at step {model.steps} by over 0.1 nats more than the two
  on $h_{{t-1}}$, {held(STEM, "site", results, len(SEEDS))}. That is not a fair contest of *where*: at the same $p$,
  `dropout` masks two sites (the embedding's output and the LSTM's output) and recurrent dropout one, and the
  non-recurrent runs also ended with a training loss over 0.1 nats higher, {held(STEM, "site_fit", results, len(SEEDS))}
  (the training losses printed above): part of a smaller gap read at a fixed step is a slower fit.
- **How often**, on the non-recurrent connections: standard against locked is the first verdict (its answer "no clear
  difference" would mean that the 95 % interval of the per-seed difference includes zero). The claims table below
  asks a per-seed question instead: do the two gaps differ by under a tenth of what standard dropout took off? Zaremba
  et al. argue that noise on these connections does not compound from step to step; we might then expect the
  schedule to matter little there. These runs show the outcome, not that reason.
- **How often**, on $h_{{t-1}}$: naive against Gal is the second verdict, with the size of the difference and
  its interval. One mask per window is Gal & Ghahramani's point: the same thinned recurrence for the whole
  sequence instead of fresh noise at every step. The same trap applies: compare the two runs' training losses
  printed above (a looser fit also narrows a gap read at a fixed step); their test losses, compared seed by seed
  under the third verdict, say whether one mask per window gave the better model. In an LSTM explorer masks $h_{{t-1}}$ only where it enters
  the gates and never the cell $c$, so neither schedule touches the LSTM's direct memory path.
- **A smaller gap is not a better model.** The third verdict names the run with the lowest mean test loss
  with its final weights; the claims table checks, seed by seed, that the lowest is a recurrent-dropout run,
  over 0.01 nats below every run without recurrent dropout, and that its gap is larger than the non-recurrent runs'. The gap
  says how much the model fits its training text beyond the validation text, not how well it predicts new
  text. It is not a ranking of the methods either: read at one step, the arms differ in how many sites they
  mask and in how fast they fit.

What this does not show: that naive masks harm *memory*. {model.steps} steps ({epochs:.0f} passes over its {characters:,} characters)
are about memorising a short text, not about long spans. The harm Bayer et al. and Zaremba et al. describe
(Zaremba et al.'s for LSTMs like this one) is to what a network carries over long spans, which this experiment
does not measure; *Try this* lets you look on lesson 9's recall corpus. AWD-LSTM's
recipe (locked dropout plus weight drop) is a recipe, two changes at once, so it is under *Try this* too.
""")

# %% [markdown]
# ## Why: what the masks look like
#
# The masks of one training window as the runs drew them (units across, time running down, black =
# dropped), on $h_{t-1}$ where it enters the gates (the LSTM's cell $c$ is not masked). The naive mask is
# speckled: a new one at every step. Gal's is in vertical stripes: the same units dropped all the way down,
# one thinned recurrence for the whole window. Standard and locked dropout look the same two ways on the
# layers' inputs and outputs (the dashboard's **Masks** tab below shows them).

# %%
# %%after_prediction ask
chart_widget(mechanism_charts.dropout_mask_chart(runs["naive recurrent 0.5"].results[0].snapshot))

# %%
# %%after_prediction ask
chart_widget(mechanism_charts.dropout_mask_chart(runs["Gal recurrent 0.5"].results[0].snapshot))

# %% [markdown]
# ## Why dropout is off at evaluation, and what else you could do
#
# Take each trained standard-dropout model and score the *same* validation batches three ways: dropout off (the
# deterministic network), dropout on for one pass, and the average of 10 passes' predicted probabilities
# with dropout on (Monte-Carlo dropout).

# %%
evaluation_question = predict(STEM, "evaluation")
ask_evaluation = predict_first(evaluation_question, after=ask)
display(ask_evaluation)


# %%
# %%after_prediction ask_evaluation
EVAL_BATCHES = 3  # validation batches each way of evaluating is scored on


@torch.no_grad()
def validation_loss(trainer, passes: int, dropout_on: bool, batches: int = EVAL_BATCHES) -> float:
    model = trainer.model.train(dropout_on)
    total = 0.0
    for i in range(batches):
        x, y = trainer.valid_stream.batch(i)
        probs = torch.stack([F.softmax(model(x)[0], -1) for _ in range(passes)]).mean(0)
        total += F.nll_loss(probs.clamp_min(1e-12).log().flatten(0, 1), y.flatten()).item()
    trainer.model.train()
    return total / batches


evaluation = {"off": [], "one pass": [], "MC 10": []}
for result in runs["standard 0.5"].results:
    evaluation["off"].append(validation_loss(result.trainer, 1, False))
    evaluation["one pass"].append(validation_loss(result.trainer, 1, True))
    evaluation["MC 10"].append(validation_loss(result.trainer, 10, True))
for name, values in evaluation.items():
    print(f"dropout {name:9s}: validation loss " + ", ".join(f"{v:.3f}" for v in values) + f" (seeds {SEEDS})")
results["evaluation"] = evaluation
evaluation_question.check(
    results,
    f"One pass over 0.1 nats worse than dropout off {held(STEM, 'one_pass', results, len(SEEDS))}; 10 passes "
    f"recovered more than half of that and stayed over 0.03 nats worse than dropout off "
    f"{held(STEM, 'monte_carlo', results, len(SEEDS))}.",
)
print(evaluation_question.text)

# %%
# %%after_prediction ask_evaluation
Markdown(rf"""
One pass with dropout on is over 0.1 nats worse than dropout off, {held(STEM, "one_pass", results, len(SEEDS))}: it
is a single thinned network. Averaging 10 of them won back more than half of what one pass lost and stayed over 0.03
nats worse than the deterministic network, {held(STEM, "monte_carlo", results, len(SEEDS))}, on these {EVAL_BATCHES} validation
batches (the numbers above, seed by seed). Gal & Ghahramani (2016, the rows of their Table 1 marked MC) report
Monte-Carlo averaging over far more passes a little below the deterministic network's test perplexity, at that many
times the cost; that was their variational dropout on word-level LSTMs, not this lesson's model, and nothing here
checks it.

The same noise is why the **training loss reported during training is inflated**: it is measured on
the thinned network. explorer therefore measures the training loss again in evaluation mode (dropout
off) on fixed batches, and the gap uses that one.
""")

# %%
# %%after_prediction ask_evaluation
results["setups"] = setups(runs)  # every run's knobs: a claim comparing runs that differ in more is refused
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - Press **▶ Train** below with no dropout and wait for the gap to open; then drag **Dropout rate** to
#   0.5. Does the gap stop growing from the marked step on?
# - Under *More live knobs*, set **Recurrent dropout** to 0.3 with kind naive, then gal, and open the
#   **Masks** tab: speckles against stripes.
# - A recipe, not one change: AWD-LSTM (Merity et al. 2018) puts **locked** dropout on the non-recurrent
#   connections and **Weight drop** (DropConnect on the hidden-to-hidden matrix, one mask per batch) on the
#   recurrent one. Train it, save it, train the locked run alone, and compare them with **Repeat over
#   seeds**: the difference is weight drop's, on top of locked dropout.
# - On the recall corpus (*Setup*: corpus Recall, cell lstm), train with naive recurrent dropout 0.5 and
#   with none, and compare the loss on the recalled key with ln 8 = 2.08, a guess: explorer never masks
#   the LSTM's cell $c$. (Lesson 9 asks how a vanilla RNN does on that corpus without any dropout.)
# - **Embedding (word) dropout** drops whole characters: every copy of a dropped letter in the batch.
# - Try $p = 0.8$: is it too much noise? A model that under-fits keeps both losses high.

# %%
dashboard(
    config=model,
    show=(
        "dropout",
        "dropout_kind",
        "recurrent_dropout",
        "recurrent_dropout_kind",
        "embed_dropout",
        "weight_drop",
        "corpus",
        "cell",
        "hidden",
    ),
    views=("gap", "masks", "compare"),
)
