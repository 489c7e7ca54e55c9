"""The ipywidgets dashboard, in-process: real Sessions with real LiveRun worker processes, widgets driven the
way a page drives them (button.click(), widget.value = ...). No browser here: see test_voila_browser.py."""

from __future__ import annotations

import base64
import json
import threading
import time
from contextlib import contextmanager

import ipywidgets as W
import pytest

from explorer.faces.notebook import VIEWS, Dashboard, dashboard, experiment, predict
from explorer.page.controls import ALL_CONTROLS, LIVE_CONTROLS
from explorer.page.status import knob_change_lines
from explorer.runs.history import Snapshot
from explorer.runs.store import RunStore
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import Config
from explorer.spec.presets import PRESETS
from explorer.spec.wording import format_value
from explorer.views import kit
from explorer.views import registry as views
from tests.conftest import tiny, wait_until

# A setup too big for its corpus: the worker refuses to build it (on any machine, with or without a GPU).
TOO_BIG = {"batch_size": 128, "seq_len": 128}


@pytest.fixture
def make():
    """dashboard(...) on a tiny model, closed after the test (its worker processes and pump stopped)."""
    built: list[Dashboard] = []

    def build(*args, **kwargs) -> Dashboard:
        kwargs.setdefault("config", tiny())
        kwargs.setdefault("refresh_s", 0.2)
        board = dashboard(*args, **kwargs)
        built.append(board)
        return board

    yield build
    for board in built:
        pid = board.session.run.pid
        board.close()
        assert not board._pump_thread.is_alive() and not board.session.run.alive
        assert pid is None or not alive(pid), "the run's worker process outlived its dashboard"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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
    chart = board.charts.get(name)  # made when its tab is first drawn
    return "" if chart is None else json.dumps(chart.spec, ensure_ascii=False)


def snap(board: Dashboard) -> Snapshot:
    return board.session.run.snapshot()


def last_knobs(board: Dashboard) -> dict:
    """The knobs in force at the run's latest step (as recorded by the worker's trainer)."""
    steps = snap(board).steps
    return steps[-1] if steps else {}


def labels(board: Dashboard) -> dict[str, tuple[str, bool]]:
    return {
        key: (board.buttons[key].description, not board.buttons[key].disabled)
        for key in ("train", "pause", "reset", "branch", "save", "clear")
    }


def session_labels(board: Dashboard) -> dict[str, tuple[str, bool]]:
    return {key: (b.label, b.enabled) for key, b in board.session.buttons().items()}


# ------------------------------------------------------------------------------------------ building
def test_every_control_spec_becomes_a_widget_and_every_view_a_tab(make):
    board = make()
    assert set(board.controls) == {c.name for c in ALL_CONTROLS} and "steps" not in board.controls
    kinds = {
        "slider": (W.IntSlider, W.FloatSlider),
        "choice_slider": W.SelectionSlider,
        "select": W.Dropdown,
        "toggle": W.Checkbox,
        "number": W.BoundedIntText,
    }
    for control in ALL_CONTROLS:
        widget = board.controls[control.name]
        assert isinstance(widget, kinds[control.kind]), control.name
        assert widget.description == control.label and control.help in widget.tooltip
    assert shown(board) == set(board.controls)  # the full dashboard shows everything
    assert board.controls["l2"].options[0] == ("0", 0.0) and board.controls["hidden"].value == 16
    assert list(board.tabs.titles) == [view.title for view in views.VIEWS.values()] + ["Sweep", "Text sample"]
    assert list(VIEWS) == [*views.VIEWS, "sweep", "sample"]
    # a tab's chart widgets are made when it is first drawn (few widgets load at once in the browser)
    assert set(board.charts) <= {spec.name for spec in views.VIEWS["gap"].charts}
    for index, name in enumerate(board.views):
        board.tabs.selected_index = index
        wanted = {spec.name for spec in views.VIEWS[name].charts} if name in views.VIEWS else set()
        assert wait_until(lambda wanted=wanted: wanted <= set(board.charts)), name
    assert set(board.charts) == set(views.CHARTS)
    assert set(board.job_charts) == {"seeds", "sweep"}  # their charts come with their first finished trial


