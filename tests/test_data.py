import os

import pytest
import torch

from explorer.core.data import (
    BLOCK,
    UNK,
    BatchStream,
    Corpus,
    CorpusError,
    bundled_text,
    interleaved_split,
    spread_share,
    tokenize,
)
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


def test_the_contiguous_split_is_reading_order_90_5_5():
    text = bundled_text("tinyshakespeare")
    train_end = int(0.9 * len(text))
    valid_end = train_end + int(0.05 * len(text))
    corpus = Corpus.from_config(tiny(train_fraction=1.0, split="contiguous"))
    decoded = [corpus.vocab.decode(part.tolist(), "char") for part in (corpus.train, corpus.valid, corpus.test)]
    assert decoded == [text[:train_end], text[train_end:valid_end], text[valid_end:]]


def test_the_interleaved_split_deals_disjoint_blocks_18_1_1():
    positions = [str(i) for i in range(123_456)]  # each token names its own position
    train, valid, test = ([int(t) for t in part] for part in interleaved_split(positions))
    assert sorted(train + valid + test) == list(range(123_456))  # disjoint, nothing lost
    blocks = [{p // BLOCK for p in part} for part in (train, valid, test)]
    assert all(a.isdisjoint(b) for a, b in [(blocks[0], blocks[1]), (blocks[0], blocks[2]), (blocks[1], blocks[2])])
    assert [len(part) / len(positions) for part in (train, valid, test)] == pytest.approx([0.9, 0.05, 0.05], abs=0.01)
    assert train == sorted(train) and valid[:3] == [18 * BLOCK, 18 * BLOCK + 1, 18 * BLOCK + 2]


def test_an_interleaved_corpus_is_deterministic_and_held_out_text_comes_from_throughout():
    first = Corpus.from_config(tiny(train_fraction=1.0, split="interleaved"))
    again = Corpus.build("tinyshakespeare", "char", False, 10_000, 1.0, "interleaved")  # not the cached one
    assert all(
        torch.equal(a, b)
        for a, b in zip((first.train, first.valid, first.test), (again.train, again.valid, again.test))
    )
    contiguous = Corpus.from_config(tiny(train_fraction=1.0))
    total = len(first.train) + len(first.valid) + len(first.test)
    assert total == len(contiguous.train) + len(contiguous.valid) + len(contiguous.test)
    assert [len(first.train) / total, len(first.valid) / total] == pytest.approx([0.9, 0.05], abs=0.005)
    text = bundled_text("tinyshakespeare")
    opening = first.vocab.decode(first.valid[:200].tolist(), "char")
    assert opening == text[18 * BLOCK : 18 * BLOCK + 200]  # valid starts in the first plays, not at the end
    small = Corpus.from_config(tiny(train_fraction=0.1, split="interleaved"))
    assert len(small.train) == int(len(first.train) * 0.1) and torch.equal(small.valid, first.valid)


def test_a_share_of_an_interleaved_training_split_is_whole_blocks_spread_over_the_book():
    train = [str(i) for i in range(100 * BLOCK)]  # each token names its place in the training split
    share = [int(t) for t in spread_share(train, 5 * BLOCK + 7)]
    assert len(share) == 5 * BLOCK + 7
    starts = sorted({p // BLOCK for p in share})
    assert starts == [0, 16, 33, 50, 66, 83]  # six blocks, from the opening to the end
    assert spread_share(train, len(train)) == train  # the whole split: every block, in reading order


def test_a_test_split_too_small_for_one_batch_is_named(tmp_path):
    for part, text in [("train", "abc " * 400), ("valid", "cab " * 200), ("test", "bca " * 10)]:
        (tmp_path / f"{part}.txt").write_text(text)
    with pytest.raises(CorpusError, match="the test split has 40 tokens but one batch needs"):
        Corpus.from_config(tiny(corpus=str(tmp_path), train_fraction=1.0))


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
    from explorer.core.data import save_upload

    first = save_upload(b"first student's notes\n" * 100, tmp_path, "notes.txt")
    second = save_upload(b"second student's notes\n" * 100, tmp_path, "notes.txt")
    assert first != second and first.read_bytes().startswith(b"first") and second.read_bytes().startswith(b"second")
    assert save_upload(b"first student's notes\n" * 100, tmp_path, "other.txt") == first  # same text, stored once
    os.utime(first, (1, 1))  # the least recently used
    third = save_upload(b"x" * 3000, tmp_path, "big.txt", budget_bytes=5500)  # 2200 + 2300 + 3000 bytes
    assert not first.exists() and second.exists() and third.exists()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".txt", ".txt"]  # no partial files left
