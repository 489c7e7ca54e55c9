"""The explicit recurrent cell (explorer/cells.py) against its defining properties, on real tiny models: it is
the fused module's computation with the same weights, its masks reach h_{t−1}, its norms normalise what they
claim, and nothing of the fused path moved."""

import json

import pytest
import torch

from explorer.core.cells import StepBatchNorm, recurrent_mask, run_layer
from explorer.core.checkpoint import load_checkpoint, save_checkpoint
from explorer.core.probes import gradient_reach, mask_record
from explorer.core.sample import StepReader, generate_ids
from explorer.core.train import Trainer
from explorer.page.status import status_line
from explorer.runs.history import snapshot_of
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import Config
from explorer.views.mechanism_charts import dropout_mask_chart
from tests.conftest import VOCAB, tiny, tiny_model


def random_state(cell: str, hidden: int, batch: int):
    h = torch.randn(1, batch, hidden)
    return (h, torch.randn(1, batch, hidden)) if cell == "lstm" else h


def flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_the_explicit_cell_is_the_fused_module_with_the_same_weights(cell, layers):
    """Outputs, final states and every gradient (weights, input, initial state) agree to 1e-5."""
    model = tiny_model(cell=cell, layers=layers)
    tokens = torch.randint(0, VOCAB, (3, 9))
    states = [random_state(cell, rnn.hidden_size, 3) for rnn in model.rnns]
    seed = torch.randn(3, 9, model.rnns[-1].hidden_size)

    def run(explicit: bool):
        leaves = [s.clone().requires_grad_() for state in states for s in flat(state)]
        given = [tuple(leaves[2 * i : 2 * i + 2]) if cell == "lstm" else leaves[i] for i in range(layers)]
        x, finals = model.embedding(tokens), []
        for rnn, state in zip(model.rnns, given):
            x, final = run_layer(cell, rnn, rnn.weight_hh_l0, x, state) if explicit else rnn(x, state)
            finals += flat(final)
        loss = (x * seed).sum() + sum((f * f).sum() for f in finals)
        params = [p for rnn in model.rnns for p in rnn.parameters()] + [model.embedding.weight]
        return [x, *finals], torch.autograd.grad(loss, params + leaves)

    (fused_out, fused_grads), (explicit_out, explicit_grads) = run(False), run(True)
    for a, b in zip(fused_out + list(fused_grads), explicit_out + list(explicit_grads)):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_the_fused_path_is_unchanged_for_a_seed():
    """The first steps and evaluation of three runs, as the model gave them before the explicit cell existed
    (its parameters are made after every earlier one, from constants, so no random draw moved)."""
    before = {
        "rnn": ([4.32268762588501, 4.239035606384277, 4.294990539550781], 4.236324310302734),
        "gru": ([4.217535018920898, 4.212253570556641, 4.159156799316406], 4.164429187774658),
        "lstm": ([4.187331199645996, 4.1881327629089355, 4.181044101715088], 4.166348934173584),
    }
    for cell, (losses, val) in before.items():
        config = tiny(cell=cell, layers=2, dropout=0.2, weight_drop=0.2, steps=3, eval_every=3)
        records = list(Trainer(config).run())
        assert [r["train_loss"] for r in records if r["kind"] == "step"] == pytest.approx(losses, rel=1e-6)
        assert [r["val_loss"] for r in records if r["kind"] == "eval"] == pytest.approx([val], rel=1e-6)
    names = [name for name, _ in tiny_model(layers=2).named_parameters()]
    new = [i for i, name in enumerate(names) if name.startswith("cell_norms.")]
    assert new == list(range(len(names) - len(new), len(names)))  # all after every earlier parameter


def masks_of(kind: str, layers: int = 2) -> dict:
    model = tiny_model(recurrent_dropout=0.5, recurrent_dropout_kind=kind, layers=layers, cell="gru")
    model.train()
    model.taps = {}
    model(torch.randint(0, VOCAB, (3, 30)))
    knobs = {**tiny().live(), "recurrent_dropout": 0.5, "recurrent_dropout_kind": kind}
    return model.taps, mask_record(model.taps, knobs, torch.zeros(30, dtype=torch.long), ["a"] * VOCAB)["sites"]