def test_nothing_trains_until_train_is_pressed(make):
    board = make()
    time.sleep(0.5)
    assert board.session.run.status == "idle" and not board.session.run.alive
    assert "press Train" in board.status.value
    assert "No data yet" in spec_text(board)
    assert labels(board) == session_labels(board)
    assert not labels(board)["pause"][1] and not labels(board)["save"][1]


# ------------------------------------------------------------------------------------------ live
def test_train_then_a_knob_moved_mid_run_reaches_the_run_and_the_chart(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 12)
    assert wait_until(lambda: "Training" in board.status.value)
    assert board.buttons["train"].disabled and board.buttons["pause"].description.endswith("Pause")

    board.controls["dropout"].value = 0.3
    assert wait_until(lambda: any(e["knob"] == "dropout" for e in snap(board).knob_changes()))
    change = snap(board).knob_changes()[-1]
    assert (change["old"], change["new"]) == (0.0, 0.3)
    assert wait_until(lambda: last_knobs(board).get("dropout") == 0.3)
    # the pump shows it: the knob list, and a labelled marker in the live chart
    assert wait_until(lambda: "dropout 0 → 0.3" in board.knob_list.value, timeout=10)
    assert wait_until(lambda: "dropout 0 → 0.3" in spec_text(board), timeout=10)
    assert wait_until(lambda: "validation" in spec_text(board), timeout=30)  # evaluations drawn
    assert board.pump_error is None


def test_choice_slider_and_toggle_knobs_reach_the_run(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 3)
    board.controls["l2"].value = 1e-4
    board.controls["batchnorm"].value = True
    assert wait_until(lambda: {e["knob"] for e in snap(board).knob_changes()} >= {"l2", "batchnorm"})
    assert wait_until(lambda: last_knobs(board).get("l2") == 1e-4 and last_knobs(board).get("batchnorm") is True)
    assert board.session.wanted.l2 == 1e-4 and board.session.wanted.batchnorm is True


def test_pause_resume_and_reset_buttons(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 3)
    board.buttons["pause"].click()
    assert board.session.run.status == "paused"
    assert wait_until(lambda: board.buttons["pause"].description.endswith("Resume") and "Paused" in board.status.value)
    time.sleep(0.3)  # a step that was under way when Pause was pressed arrives
    step = snap(board).last_step
    time.sleep(0.3)
    assert snap(board).last_step == step
    board.buttons["pause"].click()  # Resume
    assert wait_until(lambda: snap(board).last_step > step + 2)

    board.controls["hidden"].value = 32  # setup: only a Reset applies it
    assert wait_until(lambda: "press Reset" in board.notice.value and "hidden 16 → 32" in board.notice.value)
    board.buttons["reset"].click()
    assert board.session.run.status == "paused" and snap(board).last_step == 0
    assert board.session.run.config.hidden == 32 and snap(board).start["config"]["hidden"] == 32
    assert wait_until(lambda: "press Reset" not in board.notice.value and "Paused" in board.status.value)
    board.buttons["train"].click()  # resumes the fresh, paused run
    assert wait_until(lambda: snap(board).last_step >= 3 and board.session.run.status == "running")


def test_the_buttons_agree_with_the_status_after_pause_and_after_the_run_ends(make):
    board = make(config=tiny(early_stop=1, eval_every=2))
    board.buttons["train"].click()
    assert wait_until(lambda: board.session.run.status == "early_stop", timeout=60)
    assert wait_until(lambda: "Stopped early" in board.status.value)
    assert wait_until(lambda: labels(board) == session_labels(board))
    assert labels(board)["train"] == ("▶ Continue", True) and not labels(board)["pause"][1]
    assert board.session.status().colour in board.status.value

    board.controls["early_stop"].value = 0  # train on, with no patience
    board.buttons["train"].click()
    assert wait_until(lambda: board.session.run.status == "running")
    board.buttons["pause"].click()
    assert wait_until(lambda: "Paused" in board.status.value)
    assert wait_until(lambda: labels(board) == session_labels(board))
    assert labels(board)["pause"] == ("▶ Resume", True) and labels(board)["train"] == ("▶ Continue", True)


