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
# # Lesson 10 — Four things tutorials say, measured
#
# Four sentences you can find in tutorials and forum answers about training recurrent networks:
#
# 1. "Dropout eases vanishing gradients."
# 2. "Gradient clipping reduces overfitting."
# 3. "At test time, multiply the weights by the dropout rate."
# 4. "Clipping by value is the same as clipping by norm."
#
# Each is put to an experiment here, over seeds, with its question asked before the runs. Where the
# measurement agrees with the sentence, the lesson says so. Each verdict holds for the model and setting
# measured; the *Try this* section at the end lets you move the settings.
#
# Two words from earlier lessons. The **gradient reach** at distance $d$ (lesson 4) is
# $\lVert \partial L_T / \partial x_{T-d} \rVert$: how much the loss at the last position of a window still
# depends on the input $d$ steps earlier; here it is read as a share of its value at distance 0. The **gap** is
# the final validation loss minus the final training loss, both measured with dropout off (lesson 1).

# %%
import json
import math
import statistics

import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from explorer.core.probes import dropout_sites_scaled, gradient_reach
from explorer.faces.notebook import claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, holds, setups
from explorer.runs.questions import REACH
from explorer.runs.stats import paired
from explorer.spec.knobs import Config

STEM = "10_tutorial_claims_measured"  # this lesson, as its claims are registered (explorer/runs/claims.py)

P = 0.3  # the dropout rate of every run with dropout in this lesson
TAU = 0.25  # the clipping threshold of part 2 (AWD-LSTM's, with SGD)
CONTROL = "SGD at the clipped rate"  # part 2's control: unclipped SGD at the clipped runs' measured learning rate
# A vanilla RNN like lesson 4's, but trained with Adam and clipped at norm 1, so that it does not explode.
rnn = Config(
    cell="rnn",
    hidden=128,
    embed=32,
    seq_len=64,
    batch_size=16,
    lr=3e-3,
    clip=1.0,
    split="interleaved",
    train_fraction=0.05,
    steps=200,
    eval_every=20,
    eval_batches=5,
    detail_every=20,
    meter_every=0,
)
# Lesson 2's overfitting LSTM: 128 units on 0.5 % of Tiny Shakespeare, Adam, no clipping.
lstm = Config(
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
)
sgd = lstm.replace(optimizer="sgd", lr=3.0)  # the same LSTM with plain SGD (its gap and fit are printed below)

# %%
DISTANCE, SEQUENCES, DRAWS = 20, 16, 4
display(
    Markdown(f"""
## 1. "Dropout eases vanishing gradients"

The vanilla RNN trained for {rnn.steps} steps without dropout and with dropout $p = {P}$ (explorer's `dropout`:
on the layer's input and its output, a new mask at every step), {len(SEEDS)} seeds each. Then, for each trained
model, the gradient of the loss at the last position of a window (from a zero state) in training mode, with the
masks a training step draws, {DISTANCE} steps back, as a share of its value at distance 0, averaged over
{SEQUENCES} sequences and {DRAWS} draws of the masks. "Clearly" means that the 95 % interval of the per-seed
difference of $\\log_{{10}}$ of that share (with dropout minus without) includes no 0. We say the gradient
**reaches** that far when the share is at least {REACH:g} (lesson 4's threshold).
""")
)
compare_question = predict(STEM, "dropout_reach", distance=DISTANCE)
reach_question = predict(STEM, "dropout_reaches", distance=DISTANCE)
ask_reach = predict_first(compare_question, reach_question)
display(ask_reach)

# %%
# %%after_prediction ask_reach
vanishing = experiment({"no dropout": rnn, f"dropout {P}": rnn.replace(dropout=P)}, seeds=SEEDS, threads=1)
plain_rnn, dropout_rnn = vanishing.values()


# %%
# %%after_prediction ask_reach
def reach_share(result, distance: int = DISTANCE) -> float:
    """The trained model's gradient `distance` steps back as a share of the one at distance 0, in training mode
    (its masks drawn), averaged over SEQUENCES sequences of its first batch and DRAWS mask draws."""
    x, y = result.trainer.train_stream.batch(0)
    each = []
    for row in range(SEQUENCES):
        for _ in range(DRAWS):
            reach = gradient_reach(result.trainer.model, x[row : row + 1], y[row : row + 1], training=True)[0]
            if reach[-1] is None or reach[len(reach) - 1 - distance] is None:
                raise ValueError(f"a gradient that is not a finite number in {result.name}: nothing to compare")
            each.append(reach[len(reach) - 1 - distance] / reach[-1])
    return sum(each) / len(each)


