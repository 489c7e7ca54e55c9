"""The Streamlit app through streamlit.testing.v1.AppTest: the real script, the real LiveRun and trainer
(tiny models). AppTest does not simulate run_every, so the tests look at the run itself (in session
state) and re-run the script where a viewer's page would have refreshed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.core.data import MAX_UPLOAD_BYTES, bundled_text
from explorer.page.controls import ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, widget_value, widget_values
from explorer.runs.store import RunStore
from explorer.spec.knobs import Config
from explorer.spec.presets import PRESETS, preset_config
from tests.app_server import tiny_query, wait_until

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
TINY_QUERY = tiny_query()
WIDGET = {
    "slider": "slider",
    "choice_slider": "select_slider",
    "select": "radio",
    "toggle": "toggle",
    "number": "number_input",
}
KIND = {c.name: c.kind for c in ALL_CONTROLS}


def widget(at: AppTest, name: str):
    """The widget of knob `name`, found by its key (the knob's name)."""
    return getattr(at, WIDGET[KIND[name]])(key=name)


def texts(elements) -> str:
    """The elements' text as a reader sees it: the page escapes what it shows as text (markdown_text)."""
    return "\n".join(re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements)


def no_trouble(at: AppTest) -> None:
    assert not at.exception, texts(at.exception)
    assert "could not be drawn" not in texts(at.warning)


def open_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(TINY_QUERY if query is None else query)
    return at.run()


@pytest.fixture
def apps():
    """Open apps; every session's worker processes are stopped afterwards (AppTest has no session end)."""
    opened: list[AppTest] = []

    def make(query: dict | None = None) -> AppTest:
        opened.append(open_app(query))
        return opened[-1]

    yield make
    for at in opened:
        if "session" in at.session_state:
            at.session_state["session"].close()


@pytest.fixture
def app(apps) -> AppTest:
    return apps()


def the_run(at: AppTest):
    return at.session_state["session"].run


def train(at: AppTest, steps: int = 5) -> None:
    at.button(key="train").click().run()
    run = the_run(at)
    assert wait_until(lambda: run.snapshot().last_step >= steps, 60), run.status
    assert run.status == "running"


def another(control, value):
    """A different value the widget can take (the next notch / option, or the toggle flipped)."""
    if control.kind == "toggle":
        return not value
    if control.kind in ("select", "choice_slider"):
        options = list(control.options)
        return options[(options.index(value) + 1) % len(options)]
    step = type(value)(control.step)
    return value + step if value + step <= control.hi else value - step


# ------------------------------------------------------------------------------ widgets and the link
def test_every_knob_has_its_widget_showing_the_links_value(app):
    no_trouble(app)
    expected = Config.from_query(TINY_QUERY)
    for control in LIVE_CONTROLS + SETUP_CONTROLS:
        found = widget(app, control.name)
        assert found.label == control.label
        assert found.value == widget_value(control, getattr(expected, control.name)), control.name
    assert app.selectbox(key="preset").value not in PRESETS
    assert app.selectbox(key="corpus").value == "tinyshakespeare"
    assert "Ready: press Train." in texts(app.info)


def test_the_link_follows_the_widgets_and_reopens_the_same_setup(apps):
    at = apps()
    widget(at, "dropout").set_value(0.25).run()
    widget(at, "cell").set_value("gru").run()
    widget(at, "batchnorm").set_value(True).run()
    assert {"dropout": "0.25", "cell": "gru", "batchnorm": "on", "hidden": "16"}.items() <= at.query_params.items()
    again = apps(dict(at.query_params))
    for control in ALL_CONTROLS:
        assert widget(again, control.name).value == widget(at, control.name).value, control.name


def test_a_bad_link_warns_and_opens_with_the_rest_of_it(apps):
    at = apps({**TINY_QUERY, "dropout": "banana", "corpus": "/etc/passwd", "hidden": "99999"})
    no_trouble(at)
    warnings = texts(at.warning)
    assert "dropout must be a number" in warnings and "/etc/passwd" in warnings and "hidden must be in" in warnings
    assert widget(at, "dropout").value == 0.0 and widget(at, "seq_len").value == 16
    assert at.session_state["session"].wanted.corpus == "tinyshakespeare"


def test_a_link_value_its_widget_cannot_show_is_said_and_kept_until_that_widget_moves(apps):
    at = apps({**TINY_QUERY, "recurrent_dropout": "0.9"})
    no_trouble(at)
    assert "recurrent_dropout 0.9 is off the Recurrent dropout" in texts(at.warning)
    assert widget(at, "recurrent_dropout").value == 0.8  # the slider's end
    widget(at, "dropout").set_value(0.3).run()  # another knob moves: every widget's value is sent
    wanted = at.session_state["session"].wanted
    assert (wanted.dropout, wanted.recurrent_dropout) == (0.3, 0.9)
    widget(at, "recurrent_dropout").set_value(0.5).run()
    assert at.session_state["session"].wanted.recurrent_dropout == 0.5


def test_a_preset_fills_every_widget_and_says_what_it_teaches(app):
    app.selectbox(key="preset").set_value("dropout").run()
    no_trouble(app)
    expected = widget_values(preset_config("dropout", Config(device="cpu")))
    for control in ALL_CONTROLS:
        assert widget(app, control.name).value == expected[control.name], control.name
    assert PRESETS["dropout"].teaches in texts(app.caption)
    assert app.query_params["preset"] == "dropout" and "dropout" not in app.query_params  # the preset's own
    assert the_run(app).status == "idle"  # filled in, not started


def test_a_preset_link_opens_the_lesson(apps):
    at = apps({"preset": "clip", "hidden": "16", "device": "cpu"})
    no_trouble(at)
    assert at.selectbox(key="preset").value == "clip"
    assert widget(at, "clip").value == 1.0 and widget(at, "cell").value == "rnn" and widget(at, "hidden").value == 16


def test_a_link_locks_and_hides_knobs_and_the_address_bar_keeps_them(apps):
    at = apps({**TINY_QUERY, "corpus": "recall", "dropout": "0.3", "lock": "dropout,corpus", "hide": "l2"})
    no_trouble(at)
    assert widget(at, "dropout").disabled and widget(at, "dropout").value == 0.3
    assert "l2" not in [slider.key for slider in at.select_slider]
    assert at.selectbox(key="corpus").value == "recall" and at.selectbox(key="corpus").disabled
    assert at.file_uploader(key="upload").disabled
    widget(at, "noise").set_value(0.1).run()  # a free knob still moves, and the locked corpus stays put
    at.selectbox(key="preset").set_value("exploding").run()  # a lesson picked later moves only the free knobs
    no_trouble(at)
    assert not at.error
    wanted = at.session_state["session"].wanted
    assert (wanted.dropout, wanted.corpus, wanted.cell, wanted.lr) == (0.3, "recall", "rnn", 2.0)
    assert widget(at, "dropout").value == 0.3 and at.selectbox(key="corpus").value == "recall"
    assert (at.query_params["lock"], at.query_params["hide"]) == ("corpus,dropout", "l2")


def test_a_link_can_hide_the_corpus_and_its_upload(apps):
    at = apps({**TINY_QUERY, "hide": "corpus"})
    no_trouble(at)
    assert "corpus" not in [box.key for box in at.selectbox] and not at.get("file_uploader")
    widget(at, "dropout").set_value(0.25).run()
    assert not at.error and at.session_state["session"].wanted.dropout == 0.25


# ------------------------------------------------------------------------------ live knobs, setup, buttons
def test_a_live_knob_changes_the_running_model_without_a_restart(app):
    train(app)
    run = the_run(app)
    run_id, before = run.run_id, run.snapshot().last_step
    widget(app, "dropout").set_value(0.3).run()
    no_trouble(app)
    assert wait_until(lambda: run.snapshot().knob_changes(), 30)
    change = run.snapshot().knob_changes()[0]
    assert (change["knob"], change["old"], change["new"]) == ("dropout", 0.0, 0.3)
    assert change["step"] > before  # the same run went on: no restart
    assert wait_until(lambda: run.snapshot().last_step > change["step"] + 5, 30)
    assert run.run_id == run_id and run.status == "running"
    steps = [r["step"] for r in run.snapshot().steps]
    assert steps == sorted(steps) and steps[0] == 1
    assert all(r["dropout"] == 0.3 for r in run.snapshot().steps if r["step"] >= change["step"])


def test_every_live_knob_reaches_the_running_model(app):
    train(app)
    run = the_run(app)
    run_id = run.run_id
    wanted = {}
    for control in LIVE_CONTROLS:
        value = control.hi if control.name == "early_stop" else another(control, widget(app, control.name).value)
        widget(app, control.name).set_value(value).run()
        wanted[control.name] = value
    no_trouble(app)

    def changed():
        return {e["knob"]: e["new"] for e in run.snapshot().knob_changes()}

    assert wait_until(lambda: changed().keys() >= wanted.keys(), 30), changed()
    assert changed() == wanted
    # the same run took them all (with patience switched on it may since have stopped early: that is its right)
    assert run.run_id == run_id and run.snapshot().steps[0]["step"] == 1
    assert run.status in ("running", "early_stop")


def test_setup_waits_for_reset_then_builds_the_new_model(app):
    train(app)
    run = the_run(app)
    widget(app, "hidden").set_value(32).run()
    widget(app, "cell").set_value("gru").run()
    no_trouble(app)
    assert (run.config.hidden, run.config.cell, run.status) == (16, "lstm", "running")
    assert "press Reset" in texts(app.info) and "hidden 16 → 32" in texts(app.info)

    app.button(key="reset").click().run()
    no_trouble(app)
    assert (run.snapshot().start["config"]["hidden"], run.snapshot().start["config"]["cell"]) == (32, "gru")
    assert run.status == "paused" and run.snapshot().last_step == 0
    assert "press Reset" not in texts(app.info)
    app.button(key="train").click().run()
    assert wait_until(lambda: run.snapshot().last_step >= 3, 60) and run.status == "running"


def test_pause_resume_save_and_clear(app):
    train(app)
    run = the_run(app)
    app.button(key="pause").click().run()
    assert run.status == "paused" and app.button(key="pause").label == "▶ Resume"
    assert app.button(key="train").label == "▶ Continue" and not app.button(key="train").disabled
    app.button(key="pause").click().run()
    assert run.status == "running" and app.button(key="pause").label == "❚❚ Pause"
    assert app.button(key="train").disabled
    app.button(key="save").click().run()
    assert list(run.saved) == ["run 1"] and not app.button(key="clear").disabled
    app.button(key="clear").click().run()
    assert not run.saved and app.button(key="clear").disabled
    no_trouble(app)


def test_branch_here_forks_the_running_model_and_compare_runs_shows_both(app):
    assert app.button(key="branch").disabled and app.button(key="branch").label == "↳ Branch here"
    train(app)
    app.button(key="branch").click().run()
    no_trouble(app)
    run = the_run(app)
    assert "Branched" in texts(app.success) and len(run.branches) == 1
    app.session_state["view"] = "Compare runs"
    app.run()
    assert next(iter(run.branches)) in json.dumps(json.loads(vega_specs(app)[0]), ensure_ascii=False)


# ------------------------------------------------------------------------------ views
def test_every_view_draws_and_a_sample_can_be_asked_for(app):
    train(app, steps=12)
    run = the_run(app)
    app.button(key="save").click().run()
    for view, charts in [("Generalisation gap", 1), ("Gradients", 2), ("Weights", 1), ("Compare runs", 1)]:
        app.session_state["view"] = view
        app.run()
        no_trouble(app)
        assert len(app.get("vega_lite_chart")) == charts, view
    app.session_state["view"] = "Text sample"
    app.run()
    app.button(key="generate").click().run()
    no_trouble(app)
    assert app.code and app.code[0].value.startswith("ROMEO:")
    assert run.status == "running"
    assert {b.key for b in app.get("download_button")} >= {"download_csv", "download_gap", "download_comparison"}


def test_a_diverged_run_says_what_to_do_and_reset_recovers(app):
    session = app.session_state["session"]
    # SGD at lr 100 with L2 λ = 1 multiplies every weight by 1 - 2·100·1 = -199 a step: it overflows in a few
    session.set_knobs({"optimizer": "sgd", "lr": 100.0, "l2": 1.0})
    app.button(key="train").click().run()
    run = session.run
    assert wait_until(lambda: run.status == "diverged", 60), (run.status, run.error, run.snapshot().last_step)
    app.run()
    no_trouble(app)
    step = run.snapshot().final_event()["step"]
    assert f"Diverged at step {step}: " in texts(app.error)
    assert "lower the learning rate or turn on clipping, then Reset." in texts(app.error)
    assert app.button(key="pause").disabled and not app.button(key="train").disabled
    app.session_state["view"] = "Text sample"
    app.run()
    app.button(key="generate").click().run()  # a NaN model cannot sample: a message, not a traceback
    no_trouble(app)
    app.button(key="reset").click().run()
    assert run.status == "paused" and not app.error
    no_trouble(app)


def test_the_run_is_in_the_store_tagged_with_its_session(app):
    train(app)
    run = the_run(app)
    stored = RunStore().run(run.run_id)
    assert stored["source"] == "app" and stored["owner"] and stored["status"] == "running"
    assert stored["config"]["hidden"] == 16


# ------------------------------------------------------------------------------ uploads
@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "binary"),
        ("héllo wörld ".encode("latin-1") * 100, "not UTF-8"),
        (b"a" * (MAX_UPLOAD_BYTES + 1), "the limit is 5 MB"),
    ],
)
def test_a_bad_upload_shows_an_error_and_the_app_stays_usable(app, content, message):
    app.file_uploader(key="upload").set_value(("notes.txt", content, "text/plain")).run()
    no_trouble(app)
    assert message in texts(app.error) and "notes.txt" in texts(app.error)
    assert app.session_state["session"].wanted.corpus == "tinyshakespeare"
    train(app)  # still works, on the bundled corpus


