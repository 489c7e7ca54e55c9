"""Presets: each lesson as one click. A preset is a line saying what it teaches plus the knobs it sets.

The overfitting pair shares everything (seed included) but dropout, so their curves differ only by
the knob the lesson is about; likewise exploding/clip. The numbers were tuned with ONE torch thread (what
the app gives a run) on a 2-core CPU, on seeds 10-12, and checked on seeds 0-4: every claim in
benchmarks/lessons_over_seeds.py held in 5 of 5 seeds (the long-range line rests on lesson 9's claims, held in
its own 3 seeds and decided on unseen ones by benchmarks/lesson_claims.py), and the overfit run's validation loss
was 0.3 nats above its lowest 9.1-9.6 s after Train in the app (seeds 0-2, benchmarks/app_turn.py);
docs/presets.md, "Seeing it happen".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from explorer.spec.errors import ConfigError
from explorer.spec.knobs import Config


@dataclass(frozen=True)
class Preset:
    teaches: str
    changes: dict = field(default_factory=dict)
    predict: str = ""  # the question a class lesson asks before a knob move takes effect (explorer.page.guesses)


# A big two-layer LSTM on 1 % of Tiny Shakespeare's training split: it memorises what it reads in seconds.
OVERFIT = dict(
    split="interleaved",  # held-out text from across the book, like the training blocks (lesson 1)
    cell="lstm",
    layers=2,
    hidden=256,
    embed=64,
    batch_size=16,
    train_fraction=0.01,
    lr=3e-3,
    steps=400,
    eval_every=20,
    eval_batches=8,
    instrument_budget=0,  # the memorisation claims read the meter's sample at fixed steps (docs/presets.md)
    seed=0,
)
# A vanilla tanh RNN, plain SGD with a large step: the gradient norm spikes and the loss blows up.
EXPLODING = dict(
    cell="rnn",
    layers=1,
    hidden=256,
    embed=64,
    optimizer="sgd",
    lr=2.0,
    seq_len=64,
    steps=400,
    eval_every=20,
    detail_every=1,  # the explosion lasts a step or two: the gradient reach view must not miss it
    instrument_budget=0,  # every step's details, whatever they cost
    seed=0,
)
# A vanilla RNN on the generated recall corpus (explorer.core.recall_corpus): each line asks for its first letter
# again 2 to 45 letters later. Small enough that a GRU, an LSTM or attention also trains in about a minute
# on one thread; tuned on seeds 10-12, checked on 0-2 (benchmarks/long_range.py prints recall by distance).
LONG_RANGE = dict(
    corpus="recall",
    cell="rnn",
    layers=1,
    hidden=64,
    embed=64,
    seq_len=64,
    batch_size=32,
    lr=3e-3,
    clip=1.0,
    steps=2000,
    eval_every=100,
    instrument_budget=0,  # lesson 9 reads the gradient reach at fixed steps
    seed=0,
    meter_every=0,  # random filler: nothing to memorise, so no samples to take
)

PRESETS: dict[str, Preset] = {
    "overfit": Preset(
        "a big model on little data: training loss keeps falling while validation loss turns and climbs",
        OVERFIT,
        "The model is memorising its small training text. After your change, what will the validation loss do?",
    ),
    "dropout": Preset(
        "the same model with dropout 0.5: a final gap under half of overfit's, a best validation loss lower by at "
        "least 0.03 nats, and a loss on the test text at the end lower by at least 0.5 nats",
        {**OVERFIT, "dropout": 0.5},
        "Dropout hides units at random while the model trains. After your change, what will the validation loss do?",
    ),
    "l2": Preset(
        "the same model with an L2 penalty (λ = 0.001): a final gap under half of overfit's, and a final validation "
        "loss at least 0.5 nats below overfit's final one, which has climbed from its best (a lower final loss than a "
        "run that overfitted, not by itself a better model)",
        {**OVERFIT, "l2": 1e-3},
        "The penalty pulls every weight towards zero. After your change, what will the validation loss do?",
    ),
    "noising": Preset(
        "the same model with unigram data noising (γ = 0.2): each input character, with probability 0.2, replaced by "
        "a draw by character frequency (which can be the same character); a final gap under half of overfit's (a "
        "smaller gap, not by itself a lower held-out loss)",
        {**OVERFIT, "noise": 0.2},
        "Noising swaps input characters for random ones. After your change, what will the validation loss do?",
    ),
    "exploding": Preset(
        "a vanilla RNN with a high learning rate and no clipping: gradient spikes and a loss blow-up",
        EXPLODING,
        "The gradient norm spikes. After your change, what will the validation loss do?",
    ),
    "clip": Preset(
        "the same RNN with gradient clipping at norm 1: every update's gradient capped at norm 1, no loss blow-up, "
        "and a final validation loss at least 2 nats lower",
        {**EXPLODING, "clip": 1.0},
        "Clipping caps the gradient's norm. After your change, what will the validation loss do?",
    ),
    "batchnorm": Preset(
        "the overfitting model with batch norm on each layer's output: training loss falls far faster and the "
        "final gap at the same step is over 0.3 nats bigger (a faster fit; whether it regularises is not what this "
        "measures)",
        {**OVERFIT, "batchnorm": True},
        "Batch norm rescales each layer's output. After your change, what will the validation loss do?",
    ),
    "early-stop": Preset(
        "the overfitting model with early stopping (patience 4): training ends near the "
        "best validation loss and its weights are restored",
        {**OVERFIT, "early_stop": 4},
    ),
    "long-range": Preset(
        "a vanilla RNN asked to recall a key 2 to 45 letters back while letters that look like keys keep "
        "arriving: in 2,000 steps it stays near a guess among the 8 keys at every distance in most seeds (it does not "
        "learn to hold the key; in a few it begins to); as an LSTM (cell) it recalls keys at every distance tried, "
        "with attention those inside its 64-character window (lesson 9's claims, checked on seeds 0-2 and on unseen "
        "seeds: docs/lessons.md)",
        LONG_RANGE,
        "The recall positions need memory. After your change, what will the validation loss do?",
    ),
}


def preset_config(name: str, base: Config | None = None) -> Config:
    """The preset's knobs on top of `base` (defaults when None)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return (base or Config()).replace(**PRESETS[name].changes)
