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
# # Lesson 4 — Exploding and vanishing gradients: RNN, LSTM, the forget gate, clipping, and the window
#
# A vanilla RNN updates its state with the same matrix at every time step,
# $h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)$. Backpropagation through time multiplies one Jacobian per
# step:
#
# $$\frac{\partial h_T}{\partial h_t} = \prod_{k=t+1}^{T} \operatorname{diag}\!\left(1 - h_k^2\right) W_{hh}.$$
#
# Pascanu, Mikolov & Bengio (2013, in their section "The mechanics") say when this product shrinks or grows. With $\gamma$ a bound on the
# derivative of the nonlinearity ($\gamma = 1$ for tanh):
# - if the largest singular value of $W_{hh}$ is **below $1/\gamma$**, the product shrinks geometrically:
#   that is **sufficient** for the gradient from far back to **vanish**;
# - a largest singular value **above** $1/\gamma$ is only **necessary** for it to **explode**, not enough:
#   the tanh derivatives can still shrink it.
#
# (Versions of the paper word this differently. The conditions that hold for every matrix are on the largest singular
# value, the 2-norm its proof bounds; the spectral radius (the largest eigenvalue's size) decides only for a linear
# RNN, where below 1 is sufficient for vanishing and above 1 necessary for exploding.)
#
# The **LSTM** carries a cell state updated *additively*, $c_t = f_t \odot c_{t-1} + i_t \odot g_t$. Along
# the direct path through the cell, $\partial c_T / \partial c_t = \prod_k \operatorname{diag}(f_k)$: with
# forget gates near 1 this path keeps the gradient alive for many steps. (It is one path of several: the
# gates themselves depend on $h_{t-1}$, and those terms are in the full Jacobian too.) How near 1 is the
# forget gate at the start? PyTorch initialises every bias uniformly around 0, so $f$ starts near
# $\sigma(0) = 0.5$ (the input and state terms spread it around that) and the direct path roughly halves at every
# step. Jozefowicz, Zaremba & Sutskever (2015) recommend a forget-gate **bias of 1** ($f$ near
# $\sigma(1) \approx 0.73$): explorer's `forget_bias` knob.
#
# The LSTM was designed against **vanishing** (Hochreiter & Schmidhuber's 1997 cell had a constant path of
# weight 1; Gers et al. (2000) added the forget gate, so today's cell carries a gradient far only while its forget
# gates stay near 1). Nothing in it *prevents* **exploding** (experiment 1 prints its largest gradient norm
# beside the RNN's): Zaremba et al. (2014) still clipped their LSTMs' gradients (at norm 5, and
# 10 for their large model). The standard fix for explosions is **gradient clipping**, with threshold $\tau$:
# - **by norm**: $g \leftarrow g \cdot \min\!\left(1, \tau / \lVert g\rVert\right)$: the whole gradient is
#   scaled down, its **direction is kept**;
# - **by value**: $g_i \leftarrow \max(-\tau, \min(\tau, g_i))$: each entry is cut separately, which
#   **changes the direction**.
#
# Finally, no cell can send a gradient further back than the training **window**: truncated
# backpropagation through time cuts the graph every `seq_len` steps (the state is carried over, its
# history is not).

# %%
import json
import math
import statistics

import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from explorer.core.probes import gradient_reach
from explorer.core.train import Trainer
from explorer.faces.notebook import chart_widget, claims_table, dashboard, experiment, held, predict, predict_first
from explorer.runs.experiments import SEEDS, holds, setups
from explorer.runs.history import Snapshot
from explorer.runs.questions import REACH
from explorer.spec.knobs import Config
from explorer.views import mechanism_charts, run_charts

STEM = "04_exploding_vanishing_gradients"  # this lesson, as its claims are registered (explorer/runs/claims.py)

# A vanilla tanh RNN with plain SGD and a large step size: the textbook recipe for an explosion.
rnn = Config(
    cell="rnn",
    hidden=128,
    embed=32,
    seq_len=64,
    batch_size=16,
    optimizer="sgd",
    lr=3.0,  # at 2.0 seeds 49 and 51 never exploded; at 3.0 each of seeds 0-2 and 40-59 did
    split="interleaved",
    train_fraction=0.05,
    steps=200,
    eval_every=20,
    eval_batches=5,
    detail_every=10,
    meter_every=0,
    instrument_budget=0,  # every detail and sample at the cadence asked for: the lesson reads them
)

# %% [markdown]
# ## Experiment 1: an explosion, and clipping
#
# The same RNN without clipping and clipped by norm ($\tau = 1$), and an LSTM with the same optimiser and
# step size and no clipping, each on every seed of the lesson.

