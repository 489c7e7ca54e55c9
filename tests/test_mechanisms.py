"""The mechanism views' measurements, each against its defining property: gradient reach is the autograd
value, the recorded masks are the ones applied, data noising replaces tokens at rate γ by corpus frequency
and never at evaluation, and a test-time dropout rule scales the weights that read the dropout sites."""

import json

import torch
import torch.nn.functional as F
from torch.func import functional_call

from explorer.core.model import RNNLM
from explorer.core.noising import noise_inputs, unigram_distribution
from explorer.core.probes import dropout_sites_scaled, gradient_reach, mask_record
from explorer.core.train import Trainer
from explorer.runs.history import snapshot_of
from explorer.spec.knobs import Config
from explorer.views.mechanism_charts import dropout_mask_chart
from tests.conftest import VOCAB, tiny, tiny_model


def test_a_dropout_sites_scaled_is_the_weights_that_read_the_dropout_sites_scaled():
    """Lesson 10's test-time rules: ×c at the dropout sites of a 1-layer model is its input-to-hidden matrix and
    its decoder's weights ×c (the decoder's bias not); the model goes back to explorer's own rule (×1) after."""
    model = tiny_model(dropout=0.3).eval()
    tokens = torch.randint(0, VOCAB, (2, 7))
    plain = model(tokens)[0]
    rescaled = {"rnns.0.weight_ih_l0": model.rnns[0].weight_ih_l0 * 0.7, "decoder.weight": model.decoder.weight * 0.7}
    by_weights = functional_call(model, rescaled, (tokens,))[0]
    with torch.no_grad(), dropout_sites_scaled(model, 0.7):
        torch.testing.assert_close(model(tokens)[0], by_weights)
    assert not torch.allclose(by_weights, plain)
    torch.testing.assert_close(model(tokens)[0], plain)  # ×1 again
    model.train()
    with dropout_sites_scaled(model, 0.0):  # training is untouched: the masks' own 1/(1−p) scaling
        assert model(tokens)[0].abs().sum() > 0


def test_gradient_reach_is_the_norm_of_the_last_loss_gradient_at_each_earlier_input():
    model = tiny_model(cell="gru", layers=2)
    tokens, targets = torch.randint(0, VOCAB, (1, 10)), torch.randint(0, VOCAB, (1, 10))
    reach = gradient_reach(model, tokens, targets)
    assert model.training  # put back as found
    assert all(p.grad is None for p in model.parameters())  # the run's gradients are not touched

    model.eval()  # by hand: the same network, its first layer's input made a leaf
    embedded = model.embedding(tokens).detach().requires_grad_()
    hidden, _ = model.rnns[0](embedded)
    hidden2 = hidden.detach().requires_grad_()
    out, _ = model.rnns[1](hidden2)
    loss = F.cross_entropy(model.decoder(out)[:, -1], targets[:, -1])
    (top,) = torch.autograd.grad(loss, hidden2)
    first = torch.autograd.grad(hidden, embedded, top)[0]  # chain rule through layer 1
    for layer, grad in zip(reach, (first, top)):
        assert len(layer) == 10
        torch.testing.assert_close(torch.tensor(layer), grad[0].norm(dim=-1), rtol=1e-3, atol=1e-12)


def test_gradient_reach_of_the_last_position_includes_its_own_input_only_through_the_recurrence():
    """The reach at distance 0 is the direct path; nothing after the last position exists to reach."""
    model = tiny_model(cell="rnn")
    reach = gradient_reach(model, torch.randint(0, VOCAB, (1, 6)), torch.randint(0, VOCAB, (1, 6)))[0]
    assert reach[-1] > 0 and all(v is not None for v in reach)