def test_an_upload_too_short_for_the_batch_shape_is_one_message_then_a_good_one_trains(app):
    app.file_uploader(key="upload").set_value(("poem.txt", b"Roses are red.\n" * 10, "text/plain")).run()
    no_trouble(app)
    assert not app.error and app.selectbox(key="corpus").value.endswith(".txt")
    app.button(key="reset").click().run()
    no_trouble(app)
    assert "the training split has 1 token but one batch needs" in texts(app.error)
    assert len(app.error) + len(app.info) == 1 + 1  # the error, and the status line: no stale second message
    run = the_run(app)
    assert run.status == "idle"

    app.file_uploader(key="upload").set_value(
        ("plays.txt", bundled_text("tinyshakespeare")[:300_000].encode(), "text/plain")
    ).run()
    assert not app.error
    train(app)
    corpus = run.snapshot().start["config"]["corpus"]
    assert Path(corpus).read_text(encoding="utf-8") == bundled_text("tinyshakespeare")[:300_000]
    assert "corpus" not in app.query_params  # an upload is private: a link never names it


def test_two_students_uploading_the_same_file_name_do_not_share_a_file(apps):
    first, second = apps(), apps()
    first.file_uploader(key="upload").set_value(("notes.txt", b"first student's notes " * 500, "text/plain")).run()
    second.file_uploader(key="upload").set_value(("notes.txt", b"second student's notes " * 500, "text/plain")).run()
    mine, theirs = (at.session_state["session"].wanted.corpus for at in (first, second))
    assert mine != theirs
    assert Path(mine).read_bytes().startswith(b"first") and Path(theirs).read_bytes().startswith(b"second")
    assert mine not in second.session_state["session"].corpus_choices().values()


