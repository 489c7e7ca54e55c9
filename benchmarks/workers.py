"""What a worker process per live run costs, on the app's default model (char LSTM 1×128, Tiny Shakespeare):

(a) throughput: 5 LiveRuns (1 torch thread each, store in a temp dir) polled and charted at 1 Hz by this
    process, against 5 independent one-thread processes each running a bare Trainer loop for the same
    wall time: total steps ratio (target ≥ 0.95). The two sides alternate in blocks (the LiveRuns paused,
    the bare processes waiting), so a busy machine slows both alike;
(b) memory: unique memory (USS = Private_Clean + Private_Dirty of /proc/PID/smaps_rollup) of each worker
    after ~50 steps (target ≤ 200 MB per extra run), the forkserver's, and this (page) process's RSS growth;
(c) "Train -> first step": from LiveRun.start() to the first step record in its snapshot, with the warm
    worker ready (target ≤ 2 s), and cold: the first LiveRun of a fresh process, start() at once.

    python benchmarks/workers.py [--runs 5] [--seconds 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import sys, time, torch
torch.set_num_threads(1)
from explorer.spec.knobs import Config
from explorer.core.train import Trainer
trainer = Trainer(Config(), open_ended=True)
trainer.step()
print("ready", flush=True)
for line in sys.stdin:  # one timed block per line: "start_at seconds"
    start_at, seconds = map(float, line.split())
    time.sleep(max(0.0, start_at - time.time()))
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        trainer.step()
        steps += 1
    print(steps, time.perf_counter() - start, flush=True)
"""

COLD = """
import json, sys, tempfile, time
from explorer.runs.live import LiveRun
with tempfile.TemporaryDirectory() as home:
    t0 = time.perf_counter()
    run = LiveRun(store=home + "/runs.sqlite")
    run.start()
    t1 = time.perf_counter()
    while run.snapshot().last_step < 1:
        time.sleep(0.002)
    t2 = time.perf_counter()
    run.close()
print(json.dumps({"start_returned": t1 - t0, "first_step": t2 - t0}))
"""