def test_branch_here_forks_the_running_model(make):
    board = make()
    assert labels(board)["branch"] == ("↳ Branch here", False)
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 5)
    assert wait_until(lambda: not board.buttons["branch"].disabled)
    board.buttons["branch"].click()
    assert len(board.session.run.branches) == 1
    assert wait_until(lambda: "Branched" in board.notice.value)
    name = next(iter(board.session.run.branches))
    board.tabs.selected_index = board.views.index("compare")
    assert wait_until(lambda: name in spec_text(board, "comparison"))  # the branch beside the run


def test_save_and_clear_comparisons(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 10)
    board.buttons["pause"].click()
    board.buttons["save"].click()
    assert list(board.session.run.saved) == ["run 1"]
    assert wait_until(lambda: "Saved as" in board.notice.value)
    assert board.tabs.selected_index == list(board.tabs.titles).index("Compare runs")
    assert wait_until(lambda: "run 1" in spec_text(board, "comparison"))
    assert wait_until(lambda: not board.buttons["clear"].disabled)
    board.buttons["clear"].click()
    assert not board.session.run.saved
    assert wait_until(lambda: board.buttons["clear"].disabled)


def test_an_idle_dashboard_stops_pushing_updates(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 5)
    board.buttons["pause"].click()
    assert wait_until(lambda: "Paused" in board.status.value)
    time.sleep(3.5)  # past the short after-action polling window
    redraws, status = board.redraws, board.status.value
    time.sleep(2.0)
    assert board.redraws == redraws and board.status.value == status
    assert board._pump_thread.is_alive()  # asleep, not gone: a button wakes it
    board.tabs.selected_index = list(board.tabs.titles).index("Gradients")
    assert wait_until(lambda: board.redraws > redraws)


def test_the_projector_toggle_draws_bigger_type(make):
    board = make()
    assert json.loads(spec_text(board))["config"]["title"]["fontSize"] == kit.fonts(False)["title"]
    board.projector.value = True
    big = kit.fonts(True)["title"]
    assert wait_until(lambda: json.loads(spec_text(board))["config"]["title"]["fontSize"] == big)
    assert "1.5em" in board.status.value


# ------------------------------------------------------------------------------------------ seeds, sweeps
def job_spec(board: Dashboard, kind: str, name: str) -> str:
    return json.dumps(board.job_charts[kind][name].spec, ensure_ascii=False)


