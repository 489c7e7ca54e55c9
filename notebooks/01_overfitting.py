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
# # Lesson 1 — Overfitting: when the model learns the book by heart
#
# A character-level language model reads text one character at a time and guesses the next one. It is
# scored by the **cross-entropy loss**, the average surprise at the true next character, in nats per token:
#
# $$L = -\frac{1}{N}\sum_{t=1}^{N} \ln p_\theta(x_{t+1} \mid x_1, \dots, x_t).$$
#
# Two other units say the same thing. The **perplexity** $\mathrm{PPL} = e^{L}$: a model with perplexity
# 12 is as unsure as someone choosing uniformly among 12 characters. **Bits per character**
# $L / \ln 2$: how many yes/no questions, on average, the model needs to pin down the next character
# (knowing nothing about which of the text's $V$ characters comes next costs $\log_2 V$ bits; $V$ is printed
# below).
#
# We measure the loss on the **training** text the model learns from and on **validation** text it never
# learns from. Their difference is the **generalisation gap**, $\text{gap} = L_\text{val} - L_\text{train}$.
#
# Read it with care:
# - The gap has two parts. One is **overfitting**: what the model learned about *these* training
#   characters rather than about English. The other is **distribution shift**: if the validation text is
#   simply different (other plays, other speakers), it can be harder even for a model that learned nothing by
#   heart.
# - A gap that widens while validation loss still *falls* does no harm yet: the model is still getting
#   better at text it has not seen. The harmful signal is **validation loss rising**.
#
# This lesson runs every experiment on **3 seeds** (different initial weights and dropout draws, the same
# data; 3 is the default, and the environment variable `EXPLORER_SEEDS` sets others) and states each claim with
# how many seeds it held in and the spread of the numbers.

# %%
import json
import math

import torch
from IPython.display import Markdown, display

from explorer.core.data import BLOCK, BatchStream, Corpus
from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, holds, seeds_summary, setups
from explorer.spec.knobs import Config
from explorer.views import sweep_charts

STEM = "01_overfitting"  # this lesson, as its claims are registered (explorer/runs/claims.py)

# An LSTM with 128 hidden units: plenty of capacity for a few thousand characters.
# split="interleaved": validation and test are 2,000-character blocks dealt out across the whole book.
model = Config(
    cell="lstm",
    hidden=128,
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    split="interleaved",
    steps=400,
    eval_every=20,
    eval_batches=5,
    meter_every=0,
)

# %% [markdown]
# ## Experiment 1: a little text and ten times more


# %%
def text_and_passes(fraction: float) -> tuple[int, int, float]:
    """The training text's characters at this fraction, how many of them an epoch's batches read (the end of each
    row, too short for another window, is left out), and how many passes (epochs) the steps make."""
    config = model.replace(train_fraction=fraction)
    text = Corpus.from_config(config).train
    stream = BatchStream(text, config.batch_size, config.seq_len, torch.device("cpu"))
    return (
        len(text),
        stream.batches_per_epoch * config.batch_size * config.seq_len,
        config.steps / stream.batches_per_epoch,
    )


(small_chars, small_read, small_passes), (large_chars, large_read, large_passes) = (
    text_and_passes(0.005),
    text_and_passes(0.05),
)
corpus = Corpus.from_config(model)
display(
    Markdown(
        f"The same model trained for the same {model.steps} steps on 0.5 % of Tiny Shakespeare's training text "
        f"({small_chars:,} characters, of which an epoch's batches read {small_read:,}) and on 5 % ({large_chars:,}; "
        f"{large_read:,} read). Each step reads {model.batch_size} × "
        f"{model.seq_len} = {model.batch_size * model.seq_len} characters, so {model.steps} steps are "
        f"**{small_passes:.0f} passes (epochs)** over the small text but only **{large_passes:.0f}** over the large "
        f"one. The text has V = {len(corpus.vocab)} distinct characters: a model that knows nothing about the next "
        f"one costs log₂ {len(corpus.vocab)} = {math.log2(len(corpus.vocab)):.1f} bits per character."
    )
)

