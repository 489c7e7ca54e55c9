"""The questions each lesson asks BEFORE its runs, as code: one copy of every question, its choices, and the rule
that decides its answer from the numbers the lesson prints (its `RESULTS {json}` line, every list in it one value
per seed), with every tolerance stated in the choice it belongs to.

The lesson's widget (explorer.faces.notebook.predict) shows the text and choices and, once the runs are in, the
answer this rule gives; the test suite checks that every question was asked and answered by it, on runs that differ
only in what it credits (tests/test_notebooks.py); `benchmarks/lesson_claims.py` gives its answer over seeds no one
tuned on. Each rule can give every answer it offers (tests/test_questions.py), so a reader's choice is never
ruled out before the runs are in. "Which is lowest" questions by the mean name a winner only when the paired 95 %
interval of the top two excludes 0 (explorer.runs.stats): with 3 seeds a fixed tie would either hide a real
difference or call noise a winner. (Lesson 4's "whose gradient grew most" goes by the middle seed, as it says: its
cells differ by orders of magnitude, and a gradient that underflowed at the start gives no multiple to pair.)"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from explorer.runs.claims import unlike
from explorer.runs.lesson_runs import DROPOUT_KNOBS, DROPOUT_RUNS, NORMALISED, SIZE_BY_DROPOUT
from explorer.runs.stats import paired

UNCLEAR = "no clear winner: the top two's per-seed difference has a 95 % interval that includes 0"
NO_CLEAR_DIFFERENCE = "no clear difference over the seeds (the 95 % interval of the per-seed difference includes 0)"
REACH = 1e-3  # a gradient "reaches" a distance when it is at least this share of its value at distance 0


@dataclass(frozen=True)
class Cuts:
    """The answer by where one number falls: `labels[i]` when `cuts[i-1] <= value < cuts[i]` (cuts ascending)."""

    value: Callable[[dict], float]
    cuts: tuple[float, ...]
    labels: tuple[str, ...]

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.labels

    def decide(self, numbers: dict) -> str:
        return self.labels[bisect.bisect_right(self.cuts, self.value(numbers))]


@dataclass(frozen=True)
class Compare:
    """Run B against run A seed by seed: `lower` when B is clearly lower (the paired 95 % interval below 0),
    `higher` when clearly higher, else `neither`."""

    a: Callable[[dict], Sequence[float]]
    b: Callable[[dict], Sequence[float]]
    lower: str
    higher: str
    neither: str = NO_CLEAR_DIFFERENCE

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.lower, self.higher, self.neither

    def decide(self, numbers: dict) -> str:
        a, b = (dict(enumerate(side(numbers))) for side in (self.a, self.b))
        return paired(a, b).verdict(self.lower, self.higher, self.neither)


@dataclass(frozen=True)
class Ranked:
    """Which of `names` has the lowest (`highest`: the highest) value, by `by` of its seeds' values; with
    `unclear`, a winner only when the per-seed differences of the top two have a 95 % interval without 0."""

    names: tuple[str, ...]
    values: Callable[[dict, str], Sequence[float]]
    highest: bool = False
    unclear: str | None = UNCLEAR
    by: Callable[[Sequence[float]], float] = statistics.fmean

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.names + ((self.unclear,) if self.unclear else ())

    def decide(self, numbers: dict) -> str:
        score = {name: self.by(self.values(numbers, name)) for name in self.names}
        first, second = sorted(self.names, key=score.get, reverse=self.highest)[:2]
        if self.unclear is None:
            return first
        top_two = paired(*(dict(enumerate(self.values(numbers, name))) for name in (first, second)))
        return self.unclear if top_two.interval.includes_zero else first


@dataclass(frozen=True)
class Which:
    """The set of `names` for which `holds(numbers, name)`, named by `labels`; any set they do not name is `other`."""

    names: tuple[str, ...]
    holds: Callable[[dict, str], bool]
    labels: Mapping[frozenset[str], str]
    other: str | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(self.labels.values()) + ((self.other,) if self.other else ())

    def decide(self, numbers: dict) -> str:
        holding = frozenset(name for name in self.names if self.holds(numbers, name))
        if holding in self.labels:
            return self.labels[holding]
        if self.other is None:
            raise ValueError(f"no answer names the set {sorted(holding)}")
        return self.other


@dataclass(frozen=True)
class Seeds:
    """In how many seeds a per-seed statement held: `every`, `some` or `none` of them (two may share a label)."""

    flags: Callable[[dict], Sequence[bool]]
    every: str
    some: str
    none: str

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.every, self.some, self.none)))

    def decide(self, numbers: dict) -> str:
        flags = list(self.flags(numbers))
        return self.every if all(flags) else (self.none if not any(flags) else self.some)


Rule = Cuts | Compare | Ranked | Which | Seeds


@dataclass(frozen=True)
class Question:
    lesson: str  # the notebook's stem
    name: str  # how the lesson asks it (explorer.faces.notebook.predict)
    asks: str  # the question; {placeholders} are the lesson's setup (its step counts), filled where it is asked
    rule: Rule
    runs: tuple[str, ...] = ()  # the lesson's runs it compares (names in the numbers' "setups"); () for none
    change: tuple[str, ...] = ()  # the knobs it is about: the only ones those runs may differ in

    @property
    def choices(self) -> tuple[str, ...]:
        return self.rule.outcomes

    def answer(self, numbers: dict) -> str:
        """The runs' answer: one of the choices, decided from the numbers as the lesson prints them."""
        return self.rule.decide(numbers)

    def unfair(self, setups: dict[str, dict]) -> str | None:
        return unlike(self.runs, self.change, setups)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _middle_measured(values: Sequence[float]) -> float:
    """The middle of the measured values (NaN: nothing measured); -inf when none was."""
    measured = sorted(v for v in values if not math.isnan(v))
    return measured[len(measured) // 2] if measured else -math.inf


def _both_ways(first: str, second: str) -> dict[frozenset[str], str]:
    """The four sets two named things can make, in a lesson's words."""
    return {
        frozenset({first}): f"only {first}",
        frozenset({second}): f"only {second}",
        frozenset({first, second}): "both",
        frozenset(): "neither",
    }


_DECAY_SAME = 0.05  # lesson 3: norms within 5 % of each other count as the same
_KEPT_SAME, _KEPT_LARGE = 0.05, 0.3  # lesson 6: nats of test loss
_RISES = {"the 0.5 % run": "rise_small", "the 5 % run": "rise_large"}  # lesson 1: its keys
_GAP_SAME = 0.03  # lesson 1: nats between two gaps that count as the same
_CELLS = ("RNN", "LSTM", "LSTM, forget bias 1")  # lesson 4
_REACH_CELLS = {  # lesson 9, experiment 1: its keys
    "RNN": "reach50_rnn",
    "RNN, orthogonal init": "reach50_orthogonal",
    "LSTM": "reach50_lstm",
    "GRU": "reach50_gru",
}
_RECALLERS = ("RNN", "LSTM", "RNN + attention")  # lesson 9, experiment 2
_CLIPPED = {"Adam's": ("Adam", "Adam, clipped at 0.25"), "SGD's": ("SGD", "SGD, clipped at 0.25")}  # lesson 10
_RULES = ("as trained (×1)", "× keep rate 0.7", "× dropout rate 0.3")  # lesson 10's test-time weight scalings
_EVALUATIONS = {  # lesson 2: its keys
    "dropout off": "off",
    "dropout on, one pass": "one pass",
    "dropout on, the average of 10 passes": "MC 10",
}


QUESTIONS: tuple[Question, ...] = (
    # ------------------------------------------------------------------------------------------------ lesson 1
    Question(
        "01_overfitting",
        "turns",
        "Within {steps} steps, whose validation loss turns and climbs (ends over 0.03 nats above its best, in every "
        "seed)?",
        Which(
            tuple(_RISES),
            lambda r, run: all(rise > 0.03 for rise in r[_RISES[run]]),
            _both_ways(*_RISES),
        ),
        runs=("0.5% of the text", "5% of the text"),
        change=("train_fraction",),
    ),
    Question(
        "01_overfitting",
        "shift",
        "After {steps} steps on the whole text, no character seen twice, the gap between validation and training loss "
        "is… (by the mean over the seeds)",
        Cuts(
            lambda r: _mean([c - i for c, i in zip(r["shift_contiguous"], r["shift_interleaved"])]),
            (-_GAP_SAME, _GAP_SAME),
            (
                f"larger by over {_GAP_SAME} nats with the interleaved split",
                f"about the same for both splits (within {_GAP_SAME} nats)",
                f"larger by over {_GAP_SAME} nats with the contiguous split",
            ),
        ),
        runs=("interleaved split", "contiguous split"),
        change=("split",),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 2
    *(
        Question(
            "02_dropout",
            f"schedule_{kind}",
            f"On the {kind} connections, at the same p, which leaves the SMALLER final gap: a new mask at every step "
            f"({every_step}) or one mask per window ({per_window})?",
            Compare(
                lambda r, run=every_step: r[f"gap_{run}"],
                lambda r, run=per_window: r[f"gap_{run}"],
                lower=per_window,
                higher=every_step,
            ),
            runs=(every_step, per_window),
            change=(knob,),
        )
        for kind, every_step, per_window, knob in (
            ("non-recurrent", "standard 0.5", "locked 0.5", "dropout_kind"),
            ("recurrent", "naive recurrent 0.5", "Gal recurrent 0.5", "recurrent_dropout_kind"),
        )
    ),
    Question(
        "02_dropout",
        "lowest_test",
        "With its final weights, at the end of the same budget, which of the five has the LOWEST loss on the test "
        "text, which no choice looked at (by its mean over the seeds)?",
        Ranked(DROPOUT_RUNS, lambda r, name: r[f"test_{name}"]),
        runs=DROPOUT_RUNS,
        change=DROPOUT_KNOBS,
    ),
    Question(
        "02_dropout",
        "evaluation",
        "Scored on the same validation text, which way of evaluating the trained standard-dropout model is best (by "
        "its mean over the seeds)?",
        Ranked(tuple(_EVALUATIONS), lambda r, way: r["evaluation"][_EVALUATIONS[way]]),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 3
    Question(
        "03_weight_penalties",
        "decay",
        "Coupled decay (Adam) and decoupled decay (AdamW), both λ = 0.002: which leaves the LSTM's and decoder's "
        "weights smaller (by the mean over the seeds of coupled's norm over AdamW's)?",
        Cuts(
            lambda r: _mean([c / d for c, d in zip(r["norm_coupled"], r["norm_decoupled"])]),
            (1 - _DECAY_SAME, 1 / (1 - _DECAY_SAME)),
            ("coupled (Adam)", f"the same (within {_DECAY_SAME:.0%})", "decoupled (AdamW)"),
        ),
        runs=("coupled decay 0.002", "AdamW decay 0.002"),
        change=("optimizer",),
    ),
    Question(
        "03_weight_penalties",
        "zeros",
        "After {steps} steps, which L1 leaves weights at exactly 0.0 (in every seed)?",
        Which(
            ("subgradient", "proximal"),
            lambda r, kind: all(share > 0 for share in r[f"zeros_{kind}"]),
            {
                frozenset({"subgradient"}): "subgradient only",
                frozenset({"proximal"}): "proximal only",
                frozenset({"subgradient", "proximal"}): "both",
                frozenset(): "neither",
            },
        ),
        runs=("L1 1e-4 subgradient", "L1 0.2 proximal"),
        change=("l1", "l1_kind"),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 4
    Question(
        "04_exploding_vanishing_gradients",
        "explode",
        "Clipping scales the update, not the gradient the loss gives. Compare each run's largest gradient norm BEFORE "
        "any clipping: how much larger is the unclipped RNN's than the clipped RNN's (in the middle seed, by that "
        "ratio)?",
        Cuts(
            lambda r: statistics.median(u / c for u, c in zip(r["largest_unclipped"], r["largest_clipped"])),
            (10, 100),
            ("under 10 times larger (or smaller)", "10 to 100 times larger", "more than 100 times larger"),
        ),
        runs=("RNN, no clipping", "RNN, clip norm 1"),
        change=("clip",),
    ),
    Question(
        "04_exploding_vanishing_gradients",
        "grown",
        "After {steps} steps of Adam, whose gradient 50 characters back has grown the most, as a multiple of its own "
        "value at initialisation (by the middle seed's multiple)?",
        Ranked(
            _CELLS,
            lambda r, cell: [a / b if b else math.nan for a, b in zip(r["after_50"][cell], r["init_50"][cell])],
            highest=True,
            unclear=None,
            by=_middle_measured,
        ),
        runs=_CELLS,
        change=("cell", "forget_bias"),
    ),
    Question(
        "04_exploding_vanishing_gradients",
        "window",
        "Experiment 3, at initialisation: in a 16-character window, which cells' gradient from the last position "
        f"still reaches the window's first position, 15 steps back, with at least {REACH:g} of its size at distance 0 "
        "(in every seed)?",
        Which(
            _CELLS,
            lambda r, cell: all(share >= REACH for share in r["shares"][cell]["16"]),
            {
                frozenset(_CELLS): "every cell's",
                frozenset(_CELLS[1:]): "both LSTMs', not the RNN's",
                frozenset(_CELLS[2:]): "only the LSTM's with forget bias 1",
                frozenset(): "no cell's",
            },
            other="another set of cells",
        ),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 5
    Question(
        "05_batch_norm",
        "faster",
        "Halfway through, whose training loss is lowest (by its mean over the seeds)?",
        Ranked(NORMALISED, lambda r, name: r[f"halfway_{name}"]),
        runs=NORMALISED,
        change=("batchnorm", "layernorm", "cell_norm"),
    ),
    Question(
        "05_batch_norm",
        "regularises",
        "Does layer norm in the recurrence end with a smaller final gap than no normalisation: smaller by more than "
        "0.05 nats, in every seed?",
        Seeds(
            lambda r: [g < n - 0.05 for g, n in zip(r["gap_(B) layer norm in the recurrence"], r["gap_none"])],
            every="yes",
            some="no",
            none="no",
        ),
        runs=("none", "(B) layer norm in the recurrence"),
        change=("cell_norm",),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 6
    Question(
        "06_early_stopping",
        "kept",
        "Scored on the test text, how does the kept model compare with the one trained all {steps} steps (by the mean "
        "over the seeds)?",
        Cuts(
            lambda r: _mean([s - f for s, f in zip(r["test_stopped"], r["test_full"])]),
            (-_KEPT_LARGE, -_KEPT_SAME, _KEPT_SAME),
            (
                f"the kept model's is lower by more than {_KEPT_LARGE} nats",
                f"the kept model's is lower by {_KEPT_SAME} to {_KEPT_LARGE} nats",
                f"no real difference (within {_KEPT_SAME} nats)",
                f"the full run's is lower by more than {_KEPT_SAME} nats",
            ),
        ),
        runs=("no early stopping", "early stopping, patience 3"),
        change=("early_stop",),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 7
    Question(
        "07_putting_it_together",
        "recipe",
        "Which recipe ends with the lowest test loss (by its mean over the seeds)?",
        Ranked(SIZE_BY_DROPOUT, lambda r, name: r[f"test_{name}"]),
        runs=SIZE_BY_DROPOUT,
        change=("hidden", "dropout", "dropout_kind"),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 8
    Question(
        "08_memorisation_and_noising",
        "less_copied",
        "Over the run (the mean of its samples, one every {every} steps), whose samples copy the smaller share of "
        "their n-grams from the training text: dropout 0.5's or noising 0.3's?",
        Compare(
            lambda r: r["copied_mean_dropout"],
            lambda r: r["copied_mean_noising"],
            lower="noising 0.3's",
            higher="dropout 0.5's",
        ),
        runs=("dropout 0.5", "noising 0.3"),
        change=("dropout", "noise"),
    ),
    Question(
        "08_memorisation_and_noising",
        "dropout_halves",
        "Over the run, does dropout 0.5 copy under half the share that the run without regularisation copies, in "
        "every seed?",
        Seeds(
            lambda r: [d < n / 2 for d, n in zip(r["copied_mean_dropout"], r["copied_mean_none"])],
            every="yes",
            some="no",
            none="no",
        ),
        runs=("no regularisation", "dropout 0.5"),
        change=("dropout",),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 9
    Question(
        "09_long_range_dependencies",
        "largest_reach",
        "50 steps back, after {steps} steps, whose gradient is largest (by its mean over the seeds, in powers of ten)?",
        Ranked(
            tuple(_REACH_CELLS),
            lambda r, name: [math.log10(max(v, 1e-45)) for v in r[_REACH_CELLS[name]]],
            highest=True,
        ),
        runs=tuple(f"reach: {name}" for name in _REACH_CELLS),
        change=("cell", "init"),
    ),
    Question(
        "09_long_range_dependencies",
        "recalled",
        "After {steps} steps, counting only the keys inside the query's own {window}-character window (the only ones "
        "attention can look at), which of the three recalls the keys with k = {far} letters between key and query (a "
        "loss on them under half a guess's, ln {keys} / 2, on average over the seeds)?",
        Which(
            _RECALLERS,
            lambda r, name: _mean(r["recall_far_in_window"][name]) < r["guess"] / 2,
            {
                frozenset(): "none",
                frozenset({"LSTM"}): "only the LSTM",
                frozenset({"RNN + attention"}): "only the RNN + attention",
                frozenset({"LSTM", "RNN + attention"}): "the LSTM and the RNN + attention",
                frozenset(_RECALLERS): "all three",
            },
            other="another set",
        ),
        runs=_RECALLERS,
        change=("cell", "attention"),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 10
    Question(
        "10_tutorial_claims_measured",
        "dropout_reach",
        "With dropout 0.3, is the share of the gradient {distance} steps back larger or smaller than without?",
        Compare(
            lambda r: [math.log10(v) for v in r["reach_plain"]],
            lambda r: [math.log10(v) for v in r["reach_dropout"]],
            lower="clearly smaller with dropout",
            higher="clearly larger with dropout",
        ),
        runs=("no dropout", "dropout 0.3"),
        change=("dropout",),
    ),
    Question(
        "10_tutorial_claims_measured",
        "dropout_reaches",
        f"Trained with dropout 0.3, does the gradient {{distance}} steps back reach at least {REACH:g} of its value at "
        "distance 0?",
        Seeds(
            lambda r: [share >= REACH for share in r["reach_dropout"]],
            every="yes, in every seed",
            some="in some seeds",
            none="in no seed",
        ),
    ),
    Question(
        "10_tutorial_claims_measured",
        "clip_gap",
        "Whose final gap does clipping at 0.25 clearly SHRINK (the 95 % interval of the per-seed change below 0)?",
        Which(
            tuple(_CLIPPED),
            lambda r, whose: paired(*(dict(enumerate(r["gaps"][run])) for run in _CLIPPED[whose])).interval.hi < 0,
            _both_ways(*_CLIPPED),
        ),
        runs=("Adam", "Adam, clipped at 0.25", "SGD", "SGD, clipped at 0.25"),
        change=("optimizer", "lr", "clip"),
    ),
    Question(
        "10_tutorial_claims_measured",
        "clip_test",
        "With SGD, which has the lower best-step test loss?",
        Compare(
            lambda r: r["best_test"]["SGD"],
            lambda r: r["best_test"]["SGD, clipped at 0.25"],
            lower="clipped at 0.25",
            higher="no clipping",
        ),
        runs=("SGD", "SGD, clipped at 0.25"),
        change=("clip",),
    ),
    Question(
        "10_tutorial_claims_measured",
        "scaling",
        "Which rule scores the LOWEST test loss (by its mean over the seeds)?",
        Ranked(_RULES, lambda r, rule: r["test_by_rule"][rule]),
    ),
    Question(
        "10_tutorial_claims_measured",
        "value_clip",
        "Clipped by value to 0.5 of its norm, how far does the gradient turn from its own direction (the middle "
        "of the {batches} batches × the seeds)?",
        Cuts(
            lambda r: statistics.median(c for seed in r["cosines"]["0.5"] for c in seed),
            (0.9, 0.99),
            ("clearly (cosine under 0.9)", "a little (cosine 0.9 to 0.99)", "not at all (cosine 0.99 or more)"),
        ),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 11
    *(
        Question(
            "11_word_level_embedding_dropout_and_tying",
            name,
            asks,
            Compare(lambda r, m=measure: r[m]["untied"], lambda r, m=measure, a=arm: r[m][a], lower=arm, higher=other),
            runs=("untied", arm),
            change=(knob,),
        )
        for name, asks, measure, arm, other, knob in (
            (
                "embedding_gap",
                "Embedding dropout 0.3 against none: which ends with the smaller final gap?",
                "gap",
                "embedding dropout 0.3",
                "no dropout",
                "embed_dropout",
            ),
            (
                "embedding_test",
                "Embedding dropout 0.3 against none: which has the lower best-step test loss?",
                "test",
                "embedding dropout 0.3",
                "no dropout",
                "embed_dropout",
            ),
            (
                "tying_test",
                "Tied against untied: which has the lower best-step test loss?",
                "test",
                "tied",
                "untied",
                "tie_weights",
            ),
        )
    ),
)


def questions_of(lesson: str) -> tuple[Question, ...]:
    return tuple(question for question in QUESTIONS if question.lesson == lesson)


def question_named(lesson: str, name: str) -> Question:
    """The question a lesson asks by `name`."""
    for question in questions_of(lesson):
        if question.name == name:
            return question
    raise KeyError(f"{lesson} has no question named {name!r} (explorer/runs/questions.py)")