# %%
explode = predict(STEM, "explode")
ask = predict_first(explode)
display(ask)

# %%
# %%after_prediction ask
runs = experiment(
    {"RNN, no clipping": rnn, "RNN, clip norm 1": rnn.replace(clip=1.0), "LSTM, no clipping": rnn.replace(cell="lstm")},
    seeds=SEEDS,
    threads=1,
)
unclipped, clipped, lstm = runs.values()


# %%
# %%after_prediction ask
def largest_norm(result) -> float:
    return max(r["grad_norm"] for r in result.snapshot.steps)  # before clipping


def first_norm(result) -> float:
    return result.snapshot.steps[0]["grad_norm"]  # the first step's, before any clipping


def largest_applied(result) -> float:
    return max(r["grad_norm_after"] for r in result.snapshot.steps)  # what the optimiser used


def final_val(result) -> float:
    return result.final("val_loss")  # NaN if it diverged


results = {  # what the lesson's claims and questions read (explorer/runs), one value per seed; printed whole at the end
    "largest_unclipped": unclipped.values(largest_norm),
    "largest_clipped": clipped.values(largest_norm),
}
ratios = [u / c for u, c in zip(results["largest_unclipped"], results["largest_clipped"])]
middle = statistics.median(ratios)  # the median seed: one seed that never exploded does not decide it
explode.check(
    results,
    f"Largest gradient norm before clipping: unclipped run {unclipped.spread(largest_norm, 1)}, clipped run "
    f"{clipped.spread(largest_norm, 1)}; ratio "
    + ", ".join(f"{r:,.1f}" for r in ratios)
    + f" (seeds {SEEDS}; the answer goes by the middle one, {middle:,.1f}: an explosion's size depends on the "
    f"seed). The unclipped run's first step had norm {unclipped.spread(first_norm, 2)}. The clipped run's largest "
    f"APPLIED norm: {clipped.spread(largest_applied)}. Final validation loss: "
    f"unclipped {unclipped.spread(final_val)}, clipped {clipped.spread(final_val)}.",
)
print(explode.text)
print(f"the LSTM's largest gradient norm without clipping: {lstm.spread(largest_norm, 2)}")

# %%
# %%after_prediction ask
Markdown(r"""
## Check your prediction: the gradient norm over time

The gradient-norm histogram of one unclipped seed and one clipped seed: colour is where the gradient
entries sit ($\log_{10}|g|$), the black line the total norm. Clipped: the dashed red line is the
threshold; red dots mark the steps that were scaled down.
""")

# %%
# %%after_prediction ask
chart_widget(run_charts.gradient_histogram_chart(unclipped.results[0].snapshot))

# %%
# %%after_prediction ask
chart_widget(run_charts.gradient_histogram_chart(clipped.results[0].snapshot))

# %%
# %%after_prediction ask
Markdown(r"""
The LSTM's largest norm is printed above with the RNN's. Whatever it was here, it is this setting, not a
guarantee: an LSTM's gradient can explode too, which is why LSTM recipes keep a clipping threshold as a safety
net.

### Norm vs value: what clipping does to the direction

One gradient of the unclipped RNN, clipped both ways. Cosine similarity 1 means "same direction".
""")

# %%
# %%after_prediction ask
trainer = unclipped.results[0].trainer
x, y = trainer.train_stream.batch(0)
trainer.loss_and_gradients(x, y)  # fills every parameter's .grad (no update)
g = torch.cat([p.grad.flatten() for p in trainer.params if p.grad is not None])
tau_norm, tau_value = 1.0, 0.05
by_norm, by_value = g * min(1.0, tau_norm / g.norm().item()), g.clamp(-tau_value, tau_value)
cos_norm = F.cosine_similarity(g, by_norm, dim=0).item()
cos_value = F.cosine_similarity(g, by_value, dim=0).item()
print(f"|g| = {g.norm():.3f}; by norm: cosine {cos_norm:.4f}; by value (τ = {tau_value}): cosine {cos_value:.4f}")

# %% [markdown]
# ## Experiment 2: how far back does the gradient reach, at initialisation and after training?
#
# The gradient of the loss at the **last** position of one 64-character window with respect to the input
# at each earlier position, $\lVert \partial L_T / \partial x_t \rVert$ (log scale), for an RNN, an LSTM
# and an LSTM with forget-gate bias 1: first straight after initialisation, then after training with Adam (clipped at norm 1;
# the question says how many steps).

# %%
reach_question = predict(STEM, "grown", steps=rnn.steps)
window_question = predict(STEM, "window")  # asked here, before experiment 2's chart shows any gradient against distance
ask_reach = predict_first(reach_question, window_question, after=ask)
display(ask_reach)

