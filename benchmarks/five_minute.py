"""The README's five-minute lesson, measured as it says: `explorer train --preset overfit --seed S --at 240
dropout=0.5` on each seed (the command a teacher can type, in its own process and run store), then the validation
loss and the gap before the move (step 220, the last evaluation before it) and after it (step 300).

    python benchmarks/five_minute.py [--seeds 0,1,2]

A before and after of one run per seed, not a comparison: step 4 of the README compares against the same run
without dropout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.runs.store import RunStore
from explorer.runs.sweep_plan import parse_seeds

BEFORE, MOVE, AFTER = 220, 240, 300  # the last evaluation before the move, the move, the evaluation read after it


def evaluations(seed: int, home: str) -> dict[int, dict]:
    """{step: evaluation record} of the command's run on `seed`, trained in its own process."""
    command = [sys.executable, "-m", "explorer", "train", "--preset", "overfit", "--seed", str(seed)]
    subprocess.run(
        [*command, "--at", str(MOVE), "dropout=0.5"],
        check=True,
        capture_output=True,
        env={**os.environ, "EXPLORER_HOME": home},
    )
    store = RunStore(Path(home) / "runs.sqlite")
    run = store.runs(limit=1)[0]
    return {r["step"]: r for r in store.records(run["id"]) if r["kind"] == "eval"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="seeds (default: %(default)s)")
    args = parser.parse_args()
    print(f"| seed | validation at {BEFORE} | at {AFTER} | gap at {BEFORE} | at {AFTER} |\n|---|---|---|---|---|")
    for seed in parse_seeds(args.seeds):
        with tempfile.TemporaryDirectory() as home:
            at = evaluations(seed, home)
        print(
            f"| {seed} | {at[BEFORE]['val_loss']:.2f} | {at[AFTER]['val_loss']:.2f} | {at[BEFORE]['gap']:.2f} | "
            f"{at[AFTER]['gap']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
