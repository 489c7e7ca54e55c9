"""Each regulariser's defining property, checked on the real model."""

import torch

from explorer.core.model import RNNLM, dropout_mask
from tests.conftest import tiny


def make(**changes) -> RNNLM:
    torch.manual_seed(0)
    return RNNLM(20, tiny(**changes))


def test_dropout_zeroes_a_fraction_p_and_scales_the_rest_to_keep_the_mean():
    x = torch.ones(200, 50, 10)
    mask = dropout_mask(x, x.shape, 0.3, torch.Generator().manual_seed(0))
    kept = mask[mask > 0]
    assert torch.allclose(kept, torch.full_like(kept, 1 / 0.7))
    assert abs((mask == 0).float().mean().item() - 0.3) < 0.01
    assert abs(mask.mean().item() - 1.0) < 0.02


def test_locked_dropout_uses_one_mask_for_every_time_step():
    model = make(dropout=0.5, dropout_kind="locked")
    model.generator = torch.Generator().manual_seed(1)
    out = model._drop(torch.ones(8, 30, 16), "input")
    assert torch.equal(out, out[:, :1, :].expand_as(out))
    assert (out[:, 0, :] == 0).any() and (out[:, 0, :] == 2).any()


def test_standard_dropout_draws_a_new_mask_at_each_time_step():
    model = make(dropout=0.5)
    model.train()
    out = model._drop(torch.ones(8, 30, 16), "input")
    assert not torch.equal(out[:, 0, :], out[:, 1, :])


def test_embedding_dropout_drops_whole_words():
    model = make(embed_dropout=0.5)
    model.generator = torch.Generator().manual_seed(0)
    tokens = torch.arange(20).repeat(5, 1)
    out = model._embed(tokens, blank=None)
    dropped = (out == 0).all(dim=-1)
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[0].expand_as(dropped))  # the same word is dropped everywhere


def test_evaluation_ignores_every_dropout_knob():
    tokens = torch.randint(0, 20, (4, 12))
    plain = make().eval()
    noisy = make(dropout=0.6, embed_dropout=0.3, weight_drop=0.5, dropout_kind="locked").eval()
    assert torch.equal(plain(tokens)[0], noisy(tokens)[0])
    noisy.train()
    assert not torch.equal(plain(tokens)[0], noisy(tokens)[0])


def test_weight_drop_drops_recurrent_connections_only_in_training():
    model = make(weight_drop=0.5, cell="gru", layers=2)
    tokens = torch.randint(0, 20, (4, 12))
    model.train()
    a, _ = model(tokens)
    b, _ = model(tokens)
    assert not torch.equal(a, b)
    (a.sum()).backward()
    assert model.rnns[0].weight_hh_l0.grad is not None  # the raw weight still learns


def test_switching_normalisation_never_changes_the_parameter_list():
    model = make(layers=2)
    before = [id(p) for p in model.parameters()]
    tokens = torch.randint(0, 20, (4, 12))
    plain, _ = model(tokens)
    model.apply_knobs({**tiny().live(), "batchnorm": True})
    with_bn, _ = model(tokens)
    model.apply_knobs({**tiny().live(), "layernorm": True})
    with_ln, _ = model(tokens)
    assert [id(p) for p in model.parameters()] == before
    assert not torch.allclose(plain, with_bn) and not torch.allclose(plain, with_ln)


def test_weight_tying_shares_one_matrix():
    model = make(tie_weights=True, hidden=16, embed=8, layers=2)
    assert model.decoder.weight is model.embedding.weight
    assert model.rnns[-1].hidden_size == 8


def test_uniform_init_is_word_language_models_embedding_and_decoder_and_leaves_the_cells_as_pytorchs():
    model, default = make(init="uniform", layers=2), make(layers=2)
    for weight in (model.embedding.weight, model.decoder.weight):
        assert weight.abs().max() <= 0.1 and weight.std() > 0.05  # uniform(±0.1): std 0.058
    assert default.embedding.weight.std() > 0.8  # PyTorch's N(0, 1)
    assert not model.decoder.bias.any()
    bound = 1 / 16**0.5  # PyTorch's uniform(±1/√H) for the cells
    assert all(p.abs().max() <= bound for rnn in model.rnns for p in rnn.parameters())


def test_orthogonal_init_gives_orthogonal_recurrent_blocks_and_changes_nothing_else():
    """A lesson compares it with the default init and credits the recurrent matrix: nothing else may differ."""
    model = make(init="orthogonal", cell="lstm")
    block = model.rnns[0].weight_hh_l0.data.chunk(4, 0)[0]
    assert torch.allclose(block @ block.T, torch.eye(16), atol=1e-5)
    plain = make(init="default", cell="lstm")
    differs = {name for name, value in model.state_dict().items() if not torch.equal(value, plain.state_dict()[name])}
    assert differs == {"rnns.0.weight_hh_l0"}
