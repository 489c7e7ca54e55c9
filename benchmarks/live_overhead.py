"""What watching costs: steps/s of a LiveRun that a front end polls and charts at 2 Hz, against the
bare Trainer in the same process (target ≥ 0.9×), and the time to build every chart from a
100k-step history (target ≤ 150 ms).

    python benchmarks/live_overhead.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from explorer.charts import all_charts
from explorer.config import Config
from explorer.controls import torch_threads_for
from explorer.history import History
from explorer.live import LiveRun
from explorer.metrics import GRAD_HIST_EDGES
from explorer.train import Trainer

GROUPS = ["embedding", "layer1.input", "layer1.recurrent", "norm", "decoder"]


def bare_rate(config: Config, seconds: float) -> float:
    trainer = Trainer(config)
    trainer.step()
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.step()
        steps += 1
    return steps / (time.perf_counter() - start)


def watched_rate(config: Config, seconds: float) -> tuple[float, float]:
    """Steps/s of a LiveRun while this thread snapshots and builds every chart at 2 Hz, serialised the
    way the Streamlit app sends them (to_dict without Altair's schema check; tests validate the specs)."""
    run = LiveRun(config, torch_threads=torch.get_num_threads())
    run.start()
    while run.snapshot().last_step < 1:
        time.sleep(0.01)
    first, start, build_times = run.snapshot().last_step, time.perf_counter(), []
    while time.perf_counter() - start < seconds:
        tick = time.perf_counter()
        for chart in all_charts(run.snapshot()).values():
            chart.to_dict(validate=False)
        build_times.append(time.perf_counter() - tick)
        time.sleep(max(0.0, 0.5 - (time.perf_counter() - tick)))
    steps = run.snapshot().last_step - first
    elapsed = time.perf_counter() - start
    run.stop()
    return steps / elapsed, statistics.median(build_times)


def synthetic_history(steps: int = 100_000) -> History:
    """A long run's worth of records (details every 10 steps, evals every 25, a knob change now and then)."""
    rng, history = random.Random(0), History()
    history.add({"kind": "start", "config": Config().to_dict(), "groups": GROUPS,
                 "grad_hist_edges": GRAD_HIST_EDGES.tolist()})
    knobs = Config().live()
    for step in range(1, steps + 1):
        if step % 20_000 == 0:
            history.add({"kind": "event", "event": "knob", "step": step, "knob": "dropout",
                         "old": knobs["dropout"], "new": round(knobs["dropout"] + 0.1, 1)})
            knobs["dropout"] = round(knobs["dropout"] + 0.1, 1)
        loss = 4.0 * (1 - step / (steps * 1.5)) + rng.random() * 0.1
        record = {"kind": "step", "step": step, "epoch": step / 490, "train_loss": loss,
                  "grad_norm": rng.lognormvariate(0, 0.5), "grad_norm_after": 1.0, "clipped": False,
                  "tokens_per_s": 40_000.0, **knobs}
        if step % 10 == 0:
            record.update(grad_norms={g: rng.random() for g in GROUPS}, weight_l2={g: 10.0 for g in GROUPS},
                          weight_l1={g: 100.0 for g in GROUPS}, near_zero={g: 0.01 for g in GROUPS},
                          grad_hist=[rng.randrange(1000) for _ in range(len(GRAD_HIST_EDGES) - 1)])
        history.add(record)
        if step % 25 == 0:
            history.add({"kind": "eval", "step": step, "epoch": step / 490, "val_loss": loss + 0.2,
                         "val_ppl": 2.0, "train_eval_loss": loss, "train_eval_ppl": 2.0, "gap": 0.2,
                         "best_val_loss": loss + 0.2, "best_step": step, **knobs})
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=torch_threads_for(1),
                        help="torch threads for both loops (default: what the app gives one run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = Config(steps=10**7, eval_every=25, device="cpu")

    bare_before = bare_rate(config, args.seconds / 2)
    watched, per_redraw = watched_rate(config, args.seconds)
    bare_after = bare_rate(config, args.seconds / 2)
    bare = (bare_before + bare_after) / 2
    print(f"model: {config.cell} {config.layers}×{config.hidden}, batch {config.batch_size}×{config.seq_len}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"bare Trainer              : {bare:6.1f} steps/s")
    print(f"LiveRun, charted at 2 Hz  : {watched:6.1f} steps/s  (all charts built in {per_redraw * 1000:.0f} ms "
          f"per redraw)")
    print(f"ratio LiveRun/bare        : {watched / bare:.3f}  (target ≥ 0.9)")

    snap = synthetic_history().snapshot()
    times = []
    for _ in range(5):
        tick = time.perf_counter()
        for chart in all_charts(snap, [snap]).values():
            chart.to_dict()
        times.append(time.perf_counter() - tick)
    print(f"100k-step history ({len(snap.steps)} step records kept): all charts built and serialised in "
          f"{statistics.median(times) * 1000:.0f} ms (median of 5; target ≤ 150 ms)")


if __name__ == "__main__":
    main()
