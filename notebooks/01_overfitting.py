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
# (knowing nothing about these $V \approx 65$ characters costs $\log_2 65 \approx 6$ bits).
#
# We measure the loss on the **training** text the model learns from and on **validation** text it never
# learns from. Their difference is the **generalisation gap**, $\text{gap} = L_\text{val} - L_\text{train}$.
#
# Read it with care:
# - The gap has two parts. One is **overfitting**: what the model learned about *these* training
#   characters rather than about English. The other is **distribution shift**: if the validation text is
#   simply different (other plays, other speakers), it is harder even for a model that learned nothing by
#   heart, and that part never goes away.
# - A gap that widens while validation loss still *falls* does no harm yet: the model is still getting
#   better at text it has not seen. The harmful signal is **validation loss rising**.
#
# This lesson runs every experiment on **3 seeds** (different initial weights and dropout draws, the same
# data) and states each claim with how many seeds it held in and the spread of the numbers.

# %%
import json

from IPython.display import display

from explorer.faces.notebook import chart_widget, dashboard, experiment, predict
from explorer.runs.experiments import SEEDS, holds, seeds_summary
from explorer.spec.knobs import Config
from explorer.views import sweep_charts

# An LSTM with 128 hidden units (about 90k weights): plenty of capacity for a few thousand characters.
# split="interleaved": validation and test are 2,000-character blocks dealt out across the whole book
# (experiment 2 shows why that matters).
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
#
# The same model trained for the same 400 steps on 0.5 % of Tiny Shakespeare's training text (about
# 5,000 characters) and on 5 % (about 50,000). Each step reads 16 × 32 = 512 characters, so 400 steps are
# about **44 passes (epochs)** over the small text but only **4** over the large one.

# %%
question = predict(
    "Within 400 steps, whose validation loss turns and climbs?",
    "only the 0.5 % run",
    "only the 5 % run",
    "both",
    "neither",
)
display(question)

# %%
runs = experiment(
    {"0.5% of the text": model.replace(train_fraction=0.005), "5% of the text": model.replace(train_fraction=0.05)},
    seeds=SEEDS,
    threads=1,
)
small, large = runs["0.5% of the text"], runs["5% of the text"]

# %% [markdown]
# ## Check your prediction
#
# Each line is the mean validation loss over the 3 seeds; the band is its 95 % interval. Against steps
# (above) and against epochs (below): per pass over its text, the large run is no slower to learn, it just
# has far more to learn before it runs out of new text.

# %%
summary = seeds_summary("lesson 1", runs)
chart_widget(sweep_charts.variance_band_chart(summary, show_train=True, title="Check your prediction: validation loss"))

# %%
chart_widget(sweep_charts.variance_band_chart(summary, x="epoch", title="The same runs against epochs"))


# %%
def rise(result) -> float:
    """How far validation loss climbed back from its best by the end (> 0: it turned)."""
    return result.final("val_loss") - result.best("val_loss")


turned_small = [r > 0.03 for r in small.values(rise)]
turned_large = [r > 0.03 for r in large.values(rise)]
answer = {
    (True, False): "only the 0.5 % run",
    (False, True): "only the 5 % run",
    (True, True): "both",
    (False, False): "neither",
}[(all(turned_small), all(turned_large))]
question.check(
    answer,
    f"The 0.5 % run climbed {small.spread(rise)} nats from its best, turning {holds(turned_small)}; "
    f"the 5 % run climbed {large.spread(rise)} ({holds(turned_large)} turned).",
)
print(question.text)

# %% [markdown]
# ## Why: the numbers
#
# The small run's best step, how far its validation loss climbed back, its gap, and finally its score on
# the **test** split: text that no choice in this lesson looked at.

# %%
for name, arm in runs.items():
    print(f"{name}: {arm.results[0].trainer.corpus.train.numel():,} training characters")
    print(f"  best validation loss at step {arm.spread(lambda r: r.snapshot.best_eval()['step'], 0)}")
    print(f"  final gap {arm.spread(lambda r: r.final('gap'))} nats")
    print(f"  final validation {arm.spread(lambda r: r.final('val_bpc'), 2)} bits per character")
    print(f"  test loss at the end {arm.spread(lambda r: r.test['test_loss'])} nats")
narrower = [s > 2 * g for s, g in zip(small.values(lambda r: r.final("gap")), large.values(lambda r: r.final("gap")))]
print(f"ten times more text: the final gap was under half {holds(narrower)}")

# %% [markdown]
# The small text is learned by heart: its training loss keeps falling, validation loss turns at its best
# step and climbs, and the test loss at the end is worse than the best validation loss was. The large text
# gives the same model no chance to memorise in 400 steps: its validation loss is still falling at the end.

