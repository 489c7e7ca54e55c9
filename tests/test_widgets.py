"""The ipywidgets dashboard, in-process: real LiveRuns, real threads, widgets driven the way a page drives
them (button.click(), widget.value = ...). No browser here: see test_voila_browser.py for that."""

from __future__ import annotations

import base64
import json
import threading
import time

import ipywidgets as W
import pytest
import torch

from explorer.config import Config, format_value
from explorer.controls import ALL_CONTROLS, LIVE_CONTROLS, knob_change_lines
from explorer.history import Snapshot
from explorer.presets import PRESETS
from explorer.widgets import Dashboard, dashboard, experiment


def wait_until(condition, timeout: float = 30.0, every: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def small(**changes) -> Config:
    """A tiny model whose setup sits on the widgets' notches (so the widgets do not move it)."""
    base = dict(hidden=16, embed=16, seq_len=16, batch_size=8, train_fraction=0.01, steps=100_000,
                eval_every=5, eval_batches=2, detail_every=2, device="cpu")
    return Config(**{**base, **changes})


@pytest.fixture
def make():
    """dashboard(...) that is closed (run and pump stopped) after the test."""
    built: list[Dashboard] = []

    def build(*args, **kwargs) -> Dashboard:
        kwargs.setdefault("config", small())
        board = dashboard(*args, **kwargs)
        board.run.torch_threads = 1
        built.append(board)
        return board

    yield build
    for board in built:
        board.close()


def descendants(widget) -> list:
    out = [widget]
    for child in getattr(widget, "children", ()):
        out += descendants(child)
    return out


def shown(board: Dashboard) -> set[str]:
    """Knobs whose widget is part of the displayed tree."""
    tree = {id(w) for w in descendants(board)}
    return {name for name, widget in board.controls.items() if id(widget) in tree}


def spec_text(board: Dashboard, name: str = "gap") -> str:
    return json.dumps(board.charts[name].spec, ensure_ascii=False)


# ------------------------------------------------------------------------------------------ building
def test_every_control_spec_becomes_a_widget_with_its_label_and_help(make):
    board = make()
    assert set(board.controls) == {c.name for c in ALL_CONTROLS}
    kinds = {"slider": (W.IntSlider, W.FloatSlider), "choice_slider": W.SelectionSlider, "select": W.Dropdown,
             "toggle": W.Checkbox, "number": W.BoundedIntText}
    for control in ALL_CONTROLS:
        widget = board.controls[control.name]
        assert isinstance(widget, kinds[control.kind]), control.name
        assert widget.description == control.label and control.help in widget.tooltip
    assert shown(board) == set(board.controls)  # the full dashboard shows everything
    assert board.controls["l2"].options[0] == ("0", 0.0) and board.controls["hidden"].value == 16


def test_nothing_trains_until_train_is_pressed(make):
    board = make()
    time.sleep(0.5)
    assert board.run.status == "idle" and not board.run.alive
    assert "press Train" in board.status.value
    assert "No data yet" in spec_text(board)


# ------------------------------------------------------------------------------------------ live
def test_train_then_a_knob_moved_mid_run_reaches_the_run_and_the_chart(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 12)
    assert wait_until(lambda: "Training" in board.status.value)
    assert board.buttons["train"].disabled and board.buttons["pause"].description.endswith("Pause")

    board.controls["dropout"].value = 0.3
    assert wait_until(lambda: any(e["knob"] == "dropout" for e in board.run.snapshot().knob_changes()))
    change = board.run.snapshot().knob_changes()[-1]
    assert (change["old"], change["new"]) == (0.0, 0.3)
    # the pump shows it: the knob list, and a labelled marker in the live chart
    assert wait_until(lambda: "dropout 0 → 0.3" in board.knob_list.value, timeout=10)
    assert wait_until(lambda: "dropout 0 → 0.3" in spec_text(board), timeout=10)
    assert wait_until(lambda: "validation" in spec_text(board), timeout=30)  # evaluations drawn
    assert board.pump_error is None


def test_choice_slider_and_toggle_knobs_reach_the_run(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 3)
    board.controls["l2"].value = 1e-4
    board.controls["batchnorm"].value = True
    assert wait_until(lambda: {e["knob"] for e in board.run.snapshot().knob_changes()} >= {"l2", "batchnorm"})
    assert board.run.trainer.knobs["l2"] == 1e-4 and board.run.trainer.knobs["batchnorm"] is True


def test_pause_resume_and_reset_buttons(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 3)
    board.buttons["pause"].click()
    assert wait_until(lambda: board.run.status == "paused")
    assert wait_until(lambda: board.buttons["pause"].description.endswith("Resume") and "Paused" in board.status.value)
    time.sleep(0.3)  # a step that was under way when Pause was pressed finishes
    step = board.run.snapshot().last_step
    time.sleep(0.3)
    assert board.run.snapshot().last_step == step
    board.buttons["pause"].click()  # Resume
    assert wait_until(lambda: board.run.snapshot().last_step > step + 2)

    board.controls["hidden"].value = 32  # setup: only a Reset applies it
    assert wait_until(lambda: "press Reset" in board.notice.value and "hidden 16 → 32" in board.notice.value)
    board.buttons["reset"].click()
    assert board.run.status == "paused" and board.run.snapshot().last_step == 0
    assert board.run.config.hidden == 32 and board.run.trainer.config.hidden == 32
    assert wait_until(lambda: "press Reset" not in board.notice.value and "Paused" in board.status.value)
    board.buttons["train"].click()  # resumes the fresh, paused run
    assert wait_until(lambda: board.run.snapshot().last_step >= 3 and board.run.status == "running")


def test_save_and_clear_comparisons(make):
    board = make(config=small(steps=10))
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.status == "finished")
    board.buttons["save"].click()
    assert list(board.run.saved) == ["run 1"]
    assert wait_until(lambda: "Saved as" in board.notice.value)
    assert board.tabs.selected_index == list(board.tabs.titles).index("Compare runs")
    assert wait_until(lambda: "run 1" in spec_text(board, "comparison"))
    assert wait_until(lambda: not board.buttons["clear"].disabled)
    board.buttons["clear"].click()
    assert not board.run.saved
    assert wait_until(lambda: board.buttons["clear"].disabled)