# ------------------------------------------------------------------------------ over seeds, sweeps
def vega_specs(at: AppTest) -> list[str]:
    return [chart.proto.spec for chart in at.get("vega_lite_chart")]


def wait_for_job(at: AppTest, kind: str, timeout: float = 180):
    """Until the session's background job ends (AppTest does not refresh the page: re-run it after)."""
    job = at.session_state["session"].jobs[kind]
    assert wait_until(lambda: not job.running, timeout), job.text
    at.run()
    no_trouble(at)
    return job


def test_repeat_over_seeds_repeats_the_comparison_and_draws_bands_and_paired_differences(app):
    train(app, steps=8)
    app.button(key="pause").click().run()
    app.button(key="save").click().run()
    widget(app, "dropout").set_value(0.3).run()  # the current run goes on with a knob move: its schedule
    app.button(key="train").click().run()
    run = the_run(app)
    assert wait_until(lambda: run.snapshot().knob_changes() and run.snapshot().last_step >= 14, 60)
    app.button(key="pause").click().run()
    app.session_state["view"] = "Compare runs"
    app.run()
    app.number_input(key="repeat_seeds").set_value(2).run()
    app.button(key="repeat").click().run()
    no_trouble(app)
    assert "Started 4 trials (2 arms × 2 seeds)" in texts(app.success)
    job = wait_for_job(app, "seeds")
    assert job.text.startswith("Done: 4 trials"), job.text
    assert job.text in texts(app.markdown)
    specs = vega_specs(app)
    assert len(specs) == 3  # the comparison, then the bands and the paired differences
    assert "Validation loss over seeds" in specs[1] and "run 1" in specs[1] and "No finished trial" not in specs[1]
    assert "Paired differences" in specs[2] and "dropout 0.3" in specs[2] and "Needs two arms" not in specs[2]
    assert {b.key for b in app.get("download_button")} >= {
        "download_seeds_variance_bands",
        "download_seeds_paired_differences",
    }
    assert [arm.seeds for arm in job.summary().arms] == [[0, 1], [0, 1]]


