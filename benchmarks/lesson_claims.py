"""Do the lessons' claims hold on seeds they were never shown on? Each lesson runs headless once per seed
(EXPLORER_SEEDS set to that seed, every question committed unanswered), and the checks the test suite runs on
the lesson's own seeds 0-2 (tests/test_notebooks.py, one per lesson) are run on that seed's numbers. Printed:
per lesson, in how many seeds every one of its claims held, and the first claim that failed where one did;
then each lesson once more over all those seeds together, and the verdicts it gives its questions there.

    python benchmarks/lesson_claims.py [--seeds 3,4,20,21,22] [--lessons 02_dropout,09_long_range_dependencies]

One copy of each claim: the lesson computes its numbers and verdicts, the test file states what must hold.
Lessons run one after another, each run of each lesson on its own kernel; a lesson takes 10-80 s a seed on 2 cores.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import test_notebooks  # noqa: E402 - the suite's own checks, found by the path above
from notebook_runs import LESSONS, run_notebook  # noqa: E402

from explorer.runs.sweep_plan import parse_seeds  # noqa: E402


def checks() -> dict[str, Callable[[], None]]:
    """{lesson: its test}: the test function of tests/test_notebooks.py that reads that lesson's RESULTS."""
    found = {}
    for name, test in vars(test_notebooks).items():
        if name.startswith("test_") and callable(test):
            stems = re.findall(r'results\("([0-9a-z_]+)"\)', inspect.getsource(test))
            found.update({stem: test for stem in stems})
    return found


def held_on(stem: str, check: Callable[[], None], seed: int) -> str | None:
    """None if every claim of `stem` held on `seed`, else the claim (the assert line) that failed first."""
    os.environ["EXPLORER_SEEDS"] = str(seed)
    notebook, seconds = run_notebook(stem)
    print(f"  {stem}, seed {seed}: ran in {seconds:.0f} s", flush=True)
    numbers = test_notebooks.printed_results(notebook, stem)
    test_notebooks.results, test_notebooks.SEEDS = (lambda _stem: numbers), (seed,)
    try:
        check()
    except AssertionError:
        frame = traceback.extract_tb(sys.exc_info()[2])[-1]
        return f"line {frame.lineno}: {frame.line}"
    return None


def verdicts_over(stem: str, seeds: tuple[int, ...]) -> list[str]:
    """The lesson run once over all `seeds`: the verdict line it printed for each of its questions."""
    os.environ["EXPLORER_SEEDS"] = ",".join(map(str, seeds))
    notebook, seconds = run_notebook(stem)
    print(f"  {stem}, seeds {os.environ['EXPLORER_SEEDS']} together: ran in {seconds:.0f} s", flush=True)
    said = [line for o in test_notebooks.outputs(notebook) if o.output_type == "stream" for line in o.text.splitlines()]
    return [line for line in said if line.startswith("The runs say: ")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds", default="3,4,20,21,22", help="seeds the lessons were not shown on (default: %(default)s)"
    )
    parser.add_argument("--lessons", default=",".join(LESSONS), help="notebook stems, comma-separated (default: all)")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    found = checks()
    table = []
    for stem in args.lessons.split(","):
        if stem not in found:
            sys.exit(f"no check reads {stem!r}: lessons with checks are {', '.join(sorted(found))}")
        failed = {seed: held_on(stem, found[stem], seed) for seed in seeds}
        table.append((stem, failed, verdicts_over(stem, seeds)))
    print(f"\n| lesson | every claim held in (seeds {', '.join(map(str, seeds))}) | first claim that failed |")
    print("|---|---|---|")
    for stem, failed, _ in table:
        misses = [f"seed {seed}: {why}" for seed, why in failed.items() if why]
        print(f"| `{stem}` | **{len(seeds) - len(misses)} of {len(seeds)}** | {'; '.join(misses) or '–'} |")
    for stem, _, verdicts in table:
        print(f"\n{stem} over seeds {', '.join(map(str, seeds))} together:")
        print("\n".join(f"  {line}" for line in verdicts))


if __name__ == "__main__":
    main()
