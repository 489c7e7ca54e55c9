"""Every knob of a run in ONE serialisable object (TF Playground's state.ts idea).

A `Config` holds the FIXED setup (corpus, model shape, seed: changing them means a new run) and
the LIVE knobs (regularisers, learning rate: the trainer applies them at its next step). The
`KNOBS` table describes each field once — type, range, help — and is what validation, the CLI,
the URL query string and both front ends' widgets are built from.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from explorer.spec.errors import ConfigError


@dataclass(frozen=True)
class Knob:
    """What one field may hold. `choices` for enums, `lo`/`hi` for numbers (hi_open: hi excluded).
    `aliases`: old value -> its new name, so links, flags, sweeps and stored runs made before a
    rename still load (and come back under the new name)."""

    name: str
    kind: type
    live: bool
    help: str
    lo: float | None = None
    hi: float | None = None
    hi_open: bool = False
    lo_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict, hash=False)

    def parse(self, value: Any) -> Any:
        """Turn a string from the CLI / URL (or a Python value) into this knob's type, checked."""
        if self.kind is bool:
            value = _parse_bool(self.name, value)
        elif self.kind in (int, float):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{self.name} must be a number, got {value!r}") from None
            if self.kind is int:
                if not number.is_integer():
                    raise ConfigError(f"{self.name} must be a whole number, got {value!r}")
                value = int(number)
            else:
                value = number
        else:
            value = str(value)
            value = self.aliases.get(value, value)
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{self.name} must be a finite number, got {value!r}")
            too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
            too_high = self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi)
            if too_low or too_high:
                raise ConfigError(f"{self.name} must be in {self.range_text()}, got {value}")

    def range_text(self) -> str:
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        hi = "∞" if self.hi is None else f"{self.hi:g}"
        return f"{left}{self.lo:g}, {hi}{right}"


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise ConfigError(f"{name} must be on|off|true|false, got {value!r}")


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in [
        # --- live: applied by the trainer at the start of its next step ---
        Knob("lr", float, True, "learning rate", lo=0, hi=100, lo_open=True),
        Knob(
            "dropout",
            float,
            True,
            "dropout on embeddings, between layers and before the decoder",
            lo=0,
            hi=1,
            hi_open=True,
        ),
        Knob(
            "dropout_kind",
            str,
            True,
            "standard: a new mask at every time step; locked: one mask per window, the same at every time step "
            "(AWD-LSTM's LockedDropout, on the same sites; it does not mask the recurrent state h_{t-1})",
            choices=("standard", "locked"),
            aliases={"variational": "locked"},  # its name until the recurrent-state variant got its own knob
        ),
        Knob("embed_dropout", float, True, "drop whole words (rows of the embedding matrix)", lo=0, hi=1, hi_open=True),
        Knob(
            "weight_drop",
            float,
            True,
            "DropConnect on the hidden-to-hidden weights (AWD-LSTM)",
            lo=0,
            hi=1,
            hi_open=True,
        ),
        Knob(
            "recurrent_dropout",
            float,
            True,
            "dropout on the previous hidden state h_{t−1} inside the cell, at every time step (runs the slower "
            "explicit cell)",
            lo=0,
            hi=1,
            hi_open=True,
        ),
        Knob(
            "recurrent_dropout_kind",
            str,
            True,
            "naive: a new mask on h_{t−1} at every time step (erases memory); gal: one mask per sequence "
            "(Gal & Ghahramani 2016)",
            choices=("naive", "gal"),
        ),
        Knob(
            "cell_norm",
            str,
            True,
            "normalisation inside the cell, of the input and recurrent gate pre-activations (and the LSTM's cell): "
            "layer (Ba et al. 2016) or batch with statistics per time step (Cooijmans et al. 2017)",
            choices=("none", "layer", "batch"),
        ),
        Knob(
            "noise",
            float,
            True,
            "data noising: replace each input token with this probability γ, in training only",
            lo=0,
            hi=0.5,
        ),
        Knob(
            "noise_kind",
            str,
            True,
            "unigram: a token drawn by its frequency in the training text; blank: a blank token",
            choices=("unigram", "blank"),
        ),
        Knob(
            "l2",
            float,
            True,
            "L2 penalty: λ·Σw² added to the loss (gradient 2λw; no ½), on weights (not biases or norm parameters)",
            lo=0,
            hi=1,
        ),
        Knob("l1", float, True, "L1 penalty λ·Σ|w| on weights (see l1_kind for how it is applied)", lo=0, hi=1),
        Knob(
            "l1_kind",
            str,
            True,
            "subgradient: λ·sign(w) added to the gradient (weights hover around 0 at about the step size, "
            "never exactly 0); proximal: after each optimiser step, w ← sign(w)·max(|w| − lr·λ, 0), which sets "
            "small weights to exactly 0",
            choices=("subgradient", "proximal"),
        ),
        Knob(
            "weight_decay",
            float,
            True,
            "the optimiser's weight decay: coupled (added to the gradient, like L2 with λ_wd = 2λ₂) with adam/sgd; "
            "decoupled with adamw, where PyTorch multiplies it by the learning rate",
            lo=0,
            hi=1,
        ),
        Knob("clip", float, True, "gradient clipping threshold (0 = off)", lo=0, hi=1e6),
        Knob("clip_mode", str, True, "clip the total norm, or each gradient value", choices=("norm", "value")),
        Knob("batchnorm", bool, True, "batch normalisation on each recurrent layer's output"),
        Knob("layernorm", bool, True, "layer normalisation on each recurrent layer's output"),
        Knob(
            "early_stop",
            int,
            True,
            "stop after this many evaluations without a better validation loss (0 = off)",
            lo=0,
            hi=1000,
        ),
        # --- fixed: a change means a new run ---
        Knob("corpus", str, False, "bundled corpus name, a UTF-8 text file, or a folder with a ready split"),
        Knob("level", str, False, "tokens are characters or words", choices=("char", "word")),
        Knob("lowercase", bool, False, "lower-case the text (word level)"),
        Knob(
            "vocab_size",
            int,
            False,
            "word level: keep this many most frequent words, the rest become <unk>",
            lo=2,
            hi=1_000_000,
        ),
        Knob("cell", str, False, "recurrent cell", choices=("rnn", "gru", "lstm")),
        Knob("layers", int, False, "recurrent layers", lo=1, hi=3),
        Knob("hidden", int, False, "hidden units per layer", lo=1, hi=4096),
        Knob("embed", int, False, "embedding size", lo=1, hi=4096),
        Knob(
            "forget_bias",
            bool,
            False,
            "LSTM only: start the forget gate's bias at 1, so the cell remembers from the start (Jozefowicz et al. "
            "2015); no effect on rnn or gru",
        ),
        Knob("tie_weights", bool, False, "share the embedding and decoder matrices"),
        Knob("attention", bool, False, "causal attention of the top layer over earlier positions of its window"),
        Knob("init", str, False, "weight initialisation", choices=("default", "xavier", "orthogonal")),
        Knob("seq_len", int, False, "time steps per batch (truncated BPTT length)", lo=1, hi=4096),
        Knob("batch_size", int, False, "sequences per batch", lo=1, hi=4096),
        Knob("train_fraction", float, False, "use only this fraction of the training split", lo=0, hi=1, lo_open=True),
        Knob(
            "split",
            str,
            False,
            "how one text is split 90/5/5 into train/valid/test: contiguous (in reading order: the last tenth "
            "is held out) or interleaved (blocks of 2,000 tokens dealt 18 train, 1 valid, 1 test in every 20, so "
            "held-out text comes from the same parts of the corpus; a train_fraction below 1 keeps whole training "
            "blocks spread evenly over it); a folder with a ready split ignores it",
            choices=("contiguous", "interleaved"),
        ),
        Knob("optimizer", str, False, "optimiser", choices=("adam", "adamw", "sgd")),
        Knob("seed", int, False, "random seed: same seed, same knobs, same numbers", lo=0, hi=2**31 - 1),
        Knob("device", str, False, "where to train", choices=("auto", "cpu", "cuda")),
        Knob("steps", int, False, "training steps in the run", lo=1, hi=10_000_000),
        Knob("eval_every", int, False, "evaluate every this many steps", lo=1, hi=1_000_000),
        Knob("eval_batches", int, False, "batches per evaluation (a fixed budget)", lo=1, hi=10_000),
        Knob(
            "detail_every",
            int,
            False,
            "record gradient histograms, weight norms, gradient reach and dropout masks every this many steps",
            lo=1,
            hi=1_000_000,
        ),
        Knob(
            "meter_every",
            int,
            False,
            "measure memorisation (a sample's n-grams copied from the training text) every this many "
            "evaluations (0 = off)",
            lo=0,
            hi=1_000_000,
        ),
        Knob(
            "meter_n", int, False, "n-gram length of the memorisation meter (0 = 12 characters or 4 words)", lo=0, hi=64
        ),
    ]
}