def test_the_sweep_tab_runs_a_grid_over_seeds_and_draws_its_landscape(app):
    app.session_state["view"] = "Sweep"
    app.run()
    no_trouble(app)
    assert app.selectbox(key="sweep_knob_1").value == "dropout" and app.selectbox(key="sweep_knob_2").value == "l2"
    assert app.text_input(key="sweep_values_1_dropout").value == "0, 0.5"
    app.text_input(key="sweep_values_2_l2").set_value("0, 0.001")
    app.number_input(key="sweep_seeds").set_value(2)
    app.number_input(key="sweep_steps").set_value(20).run()
    app.button(key="sweep_start").click().run()
    no_trouble(app)
    assert "Started 8 trials (4 arms × 2 seeds)" in texts(app.success)
    assert app.button(key="cancel_sweep").label == "Cancel"
    job = wait_for_job(app, "sweep")
    assert job.text.startswith("Done: 8 trials"), job.text
    specs = vega_specs(app)
    assert len(specs) == 3 and "Landscape" in specs[0] and "Best:" in specs[0] and "No finished" not in specs[0]
    assert "Validation loss over seeds" in specs[1] and "Paired differences" in specs[2]
    summary = job.summary()
    assert [arm.label for arm in summary.arms] == [
        "dropout=0, l2=0",
        "dropout=0, l2=0.001",
        "dropout=0.5, l2=0",
        "dropout=0.5, l2=0.001",
    ]
    assert all(t["steps"] == 20 and t["status"] == "finished" for t in summary.trials)
    assert the_run(app).status == "idle"  # the live run is untouched


