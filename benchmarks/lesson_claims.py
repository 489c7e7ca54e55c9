"""Do the lessons' claims hold on seeds they were never shown on? Each lesson runs headless once per seed
(EXPLORER_SEEDS set to that seed, every question committed unanswered), and each of its claims
(explorer/runs/claims.py, the ones the test suite holds in seeds 0-2) is decided on that seed's numbers. Then each
lesson runs once more over all those seeds together, and its questions (explorer/runs/questions.py) are answered
there, by the same rules as on the reader's page. Printed: docs/lessons.md's claims table (every claim, in how many of
the seeds it held, and where it did not) and its questions table (every question, and what those seeds answered).

    python benchmarks/lesson_claims.py [--seeds 3,4,20,21,22] [--lessons 02_dropout,09_long_range_dependencies]
                                       [--keep DIR]
    python benchmarks/lesson_claims.py --decide DIR     # the tables again from kept numbers, no training

`--keep DIR` writes each run's numbers (STEM.seedN.json, and STEM.together.json for the run over all the seeds), so
that a claim or question reworded or re-thresholded can be decided again on the same runs with `--decide DIR`.
Lessons run one after another, each run on its own kernel; a lesson takes 10-80 s a seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from notebook_runs import LESSONS, run_notebook  # noqa: E402 - the suite's own runner, found by the path above
from test_notebooks import outputs, printed_results  # noqa: E402

from explorer.runs.claims import CLAIMS, claims_of  # noqa: E402
from explorer.runs.questions import QUESTIONS  # noqa: E402
from explorer.runs.sweep_plan import parse_seeds  # noqa: E402

MARK = "<!-- claims: written by benchmarks/lesson_claims.py -->"  # where docs/lessons.md's table starts (and ends)
END = "<!-- /claims -->"
QUESTIONS_MARK = "<!-- questions: written by benchmarks/lesson_claims.py -->"
QUESTIONS_END = "<!-- /questions -->"


def numbers_on(stem: str, seed: int, keep: str | None) -> dict:
    """The numbers `stem` printed, run on `seed` alone."""
    os.environ["EXPLORER_SEEDS"] = str(seed)
    notebook, seconds = run_notebook(stem)
    print(f"  {stem}, seed {seed}: ran in {seconds:.0f} s", flush=True)
    if errors := [o for o in outputs(notebook) if o.output_type == "error"]:  # a held cell shows its error, not raise
        sys.exit(f"{stem} on seed {seed}: {errors[0].ename}: {errors[0].evalue}")
    numbers = printed_results(notebook, stem)
    if keep:
        Path(keep, f"{stem}.seed{seed}.json").write_text(json.dumps(numbers))
    return numbers


def numbers_over(stem: str, seeds: tuple[int, ...], keep: str | None) -> dict:
    """The numbers `stem` printed, run once over all `seeds` (its questions are answered over the seeds together)."""
    os.environ["EXPLORER_SEEDS"] = ",".join(map(str, seeds))
    notebook, seconds = run_notebook(stem)
    print(f"  {stem}, seeds {os.environ['EXPLORER_SEEDS']} together: ran in {seconds:.0f} s", flush=True)
    numbers = printed_results(notebook, stem)
    if keep:
        Path(keep, f"{stem}.together.json").write_text(json.dumps(numbers))
    return numbers


def questions_table(together: dict[str, dict], seeds: list[int]) -> str:
    """docs/lessons.md's questions table: every question of the lessons in `together` ({stem: numbers over all the
    seeds}), in its words with the lesson's setup, and the answer its rule gives on those numbers."""
    head = f"| lesson | question | the runs' answer (seeds {', '.join(map(str, seeds))} together) |"
    lines = [QUESTIONS_MARK, head, "|---|---|---|"]
    for question in QUESTIONS:
        if question.lesson in together:
            numbers = together[question.lesson]
            if unfair := question.unfair(numbers["setups"]):
                sys.exit(f"{question.lesson} {question.name}: not like for like ({unfair})")
            asked = question.asks.format(**numbers["answers"][question.name]["setup"])
            lines.append(f"| {question.lesson[:2]} | {asked} | **{question.answer(numbers)}** |")
    return "\n".join([*lines, QUESTIONS_END])


def claims_table(numbers: dict[str, dict[int, dict]]) -> str:
    """docs/lessons.md's table: every claim of the lessons in `numbers` ({stem: {seed: numbers}}), decided seed by
    seed (a claim about no seed, on each run's own numbers)."""
    seeds = sorted({seed for by_seed in numbers.values() for seed in by_seed})
    head = f"| lesson | claim | runs differ only in | held in (seeds {', '.join(map(str, seeds))}) | not in |"
    lines = [MARK, head, "|---|---|---|---|---|"]
    for claim in CLAIMS:
        if claim.lesson in numbers:
            runs = numbers[claim.lesson]
            missed = [seed for seed, seed_numbers in runs.items() if not claim.verdicts(seed_numbers, 1)[0]]
            held = f"{len(runs) - len(missed)} of {len(runs)}"
            not_in = ", ".join(map(str, missed)) or "–"
            lines.append(f"| {claim.lesson[:2]} | {claim.says} | {claim.compares} | **{held}** | {not_in} |")
    return "\n".join([*lines, END])


def kept(folder: str) -> tuple[dict[str, dict[int, dict]], dict[str, dict]]:
    """The numbers kept in `folder`: {stem: {seed: numbers}} and {stem: numbers over all the seeds together}."""
    numbers: dict[str, dict[int, dict]] = {}
    for path in sorted(Path(folder).glob("*.seed*.json")):
        stem, seed = re.fullmatch(r"(.+)\.seed(\d+)\.json", path.name).groups()
        numbers.setdefault(stem, {})[int(seed)] = json.loads(path.read_text())
    together = {
        path.name.removesuffix(".together.json"): json.loads(path.read_text())
        for path in sorted(Path(folder).glob("*.together.json"))
    }
    return numbers, together


def show(numbers: dict[str, dict[int, dict]], together: dict[str, dict]) -> None:
    seeds = sorted({seed for by_seed in numbers.values() for seed in by_seed})
    print("\n" + claims_table(numbers) + "\n\n" + questions_table(together, seeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", default="3,4,20,21,22", help="seeds the lessons were not shown on (default: %(default)s)"
    )
    parser.add_argument("--lessons", default=",".join(LESSONS), help="notebook stems, comma-separated (default: all)")
    parser.add_argument("--keep", metavar="DIR", help="write each run's numbers here (STEM.seedN.json)")
    parser.add_argument("--decide", metavar="DIR", help="no training: the table from the numbers kept in DIR")
    args = parser.parse_args()
    if args.decide:
        show(*kept(args.decide))
        return
    seeds = parse_seeds(args.seeds)
    stems = args.lessons.split(",")
    if unknown := [stem for stem in stems if not claims_of(stem)]:
        sys.exit(f"no claims are registered for {', '.join(unknown)} (explorer/runs/claims.py)")
    numbers, together = {}, {}
    for stem in stems:
        numbers[stem] = {seed: numbers_on(stem, seed, args.keep) for seed in seeds}
        together[stem] = numbers_over(stem, seeds, args.keep)
    show(numbers, together)


if __name__ == "__main__":
    main()
