"""The widget specs (explorer/controls.py) and the front-end policy both front ends share
(explorer/session.py): links, setup changes, threads, the viewer watchdog."""

from __future__ import annotations

import pytest

from explorer.page.controls import ADVANCED, ALL_CONTROLS, LIVE_CONTROLS, SETUP_CONTROLS, widget_value, widget_values
from explorer.page.links import Link, link_query, parse_link
from explorer.page.status import describe_changes, setup_changes
from explorer.page.watchdog import ViewerWatchdog
from explorer.runs.cpu import torch_threads_for
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import plural


def test_controls_cover_knobs_once_and_advanced_names_exist():
    names = [c.name for c in ALL_CONTROLS]
    assert len(names) == len(set(names)) and set(names) <= set(KNOBS)
    assert {c.name for c in LIVE_CONTROLS} <= {n for n, k in KNOBS.items() if k.live}
    assert {c.name for c in SETUP_CONTROLS}.isdisjoint(c.name for c in LIVE_CONTROLS)
    assert ADVANCED <= set(names)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_value_sits_exactly_on_its_widget(name):
    """Otherwise a front end would quietly run a lesson with different numbers than the preset's."""
    config = preset_config(name)
    for control in ALL_CONTROLS:
        assert widget_value(control, getattr(config, control.name)) == getattr(config, control.name), control.name


def test_widget_value_snaps_to_the_widgets_grid():
    by_name = {c.name: c for c in ALL_CONTROLS}
    assert widget_value(by_name["dropout"], 0.33) == pytest.approx(0.35)
    assert widget_value(by_name["early_stop"], 500) == 20
    assert widget_value(by_name["l2"], 2e-4) == 3e-4
    assert widget_value(by_name["hidden"], 100) == 128
    assert widget_value(by_name["batchnorm"], 1) is True
    assert widget_values(Config())["lr"] == Config().lr


def test_a_link_keeps_its_good_values_names_its_bad_ones_and_guards_the_corpus():
    link = parse_link(
        {"dropout": "0.5", "hidden": "abc", "corpus": "/etc/passwd", "utm_source": "x", "cell": ["rnn", "gru"]}
    )
    config = link.config
    assert (config.dropout, config.hidden, config.corpus, config.cell, link.preset) == (
        0.5,
        128,
        "tinyshakespeare",
        "gru",
        None,
    )
    assert (link.locked, link.hidden) == ((), ())
    assert link.problems == [
        "hidden must be a number, got 'abc'; using 128",
        "corpus '/etc/passwd' is not available from a link; using Tiny Shakespeare",
    ]


def test_a_link_says_which_of_its_values_its_widgets_cannot_show():
    assert parse_link({"l1": "0.0007", "dropout": "0.3"}).problems == [
        "l1 0.0007 is off the L1 λ (penalty λ·Σ|w|) control, which shows 0.001; the run uses 0.0007 until that "
        "control moves"
    ]


def test_an_old_link_opens_with_the_renamed_value_on_its_widget():
    link = parse_link({"dropout": "0.5", "dropout_kind": "variational"})
    assert link.config.dropout_kind == "locked" and not link.problems
    assert widget_values(link.config)["dropout_kind"] == "locked"
    assert link_query(link.config, None) == {"dropout": "0.5", "dropout_kind": "locked"}


def test_a_link_names_a_preset_and_what_differs_from_it():
    wanted = preset_config("dropout").replace(dropout=0.0, hidden=64)
    query = link_query(wanted, "dropout")
    assert query == {"preset": "dropout", "dropout": "0.0", "hidden": "64"}  # dropout 0 differs from the preset
    assert parse_link(query) == Link(wanted, "dropout", (), (), [])
    assert parse_link({"preset": "nope"}).problems == ["unknown preset 'nope'; presets: " + ", ".join(PRESETS)]
    assert "corpus" not in link_query(Config(corpus="/tmp/uploads/abc.txt"))  # an upload is private


def test_a_link_locks_and_hides_knobs_by_their_link_names_and_keeps_them_in_its_query():
    link = parse_link(
        {"preset": "dropout", "dropout": "0.3", "lock": "dropout, cell,embed_size", "hide": "l2,layernorm"}
    )
    assert (link.locked, link.hidden, link.problems) == (("cell", "dropout", "embed"), ("l2", "layernorm"), [])
    assert (link.locked_values["dropout"], link.locked_values["cell"]) == (0.3, "lstm")  # after preset and knobs
    query = link_query(link.config, link.preset, link.locked, link.hidden)
    assert (query["lock"], query["hide"]) == ("cell,dropout,embed_size", "l2,layernorm")  # sorted, as links spell them
    assert parse_link(query) == link
    assert {"lock", "hide"}.isdisjoint(link_query(link.config, link.preset))  # nothing locked: no empty lock=


def test_a_link_names_an_unknown_knob_to_lock_and_a_knob_both_locked_and_hidden_is_hidden():
    link = parse_link({"lock": "dropout,droput,l2", "hide": "l2,x"})
    assert (link.locked, link.hidden) == (("dropout",), ("l2",))
    known = "known: " + ", ".join("embed_size" if name == "embed" else name for name in KNOBS)  # as links spell them
    assert link.problems == [f"unknown knob 'droput' in lock=; {known}", f"unknown knob 'x' in hide=; {known}"]
    assert link_query(Config(), locked=("dropout", "l2"), hidden=("l2",)) == {"lock": "dropout", "hide": "l2"}


def test_the_embedding_size_travels_under_a_name_streamlit_leaves_alone():
    query = Config(embed=16).to_query()
    assert query == {"embed_size": "16"}  # Streamlit reserves ?embed= for its embedding mode
    assert Config.from_query(query).embed == 16 and parse_link(query).config.embed == 16


def test_setup_changes_are_told_apart_and_said_in_words():
    running, wanted = Config(), Config(dropout=0.5, hidden=32, cell="gru", corpus="/tmp/x/poem.txt")
    assert describe_changes(setup_changes(running, wanted)) == (
        "corpus Tiny Shakespeare → your file, cell lstm → gru, hidden 128 → 32"
    )
    assert setup_changes(wanted, wanted) == {}
    assert (plural(1, "token"), plural(2, "token"), plural(1000, "step")) == ("1 token", "2 tokens", "1,000 steps")


@pytest.mark.parametrize("cores, others, threads", [(2, 0, 1), (2, 4, 1), (4, 0, 3), (8, 1, 3), (16, 0, 4), (1, 0, 1)])
def test_threads_leave_a_core_for_the_page_and_are_shared_out(cores, others, threads):
    assert torch_threads_for(others, cores) == threads


def test_the_watchdog_waits_out_a_short_absence_then_gives_up_once():
    present, now, left = [True], [0.0], []
    watchdog = ViewerWatchdog(
        lambda: present[0], grace_s=3.0, on_leave=lambda: left.append(now[0]), clock=lambda: now[0]
    )

    def check(t, here):
        now[0], present[0] = t, here
        return watchdog()

    assert check(0.0, True)
    assert check(1.0, False) and check(3.0, False)  # gone for 2 s: still within the grace period
    assert check(3.5, True)  # came back: the clock starts over
    assert check(4.0, False) and check(6.9, False)
    assert not check(7.1, False) and left == [7.1]  # gone for 3.1 s: the run stops, logged once
