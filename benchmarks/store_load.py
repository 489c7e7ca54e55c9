"""Opening a long run from the store: a synthetic 100k-step run (records of realistic size, taken from a
short real run of the app's default model and replicated with renumbered steps: details every 10 steps,
evaluations every 25, a knob change now and then) is written to a temp store, then
`RunStore.load_snapshot` (thinned in SQL) is timed, and every chart built from the snapshot
(`views.all_charts`, and serialised as the app sends it). Target: load + downsample ≤ 150 ms.

    python benchmarks/store_load.py [--steps 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import tempfile
import time

import torch

from explorer.core.train import Trainer
from explorer.runs.store import RunStore
from explorer.spec.knobs import Config
from explorer.views.registry import all_charts


def real_records(steps: int = 30) -> list[dict]:
    """A short real run of the default model: start, step, detail-step and eval records."""
    config = Config().replace(steps=steps, detail_every=10, eval_every=25)
    return list(Trainer(config).run())


def synthetic_run(real: list[dict], steps: int) -> list[dict]:
    start = next(r for r in real if r["kind"] == "start")
    plain = [r for r in real if r["kind"] == "step" and "grad_hist" not in r]
    detail = [r for r in real if r["kind"] == "step" and "grad_hist" in r]
    evals = [r for r in real if r["kind"] == "eval"]
    rng, out = random.Random(0), [start]
    dropout = start["config"]["dropout"]
    for step in range(1, steps + 1):
        if step % 20_000 == 0:
            out.append(
                {
                    "kind": "event",
                    "event": "knob",
                    "step": step,
                    "knob": "dropout",
                    "old": dropout,
                    "new": round(dropout + 0.1, 1),
                }
            )
            dropout = round(dropout + 0.1, 1)
        trend = 1.2 + 3.0 * math.exp(-step / 5000)
        pool = detail if step % 10 == 0 else plain
        record = copy.copy(pool[step % len(pool)])  # shallow: nested detail dicts are shared, as JSON they are not
        record.update(
            step=step,
            epoch=round(step / start["batches_per_epoch"], 4),
            dropout=dropout,
            train_loss=trend + rng.random() * 0.1,
        )
        out.append(record)
        if step % 25 == 0:
            ev = copy.copy(evals[0])
            ev.update(
                step=step,
                epoch=record["epoch"],
                dropout=dropout,
                val_loss=trend + 0.2,
                val_ppl=math.exp(trend + 0.2),
                train_eval_loss=trend,
                train_eval_ppl=math.exp(trend),
                gap=0.2,
                best_val_loss=trend + 0.2,
                best_step=step,
            )
            out.append(ev)
    out.append({"kind": "event", "event": "finished", "step": steps})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    records = synthetic_run(real_records(), args.steps)
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as home:
        store = RunStore(f"{home}/runs.sqlite")
        run_id = store.create_run(Config().to_dict(), "bench", name="100k")
        tick = time.perf_counter()
        for first in range(0, len(records), 5000):
            store.append(run_id, records[first : first + 5000], first)
        write_s = time.perf_counter() - tick

        loads, builds, serialised = [], [], []
        for _ in range(args.repeats):
            tick = time.perf_counter()
            snap = store.load_snapshot(run_id)
            loads.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            charts = all_charts(snap, [])
            builds.append(time.perf_counter() - tick)
            tick = time.perf_counter()
            for chart in charts.values():
                chart.to_dict(validate=False)
            serialised.append(time.perf_counter() - tick)
        store.close()

    print(
        f"synthetic run: {args.steps} steps, {len(records)} records written in {write_s:.1f} s; snapshot keeps "
        f"{len(snap.steps)} steps, {len(snap.details)} details, {len(snap.evals)} evals, {len(snap.events)} events"
    )
    print(
        f"RunStore.load_snapshot (load + downsample) : {min(loads) * 1000:6.0f} ms best of {args.repeats} "
        f"(target ≤ 150 ms)"
    )
    print(f"charts.all_charts (build every chart)      : {min(builds) * 1000:6.0f} ms best of {args.repeats}")
    print(f"  + to_dict(validate=False) of every chart : {min(serialised) * 1000:6.0f} ms best of {args.repeats}")
    print(
        f"load + build + serialise                   : "
        f"{min(a + b + c for a, b, c in zip(loads, builds, serialised)) * 1000:6.0f} ms best of {args.repeats}"
    )


if __name__ == "__main__":
    main()
