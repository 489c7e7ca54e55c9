"""The memorisation meter: exact counts on hand-built texts, and a measurement that leaves training alone."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from explorer.core.data import Corpus, Vocab, tokenize
from explorer.core.memorisation import (
    MemorisationMeter,
    NgramIndex,
    copied_spans,
    found_ngrams,
    ngram_index,
    token_offsets,
)
from explorer.core.sample import generate, generate_ids, prompt_ids
from explorer.core.train import Trainer
from explorer.spec.errors import ConfigError
from tests.conftest import tiny

FIELDS = {"copied_share", "copied_share_valid", "longest_copy", "sample", "sample_copied"}


def char_corpus(train: str, valid: str) -> Corpus:
    vocab = Vocab(sorted(set(train + valid + "\n")))
    return Corpus(vocab, vocab.encode(list(train)), vocab.encode(list(valid)), vocab.encode(list(valid)), "char")


def index_of(text: str, n: int) -> tuple[NgramIndex, Vocab]:
    vocab = Vocab(sorted(set(text + "xyz")))
    return NgramIndex(vocab.encode(list(text)).numpy(), n, len(vocab)), vocab


def encode(vocab: Vocab, text: str) -> np.ndarray:
    return vocab.encode(list(text)).numpy()


class Scripted(nn.Module):
    """A model that writes a given token sequence (its logits put all the mass on the next one), so the
    meter's bookkeeping can be checked against a known sample. A recurrent model: no attention."""

    attention = None
    window = 16  # the training window sampling counts positions in

    def __init__(self, script: list[int], vocab_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.script, self.vocab_size = script, vocab_size

    def forward(self, tokens: torch.Tensor, state=None, start: int = 0):
        position = 0 if state is None else state
        logits = torch.zeros(1, tokens.size(1), self.vocab_size)
        logits[0, -1, self.script[position % len(self.script)]] = 1e4
        return logits, position + 1


# ------------------------------------------------------------------------------------- the index


def test_copied_share_is_exact_on_a_hand_built_text():
    index, vocab = index_of("abcdefghij", 4)
    sample = encode(vocab, "abcdxyzghij")  # 8 four-grams: abcd and ghij are in the text
    found = found_ngrams(index.matches(sample), 4)
    assert found.tolist() == [True] + [False] * 6 + [True]
    assert found.mean() == 2 / 8


def test_the_texts_last_tokens_count_and_padding_never_matches():
    index, vocab = index_of("abcdefgh", 4)
    assert index.matches(encode(vocab, "fghx")).tolist() == [3, 2, 1, 0]  # "fgh" ends the text
    assert index.matches(encode(vocab, "gh")).tolist() == [2, 1]
    assert found_ngrams(index.matches(encode(vocab, "gh")), 4).tolist() == []  # shorter than n: no n-grams
    assert index.matches(encode(vocab, "")).tolist() == []


def test_longest_copy_is_exact():
    index, vocab = index_of("the cat sat on the mat; a dog ran", 4)
    assert index.longest_copy(encode(vocab, "xxcat sat onxx the mat; ayy")) == len(" the mat; a")
    assert index.longest_copy(encode(vocab, "xyzxyzxyz")) == 0
    assert index.longest_copy(encode(vocab, "zzat zz")) == 3  # below n: the largest match
    # every 3-gram of "abcde" is in the text, yet "abcde" is not: the run is searched, not trusted
    index, vocab = index_of("abcdXbcdeY", 3)
    assert index.longest_copy(encode(vocab, "abcde")) == 4


@pytest.mark.parametrize("n, alphabet, vocab_size", [(3, "ab", 2), (4, "abc", 3), (5, "abcd", 300)])
def test_matches_and_longest_copy_agree_with_brute_force(n, alphabet, vocab_size):
    """Wide vocabularies use two bytes a token (with zero bytes inside keys): the order must still hold."""
    rng = random.Random(n)
    text = "".join(rng.choice(alphabet) for _ in range(300))
    index = NgramIndex(np.array([alphabet.index(c) for c in text]), n, vocab_size)
    for _ in range(30):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        ids = np.array([alphabet.index(c) for c in sample])
        found_from = [
            max(k for k in range(len(sample) - i + 1) if sample[i : i + k] in text) for i in range(len(sample))
        ]
        assert index.matches(ids).tolist() == [min(n, k) for k in found_from]
        assert index.longest_copy(ids) == max(found_from)


def test_the_index_is_built_once_per_tensor_and_n():
    tokens = torch.tensor([0, 1, 2, 3, 0, 1])
    assert ngram_index(tokens, 3, 4) is ngram_index(tokens, 3, 4)
    assert ngram_index(tokens, 2, 4) is not ngram_index(tokens, 3, 4)


def test_copied_spans_merge_overlapping_and_touching_ngrams():
    found = np.zeros(12, dtype=bool)
    found[[0, 1, 6, 9]] = True  # n = 3: tokens 0-3 (overlapping), 6-8 and 9-11 (touching)
    assert copied_spans(found, 3) == [(0, 4), (6, 12)]
    assert copied_spans(np.zeros(5, dtype=bool), 3) == []


def test_token_offsets_follow_how_words_are_decoded():
    vocab = Vocab(["<unk>", "<eos>", "the", "cat", "sat", "on"])
    ids = vocab.encode(["the", "cat", "<eos>", "sat", "<eos>", "<eos>", "on"]).tolist()
    text = vocab.decode(ids, "word")
    pieces = [vocab.decode([i], "word") for i in ids]
    offsets = token_offsets(text, pieces)
    assert [text[start:end] for start, end in offsets] == pieces
    assert offsets[-1] == (len(text) - 2, len(text))


# ------------------------------------------------------------------------------------- the meter


def test_the_meter_measures_a_known_word_sample():
    train = "the cat sat on the mat\na dog ran to the park\n"
    valid = "the dog sat on a log\n"
    tokens = [tokenize(t, "word", lowercase=False) for t in (train, valid)]
    vocab = Vocab(["<unk>"] + sorted(set(tokens[0] + tokens[1])))
    corpus = Corpus(vocab, vocab.encode(tokens[0]), vocab.encode(tokens[1]), vocab.encode(tokens[1]), "word")
    words = "a dog ran to the mat <eos> the dog sat on a log".split()
    meter = MemorisationMeter(corpus, n=3, length=len(words))
    record = meter.measure(Scripted(vocab.encode(words).tolist(), len(vocab)))
    assert set(record) == FIELDS
    assert record["sample"] == "a dog ran to the mat\nthe dog sat on a log"
    # in train: "a dog ran", "dog ran to", "ran to the" and "the mat <eos>", so tokens 0-6 are highlighted
    assert record["sample_copied"] == [[0, len("a dog ran to the mat\n")]]
    assert record["copied_share"] == 4 / 11
    assert record["copied_share_valid"] == 4 / 11  # "the dog sat", "dog sat on", "sat on a", "on a log"
    assert record["longest_copy"] == 5  # "a dog ran to the": "to the mat" is not in the text


def test_a_real_tiny_model_gives_shares_in_range_and_a_repeatable_sample():
    trainer = Trainer(tiny(steps=30))
    trainer.run()
    meter = MemorisationMeter(trainer.corpus)
    record = meter.measure(trainer.model)
    assert set(record) == FIELDS
    assert 0 <= record["copied_share"] <= 1 and 0 <= record["copied_share_valid"] <= 1
    assert 0 <= record["longest_copy"] <= meter.length and len(record["sample"]) == meter.length
    assert all(0 <= start < end <= meter.length for start, end in record["sample_copied"])
    assert meter.measure(trainer.model) == record


def test_measuring_leaves_the_training_run_as_it_was():
    """A run measured mid-way takes exactly the same steps as one that was not (dropout draws included)."""
    measured, plain = Trainer(tiny(dropout=0.3)), Trainer(tiny(dropout=0.3))
    for trainer in (measured, plain):
        for _ in range(3):
            trainer.step()
    meter = MemorisationMeter(measured.corpus, length=50)
    global_rng = torch.random.get_rng_state()
    hidden = [h.clone() for layer in measured.state for h in (layer if isinstance(layer, tuple) else (layer,))]
    for training in (True, False):
        measured.model.train(training)
        meter.measure(measured.model)
        assert measured.model.training is training
    measured.model.train()
    assert torch.equal(torch.random.get_rng_state(), global_rng)
    after = [h for layer in measured.state for h in (layer if isinstance(layer, tuple) else (layer,))]
    assert all(torch.equal(a, b) for a, b in zip(hidden, after))
    for _ in range(3):
        assert measured.step()[0]["train_loss"] == plain.step()[0]["train_loss"]


def test_meter_settings_are_checked_up_front():
    corpus = char_corpus("abcdefghij", "abcxyz")
    assert MemorisationMeter(corpus).n == 12 and MemorisationMeter(corpus).length == 200
    with pytest.raises(ConfigError, match="n-gram size"):
        MemorisationMeter(corpus, n=20, length=10)
    with pytest.raises(ConfigError, match="temperature"):
        MemorisationMeter(corpus, temperature=0)


def test_generate_is_the_prompt_and_the_one_sampling_loop():
    trainer = Trainer(tiny())
    vocab, model = trainer.corpus.vocab, trainer.model
    ids = generate_ids(model, prompt_ids(vocab, "char", "KING"), 30, 0.8, torch.Generator().manual_seed(7))
    assert generate(model, vocab, "char", "KING", 30, 0.8, seed=7) == "KING" + vocab.decode(ids, "char")