def test_the_naive_mask_changes_at_every_step_and_the_gal_mask_does_not():
    for kind in ("naive", "gal"):
        taps, sites = masks_of(kind)
        assert {"recurrent.layer1", "recurrent.layer2"} <= set(sites)
        for site in ("recurrent.layer1", "recurrent.layer2"):
            assert sites[site]["kind"] == kind and sites[site]["keep"] == 0.5
            rows = sites[site]["rows"]
            assert len(rows) == 8 and all(len(row) == 30 for row in rows)  # units × time
            constant = all(set(row) in ({"0"}, {"1"}) for row in rows)
            assert constant == (kind == "gal"), (kind, site)
        mask = recurrent_mask(taps["mask.recurrent.layer1"], 30)  # as the loop applies it, (T, B, H)
        changes = [not torch.equal(mask[t], mask[t + 1]) for t in range(29)]
        assert all(changes) if kind == "naive" else not any(changes)


def test_a_mask_zeroing_h_cuts_the_recurrence_of_an_rnn():
    """With every unit of h_{t−1} dropped the output at step t depends on x_t alone: the memory is gone."""
    rnn = tiny_model(cell="rnn").rnns[0]
    x = torch.randn(2, 7, 6, requires_grad=True)
    zero = recurrent_mask(torch.zeros(2, 7, 8), 7)
    out, _ = run_layer("rnn", rnn, rnn.weight_hh_l0, x, None, zero)
    (grad,) = torch.autograd.grad(out[:, 4].sum(), x)
    reach = grad.abs().sum(dim=(0, 2))
    assert reach[4] > 0 and reach[:4].sum() == 0 and reach[5:].sum() == 0
    (grad,) = torch.autograd.grad(run_layer("rnn", rnn, rnn.weight_hh_l0, x, None)[0][:, 4].sum(), x)
    assert (grad.abs().sum(dim=(0, 2))[:4] > 0).all()  # without the mask it reached back


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_recurrent_mask_multiplies_h_where_it_enters_the_gates(cell):
    """Against PyTorch's documented equations written out by hand: the mask on h_{t−1} in the gates only (an
    LSTM's c and a GRU's interpolation keep the undropped state)."""
    rnn = tiny_model(cell=cell).rnns[0]
    x, mask = torch.randn(2, 5, 6), torch.randint(0, 2, (2, 5, 8)).float() * 2
    w_ih, w_hh, b_ih, b_hh = rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0
    h = c = torch.zeros(2, 8)
    outputs = []
    for t in range(5):
        gi, gh = x[:, t] @ w_ih.T + b_ih, (h * mask[:, t]) @ w_hh.T + b_hh
        if cell == "lstm":
            i, f, g, o = (gi + gh).chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        else:
            (ir, iz, in_), (hr, hz, hn) = gi.chunk(3, 1), gh.chunk(3, 1)
            r, z = (ir + hr).sigmoid(), (iz + hz).sigmoid()
            n = (in_ + r * hn).tanh()
            h = (1 - z) * n + z * h
        outputs.append(h)
    out, _ = run_layer(cell, rnn, w_hh, x, None, recurrent_mask(mask, 5))
    torch.testing.assert_close(out, torch.stack(outputs, 1), atol=1e-5, rtol=1e-5)


def test_recorded_recurrent_and_weight_drop_masks_replay_the_training_output():
    """The explicit path uses weight drop's masked recurrent weight and the tapped recurrent mask."""
    model = tiny_model(cell="lstm", recurrent_dropout=0.3, recurrent_dropout_kind="gal", weight_drop=0.4)
    model.train()
    model.taps = {}
    tokens = torch.randint(0, VOCAB, (2, 9))
    logits, _ = model(tokens)
    rnn, taps = model.rnns[0], model.taps
    with torch.no_grad():
        weight = rnn.weight_hh_l0 * taps["mask.weight_drop.layer1"]
        out, _ = run_layer(
            "lstm", rnn, weight, model.embedding(tokens), None, recurrent_mask(taps["mask.recurrent.layer1"], 9)
        )
        torch.testing.assert_close(model.decoder(out), logits.detach())


