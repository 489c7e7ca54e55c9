"""RNNLM: embedding -> stacked recurrent layers -> decoder, with every regulariser switchable live.

Each layer is its own fused `nn.RNN/GRU/LSTM` (cuDNN on a GPU) so that dropout and normalisation can
sit between layers. The live switches (`dropout`, `batchnorm`, ...) are plain attributes read in
`forward`: turning batch norm on or off never changes the parameter list the optimiser holds. Techniques
that act inside the recurrence (recurrent dropout, in-cell norms) run the same weights through the explicit
cell of cells.py, only while they are on.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from explorer.core.cells import CellNorm, recurrent_mask, run_layer
from explorer.spec.knobs import MODEL_KNOBS, Config, explicit_cell

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def dropout_mask(like: torch.Tensor, shape: tuple, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Keep each unit with probability 1-p and scale kept ones by 1/(1-p), so the expected value is
    unchanged and evaluation (no dropout) needs no rescaling."""
    return like.new_empty(shape).bernoulli_(1 - p, generator=generator) / (1 - p)


class CausalAttention(nn.Module):
    """Luong-style attention over the window: position t scores the top layer's outputs at positions ≤ t
    (h_t·W·h_s, less a learned penalty per step back, as in ALiBi: without it a query cannot tell this
    line's key from an older one with the same content), averages those outputs by the scores, and mixes
    [h_t, context_t] back to the layer's size, so the decoder (tied or not) is unchanged. A key read 40
    characters ago is one look away instead of 40 recurrent steps, but only inside the window: what came
    before it reaches the model through the hidden state alone."""

    def __init__(self, size: int):
        super().__init__()
        self.query = nn.Linear(size, size, bias=False)
        self.recency = nn.Parameter(torch.zeros(()))
        self.combine = nn.Linear(2 * size, size)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(h.size(1), device=h.device)
        back = (steps[:, None] - steps[None, :]).to(h.dtype)  # how far back position s is from position t
        bias = (-self.recency * back).masked_fill(back < 0, -math.inf)  # causal: no look ahead
        context = F.scaled_dot_product_attention(self.query(h), h, h, attn_mask=bias)
        return torch.tanh(self.combine(torch.cat([h, context], dim=-1)))


