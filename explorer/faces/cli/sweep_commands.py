"""`explorer sweep`: a grid of knob values × seeds trained in parallel, and the sweeps in the store."""

from __future__ import annotations

import argparse
import json
import sys

from explorer.core.checkpoint import remove_checkpoints
from explorer.faces.cli.train_commands import config_from_args, parse_schedule, progress_bar
from explorer.runs.store import RunStore
from explorer.runs.sweep import pending_trials, run_sweep
from explorer.runs.sweep_plan import SweepError, grid_plan, parse_grid, parse_seeds
from explorer.runs.sweep_summary import summarize, sweeps
from explorer.spec.wording import plural


def command_sweep(args: argparse.Namespace) -> int:
    store = RunStore(args.store)
    action = args.sweep_command
    if action == "show":
        summary = summarize(store, args.sweep_name)
        if not summary.trials:
            raise SweepError(f"no sweep {args.sweep_name!r} in {store.path} (see `explorer sweep list`)")
        print(json.dumps(summary.to_json(), indent=1) if args.json else summary.table())
        return 0
    if action == "list":
        found = sweeps(store)
        for entry in found:
            print(f"{entry['name']}  {entry['finished']}/{plural(entry['trials'], 'trial')} finished")
        if not found:
            print(f"no sweeps yet in {store.path}")
        return 0
    if action == "rm":
        ids = [run["id"] for run in store.runs(sweep=args.sweep_name)]
        if not ids:
            raise SweepError(f"no sweep {args.sweep_name!r} in {store.path}")
        remove_checkpoints(store.path, ids)
        print(f"removed {plural(store.remove(ids), 'run')}")
        return 0
    base = config_from_args(args)
    grid = parse_grid(args.grid)
    if not grid:
        raise SweepError("give at least one --grid KNOB=V1,V2 (e.g. --grid dropout=0,0.5)")
    name = args.name or "-".join([args.preset or "sweep", *grid])
    schedule = parse_schedule(args.at)
    plan = grid_plan(name, base, grid, parse_seeds(args.seeds, base.seed), schedule).check(args.max_trials)
    todo, skipped = pending_trials(plan, store)
    if skipped and not args.quiet:
        sys.stderr.write(f"sweep {name!r}: {skipped} of {plural(len(plan.trials), 'trial')} already done\n")
    bar = None

    def show(progress) -> None:  # the bar appears once the trials start (a bad Ray address fails first)
        nonlocal bar
        if bar is None:
            bar = progress_bar(len(todo), not args.quiet and bool(todo), unit="trial")
        bar.n = progress.done + progress.failed
        bar.set_postfix(running=progress.running, left=progress.left, failed=progress.failed)

    try:
        final = run_sweep(plan, store, args.workers, args.ray, show, max_trials=args.max_trials)
    finally:
        if bar is not None:
            bar.close()
    summary = summarize(store, name)
    print(json.dumps(summary.to_json(), indent=1) if args.json else summary.table())
    return 1 if final.failed else 0