# %%
question = predict(STEM, "turns", steps=model.steps)
ask = predict_first(question)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(
    {"0.5% of the text": model.replace(train_fraction=0.005), "5% of the text": model.replace(train_fraction=0.05)},
    seeds=SEEDS,
    threads=1,
)
small, large = runs["0.5% of the text"], runs["5% of the text"]

# %%
# %%after_prediction ask
Markdown(r"""
## Check your prediction

Each line is the mean validation loss over the seeds; the band is its 95 % interval. Against steps
(above) and against epochs (below): an epoch is one pass over each run's own text, so the two axes read the same
runs two ways.
""")
# %%
# %%after_prediction ask
summary = seeds_summary("lesson 1", runs)
chart_widget(sweep_charts.variance_band_chart(summary, show_train=True, title="Check your prediction: validation loss"))

# %%
# %%after_prediction ask
chart_widget(sweep_charts.variance_band_chart(summary, x="epoch", title="The same runs against epochs"))


# %%
# %%after_prediction ask
def rise(result) -> float:
    """How far validation loss climbed back from its best by the end (> 0: it turned)."""
    return result.final("val_loss") - result.best("val_loss")


results = {"rise_small": small.values(rise), "rise_large": large.values(rise)}  # what the claims and questions read
turned_small = [r > 0.03 for r in results["rise_small"]]
turned_large = [r > 0.03 for r in results["rise_large"]]
question.check(
    results,
    f"The 0.5 % run climbed {small.spread(rise)} nats from its best, turning {holds(turned_small)}; "
    f"the 5 % run climbed {large.spread(rise)} ({holds(turned_large)} turned).",
)
print(question.text)

# %% [markdown]
# ## Why: the numbers
#
# Each run's best step, how far its validation loss moved from its best by the end, its gap, and finally its
# score on the **test** split: text that no choice in this lesson looked at.

# %%
# %%after_prediction ask
for name, arm in runs.items():
    print(f"{name}: {arm.results[0].trainer.corpus.train.numel():,} training characters")
    print(f"  best validation loss at step {arm.spread(lambda r: r.snapshot.best_eval()['step'], 0)}")
    print(f"  final gap {arm.spread(lambda r: r.final('gap'))} nats")
    print(f"  final validation {arm.spread(lambda r: r.final('val_bpc'), 2)} bits per character")
    print(f"  test loss at the end {arm.spread(lambda r: r.test['test_loss'])} nats")
results.update(
    {  # what the lesson's claims read (explorer/runs/claims.py), one value per seed; printed whole at the end
        "best_step_small": small.values(lambda r: r.snapshot.best_eval()["step"]),
        "gap_small": small.values(lambda r: r.final("gap")),
        "gap_large": large.values(lambda r: r.final("gap")),
        "test_small": small.values(lambda r: r.test["test_loss"]),
        "test_large": large.values(lambda r: r.test["test_loss"]),
        "best_val_small": small.values(lambda r: r.best("val_loss")),
        "bpc_small": small.values(lambda r: r.final("val_bpc")),
        "epochs_small": small.values(lambda r: r.snapshot.evals[-1]["epoch"]),
        "epochs_large": large.values(lambda r: r.snapshot.evals[-1]["epoch"]),
    }
)
print(f"ten times more text: the final gap was under half {held(STEM, 'gap_halved', results, len(SEEDS))}")

# %%
# %%after_prediction ask
Markdown(rf"""
The small text is learned by heart: its validation loss turns at its best step and climbs, ending more than
0.03 nats above its lowest, {held(STEM, "small_turns", results, len(SEEDS))}. The large text's validation loss has
not turned within {model.steps} steps: it ends within 0.01 nats of its lowest, {held(STEM, "large_flat", results, len(SEEDS))}.
And the large run's test loss at the end is over half a nat below the small run's,
{held(STEM, "test_lower", results, len(SEEDS))} (the numbers above).
""")
# %% [markdown]
# ## Experiment 2: overfitting or distribution shift?
#
# With `split="contiguous"` the text is split in reading order: training is the first 90 % of the book,
# validation the next 5 %, test the last 5 %. With `split="interleaved"` validation and test blocks come
# from everywhere in the book, like the training text. Train on the **whole** training text, so that nothing
# is read twice (the gap's training side is text the model read once, in its first steps), then compare the
# gaps, measured on many batches so that a small difference is not noise:

# %%
# train_subset=1.0: the training side on every row of those 40 batches too, like the validation side
fresh = model.replace(train_fraction=1.0, steps=400, eval_every=100, eval_batches=40, train_subset=1.0)
whole_chars, _, whole_passes = text_and_passes(1.0)
display(
    Markdown(
        f"{fresh.steps} steps read {fresh.steps * fresh.batch_size * fresh.seq_len:,} characters of the "
        f"{whole_chars:,}: {whole_passes:.2f} of a pass. The gaps are measured on {fresh.eval_batches} batches, "
        f"{fresh.eval_batches * fresh.batch_size * fresh.seq_len:,} characters."
    )
)
shift_question = predict(STEM, "shift", steps=fresh.steps)
ask_shift = predict_first(shift_question, after=ask)
display(ask_shift)

# %%
# %%after_prediction ask_shift
shift = experiment(
    {"interleaved split": fresh, "contiguous split": fresh.replace(split="contiguous")}, seeds=SEEDS, threads=1
)
interleaved, contiguous = shift["interleaved split"], shift["contiguous split"]


# %%
# %%after_prediction ask_shift
def final_gap(result) -> float:
    return result.final("gap")


differences = [c - i for c, i in zip(contiguous.values(final_gap), interleaved.values(final_gap))]
results.update(shift_interleaved=interleaved.values(final_gap), shift_contiguous=contiguous.values(final_gap))
mean_difference = sum(differences) / len(differences)
shift_question.check(
    results,
    f"Final gap: interleaved {interleaved.spread(final_gap)}, contiguous {contiguous.spread(final_gap)} nats; "
    f"contiguous minus interleaved {mean_difference:+.3f} on average (the answer goes by the mean); contiguous "
    f"larger by more than 0.03 {held(STEM, 'shift', results, len(SEEDS))}.",
)
print(shift_question.text)
chart_widget(
    sweep_charts.variance_band_chart(seeds_summary("shift", shift), show_train=True, title="Check your prediction")
)

# %%
# %%after_prediction ask_shift
small_blocks = -(-small_chars // BLOCK)  # whole training blocks the 0.5 % share is made of
Markdown(rf"""
Tiny Shakespeare's training text starts with *Coriolanus*; with the contiguous split its validation text
is from *The Taming of the Shrew*, which the training text only reaches on its last pages: other plays, other
speakers. So with the contiguous split the validation text was harder than the training text even for a model
that had read nothing twice (its gap larger by over 0.03 nats {held(STEM, "shift", results, len(SEEDS))}): where
it is, part of every gap measured that way is the
books' difference, not overfitting. That is why the lessons on Tiny Shakespeare and the overfitting presets use the interleaved split. (With a share of the training text, as in experiment 1, the
interleaved split keeps whole training blocks spread evenly over the book: 0.5 % is {small_chars:,} characters,
{small_chars / BLOCK:.1f} blocks of {BLOCK:,}, from {small_blocks} places. Validation still comes from everywhere, so
a part of the small run's gap may be a change of text too; this experiment does not measure how large.)
""")
# %%
# %%after_prediction ask_shift
results["setups"] = setups(runs, shift)  # every run's knobs: a claim comparing runs that differ in more is refused
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - In the dashboard below (this lesson's small-text model), press **▶ Train** and watch the gap open; then
#   drag **Dropout rate** to 0.5 while it trains. The chart marks the moment: does validation stop climbing?
# - Change **Fraction of training text used** (under *Setup*), press **↺ Reset**, then **▶ Train**. How does
#   the step where validation loss is best move?
# - Switch the chart to **perplexity**: the gap in nats becomes a *ratio* of perplexities, $e^{\text{gap}}$.
# - Try 32 **Hidden units**: a smaller model has less room to memorise. Does the gap narrow? Is the test loss
#   lower? (Lesson 7 asks the same of size and dropout together.)

# %%
dashboard(
    config=model.replace(train_fraction=0.005),
    show=("dropout", "train_fraction", "hidden", "layers", "split"),
    views=("gap", "compare"),
)