shares = {name: arm.values(reach_share) for name, arm in vanishing.items()}  # once: each call draws new masks
change = paired(*({seed: math.log10(v) for seed, v in zip(SEEDS, values)} for values in shares.values()))
results = {  # what the lesson's claims and questions read (explorer/runs), one value per seed; printed whole at the end
    "reach_paired": change.to_dict(),
    "reach_plain": shares["no dropout"],
    "reach_dropout": shares[f"dropout {P}"],
}
compare_question.check(
    results,
    f"log10 of the share {DISTANCE} steps back, "
    + change.sentence("log10 share", f"dropout {P}", "no dropout")
    + f": the share with dropout was {10**change.interval.mean:.2g} times the one without (geometric mean over "
    "the seeds).",
)
print(compare_question.text)
reaches = [share >= REACH for share in shares[f"dropout {P}"]]
reach_question.check(
    results,
    f"Share of distance 0's gradient {DISTANCE} steps back (training mode): "
    + "; ".join(f"{name} " + ", ".join(f"{v:.1e}" for v in values) for name, values in shares.items())
    + f" (seeds {SEEDS}). At least {REACH:g} with dropout {holds(reaches)}; without dropout "
    + holds(share >= REACH for share in shares["no dropout"])
    + ".",
)
print(reach_question.text)

# %%
# %%after_prediction ask_reach
Markdown(rf"""
Why the masks are not in the product: in a vanilla RNN the gradient from $h_T$ back to $h_t$ is

$$\frac{{\partial h_T}}{{\partial h_t}} = \operatorname{{diag}}(1 - h_T^2)\, W_{{hh}} \cdots \operatorname{{diag}}(1 - h_{{t+1}}^2)\, W_{{hh}}$$

(one factor per step, the latest on the left; Pascanu, Mikolov & Bengio 2013, section 2). Explorer's `dropout`
masks the layer's input $x_t$ and its output on the way to the decoder; neither is a factor of that product.
The masks reach it only through the states $h_k$ (and so the tanh derivatives), and through the weights
training arrives at; the numbers above say how much that moved the gradient {DISTANCE} steps back here. What
changes the reach is a different product (the LSTM's cell path and its forget gate, lessons 4 and 9) or a path
around it (lesson 9's attention).
Recurrent dropout (lesson 2) masks $h_{{t-1}}$, so its mask *is* a factor of the product, at every step.
""")

# %%
display(
    Markdown(f"""
## 2. "Gradient clipping reduces overfitting"

Lesson 2's overfitting LSTM, {len(SEEDS)} seeds each, with two optimisers: Adam (learning rate {lstm.lr:g}) and
plain SGD (learning rate {sgd.lr:g}), each without clipping and clipped by norm at $\\tau = {TAU}$. Two more
runs, without clipping: Adam with dropout $p = {P}$, to compare with a regulariser, and, trained after them,
SGD at the clipped SGD runs' **effective learning rate** (measured: {sgd.lr:g} × the mean factor clipping
scaled their steps by), the control for the shorter steps clipping makes. Every gap is read at step
{lstm.steps}, the last. "Clearly" means that the 95 % interval of the per-seed difference includes no 0. The
**best-step test loss** is the test loss of the weights from the evaluation with the lowest validation loss,
restored as early stopping would (lesson 6).
""")
)
gap_question = predict(STEM, "clip_gap")
test_question = predict(STEM, "clip_test")
ask_clip = predict_first(gap_question, test_question, after=ask_reach)
display(ask_clip)

# %%
# %%after_prediction ask_clip
overfit = experiment(
    {
        "Adam": lstm,
        f"Adam, clipped at {TAU}": lstm.replace(clip=TAU),
        "SGD": sgd,
        f"SGD, clipped at {TAU}": sgd.replace(clip=TAU),
        f"Adam, dropout {P}": lstm.replace(dropout=P),
    },
    seeds=SEEDS,
    threads=1,
)
adam, adam_clipped, plain_sgd, sgd_clipped, dropped = overfit.values()


def step_scale(result) -> float:
    """The mean factor clipping scaled this run's steps by (1 where the norm was under the threshold)."""
    return statistics.mean(min(1.0, TAU / s["grad_norm"]) for s in result.snapshot.steps)