def test_evaluation_runs_the_fused_module_when_only_recurrent_dropout_is_on():
    plain, dropped = tiny_model(), tiny_model(recurrent_dropout=0.5)
    tokens = torch.randint(0, VOCAB, (2, 9))
    assert torch.equal(plain.eval()(tokens)[0], dropped.eval()(tokens)[0])
    assert not torch.equal(plain.train()(tokens)[0], dropped.train()(tokens)[0])


def test_layer_norm_in_the_cell_normalises_each_examples_pre_activations():
    model = tiny_model(cell="lstm", cell_norm="layer")
    seen = {}
    for name, norm in model.cell_norms[0].layer.items():
        norm.register_forward_hook(lambda module, args, out, name=name: seen.setdefault(name, []).append(out))
    model(torch.randint(0, VOCAB, (4, 10)))
    assert set(seen) == {"x", "h", "c"} and len(seen["h"]) == 10 and len(seen["c"]) == 10  # h and c at every step
    seen["h"] = seen["h"][1:]  # W_h h_0 is zero: the first step's h part has nothing to normalise
    for outs in seen.values():
        out = torch.cat([o.reshape(-1, o.size(-1)) for o in outs])  # γ = 1, β = 0 at the start
        torch.testing.assert_close(out.mean(-1), torch.zeros(len(out)), atol=1e-5, rtol=0)
        torch.testing.assert_close(out.std(-1, unbiased=False), torch.ones(len(out)), atol=1e-2, rtol=0)