def test_repeat_over_seeds_then_a_sweep_fill_in_their_charts_while_the_run_trains(make):
    board = make()
    board.buttons["repeat"].click()  # nothing on screen yet: one line next to the button, nothing starts
    assert wait_until(lambda: "nothing to repeat yet" in board.job_lines["seeds"].value)
    assert "nothing to repeat" not in board.notice.value and not board.session.jobs

    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 10)
    board.buttons["pause"].click()
    board.buttons["save"].click()  # switches to Compare runs
    board.controls["dropout"].value = 0.5
    board.buttons["reset"].click()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 10)
    board.buttons["pause"].click()
    board.repeat_seeds.value = 2
    board.buttons["repeat"].click()
    assert wait_until(lambda: "Started 4 trials (2 arms × 2 seeds)" in board.job_lines["seeds"].value)
    assert "Started" not in board.notice.value  # the one message is drawn next to its button
    assert wait_until(lambda: board.buttons["repeat"].disabled and board.buttons["cancel_seeds"].layout.display is None)
    board.buttons["train"].click()  # the live run trains on meanwhile
    job = board.session.jobs["seeds"]
    assert wait_until(lambda: "Done: 4 trials" in board.job_lines["seeds"].value, timeout=120), job.text
    assert board.session.run.status == "running"
    # the line and the charts are drawn in one refresh, on the dashboard's thread: the line can be read first
    arms = ("current: dropout 0.5 (2 seeds)", "run 1: dropout 0 (2 seeds)")
    assert wait_until(lambda: all(arm in job_spec(board, "seeds", "variance_bands") for arm in arms))
    assert wait_until(lambda: "dropout 0.5" in job_spec(board, "seeds", "paired_differences"))
    assert wait_until(lambda: not board.buttons["repeat"].disabled)
    assert board.buttons["cancel_seeds"].layout.display == "none"
    board.buttons["pause"].click()

    board.tabs.selected_index = board.views.index("sweep")
    assert [k.value for k in board.sweep_knobs] == ["dropout", "l2"]
    assert [v.value for v in board.sweep_values] == ["0, 0.5", "0, 1e-4"]
    board.sweep_knobs[1].value = "cell"  # another knob: its values box starts at the value in force
    assert board.sweep_values[1].value == "lstm"
    board.sweep_values[1].value = "gru, lstm"
    board.sweep_seeds.value, board.sweep_steps.value = 2, 20
    board.buttons["sweep"].click()
    assert wait_until(lambda: "Started 8 trials (4 arms × 2 seeds)" in board.job_lines["sweep"].value)
    job = board.session.jobs["sweep"]
    assert wait_until(lambda: "Done: 8 trials" in board.job_lines["sweep"].value, timeout=120), job.text
    landscape = job_spec(board, "sweep", "landscape")
    assert "Landscape" in landscape and '"title": "cell"' in landscape and "Best:" in landscape
    assert "cell=gru" in job_spec(board, "sweep", "variance_bands")
    assert all(t["steps"] == 20 for t in job.summary().trials)
    assert board.pump_error is None


def test_cancel_stops_a_sweep(make):
    board = make(views=("gap", "sweep"))
    board.sweep_knobs[1].value = "— none —"
    board.sweep_seeds.value, board.sweep_steps.value = 1, 1_000_000
    board.buttons["sweep"].click()
    assert wait_until(lambda: board.buttons["cancel_sweep"].layout.display is None)
    board.buttons["cancel_sweep"].click()
    assert not board.session.jobs["sweep"].running
    assert wait_until(lambda: "Cancelled: 0 of " in board.job_lines["sweep"].value)
    assert wait_until(lambda: board.buttons["cancel_sweep"].layout.display == "none")
    assert not board.buttons["sweep"].disabled


