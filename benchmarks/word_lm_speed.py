"""`explorer train` against the script a user would run instead, both run as a user runs them: pytorch/examples
word_language_model's `main.py` (2×200 LSTM, SGD lr 20, clip 0.25, dropout 0.2, bptt 35, batch 20, its own
evaluation: the whole validation text at each epoch's end, the whole test text at the end), then at once (no pause
between: a user runs one job after the other) `explorer train` with the same settings (its initialisation too:
`--init uniform` is main.py's embedding and decoder uniform(±0.1)) and explorer's own defaults (an evaluation
every `eval_every` steps with the training subset, gradient details and the memorisation meter within the
instruments' budget, the store, the test split at the end). Each is timed end to end as a whole process; both
perplexities are printed.

    git clone https://github.com/pytorch/examples /tmp/pytorch-examples     # once, by hand
    python benchmarks/word_lm_speed.py --examples /tmp/pytorch-examples --fraction 0.25 --threads 2

Nothing is downloaded here. `--fraction F` keeps the first F of PTB's training lines on both sides (the validation
and test texts stay whole), so a shorter measurement of speed is still the same comparison; both sides run the same
number of epochs over it. Their perplexities are then not comparable: main.py's vocabulary also takes every word of
the validation and test texts, explorer's only the training file's (the others are <unk>, an easier token);
`word_lm_same_start.py` compares the perplexities like for like. `--threads` is given to both (OMP_NUM_THREADS
for main.py, --threads for explorer), so the figures do not depend on explorer's CPU policy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from explorer.core.data import BatchStream, Corpus
from explorer.spec.knobs import Config

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"
SETTINGS = dict(layers=2, hidden=200, embed=200, lr=20.0, clip=0.25, dropout=0.2, seq_len=35, batch_size=20)
SETTINGS_AS_FLAGS = {**SETTINGS, "init": "uniform"}  # main.py's initialisation is one of its settings


def prepare(ptb: Path, tmp: Path, fraction: float) -> Path:
    """train.txt/valid.txt/test.txt (the names main.py reads): the first `fraction` of PTB's training lines."""
    lines = (ptb / "ptb.train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp / "train.txt").write_text("".join(lines[: max(1, int(len(lines) * fraction))]), encoding="utf-8")
    for part in ("valid", "test"):
        (tmp / f"{part}.txt").symlink_to((ptb / f"ptb.{part}.txt").resolve())
    return tmp


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{command[1]} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def run_main_py(wlm: Path, data: Path, tmp: Path, args, seed: int) -> dict:
    command = [sys.executable, "main.py", "--data", str(data), "--epochs", str(args.epochs), "--seed", str(seed)]
    command += ["--save", str(tmp / "m.pt")]
    seconds, out = timed(command, wlm, {**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    valid = [float(v) for v in re.findall(r"valid ppl\s+([\d.]+)", out)]
    test = float(re.findall(r"test ppl\s+([\d.]+)", out)[-1])
    return {"seconds": seconds, "valid_ppl": valid, "test_ppl": test}


def explorer_steps(data: Path, epochs: int) -> int:
    """main.py's epochs as explorer steps (a step is one batch of 20 × 35 tokens)."""
    config = Config(corpus=str(data), level="word", vocab_size=10_000, **SETTINGS)
    corpus = Corpus.from_config(config)
    return epochs * BatchStream(corpus.train, config.batch_size, config.seq_len, "cpu").batches_per_epoch


def run_explorer(data: Path, tmp: Path, steps: int, args, seed: int) -> dict:
    flags = [f"--{name.replace('_', '-')}={value}" for name, value in SETTINGS_AS_FLAGS.items()]
    metrics = tmp / "metrics.jsonl"
    command = [sys.executable, "-m", "explorer", "train", f"--corpus={data}", "--level=word", "--cell=lstm"]
    command += ["--optimizer=sgd", "--vocab-size=10000", f"--steps={steps}", f"--threads={args.threads}", *flags]
    command += [f"--seed={seed}"]
    command += ["--store", str(tmp / "store"), "--metrics-out", str(metrics)]
    seconds, out = timed(command, Path.cwd(), dict(os.environ))
    evals = [r for r in map(json.loads, metrics.read_text().splitlines()) if r["kind"] == "eval"]
    test = float(re.findall(r"test loss ([\d.]+)", out)[-1])
    return {
        "seconds": seconds,
        "val_ppl": evals[-1]["val_ppl"],
        "best_val_ppl": math.exp(min(r["val_loss"] for r in evals)),
        "test_ppl": math.exp(test),
        "cadence": {k: evals[-1][k] for k in evals[-1] if k.endswith("_now") or k.endswith("_share")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", required=True, type=Path, help="a checkout of pytorch/examples")
    parser.add_argument("--ptb", type=Path, default=PTB, help="a folder with ptb.{train,valid,test}.txt")
    parser.add_argument("--fraction", type=float, default=1.0, help="of PTB's training lines, on both sides")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="pairs (main.py then explorer) run back to back")
    parser.add_argument(
        "--seed", type=int, default=1111, help="both sides' seed in the first pair (main.py's default); +1 a pair"
    )
    args = parser.parse_args()
    wlm = args.examples / "word_language_model"
    if not (wlm / "main.py").exists():
        raise SystemExit(f"{wlm}/main.py not found: --examples must be a checkout of pytorch/examples")
    if not 0 < args.fraction <= 1:
        raise SystemExit(f"--fraction must be in (0, 1], got {args.fraction}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        data = prepare(args.ptb, Path(tempfile.mkdtemp(dir=tmp)), args.fraction)
        steps = explorer_steps(data, args.epochs)
        print(
            f"PTB, first {args.fraction:g} of its training lines, {args.epochs} epochs ({steps} explorer steps), "
            f"LSTM 2×200, batch 20×35, SGD lr 20, clip 0.25, dropout 0.2, {args.threads} threads each, "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )
        pairs = []
        for repeat in range(args.repeats):
            seed = args.seed + repeat
            ref = run_main_py(wlm, data, tmp, args, seed)
            ours = run_explorer(data, tmp, steps, args, seed)
            pairs.append((ref, ours))
            print(
                f"pair {repeat + 1} (seed {seed}): main.py {ref['seconds']:.1f} s (valid ppl by epoch "
                f"{', '.join(f'{v:.1f}' for v in ref['valid_ppl'])}; test ppl {ref['test_ppl']:.1f}) | "
                f"explorer {ours['seconds']:.1f} s (val ppl {ours['val_ppl']:.1f}, best {ours['best_val_ppl']:.1f} "
                f"on its evaluation subset; test ppl {ours['test_ppl']:.1f}) | speed ratio "
                f"{ref['seconds'] / ours['seconds']:.3f}× main.py\n  explorer's cadence at the end: {ours['cadence']}",
                flush=True,
            )
        if len(pairs) > 1:
            print(summary(pairs), flush=True)


def summary(pairs: list[tuple[dict, dict]]) -> str:
    """Over the pairs: the speed ratio of the summed times, and each side's test perplexity (mean, range)."""
    ratio = sum(ref["seconds"] for ref, _ in pairs) / sum(ours["seconds"] for _, ours in pairs)
    sides = {"main.py": [ref["test_ppl"] for ref, _ in pairs], "explorer": [ours["test_ppl"] for _, ours in pairs]}
    spread = "; ".join(
        f"{name} test ppl mean {statistics.mean(v):.1f} ({min(v):.1f}-{max(v):.1f})" for name, v in sides.items()
    )
    return f"{len(pairs)} pairs: speed ratio {ratio:.3f}× main.py over all of them; {spread}"


if __name__ == "__main__":
    main()