def test_an_idle_dashboard_stops_pushing_updates(make):
    board = make(config=small(steps=15))
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.status == "finished")
    assert wait_until(lambda: "Finished" in board.status.value)
    time.sleep(3.5)  # past the short after-action polling window
    redraws, status = board.redraws, board.status.value
    time.sleep(2.0)
    assert board.redraws == redraws and board.status.value == status
    assert board._pump_thread.is_alive()  # asleep, not gone: a button wakes it
    board.tabs.selected_index = list(board.tabs.titles).index("Gradients")
    assert wait_until(lambda: board.redraws > redraws)


def test_a_bad_setup_is_one_line_on_the_page_not_a_traceback(make):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    board = make()
    board.controls["device"].value = "cuda"
    board.buttons["train"].click()
    assert board.run.status == "idle"
    assert wait_until(lambda: "device cuda" in board.notice.value)
    assert "Traceback" not in board.notice.value


def test_generate_text_before_and_after_training(make):
    board = make()
    board.buttons["generate"].click()
    assert "press Train" in board.sample_text.value
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 5)
    board.prompt.value, board.sample_length.value = "ROMEO:", 40
    board.buttons["generate"].click()
    assert "ROMEO:" in board.sample_text.value and "press Train" not in board.sample_text.value


def test_export_gives_a_csv_download_link(make):
    board = make(config=small(steps=10))
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.status == "finished")
    board.buttons["export"].click()
    link = board.export_link.value
    assert "download='explorer-history.csv'" in link
    csv = base64.b64decode(link.split("base64,")[1].split("'")[0]).decode()
    assert csv.splitlines()[0].startswith("step,") and len(csv.splitlines()) == 11


# ------------------------------------------------------------------------------------------ lessons' options
def test_locked_knobs_are_disabled_and_keep_their_value_hidden_ones_are_not_shown(make):
    board = make(locked={"cell": "rnn", "dropout": 0.2}, hidden=("layernorm", "weight_drop"))
    assert board.controls["cell"].disabled and board.controls["cell"].value == "rnn"
    assert board.controls["dropout"].disabled and board.controls["dropout"].value == 0.2
    assert {"layernorm", "weight_drop"}.isdisjoint(shown(board))
    assert {"cell", "dropout", "l2"} <= shown(board)
    board.preset.value = "exploding"  # a preset moves only what is free
    assert board.controls["cell"].value == "rnn" and board.controls["dropout"].value == 0.2
    assert board.controls["lr"].value == 2.0 and board.controls["optimizer"].value == "sgd"
    wanted = board.wanted_config()
    assert (wanted.cell, wanted.dropout, wanted.layernorm) == ("rnn", 0.2, False)
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 1)
    assert board.run.trainer.config.cell == "rnn"


