"""What watching costs: steps/s of a LiveRun (its own worker process) that this process polls and charts
at 2 Hz, against the bare Trainer stepping in this process, same model, same torch threads
(target ≥ 0.97×); and the time to build every chart from a 100k-step in-memory history (target ≤ 150 ms).

    python benchmarks/live_overhead.py [--seconds 20] [--threads 1] [--rounds 4] [--hz 2] [--no-store] [--word]

Both loops run every instrument at its defaults (within the instruments' budget); the bare Trainer's measured
instrument share is printed. `--word`: a 2×200 word LSTM on PTB with its 10k-word vocabulary instead of the app's
default model.

The two loops alternate in `rounds` blocks (the LiveRun is paused while the bare Trainer runs), each
getting `seconds` in all, so a busy machine slows both alike. The LiveRun's steps are counted between
two record arrivals (records reach the page in batches, at most worker.SEND_S apart), so the page's lag
does not bias the rate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from explorer.core.train import Trainer
from explorer.runs.history import History
from explorer.runs.live import LiveRun
from explorer.spec.knobs import Config
from explorer.spec.records import GRAD_HIST_EDGES
from explorer.views.registry import all_charts

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb"

GROUPS = ["embedding", "layer1.input", "layer1.recurrent", "norm", "decoder"]


def bare_block(trainer: Trainer, seconds: float) -> tuple[int, float]:
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.step()
        steps += 1
    return steps, time.perf_counter() - start


def next_arrival(run: LiveRun, after: int, timeout: float = 30.0) -> tuple[int, float]:
    """The first moment the page sees a step beyond `after`: (that step, when)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        step = run.snapshot().last_step
        if step > after:
            return step, time.perf_counter()
        time.sleep(0.002)
    raise RuntimeError(f"the LiveRun made no step in {timeout:.0f} s (status {run.status}, error {run.error})")


def watched_block(run: LiveRun, seconds: float, build_times: list[float], hz: float = 2.0) -> tuple[int, float]:
    """Resume the run, chart it at 2 Hz for `seconds` the way the Streamlit app sends charts (to_dict
    without Altair's schema check; tests validate the specs), pause it; the steps it made and the time."""
    run.resume()
    first, start = next_arrival(run, run.snapshot().last_step)
    while time.perf_counter() - start < seconds:
        tick = time.perf_counter()
        if hz:
            for chart in all_charts(run.snapshot()).values():
                chart.to_dict(validate=False)
            build_times.append(time.perf_counter() - tick)
        period = 1 / hz if hz else seconds
        time.sleep(max(0.0, min(period - (time.perf_counter() - tick), seconds - (time.perf_counter() - start))))
    last, end = next_arrival(run, run.snapshot().last_step)
    run.pause()
    time.sleep(0.3)  # let the pause land before the bare Trainer has the core
    return last - first, end - start


