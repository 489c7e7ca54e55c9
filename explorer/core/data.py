"""Corpora, tokenisers, the train/validation/test split, and batches for truncated BPTT.

Everything here is deterministic: the same corpus and config give the same split, vocabulary and
batch order, so two runs that differ by one knob see exactly the same data.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import torch

from explorer.core.recall_corpus import recall_text
from explorer.spec.errors import ExplorerError
from explorer.spec.knobs import Config
from explorer.spec.wording import plural

BUNDLED = {"tinyshakespeare": "tinyshakespeare.txt"}
GENERATED = {"recall": recall_text}  # texts made in code, the same every time (nothing to ship or download)
SHIPPED = {  # every corpus that comes with explorer, by name, with the label a page shows
    "tinyshakespeare": "Tiny Shakespeare (bundled)",
    "recall": "Recall: keys 2–45 characters back (generated)",
}
ALIASES = {"shakespeare": "tinyshakespeare", "tiny-shakespeare": "tinyshakespeare"}
SPLIT = (0.90, 0.05, 0.05)  # train / validation / test, by tokens, in reading order
# split=interleaved: blocks of BLOCK tokens, dealt by their place in each run of len(DEAL) blocks (90/5/5)
BLOCK = 2000
DEAL = ("train",) * 18 + ("valid", "test")
UNK, EOS = "<unk>", "<eos>"


class CorpusError(ExplorerError):
    pass


# ---------------------------------------------------------------------------------------- reading


def read_text(path: Path) -> str:
    """Read a user's text file, refusing what would only confuse a lesson (binary, not UTF-8, empty)."""
    if not path.exists():
        raise CorpusError(f"corpus file not found: {path}")
    if not path.is_file():
        raise CorpusError(f"corpus is not a file: {path}")
    raw = path.read_bytes()
    if not raw.strip():
        raise CorpusError(f"corpus file is empty: {path}")
    if b"\x00" in raw[:65536]:
        raise CorpusError(f"corpus file looks binary (it contains NUL bytes), not text: {path}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CorpusError(f"corpus file is not UTF-8 text (bad byte at offset {err.start}): {path}") from None


def bundled_text(name: str) -> str:
    return resources.files("explorer").joinpath("corpora", BUNDLED[name]).read_text(encoding="utf-8")


def _ready_split(folder: Path) -> tuple[str, str, str] | None:
    """A folder with train/valid/test files (plain names or *.train.txt as in PTB), or None."""
    for pattern in ("{}.txt", "*.{}.txt"):
        found = [sorted(folder.glob(pattern.format(part))) for part in ("train", "valid", "test")]
        if all(found):
            return tuple(read_text(files[0]) for files in found)  # type: ignore[return-value]
    return None


def load_corpus_texts(corpus: str) -> tuple[str, str, str] | str:
    """The raw text (to be split) or a (train, valid, test) triple when the corpus comes split."""
    name = ALIASES.get(corpus, corpus)
    if name in BUNDLED:
        return bundled_text(name)
    if name in GENERATED:
        return GENERATED[name]()
    path = Path(corpus).expanduser()
    if path.is_dir():
        split = _ready_split(path)
        if split is None:
            raise CorpusError(f"folder {path} has no train.txt/valid.txt/test.txt (or *.train.txt, ...) files")
        return split
    if not path.exists() and "/" not in corpus and not corpus.endswith(".txt"):
        raise CorpusError(f"unknown corpus {corpus!r}: bundled ones are {', '.join(SHIPPED)}, or give a file path")
    return read_text(path)


MAX_UPLOAD_BYTES = 5_000_000
MAX_UPLOAD_MIB = -(-MAX_UPLOAD_BYTES // 2**20)  # Streamlit's server.maxUploadSize is in MiB: the server refuses beyond
UPLOADS_BUDGET_BYTES = 200_000_000  # what a server keeps of uploads; the least recently used go first
UPLOADS = Path(os.environ.get("EXPLORER_UPLOADS") or Path(tempfile.gettempdir()) / "explorer-uploads")


NOT_OFFERED = "that corpus is not offered here: pick one from the list, or upload a text file"


def offered_to_pages(corpus: str, uploads: Path = UPLOADS) -> bool:
    """May a page (a browser, whose every value is untrusted) train on this corpus? Only on one that ships
    with explorer or on an upload that `save_upload` stored: never on any other path of the server. Decided
    from the name alone, never by looking at the file system, so a refusal tells nothing of what exists."""
    if corpus in SHIPPED:
        return True
    path = Path(corpus)
    return path.is_absolute() and ".." not in path.parts and path.parent == uploads and _is_upload_name(path.name)


def _is_upload_name(name: str) -> bool:
    """The names `save_upload` gives: 24 hex digits of the content's hash, then .txt."""
    return len(name) == 28 and name.endswith(".txt") and all(c in "0123456789abcdef" for c in name[:24])


def save_upload(
    content: bytes,
    folder: Path,
    name: str = "upload.txt",
    max_bytes: int = MAX_UPLOAD_BYTES,
    budget_bytes: int = UPLOADS_BUDGET_BYTES,
) -> Path:
    """Check an uploaded text (size, binary, encoding) and store it under a name derived from its content,
    so two students' `notes.txt` never overwrite each other and the same text is stored once. The folder
    is kept under `budget_bytes` by removing the least recently used uploads. `name` is only for messages."""
    if len(content) > max_bytes:
        raise CorpusError(f"{name} is {len(content) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(content).hexdigest()[:24]}.txt"
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(content)
    try:
        read_text(partial)
    except CorpusError as err:
        partial.unlink()
        raise CorpusError(str(err).replace(str(partial), name)) from None
    partial.replace(path)  # atomic: a run reading this upload never sees half a file
    prune_uploads(folder, budget_bytes, keep=path)
    return path


def prune_uploads(folder: Path, budget_bytes: int, keep: Path | None = None) -> None:
    """Remove the least recently used uploads until the folder fits in `budget_bytes`."""
    files = sorted(folder.glob("*.txt"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in files)
    for old in files:
        if total <= budget_bytes:
            break
        if old != keep:
            total -= old.stat().st_size
            old.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------- tokens


def tokenize(text: str, level: str, lowercase: bool) -> list[str]:
    """Characters, or words with one <eos> per line (as in the PTB language-modelling set-up)."""
    if lowercase:
        text = text.lower()
    if level == "char":
        return list(text)
    tokens: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words:
            tokens.extend(words)
            tokens.append(EOS)
    return tokens


@dataclass
class Vocab:
    itos: list[str]

    def __post_init__(self) -> None:
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> torch.Tensor:
        unk = self.stoi.get(UNK)
        ids = [self.stoi.get(t, unk) for t in tokens]
        if unk is None and any(i is None for i in ids):
            missing = next(t for t, i in zip(tokens, ids) if i is None)
            raise CorpusError(f"token {missing!r} is not in the vocabulary")
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids: list[int], level: str) -> str:
        words = [self.itos[i] for i in ids]
        if level == "char":
            return "".join(words)
        return " ".join(words).replace(f" {EOS} ", "\n").replace(EOS, "\n")


def build_vocab(train_tokens: list[str], all_tokens: list[str], level: str, cap: int) -> Vocab:
    """Characters: every character of the corpus (tiny alphabet, no <unk> needed).
    Words: the `cap` most frequent words of the training split (ties broken alphabetically) plus <unk>."""
    if level == "char":
        return Vocab(sorted(set(all_tokens)))
    counts = Counter(train_tokens)
    counts.pop(UNK, None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Vocab([UNK] + [word for word, _ in ranked[: cap - 1]])


# ---------------------------------------------------------------------------------------- corpus


@dataclass
class Corpus:
    """The three splits as token-id tensors, and the vocabulary that maps them back to text."""

    vocab: Vocab
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    level: str

    @classmethod
    def from_config(cls, config: Config) -> Corpus:
        """Cached: a Reset in class should not re-read and re-tokenise a megabyte of text. A file's
        modification time is part of the key, so an edited file is read again."""
        path = Path(config.corpus).expanduser()
        stamp = path.stat().st_mtime_ns if path.exists() else None
        corpus = _build_corpus(
            config.corpus, stamp, config.level, config.lowercase, config.vocab_size, config.train_fraction, config.split
        )
        corpus.check_fits(config.batch_size, config.seq_len)
        return corpus

    @classmethod
    def build(
        cls,
        corpus_name: str,
        level: str,
        lowercase: bool,
        vocab_size: int,
        train_fraction: float,
        split: str = "contiguous",
    ) -> Corpus:
        texts = load_corpus_texts(corpus_name)
        if isinstance(texts, str):
            tokens = tokenize(texts, level, lowercase)
            parts = interleaved_split(tokens) if split == "interleaved" else contiguous_split(tokens)
        else:
            parts = [tokenize(t, level, lowercase) for t in texts]
        keep = max(1, int(len(parts[0]) * train_fraction))
        train_tokens = (
            spread_share(parts[0], keep) if split == "interleaved" and isinstance(texts, str) else parts[0][:keep]
        )
        # the whole training split's words, whatever share of it is read: a short training text keeps the vocabulary
        # (and so the share of <unk>) of the longer one, the same in every split, as PTB fixes its vocabulary
        vocab = build_vocab(parts[0], [t for part in parts for t in part], level, vocab_size)
        return cls(vocab, vocab.encode(train_tokens), vocab.encode(parts[1]), vocab.encode(parts[2]), level)

    def check_fits(self, batch_size: int, seq_len: int) -> None:
        need = batch_size * (seq_len + 1)
        for name, split in (("training", self.train), ("validation", self.valid), ("test", self.test)):
            if len(split) < need:
                raise CorpusError(
                    f"the {name} split has {plural(len(split), 'token')} but one batch needs "
                    f"batch_size × (seq_len + 1) = {need:,}: use a larger corpus or train fraction, "
                    f"or a smaller batch or sequence length"
                )


def contiguous_split(tokens: list[str]) -> list[list[str]]:
    """Train, validation, test in reading order (SPLIT): the held-out text is the END of the corpus, so
    for Shakespeare it is other plays, and a gap mixes overfitting with a change of text."""
    n_train = int(len(tokens) * SPLIT[0])
    n_valid = int(len(tokens) * SPLIT[1])
    return [tokens[:n_train], tokens[n_train : n_train + n_valid], tokens[n_train + n_valid :]]


def interleaved_split(tokens: list[str]) -> list[list[str]]:
    """Blocks of BLOCK tokens dealt to train/valid/test by DEAL (18, 1, 1 of every 20): held-out text from
    the same plays as the training text, so the gap measures overfitting, not a change of text. Each
    split is its blocks in reading order, joined (BatchStream reads across the seams as one text)."""
    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for block, start in enumerate(range(0, len(tokens), BLOCK)):
        parts[DEAL[block % len(DEAL)]].extend(tokens[start : start + BLOCK])
    return [parts["train"], parts["valid"], parts["test"]]


def spread_share(train: list[str], keep: int) -> list[str]:
    """`keep` tokens of an interleaved training split as whole blocks spread evenly over it (then cut to
    size): a small share then comes from several places in the book, like the held-out blocks, instead of
    from its opening play alone, which would bring the distribution shift back."""
    blocks = [train[start : start + BLOCK] for start in range(0, len(train), BLOCK)]
    count = min(len(blocks), -(-keep // BLOCK))
    chosen = [blocks[i * len(blocks) // count] for i in range(count)]
    return [token for block in chosen for token in block][:keep]


@lru_cache(maxsize=8)
def _build_corpus(
    corpus_name: str,
    _stamp: int | None,
    level: str,
    lowercase: bool,
    vocab_size: int,
    train_fraction: float,
    split: str,
) -> Corpus:
    return Corpus.build(corpus_name, level, lowercase, vocab_size, train_fraction, split)


class BatchStream:
    """Truncated-BPTT batches as in pytorch/examples: the split is cut into `batch_size` long rows that
    are read left to right, `seq_len` tokens at a time, so row b of batch i+1 continues row b of batch i
    (which is why the hidden state can be carried across batches)."""

    def __init__(self, data: torch.Tensor, batch_size: int, seq_len: int, device: torch.device):
        columns = len(data) // batch_size
        self.rows = data[: columns * batch_size].view(batch_size, columns).to(device)
        self.seq_len = seq_len
        self.batches_per_epoch = (columns - 1) // seq_len
        self.position = 0  # batches served so far

    @property
    def epoch(self) -> float:
        return self.position / self.batches_per_epoch

    def batch(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = index * self.seq_len
        x = self.rows[:, start : start + self.seq_len]
        y = self.rows[:, start + 1 : start + 1 + self.seq_len]
        return x, y

    def subset(self, share: float) -> BatchStream:
        """A fixed `share` of the rows (at least one), spread evenly over them and so over the text, read as a
        stream of its own from its start: the training subset the gap's training curve is evaluated on."""
        count = max(1, round(len(self.rows) * share))
        picked = copy.copy(self)
        picked.rows = self.rows[[i * len(self.rows) // count for i in range(count)]]
        picked.position = 0
        return picked

    def next(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """The next batch, and whether it starts a new epoch (the hidden state should then be reset)."""
        index = self.position % self.batches_per_epoch
        self.position += 1
        return (*self.batch(index), index == 0)
