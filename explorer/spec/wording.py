"""How explorer writes things, once for every face: a value, a plural, a move of a knob, a loss in its unit.

A student reads these on a projector, in a notebook and in the CLI; one function each keeps them the same.
"""

from __future__ import annotations

import math
from typing import Any


def format_value(value: Any) -> str:
    """A knob value as a student would write it (charts, status lines, widgets): 0.0001, 1e-06, on, 128."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def plural(count: int, noun: str) -> str:
    """'1 token', '2 tokens', '1,000 steps': messages a class reads aloud get their plurals right."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def size_problem(params: int, max_params: int | None) -> str | None:
    """What a class page says of a model over the challenge's parameter limit (None: within it). Checked by
    the worker before a run's first step and by the page before it resumes one."""
    if max_params is None or params <= max_params:
        return None
    return (
        f"this model has {plural(params, 'parameter')}; the challenge allows at most {max_params:,}: make it "
        f"smaller (hidden units, embedding size, layers), then Reset"
    )


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))


def bits_per_char(loss: float) -> float:
    """A character-level loss in nats/token as bits per character (loss / ln 2), the unit papers report."""
    return loss / math.log(2)


def loss_readout(loss: float, level: str | None) -> str:
    """What a loss means in the unit each level's papers quote: '1.782 bpc' for characters, 'perplexity 91.1'
    for words (bits per character is a character model's number; a word model's is perplexity)."""
    return f"{bits_per_char(loss):.3f} bpc" if level == "char" else f"perplexity {perplexity(loss):.1f}"


def describe_move(changes: dict[str, tuple], show=lambda name, value: format_value(value), sep: str = ", ") -> str:
    """{'dropout': (0, 0.5)} -> 'dropout 0 → 0.5' (a tally's row, a pending setup change, a chart's marker);
    `show(name, value)` writes a value (the corpus by its label)."""
    return sep.join(f"{name} {show(name, old)} → {show(name, new)}" for name, (old, new) in changes.items())


def instruments_line(evaluation: dict, short: bool = False) -> str:
    """The instruments' cadence in force and what they cost, from an evaluation record's fields (the budget
    spaces them; explorer.core.budget): 'details every 40 steps, memorisation every 200; 1.6 % of training'.
    `short`: the details' cadence alone (a page's status line, which must stay one line at 1024 px)."""
    parts = [f"details every {evaluation['detail_every_now']:,} steps"]
    if short:
        return parts[0]
    if evaluation.get("meter_every_now"):
        parts.append(f"memorisation every {evaluation['meter_every_now']:,}")
    share = evaluation["instrument_share"] + evaluation.get("train_eval_share", 0.0)
    return ", ".join(parts) + f"; {share:.1%} of training"