sgd_scale = statistics.mean(sgd_clipped.values(step_scale))
control_lr = float(f"{sgd.lr * sgd_scale:.2g}")  # the clipped SGD runs' effective learning rate, measured
print(f"clipping at {TAU} scaled SGD's steps by {sgd_scale:.3f} on average: the control trains at lr {control_lr:g}")
control = experiment({CONTROL: sgd.replace(lr=control_lr)}, seeds=SEEDS, threads=1)
slower_sgd = control[CONTROL]


# %%
# %%after_prediction ask_clip
def final_gap(result) -> float:
    return result.final("gap")


def final_train(result) -> float:
    return result.final("train_eval_loss")


def clipped_share(result) -> float:
    """The share of training steps whose gradient clipping scaled down."""
    steps = result.snapshot.steps
    return sum(s["clipped"] for s in steps) / len(steps)


def median_norm(result) -> float:
    return statistics.median(s["grad_norm"] for s in result.snapshot.steps)  # before clipping


def best_step_test(result) -> float:
    return result.best_test["test_loss"]


gap_change = {
    "Adam": paired(adam.by_seed(final_gap), adam_clipped.by_seed(final_gap)),
    "SGD": paired(plain_sgd.by_seed(final_gap), sgd_clipped.by_seed(final_gap)),
}
results.update(
    gaps={name: arm.values(final_gap) for name, arm in overfit.items()},
    best_test={name: arm.values(best_step_test) for name, arm in overfit.items()},
)
gap_question.check(
    results,
    "Final gap, "
    + "; ".join(
        f"{name}: " + change.sentence("final gap", "clipped", "unclipped") for name, change in gap_change.items()
    )
    + ".",
)
print(gap_question.text)
tests = paired(plain_sgd.by_seed(best_step_test), sgd_clipped.by_seed(best_step_test))
test_question.check(
    results,
    "SGD's best-step test loss, " + tests.sentence("test loss", "clipped", "unclipped") + ".",
)
print(test_question.text)
for name, arm in {**overfit, **control}.items():
    print(
        f"{name:22s} final gap {arm.spread(final_gap)}; final training loss {arm.spread(final_train)}; steps clipped "
        f"{arm.spread(clipped_share, 2)}; median gradient norm {arm.spread(median_norm, 2)}"
    )
print(
    "best-step test loss: "
    + "; ".join(f"{name} {arm.spread(best_step_test)}" for name, arm in {**overfit, **control}.items())
)
adam_tests = paired(adam.by_seed(best_step_test), adam_clipped.by_seed(best_step_test))
print("Adam's best-step test loss, " + adam_tests.sentence("test loss", "clipped", "unclipped"))
results.update(
    gap_change={name: change.to_dict() for name, change in gap_change.items()},
    train={name: arm.values(final_train) for name, arm in overfit.items()},
    clipped_share={name: arm.values(clipped_share) for name, arm in overfit.items()},
)
print(
    f"clipping at {TAU} scaled down over 90 % of Adam's steps and moved its final gap by less than half of what "
    f"dropout {P} took off it {held(STEM, 'clip_vs_dropout', results, len(SEEDS))}"
)
results["control_gap"] = slower_sgd.values(final_gap)
nearer = held(STEM, "control_nearer", results, len(SEEDS))
print(
    f"SGD at learning rate {control_lr:g}: final gap nearer the clipped runs' than the unclipped runs' by more than "
    f"0.1 nats {nearer}"
)


# %%
# %%after_prediction ask_clip
def clipped_range(arm) -> str:
    shares = arm.values(clipped_share)
    return f"{min(shares):.0%} to {max(shares):.0%}"


