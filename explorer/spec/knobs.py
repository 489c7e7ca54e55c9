"""Every knob of a run in ONE serialisable object (TF Playground's state.ts idea).

A `Config` holds the FIXED setup (corpus, model shape, seed: changing them means a new run) and the LIVE knobs
(regularisers, learning rate: the trainer applies them at its next step). Each field carries its `Knob` — default,
type, range or choices, help, group, widget — so the table below is the one place a knob is described: validation,
the CLI, the URL query string, sweeps, both front ends' widgets and the docs' knob reference are built from it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from explorer.spec.errors import ConfigError
from explorer.spec.knob import (
    ACTIVATION_CHOICES,
    CLIP_CHOICES,
    L1_CHOICES,
    LR_CHOICES,
    PENALTY_CHOICES,
    Knob,
    Widget,
    live_knob,
    setup_knob,
)


@dataclass
class Config:
    """One run's whole setup. Defaults: a small char-level LSTM on Tiny Shakespeare, no regularisation.
    Fields are listed in the order the pages show their widgets."""

    # --- live ---
    dropout: float = live_knob(
        0.0,
        "dropout on embeddings, between layers and before the decoder",
        group="dropout",
        lo=0,
        hi=1,
        hi_open=True,
        widget=Widget("Dropout rate", "slider", lo=0.0, hi=0.9, step=0.05),
    )
    dropout_kind: str = live_knob(
        "standard",
        "standard: a new mask at every time step; locked: one mask per window, the same at every time step (AWD-LSTM's"
        " LockedDropout, on the same sites; it does not mask the recurrent state h_{t-1})",
        group="dropout",
        choices=("standard", "locked"),
        aliases={"variational": "locked"},  # its name until the recurrent-state variant got its own knob
        widget=Widget("Dropout kind", "select"),
    )
    embed_dropout: float = live_knob(
        0.0,
        "drop whole words (rows of the embedding matrix), one mask per batch (AWD-LSTM's embedded_dropout)",
        group="dropout",
        lo=0,
        hi=1,
        hi_open=True,
        advanced=True,
        widget=Widget("Embedding (word) dropout", "slider", lo=0.0, hi=0.5, step=0.05),
    )
    weight_drop: float = live_knob(
        0.0,
        "DropConnect on the hidden-to-hidden weights (AWD-LSTM)",
        group="dropout",
        lo=0,
        hi=1,
        hi_open=True,
        advanced=True,
        widget=Widget("Weight drop (recurrent DropConnect)", "slider", lo=0.0, hi=0.8, step=0.05),
    )
    recurrent_dropout: float = live_knob(
        0.0,
        "dropout on the previous hidden state h_{t−1} where it enters the recurrent weights (an LSTM's or GRU's "
        "gates; never an LSTM's cell c), at every time step (runs the slower explicit cell)",
        group="dropout",
        lo=0,
        hi=1,
        hi_open=True,
        advanced=True,
        widget=Widget("Recurrent dropout (on h(t−1), inside the cell)", "slider", lo=0.0, hi=0.8, step=0.05),
    )
    recurrent_dropout_kind: str = live_knob(
        "naive",
        "naive: a new mask on h_{t−1} at every time step (a vanilla RNN's h is its whole memory, so each step cuts "
        "into it; an LSTM's cell c is never masked, a GRU's h_{t−1} only where it enters the gates); gal: one mask "
        "per sequence (Gal & Ghahramani 2016)",
        group="dropout",
        choices=("naive", "gal"),
        advanced=True,
        widget=Widget("Recurrent dropout kind", "select"),
    )
    cell_norm: str = live_knob(
        "none",
        "normalisation inside the cell, of the input and recurrent gate pre-activations (and the LSTM's cell): layer "
        "(Ba et al. 2016) or batch with statistics per time step (Cooijmans et al. 2017)",
        group="norm",
        choices=("none", "layer", "batch"),
        advanced=True,
        widget=Widget("Normalisation inside the cell", "select"),
    )
    noise: float = live_knob(
        0.0,
        "data noising: each input token is chosen with this probability γ and replaced (unigram: by a frequency "
        "draw, which can be the same token), in training only",
        group="noising",
        lo=0,
        hi=0.5,
        widget=Widget("Data noising γ (share of input tokens replaced)", "slider", lo=0.0, hi=0.5, step=0.05),
    )
    noise_kind: str = live_knob(
        "unigram",
        "unigram: a token drawn by its frequency in the training text; blank: a blank token",
        group="noising",
        choices=("unigram", "blank"),
        advanced=True,
        widget=Widget("Noising replaces with", "select"),
    )
    l2: float = live_knob(
        0.0,
        "L2 penalty λ·Σw² on weights (not biases or norm parameters): its gradient 2λw (no ½) is added to each "
        "weight's gradient; the recorded loss leaves λ·Σw² out",
        group="penalty",
        lo=0,
        hi=1,
        widget=Widget("L2 λ (penalty λ·Σw²)", "choice_slider", options=PENALTY_CHOICES),
    )
    l1: float = live_knob(
        0.0,
        "L1 penalty λ·Σ|w| on weights (see l1_kind for how it is applied)",
        group="penalty",
        lo=0,
        hi=1,
        widget=Widget("L1 λ (penalty λ·Σ|w|)", "choice_slider", options=L1_CHOICES),
    )
    l1_kind: str = live_knob(
        "subgradient",
        "subgradient: λ·sign(w) added to the gradient (weights hover around 0 at about the step size, never exactly "
        "0); proximal: after each optimiser step, w ← sign(w)·max(|w| − lr·λ, 0), which sets small weights to exactly "
        "0",
        group="penalty",
        choices=("subgradient", "proximal"),
        advanced=True,
        widget=Widget("L1 applied as", "select"),
    )
    weight_decay: float = live_knob(
        0.0,
        "the optimiser's weight decay: coupled (added to the gradient, like L2 with λ_wd = 2λ₂) with adam/sgd; "
        "decoupled with adamw, where PyTorch multiplies it by the learning rate",
        group="penalty",
        lo=0,
        hi=1,
        advanced=True,
        widget=Widget(
            "Weight decay (coupled with Adam/SGD, decoupled with AdamW)",
            "choice_slider",
            options=(0.0, 0.001, 0.002, 0.01, 0.03, 0.1, 0.3, 1.0),
        ),
    )
    ar: float = live_knob(
        0.0,
        "activation regularisation (AR, Merity et al. 2018): α·mean(h_t²) of the top layer's output after dropout, "
        "added to the training loss",
        group="activation",
        lo=0,
        hi=100,
        advanced=True,
        widget=Widget("AR α (penalty on large activations)", "choice_slider", options=ACTIVATION_CHOICES),
    )
    tar: float = live_knob(
        0.0,
        "temporal activation regularisation (TAR, Merity et al. 2018): β·mean((h_t − h_{t−1})²) of the top layer's "
        "output before dropout, added to the training loss",
        group="activation",
        lo=0,
        hi=100,
        advanced=True,
        widget=Widget(
            "TAR β (penalty on activations that jump between steps)", "choice_slider", options=ACTIVATION_CHOICES
        ),
    )
    clip: float = live_knob(
        0.0,
        "gradient clipping threshold (0 = off)",
        group="clipping",
        lo=0,
        hi=1000000.0,
        widget=Widget("Gradient clip threshold (0 = off)", "choice_slider", options=CLIP_CHOICES),
    )
    clip_mode: str = live_knob(
        "norm",
        "clip the total norm, or each gradient value",
        group="clipping",
        choices=("norm", "value"),
        widget=Widget("Clip by", "select"),
    )
    batchnorm: bool = live_knob(
        False,
        "batch normalisation on each recurrent layer's output",
        group="norm",
        widget=Widget("Batch norm (on each layer's output)", "toggle"),
    )
    layernorm: bool = live_knob(
        False,
        "layer normalisation on each recurrent layer's output",
        group="norm",
        advanced=True,
        widget=Widget("Layer norm (on each layer's output)", "toggle"),
    )
    lr: float = live_knob(
        0.002,
        "learning rate",
        group="optimiser",
        lo=0,
        hi=100,
        lo_open=True,
        widget=Widget("Learning rate", "choice_slider", options=LR_CHOICES),
    )
    early_stop: int = live_knob(
        0,
        "stop after this many evaluations without a better validation loss (0 = off)",
        group="stopping",
        lo=0,
        hi=1000,
        widget=Widget("Early-stopping patience (evaluations, 0 = off)", "slider", lo=0, hi=20, step=1),
    )
    # --- setup ---
    corpus: str = setup_knob(
        "tinyshakespeare", "bundled corpus name, a UTF-8 text file, or a folder with a ready split", group="data"
    )
    level: str = setup_knob(
        "char",
        "tokens are characters or words",
        group="data",
        choices=("char", "word"),
        widget=Widget("Tokens", "select"),
    )
    lowercase: bool = setup_knob(False, "lower-case the text (word level)", group="data")
    vocab_size: int = setup_knob(
        10000, "word level: keep this many most frequent words, the rest become <unk>", group="data", lo=2, hi=1000000
    )
    cell: str = setup_knob(
        "lstm", "recurrent cell", group="model", choices=("rnn", "gru", "lstm"), widget=Widget("Cell", "select")
    )
    layers: int = setup_knob(
        1, "recurrent layers", group="model", lo=1, hi=3, widget=Widget("Layers", "slider", lo=1, hi=3, step=1)
    )
    hidden: int = setup_knob(
        128,
        "hidden units per layer",
        group="model",
        lo=1,
        hi=4096,
        widget=Widget("Hidden units", "choice_slider", options=(16, 32, 64, 128, 256, 384, 512)),
    )
    embed: int = setup_knob(
        64,
        "embedding size",
        group="model",
        lo=1,
        hi=4096,
        advanced=True,
        widget=Widget("Embedding size", "choice_slider", options=(16, 32, 64, 128, 256)),
    )
    seq_len: int = setup_knob(
        64,
        "time steps per batch (truncated BPTT length)",
        group="training",
        lo=1,
        hi=4096,
        widget=Widget("Sequence length", "choice_slider", options=(16, 32, 64, 128)),
    )
    batch_size: int = setup_knob(
        32,
        "sequences per batch",
        group="training",
        lo=1,
        hi=4096,
        widget=Widget("Batch size", "choice_slider", options=(8, 16, 32, 64, 128)),
    )
    train_fraction: float = setup_knob(
        1.0,
        "use only this fraction of the training split (a word vocabulary still comes from the whole split)",
        group="data",
        lo=0,
        hi=1,
        lo_open=True,
        widget=Widget(
            "Fraction of training text used",
            "choice_slider",
            options=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0),
        ),
    )
    split: str = setup_knob(
        "contiguous",
        "how one text is split 90/5/5 into train/valid/test: contiguous (in reading order: the last tenth is held out)"
        " or interleaved (blocks of 2,000 tokens dealt 18 train, 1 valid, 1 test in every 20, so held-out text comes "
        "from the same parts of the corpus; a train_fraction below 1 keeps whole training blocks spread evenly over "
        "it); a folder with a ready split ignores it",
        group="data",
        choices=("contiguous", "interleaved"),
        advanced=True,
        widget=Widget("Held-out text", "select"),
    )
    optimizer: str = setup_knob(
        "adam",
        "optimiser",
        group="training",
        choices=("adam", "adamw", "sgd"),
        advanced=True,
        widget=Widget("Optimiser", "select"),
    )
    init: str = setup_knob(
        "default",
        "weight initialisation (default: PyTorch's; xavier: Glorot for every matrix, zero biases; orthogonal: "
        "PyTorch's with orthogonal hidden-to-hidden blocks, nothing else changed; uniform: the embedding and decoder "
        "uniform(±0.1) and the decoder bias 0, as pytorch/examples word_language_model, the cells PyTorch's default)",
        group="model",
        choices=("default", "xavier", "orthogonal", "uniform"),
        advanced=True,
        widget=Widget("Initialisation", "select"),
    )
    attention: bool = setup_knob(
        False,
        "causal attention of the top layer over earlier positions of its window",
        group="model",
        widget=Widget("Attention over the window", "toggle"),
    )
    forget_bias: bool = setup_knob(
        False,
        "LSTM only: start the forget gate's bias at 1, so the cell remembers from the start (Jozefowicz et al. 2015); "
        "no effect on rnn or gru",
        group="model",
        advanced=True,
        widget=Widget("LSTM forget-gate bias 1", "toggle"),
    )
    seed: int = setup_knob(
        0,
        "random seed: same seed, same knobs, same numbers",
        group="training",
        lo=0,
        hi=2147483647,
        widget=Widget("Seed", "number", lo=0, hi=2147483647, step=1),
    )
    device: str = setup_knob(
        "auto", "where to train", group="training", choices=("auto", "cpu", "cuda"), widget=Widget("Device", "select")
    )
    tie_weights: bool = setup_knob(
        False,
        "share the embedding and decoder matrices (Press & Wolf 2017): one row per token scores it at the output and "
        "represents it at the input; the last layer's size becomes the embedding's",
        group="model",
        advanced=True,
        widget=Widget("Tie embedding and decoder weights", "toggle"),
    )
    steps: int = setup_knob(1000, "training steps in the run", group="training", lo=1, hi=10000000)
    eval_every: int = setup_knob(
        100,
        "evaluate every this many steps (at 100, with 5 evaluation batches, the evaluations take under 2 per cent of "
        "training at every model size: a live curve, for less than scoring PTB's whole validation text once an epoch "
        "costs)",
        group="measuring",
        lo=1,
        hi=1000000,
    )
    eval_batches: int = setup_knob(
        5, "batches per evaluation (a fixed budget: the same batches every time)", group="measuring", lo=1, hi=10000
    )
    detail_every: int = setup_knob(
        20,
        "record gradient histograms, weight norms, gradient reach and dropout masks every this many steps",
        group="measuring",
        lo=1,
        hi=1000000,
    )
    meter_every: int = setup_knob(
        2,
        "measure memorisation (a sample's n-grams copied from the training text) every this many evaluations (0 = off)",
        group="measuring",
        lo=0,
        hi=1000000,
    )
    meter_n: int = setup_knob(
        0, "n-gram length of the memorisation meter (0 = 12 characters or 4 words)", group="measuring", lo=0, hi=64
    )
    train_subset: float = setup_knob(
        0.25,
        "share of the training batch's rows, spread over the text, that the gap's training curve is evaluated on "
        "(over the same batches as the validation loss, in the same passes)",
        group="measuring",
        lo=0.01,
        hi=1,
    )
    instrument_budget: float = setup_knob(
        0.02,
        "the most of training time the instruments (gradient details, memorisation meter, the training subset's "
        "evaluation) may take: each is measured and spaced to whole multiples of its period to stay under it; the "
        "training numbers never depend on it, only which steps carry details (0 = no limit: every detail_every steps)",
        group="measuring",
        lo=0,
        hi=1,
    )

    def __post_init__(self) -> None:
        for name in FLOAT_KNOBS:  # 0 and 0.0 are one setting: written the same, a sweep's trials match either
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, name, float(value))
        self.validate()

    def validate(self) -> Config:
        for name, knob in KNOBS.items():
            knob.check(getattr(self, name))
        if self.cell_norm == "batch" and self.batch_size < 2:
            raise ConfigError(
                "cell_norm batch needs a batch of at least 2 sequences (its statistics are over the batch)"
            )
        return self

    def live(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LIVE_KNOBS}

    def replace(self, **changes: Any) -> Config:
        """A copy with `changes` applied (strings are parsed, so CLI/URL values work)."""
        unknown = [name for name in changes if name not in KNOBS]
        if unknown:
            raise ConfigError(f"unknown knob {unknown[0]!r}; known: {', '.join(KNOBS)}")
        parsed = {name: KNOBS[name].parse(value) for name, value in changes.items()}
        return dataclasses.replace(self, **parsed)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in KNOBS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        return cls().replace(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_query(self, base: Config | None = None) -> dict[str, str]:
        """The fields that differ from `base` (the defaults), as strings: a shareable URL query (parameter
        names from QUERY_NAMES where a knob's own name is taken)."""
        base = base or Config()
        out = {}
        for name in KNOBS:
            value = getattr(self, name)
            if value != getattr(base, name):
                out[QUERY_NAMES.get(name, name)] = ("on" if value else "off") if isinstance(value, bool) else f"{value}"
        return out

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Config:
        """Parse a URL query; unknown keys are ignored (a link may carry other parameters)."""
        return cls().replace(**{knob_for_query(k): v for k, v in query.items() if knob_for_query(k) in KNOBS})


KNOBS: dict[str, Knob] = {
    f.name: Knob(name=f.name, kind=type(f.default), default=f.default, **f.metadata["knob"])
    for f in dataclasses.fields(Config)
}
LIVE_KNOBS = tuple(name for name, knob in KNOBS.items() if knob.live)
FIXED_KNOBS = tuple(name for name, knob in KNOBS.items() if not knob.live)
FLOAT_KNOBS = tuple(name for name, knob in KNOBS.items() if knob.kind is float)
DROPOUT_RATES = tuple(name for name, knob in KNOBS.items() if knob.group == "dropout" and knob.kind is float)
MODEL_KNOBS = tuple(name for name in LIVE_KNOBS if KNOBS[name].group in ("dropout", "norm"))  # read by the model


# URL parameter names that differ from the knob's name: Streamlit reserves `?embed=` (and
# `embed_options`) for its embedding mode and hides them from the app.
QUERY_NAMES = {"embed": "embed_size"}
_KNOB_FOR_QUERY = {query: knob for knob, query in QUERY_NAMES.items()}


def knob_for_query(key: str) -> str:
    """The knob a URL parameter sets ('embed_size' -> 'embed'); other names pass through."""
    return _KNOB_FOR_QUERY.get(key, key)


def explicit_cell(recurrent_dropout: float, cell_norm: str, training: bool = True) -> str | None:
    """What makes the model run its explicit step-by-step cell instead of the fused module, in words (None:
    the fused one runs): the techniques that act inside the recurrence. The model and the status line both
    ask here. Recurrent dropout only in training: evaluation draws no masks."""
    reasons = [f"{cell_norm} norm in the cell"] if cell_norm != "none" else []
    if training and recurrent_dropout > 0:
        reasons.insert(0, "recurrent dropout")
    return ", ".join(reasons) or None


def slower_cell_note(cell: str, recurrent_dropout: float, cell_norm: str) -> str | None:
    """What a page or the CLI says while the explicit cell runs (None while the fused one does)."""
    reason = explicit_cell(recurrent_dropout, cell_norm)
    return f"explicit cell ({reason}): slower than the fused {cell.upper() or 'cell'}" if reason else None


def split_assignment(text: str, form: str = "KNOB=VALUE", known: tuple[str, ...] = tuple(KNOBS)) -> tuple[str, str]:
    """'dropout=0.5' -> ('dropout', '0.5'): a known knob's name (dashes allowed) and its unparsed value."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep:
        raise ConfigError(f"expected {form}, got {text!r}")
    if name not in KNOBS:
        raise ConfigError(f"unknown knob {name!r} in {text!r}; knobs: {', '.join(known)}")
    return name, value.strip()


def parse_assignment(text: str) -> tuple[str, Any]:
    """'dropout=0.5' -> ('dropout', 0.5), for live knobs only (the `--at` option)."""
    name, value = split_assignment(text, known=LIVE_KNOBS)
    if not KNOBS[name].live:
        raise ConfigError(f"{name} is fixed for a run and cannot change mid-run; live knobs: {', '.join(LIVE_KNOBS)}")
    return name, KNOBS[name].parse(value)