def test_recurrent_batch_norm_uses_each_steps_own_batch_statistics_and_keeps_them_per_step():
    norm = StepBatchNorm(5, steps=8)
    assert torch.equal(norm.weight.detach(), torch.full((5,), 0.1)) and not norm.bias.detach().any()
    x = torch.randn(8, 16, 5) * torch.arange(1, 9.0)[:, None, None] + torch.arange(8.0)[:, None, None]
    out = norm.steps(x, 0) / 0.1  # training: per (step, feature), mean 0 and variance 1 over the batch
    torch.testing.assert_close(out.mean(1), torch.zeros(8, 5), atol=1e-4, rtol=0)
    torch.testing.assert_close(out.var(1, unbiased=False), torch.ones(8, 5), atol=1e-3, rtol=0)
    for t in range(8):  # one step at a time gives the same
        torch.testing.assert_close(norm.step(x[t], t) / 0.1, out[t], atol=1e-4, rtol=1e-4)
    mean, var = norm.running_mean.clone(), norm.running_var.clone()
    assert (mean[5] - mean[0] > 0.5).all() and (var[5] > 2 * var[0]).all()  # step 5's statistics, not step 0's
    norm.eval()
    expected = (x - mean[:, None]) / (var[:, None] + 1e-5).sqrt() * 0.1
    torch.testing.assert_close(norm.steps(x, 0), expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(norm.step(x[7], 12), expected[7])  # beyond the window: the last step's


def test_recurrent_batch_norm_learns_different_statistics_per_time_step_in_a_trainer():
    trainer = Trainer(tiny(cell_norm="batch", steps=6, eval_every=100))
    for _ in trainer.run():
        pass
    stats = trainer.model.cell_norms[0].batch["h"].running_mean
    assert not torch.allclose(stats[0], stats[5])
    assert torch.equal(trainer.model.cell_norms[0].layer["h"].weight.detach(), torch.ones(64))  # unused: as made
    with pytest.raises(ConfigError, match="at least 2"):
        tiny(cell_norm="batch", batch_size=1)
    with pytest.raises(ConfigError, match="at least 2"):
        Trainer(tiny(batch_size=1)).set_knobs(cell_norm="batch")


def test_forget_bias_sets_the_lstm_forget_gates_effective_bias_to_one_and_nothing_else():
    plain, biased = tiny_model(cell="lstm", layers=2), tiny_model(cell="lstm", layers=2, forget_bias=True)
    for a, b in zip(plain.rnns, biased.rnns):
        forget = slice(a.hidden_size, 2 * a.hidden_size)
        assert torch.equal((b.bias_ih_l0 + b.bias_hh_l0)[forget].detach(), torch.ones(a.hidden_size))
        assert not torch.equal((a.bias_ih_l0 + a.bias_hh_l0)[forget], torch.ones(a.hidden_size))
        for name in ("bias_ih_l0", "bias_hh_l0"):
            kept = torch.ones(4 * a.hidden_size, dtype=torch.bool)
            kept[forget] = False
            assert torch.equal(getattr(a, name)[kept], getattr(b, name)[kept])
    assert all(
        torch.equal(p, q)
        for p, q in zip(tiny_model(cell="gru").parameters(), tiny_model(cell="gru", forget_bias=True).parameters())
    )
    assert Config().forget_bias is False


def test_switching_recurrent_dropout_and_cell_norm_mid_run_keeps_training_and_reproduces():
    config = tiny(steps=12, eval_every=4, layers=2, dropout=0.1)
    schedule = {
        3: {"recurrent_dropout": 0.3},
        5: {"recurrent_dropout_kind": "gal"},
        7: {"cell_norm": "batch"},
        9: {"recurrent_dropout": 0.0, "cell_norm": "none"},
    }
    runs = []
    for _ in range(2):
        trainer = Trainer(config)
        params = [id(p) for p in trainer.model.parameters()]
        runs.append([r["train_loss"] for r in trainer.run(schedule=schedule) if r["kind"] == "step"])
        assert [id(p) for p in trainer.model.parameters()] == params
    plain = [r["train_loss"] for r in Trainer(config).run() if r["kind"] == "step"]
    assert runs[0] == runs[1] and len(runs[0]) == 12 and all(map(torch.isfinite, torch.tensor(runs[0])))
    assert runs[0][:2] == plain[:2] and runs[0][2] != plain[2]  # the same run until the knob moved


def strip_cell_norms(saved: dict, count: int) -> dict:
    """`saved` as an explorer from before the explicit cell wrote it."""
    for weights in (saved["model"], saved["best_weights"]):
        for name in [n for n in weights if n.startswith("cell_norms.")]:
            del weights[name]
    del saved["optimizer"]["param_groups"][-1]["params"][-count:]
    for knob in ("recurrent_dropout", "recurrent_dropout_kind", "cell_norm"):
        del saved["knobs"][knob]
    return saved


def test_a_checkpoint_from_before_the_explicit_cell_still_restores(tmp_path):
    config = tiny(steps=12, eval_every=4, layers=2)
    original = Trainer(config)
    for _ in range(6):
        original.step()
    count = sum(1 for name, _ in original.model.named_parameters() if name.startswith("cell_norms."))
    saved = strip_cell_norms(original.checkpoint(), count)
    branch = Trainer(config)
    branch.restore(saved)
    ahead = [r["train_loss"] for r in (original.step() + original.step()) if r["kind"] == "step"]
    assert ahead == [r["train_loss"] for r in (branch.step() + branch.step()) if r["kind"] == "step"]
    branch.restore_best()
    branch.set_knobs(cell_norm="layer")  # the restored norms work
    assert all(r["train_loss"] > 0 for r in branch.step() if r["kind"] == "step")

    path = tmp_path / "old.pt"
    save_checkpoint(path, original.model, original.corpus.vocab, config, 8)
    old = torch.load(path, weights_only=True)
    old["model"] = {k: v for k, v in old["model"].items() if not k.startswith("cell_norms.")}
    torch.save(old, path)
    model, *_ = load_checkpoint(path)
    assert torch.equal(
        model.cell_norms[1].batch["x"].weight, torch.full_like(model.cell_norms[1].batch["x"].weight, 0.1)
    )


def test_sampling_reads_each_token_at_its_window_position_under_recurrent_batch_norm():
    trainer = Trainer(tiny(cell_norm="batch", steps=5, eval_every=100))
    for _ in trainer.run():
        pass
    model = trainer.model.eval()
    ids = torch.randint(0, trainer.vocab_size, (1, 12))
    with torch.no_grad():
        whole = model(ids)[0][0]
        reader = StepReader(model, ids[0, :3].tolist())
        one_at_a_time = [reader.logits]
        for token in ids[0, 3:].tolist():
            reader.read(token)
            one_at_a_time.append(reader.logits)
    torch.testing.assert_close(torch.stack(one_at_a_time), whole[2:], atol=1e-5, rtol=1e-5)
    assert len(generate_ids(model, [1, 2], 40, 1.0, torch.Generator().manual_seed(0))) == 40  # past the window


def test_a_trainer_with_every_cell_knob_records_masks_reach_and_the_status_note():
    config = tiny(
        cell="gru",
        layers=2,
        tie_weights=True,
        attention=True,
        recurrent_dropout=0.4,
        cell_norm="layer",
        weight_drop=0.2,
        steps=4,
        eval_every=2,
        detail_every=2,
    )
    records = list(Trainer(config).run())
    detail = [r for r in records if r["kind"] == "step" and "masks" in r][-1]
    assert {"recurrent.layer1", "recurrent.layer2", "weight_drop.layer1"} <= set(detail["masks"]["sites"])
    assert len(detail["grad_reach"]) == 2 and all(v is not None for v in detail["grad_reach"][0])
    snap = snapshot_of(records)
    line = status_line("running", snap)
    assert "explicit cell (recurrent dropout, layer norm in the cell): slower than the fused GRU" in line
    assert "explicit" not in status_line("running", snapshot_of(list(Trainer(tiny(steps=2)).run())))
    chart = json.dumps(dropout_mask_chart(snap).to_dict(), ensure_ascii=False)
    assert "recurrent dropout on h(t−1), layer 2" in chart and "naive, a new mask at every time step" in chart


@pytest.mark.parametrize(
    "cell, says, never",
    [
        ("rnn", "A vanilla RNN's h is its whole memory", "cell c"),
        ("lstm", "the LSTM's cell c, its memory path, is never masked", "whole memory"),
        ("gru", "the update gate carries the unmasked h(t−1) forward", "whole memory"),
    ],
)
def test_the_mask_chart_says_what_a_naive_mask_costs_the_runs_own_cell(cell, says, never):
    """Naive recurrent dropout erases a vanilla RNN's memory, not an LSTM's (its c is never masked): the note is
    the run's cell's, read from the run's own records."""
    config = tiny(cell=cell, recurrent_dropout=0.3, steps=2, eval_every=2, detail_every=2)
    chart = dropout_mask_chart(snapshot_of(list(Trainer(config).run()))).to_dict()
    notes = " ".join(chart["title"]["subtitle"])  # the notes under the title, wrapped into lines
    assert says in notes and never not in notes


def test_gradient_reach_through_the_explicit_cell_is_the_fused_cells_with_norms_off():
    """In eval mode recurrent dropout draws nothing, so the reach is the fused path's; a cell norm changes it."""
    tokens, targets = torch.randint(0, VOCAB, (1, 10)), torch.randint(0, VOCAB, (1, 10))
    plain = gradient_reach(tiny_model(cell="lstm"), tokens, targets)
    assert gradient_reach(tiny_model(cell="lstm", recurrent_dropout=0.5), tokens, targets) == plain
    assert gradient_reach(tiny_model(cell="lstm", cell_norm="layer"), tokens, targets) != plain


def test_the_cell_runs_on_cuda_when_there_is_one():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    config = tiny(device="cuda", recurrent_dropout=0.3, cell_norm="batch", steps=3, eval_every=3)
    records = list(Trainer(config).run())
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in records if r["kind"] == "step")


def test_the_cell_norm_parameters_are_in_the_norm_group_and_not_penalised():
    model = tiny_model(layers=2)
    cell_norm = {id(p) for p in model.cell_norms.parameters()}
    assert cell_norm <= {id(p) for p in model.param_groups()["norm"]}
    assert cell_norm.isdisjoint(id(p) for p in model.penalised_weights())