def test_a_sweep_too_big_for_the_machine_is_one_line_and_nothing_starts(make):
    from explorer.page.session import trials_limit

    board = make(views=("gap", "sweep"))
    board.sweep_values[0].value = ", ".join(f"{v / 100:g}" for v in range(trials_limit() // 10 + 1))
    board.sweep_knobs[1].value = "— none —"
    board.sweep_seeds.value = 10
    board.buttons["sweep"].click()
    assert wait_until(lambda: "more than this machine trains in a lesson" in board.job_lines["sweep"].value)
    assert not board.session.jobs and "more than this machine" not in board.notice.value  # said once, by its button
    board.sweep_knobs[1].value = "dropout"
    board.buttons["sweep"].click()
    assert wait_until(lambda: "dropout is picked twice" in board.job_lines["sweep"].value)
    assert not board.session.jobs


# ------------------------------------------------------------------------------------------ messages
def test_a_bad_setup_is_one_line_on_the_page_not_a_traceback(make):
    board = make()
    for name, value in TOO_BIG.items():
        board.controls[name].value = value
    board.buttons["train"].click()
    assert board.session.run.status == "idle"
    assert wait_until(lambda: "one batch needs" in board.notice.value)
    assert "Traceback" not in board.notice.value


def test_one_message_a_setup_error_replaces_the_setup_changed_notice(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 3)
    for name, value in TOO_BIG.items():
        board.controls[name].value = value
    assert wait_until(lambda: "press Reset" in board.notice.value)
    board.buttons["reset"].click()  # the bigger setup cannot be built: the error is THE message
    assert wait_until(lambda: "one batch needs" in board.notice.value)
    lines = 1 + len(board.session.notices)  # the one message, below what the link could not do
    assert "press Reset" not in board.notice.value and board.notice.value.count("<div") == lines
    assert board.session.run.status == "running"  # the old run goes on
    board.controls["dropout"].value = 0.1  # the next action clears the error; the pending setup shows again
    assert wait_until(lambda: "press Reset" in board.notice.value and "one batch needs" not in board.notice.value)
    assert board.notice.value.count("<div") == lines


def test_a_locked_knob_set_programmatically_is_refused_with_a_message(make):
    board = make(locked={"cell": "rnn"})
    assert board.controls["cell"].disabled
    board.controls["cell"].value = "gru"  # a disabled widget can still be set from code
    assert board.session.wanted.cell == "rnn" and board.controls["cell"].value == "rnn"
    assert wait_until(lambda: "cell is fixed in this lesson" in board.notice.value)


def test_generate_text_before_and_after_training(make):
    board = make()
    board.buttons["generate"].click()
    assert "press Train" in board.sample_text.value
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 5)
    board.prompt.value, board.sample_length.value = "ROMEO:", 40
    board.buttons["generate"].click()
    assert "ROMEO:" in board.sample_text.value and "press Train" not in board.sample_text.value


def test_export_gives_a_csv_download_link(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 10)
    board.buttons["pause"].click()
    time.sleep(0.5)  # the step under way when Pause was pressed arrives
    board.buttons["export"].click()
    link = board.export_link.value
    assert "download='explorer-history.csv'" in link
    csv = base64.b64decode(link.split("base64,")[1].split("'")[0]).decode()
    assert csv.splitlines()[0].startswith("step,") and len(csv.splitlines()) == len(snap(board).steps) + 1


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
    wanted = board.session.wanted
    assert (wanted.cell, wanted.dropout, wanted.layernorm) == ("rnn", 0.2, False)


def test_a_locked_name_without_a_value_keeps_the_starting_one(make):
    board = make(config=tiny(cell="gru"), locked=("cell",))
    assert board.session.locked == {"cell": "gru"} and board.controls["cell"].disabled
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).start is not None)
    assert snap(board).start["config"]["cell"] == "gru"


def test_show_keeps_only_the_lesson_knobs_in_view(make):
    board = make("dropout", show=("dropout", "dropout_kind"), views=("gap", "compare"), presets=False)
    assert shown(board) == {"dropout", "dropout_kind"}
    assert list(board.tabs.titles) == ["Generalisation gap", "Compare runs"]
    assert set(board.job_charts) == {"seeds"}  # no Sweep tab
    board.tabs.selected_index = 1
    assert wait_until(lambda: set(board.charts) == {"gap", "comparison"})
    assert board.preset not in descendants(board) and board.corpus not in descendants(board)
    assert not [w for w in descendants(board) if isinstance(w, W.Accordion)]  # no empty "Setup" section
    assert board.controls["dropout"].value == 0.5  # the preset's value
    assert board.session.wanted.hidden == PRESETS["dropout"].changes["hidden"]


def test_unknown_knob_view_and_preset_names_fail_loudly(make):
    with pytest.raises(Exception, match="unknown knob 'dropuot'"):
        make(hidden=("dropuot",))
    with pytest.raises(Exception, match="unknown view 'gradient'"):
        make(views=("gap", "gradient"))
    with pytest.raises(Exception, match="unknown preset 'overfitt'"):
        make("overfitt")


def test_a_preset_fills_every_free_widget_and_says_what_it_teaches(make):
    board = make()
    board.preset.value = "clip"
    assert "clip" in board.preset_text.value and PRESETS["clip"].teaches[:30] in board.preset_text.value
    assert board.controls["cell"].value == "rnn" and board.controls["clip"].value == 1.0
    assert board.controls["optimizer"].value == "sgd" and board.controls["lr"].value == 2.0
    assert board.session.preset == "clip" and board.session.link()["preset"] == "clip"
    assert not board.session.run.started  # choosing a lesson starts nothing