def test_recorded_masks_are_exactly_the_ones_the_training_forward_applied():
    p, pe, pw = 0.4, 0.3, 0.5
    model = tiny_model(dropout=p, embed_dropout=pe, weight_drop=pw)
    tokens = torch.randint(0, VOCAB, (2, 9))
    model.train()
    model.taps = {}
    logits, _ = model(tokens)
    record = mask_record(model.taps, model_knobs(model), tokens[0], [str(i) for i in range(VOCAB)])
    sites = record["sites"]
    assert set(sites) == {"embedding", "input", "weight_drop.layer1", "layer1"}

    def grid(site: str) -> torch.Tensor:
        return torch.tensor([[int(c) for c in row] for row in sites[site]["rows"]], dtype=torch.float32)

    # replay the first sequence with the recorded masks, no random draws
    with torch.no_grad():
        kept_words = grid("embedding")[0] / (1 - pe)  # per position: was this token's row dropped?
        x = model.embedding(tokens[:1]) * kept_words[None, :, None]
        x = x * grid("input").T[None] / (1 - p)
        rnn = model.rnns[0]
        weight = rnn.weight_hh_l0 * grid("weight_drop.layer1") / (1 - pw)
        out, _ = functional_call(rnn, {"weight_hh_l0": weight}, (x, None))
        replay = model.decoder(out * grid("layer1").T[None] / (1 - p))
    torch.testing.assert_close(replay[0], logits[0].detach(), rtol=1e-5, atol=1e-6)


def model_knobs(model: RNNLM) -> dict:
    return {
        "dropout": model.dropout,
        "dropout_kind": model.dropout_kind,
        "embed_dropout": model.embed_dropout,
        "weight_drop": model.weight_drop,
    }


def test_locked_masks_are_constant_over_time_and_standard_ones_are_not():
    for kind in ("locked", "standard"):
        model = tiny_model(dropout=0.5, dropout_kind=kind, layers=2)
        model.train()
        model.taps = {}
        model(torch.randint(0, VOCAB, (3, 40)))
        sites = mask_record(model.taps, model_knobs(model), torch.zeros(40, dtype=torch.long), ["a"] * VOCAB)["sites"]
        for site in ("input", "layer1", "layer2"):
            rows = sites[site]["rows"]
            units = 6 if site == "input" else 8  # the embedding's units, then each layer's
            assert len(rows) == units and all(len(row) == 40 for row in rows)  # units × time
            constant = all(set(row) in ({"0"}, {"1"}) for row in rows)
            assert constant == (kind == "locked"), (kind, site)


def test_a_detail_step_records_masks_and_reach_and_other_steps_do_not():
    trainer = Trainer(tiny(dropout=0.3, detail_every=2, steps=4, eval_every=100))
    steps = [r for r in trainer.run() if r["kind"] == "step"]
    assert ["masks" in r for r in steps] == [False, True, False, True]
    assert ["grad_reach" in r for r in steps] == [False, True, False, True]
    assert len(steps[1]["grad_reach"]) == trainer.config.layers
    assert len(steps[1]["grad_reach"][0]) == trainer.config.seq_len
    assert trainer.model.taps is None
    no_dropout = Trainer(tiny(detail_every=2, steps=2, eval_every=100))
    assert not any("masks" in r for r in no_dropout.run())


# --------------------------------------------------------------------------- data noising
def test_noising_replaces_a_share_gamma_of_tokens_with_unigram_draws():
    corpus = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    unigram = unigram_distribution(corpus, 4)
    assert unigram.tolist() == [0.7, 0.2, 0.1, 0.0]
    x = torch.full((400, 500), 3)  # a token that never occurs in the corpus: any other value was drawn
    noised, blank = noise_inputs(x, 0.25, "unigram", unigram, torch.Generator().manual_seed(0))
    assert blank is None
    replaced = noised != 3
    assert abs(replaced.float().mean().item() - 0.25) < 0.005
    drawn = torch.bincount(noised[replaced], minlength=4).double() / replaced.sum()
    torch.testing.assert_close(drawn, unigram, atol=0.005, rtol=0)


def test_blank_noising_marks_a_share_gamma_and_the_model_reads_the_blank_embedding_there():
    x = torch.randint(0, VOCAB, (200, 300))
    same, blank = noise_inputs(x, 0.1, "blank", torch.ones(VOCAB) / VOCAB, torch.Generator().manual_seed(1))
    assert torch.equal(same, x) and abs(blank.float().mean().item() - 0.1) < 0.005
    model = tiny_model()
    with torch.no_grad():
        model.blank.fill_(7.0)
    model.taps = {}
    model.eval()
    model(x[:2, :20], blank=blank[:2, :20])
    embedded = model.taps["input.layer1"]
    assert (embedded[blank[:2, :20]] == 7.0).all() and not (embedded[~blank[:2, :20]] == 7.0).any()