Markdown(rf"""
**Adam** divides each coordinate's step by the square root of a running average of that coordinate's squared
gradient (Kingma & Ba 2015, section 2.1), so multiplying every gradient by one fixed factor leaves its steps
unchanged up to its small $\epsilon$. Clipping that acts at almost every step (the printout says how often it
did) feeds Adam $\tau\, g / \lVert g \rVert$ instead of $g$: nearly that case, so the clipped Adam runs differ
from the unclipped ones only as much as the gradient's norm varies from step to step. Dropout's gap is read at
the same step too: where its final training loss (printed) is higher, it fits more slowly, and its smaller gap
is not all regularisation either; the best-step test losses weigh both.

**SGD** steps by $\text{{lr}} \cdot g$. Clipped at $\tau$, a step whose gradient norm is above $\tau$ becomes
$\text{{lr}} \cdot \tau \cdot g / \lVert g \rVert$: on average {sgd_scale:.2g} of the unclipped step here,
as if the learning rate were about {control_lr:g}. Smaller steps fit the training
text more slowly (compare the final training losses), and read at a fixed step a slower fit leaves a smaller gap
(lesson 5 met the same trap). The control, SGD at learning rate {control_lr:g} without clipping, ended with a gap
nearer the clipped runs' than the unclipped runs' (by more than 0.1 nats) {nearer}: where it did, the shorter steps alone account
for much of what clipping did to the gap. The best-step test loss weighs fit and gap together. Here clipping
acted on {clipped_range(adam_clipped)} of Adam's steps and {clipped_range(sgd_clipped)} of SGD's (the range
over the seeds), so this is the regime of normalised steps, not the one Pascanu, Mikolov & Bengio
(2013, section 3.2) meant it for, bounding the odd spike (lesson 4): the verdicts are about this regime.
""")

# %%
RULES = {"as trained (×1)": 1.0, f"× keep rate {1 - P:g}": 1 - P, f"× dropout rate {P:g}": P}
display(
    Markdown(f"""
## 3. "At test time, multiply the weights by the dropout rate"

The Adam runs with dropout $p = {P}$ of part 2, with the weights of their best validation step (restored in
part 2; that step was chosen by validation loss with the weights as trained, × 1, so the choice can favour that
rule; by how much, this lesson does not measure), scored on the **test** split
three ways: as they are; with the outputs of every dropout site multiplied by the keep rate $1 - p = {1 - P:g}$;
and multiplied by the dropout rate $p = {P}$. Multiplying a unit's output by $c$ is multiplying by $c$ the
weights that read it, so these are the three weight rules. The lowest mean wins only when its per-seed difference
from the runner-up has a 95 % interval that excludes 0.
""")
)
rule_question = predict(STEM, "scaling")
ask_rule = predict_first(rule_question, after=ask_clip)
display(ask_rule)


# %%
# %%after_prediction ask_rule
def test_loss_with(result, factor: float) -> float:
    with dropout_sites_scaled(result.trainer.model, factor):
        return result.trainer.test_score()["test_loss"]


by_rule = {rule: dropped.values(lambda r, f=factor: test_loss_with(r, f)) for rule, factor in RULES.items()}
means = {rule: statistics.mean(values) for rule, values in by_rule.items()}
ranked = sorted(means, key=means.get)
lowest = [min(RULES, key=lambda rule: by_rule[rule][i]) for i in range(len(SEEDS))]
results["test_by_rule"] = by_rule
rule_question.check(
    results,
    "Test loss: "
    + "; ".join(f"{rule} " + ", ".join(f"{v:.3f}" for v in values) for rule, values in by_rule.items())
    + f" (seeds {SEEDS}). Lowest in each seed: {', '.join(lowest)}. "
    + paired(*(dict(zip(SEEDS, by_rule[rule])) for rule in ranked[:2])).sentence("test loss", ranked[1], ranked[0])
    + ".",
)
print(rule_question.text)

# %%
# %%after_prediction ask_rule
Markdown(rf"""
Two conventions meet in that sentence. Srivastava et al. (2014, section 4 and their Figure 2) keep each unit
with probability $p$ (their $p$ is the **keep** rate), train without rescaling, and at test time multiply the
unit's outgoing weights by $p$, so that each unit sends what it sent on average in training (cited, not measured
here: every model of this lesson was trained with inverted dropout). PyTorch's and
explorer's $p$ is the **drop** rate, and their dropout is **inverted**: the kept units are multiplied by
$1/(1-p)$ during training, so the test-time network is used as it is. On an inverted-dropout model the
keep-rate rule shrinks every signal a second time, and at $p = {P}$ (any $p$ under 0.5) the dropout-rate rule,
the two conventions mixed, shrinks it more. At $p = 0.5$ the keep and drop rates are equal, which is how the
mix-up survives in examples that use 0.5. (Shrinking the decoder's input also softens the predicted
distribution, roughly as a higher temperature would (the decoder's bias is not scaled); on an overconfident
model that alone can lower the loss, which
would make a rule look right for the wrong reason.)
""")

