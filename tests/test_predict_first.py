"""The predict-first gate in a real IPython shell: cells held by `%%after_prediction` run only once the reader
commits (or skips), in order, with the answers fixed; the headless path (EXPLORER_ANSWERS=skip) runs them where
they stand. The same gate in a real browser under Voilà: tests/test_voila_browser.py."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from explorer.faces.notebook import predict, predict_first
from explorer.faces.notebook.predict_first import ANSWERS_ENV


@pytest.fixture
def shell(monkeypatch):
    monkeypatch.delenv(ANSWERS_ENV, raising=False)
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    shell.user_ns.update({"predict": predict, "predict_first": predict_first, "TIED_LOWER": dict(TIED_LOWER)})
    yield shell
    InteractiveShell.clear_instance()


# lesson 11's "tied against untied" question (explorer/runs/questions.py), and numbers in which tying is lower by
# 0.1 nats in each of 3 seeds: its rule's answer is "tied"
ASK = "predict('11_word_level_embedding_dropout_and_tying', 'tying_test')"
TIED_LOWER = {"test": {"untied": [5.0, 5.1, 5.2], "tied": [4.9, 5.0, 5.1]}}


def run(shell, code: str) -> bool:
    return shell.run_cell(code, store_history=False).success


def test_held_cells_wait_for_the_commit_then_run_in_order_with_the_answers_fixed(shell):
    assert run(shell, f"q = {ASK}\nask = predict_first(q)")
    assert run(shell, "%%after_prediction ask\norder = ['first']\nnumbers = TIED_LOWER")
    assert run(shell, "%%after_prediction ask\norder.append('second')\nq.check(numbers, 'lower in 3 of 3 seeds.')")
    ask, q = shell.user_ns["ask"], shell.user_ns["q"]
    assert "order" not in shell.user_ns and ask.state == "open"  # nothing ran: no outcome before the answer
    assert q.text == "Pick an answer, then run the experiment below."

    ask.commit.click()  # no answer picked yet: nothing starts
    assert ask.state == "open" and "Pick an answer to every question first" in ask.line.value
    q.choice.value = "untied"
    ask.commit.click()
    assert shell.user_ns["order"] == ["first", "second"] and ask.state == "done"
    assert q.text.startswith("Not this time: you predicted “untied”; the runs say “tied”.")
    assert q.choice.disabled and ask.commit.disabled and ask.skip.disabled  # the answer cannot change
    assert run(shell, "%%after_prediction ask\norder.append('again')")  # a cell run again after: at once
    assert shell.user_ns["order"] == ["first", "second", "again"]


def test_skipping_runs_the_cells_without_an_answer_and_a_failing_cell_stops_the_ones_after_it(shell):
    assert run(shell, f"q = {ASK}\nask = predict_first(q)")
    assert run(shell, "%%after_prediction ask\nseen = ['one']\nraise RuntimeError('a run diverged')")
    assert run(shell, "%%after_prediction ask\nseen.append('two')")
    ask = shell.user_ns["ask"]
    ask.skip.click()
    assert shell.user_ns["seen"] == ["one"] and ask.state == "failed" and "failed" in ask.line.value
    assert shell.user_ns["q"].choice.disabled and shell.user_ns["q"].choice.value is None


def test_a_gate_after_another_waits_for_its_cells(shell):
    assert run(shell, f"q1 = {ASK}\nfirst = predict_first(q1)")
    assert run(shell, "%%after_prediction first\nruns = [1, 2, 3]")
    assert run(shell, f"q2 = {ASK}\nsecond = predict_first(q2, after=first)")
    assert run(shell, "%%after_prediction second\ntotal = sum(runs)")
    first, second = shell.user_ns["first"], shell.user_ns["second"]
    second.skip.click()  # committed, but its cells read what the first gate's make
    assert second.state == "waiting" and "commit its answers first" in second.line.value
    assert "total" not in shell.user_ns
    first.skip.click()
    assert shell.user_ns["total"] == 6 and first.state == second.state == "done"


def test_headless_every_gate_commits_as_it_is_drawn_and_held_cells_run_where_they_stand(shell, monkeypatch):
    monkeypatch.setenv(ANSWERS_ENV, "skip")
    assert run(shell, f"q = {ASK}\nask = predict_first(q)")
    assert shell.user_ns["ask"].state == "done"
    assert run(shell, "%%after_prediction ask\nvalue = 41 + 1")
    assert shell.user_ns["value"] == 42


def test_a_held_cell_names_a_gate_that_exists(shell):
    assert run(shell, f"q = {ASK}\nask = predict_first(q)")
    assert not run(shell, "%%after_prediction nowhere\nx = 1")
    assert "x" not in shell.user_ns
