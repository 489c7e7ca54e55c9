"""The lessons' questions (explorer/runs/questions.py): each rule can give every answer it offers, so that no
reader's choice is ruled out before the runs are in, and the registry is whole (the lessons' own runs answer them in
tests/test_notebooks.py)."""

import string

import pytest

from explorer.runs.questions import QUESTIONS, UNCLEAR, Compare, Cuts, Ranked, Seeds, Which, question_named


def test_cuts_give_each_band_its_label():
    rule = Cuts(lambda r: r["x"], (10, 100), ("under 10", "10 to 100", "over 100"))
    assert [rule.decide({"x": x}) for x in (3, 10, 50, 100, 1e4)] == [
        "under 10",
        "10 to 100",
        "10 to 100",
        "over 100",
        "over 100",
    ]


def test_a_comparison_names_a_side_only_when_the_paired_interval_excludes_zero():
    rule = Compare(lambda r: r["a"], lambda r: r["b"], lower="b", higher="a", neither="no clear difference")
    a = [1.0, 1.1, 1.2]
    assert rule.decide({"a": a, "b": [0.8, 0.95, 1.0]}) == "b"
    assert rule.decide({"a": a, "b": [1.3, 1.35, 1.5]}) == "a"
    assert rule.decide({"a": a, "b": [0.9, 1.2, 1.2]}) == "no clear difference"  # the differences straddle 0
    assert rule.decide({"a": a[:1], "b": [0.5]}) == "no clear difference"  # one seed: no interval


def test_a_ranking_names_a_winner_only_when_the_top_two_are_apart_over_the_seeds():
    values = {"x": [1.0, 1.1, 1.2], "y": [2.0, 2.1, 2.3], "z": [1.05, 1.0, 1.3]}
    lowest = Ranked(("x", "y", "z"), lambda r, name: r[name])
    assert lowest.decide(values) == UNCLEAR  # x and z: differences +0.05, -0.1, +0.1
    assert lowest.decide({**values, "z": [1.5, 1.6, 1.8]}) == "x"
    assert Ranked(("x", "y", "z"), lambda r, name: r[name], highest=True).decide(values) == "y"
    by_middle = Ranked(("x", "y"), lambda r, name: r[name], highest=True, unclear=None, by=lambda v: sorted(v)[1])
    assert by_middle.decide({"x": [9.0, 1.0, 1.0], "y": [2.0, 2.0, 0.0]}) == "y"  # x's mean is higher, its middle not
    assert by_middle.outcomes == ("x", "y")


def test_which_names_the_set_that_held_and_any_other_set_as_other():
    rule = Which(("a", "b", "c"), lambda r, name: r[name], {frozenset(): "none", frozenset("abc"): "all"}, "some")
    assert rule.decide(dict.fromkeys("abc", True)) == "all"
    assert rule.decide(dict.fromkeys("abc", False)) == "none"
    assert rule.decide({"a": True, "b": False, "c": False}) == "some"
    closed = Which(("a",), lambda r, name: r[name], {frozenset(): "no"})
    with pytest.raises(ValueError, match="no answer names the set"):
        closed.decide({"a": True})


def test_seeds_count_every_some_or_none():
    rule = Seeds(lambda r: r["flags"], every="every", some="some", none="none")
    assert [rule.decide({"flags": f}) for f in ([True] * 3, [True, False, True], [False] * 3)] == [
        "every",
        "some",
        "none",
    ]
    assert Seeds(lambda r: r["flags"], every="yes", some="no", none="no").outcomes == ("yes", "no")


def test_every_question_is_found_by_its_name_offers_distinct_answers_and_names_what_it_compares():
    named = [(q.lesson, q.name) for q in QUESTIONS]
    assert len(named) == len(set(named))
    assert all(question_named(lesson, name).name == name for lesson, name in named)
    with pytest.raises(KeyError, match="02_dropout has no question named 'nothing'"):
        question_named("02_dropout", "nothing")
    for q in QUESTIONS:
        assert len(q.choices) == len(set(q.choices)) >= 2, q.name
        assert bool(q.runs) == bool(q.change) and len(q.runs) != 1, q.name
        if isinstance(q.rule, Which):  # every set it names is a set of its names
            assert all(held <= set(q.rule.names) for held in q.rule.labels), q.name


def test_every_registered_rule_can_reach_each_of_its_answers():
    """Cuts: one band per label, in order. Which: 'other' needs a set no label names. (Compare, Ranked and Seeds
    reach each outcome by construction: the tests above.)"""
    for q in QUESTIONS:
        if isinstance(q.rule, Cuts):
            assert len(q.rule.labels) == len(q.rule.cuts) + 1 and list(q.rule.cuts) == sorted(set(q.rule.cuts)), q.name
        if isinstance(q.rule, Which) and q.rule.other:
            assert len(q.rule.labels) < 2 ** len(q.rule.names), f"{q.name}: 'other' can never be the answer"


def test_a_questions_placeholders_are_all_named_and_filled_where_it_is_asked():
    for q in QUESTIONS:
        fields = {field for _, field, _, _ in string.Formatter().parse(q.asks) if field}
        assert fields <= {"steps", "every", "window", "far", "keys", "distance", "batches"}, q.name