# %%
BATCHES, DEPTHS = 10, (0.9, 0.5, 0.1)  # clipped to these shares of the gradient's own norm; the question: 0.5
display(
    Markdown(f"""
## 4. "Clipping by value is the same as clipping by norm"

The RNN of part 1 trained without dropout, and its gradient on its first {BATCHES} training batches (each from a
zero state). Each gradient is clipped to a share of its own norm two ways: **by norm** (scaled down: its direction
is kept by construction) and **by value**, with the threshold $\\tau$ that gives the same norm. The two clipped
gradients have the same size; only their directions can differ, and the direction of a gradient is the direction
of the SGD step it makes. The measure is the cosine between the value-clipped gradient and the unclipped one (1:
the same direction), at {", ".join(f"{d:g}" for d in DEPTHS)} of the norm; the question is about {DEPTHS[1]:g}.
""")
)
value_question = predict(STEM, "value_clip", batches=BATCHES)
ask_value = predict_first(value_question, after=ask_rule)
display(ask_value)


# %%
# %%after_prediction ask_value
def value_threshold(g: torch.Tensor, norm: float) -> float:
    """The τ whose clip by value leaves `g` with this norm (by bisection: the clipped norm grows with τ)."""
    lo, hi = 0.0, g.abs().max().item()
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if g.clamp(-mid, mid).norm().item() < norm else (lo, mid)
    return (lo + hi) / 2


def value_clip_cosines(result, depth: float) -> list[float]:
    trainer = result.trainer
    cosines = []
    for index in range(BATCHES):
        trainer.state = None  # each batch from a zero state: the runs are over, nothing goes on from here
        trainer.loss_and_gradients(*trainer.train_stream.batch(index))  # fills every .grad, no update
        g = torch.cat([p.grad.flatten() for p in trainer.params if p.grad is not None])
        tau = value_threshold(g, depth * g.norm().item())
        cosines.append(F.cosine_similarity(g, g.clamp(-tau, tau), dim=0).item())
    return cosines


cosines = {depth: {seed: value_clip_cosines(r, depth) for seed, r in zip(SEEDS, plain_rnn.results)} for depth in DEPTHS}
middles = {depth: statistics.median(c for values in by.values() for c in values) for depth, by in cosines.items()}
middle = middles[DEPTHS[1]]
results["cosines"] = {str(depth): list(by.values()) for depth, by in cosines.items()}
value_question.check(
    results,
    f"Cosine with the unclipped gradient at {DEPTHS[1]:g} of its norm: "
    + "; ".join(f"seed {seed} {min(c):.3f} to {max(c):.3f}" for seed, c in cosines[DEPTHS[1]].items())
    + f" ({BATCHES} batches each); the middle one {middle:.3f}. Clipped by norm: 1 by construction.",
)
print(value_question.text)
print("the middle cosine at each depth: " + "; ".join(f"{d:g} of the norm {m:.3f}" for d, m in middles.items()))

# %%
# %%after_prediction ask_value
Markdown(rf"""
Clipping by value cuts only the entries whose magnitude exceeds $\tau$ and leaves the others whole, so a gradient
whose size sits in a few large entries comes out pointing elsewhere; clipping by norm scales every entry by the
same factor. At the same size the two SGD steps differ in direction (a middle cosine under 0.9 at half the norm),
the more the deeper the clip, {held(STEM, "value_clip_turns", results, len(SEEDS))} (the depths printed above). This measures one SGD step, not where training ends, nor what Adam, which divides every
coordinate by its own running scale, makes of a turned gradient; whether the turned steps train a worse or a
better model is a separate question (see *Try this*).
""")

# %%
# %%after_prediction ask_value
results.update(
    setups=setups(
        vanishing, overfit, control
    ),  # every run's knobs: a claim comparing runs that differ in more is refused
)
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - In the dashboard below (part 2's overfitting LSTM with Adam), press **▶ Train**, then set **Gradient clip
#   threshold** to 0.25 while it trains: does the gap's curve bend? Then set it back to 0 and drag **Dropout
#   rate** to 0.3.
# - Under *Setup* choose the **sgd** **Optimiser** with a **Learning rate** of 3, Reset, and train with the clip
#   threshold at 0.25; then at 0 with a learning rate of 2 or 1: which comes closer to the clipped run's curves?
# - Set **Clip by** to value and find a threshold at which the gap's curve looks like the norm-clipped run's:
#   is it the same training?

# %%
display(
    dashboard(
        config=lstm,
        show=("clip", "clip_mode", "dropout", "lr", "optimizer"),
        views=("gap", "gradients"),
    )
)
