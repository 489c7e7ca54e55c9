"""The claims registry refuses a comparison that is not like for like: runs that differ in a knob the claim does not
credit, or a credited knob they do not differ in (explorer/runs/claims.py; the lessons' own runs are checked in
tests/test_notebooks.py)."""

import pytest

from explorer.runs.claims import CLAIMS, Claim, claim_named
from explorer.runs.experiments import setup
from explorer.spec.knobs import Config


def setups(**runs: Config) -> dict[str, dict]:
    return {name: setup(config) for name, config in runs.items()}


def claim(*runs: str, change: tuple[str, ...]) -> Claim:
    return Claim("00_example", "dropout lowers the gap", lambda r, i: True, runs=runs, change=change)


def test_a_comparison_that_changes_only_what_it_credits_is_decided():
    base = Config(hidden=32)
    runs = setups(plain=base, dropped=base.replace(dropout=0.5), other_seed=base.replace(seed=7))
    assert claim("plain", "dropped", change=("dropout",)).unfair(runs) is None
    assert claim("plain", "other_seed", "dropped", change=("dropout",)).unfair(runs) is None  # a seed is no knob


def test_a_comparison_whose_runs_differ_in_another_knob_is_refused():
    base = Config(hidden=32)
    runs = setups(plain=base, dropped_and_bigger=base.replace(dropout=0.5, hidden=64))
    assert claim("plain", "dropped_and_bigger", change=("dropout",)).unfair(runs) == "its runs also differ in hidden"


def test_a_comparison_that_credits_a_knob_its_runs_share_or_a_run_the_lesson_lacks_is_refused():
    base = Config(hidden=32)
    runs = setups(plain=base, dropped=base.replace(dropout=0.5))
    assert claim("plain", "dropped", change=("dropout", "l2")).unfair(runs) == "its runs do not differ in l2"
    assert claim("plain", "noised", change=("noise",)).unfair(runs) == "the lesson has no run named 'noised'"


def test_every_registered_comparison_names_its_runs_and_what_they_differ_in():
    for each in CLAIMS:
        assert bool(each.runs) == bool(each.change), each.says
        assert len(each.runs) != 1, each.says  # a comparison needs two runs


def test_a_claim_the_prose_cites_is_found_by_its_name_and_only_one_answers_to_it():
    named = [(each.lesson, each.name) for each in CLAIMS if each.name]
    assert len(named) == len(set(named))
    assert all(claim_named(lesson, name).name == name for lesson, name in named)
    with pytest.raises(KeyError, match="02_dropout has no claim named 'no such claim'"):
        claim_named("02_dropout", "no such claim")
