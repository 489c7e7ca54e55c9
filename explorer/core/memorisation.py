"""The memorisation meter: overfitting a language model means memorising its training text, so now and
then the model writes a sample (fixed prompt, seed and temperature) and we count how much of it is
copied verbatim from the training text, against the validation text as the baseline a model that
generalises would also reach, and the longest copied span.

The text is indexed once per (token array, n): every position's next n tokens as one fixed-width byte
string, sorted (a suffix array cut at depth n). The keys are the token ids themselves, not hashes, so
every answer is exact.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

import numpy as np
import torch

from explorer.core.data import Corpus, spread_share
from explorer.core.model import RNNLM
from explorer.core.sample import check_sampling, generate_ids, prompt_ids
from explorer.spec.errors import ConfigError

DEFAULT_N = {"char": 12, "word": 4}  # short enough to be copied, long enough not to be chance
DEFAULT_LENGTH = {"char": 200, "word": 60}


def _keys(ids: np.ndarray, n: int, width: int) -> np.ndarray:
    """One byte string per position: its next n tokens as big-endian id + 1, padded with zeros past the
    end (0 is no token), so byte order is token order and the text's last tokens are keys too."""
    tokens = (np.asarray(ids, dtype=np.int64) + 1).astype(f">u{width}")
    padded = np.concatenate([tokens, np.zeros(n - 1, tokens.dtype)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, n)
    return np.ascontiguousarray(windows).view(f"S{n * width}").ravel()


def _as_str(ids) -> str:
    """One character per token, so Python's substring search finds token-aligned copies."""
    return "".join(map(chr, np.asarray(ids).tolist()))


def found_ngrams(matches: np.ndarray, n: int) -> np.ndarray:
    """Which n-grams of a sample (one per start position) occur in the text, from its `matches`."""
    return matches[: max(len(matches) - n + 1, 0)] == n


class NgramIndex:
    """Every n-gram of a token sequence, sorted, for exact look-ups of all of a sample's n-grams at once."""

    def __init__(self, ids: np.ndarray, n: int, vocab_size: int):
        if len(ids) == 0:
            raise ValueError("an empty text has no n-grams")
        self.ids, self.n = ids, n
        self.width = 1 if vocab_size < 2**8 else 2 if vocab_size < 2**16 else 4
        self.keys = np.sort(_keys(ids, n, self.width))
        self.rows = self.keys.view(np.uint8).reshape(len(self.keys), n, self.width)

    @cached_property
    def text(self) -> str:
        """Made on the first copy longer than n, which only a substring search can confirm."""
        return _as_str(self.ids)

    def matches(self, sample: np.ndarray) -> np.ndarray:
        """For each position of `sample`, how many of its next tokens (at most n) occur verbatim in the
        text. The keys that share the longest prefix with a position's n-gram are the two either side of
        where it would be inserted, so one binary search per position is enough."""
        if len(sample) == 0:
            return np.zeros(0, dtype=np.int64)
        queries = _keys(sample, self.n, self.width)
        at = np.searchsorted(self.keys, queries)
        tokens = queries.view(np.uint8).reshape(len(sample), self.n, self.width)
        best = np.zeros(len(sample), dtype=np.int64)
        for neighbour in (np.maximum(at - 1, 0), np.minimum(at, len(self.keys) - 1)):
            same = (self.rows[neighbour] == tokens).all(axis=2)
            best = np.maximum(best, np.cumprod(same, axis=1).sum(axis=1))
        return np.minimum(best, len(sample) - np.arange(len(sample)))  # padding is not a match

    def longest_copy(self, sample: np.ndarray, matches: np.ndarray | None = None) -> int:
        """The length in tokens of the longest span of `sample` found verbatim in the text. Up to n it is
        the largest match; a longer copy lies inside one run of consecutive found n-grams, so only those
        runs are searched for in the text, the longest first and only while one could beat the best."""
        matches = self.matches(sample) if matches is None else matches
        best = int(matches.max(initial=0))
        if best < self.n:
            return best
        tokens = _as_str(sample)
        for start, end in sorted(_spans(found_ngrams(matches, self.n), self.n, 1), key=lambda s: s[0] - s[1]):
            if end - start <= best:
                break
            best = _longest_within(tokens[start:end], self.text, best)
        return best


def _longest_within(piece: str, text: str, best: int) -> int:
    """max(best, the longest substring of `piece` found in `text`): a copy longer than `best` ending at
    `end` exists only if the one of length best + 1 does, so each end costs one failed search at most."""
    if piece in text:
        return max(best, len(piece))
    for end in range(best + 1, len(piece) + 1):
        while best < end and piece[end - best - 1 : end] in text:
            best += 1
    return best


def held_out_like_train(corpus: Corpus) -> torch.Tensor:
    """The meter's baseline text: as many validation tokens as the training text holds, in whole blocks spread
    evenly over the validation text (as a share of the training text is, explorer.core.data.spread_share). A
    larger text holds more n-grams by chance, so the two sides of the comparison are the same size."""
    keep = min(len(corpus.valid), len(corpus.train))
    return torch.tensor(spread_share(corpus.valid.tolist(), keep), dtype=corpus.valid.dtype)


@lru_cache(maxsize=8)
def ngram_index(tokens: torch.Tensor, n: int, vocab_size: int) -> NgramIndex:
    """Built once per token tensor (keyed by identity: corpora are cached and never change) and n."""
    return NgramIndex(tokens.cpu().numpy(), n, vocab_size)


def copied_spans(found: np.ndarray, n: int) -> list[tuple[int, int]]:
    """The [start, end) token spans covered by found n-grams (n-gram i covers tokens i to i + n - 1),
    merged where they overlap or touch: the parts of a sample to highlight."""
    return _spans(found, n, n)


def _spans(found: np.ndarray, n: int, reach: int) -> list[tuple[int, int]]:
    """The spans of found n-grams, an n-gram joining the span before when it starts at most `reach` tokens
    after that span's last n-gram (n: overlapping or touching; 1: consecutive n-grams only)."""
    spans: list[list[int]] = []
    for i in np.flatnonzero(found).tolist():
        if spans and i <= spans[-1][1] - n + reach:
            spans[-1][1] = i + n
        else:
            spans.append([i, i + n])
    return [(start, end) for start, end in spans]


def token_offsets(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each token's text (`pieces`, each token decoded alone) lies in the decoded `text`. Found in
    order: decoding a sequence only adds or drops the spaces between tokens, never changes one."""
    offsets, at = [], 0
    for piece in pieces:
        start = text.index(piece, at)
        at = start + len(piece)
        offsets.append((start, at))
    return offsets


class MemorisationMeter:
    """How much of a fixed sample the model copies from its training text. `measure` draws with its own
    generator from a fixed seed, so two measurements differ only because the model did, and the
    training run's random state, mode and recurrent state are left as they were."""

    def __init__(
        self,
        corpus: Corpus,
        n: int | None = None,
        length: int | None = None,
        temperature: float = 0.8,
        seed: int = 0,
        prompt: str = "",
    ):
        self.corpus = corpus
        self.n = DEFAULT_N[corpus.level] if n is None else n
        self.length = DEFAULT_LENGTH[corpus.level] if length is None else length
        check_sampling(self.length, temperature)
        if not 1 <= self.n <= self.length:
            raise ConfigError(f"the n-gram size must be in [1, sample length {self.length}], got {self.n}")
        self.temperature, self.seed = temperature, seed
        self.prompt = prompt_ids(corpus.vocab, corpus.level, prompt)
        self.baseline = NgramIndex(held_out_like_train(corpus).numpy(), self.n, len(corpus.vocab))

    def measure(self, model: RNNLM) -> dict:
        """copied_share (of the sample's n-grams found in the training text), copied_share_valid (the
        same against as much validation text, `held_out_like_train`), longest_copy (tokens), the sample and its
        copied character spans [start, end). Only the generated tokens are measured, never the prompt."""
        corpus, vocab, level = self.corpus, self.corpus.vocab, self.corpus.level
        generator = torch.Generator(next(model.parameters()).device).manual_seed(self.seed)
        ids = np.array(generate_ids(model, self.prompt, self.length, self.temperature, generator))
        train = ngram_index(corpus.train, self.n, len(vocab))
        matches = train.matches(ids)
        found = found_ngrams(matches, self.n)
        text = vocab.decode(ids.tolist(), level)
        offsets = token_offsets(text, [vocab.decode([i], level) for i in ids.tolist()])
        return {
            "copied_share": float(found.mean()),
            "copied_share_valid": float(found_ngrams(self.baseline.matches(ids), self.n).mean()),
            "longest_copy": train.longest_copy(ids, matches),
            "sample": text,
            "sample_copied": [[offsets[start][0], offsets[end - 1][1]] for start, end in copied_spans(found, self.n)],
        }