LIVE_KNOBS = tuple(name for name, knob in KNOBS.items() if knob.live)
FIXED_KNOBS = tuple(name for name, knob in KNOBS.items() if not knob.live)


@dataclass
class Config:
    """One run's whole setup. Defaults: a small char-level LSTM on Tiny Shakespeare, no regularisation."""

    lr: float = 2e-3
    dropout: float = 0.0
    dropout_kind: str = "standard"
    embed_dropout: float = 0.0
    weight_drop: float = 0.0
    recurrent_dropout: float = 0.0
    recurrent_dropout_kind: str = "naive"
    cell_norm: str = "none"
    noise: float = 0.0
    noise_kind: str = "unigram"
    l2: float = 0.0
    l1: float = 0.0
    l1_kind: str = "subgradient"
    weight_decay: float = 0.0
    clip: float = 0.0
    clip_mode: str = "norm"
    batchnorm: bool = False
    layernorm: bool = False
    early_stop: int = 0

    corpus: str = "tinyshakespeare"
    level: str = "char"
    lowercase: bool = False
    vocab_size: int = 10_000
    cell: str = "lstm"
    layers: int = 1
    hidden: int = 128
    embed: int = 64
    forget_bias: bool = False
    tie_weights: bool = False
    attention: bool = False
    init: str = "default"
    seq_len: int = 64
    batch_size: int = 32
    train_fraction: float = 1.0
    split: str = "contiguous"
    optimizer: str = "adam"
    seed: int = 0
    device: str = "auto"
    steps: int = 1000
    eval_every: int = 25
    eval_batches: int = 10
    detail_every: int = 20
    meter_every: int = 2
    meter_n: int = 0

    def __post_init__(self) -> None:
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
