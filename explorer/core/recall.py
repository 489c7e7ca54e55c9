"""How far back a model remembers: its loss on the `recall` corpus's recalled keys, by distance.

A model that has forgotten the key can only guess among KEYS (ln 8 ≈ 2.08 nats); one that holds it
scores near 0. The validation split is read as the trainer evaluates it (explorer.core.train.Trainer.mean_loss):
eval mode, `batch_size` rows read in windows of `seq_len` tokens, the hidden state carried from one window
to the next. Attention looks back only inside a window, so a key in an earlier window must come through
the hidden state.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F

from explorer.core.data import BatchStream, Corpus
from explorer.core.model import RNNLM
from explorer.core.recall_corpus import DISTANCES, recall_targets

WINDOWS = {"any": None, "same": True, "earlier": False}  # which recalls to count: the key's window is the query's?


@torch.no_grad()
def recall_loss_by_distance(
    model: RNNLM, corpus: Corpus, seq_len: int, batch_size: int = 32, window: str = "any"
) -> dict[int, float]:
    """{distance k: mean cross-entropy (nats) of the recalled key} over the validation split; NaN for a
    distance with no recall there. `window`: "any" recall, or only those whose key is in the "same"
    window as the query (attention can see it) or an "earlier" one (only the hidden state can carry it).
    Recalls whose key fell in another row of the batch are left out."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
    device = next(model.parameters()).device
    stream = BatchStream(corpus.valid, batch_size, seq_len, device)
    rows, columns = stream.rows.shape
    losses = torch.full((rows, columns), math.nan, device=device)  # the loss of predicting token (row, column)
    was_training = model.training
    model.eval()
    state = None
    for i in range(stream.batches_per_epoch):
        x, y = stream.batch(i)
        logits, state = model(x, state)
        start = i * seq_len + 1
        losses[:, start : start + seq_len] = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
    model.train(was_training)

    flat = losses.flatten().tolist()
    by_distance = defaultdict(list)
    for index, k in recall_targets(corpus.vocab.decode(corpus.valid.tolist(), "char")):
        row, column = divmod(index, columns)
        key = column - k - 2
        same = key // seq_len == (column - 1) // seq_len  # the query is the input just before the recall
        if row < rows and key >= 0 and not math.isnan(flat[index]) and WINDOWS[window] in (None, same):
            by_distance[k].append(flat[index])
    return {k: sum(by_distance[k]) / len(by_distance[k]) if by_distance[k] else math.nan for k in DISTANCES}