def test_a_link_sets_preset_and_knobs_and_reports_what_it_could_not(make):
    board = make(query="preset=dropout&hidden=64&dropout=2&corpus=/etc/passwd&colour=red")
    assert board.controls["hidden"].value == 64 and board.session.wanted.hidden == 64
    assert board.controls["dropout"].value == 0.5  # 2 is out of range: the preset's value stays
    assert board.corpus.value == "tinyshakespeare"
    assert "From the link" in board.notice.value and "dropout" in board.notice.value
    assert "/etc/passwd" in board.notice.value
    assert board.preset.value == "dropout"


def test_a_links_preset_replaces_the_lessons_and_its_knobs_override_both(make):
    board = make("overfit", query="?preset=exploding&lr=0.1")
    assert board.session.preset == "exploding" and board.session.wanted.cell == "rnn"
    assert board.session.wanted.lr == 0.1 and board.session.wanted.train_fraction == tiny().train_fraction


def test_a_link_locks_and_hides_knobs_on_top_of_the_lessons_own(make):
    board = make(query="preset=dropout&lock=dropout&hide=l2", locked=("cell",), hidden=("layernorm",))
    assert board.controls["dropout"].disabled and board.controls["dropout"].value == 0.5  # the link's value
    assert board.controls["cell"].disabled and {"l2", "layernorm"}.isdisjoint(shown(board))
    with pytest.raises(ConfigError, match="dropout is fixed in this lesson"):
        board.session.set_knobs({"dropout": 0.1})
    assert (board.session.link()["lock"], board.session.link()["hide"]) == ("cell,dropout", "l2,layernorm")


def test_a_preset_picked_mid_run_moves_the_running_models_live_knobs_too(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 3)
    board.preset.value = "dropout"  # live knobs act now (as if moved by hand); setup waits for Reset
    assert wait_until(lambda: last_knobs(board).get("dropout") == 0.5 and last_knobs(board).get("lr") == 3e-3)
    assert wait_until(lambda: "press Reset" in board.notice.value)


# ------------------------------------------------------------------------------------------ leaving
def test_the_watchdog_stops_a_run_once_the_page_stops_beating(make):
    board = make(viewer_timeout_s=0.5)
    board.heartbeat._on_beat(board.heartbeat, {"beat": 1}, [])  # a page was there ...
    assert board.heartbeat.beats == 1
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 1)
    # ... and then went quiet: the run stops within timeout + grace + the watchdog period
    assert wait_until(lambda: board.session.run.status == "stopped", timeout=15)
    assert wait_until(lambda: "Stopped" in board.status.value)


def test_without_any_heartbeat_a_run_is_not_stopped(make):
    board = make(viewer_timeout_s=0.2)
    board.buttons["train"].click()
    assert wait_until(lambda: board.session.run.status == "running")
    time.sleep(1.5)
    assert board.session.run.status == "running"  # nbclient, consoles: no page to beat, nothing stops


def test_close_stops_the_run_its_processes_and_the_pump(make):
    board = make()
    board.buttons["train"].click()
    assert wait_until(lambda: snap(board).last_step >= 2)
    pid = board.session.run.pid
    board.close()
    assert not board.session.run.alive and not board._pump_thread.is_alive()
    assert not alive(pid) and board.session.run._warm is None
    assert not [t for t in threading.enumerate() if t.name == "explorer-dashboard-pump" and t.is_alive()]


# ------------------------------------------------------------------------------------------ lessons
def test_experiment_trains_each_config_to_its_end_and_stores_the_runs():
    runs = experiment(
        {"a": tiny(steps=12, eval_every=4), "b": tiny(steps=12, eval_every=4, dropout=0.5)},
        schedules={"b": {6: {"l2": 1e-4}}},
        every_s=0.0,
        threads=1,
    )
    assert list(runs) == ["a", "b"]
    assert [r.trainer.step_count for r in runs.values()] == [12, 12]
    assert runs["b"].snapshot.name == "b" and len(runs["b"].snapshot.evals) == 3
    assert [(e["knob"], e["step"]) for e in runs["b"].snapshot.knob_changes()] == [("l2", 6)]
    stored = {run["id"]: run for run in RunStore().runs(source="notebook")}
    for result in runs.values():
        run = stored[result.run_id]
        assert (run["name"], run["status"], run["steps"]) == (result.name, "finished", 12)