def test_cancel_stops_a_sweep_and_the_page_stops_refreshing(app):
    app.session_state["view"] = "Sweep"
    app.run()
    app.selectbox(key="sweep_knob_2").set_value("— none —")
    app.number_input(key="sweep_seeds").set_value(1)
    app.number_input(key="sweep_steps").set_value(1_000_000).run()  # far longer than the test waits
    app.button(key="sweep_start").click().run()
    job = app.session_state["session"].jobs["sweep"]
    assert job.running and app.session_state["drawn"][0] and app.button(key="sweep_start").disabled
    app.button(key="cancel_sweep").click().run()
    no_trouble(app)
    assert not job.running and job.text.startswith("Cancelled: 0 of "), job.text
    assert job.text in texts(app.markdown) and not app.session_state["drawn"][0]
    assert not app.button(key="sweep_start").disabled and not [b for b in app.button if b.key == "cancel_sweep"]


def test_a_sweep_too_big_for_the_machine_is_one_line_next_to_its_button_and_nothing_starts(app):
    from explorer.page.session import trials_limit

    app.session_state["view"] = "Sweep"
    app.run()
    values = ", ".join(f"{v / 100:g}" for v in range(trials_limit() // 10 + 1))  # × 10 seeds: past the limit
    app.text_input(key="sweep_values_1_dropout").set_value(values)
    app.selectbox(key="sweep_knob_2").set_value("— none —")
    app.number_input(key="sweep_seeds").set_value(10).run()
    app.button(key="sweep_start").click().run()
    no_trouble(app)
    assert len(app.error) == 1 and "more than this machine trains in a lesson" in app.error[0].value
    assert "sweep" not in app.session_state["session"].jobs
    app.selectbox(key="sweep_knob_2").set_value("dropout").run()  # the same knob twice: one line too
    app.button(key="sweep_start").click().run()
    assert len(app.error) == 1 and "dropout is picked twice" in app.error[0].value
    assert "sweep" not in app.session_state["session"].jobs
