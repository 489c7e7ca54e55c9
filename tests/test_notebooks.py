"""Every notebook runs top to bottom headless (nbclient, the venv's python3 kernel), the lessons as a reader
runs them (every question committed unanswered, EXPLORER_ANSWERS=skip), and each lesson's numbers show the
effect it claims in every one of its seeds (benchmarks/lesson_claims.py runs these same checks on other
seeds). The numbers are read back from the executed notebook: each lesson prints one line `RESULTS {json}`.
The notebooks execute in the background from the start of the session (tests/notebook_runs.py); these tests
run last and read what they printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_runs import LESSONS, NOTEBOOKS, TIMEOUT_S, execute

from explorer.runs.experiments import SEEDS

WIDGET = "application/vnd.jupyter.widget-view+json"


def outputs(notebook) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def results(stem: str) -> dict:
    return printed_results(execute(stem)[0], stem)


def printed_results(notebook, stem: str) -> dict:
    """The numbers the executed lesson printed on its one `RESULTS {json}` line."""
    lines = [
        line
        for o in outputs(notebook)
        if o.output_type == "stream"
        for line in o.text.splitlines()
        if line.startswith("RESULTS ")
    ]
    assert len(lines) == 1, f"{stem} should print exactly one RESULTS line"
    return json.loads(lines[0].removeprefix("RESULTS "))


def test_the_lessons_are_all_there():
    assert LESSONS == [
        "01_overfitting",
        "02_dropout",
        "03_weight_penalties",
        "04_exploding_vanishing_gradients",
        "05_batch_norm",
        "06_early_stopping",
        "07_putting_it_together",
        "08_memorisation_and_noising",
        "09_long_range_dependencies",
        "10_tutorial_claims_measured",
        "11_word_level_embedding_dropout_and_tying",
    ]


@pytest.mark.parametrize("stem", ["dashboard", *LESSONS])
def test_notebook_runs_headless(stem):
    notebook, seconds = execute(stem)
    print(f"{stem}: {seconds:.1f} s")
    errors = [o for o in outputs(notebook) if o.output_type == "error"]
    warnings = [o.text for o in outputs(notebook) if o.output_type == "stream" and o.name == "stderr"]
    assert not errors and not warnings, (errors, warnings)
    views = [o for o in outputs(notebook) if WIDGET in o.get("data", {})]
    assert views, "the dashboard / charts are widgets"
    if stem != "dashboard":
        assert len(views) >= 3  # the live experiment chart, the proof chart(s), the dashboard
    if stem in LESSONS:  # predict, observe, explain: every question the lesson asks is answered by its runs
        said = [line for o in outputs(notebook) if o.output_type == "stream" for line in o.text.splitlines()]
        asked = (NOTEBOOKS / f"{stem}.py").read_text().count("predict(")
        assert sum(line.startswith("The runs say: ") for line in said) >= asked
    assert seconds < TIMEOUT_S


def every(values) -> bool:
    """A claim per seed: it must hold in every seed the lesson trained (3; benchmarks/lesson_claims.py sets others)."""
    values = list(values)
    return len(values) == len(SEEDS) and all(values)


def test_overfitting_validation_turns_on_little_text_and_the_contiguous_split_adds_a_shift():
    r = results("01_overfitting")
    assert every(rise > 0.03 for rise in r["rise_small"])  # validation loss turned and climbed, every seed
    assert every(rise < 0.01 for rise in r["rise_large"])  # ten times more text: still falling at the end
    assert every(small > 2 * large for small, large in zip(r["gap_small"], r["gap_large"]))
    assert every(small > 9 * large for small, large in zip(r["epochs_small"], r["epochs_large"]))
    assert every(c > i + 0.03 for c, i in zip(r["shift_contiguous"], r["shift_interleaved"]))
    assert every(s > 0.5 + g for s, g in zip(r["test_small"], r["test_large"]))  # "far lower" test loss


def test_dropout_narrows_every_gap_the_two_site_runs_fit_slower_and_a_smaller_gap_is_not_a_lower_test_loss():
    r = results("02_dropout")
    arms = ("standard 0.5", "locked 0.5", "naive recurrent 0.5", "Gal recurrent 0.5")
    for name in arms:
        assert every(g < n for g, n in zip(r[f"gap_{name}"], r["gap_no dropout"])), name
    assert every(r["site_matters"])  # both non-recurrent runs' gaps under both recurrent runs'
    fits = zip(*(r[f"train_{name}"] for name in arms))  # ... and they fit the training text less: a slower fit
    assert every(min(s, lk) > max(nv, gl) for s, lk, nv, gl in fits)
    standard, locked, none = r["gap_standard 0.5"], r["gap_locked 0.5"], r["gap_no dropout"]
    assert every(abs(s - lk) < (n - s) / 10 for s, lk, n in zip(standard, locked, none))  # little to fix there
    for kind, verdict in r["schedule_verdicts"].items():  # computed from the runs, with its interval
        assert "The runs say" in verdict and ("95 % interval" in verdict or len(SEEDS) == 1), kind
    assert all(name in ("naive recurrent 0.5", "Gal recurrent 0.5") for name in r["lowest_test"])  # larger gaps
    e = r["evaluation"]
    assert every(one > off for one, off in zip(e["one pass"], e["off"]))  # one thinned network is worse
    assert every(mc < one for mc, one in zip(e["MC 10"], e["one pass"]))  # averaging passes recovers
    assert every(mc - off < (one - off) / 2 for mc, one, off in zip(e["MC 10"], e["one pass"], e["off"]))  # most
    assert every(mc > off for mc, off in zip(e["MC 10"], e["off"]))  # and is still worse than dropout off


def test_coupled_decay_is_l2_and_shrinks_adamw_at_the_same_lambda_barely_and_proximal_l1_gives_zeros():
    r = results("03_weight_penalties")
    assert r["twin_difference"] < 1e-6  # Adam's weight_decay = 2λ₂ is the L2 penalty λ₂, to the last digit
    assert every(c < 0.8 * n for c, n in zip(r["norm_coupled"], r["norm_none"]))
    assert every(abs(d / n - 1) < 0.05 for d, n in zip(r["norm_decoupled"], r["norm_none"]))
    assert every(z == 0 for z in r["zeros_subgradient"]) and every(z > 0.2 for z in r["zeros_proximal"])
    near = r["near_subgradient"]
    assert every(a < b < c for a, b, c in zip(near["0.0001"], near["0.001"], near["0.01"]))  # follows the line
    assert every(g < n for g, n in zip(r["gap_coupled"], r["gap_none"]))
    assert every(g < n for g, n in zip(r["gap_l1"], r["gap_none"]))


def test_clipping_saves_the_exploding_rnn_and_the_forget_gate_and_the_window_set_the_reach():
    r = results("04_exploding_vanishing_gradients")
    assert every(u > 10 * a for u, a in zip(r["largest_unclipped"], r["largest_applied_clipped"]))
    assert every(a <= 1.0 + 1e-4 for a in r["largest_applied_clipped"])  # clip by norm at 1
    assert every(c < u - 1.0 for c, u in zip(r["val_clipped"], r["val_unclipped"]))
    assert r["cos_norm"] > 0.9999 and r["cos_value"] < 0.95  # norm keeps the direction, value does not
    init, after = r["init_50"], r["after_50"]
    assert every(
        b > 1000 * lstm > 100 * 1000 * rnn  # seed 0 at initialisation: LSTM 1.4e-12, RNN 4.7e-15
        for b, lstm, rnn in zip(init["LSTM, forget bias 1"], init["LSTM"], init["RNN"])
    )
    assert every(lstm > 100 * rnn for lstm, rnn in zip(after["LSTM"], after["RNN"]))
    assert every(a > i for a, i in zip(after["LSTM"], init["LSTM"]))  # training opened the gates
    for by_length in r["farthest"].values():  # the farther the window's far end, the weaker the gradient there
        assert every(a > b >= c for a, b, c in zip(by_length["16"], by_length["64"], by_length["256"]))
    assert r["uncut"] > 0 and r["cut"] == 0  # truncated BPTT: no path across the window's edge


def test_normalisation_fits_faster_everywhere_narrows_no_gap_and_only_pooled_batch_statistics_leak():
    r = results("05_batch_norm")
    placements = [key.removeprefix("gap_") for key in r if key.startswith("gap_") and key != "gap_none"]
    assert len(placements) == 4
    for name in placements:
        assert every(n < plain - 0.3 for n, plain in zip(r[f"halfway_{name}"], r["halfway_none"])), name
        assert every(g > plain for g, plain in zip(r[f"gap_{name}"], r["gap_none"])), name
    assert r["leaks"]["(A) batch norm between layers"] > 1e-3  # pooled over time: step 1 sees step 32
    assert all(leak == 0 for name, leak in r["leaks"].items() if name != "(A) batch norm between layers")
    assert all(d < 1e-4 for d in r["batch_one"].values())  # running statistics: alone = in a batch


def test_early_stopping_stops_after_patience_restores_the_best_weights_and_scores_better_on_test():
    r = results("06_early_stopping")
    for run in r["runs"]:
        assert run["event"] == "early_stop" and run["stop_step"] < r["steps"]
        assert run["stop_step"] - run["best_step"] == r["patience"] * r["eval_every"]
        assert abs(run["restored_val_loss"] - run["best_val_loss"]) < 1e-5  # restored weights = best weights
        assert run["val_at_stop"] > run["best_val_loss"]
    assert len(r["runs"]) == len(SEEDS)
    assert every(s < f - 0.05 for s, f in zip(r["test_stopped"], r["test_full"]))


def test_big_and_regularised_has_the_lowest_test_loss():
    r = results("07_putting_it_together")
    others = [r[f"test_{name}"] for name in ("small", "small + dropout", "big")]
    assert every(all(best < o for o in rest) for best, *rest in zip(r["test_big + dropout"], *others))
    assert r["parameters_small"] < r["parameters_big"] / 3
    e = r["effects"]  # test loss changes, one knob at a time, as the lesson reads them
    assert every(d > 0 for d in e["dropout, small model"]) and every(d < 0 for d in e["dropout, big model"])
    assert every(w < wo < 0 for w, wo in zip(e["size, with dropout"], e["size, no dropout"]))


def test_memorisation_climbs_without_regularisation_and_noising_keeps_it_down():
    r = results("08_memorisation_and_noising")  # one value per seed, at the reader's length
    assert every(c > 10 * max(b, 0.01) for c, b in zip(r["copied_none"], r["baseline_none"]))  # reciting
    assert every(z < c / 2 for z, c in zip(r["copied_noising"], r["copied_none"]))
    assert every(z < c for z, c in zip(r["gap_noising"], r["gap_none"]))
    assert 0.27 < r["blank_share"] < 0.33  # a share γ = 0.3 of the inputs chosen


def test_gates_and_attention_reach_and_recall_further_than_a_vanilla_rnn():
    r = results("09_long_range_dependencies")  # every value: one per seed, at the reader's length
    rnn, lstm, gru = r["reach50_rnn"], r["reach50_lstm"], r["reach50_gru"]
    assert every(min(g1, g2) > 1000 * p for g1, g2, p in zip(lstm, gru, rnn))
    assert len(r["orthogonal_above"]) == len(SEEDS)  # rendered: in how many seeds (seeds 0-4: test_mechanisms)
    guess = r["guess"]
    assert every(v > 0.9 * guess for v in r["recall_rnn_min"])  # the vanilla RNN guesses at every distance
    assert every(v < 0.5 * guess for v in r["recall_lstm_max"])  # the LSTM recalls at every distance up to 45
    assert every(v < 0.5 * guess for v in r["recall_attention_same_window_max"])  # recalls inside its window
    assert every(v < 0.5 for v in r["recall_attention_2"])


def test_dropout_leaves_vanishing_clipping_shrinks_sgds_gap_by_slowing_it_inverted_dropout_and_value_clips_turn():
    r = results("10_tutorial_claims_measured")  # every list: one value per seed, at the reader's length
    assert every(max(a, b) < 1e-3 for a, b in zip(r["reach_plain"], r["reach_dropout"]))  # vanished either way
    gaps, train, clipped = r["gaps"], r["train"], r["clipped_share"]
    assert every(share > 0.9 for share in clipped["Adam, clipped at 0.25"])  # clipped at almost every step
    assert every(  # Adam: clipping moved the gap by less than half of what dropout took off it
        abs(c - u) < (u - d) / 2
        for u, c, d in zip(gaps["Adam"], gaps["Adam, clipped at 0.25"], gaps["Adam, dropout 0.3"])
    )
    assert every(c < u for u, c in zip(gaps["SGD"], gaps["SGD, clipped at 0.25"]))  # SGD: a smaller gap...
    assert every(c > u for u, c in zip(train["SGD"], train["SGD, clipped at 0.25"]))  # ...from a slower fit
    as_trained, keep_rate, drop_rate = r["test_by_rule"]
    assert every(a < k < d for a, k, d in zip(as_trained, keep_rate, drop_rate))
    middle = {depth: [sorted(c)[len(c) // 2] for c in by_seed] for depth, by_seed in r["cosines"].items()}
    assert every(m < 0.9 for m in middle["0.5"])  # value clipping turns the gradient
    assert every(a > b > c for a, b, c in zip(middle["0.9"], middle["0.5"], middle["0.1"]))  # the more, the deeper


def test_word_level_tying_removes_the_decoder_and_every_split_has_the_same_mix_of_unknown_words():
    r = results("11_word_level_embedding_dropout_and_tying")  # every list: one value per seed
    untied, tied = r["parameters"]["untied"], r["parameters"]["tied"]
    assert 0.15 < r["removed_share"] <= 0.3 and untied - tied == 500 * 128  # the decoder's weights, counted
    train, valid, test = r["unk_shares"]
    assert abs(train - valid) < 0.02 and abs(train - test) < 0.02  # the same mix of <unk> in every split
    assert r["unseen_share"] < 0.02  # and nearly every other test word was read in training
    assert all(len(v) == len(SEEDS) for by_arm in (r["test"], r["gap"], r["train"]) for v in by_arm.values())
    # the lesson states no effect beyond its verdicts, which are rendered from these numbers


def test_the_python3_kernel_is_this_environments():
    """A fresh `make test` needs no kernelspec step: ipykernel's wheel installs python3 into the venv, which
    Jupyter prefers inside a venv, and "python" in its argv becomes this interpreter."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.resource_dir).resolve().is_relative_to(Path(sys.prefix).resolve())
    assert spec.argv[0] in ("python", "python3", sys.executable)
