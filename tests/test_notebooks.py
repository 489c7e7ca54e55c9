"""Every notebook runs top to bottom headless (nbclient, the venv's python3 kernel), the lessons as a reader
runs them (every question committed unanswered, EXPLORER_ANSWERS=skip), and every claim a lesson makes
(explorer/runs/claims.py) holds in every one of its seeds (benchmarks/lesson_claims.py decides the same claims on
other seeds). The numbers are read back from the executed notebook: each lesson prints one line `RESULTS {json}`.
The notebooks execute in the background from the start of the session (tests/notebook_runs.py); these tests
run last and read what they printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notebook_runs import LESSONS, TIMEOUT_S, execute

from explorer.runs.claims import CLAIMS, claims_of
from explorer.runs.experiments import SEEDS
from explorer.runs.questions import QUESTIONS, questions_of

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
        asked = questions_of(stem)
        assert asked and set(printed_results(notebook, stem)["answers"]) == {q.name for q in asked}
        assert sum(line.startswith("The runs say: ") for line in said) >= len(asked)
    assert seconds < TIMEOUT_S


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda claim: f"{claim.lesson[:2]}: {claim.says[:60]}")
def test_every_claim_a_lesson_makes_holds_in_every_seed_it_trains(claim):
    """One copy of each claim (explorer/runs/claims.py): here it must hold in every seed the lesson trained (3;
    benchmarks/lesson_claims.py counts it on others), and the runs it compares must differ in nothing but the knobs
    it credits. The lesson renders the same verdicts in its own table."""
    numbers = results(claim.lesson)
    assert claim.unfair(numbers["setups"]) is None, f"{claim.says}: not like for like"
    verdicts = claim.verdicts(numbers, len(SEEDS))
    assert all(verdicts), f"{claim.says}: held {verdicts}"
    if claim.per_seed:  # one value per seed and no more: a seed past the last has nothing to read
        with pytest.raises(IndexError):
            claim.held(numbers, len(SEEDS))


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: f"{question.lesson[:2]}: {question.name}")
def test_every_question_a_lesson_asks_is_answered_by_its_rule_on_runs_that_differ_only_in_what_it_asks_about(question):
    """One copy of each question (explorer/runs/questions.py): the answer the page gave is the registry's rule on the
    numbers the lesson printed (so nothing it read changed after the verdict), and the runs it compares differ in
    nothing but the knobs it is about."""
    numbers = results(question.lesson)
    assert question.unfair(numbers["setups"]) is None, f"{question.name}: not like for like"
    assert numbers["answers"][question.name]["answer"] == question.answer(numbers) in question.choices


def test_every_lesson_has_claims_and_shows_their_table():
    """Each lesson ends with the table of its claims as its own runs decided them, rendered from the registry."""
    for stem in LESSONS:
        assert claims_of(stem), stem
        tables = "\n".join(
            o.data["text/markdown"] for o in outputs(execute(stem)[0]) if "text/markdown" in o.get("data", {})
        )
        shown = [claim.says for claim in claims_of(stem) if f"| {claim.says} |" in tables]
        assert shown == [claim.says for claim in claims_of(stem)], stem


def test_what_the_claims_do_not_say_the_numbers_are_there_for():
    """The lessons' numbers the claims read are one per seed where a claim reads them seed by seed, and the verdict a
    lesson renders itself (lesson 9's orthogonal arm) is there with its basis."""
    normalised = results("05_batch_norm")
    assert len([key for key in normalised if key.startswith("gap_") and key != "gap_none"]) == 4
    assert len(results("06_early_stopping")["runs"]) == len(SEEDS)
    assert len(results("09_long_range_dependencies")["orthogonal_above"]) == len(SEEDS)  # seeds 0-4: test_mechanisms
    words = results("11_word_level_embedding_dropout_and_tying")
    assert all(
        len(v) == len(SEEDS) for by_arm in (words["test"], words["gap"], words["train"]) for v in by_arm.values()
    )


def test_the_python3_kernel_is_this_environments():
    """A fresh `make test` needs no kernelspec step: ipykernel's wheel installs python3 into the venv, which
    Jupyter prefers inside a venv, and "python" in its argv becomes this interpreter."""
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.resource_dir).resolve().is_relative_to(Path(sys.prefix).resolve())
    assert spec.argv[0] in ("python", "python3", sys.executable)
