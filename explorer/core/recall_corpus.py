"""The bundled `recall` corpus: a generated text whose only long-range signal sits at known distances.

Each line is a key (one of KEYS), `k` random filler letters, the query marker, the key again, and a line
break: `C` + `HADBE` + `?` + `C`. The filler cannot be predicted, so the one thing worth remembering is the
key, and the character after `?` can be predicted only by a model that still holds it `k + 2` characters
later. `k` is drawn from DISTANCES, so the loss on those recalls, grouped by `k`, shows at which distances a
model holds the key (explorer.core.recall measures it); a model that never learns to hold it is flat at the
guess, and that says nothing of distance. The filler is drawn from the keys themselves: holding the
key means keeping the line's first letter while every later one arrives through the same input, which a
gate (LSTM, GRU) learns and a vanilla RNN does not (given filler letters of its own, a vanilla RNN keeps
the key in units the filler never reaches, and the lesson is lost). The text is the same on every call (a
fixed seed, no download) and is generated once per process.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

KEYS = "ABCDEFGH"
FILLER = KEYS  # see above: filler of its own would let a vanilla RNN keep the key aside
QUERY = "?"
DISTANCES = (2, 5, 10, 20, 30, 45)
LINES = 18_000  # about 400k characters: a 5 % validation split still holds ~150 recalls per distance

_RECALL = re.compile(rf"(?<=\n)([{KEYS}])([{FILLER}]*){re.escape(QUERY)}")


@lru_cache(maxsize=1)
def recall_text() -> str:
    """LINES lines of key, filler, query, key: the same text every time."""
    rng = random.Random(0)
    out = []
    for _ in range(LINES):
        key, k = rng.choice(KEYS), rng.choice(DISTANCES)
        out.append(f"{key}{''.join(rng.choices(FILLER, k=k))}{QUERY}{key}\n")
    return "".join(out)


def recall_targets(text: str) -> list[tuple[int, int]]:
    """(index of a recalled key, its distance k) for every line of `text` seen from its start (a line cut
    by the start of a split is skipped: its key is not there to recall)."""
    return [(m.end(), len(m.group(2))) for m in _RECALL.finditer(text) if m.end() < len(text)]
