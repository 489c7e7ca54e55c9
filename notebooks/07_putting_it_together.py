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
# # Lesson 7 — Putting it together: size and regularisation, one knob at a time
#
# "Make the model smaller" and "regularise it" are both cures for overfitting. Which one should you
# reach for, or both?
#
# To see which knob does what, this experiment changes **one thing at a time**: two sizes (32 and 128
# hidden units) × two settings of one regulariser (no dropout, and lesson 2's locked dropout, here at $p = 0.3$).
# Everything else is the same, and every run uses early stopping (lesson 6) so each recipe ends with the
# model you would actually keep: its best weights, whether the patience or the step budget ran out
# first. The score is that model's loss on the **test** split, text that took no part in any choice:
#
# $$L_\text{test} = -\frac{1}{N}\sum_{t} \ln p_\theta(x_{t+1} \mid x_{\le t}), \qquad \mathrm{PPL}_\text{test} = e^{L_\text{test}}.$$

# %%
import json

from IPython.display import Markdown, display

from explorer.core.model import count_parameters
from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, seeds_summary, setups
from explorer.runs.stats import paired
from explorer.spec.knobs import Config
from explorer.views import sweep_charts

STEM = "07_putting_it_together"  # this lesson, as its claims are registered (explorer/runs/claims.py)

data = Config(
    cell="lstm",
    embed=32,
    seq_len=32,
    batch_size=16,
    lr=3e-3,
    split="interleaved",
    train_fraction=0.01,
    steps=600,
    eval_every=20,
    eval_batches=5,
    early_stop=4,
    meter_every=0,
)
recipes = {
    "small": data.replace(hidden=32),
    "small + dropout": data.replace(hidden=32, dropout=0.3, dropout_kind="locked"),
    "big": data.replace(hidden=128),
    "big + dropout": data.replace(hidden=128, dropout=0.3, dropout_kind="locked"),
}

# %%
question = predict(STEM, "recipe")
ask = predict_first(question)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(recipes, seeds=SEEDS, threads=1)

# %%
# %%after_prediction ask
Markdown(r"""
## Check your prediction

Validation loss over the seeds, per recipe (each run ends where early stopping ended it), then each recipe's
test loss.
""")

# %%
# %%after_prediction ask
chart_widget(sweep_charts.variance_band_chart(seeds_summary("lesson 7", runs), title="Check your prediction"))


# %%
# %%after_prediction ask
def test_loss(result) -> float:
    return result.test["test_loss"]


means = {name: sum(arm.values(test_loss)) / len(arm.results) for name, arm in runs.items()}
first, second = sorted(means, key=means.get)[:2]
top_two = paired(runs[first].by_seed(test_loss), runs[second].by_seed(test_loss))  # the runner-up minus the leader


def change(a: str, b: str) -> list[float]:
    """b − a per seed: negative means b is better."""
    return [y - x for x, y in zip(runs[a].values(test_loss), runs[b].values(test_loss))]


results = {  # what the lesson's claims read (explorer/runs/claims.py), one value per seed; printed whole at the end
    **{f"test_{name}": arm.values(test_loss) for name, arm in runs.items()},
    "parameters_small": count_parameters(runs["small"].results[0].trainer.model),
    "parameters_big": count_parameters(runs["big"].results[0].trainer.model),
    "effects": {
        "dropout, small model": change("small", "small + dropout"),
        "dropout, big model": change("big", "big + dropout"),
        "size, no dropout": change("small", "big"),
        "size, with dropout": change("small + dropout", "big + dropout"),
    },
}
question.check(
    results,
    f"Lowest mean test loss: {first}; {top_two.sentence('test loss', second, first)}. "
    f"Big + dropout was lowest of the four by more than 0.01 nats {held(STEM, 'big_dropout_lowest', results, len(SEEDS))}.",
)
print(question.text)
for name, arm in runs.items():
    print(
        f"{name:16s} {count_parameters(arm.results[0].trainer.model):7,} parameters · test loss "
        f"{arm.spread(test_loss)} · test perplexity {arm.spread(lambda r: r.test['test_ppl'], 2)} · "
        f"stopped at step {arm.spread(lambda r: r.trainer.step_count, 0)}"
    )

# %%
# %%after_prediction ask
Markdown(rf"""
Zaremba, Sutskever & Vinyals (2014) reached the same recipe for LSTM language models on Penn Treebank: their
**large** LSTM with dropout (78.4 test perplexity) beat their medium one with dropout (82.7), and both far beat
their unregularised LSTM (114.5), a small one: without dropout, they note, bigger ones overfit. Their table is not
one knob at a time (no small model with dropout, no large one without, and the recipes differ in training
schedule too): their ranking can agree with this one (this lesson's big + dropout was lowest by more than 0.01
nats {held(STEM, "big_dropout_lowest", results, len(SEEDS))}), but it does not isolate the knobs.

(The parameter counts include what the model holds for live switches it does not use here: the
normalisation layers and the blank character's embedding.)

## Why: one knob at a time

Read the four runs two by two, changing one knob at a time (each number below: the change in test loss,
seed by seed; negative is better; the claims table at the end says in how many seeds each held):
- **dropout on the small model** raises its test loss within this {data.steps}-step budget, and **dropout on the
  big model** lowers it, each by more than 0.02 nats, {held(STEM, "dropout_effects", results, len(SEEDS))};
- **size** lowers the test loss in both columns, by more than 0.02 nats, and by over 0.05 nats more with dropout
  than without, {held(STEM, "size_effects", results, len(SEEDS))}.

The usual reading, which these runs are consistent with but do not test: 32 units have little capacity to
spare, so dropout takes away some of what they need to fit the language; 128 units have capacity to fit the
training text itself, and dropout stops them spending it there. Testing that reading would take more sizes
and a measure of capacity, not four runs. Where big + dropout came out lowest, the runs show a recipe, at these
two sizes, this dropout and this much text: not "small", and not "regularised" alone, but the bigger model with
the regulariser.
""")


# %%
# %%after_prediction ask
for name, values in results["effects"].items():
    print(f"{name:22s} changes the test loss by {', '.join(f'{v:+.3f}' for v in values)} (seeds {SEEDS})")

# %%
# %%after_prediction ask
results["setups"] = setups(runs)  # every run's knobs: a claim comparing runs that differ in more is refused
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - The dashboard below starts from the big model with dropout. Press **Save run** after a run, switch
#   **Dropout rate** to 0, **↺ Reset**, **▶ Train**, and compare the curves in **Compare runs**.
# - Which other regulariser lowers the big model's test loss as much? Try weight drop or L2 instead of dropout, one
#   at a time.
# - Give the big model more data (*Fraction of training text used* 0.05): does it still need dropout?

# %%
dashboard(config=recipes["big + dropout"])