# %% [markdown]
# ## Experiment 2: overfitting or distribution shift?
#
# With `split="contiguous"` the text is split in reading order: training is the first 90 % of the book,
# validation the next 5 %, test the last 5 %. Tiny Shakespeare's training text starts with *Coriolanus*;
# its validation text is from *The Taming of the Shrew*, which the training text only reaches on its last
# pages: other plays, other speakers. With
# `split="interleaved"` validation and test blocks come from everywhere in the book, like the training
# text. Train on the **whole** training text for 400 steps: 205,000 characters read, under a quarter of an
# epoch, so nothing is seen twice and nothing can be memorised. Then compare the gaps (measured on 40
# batches, 20,000 characters, so that a small difference is not noise).

# %%
SAME_GAP = 0.03  # nats: gaps closer than this count as the same
shift_question = predict(
    "After 400 steps on the whole text, no character seen twice, the gap between validation and training loss is…",
    f"about the same for both splits (within {SAME_GAP} nats)",
    "clearly larger with the contiguous split",
    "clearly larger with the interleaved split",
)
display(shift_question)

# %%
# train_subset=1.0: the training side on every row of those 40 batches too, like the validation side
fresh = model.replace(train_fraction=1.0, steps=400, eval_every=100, eval_batches=40, train_subset=1.0)
shift = experiment(
    {"interleaved split": fresh, "contiguous split": fresh.replace(split="contiguous")}, seeds=SEEDS, threads=1
)
interleaved, contiguous = shift["interleaved split"], shift["contiguous split"]


# %%
def final_gap(result) -> float:
    return result.final("gap")


differences = [c - i for c, i in zip(contiguous.values(final_gap), interleaved.values(final_gap))]
larger = [d > SAME_GAP for d in differences]
mean_difference = sum(differences) / len(differences)
shift_question.check(
    "clearly larger with the contiguous split"
    if mean_difference > SAME_GAP
    else (
        "clearly larger with the interleaved split"
        if mean_difference < -SAME_GAP
        else f"about the same for both splits (within {SAME_GAP} nats)"
    ),
    f"Final gap: interleaved {interleaved.spread(final_gap)}, contiguous {contiguous.spread(final_gap)} nats; "
    f"contiguous minus interleaved {mean_difference:+.3f} on average (the answer goes by the mean); contiguous "
    f"larger by more than {SAME_GAP} {holds(larger)}.",
)
print(shift_question.text)
chart_widget(
    sweep_charts.variance_band_chart(seeds_summary("shift", shift), show_train=True, title="Check your prediction")
)

# %% [markdown]
# With the contiguous split the validation text is harder than the training text even for a model that
# has memorised nothing, and the difference grows as the model learns more about its own plays: part of
# every gap measured that way is the books' difference, not overfitting, and it does not close. That is why
# these lessons use the interleaved split. (With a share of the training text, as in experiment 1, the
# interleaved split keeps whole training blocks spread evenly over the book: 0.5 % is about two and a half
# blocks, from three places. Validation still comes from everywhere, so a little of that gap is a change of
# text too; memorising is by far the larger part.)

# %%
results = {
    "rise_small": small.values(rise),
    "rise_large": large.values(rise),
    "best_step_small": small.values(lambda r: r.snapshot.best_eval()["step"]),
    "gap_small": small.values(lambda r: r.final("gap")),
    "gap_large": large.values(lambda r: r.final("gap")),
    "test_small": small.values(lambda r: r.test["test_loss"]),
    "best_val_small": small.values(lambda r: r.best("val_loss")),
    "bpc_small": small.values(lambda r: r.final("val_bpc")),
    "epochs_small": small.values(lambda r: r.snapshot.evals[-1]["epoch"]),
    "epochs_large": large.values(lambda r: r.snapshot.evals[-1]["epoch"]),
    "shift_interleaved": interleaved.values(final_gap),
    "shift_contiguous": contiguous.values(final_gap),
}
print("RESULTS", json.dumps(results))  # one line the tests read back

# %% [markdown]
# ## Try this
#
# - In the dashboard below (this lesson's small-text model), press **▶ Train** and watch the gap open; then
#   drag **Dropout rate** to 0.5 while it trains. The chart marks the moment: does validation stop climbing?
# - Change **Fraction of training text used** (under *Setup*), press **↺ Reset**, then **▶ Train**. How does
#   the step where validation loss is best move?
# - Switch the chart to **perplexity**: the gap in nats becomes a *ratio* of perplexities, $e^{\text{gap}}$.
# - Fewer **Hidden units** is another cure: a smaller model cannot memorise as much. Try 32.

# %%
dashboard(
    config=model.replace(train_fraction=0.005),
    show=("dropout", "train_fraction", "hidden", "layers", "split"),
    views=("gap", "compare"),
)
