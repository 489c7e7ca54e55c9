"""Every notebook runs top to bottom headless (nbclient, the venv's python3 kernel) in fast mode, and each
lesson's numbers show the effect it claims. The numbers are read back from the executed notebook: each
lesson prints one line `RESULTS {json}`."""

from __future__ import annotations

import json
import math
import os
import time
from functools import cache
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(p.stem for p in NOTEBOOKS.glob("0*.ipynb"))
BUDGET_S = 60  # the goal per notebook on a 2-core laptop
TIMEOUT_S = 300  # what a test allows, for a CI machine shared with other jobs
WIDGET = "application/vnd.jupyter.widget-view+json"


@cache
def execute(stem: str) -> tuple[nbformat.NotebookNode, float]:
    """The notebook executed in fast mode (once per test session), and its wall time."""
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    previous = os.environ.get("EXPLORER_FAST")
    os.environ["EXPLORER_FAST"] = "1"  # the kernel inherits it
    try:
        began = time.monotonic()
        NotebookClient(
            notebook,
            timeout=TIMEOUT_S,
            kernel_name="python3",
            allow_errors=False,
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        ).execute()
        return notebook, time.monotonic() - began
    finally:
        if previous is None:
            del os.environ["EXPLORER_FAST"]
        else:
            os.environ["EXPLORER_FAST"] = previous


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
def test_notebook_runs_headless_in_fast_mode(stem):
    notebook, seconds = execute(stem)
    print(f"{stem}: {seconds:.1f} s")
    errors = [o for o in outputs(notebook) if o.output_type == "error"]
    warnings = [o.text for o in outputs(notebook) if o.output_type == "stream" and o.name == "stderr"]
    assert not errors and not warnings, (errors, warnings)
    views = [o for o in outputs(notebook) if WIDGET in o.get("data", {})]
    assert views, "the dashboard / charts are widgets"
    if stem != "dashboard":
        assert len(views) >= 3  # the live experiment chart, the proof chart(s), the dashboard
    assert seconds < TIMEOUT_S
    if seconds > BUDGET_S:
        print(f"note: {stem} took {seconds:.0f} s, over the {BUDGET_S} s laptop budget (a busy machine?)")


def test_overfitting_gap_grows_and_validation_turns_and_more_data_narrows_it():
    r = results("01_overfitting")
    assert r["gap_growth"] > 0.5 and r["gap_last"] > 3 * r["gap_first"]
    assert r["val_rise"] > 0.03 and r["best_step"] < 300  # validation loss turned and climbed
    assert r["final_val_ppl"] > 2 * r["final_train_ppl"]
    assert r["gap_last_more_data"] < r["gap_last"] / 2


def test_dropout_inflates_the_training_mode_loss_and_narrows_the_gap():
    r = results("02_dropout")
    assert r["inflation_standard"] > 0.1 and r["inflation_variational"] > 0.1  # eval-mode loss < train-mode loss
    assert abs(r["inflation_none"]) < 1e-6  # no dropout, nothing random: the same number
    assert r["gap_standard"] < 0.75 * r["gap_none"] and r["gap_variational"] < 0.75 * r["gap_none"]
    assert r["final_val_standard"] < r["final_val_none"] and r["final_val_variational"] < r["final_val_none"]


def test_l1_makes_weights_sparse_l2_and_adamw_shrink_them():
    r = results("03_weight_penalties")
    assert r["near_zero_l1"] > 0.1 and r["near_zero_l1"] > 4 * r["near_zero_l2"]
    assert r["near_zero_l1"] > 4 * r["near_zero_none"]
    assert r["norm_l2"] < 0.8 * r["norm_none"] and r["norm_adamw"] < 0.95 * r["norm_none"]
    assert r["gap_l2"] < r["gap_none"] and r["gap_l1"] < r["gap_none"]


def test_exploding_rnn_clipping_and_the_lstms_longer_reach():
    r = results("04_exploding_vanishing_gradients")
    assert r["max_grad_norm_exploding"] > 10 * r["max_grad_norm_clipped_before"]
    assert r["max_grad_norm_clipped_applied"] <= 1.0 + 1e-4  # clip by norm at 1
    assert r["max_grad_norm_exploding"] > 100 * r["max_grad_norm_clipped_applied"]
    exploded = r["final_val_exploding"]
    assert math.isnan(exploded) or exploded > r["final_val_clipped"] + 1.0
    assert r["final_val_value_clipped"] < r["final_val_clipped"] + 0.3
    assert r["max_grad_norm_lstm"] < r["max_grad_norm_exploding"] / 100
    assert r["cos_norm"] > 0.9999 and r["cos_value"] < 0.95  # norm keeps the direction, value does not
    assert r["lstm_reach"] > 100 * r["rnn_reach"]


def test_batch_and_layer_norm_speed_up_fitting_and_do_not_narrow_the_gap():
    r = results("05_batch_norm")
    assert r["train_loss_halfway_bn"] < r["train_loss_halfway_none"] - 0.3
    assert r["train_loss_halfway_ln"] < r["train_loss_halfway_none"] - 0.3
    assert r["gap_bn"] > r["gap_none"] and r["gap_ln"] > r["gap_none"]
    assert r["best_step_bn"] < r["best_step_none"]
    assert r["first_val_bn"] > r["first_val_none"]  # running statistics still poor at the first evaluation


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    r = results("06_early_stopping")
    assert r["event"] == "early_stop" and r["stop_step"] < r["steps"]
    assert r["stop_step"] - r["best_step"] == r["patience"] * r["eval_every"]
    assert abs(r["restored_val_loss"] - r["best_val_loss"]) < 1e-5  # restored weights = best weights
    assert r["val_at_stop"] > r["best_val_loss"] and r["full_run_final_val"] > r["restored_val_loss"] + 0.05


def test_small_regularised_model_beats_big_unregularised_on_validation_perplexity():
    r = results("07_putting_it_together")
    assert r["small_val_ppl"] < 0.85 * r["big_val_ppl"]
    assert r["small_parameters"] < r["big_parameters"] / 3


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
