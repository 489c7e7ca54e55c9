"""Every notebook runs top to bottom headless (nbclient, the venv's python3 kernel), the lessons as a reader
runs them (lessons 1–7 have no shortened mode; 8 and 9 run their fast mode), and each lesson's numbers show
the effect it claims in every one of its seeds. The numbers are read back from the executed notebook: each
lesson prints one line `RESULTS {json}`. The notebooks execute in the background from the start of the
session (tests/notebook_runs.py); these tests run last and read what they printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_runs import LESSONS, TIMEOUT_S, execute

WIDGET = "application/vnd.jupyter.widget-view+json"


def outputs(notebook) -> list:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def results(stem: str) -> dict:
    notebook, _ = execute(stem)
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
    if stem in LESSONS[:7]:  # predict, observe, explain: every prediction the lesson asks is answered by its runs
        texts = [o.text for o in outputs(notebook) if o.output_type == "stream"]
        assert any("The runs say" in text for text in texts)
    assert seconds < TIMEOUT_S


def every(values) -> bool:
    """A claim per seed: it must hold in every seed the lesson trained (3)."""
    values = list(values)
    return len(values) == 3 and all(values)


def test_overfitting_validation_turns_on_little_text_and_the_contiguous_split_adds_a_shift():
    r = results("01_overfitting")
    assert every(rise > 0.03 for rise in r["rise_small"])  # validation loss turned and climbed, every seed
    assert every(rise < 0.01 for rise in r["rise_large"])  # ten times more text: still falling at the end
    assert every(small > 2 * large for small, large in zip(r["gap_small"], r["gap_large"]))
    assert every(test > best for test, best in zip(r["test_small"], r["best_val_small"]))  # memorised: worse
    assert every(small > 9 * large for small, large in zip(r["epochs_small"], r["epochs_large"]))
    assert every(c > i + 0.03 for c, i in zip(r["shift_contiguous"], r["shift_interleaved"]))


def test_dropout_every_form_narrows_the_gap_and_the_gal_and_awd_recipes_narrow_it_more_than_zaremba():
    r = results("02_dropout")
    assert r["largest_gap"] == ["naive recurrent 0.5"] * 3 and every(r["recipes_smaller"])
    for name in ("naive recurrent 0.5", "Zaremba 0.5", "Gal 0.5", "AWD: locked + weight drop 0.5"):
        assert every(g < n for g, n in zip(r[f"gap_{name}"], r["gap_no dropout"])), name
    e = r["evaluation"]
    assert every(one > off for one, off in zip(e["one pass"], e["off"]))  # one thinned network is worse
    assert every(mc < one for mc, one in zip(e["MC 10"], e["one pass"]))  # averaging passes recovers
    assert every(mc - off < (one - off) / 2 for mc, one, off in zip(e["MC 10"], e["one pass"], e["off"]))  # most
    assert r["lowest_test"] == ["naive recurrent 0.5"] * 3  # the lesson says so: a smaller gap is not a better model


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
    assert len(r["runs"]) == 3
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
    r = results("08_memorisation_and_noising")
    assert r["copied_none"] > 0.4 and r["copied_none"] > 10 * max(r["baseline_none"], 0.01)  # reciting
    assert r["copied_noising"] < r["copied_none"] / 2 and r["copied_mean_dropout"] < r["copied_mean_none"]
    assert r["longest_none"] > 2 * r["longest_noising"]
    assert r["gap_noising"] < r["gap_none"] and r["gap_dropout"] < r["gap_none"]
    assert 0.27 < r["blank_share"] < 0.33  # a share γ = 0.3 of the inputs chosen


def test_gates_and_attention_reach_and_recall_further_than_a_vanilla_rnn():
    r = results("09_long_range_dependencies")
    assert r["reach50_lstm"] > 1000 * r["reach50_rnn"] and r["reach50_gru"] > 1000 * r["reach50_rnn"]
    assert r["reach50_orthogonal"] > r["reach50_rnn"]  # orthogonal init helps the RNN
    assert r["recall_rnn_mean"] > 0.9 * r["guess"]  # the vanilla RNN only guesses
    assert r["recall_lstm_45"] < 0.5 * r["guess"]  # the LSTM recalls 45 characters back
    assert r["recall_attention_same_window_max"] < 0.3 and r["recall_attention_2"] < 0.5


def test_the_python3_kernel_is_this_environments():
    """A fresh `make test` needs no kernelspec step: ipykernel's wheel installs python3 into the venv, which
    Jupyter prefers inside a venv, and "python" in its argv becomes this interpreter."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.resource_dir).resolve().is_relative_to(Path(sys.prefix).resolve())
    assert spec.argv[0] in ("python", "python3", sys.executable)