# %%
# %%after_prediction ask_reach
cells = {
    "RNN": rnn.replace(optimizer="adam", lr=3e-3, clip=1.0, detail_every=20),
    "LSTM": rnn.replace(cell="lstm", optimizer="adam", lr=3e-3, clip=1.0, detail_every=20),
    "LSTM, forget bias 1": rnn.replace(
        cell="lstm", optimizer="adam", lr=3e-3, clip=1.0, detail_every=20, forget_bias=True
    ),
}


def reach_now(trainer) -> list[float]:
    return gradient_reach(trainer.model, *trainer.reach_sequence)[0]


def at_distance(reach: list[float], distance: int) -> float:
    return reach[len(reach) - 1 - distance] or 0.0


at_init = {name: [reach_now(Trainer(config.replace(seed=s))) for s in SEEDS] for name, config in cells.items()}
init_50 = {name: [at_distance(r, 50) for r in reaches] for name, reaches in at_init.items()}
print(
    "At initialisation, at distance 50: "
    + "; ".join(f"{name} {', '.join(f'{v:.1e}' for v in values)}" for name, values in init_50.items())
    + f" (seeds {SEEDS})."
)
chart_widget(
    mechanism_charts.reach_comparison_chart(
        [Snapshot(f"{name}, at initialisation", details=[{"grad_reach": [r[0]]}]) for name, r in at_init.items()]
    )
)

# %%
# %%after_prediction ask_reach
trained = experiment(cells, seeds=SEEDS, threads=1)
after_50 = {name: [at_distance(reach_now(r.trainer), 50) for r in arm.results] for name, arm in trained.items()}


results.update(init_50=init_50, after_50=after_50)
grown = {  # a gradient that underflowed to 0 at initialisation has no multiple: no measurement (NaN)
    name: [a / b if b else math.nan for a, b in zip(after_50[name], init_50[name])] for name in cells
}
reach_question.check(
    results,
    "At distance 50, after training as a multiple of at initialisation: "
    + "; ".join(f"{name} {', '.join(f'{g:.3g}×' for g in multiples)}" for name, multiples in grown.items())
    + f" (seeds {SEEDS}).",
)
print(reach_question.text)
for name in cells:
    print(
        f"{name:20s} at distance 50: at initialisation {', '.join(f'{v:.1e}' for v in init_50[name])}; "
        f"after training {', '.join(f'{v:.1e}' for v in after_50[name])}"
    )
chart_widget(mechanism_charts.reach_comparison_chart([arm.results[0].snapshot for arm in trained.values()]))

# %%
# %%after_prediction ask_reach
reach = {"init_50": init_50, "after_50": after_50}  # what the two claims below read
Markdown(rf"""
The forget-gate bias decides how much of the cell's direct path survives at the start. At the two points
measured, the RNN's gradient 50 steps back is the smaller: the LSTM's is over 10 times it at initialisation
(and forget bias 1's over 1,000 times the LSTM's), {held(STEM, "init_reach", reach, len(SEEDS))}; after
{rnn.steps} steps the LSTM's is over 100 times it, and over 1,000 times its own at the start,
{held(STEM, "after_reach", reach, len(SEEDS))}. The RNN's only path back is the product of Jacobians.
""")

# %% [markdown]
# ## Experiment 3: the gradient norm against the window length
#
# The same measurement on windows of 16, 64 and 256 characters: the gradient norm at the **farthest**
# position each window allows, for each cell at initialisation, and that norm as a share of the gradient at
# distance 0 (the last input itself). We say the gradient **reaches** a position when it is at least a
# thousandth of its value at distance 0. The threshold is a choice (the printed shares let you pick
# another); what matters is that it is relative to the gradient the last input gets. "Above zero" would not
# do: a float32 number stays above zero down to about $10^{-45}$, so it would measure the number format,
# not the network. Then one step further, across the window's edge into the previous window, with and
# without the cut that truncated backpropagation makes.


# %%
# %%after_prediction ask_reach
def share_of_distance_0(reach: list[float], distance: int) -> float:
    """The gradient `distance` steps back as a share of the gradient at distance 0."""
    return at_distance(reach, distance) / reach[-1]


def span(reach: list[float]) -> int:
    """The farthest distance whose gradient is still at least REACH of the one at distance 0."""
    return max(d for d in range(len(reach)) if share_of_distance_0(reach, d) >= REACH)