def synthetic_history(steps: int = 100_000) -> History:
    """A long run's worth of records (details every 10 steps, evals every 25, a knob change now and then)."""
    rng, history = random.Random(0), History()
    history.add(
        {"kind": "start", "config": Config().to_dict(), "groups": GROUPS, "grad_hist_edges": GRAD_HIST_EDGES.tolist()}
    )
    knobs = Config().live()
    for step in range(1, steps + 1):
        if step % 20_000 == 0:
            history.add(
                {
                    "kind": "event",
                    "event": "knob",
                    "step": step,
                    "knob": "dropout",
                    "old": knobs["dropout"],
                    "new": round(knobs["dropout"] + 0.1, 1),
                }
            )
            knobs["dropout"] = round(knobs["dropout"] + 0.1, 1)
        loss = 4.0 * (1 - step / (steps * 1.5)) + rng.random() * 0.1
        record = {
            "kind": "step",
            "step": step,
            "epoch": step / 490,
            "train_loss": loss,
            "grad_norm": rng.lognormvariate(0, 0.5),
            "grad_norm_after": 1.0,
            "clipped": False,
            "tokens_per_s": 40_000.0,
            **knobs,
        }
        if step % 10 == 0:
            record.update(
                grad_norms={g: rng.random() for g in GROUPS},
                weight_l2={g: 10.0 for g in GROUPS},
                weight_l1={g: 100.0 for g in GROUPS},
                near_zero={g: 0.01 for g in GROUPS},
                grad_hist=[rng.randrange(1000) for _ in range(len(GRAD_HIST_EDGES) - 1)],
            )
        history.add(record)
        if step % 25 == 0:
            history.add(
                {
                    "kind": "eval",
                    "step": step,
                    "epoch": step / 490,
                    "val_loss": loss + 0.2,
                    "val_ppl": 2.0,
                    "train_eval_loss": loss,
                    "train_eval_ppl": 2.0,
                    "gap": 0.2,
                    "best_val_loss": loss + 0.2,
                    "best_step": step,
                    **knobs,
                }
            )
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each loop, in all")
    parser.add_argument("--rounds", type=int, default=4, help="alternating blocks of each loop")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both loops (the app gives a run 1)")
    parser.add_argument("--hz", type=float, default=2.0, help="redraws per second (0: watch without charting)")
    parser.add_argument("--no-store", action="store_true", help="the LiveRun writes no run store")
    parser.add_argument("--no-history", action="store_true", help="skip the 100k-step history chart timing")
    parser.add_argument("--word", action="store_true", help="2×200 word LSTM on PTB, 10k-word vocabulary")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = Config()  # the app's default: char LSTM 1×128 on Tiny Shakespeare
    if args.word:
        word = dict(corpus=str(PTB), level="word", cell="lstm", layers=2, hidden=200, embed=200, vocab_size=10_000)
        config = config.replace(**word, batch_size=20, seq_len=35, optimizer="sgd", lr=20.0, clip=0.25)
    block = args.seconds / args.rounds

    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as home:
        run = LiveRun(config, torch_threads=args.threads, store=False if args.no_store else f"{home}/runs.sqlite")
        try:
            trainer = Trainer(config, open_ended=True)
            for _ in range(3):
                trainer.step()  # warm-up, outside the timing
            run.start(config)
            next_arrival(run, 3)
            run.pause()
            time.sleep(0.3)
            bare_blocks, live_blocks, build_times = [], [], []
            for _ in range(args.rounds):
                bare_blocks.append(bare_block(trainer, block))
                live_blocks.append(watched_block(run, block, build_times, args.hz))
        finally:
            run.close()
    (bare_steps, bare_time), (live_steps, live_time) = map(sum, zip(*bare_blocks)), map(sum, zip(*live_blocks))
    bare, watched = bare_steps / bare_time, live_steps / live_time
    print(
        f"model: {config.cell} {config.layers}×{config.hidden}, batch {config.batch_size}×{config.seq_len}, "
        f"torch threads {args.threads}, {args.rounds} alternating blocks of {block:.0f} s each"
    )
    print(
        f"bare Trainer (this process)      : {bare:6.1f} steps/s  ({bare_steps:.0f} steps in {bare_time:.1f} s; "
        f"blocks: {', '.join(f'{n / t:.1f}' for n, t in bare_blocks)})"
    )
    charting = (
        f"all charts built+serialised in {statistics.median(build_times) * 1000:.0f} ms median per redraw"
        if build_times
        else "no charting"
    )
    print(
        f"LiveRun worker, charted at {args.hz:g} Hz  : {watched:6.1f} steps/s  ({live_steps:.0f} steps in "
        f"{live_time:.1f} s; "
        f"blocks: {', '.join(f'{n / t:.1f}' for n, t in live_blocks)}; {charting}"
        f"{'; no store' if args.no_store else ''})"
    )
    print(f"ratio LiveRun/bare               : {watched / bare:.3f}  (target ≥ 0.97)")
    cadence = trainer.budget.cadence()
    print(
        f"instruments' measured share (bare Trainer): {cadence['instrument_share']:.1%} of training time; in force: "
        + ", ".join(f"{k.removesuffix('_now')} {v}" for k, v in cadence.items() if k.endswith("_now"))
    )

    if args.no_history:
        return
    snap = synthetic_history().snapshot()
    times = []
    for _ in range(5):
        tick = time.perf_counter()
        for chart in all_charts(snap, [snap]).values():
            chart.to_dict()
        times.append(time.perf_counter() - tick)
    print(
        f"100k-step history ({len(snap.steps)} step records kept): all charts built and serialised in "
        f"{statistics.median(times) * 1000:.0f} ms (median of 5; target ≤ 150 ms)"
    )


if __name__ == "__main__":
    main()