def memory_kb(pid: int) -> dict[str, int]:
    """Rss, Pss, Private_Clean + Private_Dirty (USS) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class BareProcesses:
    """n one-thread processes, each a bare Trainer loop, timed together in blocks of the same wall time."""

    def __init__(self, n: int):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", BARE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=ROOT,
            )
            for _ in range(n)
        ]
        for proc in self.procs:
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a bare trainer process failed to start")

    def block(self, seconds: float) -> tuple[int, float]:
        """All of them train for `seconds` from the same moment: (total steps, the block's length)."""
        start_at = time.time() + 0.2
        for proc in self.procs:
            proc.stdin.write(f"{start_at} {seconds}\n")
            proc.stdin.flush()
        results = [proc.stdout.readline().split() for proc in self.procs]
        return sum(int(r[0]) for r in results), max(float(r[1]) for r in results)

    def close(self) -> None:
        for proc in self.procs:
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(30)


def wait_steps(runs, at_least: int, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while any(run.snapshot().last_step < at_least for run in runs):
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"runs did not reach step {at_least}: {[run.status for run in runs]} {[run.error for run in runs]}"
            )
        time.sleep(0.02)


def cold_latency() -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", COLD], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating blocks of each side")
    parser.add_argument("--repeats", type=int, default=3, help="warm Train->first step measurements")
    args = parser.parse_args()

    # (c) cold first: a fresh process, nothing else running
    cold = cold_latency()

    import torch  # noqa: E402 - after the cold run, as a page would have it

    torch.set_num_threads(1)
    from explorer.runs.live import LiveRun
    from explorer.views.registry import all_charts

    rss_page_before = memory_kb(os.getpid())["rss"]
    with tempfile.TemporaryDirectory(prefix="explorer-bench-") as home:
        store = f"{home}/runs.sqlite"

        # (c) warm: the LiveRun's warm worker (and the forkserver) ready before Train
        warm = []
        probe = LiveRun(store=store)
        try:
            for _ in range(args.repeats):
                time.sleep(3.0)
                t0 = time.perf_counter()
                probe.start()
                while probe.snapshot().last_step < 1:
                    time.sleep(0.002)
                warm.append(time.perf_counter() - t0)
                probe.stop()
        finally:
            probe.close()

        # (b) + (a): n LiveRuns against n bare processes, in alternating blocks (the other side idle)
        bare = BareProcesses(args.runs)
        runs = [LiveRun(torch_threads=1, store=store) for _ in range(args.runs)]
        try:
            time.sleep(3.0)  # warm workers ready
            for run in runs:
                run.start()
            wait_steps(runs, 50)
            worker_mem = [memory_kb(run.pid) for run in runs]
            server_pids = [
                pid
                for pid in children(os.getpid())
                if "forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            ]
            server_mem = [memory_kb(pid) for pid in server_pids]
            rss_page_running = memory_kb(os.getpid())["rss"]
            for run in runs:
                run.pause()

            block = args.seconds / args.rounds
            bare_blocks, live_blocks, build_times = [], [], []
            for _ in range(args.rounds):
                time.sleep(0.3)  # the pauses land
                bare_blocks.append(bare.block(block))
                for run in runs:
                    run.resume()
                time.sleep(0.3)  # every worker stepping again
                first = sum(run.snapshot().last_step for run in runs)
                start = time.perf_counter()
                while time.perf_counter() - start < block:
                    tick = time.perf_counter()
                    for run in runs:
                        for chart in all_charts(run.snapshot()).values():
                            chart.to_dict(validate=False)
                    build_times.append(time.perf_counter() - tick)
                    time.sleep(max(0.0, min(1.0 - (time.perf_counter() - tick), block - (time.perf_counter() - start))))
                live_blocks.append((sum(run.snapshot().last_step for run in runs) - first, time.perf_counter() - start))
                for run in runs:
                    run.pause()
            worker_mem_end = [memory_kb(run.pid) for run in runs]
            rss_page_end = memory_kb(os.getpid())["rss"]
        finally:
            for run in runs:
                run.close()
            bare.close()

    bare_steps, bare_s = map(sum, zip(*bare_blocks))
    live_steps, live_s = map(sum, zip(*live_blocks))
    print(
        f"model: default Config() (char LSTM 1×128, Tiny Shakespeare), {args.runs} runs, 1 torch thread each, "
        f"{os.cpu_count()} cores, {args.rounds} alternating blocks of {block:.0f} s each"
    )
    print(
        f"(a) {args.runs} bare one-thread processes : {bare_steps:6d} steps in {bare_s:.1f} s "
        f"({bare_steps / bare_s:.1f} steps/s together; blocks: "
        + ", ".join(f"{n / t:.1f}" for n, t in bare_blocks)
        + ")"
    )
    print(
        f"    {args.runs} LiveRuns charted at 1 Hz   : {live_steps:6d} steps in {live_s:.1f} s "
        f"({live_steps / live_s:.1f} steps/s together; blocks: "
        + ", ".join(f"{n / t:.1f}" for n, t in live_blocks)
        + f"; charting all {args.runs} took {statistics.median(build_times) * 1000:.0f} ms median per second)"
    )
    print(f"    ratio LiveRuns/bare processes : {(live_steps / live_s) / (bare_steps / bare_s):.3f}  (target ≥ 0.95)")
    mb = lambda kb: kb / 1024  # noqa: E731
    print(
        "(b) worker USS after ~50 steps    : "
        + ", ".join(f"{mb(m['uss']):.0f}" for m in worker_mem)
        + f" MB (max {mb(max(m['uss'] for m in worker_mem)):.0f} MB; target ≤ 200 MB per extra run); "
        f"RSS {mb(statistics.mean(m['rss'] for m in worker_mem)):.0f} MB, "
        f"PSS {mb(statistics.mean(m['pss'] for m in worker_mem)):.0f} MB mean"
    )
    print(
        f"    worker USS at the end (~{int(statistics.mean(run.snapshot().last_step for run in runs))} steps)"
        f": " + ", ".join(f"{mb(m['uss']):.0f}" for m in worker_mem_end) + " MB"
    )
    for m in server_mem:
        print(f"    forkserver (paid once)        : USS {mb(m['uss']):.0f} MB, RSS {mb(m['rss']):.0f} MB")
    print(
        f"    page process RSS              : {mb(rss_page_before):.0f} MB before, "
        f"+{mb(rss_page_running - rss_page_before):.0f} MB with {args.runs} runs at ~50 steps, "
        f"+{mb(rss_page_end - rss_page_before):.0f} MB after {args.seconds:.0f} s of charting"
    )
    print(
        f"(c) Train -> first step, warm     : {statistics.median(warm):.2f} s median of {len(warm)} "
        f"({', '.join(f'{t:.2f}' for t in warm)}; target ≤ 2 s)"
    )
    print(
        f"    cold (fresh process)          : {cold['first_step']:.2f} s from LiveRun() to first step "
        f"(start() returned after {cold['start_returned']:.2f} s)"
    )


if __name__ == "__main__":
    main()
