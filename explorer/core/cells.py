"""The explicit recurrent layer: a fused `nn.RNN/GRU/LSTM`'s own parameters run one time step at a time, so
that techniques acting INSIDE the recurrence have a place to act: recurrent dropout on h_{t−1}, layer norm
(Ba et al. 2016) and recurrent batch norm (Cooijmans et al. 2017) of the gate pre-activations.

It reads the fused module's weight_ih_l0, weight_hh_l0, bias_ih_l0 and bias_hh_l0 in PyTorch's gate order
(LSTM i, f, g, o; GRU r, z, n, the n gate reading r ⊙ (W_hn h + b_hn)), so a run switches between the two
paths mid-run with no weight changed. The fused module stays the default: it is faster
(benchmarks/cell_speed.py), and the model runs this one only while a knob needs it (config.explicit_cell).

Speed: W_x x for every time step is one matrix product before the loop; the loop does only the h part.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class StepBatchNorm(nn.Module):
    """Batch norm with its own running statistics for each position t of the training window (Cooijmans et al.
    2017: the first steps after a state is carried in differ from later ones); steps beyond the window share
    the last position's. γ starts at 0.1, as the paper recommends (a unit-variance input would saturate the
    gates), β at 0."""

    def __init__(self, features: int, steps: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.empty(features))
        self.bias = nn.Parameter(torch.empty(features))
        self.register_buffer("running_mean", torch.empty(steps, features))
        self.register_buffer("running_var", torch.empty(steps, features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, 0.1)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.running_mean)
        nn.init.ones_(self.running_var)

    def step(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """x (B, F) at window position t: batch statistics in training (and position t's running ones
        updated), position t's running statistics in evaluation."""
        t = min(t, self.running_mean.size(0) - 1)
        return F.batch_norm(
            x, self.running_mean[t], self.running_var[t], self.weight, self.bias, self.training, self.momentum, self.eps
        )

    def steps(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x (T, B, F), time-major, its first step at window position `start`: each step normalised with its
        own position's statistics, all in one call (T×F channels, each over the batch)."""
        steps, batch, features = x.shape
        inside = max(0, min(steps, self.running_mean.size(0) - start))
        parts = []
        if inside:
            flat = x[:inside].transpose(0, 1).reshape(batch, inside * features)
            mean = self.running_mean[start : start + inside].view(-1)  # views: updated in place in training
            var = self.running_var[start : start + inside].view(-1)
            weight, bias = self.weight.repeat(inside), self.bias.repeat(inside)
            out = F.batch_norm(flat, mean, var, weight, bias, self.training, self.momentum, self.eps)
            parts.append(out.view(batch, inside, features).transpose(0, 1))
        if inside < steps:
            rest = x[inside:].reshape(-1, features)
            parts.append(self.step(rest, start + steps).view(steps - inside, batch, features))
        return torch.cat(parts) if len(parts) > 1 else parts[0]


class _LayerNorm(nn.LayerNorm):
    """nn.LayerNorm with StepBatchNorm's interface: it needs no time step."""

    def step(self, x: torch.Tensor, t: int) -> torch.Tensor:
        return self(x)

    def steps(self, x: torch.Tensor, start: int) -> torch.Tensor:
        return self(x)


class CellNorm(nn.Module):
    """One layer's in-cell normalisation parameters, for both kinds, made whether used or not (a live switch
    never changes the parameter list the optimiser holds): `x` for W_x x_t, `h` for W_h h_{t−1} (each normalised
    on its own, the biases added after, as in both papers) and, for an LSTM, `c` for c_t before its output tanh."""

    def __init__(self, cell: str, hidden: int, steps: int):
        super().__init__()
        gates = GATES[cell] * hidden
        sizes = {"x": gates, "h": gates, **({"c": hidden} if cell == "lstm" else {})}
        self.layer = nn.ModuleDict({name: _LayerNorm(size) for name, size in sizes.items()})
        self.batch = nn.ModuleDict({name: StepBatchNorm(size, steps) for name, size in sizes.items()})


def recurrent_mask(mask: torch.Tensor, steps: int) -> torch.Tensor:
    """A recurrent-dropout mask drawn as (B, T, H) (naive: one per step) or (B, 1, H) (gal: one per sequence),
    time-major (T, B, H) for the loop: the gal mask is the same view at every step, no copy."""
    return mask.transpose(0, 1).expand(steps, -1, -1)


def run_layer(
    cell: str,
    rnn: nn.Module,
    weight_hh: torch.Tensor,
    x: torch.Tensor,
    state,
    mask: torch.Tensor | None = None,
    norm: nn.ModuleDict | None = None,
    start: int = 0,
):
    """x (B, T, I) -> (output (B, T, H), final state shaped as the fused `rnn` returns it), from `rnn`'s own
    input weights and biases and `weight_hh` (its recurrent weight, or weight drop's masked copy). `mask`
    (T, B, H) multiplies h_{t−1} where it enters the gates: for an LSTM h, not c (c carries the memory the mask
    should not wipe); for a GRU the h_{t−1} fed to the gates, not the one its update z interpolates with (Gal &
    Ghahramani 2016's GRU). `norm`: a CellNorm's `layer` or `batch` dict; `start`: the window position of x's
    first step (recurrent batch norm keeps statistics per position)."""
    hidden = rnn.hidden_size
    batch, steps, _ = x.shape
    if state is None:
        zero = x.new_zeros(batch, hidden)
        state = (zero, zero) if cell == "lstm" else zero
    else:
        state = (state[0][0], state[1][0]) if cell == "lstm" else state[0]
    # a GRU's recurrent bias stays in the h part (b_hn sits inside r ⊙ (...)); the others fold both into x
    x_bias = rnn.bias_ih_l0 if cell == "gru" else rnn.bias_ih_l0 + rnn.bias_hh_l0
    h_bias = rnn.bias_hh_l0 if cell == "gru" else None
    inputs = x.transpose(0, 1)  # time-major: each step's slice is contiguous
    if norm is None:
        xw = F.linear(inputs, rnn.weight_ih_l0, x_bias)
        norm_h = norm_c = None
    else:
        xw = norm["x"].steps(F.linear(inputs, rnn.weight_ih_l0), start) + x_bias
        norm_h, norm_c = norm["h"].step, (norm["c"].step if cell == "lstm" else None)
    loop = {"rnn": _rnn_loop, "gru": _gru_loop, "lstm": _lstm_loop}[cell]
    # unbound once: indexing xw[t] would make backward build a zero (T, B, G) gradient for every step
    masks = [None] * steps if mask is None else mask.unbind(0)
    outputs, state = loop(xw.unbind(0), state, weight_hh.t(), h_bias, masks, norm_h, norm_c, start)
    out = torch.stack(outputs, 1)
    if cell == "lstm":
        return out, (state[0].unsqueeze(0), state[1].unsqueeze(0))
    return out, state.unsqueeze(0)


def _gates(base, h, mask, norm_h, t, w_t):
    """base + W_h (h_{t−1} ⊙ mask_t), the h part normalised on its own when a norm is on: step t's gate
    pre-activations (base = W_x x_t + biases), or, for a GRU, its h part alone (base = b_hh)."""
    if mask is not None:
        h = h * mask
    if norm_h is None:
        return torch.addmm(base, h, w_t)
    return base + norm_h(h.mm(w_t), t)


def _rnn_loop(xs, h, w_t, h_bias, masks, norm_h, norm_c, start):
    outputs = []
    for t, (x_t, mask) in enumerate(zip(xs, masks), start):
        h = _gates(x_t, h, mask, norm_h, t, w_t).tanh()
        outputs.append(h)
    return outputs, h


def _gru_loop(xs, h, w_t, h_bias, masks, norm_h, norm_c, start):
    outputs = []
    for t, (x_t, mask) in enumerate(zip(xs, masks), start):
        x_r, x_z, x_n = x_t.chunk(3, 1)
        h_r, h_z, h_n = _gates(h_bias, h, mask, norm_h, t, w_t).chunk(3, 1)
        r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
        n = torch.addcmul(x_n, r, h_n).tanh()
        h = torch.addcmul(n, z, h - n)  # (1 − z) n + z h_{t−1}: the undropped h
        outputs.append(h)
    return outputs, h


def _lstm_loop(xs, state, w_t, h_bias, masks, norm_h, norm_c, start):
    (h, c), outputs = state, []
    for t, (x_t, mask) in enumerate(zip(xs, masks), start):
        i, f, g, o = _gates(x_t, h, mask, norm_h, t, w_t).chunk(4, 1)
        c = torch.addcmul(f.sigmoid() * c, i.sigmoid(), g.tanh())
        h = o.sigmoid() * (c if norm_c is None else norm_c(c, t)).tanh()
        outputs.append(h)
    return outputs, (h, c)
