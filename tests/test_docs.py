"""The docs build as `make test` builds them (`mkdocs build --strict`: no broken link, no page outside the nav),
and the pages generated from the code list everything the code has: a new knob or command cannot be missing."""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.faces.cli.parser import build_parser
from explorer.spec.knobs import KNOBS, QUERY_NAMES, Config
from explorer.spec.wording import format_value

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)]
    done = subprocess.run(build, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def rows(table_html: str) -> list[list[str]]:
    """The cells of each body row, as plain text."""
    found = []
    for row in re.findall(r"<tr>(.*?)</tr>", table_html, flags=re.S):
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.S)
        if cells:
            found.append([html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in cells])
    return [[" ".join(words) for words in row] for row in found]


def test_knob_reference_lists_every_knob_with_its_default_and_help(site):
    text = page(site, "reference/knobs")
    live_part, setup_part = text.split('id="setup-knobs"')
    listed = {row[0].split()[0]: row for row in rows(live_part) + rows(setup_part)}
    assert list(listed) == list(KNOBS), "every knob once, in the table's order"
    live_names = {row[0].split()[0] for row in rows(live_part)}
    assert live_names == {name for name, knob in KNOBS.items() if knob.live}
    defaults = Config()
    for name, knob in KNOBS.items():
        row = listed[name]
        assert row[0] == f"{name} --{name.replace('_', '-')} ?{QUERY_NAMES.get(name, name)}="
        assert row[1] == format_value(getattr(defaults, name))
        assert row[3].startswith(" ".join(knob.help.split()))
        for choice in knob.choices:
            assert choice in row[2]


def commands(parser: argparse.ArgumentParser, path: str = "explorer"):
    """`explorer` and every command path under it, with its parser."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, f"{path} {name}")


def test_cli_reference_lists_every_command_and_option(site):
    text = html.unescape(page(site, "reference/cli"))
    headings = re.findall(r"<h2 id=\"[^\"]*\"><code>(.*?)</code>", text)
    every = list(commands(build_parser()))
    assert {"explorer train", "explorer runs show", "explorer sweep show"} <= {path for path, _ in every}
    assert headings == [path for path, _ in every]
    sections = dict(zip(headings, re.split(r"<h2 id=\"[^\"]*\"><code>.*?</code>", text)[1:]))
    for path, parser in every:
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue  # every command takes -h / --help, said once on the page
            for option in action.option_strings:
                assert f"<code>{option}" in sections[path] or f" {option}</code>" in sections[path], (path, option)


def test_architecture_shows_every_folder_on_a_floor_below_what_imports_it(site):
    table = re.search(r'<div class="reference".*?</table>', page(site, "architecture"), flags=re.S).group(0)
    floors = {row[1]: (int(row[0]), row[2]) for row in rows(table)}
    folders = [p.name for p in (ROOT / "explorer").iterdir() if (p / "__init__.py").exists() and p.name != "faces"]
    faces = [f"faces/{p.name}" for p in (ROOT / "explorer" / "faces").iterdir() if (p / "__init__.py").exists()]
    assert set(folders + faces) <= set(floors)
    assert floors["spec"] == (0, "nothing of explorer")
    for floor, imports in floors.values():
        for target in re.findall(r"↓ (\S+)", imports):
            assert floors[target][0] < floor


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert local, "the README links into docs/"
    for link in local:
        assert (ROOT / link).is_file(), link


def test_the_lessons_page_lists_every_claim_the_registry_holds():
    """docs/lessons.md's claims table (written by benchmarks/lesson_claims.py) has every claim of
    explorer/runs/claims.py, as it says now: a claim added, reworded or dropped in the code cannot leave the page
    showing seed counts for another sentence; re-run the benchmark (or `--decide` on kept numbers)."""
    from explorer.runs.claims import CLAIMS

    page = (ROOT / "docs" / "lessons.md").read_text()
    table = page.split("<!-- claims: written by benchmarks/lesson_claims.py -->\n")[1].split("\n<!-- /claims -->")[0]
    rows = [line.split(" | ")[:2] for line in table.splitlines()[2:]]
    assert rows == [[f"| {claim.lesson[:2]}", claim.says] for claim in CLAIMS]
    assert not [claim.says for claim in CLAIMS if "|" in claim.says]  # a cell's edge, in the page and the lessons'


def test_the_lessons_page_lists_every_question_the_registry_holds_with_one_of_its_answers():
    """docs/lessons.md's questions table (written by benchmarks/lesson_claims.py) has every question of
    explorer/runs/questions.py in its order, each with an answer its rule can give now: a question added, dropped or
    given other answers cannot leave the page showing an old verdict; re-run the benchmark (or `--decide`)."""
    from explorer.runs.questions import QUESTIONS

    page = (ROOT / "docs" / "lessons.md").read_text()
    table = page.split("<!-- questions: written by benchmarks/lesson_claims.py -->\n")[1].split("\n<!-- /questions")[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    assert [row[0] for row in rows] == [f"| {question.lesson[:2]}" for question in QUESTIONS]
    for row, question in zip(rows, QUESTIONS):
        assert row[-1].removesuffix(" |").strip("*") in question.choices, question.name