def test_experiment_over_seeds_returns_arms_moves_each_seeds_knobs_and_draws_the_bands():
    drawn: list = []
    with patch_display(drawn):
        runs = experiment(
            {"a": tiny(steps=8, eval_every=4)}, schedules={"a": {4: {"l2": 1e-4}}}, seeds=(0, 1), every_s=0.0, threads=1
        )
    assert runs["a"].seeds == [0, 1]
    assert [[(e["knob"], e["step"]) for e in r.snapshot.knob_changes()] for r in runs["a"].results] == [[("l2", 4)]] * 2
    line, view = drawn[-1].children
    assert "2 runs done" in line.value
    assert view.chart.to_dict()["title"]["text"] == "Validation loss over seeds: mean and 95 % interval"


@contextmanager
def patch_display(drawn: list):
    """IPython's display, catching what the experiment shows (its progress line and chart)."""
    import IPython.display

    original = IPython.display.display
    IPython.display.display = lambda *objects: drawn.extend(objects)
    try:
        yield
    finally:
        IPython.display.display = original


def test_a_prediction_is_judged_against_the_runs_answer_and_cannot_be_picked_after_it():
    lesson, name = "11_word_level_embedding_dropout_and_tying", "tying_test"  # tied against untied
    tied_lower = {"test": {"untied": [5.0, 5.1, 5.2], "tied": [4.9, 5.0, 5.1]}}  # by 0.1 in each seed
    question = predict(lesson, name)
    assert question.text == "Pick an answer, then run the experiment below."
    question.check(tied_lower, "tied was lower in 3 of 3 seeds.")
    assert question.text == "The runs say: tied. tied was lower in 3 of 3 seeds." and question.choice.disabled
    assert "The runs say" in question.verdict.value and tied_lower["answers"][name]["answer"] == "tied"
    wrong = predict(lesson, name)
    wrong.choice.value = "untied"
    assert wrong.check(tied_lower, "").text.startswith("Not this time: you predicted “untied”; the runs say “tied”.")
    assert wrong.choice.disabled and "Not this time" in wrong.verdict.value
    right = predict(lesson, name)
    right.choice.value = "tied"
    assert right.check(tied_lower, "").text.startswith("Right: you predicted “tied”")


def test_a_question_is_asked_in_the_registrys_words_and_refuses_runs_that_are_not_like_for_like():
    question = predict("09_long_range_dependencies", "largest_reach", steps=300)
    assert question.asks.startswith("50 steps back, after 300 steps, whose gradient is largest")
    assert list(question.choice.options) == [*question.question.choices]
    tying = predict("11_word_level_embedding_dropout_and_tying", "tying_test")
    knobs = {"hidden": 128, "tie_weights": False}
    numbers = {"test": {"untied": [5.0, 5.1], "tied": [4.9, 5.0]}}
    numbers["setups"] = {"untied": knobs, "tied": {**knobs, "tie_weights": True, "hidden": 64}}
    with pytest.raises(ValueError, match="not like for like .its runs also differ in hidden"):
        tying.check(numbers, "")


def test_format_value_and_knob_change_lines():
    assert [format_value(v) for v in (0.0, 1e-4, 3e-6, True, False, 128, "lstm")] == [
        "0",
        "0.0001",
        "3e-06",
        "on",
        "off",
        "128",
        "lstm",
    ]
    events = [{"kind": "event", "event": "knob", "step": 1234, "knob": "dropout", "old": 0.0, "new": 0.5}] * 7
    assert knob_change_lines(Snapshot(events=events), limit=3) == ["step 1,234: dropout 0 → 0.5"] * 3
    assert {c.name for c in LIVE_CONTROLS} <= set(Config().live())
