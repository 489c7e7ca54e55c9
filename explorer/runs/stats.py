"""How sure an effect is: means with 95 % intervals over seeds, and paired comparisons of two arms.

Why Student-t intervals and not a bootstrap: a class runs 3–10 seeds, and with so few a bootstrap's
interval is too narrow (it cannot see beyond the values it has); the t interval is the textbook one,
exact when the per-seed values are normal, and what a teacher can check by hand. Why PAIRED: two arms
run with the same seeds share their initial weights and data order, so the per-seed difference removes
most of the seed noise that unpaired means would keep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from explorer.spec.wording import plural

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """The mean of `n` values and its two-sided t interval (NaN bounds below two values)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def includes_zero(self) -> bool:
        return not (self.lo > 0 or self.hi < 0)  # NaN bounds (one seed) include zero: nothing is shown

    def to_dict(self) -> dict:
        return {"mean": _json(self.mean), "lo": _json(self.lo), "hi": _json(self.hi), "n": self.n}


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """mean ± t_{(1+level)/2, n−1} · s/√n over the finite values (a diverged seed's NaN is left out)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(scipy_stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class Paired:
    """Arm B against arm A on the seeds both ran: per-seed differences B − A and their interval."""

    seeds: tuple[int, ...]
    differences: tuple[float, ...]  # B − A, one per seed
    interval: Interval
    lower: int  # seeds where B's value is lower than A's
    higher: int  # ... higher (a tie is neither)

    def sentence(self, metric: str = "best validation loss", b: str = "", a: str = "") -> str:
        """The comparison in words a class can read aloud, saying when seeds cannot tell the arms apart."""
        n = len(self.seeds)
        who = f"{b} vs {a}: " if a and b else ""
        if n == 0:
            return f"{who}no seed finished in both arms yet"
        i = self.interval
        if not any(self.differences):
            return f"{who}the same {metric} in all {n} seeds — not distinguishable"
        direction = "lower" if i.mean < 0 else "higher"
        held = self.lower if i.mean < 0 else self.higher
        text = f"{who}{direction} {metric} in {held} of {plural(n, 'seed')}, by {abs(i.mean):.3f}"
        if n < 2:
            return text + " (one seed: no interval yet)"
        text += f" (95 % interval {_signed_range(i, i.mean < 0)})"
        if i.includes_zero:
            text += f" — not distinguishable from seed noise at {plural(n, 'seed')}"
        return text

    def verdict(self, lower: str, higher: str, neither: str) -> str:
        """A lesson's answer from this comparison: `lower` when B is clearly lower than A (the interval below 0),
        `higher` when clearly higher, else `neither` (the question's own wording of "no clear difference")."""
        if self.interval.includes_zero:
            return neither
        return lower if self.interval.mean < 0 else higher

    def to_dict(self) -> dict:
        return {
            "seeds": list(self.seeds),
            "differences": [_json(d) for d in self.differences],
            "interval": self.interval.to_dict(),
            "lower_in": self.lower,
            "higher_in": self.higher,
        }


def paired(a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL) -> Paired:
    """Pair two arms by seed ({seed: value}); seeds missing or non-finite in either arm are left out."""
    seeds = tuple(sorted(s for s in a if s in b and _finite(a[s]) and _finite(b[s])))
    differences = tuple(b[s] - a[s] for s in seeds)
    return Paired(
        seeds,
        differences,
        t_interval(differences, level),
        sum(d < 0 for d in differences),
        sum(d > 0 for d in differences),
    )


@dataclass(frozen=True)
class Band:
    """A curve's mean and interval over seeds, step by step (the steps any seed reached)."""

    step: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray  # seeds at each step (an early-stopped seed ends its curve early)


def band(curves: Sequence[tuple[Sequence[int], Sequence[float]]], level: float = LEVEL) -> Band:
    """Mean and t interval at every step over several (steps, values) curves."""
    by_step: dict[int, list[float]] = {}
    for steps, values in curves:
        for step, value in zip(steps, values):
            by_step.setdefault(int(step), []).append(float(value))
    steps = sorted(by_step)
    intervals = [t_interval(by_step[s], level) for s in steps]
    return Band(
        np.asarray(steps, dtype=int),
        np.asarray([i.mean for i in intervals]),
        np.asarray([i.lo for i in intervals]),
        np.asarray([i.hi for i in intervals]),
        np.asarray([i.n for i in intervals], dtype=int),
    )


def _signed_range(i: Interval, flip: bool) -> str:
    lo, hi = (-i.hi, -i.lo) if flip else (i.lo, i.hi)
    return f"{lo:.3f} to {hi:.3f}"


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _json(value: float) -> float | None:
    return value if _finite(value) else None
