"""The lessons are written as jupytext percent-format .py files; the paired .ipynb (what Jupyter and Voilà
open) must say exactly the same. After editing a .py: `.venv/bin/jupytext --sync notebooks/*.py`."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def test_jupytext_pairs_ipynb_with_percent_scripts():
    config = tomllib.loads((ROOT / "jupytext.toml").read_text())
    assert config["formats"] == "ipynb,py:percent"


def test_every_script_has_its_notebook_and_back():
    assert SOURCES, "no notebooks/*.py"
    assert {p.stem for p in SOURCES} == {p.stem for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_matches_its_script(source):
    from_script = jupytext.read(source)
    committed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert cells(committed) == cells(from_script), f"run: .venv/bin/jupytext --sync {source.relative_to(ROOT)}"
    assert committed.metadata["kernelspec"]["name"] == "python3"
    assert not [c for c in committed.cells if c.cell_type == "code" and (c.outputs or c.execution_count)], (
        "commit notebooks without outputs"
    )


@pytest.mark.parametrize("source", [p for p in SOURCES if p.stem[:2].isdigit()], ids=lambda p: p.stem)
def test_each_lesson_has_a_story_with_math_numbers_and_try_this(source):
    text = source.read_text(encoding="utf-8")
    assert "# %% [markdown]\n# # Lesson" in text
    assert "$$" in text  # a formula where it helps
    assert 'print("RESULTS", json.dumps(results))' in text
    assert "## Try this" in text and "dashboard(" in text
