"""`explorer runs`: the run store as a person reads it (a table, one run's details) or a script does (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from explorer.core.checkpoint import branch_steps, remove_checkpoints
from explorer.runs.history import snapshot_of
from explorer.runs.store import ENDED, RunStore
from explorer.spec.knobs import Config
from explorer.spec.wording import format_value, plural
from explorer.views.export import history_csv

RUN_COLUMNS = (("id", 10), ("name", 22), ("status", 11), ("steps", 7), ("best val", 8), ("created", 16), ("source", 6))


def runs_table(runs: list[dict]) -> str:
    """The store as a table a person reads: newest first, one run a line."""

    def cells(run):
        best = run["best_val_loss"]
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created"]))
        return (
            run["id"],
            run["name"][:22],
            run["status"],
            f"{run['steps']:,}",
            "–" if best is None else f"{best:.3f}",
            created,
            run["source"],
        )

    lines = ["  ".join(f"{title:<{width}}" for title, width in RUN_COLUMNS)]
    lines += ["  ".join(f"{cell:<{width}}" for cell, (_, width) in zip(cells(run), RUN_COLUMNS)) for run in runs]
    return "\n".join(line.rstrip() for line in lines)


def run_details(run: dict) -> str:
    fields = [
        "id",
        "name",
        "status",
        "message",
        "source",
        "owner",
        "steps",
        "best_val_loss",
        "best_step",
        "last_val_loss",
        "final_gap",
        "parent_id",
        "branch_step",
        "sweep",
        "class_name",
        "host",
        "pid",
    ]
    lines = [f"{field:<14} {run[field]}" for field in fields if run.get(field) is not None]
    lines.insert(3, f"{'created':<14} {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run['created']))}")
    steps = run.get("branch_steps")
    lines.append(f"{'branch from':<14} " + (f"steps {', '.join(map(str, steps))}" if steps else "no checkpoints kept"))
    changed = {k: v for k, v in run["config"].items() if v != getattr(Config(), k, v)}
    lines.append("config         " + (", ".join(f"{k}={format_value(v)}" for k, v in changed.items()) or "defaults"))
    return "\n".join(lines)


def command_runs(args: argparse.Namespace) -> int:
    store = RunStore(args.store)
    action = args.runs_command
    if action is None:
        runs = store.runs(limit=args.limit or None)
        if args.json:
            print(json.dumps(runs, indent=1))
        else:
            print(runs_table(runs) if runs else f"no runs yet in {store.path}")
    elif action == "show":
        run = store.run(args.id)
        run["branch_steps"] = branch_steps(store.path, run["id"])
        print(json.dumps(run, indent=1) if args.json else run_details(run))
    elif action == "export":
        run = store.run(args.id)
        records = list(store.records(run["id"]))
        text = (
            history_csv(snapshot_of(records, run["name"]))
            if args.format == "csv"
            else "".join(json.dumps(record) + "\n" for record in records)
        )
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    elif action == "rm":
        ids = [store.run(run_id)["id"] for run_id in args.ids]  # every id checked before anything goes
        remove_checkpoints(store.path, ids)
        print(f"removed {plural(store.remove(ids), 'run')}")
    elif action == "prune":
        statuses = ENDED if args.all else tuple(s for s in ENDED if s not in ("finished", "early_stop"))
        removed = store.prune(statuses, older_than_s=args.older_than * 86400)
        remove_checkpoints(store.path, removed)
        print(f"removed {plural(len(removed), 'run')}")
    return 0