class RNNLM(nn.Module):
    def __init__(self, vocab_size: int, config: Config):
        super().__init__()
        self.cell = config.cell
        self.embedding = nn.Embedding(vocab_size, config.embed)
        # With tied weights the last layer's output must match the embedding size (as in AWD-LSTM).
        sizes = [config.hidden] * config.layers
        if config.tie_weights:
            sizes[-1] = config.embed
        inputs = [config.embed] + sizes[:-1]
        rnn = CELLS[config.cell]
        self.rnns = nn.ModuleList(rnn(i, o, batch_first=True) for i, o in zip(inputs, sizes))
        self.batchnorms = nn.ModuleList(nn.BatchNorm1d(o) for o in sizes)
        self.layernorms = nn.ModuleList(nn.LayerNorm(o) for o in sizes)
        self.decoder = nn.Linear(sizes[-1], vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight
        self.init_weights(config.init)
        if config.forget_bias and config.cell == "lstm":
            self.set_forget_bias()
        # The blank token of data noising (Xie et al. 2017) has its own learned embedding. It starts at
        # zero and is made last, so it draws no random numbers and every other weight of a seed is unchanged.
        self.blank = nn.Parameter(torch.zeros(config.embed))
        # Built last, and only when on: a model without attention draws the same initial weights as before.
        self.attention = CausalAttention(sizes[-1]) if config.attention else None
        self.window = config.seq_len  # what attention looks back over: the training window
        # The in-cell norms' parameters, made last (constants, no random draws) so every earlier weight of a
        # seed is unchanged; they exist from the start so that switching cell_norm never changes the parameters.
        self.cell_norms = nn.ModuleList(CellNorm(config.cell, o, config.seq_len) for o in sizes)
        self.generator: torch.Generator | None = None  # the trainer gives each run its own
        # A dict on the steps the mechanism views look at: every dropout mask drawn and every layer's
        # input, by name ("mask.input", "mask.layer1", "input.layer1", ...); None on other steps (no cost).
        self.taps: dict[str, torch.Tensor] | None = None
        self.top_output: tuple[torch.Tensor, torch.Tensor] | None = None  # the last forward's, for AR and TAR
        # What the dropout sites multiply by in evaluation; explorer.core.probes.dropout_sites_scaled sets other
        # test-time rules for lesson 10 to compare.
        self.eval_scale = 1.0
        self.apply_knobs(config.live())

    def apply_knobs(self, knobs: dict) -> None:
        """The live switches the model reads (the knob table's MODEL_KNOBS: dropout and normalisation), each an
        attribute of the same name, set by the trainer at the start of a step."""
        for name in MODEL_KNOBS:
            setattr(self, name, knobs[name])

    def init_weights(self, scheme: str) -> None:
        """default: PyTorch's (uniform(±1/√H) cells, N(0, 1) embedding). xavier: Glorot for every matrix, zero
        biases. orthogonal: PyTorch's default with ONE change, orthogonal hidden-to-hidden blocks (one per gate:
        every singular value 1, so at the start the product of the recurrent Jacobians shrinks more slowly), so that
        a comparison with default credits the recurrent matrix alone. uniform: pytorch/examples
        word_language_model's embedding and decoder."""
        if scheme == "default":
            return
        if scheme == "uniform":  # PyTorch's N(0, 1) embedding saturates a word model's gates at the start
            nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
            if self.decoder.weight is not self.embedding.weight:
                nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
            return
        for rnn in self.rnns:
            gates = rnn.weight_hh_l0.size(0) // rnn.hidden_size
            for name, param in rnn.named_parameters():
                if scheme == "orthogonal":
                    if name.startswith("weight_hh"):
                        for block in param.data.chunk(gates, 0):
                            nn.init.orthogonal_(block)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                else:
                    for block in param.data.chunk(gates, 0):
                        nn.init.xavier_uniform_(block)
        if scheme == "xavier":
            nn.init.xavier_uniform_(self.embedding.weight)
            nn.init.zeros_(self.decoder.bias)

    def set_forget_bias(self) -> None:
        """Start every LSTM forget gate's bias at 1 (Jozefowicz et al. 2015): the cell keeps its memory until it
        learns to forget. PyTorch adds two biases; bias_ih's forget block is set to 1 and bias_hh's to 0, so
        their sum, the gate's effective bias, is 1. Gate order i, f, g, o: f is the second block."""
        with torch.no_grad():
            for rnn in self.rnns:
                forget = slice(rnn.hidden_size, 2 * rnn.hidden_size)
                rnn.bias_ih_l0[forget] = 1.0
                rnn.bias_hh_l0[forget] = 0.0

    def _tap(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        if self.taps is not None:
            self.taps[name] = tensor
        return tensor

    def _mask(self, site: str, like: torch.Tensor, shape: tuple, p: float) -> torch.Tensor:
        """A dropout mask from the run's own generator, kept for the masks view when it is looking."""
        return self._tap(f"mask.{site}", dropout_mask(like, shape, p, self.generator))

    def _drop(self, x: torch.Tensor, site: str) -> torch.Tensor:
        """standard: a new mask at every time step. locked: one mask per window, shared by every time step
        (AWD-LSTM's LockedDropout on the layers' inputs and outputs; the recurrent state is not masked)."""
        if not self.training:
            return x if self.eval_scale == 1 else x * self.eval_scale
        p = self.dropout
        if p == 0:
            return x
        batch, _, features = x.shape
        shape = (batch, 1, features) if self.dropout_kind == "locked" else x.shape
        return x * self._mask(site, x, shape, p)

    def _embed(self, tokens: torch.Tensor, blank: torch.Tensor | None) -> torch.Tensor:
        """Embedding dropout drops whole words (Merity et al. 2017): rows of the embedding matrix, so
        every occurrence of a dropped word in the batch is zero. `blank` marks inputs noised to blank."""
        weight = self.embedding.weight
        if self.training and self.embed_dropout > 0:
            x = F.embedding(tokens, weight * self._mask("embedding", weight, (weight.size(0), 1), self.embed_dropout))
        else:
            x = self.embedding(tokens)
        if blank is not None:
            x = torch.where(blank.unsqueeze(-1), self.blank, x)
        return x

    def _run_layer(self, i: int, rnn: nn.Module, x: torch.Tensor, state, start: int):
        self._tap(f"input.layer{i + 1}", x)
        explicit = explicit_cell(self.recurrent_dropout, self.cell_norm, self.training) is not None
        weight = rnn.weight_hh_l0
        if self.training and self.weight_drop > 0:
            weight = weight * self._mask(f"weight_drop.layer{i + 1}", weight, weight.shape, self.weight_drop)
            if not explicit:
                return functional_call(rnn, {"weight_hh_l0": weight}, (x, state))
        if not explicit:
            return rnn(x, state)
        mask = None
        if self.training and self.recurrent_dropout > 0:
            batch, steps, _ = x.shape
            shape = (batch, steps if self.recurrent_dropout_kind == "naive" else 1, rnn.hidden_size)
            mask = recurrent_mask(self._mask(f"recurrent.layer{i + 1}", x, shape, self.recurrent_dropout), steps)
        norm = None if self.cell_norm == "none" else getattr(self.cell_norms[i], self.cell_norm)
        return run_layer(self.cell, rnn, weight, x, state, mask, norm, start)

    def forward(
        self, tokens: torch.Tensor, state: list | None = None, blank: torch.Tensor | None = None, start: int = 0
    ):
        """tokens (B, T) -> logits (B, T, V) and the new per-layer recurrent state. `blank` (B, T) bool:
        inputs replaced by the blank token (data noising). `start`: the position of tokens[:, 0] in its
        training window (recurrent batch norm keeps statistics per position; sampling reads one at a time)."""
        x = self._drop(self._embed(tokens, blank), "input")
        new_state = []
        for i, rnn in enumerate(self.rnns):
            x, layer_state = self._run_layer(i, rnn, x, None if state is None else state[i], start)
            if self.batchnorm:
                x = self.batchnorms[i](x.reshape(-1, x.size(-1))).view_as(x)
            if self.layernorm:
                x = self.layernorms[i](x)
            if self.attention is not None and i == len(self.rnns) - 1:
                x = self.attention(x)  # the top layer looks back over its window before the decoder
            raw, x = x, self._drop(x, f"layer{i + 1}")
            new_state.append(layer_state)
        if self.training:
            self.top_output = (raw, x)  # before and after dropout: what AR and TAR penalise
        return self.decoder(x), new_state

    def completed(self, state: dict) -> dict:
        """A state dict written before the blank embedding or the in-cell norms existed, completed with them at
        their initial values (zero; γ, β and running statistics as a new model has them): it never used them."""
        norms = nn.ModuleList(CellNorm(self.cell, rnn.hidden_size, self.window) for rnn in self.rnns)
        new = {"blank": torch.zeros_like(self.blank, device="cpu")}
        new.update((f"cell_norms.{name}", value) for name, value in norms.state_dict().items())
        return {**{k: v for k, v in new.items() if k not in state}, **state}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named groups for the teaching views: where vanishing or exploding gradients show."""
        groups = {"embedding": [self.embedding.weight, self.blank]}
        for i, rnn in enumerate(self.rnns, start=1):
            groups[f"layer{i}.input"] = [rnn.weight_ih_l0, rnn.bias_ih_l0]
            groups[f"layer{i}.recurrent"] = [rnn.weight_hh_l0, rnn.bias_hh_l0]
        groups["norm"] = [p for m in (*self.batchnorms, *self.layernorms, self.cell_norms) for p in m.parameters()]
        if self.attention is not None:
            groups["attention"] = list(self.attention.parameters())
        groups["decoder"] = [p for p in self.decoder.parameters() if p is not self.embedding.weight]
        return groups

    def penalised_weights(self) -> list[nn.Parameter]:
        """The matrices that L1/L2/weight decay act on: not biases, not normalisation parameters."""
        norm_ids = {id(p) for p in self.param_groups()["norm"]}
        return [p for p in self.parameters() if p.dim() >= 2 and id(p) not in norm_ids]


def detach_state(state):
    """Cut the graph between batches (truncated BPTT) but keep the values."""
    if state is None:
        return None
    return [tuple(s.detach() for s in layer) if isinstance(layer, tuple) else layer.detach() for layer in state]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def uniform_loss(vocab_size: int) -> float:
    """The loss of a model that knows nothing: ln V nats per token."""
    return math.log(vocab_size)
