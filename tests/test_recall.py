"""The recall corpus, its measure, and attention: what the long-range lesson rests on."""

import math

import torch
import torch.nn.functional as F

from explorer.core.data import Corpus
from explorer.core.model import RNNLM
from explorer.core.recall import recall_loss_by_distance
from explorer.core.recall_corpus import DISTANCES, KEYS, QUERY, recall_targets, recall_text
from explorer.spec.knobs import Config
from tests.conftest import tiny


def test_the_generated_text_is_the_same_every_time_and_each_recall_repeats_its_key():
    text = recall_text()
    assert text == recall_text.__wrapped__()  # regenerated, not only the cached copy
    assert 200_000 <= len(text) <= 500_000
    targets = recall_targets(text)
    assert len(targets) == text.count("\n") - 1  # every line but the first (no line break before it)
    assert {k for _, k in targets} == set(DISTANCES)
    for index, k in targets:
        assert text[index - 1] == QUERY and text[index] in KEYS
        assert text[index] == text[index - k - 2]  # the key, k filler characters and the query earlier
        assert text[index - k - 3] == "\n"


def test_recall_is_a_bundled_corpus():
    corpus = Corpus.from_config(Config(corpus="recall"))
    assert set(corpus.vocab.itos) == {*KEYS, QUERY, "\n"}
    assert corpus.vocab.decode(corpus.valid[:200].tolist(), "char") in recall_text()


def make(**changes) -> RNNLM:
    torch.manual_seed(0)
    return RNNLM(10, tiny(**changes))


def test_attention_is_causal():
    model = make(attention=True, layers=2).eval()
    tokens = torch.randint(0, 10, (3, 12))
    later = tokens.clone()
    later[:, 7:] = (later[:, 7:] + 1) % 10
    before, after = model(tokens)[0], model(later)[0]
    assert torch.equal(before[:, :7], after[:, :7])
    assert not torch.allclose(before[:, 7:], after[:, 7:])


def test_attention_off_leaves_the_model_as_it_was():
    plain = make(cell="gru", layers=2, dropout=0.3).state_dict()
    off = make(cell="gru", layers=2, dropout=0.3, attention=False).state_dict()
    on = make(cell="gru", layers=2, dropout=0.3, attention=True)
    assert off.keys() == plain.keys() and all(torch.equal(off[k], plain[k]) for k in plain)
    # attention is drawn after every other weight: switching it on leaves those weights as they were
    assert all(torch.equal(on.state_dict()[k], plain[k]) for k in plain)
    assert set(on.param_groups()["attention"]) == set(on.attention.parameters())
    penalised = {id(p) for p in on.penalised_weights()}
    assert id(on.attention.query.weight) in penalised and id(on.attention.recency) not in penalised
    assert "attention" not in make().param_groups()


def test_attention_keeps_the_decoder_size_with_tied_weights():
    model = make(attention=True, tie_weights=True, hidden=16, embed=8)
    logits, _ = model(torch.randint(0, 10, (2, 5)))
    assert logits.shape == (2, 5, 10)


class Oracle(torch.nn.Module):
    """Perfect memory: it holds the key of the line it is reading and predicts it right after the query
    (and nothing anywhere else)."""

    def __init__(self, vocab):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # the measure reads the device from a parameter
        self.newline, self.query, self.size = vocab.stoi["\n"], vocab.stoi[QUERY], len(vocab)

    def forward(self, tokens, state=None):
        key, previous = (tokens[:, 0], tokens[:, 0]) if state is None else state
        logits = torch.zeros(*tokens.shape, self.size)
        for t in range(tokens.size(1)):
            token = tokens[:, t]
            key = torch.where(previous == self.newline, token, key)
            logits[:, t] = 100.0 * F.one_hot(key, self.size) * (token == self.query)[:, None]
            previous = token
        return logits, (key, previous)


def test_recall_loss_by_distance_reads_every_distance_and_rewards_memory():
    config = tiny(corpus="recall", seq_len=32, batch_size=8)
    corpus = Corpus.from_config(config)
    guessing = recall_loss_by_distance(make(), corpus, config.seq_len, config.batch_size)
    assert list(guessing) == list(DISTANCES)
    assert all(1.5 < loss < 3.5 for loss in guessing.values())  # near ln 8: it cannot know the key
    perfect = recall_loss_by_distance(Oracle(corpus.vocab), corpus, config.seq_len, config.batch_size)
    assert all(loss < 1e-3 for loss in perfect.values())
    same = recall_loss_by_distance(Oracle(corpus.vocab), corpus, config.seq_len, config.batch_size, window="same")
    assert math.isnan(same[45])  # a 32-token window cannot hold a key 45 characters back
    assert all(loss < 1e-3 for k, loss in same.items() if k < 30)