def test_show_keeps_only_the_lesson_knobs_in_view(make):
    board = make("dropout", show=("dropout", "dropout_kind"), views=("gap", "compare"), presets=False)
    assert shown(board) == {"dropout", "dropout_kind"}
    assert list(board.tabs.titles) == ["Generalisation gap", "Compare runs"]
    assert board.preset not in descendants(board) and board.corpus not in descendants(board)
    assert not [w for w in descendants(board) if isinstance(w, W.Accordion)]  # no empty "Setup" section
    assert board.controls["dropout"].value == 0.5  # the preset's value
    assert board.wanted_config().hidden == PRESETS["dropout"].changes["hidden"]


def test_unknown_knob_names_fail_loudly(make):
    with pytest.raises(Exception, match="unknown knob 'dropuot'"):
        make(hidden=("dropuot",))


def test_a_preset_fills_every_free_widget_and_says_what_it_teaches(make):
    board = make()
    board.preset.value = "clip"
    assert "clip" in board.preset_text.value and PRESETS["clip"].teaches[:30] in board.preset_text.value
    assert board.controls["cell"].value == "rnn" and board.controls["clip"].value == 1.0
    assert board.controls["optimizer"].value == "sgd" and board.controls["lr"].value == 2.0
    assert not board.run.alive  # choosing a lesson starts nothing


def test_a_link_sets_preset_and_knobs_and_reports_what_it_could_not(make):
    board = make(query="preset=dropout&hidden=64&dropout=2&corpus=/etc/passwd&colour=red")
    assert board.controls["hidden"].value == 64
    assert board.controls["dropout"].value == 0.5  # 2 is out of range: the preset's value stays
    assert board.corpus.value == "tinyshakespeare"
    assert "From the link" in board.notice.value and "dropout" in board.notice.value
    assert "/etc/passwd" in board.notice.value


# ------------------------------------------------------------------------------------------ leaving
def test_the_watchdog_stops_a_run_once_the_page_stops_beating(make):
    board = make(viewer_timeout_s=0.5)
    board.heartbeat._on_beat(board.heartbeat, {"beat": 1}, [])  # a page was there ...
    assert board.heartbeat.beats == 1
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 1)
    # ... and then went quiet: the run stops within timeout + grace + the watchdog period
    assert wait_until(lambda: board.run.status == "stopped", timeout=15)
    assert wait_until(lambda: "stopped answering" in board.notice.value)


def test_without_any_heartbeat_a_run_is_not_stopped(make):
    board = make(config=small(steps=100_000), viewer_timeout_s=0.2)
    board.buttons["train"].click()
    time.sleep(1.5)
    assert board.run.status == "running"  # nbclient, consoles: no page to beat, nothing stops


def test_close_stops_the_run_and_the_pump(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 2)
    board.close()
    assert not board.run.alive and not board._pump_thread.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "explorer-liverun" and t.is_alive()]


# ------------------------------------------------------------------------------------------ helpers
def test_experiment_trains_each_config_to_its_end_with_a_live_chart():
    runs = experiment({"a": small(steps=12, eval_every=4), "b": small(steps=12, eval_every=4, dropout=0.5)},
                      schedules={"b": {6: {"l2": 1e-4}}}, every_s=0.0, threads=1)
    assert list(runs) == ["a", "b"]
    assert [r.trainer.step_count for r in runs.values()] == [12, 12]
    assert runs["b"].snapshot.name == "b" and len(runs["b"].snapshot.evals) == 3
    assert [(e["knob"], e["step"]) for e in runs["b"].snapshot.knob_changes()] == [("l2", 6)]


def test_format_value_and_knob_change_lines():
    assert [format_value(v) for v in (0.0, 1e-4, 3e-6, True, False, 128, "lstm")] == \
        ["0", "0.0001", "3e-06", "on", "off", "128", "lstm"]
    snap = Snapshot(events=[{"kind": "event", "event": "knob", "step": 1234, "knob": "dropout", "old": 0.0,
                             "new": 0.5}] * 7)
    lines = knob_change_lines(snap, limit=3)
    assert lines == ["step 1,234: dropout 0 → 0.5"] * 3
    assert {c.name for c in LIVE_CONTROLS} <= set(Config().live())


def test_a_preset_picked_mid_run_moves_the_running_models_live_knobs_too(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: board.run.snapshot().last_step >= 3)
    board.preset.value = "dropout"  # live knobs act now (as if moved by hand); setup waits for Reset
    assert wait_until(lambda: board.run.trainer.knobs["dropout"] == 0.5 and board.run.trainer.knobs["lr"] == 3e-3)
    assert wait_until(lambda: "press Reset" in board.notice.value)