def test_noise_zero_draws_nothing_and_evaluation_never_noises():
    x = torch.randint(0, VOCAB, (4, 5))
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    assert noise_inputs(x, 0.0, "unigram", torch.ones(VOCAB), generator) == (x, None)
    assert torch.equal(generator.get_state(), before)

    config = tiny(steps=3, eval_every=100)
    noisy, plain = Trainer(config.replace(noise=0.5)), Trainer(config)
    assert noisy.mean_loss(noisy.valid_stream, 2) == plain.mean_loss(plain.valid_stream, 2)
    for _ in noisy.run():
        pass
    for _ in plain.run():
        pass
    assert noisy.mean_loss(noisy.valid_stream, 2) != plain.mean_loss(plain.valid_stream, 2)  # it did train noised


def test_noise_is_a_live_knob_in_the_records_and_reproducible():
    config = tiny(steps=6, eval_every=3, noise=0.2, noise_kind="blank")
    first, second = list(Trainer(config).run()), list(Trainer(config).run())
    losses = [r["train_loss"] for r in first if r["kind"] == "step"]
    assert losses == [r["train_loss"] for r in second if r["kind"] == "step"]
    assert all(r["noise"] == 0.2 and r["noise_kind"] == "blank" for r in first if r["kind"] in ("step", "eval"))
    assert Config().replace(noise="0.3").noise == 0.3


def test_the_reach_view_separates_a_vanilla_rnn_from_an_lstm_by_three_decades_at_distance_50():
    """The same setup, only the cell differs: 50 steps back the RNN's gradient has vanished, the LSTM's not."""
    config = tiny(hidden=64, embed=32, seq_len=64, batch_size=8, steps=60, eval_every=1000, detail_every=20)
    at_50 = {}
    for cell in ("rnn", "lstm"):
        steps = [r for r in Trainer(config.replace(cell=cell)).run() if r["kind"] == "step" and "grad_reach" in r]
        reach = steps[-1]["grad_reach"][0]
        at_50[cell] = reach[len(reach) - 1 - 50] or 0.0
    assert at_50["lstm"] > 1000 * at_50["rnn"], at_50


def test_the_embedding_dropout_panel_names_its_tokens_and_gives_a_word_room():
    def panel(level: str) -> dict:
        config = tiny(level=level, embed_dropout=0.3, steps=2, eval_every=100, detail_every=2)
        return dropout_mask_chart(snapshot_of(list(Trainer(config).run()))).to_dict()

    char, word = panel("char"), panel("word")
    heading = "embedding dropout: whole words (here characters) zeroed"
    assert heading in json.dumps(char, ensure_ascii=False) and heading not in json.dumps(word, ensure_ascii=False)

    def tokens_per_line(chart: dict) -> int:
        rows = next(rows for rows in chart["datasets"].values() if rows and "token" in rows[0])
        return max(row["x"] for row in rows) + 1

    assert tokens_per_line(word) < tokens_per_line(char) == 16  # 16 characters fit a line; 16 words wrap


def test_orthogonal_recurrent_weights_alone_lift_the_vanilla_rnns_reach_in_most_seeds_not_all():
    """Lesson 9's first experiment, at its length (300 steps of the long-range preset), over seeds 0-4: the arm that
    changes only W_hh (explorer.core.model: orthogonal) reaches further back 50 steps than the plain RNN in most seeds
    but not all, by factors from under 1 to over 10,000, as the lesson says (4 of 5 at this suite's one thread;
    which seeds flip depends on float rounding, so the count may be 3 where another thread count trains them)."""
    from explorer.spec.presets import preset_config

    def reach50(seed: int, init: str) -> float:
        config = preset_config("long-range").replace(steps=300, detail_every=50, eval_every=300, seed=seed, init=init)
        latest = [r for r in Trainer(config).run() if r.get("grad_reach")][-1]["grad_reach"][0]
        return latest[len(latest) - 1 - 50] or 1e-300

    ratios = [reach50(seed, "orthogonal") / reach50(seed, "default") for seed in range(5)]
    assert 3 <= sum(ratio > 1 for ratio in ratios) <= 4, ratios
    assert min(ratios) < 1 and max(ratios) > 1e4, ratios
