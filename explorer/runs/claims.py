"""What each lesson says its runs show, as code: one copy of every claim, the sentence a reader is told and the test
of it on the numbers the lesson printed (its one `RESULTS {json}` line, every list in it one value per seed).

The same objects are checked everywhere a claim is: the test suite holds each in every seed the lesson trains
(tests/test_notebooks.py), `benchmarks/lesson_claims.py` counts in how many seeds no one tuned on each holds, each
lesson ends with a table of its claims and in how many of its own seeds each held (so it never states one its runs
did not show), and docs/lessons.md's claims table is written by that benchmark (a test fails when the page and this
list disagree). A claim about no seed (what a computation depends on, counted parameters) has one verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from explorer.runs.lesson_runs import DROPOUT_KNOBS, DROPOUT_RUNS, NORMALISED, SIZE_BY_DROPOUT


@dataclass(frozen=True)
class Claim:
    lesson: str  # the notebook's stem
    says: str  # the sentence, as a reader meets it
    held: Callable[..., bool]  # (numbers, seed index) -> bool; (numbers) -> bool when per_seed is False
    per_seed: bool = True
    runs: tuple[str, ...] = ()  # the lesson's runs it compares (names in the numbers' "setups"); () for none
    change: tuple[str, ...] = ()  # the knobs it credits: the only ones those runs may differ in
    name: str = ""  # how the lesson's prose cites it (explorer.faces.notebook.lessons.held), when it does

    def verdicts(self, numbers: dict, seeds: int) -> list[bool]:
        """Whether it held in each of the `seeds` seeds the numbers hold (one verdict for a claim about no seed)."""
        if not self.per_seed:
            return [bool(self.held(numbers))]
        return [bool(self.held(numbers, i)) for i in range(seeds)]

    def unfair(self, setups: dict[str, dict]) -> str | None:
        return unlike(self.runs, self.change, setups)

    @property
    def compares(self) -> str:
        """What it compares, as its table says: the knobs its runs differ in, or nothing compared."""
        return ", ".join(self.change) if self.runs else "—"


def unlike(runs: Sequence[str], change: Sequence[str], setups: dict[str, dict]) -> str | None:
    """Why comparing `runs` is not like for like (None when it is): they differ in a knob `change` does not name,
    or not in one it names. `setups`: {run name: knobs}, as a lesson prints them."""
    if missing := [name for name in runs if name not in setups]:
        return f"the lesson has no run named {missing[0]!r}"
    differ = {knob for name in runs[1:] for knob, value in setups[name].items() if value != setups[runs[0]].get(knob)}
    if differ - set(change):
        return f"its runs also differ in {', '.join(sorted(differ - set(change)))}"
    if set(change) - differ:
        return f"its runs do not differ in {', '.join(sorted(set(change) - differ))}"
    return None


def _rules(r: dict, i: int, rank: int) -> float:
    """Lesson 10: the test loss of its `rank`-th weight rule (× 1, × keep rate, × drop rate) in seed i."""
    return list(r["test_by_rule"].values())[rank][i]


def _middle(values: Sequence[float]) -> float:
    return sorted(values)[len(values) // 2]


def _placements(r: dict) -> list[str]:
    """Lesson 5's normalised models, by the names its numbers use."""
    return [key.removeprefix("gap_") for key in r if key.startswith("gap_") and key != "gap_none"]


def _non_recurrent_smaller(r: dict, i: int) -> bool:
    """Lesson 2: both non-recurrent runs' gaps over 0.1 nats below both recurrent runs'."""
    return max(r["gap_standard 0.5"][i], r["gap_locked 0.5"][i]) + 0.1 < min(
        r["gap_naive recurrent 0.5"][i], r["gap_Gal recurrent 0.5"][i]
    )


def _dropout_arms(r: dict, i: int) -> list[float]:
    return [r[f"gap_{name}"][i] for name in DROPOUT_RUNS[1:]]


CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------------------------------------ lesson 1
    Claim(
        "01_overfitting",
        "On 0.5 % of the training text the validation loss turns and climbs (by more than 0.03 nats from its lowest)",
        lambda r, i: r["rise_small"][i] > 0.03,
        name="small_turns",
    ),
    Claim(
        "01_overfitting",
        "On 5 % of it, the validation loss has risen by under 0.01 nats from its lowest at the end",
        lambda r, i: r["rise_large"][i] < 0.01,
        name="large_flat",
    ),
    Claim(
        "01_overfitting",
        "The small text's final gap is more than twice the larger text's",
        lambda r, i: r["gap_small"][i] > 2 * r["gap_large"][i],
        runs=("0.5% of the text", "5% of the text"),
        change=("train_fraction",),
        name="gap_halved",
    ),
    Claim(
        "01_overfitting",
        "In the same steps the small text is read more than 9 times as many epochs",
        lambda r: r["epochs_small"][0] > 9 * r["epochs_large"][0],
        per_seed=False,
    ),
    Claim(
        "01_overfitting",
        "The larger text's test loss is lower by more than 0.5 nats",
        lambda r, i: r["test_small"][i] > 0.5 + r["test_large"][i],
        runs=("0.5% of the text", "5% of the text"),
        change=("train_fraction",),
        name="test_lower",
    ),
    Claim(
        "01_overfitting",
        "On the whole text, no character read twice, the contiguous split's gap is larger than the interleaved "
        "split's by more than 0.03 nats",
        lambda r, i: r["shift_contiguous"][i] > r["shift_interleaved"][i] + 0.03,
        runs=("interleaved split", "contiguous split"),
        change=("split",),
        name="shift",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 2
    Claim(
        "02_dropout",
        "Every dropout run (standard, locked, naive recurrent, Gal recurrent; p 0.5) ends with a gap over 0.1 nats "
        "smaller than no dropout's",
        lambda r, i: all(gap < r["gap_no dropout"][i] - 0.1 for gap in _dropout_arms(r, i)),
        runs=DROPOUT_RUNS,
        change=DROPOUT_KNOBS,
        name="every_dropout",
    ),
    Claim(
        "02_dropout",
        "At the same step both non-recurrent runs have a gap over 0.1 nats smaller than both recurrent ones (at the "
        "same p, dropout masks two sites, recurrent dropout one)",
        lambda r, i: _non_recurrent_smaller(r, i),
        runs=DROPOUT_RUNS[1:],
        change=DROPOUT_KNOBS,
        name="site",
    ),
    Claim(
        "02_dropout",
        "The non-recurrent runs also end with a training loss (dropout off) over 0.1 nats higher than both recurrent "
        "ones: a looser fit at this step, so their smaller gap is no fair test of where the mask goes",
        lambda r, i: (
            min(r["train_standard 0.5"][i], r["train_locked 0.5"][i])
            > max(r["train_naive recurrent 0.5"][i], r["train_Gal recurrent 0.5"][i]) + 0.1
        ),
        runs=DROPOUT_RUNS[1:],
        change=DROPOUT_KNOBS,
        name="site_fit",
    ),
    Claim(
        "02_dropout",
        "Standard and locked dropout's gaps differ by under a tenth of what standard dropout took off the gap",
        lambda r, i: (
            abs(r["gap_standard 0.5"][i] - r["gap_locked 0.5"][i])
            < (r["gap_no dropout"][i] - r["gap_standard 0.5"][i]) / 10
        ),
        runs=("standard 0.5", "locked 0.5"),
        change=("dropout_kind",),
    ),
    Claim(
        "02_dropout",
        "With their final weights, the lowest test loss is a recurrent-dropout run's, over 0.01 nats below every run "
        "without recurrent dropout, and its gap is the larger: a smaller gap is not a lower test loss (nor is this a "
        "ranking of the methods)",
        lambda r, i: (
            min(r[f"test_{name}"][i] for name in DROPOUT_RUNS[3:]) + 0.01
            < min(r[f"test_{name}"][i] for name in DROPOUT_RUNS[:3])
            and _non_recurrent_smaller(r, i)
        ),
        runs=DROPOUT_RUNS,
        change=DROPOUT_KNOBS,
    ),
    Claim(
        "02_dropout",
        "On the standard-dropout models, one pass with dropout on scores a validation loss over 0.1 nats higher than "
        "dropout off",
        lambda r, i: r["evaluation"]["one pass"][i] > r["evaluation"]["off"][i] + 0.1,
        name="one_pass",
    ),
    Claim(
        "02_dropout",
        "Averaging 10 Monte-Carlo passes recovers more than half of that, and is still over 0.03 nats worse than "
        "dropout off",
        lambda r, i: (
            r["evaluation"]["off"][i] + 0.03
            < r["evaluation"]["MC 10"][i]
            < (r["evaluation"]["one pass"][i] + r["evaluation"]["off"][i]) / 2
        ),
        name="monte_carlo",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 3
    Claim(
        "03_weight_penalties",
        "A check of the code and of the algebra: Adam's coupled weight decay 2λ is the L2 penalty λ, the two runs' "
        "weights agree to under 1e-6",
        lambda r: r["twin_difference"] < 1e-6,
        per_seed=False,
        runs=("twins: L2 0.001", "twins: coupled decay 0.002"),
        change=("l2", "weight_decay"),
    ),
    Claim(
        "03_weight_penalties",
        "Coupled decay leaves the LSTM's and decoder's weight norm under 0.6 of the unpenalised run's, and the "
        "embedding's (apart: it starts far larger) under 0.7 of its",
        lambda r, i: (
            r["norm_coupled"][i] < 0.6 * r["norm_none"][i] and r["embedding_coupled"][i] < 0.7 * r["embedding_none"][i]
        ),
        runs=("no penalty", "coupled decay 0.002"),
        change=("weight_decay",),
        name="coupled_norm",
    ),
    Claim(
        "03_weight_penalties",
        "AdamW at the same λ leaves the LSTM's and decoder's weight norm within 5 % of the unpenalised run's",
        lambda r, i: abs(r["norm_decoupled"][i] / r["norm_none"][i] - 1) < 0.05,
        runs=("no penalty", "AdamW decay 0.002"),
        change=("optimizer", "weight_decay"),
        name="adamw_norm",
    ),
    Claim(
        "03_weight_penalties",
        "Without a penalty the LSTM's and decoder's weight norm more than doubles over the run",
        lambda r, i: r["norm_none"][i] > 2 * r["norm_start"][i],
    ),
    Claim(
        "03_weight_penalties",
        "L1 by subgradient (λ 1e-4) leaves no weight exactly 0; by proximal step (λ 0.2) over a fifth of them are",
        lambda r, i: r["zeros_subgradient"][i] == 0 and r["zeros_proximal"][i] > 0.2,
        runs=("L1 1e-4 subgradient", "L1 0.2 proximal"),
        change=("l1", "l1_kind"),
    ),
    Claim(
        "03_weight_penalties",
        "Coupled decay (λ 0.002) and proximal L1 (λ 0.2) each end with a final gap over 0.2 nats smaller than no "
        "penalty's (read at the same last step)",
        lambda r, i: max(r["gap_coupled"][i], r["gap_l1"][i]) < r["gap_none"][i] - 0.2,
        runs=("no penalty", "coupled decay 0.002", "L1 0.2 proximal"),
        change=("weight_decay", "l1", "l1_kind"),
        name="gap_narrower",
    ),
    Claim(
        "03_weight_penalties",
        "Their training losses end over 0.3 nats above no penalty's and their final validation losses within 0.15 "
        "nats of it: most of that smaller gap is a looser fit",
        lambda r, i: all(
            r[f"train_{arm}"][i] > r["train_none"][i] + 0.3 and abs(r[f"val_{arm}"][i] - r["val_none"][i]) < 0.15
            for arm in ("coupled", "l1")
        ),
        runs=("no penalty", "coupled decay 0.002", "L1 0.2 proximal"),
        change=("weight_decay", "l1", "l1_kind"),
        name="looser_fit",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 4
    Claim(
        "04_exploding_vanishing_gradients",
        "Without clipping the RNN's gradient norm explodes: it peaks at over 10, ten times the threshold the clipped "
        "run uses (τ = 1; how far over depends on the seed)",
        lambda r, i: r["largest_unclipped"][i] > 10,
    ),
    Claim(
        "04_exploding_vanishing_gradients",
        "The RNN clipped at 1 ends with a validation loss more than 1 nat below the unclipped RNN's (an unclipped run "
        "that diverged counts as above it)",
        lambda r, i: math.isnan(r["val_unclipped"][i]) or r["val_clipped"][i] < r["val_unclipped"][i] - 1.0,
        runs=("RNN, no clipping", "RNN, clip norm 1"),
        change=("clip",),
    ),
    Claim(
        "04_exploding_vanishing_gradients",
        "On one gradient of the first seed's unclipped RNN, clipping by norm keeps its direction (cosine 1 by "
        "construction); clipping each entry at 0.05 turns it (cosine under 0.95)",
        lambda r: r["cos_norm"] > 0.9999 and r["cos_value"] < 0.95,
        per_seed=False,
    ),
    Claim(
        "04_exploding_vanishing_gradients",
        "At initialisation, 50 steps back: forget bias 1 over 1,000 times the LSTM's gradient, the LSTM's over 10 "
        "times the RNN's",
        lambda r, i: (
            r["init_50"]["LSTM, forget bias 1"][i]
            > 1000 * r["init_50"]["LSTM"][i]
            > 1000 * 10 * r["init_50"]["RNN"][i]
            > 0
        ),
        runs=("RNN", "LSTM", "LSTM, forget bias 1"),
        change=("cell", "forget_bias"),
        name="init_reach",
    ),
    Claim(
        "04_exploding_vanishing_gradients",
        "After training (Adam) the LSTM's gradient 50 steps back is over 100 times the RNN's, and over "
        "1,000 times its own at the start",
        lambda r, i: (
            r["after_50"]["LSTM"][i] > 100 * r["after_50"]["RNN"][i] > 0
            and r["after_50"]["LSTM"][i] > 1000 * r["init_50"]["LSTM"][i]
        ),
        runs=("RNN", "LSTM"),
        change=("cell",),
        name="after_reach",
    ),
    Claim(
        "04_exploding_vanishing_gradients",
        "At initialisation, in each of the three cells, the gradient at a window's far end is over 100 times weaker "
        "in a 64-character window (63 steps back) than in a 16-character one (15 back), and still measurable there "
        "(above 0; 255 steps back it can fall below float32's range)",
        lambda r, i: all(by_length["16"][i] > 100 * by_length["64"][i] > 0 for by_length in r["farthest"].values()),
        name="window_far_end",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 5
    Claim(
        "05_batch_norm",
        "Every placement of normalisation fits faster: halfway, its training loss is over 0.3 nats below the plain "
        "model's",
        lambda r, i: (
            bool(_placements(r))
            and all(r[f"halfway_{name}"][i] < r["halfway_none"][i] - 0.3 for name in _placements(r))
        ),
        runs=NORMALISED,
        change=("batchnorm", "layernorm", "cell_norm"),
        name="faster",
    ),
    Claim(
        "05_batch_norm",
        "No placement narrows the gap: read at the same final step, every normalised run's gap is over 0.3 nats "
        "larger than the plain model's",
        lambda r, i: (
            bool(_placements(r)) and all(r[f"gap_{name}"][i] > r["gap_none"][i] + 0.3 for name in _placements(r))
        ),
        runs=NORMALISED,
        change=("batchnorm", "layernorm", "cell_norm"),
        name="no_narrowing",
    ),
    Claim(
        "05_batch_norm",
        "In training mode, only batch norm between layers (statistics pooled over time) lets the last character change "
        "the first output (by over 1e-3; exactly 0 in the others)",
        lambda r: (
            r["leaks"]["(A) batch norm between layers"] > 1e-3
            and all(leak == 0 for name, leak in r["leaks"].items() if name != "(A) batch norm between layers")
        ),
        per_seed=False,
    ),
    Claim(
        "05_batch_norm",
        "A check of the code: at evaluation, with running statistics, a sequence alone gets what it gets in a batch "
        "(to 1e-4)",
        lambda r: all(difference < 1e-4 for difference in r["batch_one"].values()),
        per_seed=False,
    ),
    # ------------------------------------------------------------------------------------------------ lesson 6
    Claim(
        "06_early_stopping",
        "Early stopping stops before the budget (and, a check of the code, patience × evaluation interval after its "
        "best step)",
        lambda r, i: (
            r["runs"][i]["event"] == "early_stop"
            and r["runs"][i]["stop_step"] < r["steps"]
            and r["runs"][i]["stop_step"] - r["runs"][i]["best_step"] == r["patience"] * r["eval_every"]
            and r["runs"][i]["val_at_stop"] > r["runs"][i]["best_val_loss"]
        ),
    ),
    Claim(
        "06_early_stopping",
        "A check of the code: the restored weights are the best ones (their validation loss to 1e-5)",
        lambda r, i: abs(r["runs"][i]["restored_val_loss"] - r["runs"][i]["best_val_loss"]) < 1e-5,
    ),
    Claim(
        "06_early_stopping",
        "The kept model's test loss is over 0.02 nats higher than the best validation loss that chose it (selection "
        "and a change of text together)",
        lambda r, i: r["runs"][i]["test_loss"] > r["runs"][i]["best_val_loss"] + 0.02,
        name="test_above_best",
    ),
    Claim(
        "06_early_stopping",
        "The kept model's test loss is lower by more than 0.05 nats than the one trained all the steps",
        lambda r, i: r["test_stopped"][i] < r["test_full"][i] - 0.05,
        name="kept_lower",
        runs=("no early stopping", "early stopping, patience 3"),
        change=("early_stop",),
    ),
    # ------------------------------------------------------------------------------------------------ lesson 7
    Claim(
        "07_putting_it_together",
        "Big and regularised has the lowest test loss of the four, by more than 0.01 nats",
        lambda r, i: all(
            r["test_big + dropout"][i] < r[f"test_{name}"][i] - 0.01 for name in ("small", "small + dropout", "big")
        ),
        runs=SIZE_BY_DROPOUT,
        change=("hidden", "dropout", "dropout_kind"),
        name="big_dropout_lowest",
    ),
    Claim(
        "07_putting_it_together",
        "The small model has under a third of the big one's parameters",
        lambda r: r["parameters_small"] < r["parameters_big"] / 3,
        per_seed=False,
        runs=("small", "big"),
        change=("hidden",),
    ),
    Claim(
        "07_putting_it_together",
        "Dropout raises the small model's test loss and lowers the big one's, each by more than 0.02 nats",
        lambda r, i: r["effects"]["dropout, small model"][i] > 0.02 and r["effects"]["dropout, big model"][i] < -0.02,
        runs=SIZE_BY_DROPOUT,
        change=("hidden", "dropout", "dropout_kind"),
        name="dropout_effects",
    ),
    Claim(
        "07_putting_it_together",
        "Size lowers the test loss by more than 0.02 nats, and by over 0.05 nats more with dropout than without",
        lambda r, i: r["effects"]["size, with dropout"][i] + 0.05 < r["effects"]["size, no dropout"][i] < -0.02,
        runs=SIZE_BY_DROPOUT,
        change=("hidden", "dropout", "dropout_kind"),
        name="size_effects",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 8
    Claim(
        "08_memorisation_and_noising",
        "Without regularisation it recites: in its last sample, the share of 12-character sequences found verbatim in "
        "the training text is over 10 times the share found in as much validation text of the same plays (that "
        "baseline counted as at least 1 %)",
        lambda r, i: r["copied_none"][i] > 10 * max(r["baseline_none"][i], 0.01),
        name="recites",
    ),
    Claim(
        "08_memorisation_and_noising",
        "Unigram noising (γ 0.3) copies under half of no regularisation's share over the run (the mean of its "
        "samples), and ends with a gap over 0.5 nats smaller at the same final step",
        lambda r, i: (
            r["copied_mean_noising"][i] < r["copied_mean_none"][i] / 2 and r["gap_noising"][i] < r["gap_none"][i] - 0.5
        ),
        runs=("no regularisation", "noising 0.3"),
        change=("noise",),
        name="noising",
    ),
    Claim(
        "08_memorisation_and_noising",
        "A check of the code (one fixed draw, the same in every seed): noising chooses each input with probability "
        "γ = 0.3 (blank noising chose 0.27 to 0.33 of one batch)",
        lambda r: 0.27 < r["blank_share"] < 0.33,
        per_seed=False,
    ),
    # ------------------------------------------------------------------------------------------------ lesson 9
    Claim(
        "09_long_range_dependencies",
        "After experiment 1's training, 50 steps back, the LSTM's and the GRU's gradients are over 10 times the "
        "vanilla RNN's",
        lambda r, i: min(r["reach50_lstm"][i], r["reach50_gru"][i]) > 10 * r["reach50_rnn"][i] > 0,
        runs=("reach: RNN", "reach: LSTM", "reach: GRU"),
        change=("cell",),
        name="gated_reach",
    ),
    Claim(
        "09_long_range_dependencies",
        "In experiment 2's training the vanilla RNN does not learn to hold the key: its loss on it stays above 0.8 of "
        "a guess's (ln 8 nats) at every k (the letters between key and query), 2 to 45",
        lambda r, i: r["recall_rnn_min"][i] > 0.8 * r["guess"],
        name="rnn_guesses",
    ),
    Claim(
        "09_long_range_dependencies",
        "The LSTM recalls the key at every k up to 45 (a loss under half a guess's)",
        lambda r, i: r["recall_lstm_max"][i] < 0.5 * r["guess"],
        name="lstm_recalls",
    ),
    Claim(
        "09_long_range_dependencies",
        "The RNN with attention recalls the keys inside its window (under half a guess's), at k = 2 under 0.5 nats",
        lambda r, i: r["recall_attention_same_window_max"][i] < 0.5 * r["guess"] and r["recall_attention_2"][i] < 0.5,
        name="attention_recalls",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 10
    Claim(
        "10_tutorial_claims_measured",
        "After training, the vanilla RNN's gradient 20 steps back is under a thousandth of its value at distance 0, "
        "with dropout 0.3 or without: dropout does not undo the vanishing",
        lambda r, i: max(r["reach_plain"][i], r["reach_dropout"][i]) < 1e-3,
        runs=("no dropout", "dropout 0.3"),
        change=("dropout",),
    ),
    Claim(
        "10_tutorial_claims_measured",
        "With Adam, clipping at 0.25 (which scaled down over 90 % of steps) moves the final gap by under half of what "
        "dropout 0.3 takes off it",
        lambda r, i: (
            r["clipped_share"]["Adam, clipped at 0.25"][i] > 0.9
            and abs(r["gaps"]["Adam, clipped at 0.25"][i] - r["gaps"]["Adam"][i])
            < (r["gaps"]["Adam"][i] - r["gaps"]["Adam, dropout 0.3"][i]) / 2
        ),
        runs=("Adam", "Adam, clipped at 0.25", "Adam, dropout 0.3"),
        change=("clip", "dropout"),
        name="clip_vs_dropout",
    ),
    Claim(
        "10_tutorial_claims_measured",
        "With SGD, clipping at 0.25 ends with a gap over 0.2 nats smaller and a training loss over 0.1 nats higher (a "
        "looser fit at the same step)",
        lambda r, i: (
            r["gaps"]["SGD, clipped at 0.25"][i] < r["gaps"]["SGD"][i] - 0.2
            and r["train"]["SGD, clipped at 0.25"][i] > r["train"]["SGD"][i] + 0.1
        ),
        runs=("SGD", "SGD, clipped at 0.25"),
        change=("clip",),
    ),
    Claim(
        "10_tutorial_claims_measured",
        "Unclipped SGD at the clipped run's measured learning rate (lr × its mean clip factor) ends with a final gap "
        "nearer the clipped run's than the unclipped run's, by more than 0.1 nats",
        lambda r, i: (
            abs(r["control_gap"][i] - r["gaps"]["SGD, clipped at 0.25"][i]) + 0.1
            < abs(r["control_gap"][i] - r["gaps"]["SGD"][i])
        ),
        runs=("SGD", "SGD, clipped at 0.25", "SGD at the clipped rate"),
        change=("clip", "lr"),
        name="control_nearer",
    ),
    Claim(
        "10_tutorial_claims_measured",
        "An inverted-dropout model scores best as trained (× 1), over 0.05 nats worse × the keep rate, and over 0.3 "
        "nats worse again × the drop rate",
        lambda r, i: _rules(r, i, 0) + 0.05 < _rules(r, i, 1) < _rules(r, i, 2) - 0.3,
    ),
    Claim(
        "10_tutorial_claims_measured",
        "Clipping by value to half the norm turns the gradient (a middle cosine under 0.9), and the deeper it clips "
        "the more: the middle cosine over 0.05 lower at each depth (0.9, 0.5, 0.1 of the norm)",
        lambda r, i: (
            _middle(r["cosines"]["0.5"][i]) < 0.9
            and _middle(r["cosines"]["0.9"][i]) - 0.05
            > _middle(r["cosines"]["0.5"][i])
            > _middle(r["cosines"]["0.1"][i]) + 0.05
        ),
        name="value_clip_turns",
    ),
    # ------------------------------------------------------------------------------------------------ lesson 11
    Claim(
        "11_word_level_embedding_dropout_and_tying",
        "Tying removes the decoder's 500 × 128 weights, 15 to 30 % of the model",
        lambda r: r["parameters"]["untied"] - r["parameters"]["tied"] == 500 * 128 and 0.15 < r["removed_share"] <= 0.3,
        per_seed=False,
        runs=("untied", "tied"),
        change=("tie_weights",),
    ),
    Claim(
        "11_word_level_embedding_dropout_and_tying",
        "The validation and test splits' shares of `<unk>` are within 2 points of the training text's, and under 2 % "
        "of test tokens are words its training text never contains",
        lambda r: (
            max(abs(r["unk_shares"][0] - share) for share in r["unk_shares"][1:]) < 0.02 and r["unseen_share"] < 0.02
        ),
        per_seed=False,
    ),
)


def claims_of(lesson: str) -> tuple[Claim, ...]:
    return tuple(claim for claim in CLAIMS if claim.lesson == lesson)


def claim_named(lesson: str, name: str) -> Claim:
    """The claim a lesson's prose cites by `name`."""
    for claim in claims_of(lesson):
        if claim.name == name:
            return claim
    raise KeyError(f"{lesson} has no claim named {name!r} (explorer/runs/claims.py)")
