import os

import pytest
import torch

from explorer.data import UNK, BatchStream, Corpus, CorpusError, tokenize
from tests.conftest import tiny


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"caf\xe9 au lait " * 100, "not UTF-8"),
    ],
)
def test_bad_files_are_refused_with_a_reason(text_file, content, words):
    path = text_file(content)
    with pytest.raises(CorpusError, match=words):
        Corpus.from_config(tiny(corpus=str(path)))


def test_missing_file_and_unknown_name():
    with pytest.raises(CorpusError, match="not found"):
        Corpus.from_config(tiny(corpus="/nowhere/at/all.txt"))
    with pytest.raises(CorpusError, match="unknown corpus 'sonnets'"):
        Corpus.from_config(tiny(corpus="sonnets"))


def test_corpus_shorter_than_one_batch(text_file):
    path = text_file("To be or not to be. " * 10)
    with pytest.raises(CorpusError, match=r"one batch needs batch_size × \(seq_len \+ 1\)"):
        Corpus.from_config(tiny(corpus=str(path), batch_size=32, seq_len=64, train_fraction=1.0))


def test_split_is_deterministic_and_train_fraction_shrinks_only_training():
    full = Corpus.from_config(tiny(train_fraction=1.0))
    again = Corpus.from_config(tiny(train_fraction=1.0))
    small = Corpus.from_config(tiny(train_fraction=0.1))
    assert torch.equal(full.train, again.train) and torch.equal(full.valid, again.valid)
    assert len(small.train) == int(len(full.train) * 0.1)
    assert torch.equal(small.train, full.train[: len(small.train)])
    assert torch.equal(small.valid, full.valid)
    total = len(full.train) + len(full.valid) + len(full.test)
    assert abs(len(full.train) / total - 0.9) < 0.001


def test_word_level_lowercase_and_vocab_cap(text_file):
    path = text_file(("The cat sat on the mat . the dog sat too\n" * 200) + "Rare words here\n" * 30)
    corpus = Corpus.from_config(
        tiny(corpus=str(path), level="word", lowercase=True, vocab_size=5, train_fraction=1.0, batch_size=2, seq_len=4)
    )
    assert len(corpus.vocab) == 5 and corpus.vocab.itos[0] == UNK
    assert "the" in corpus.vocab.stoi and "The" not in corpus.vocab.stoi
    assert (corpus.valid == corpus.vocab.stoi[UNK]).any()  # "rare words here" fall outside the cap
    assert tokenize("a b\nc", "word", False) == ["a", "b", "<eos>", "c", "<eos>"]


def test_ready_split_folder_is_kept_as_given(tmp_path):
    for part, text in [("train", "abc " * 400), ("valid", "cab " * 200), ("test", "bca " * 200)]:
        (tmp_path / f"toy.{part}.txt").write_text(text)
    corpus = Corpus.from_config(tiny(corpus=str(tmp_path), train_fraction=1.0))
    assert len(corpus.train) == 1600 and len(corpus.valid) == 800 and len(corpus.test) == 800
    assert corpus.vocab.decode(corpus.valid[:4].tolist(), "char") == "cab "


def test_batches_continue_each_row_for_truncated_bptt():
    data = torch.arange(100)
    stream = BatchStream(data, batch_size=2, seq_len=5, device=torch.device("cpu"))
    x0, y0, first = stream.next()
    x1, _, again = stream.next()
    assert first and not again
    assert torch.equal(y0[:, :-1], x0[:, 1:])  # targets are the inputs shifted by one
    assert torch.equal(x1[:, 0], x0[:, -1] + 1)  # each row continues where it stopped
    assert stream.batches_per_epoch == (50 - 1) // 5


def test_uploads_are_named_by_content_and_the_folder_is_bounded(tmp_path):
    from explorer.data import save_upload

    first = save_upload(b"first student's notes\n" * 100, tmp_path, "notes.txt")
    second = save_upload(b"second student's notes\n" * 100, tmp_path, "notes.txt")
    assert first != second and first.read_bytes().startswith(b"first") and second.read_bytes().startswith(b"second")
    assert save_upload(b"first student's notes\n" * 100, tmp_path, "other.txt") == first  # same text, stored once
    os.utime(first, (1, 1))  # the least recently used
    third = save_upload(b"x" * 3000, tmp_path, "big.txt", budget_bytes=5500)  # 2200 + 2300 + 3000 bytes
    assert not first.exists() and second.exists() and third.exists()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".txt", ".txt"]  # no partial files left