profiles = {
    name: {
        seq_len: [reach_now(Trainer(config.replace(seed=s, seq_len=seq_len))) for s in SEEDS]
        for seq_len in (16, 64, 256)
    }
    for name, config in cells.items()
}
farthest = {
    name: {n: [at_distance(r, n - 1) for r in rs] for n, rs in by_length.items()}
    for name, by_length in profiles.items()
}
shares = {
    name: {n: [share_of_distance_0(r, n - 1) for r in rs] for n, rs in by_length.items()}
    for name, by_length in profiles.items()
}
spans = {name: [span(r) for r in by_length[256]] for name, by_length in profiles.items()}
far_ends = {name: {str(k): v for k, v in by_length.items()} for name, by_length in farthest.items()}  # as printed
for name in cells:
    print(
        f"{name:20s} "
        + " · ".join(
            f"{n - 1} back: {sum(v) / len(v):.1e}, "
            f"{min(shares[name][n]):.1e} to {max(shares[name][n]):.1e} of distance 0"
            for n, v in farthest[name].items()
        )
        + f" · at least {REACH:g} of distance 0 up to {', '.join(map(str, spans[name]))} steps back (seeds {SEEDS})"
    )
reaches = {name: [v >= REACH for v in by_length[16]] for name, by_length in shares.items()}
results["shares"] = {name: {str(k): v for k, v in by_length.items()} for name, by_length in shares.items()}
window_question.check(
    results,
    f"At least {REACH:g} of the gradient at distance 0 still there 15 steps back, at the 16-character window's first "
    "position: " + "; ".join(f"{name} {holds(v)}" for name, v in reaches.items()) + " (a cell counts when it holds in "
    "every seed).",
)
print(window_question.text)

trainer = Trainer(cells["LSTM, forget bias 1"])
(x1, _), (x2, y2) = trainer.train_stream.batch(0), trainer.train_stream.batch(1)
first = trainer.model.embedding(x1).detach().requires_grad_(True)  # window 1's inputs, watched
_, state = trainer.model.rnns[0](first)  # window 1 read; its final state goes on to window 2


def reach_into_window_1(carried) -> float:
    logits, _ = trainer.model(x2, [carried])
    grad = torch.autograd.grad(F.cross_entropy(logits[:, -1], y2[:, -1]), first, allow_unused=True)[0]
    return 0.0 if grad is None else grad.norm().item()


uncut = reach_into_window_1(state)
cut = reach_into_window_1(tuple(s.detach() for s in state))  # truncated BPTT: what training does
print(f"the loss at the end of window 2 reaches window 1 with norm {uncut:.1e} without the cut, {cut} with it")

# %%
# %%after_prediction ask_reach
Markdown(rf"""
Read the rows left to right: from the 16-character window's far end (15 steps back) to the 64-character window's (63
back) the gradient falls over 100-fold, for every cell, {held(STEM, "window_far_end", {"farthest": far_ends}, len(SEEDS))} (255 steps back it can underflow
to 0, below float32's range: no measurement). The end of each row says how far back, at initialisation, each cell's gradient
stays at a thousandth of its distance-0 value or more, in each seed: at the start, the positions beyond that
span get less than that share, while every one of them still costs its forward and backward pass
(training changes the gradient too: experiment 2's LSTM ended with a gradient 50 steps back over 1,000 times the one it
started with, {held(STEM, "after_reach", reach, len(SEEDS))}; whether its share of the distance-0 gradient grew, this lesson
does not measure).
And across the window's edge the gradient is cut to zero by construction: truncated backpropagation detaches
the state carried in from the previous window, so the printout above shows what the cut does, not a measurement.
""")

# %%
# %%after_prediction ask_reach
results.update(
    {
        "setups": setups(runs, trained),  # every run's knobs: a claim comparing runs that differ in more is refused
        "largest_lstm": lstm.values(largest_norm),
        "val_unclipped": unclipped.values(final_val),
        "val_clipped": clipped.values(final_val),
        "cos_norm": cos_norm,
        "cos_value": cos_value,
        "farthest": far_ends,
        "spans": spans,
    }
)
print("RESULTS", json.dumps(results))  # one line the tests read back
display(claims_table(STEM, results, len(SEEDS)))  # its claims, as these runs decided them

# %% [markdown]
# ## Try this
#
# - In the dashboard below (this lesson's vanilla RNN), press **▶ Train** and open **Gradients**. When the
#   norm spikes, drag **Gradient clip threshold** to 1: what happens to the spikes above the dashed line?
# - Open **Reach**: how far back does the RNN's gradient stay within 1000× of its value at distance 0?
# - Under *Setup* pick the **lstm** cell and switch **Forget-gate bias 1** on, then Reset and Train.
# - Lower the **Learning rate** instead of clipping: is the explosion gone too? At what cost in speed?

# %%
display(
    dashboard(
        config=rnn,
        show=("clip", "clip_mode", "lr", "cell", "forget_bias", "seq_len"),
        views=("gap", "gradients", "reach"),
    )
)
