"""`explorer train | sample | presets | sweep | runs | class`: the headless twin of the app, for scripts,
lessons and tests (and `class`, which starts the app for a whole class).

A user's mistake ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from explorer.classroom.seats import default_max_runs
from explorer.core.checkpoint import (
    RunCheckpoints,
    branch_steps,
    load_branch_point,
    load_checkpoint,
    remove_checkpoints,
    save_checkpoint,
)
from explorer.core.data import MAX_UPLOAD_MIB
from explorer.core.sample import generate
from explorer.core.train import Trainer
from explorer.faces.cli.parser import build_parser
from explorer.runs.history import snapshot_of
from explorer.runs.store import ENDED, HOST, RunStore, recording
from explorer.runs.sweep import SweepError, grid_plan, parse_grid, parse_seeds, pending_trials, run_sweep
from explorer.runs.sweep_summary import summarize, sweeps
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import FIXED_KNOBS, KNOBS, Config, parse_assignment, slower_cell_note
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import format_value, loss_readout, plural
from explorer.views.export import history_csv


def config_from_args(args: argparse.Namespace) -> Config:
    base = preset_config(args.preset) if args.preset else Config()
    given = {name: value for name in KNOBS if (value := getattr(args, name)) is not None}
    return base.replace(**given)


def parse_schedule(pairs: list[list[str]]) -> dict[int, dict]:
    schedule: dict[int, dict] = {}
    for step_text, assignment in pairs:
        try:
            step = int(step_text)
        except ValueError:
            raise ConfigError(f"--at needs a whole step number, got {step_text!r}") from None
        if step < 1:
            raise ConfigError(f"--at step must be ≥ 1, got {step}")
        name, value = parse_assignment(assignment)
        schedule.setdefault(step, {})[name] = value
    return schedule


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into whole lines, for logs."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        if text := text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int, enabled: bool, unit: str = "step") -> tqdm:
    """A bar with an ETA on a terminal; a plain line every 5 s in a log (CI, nohup)."""
    tty = sys.stderr.isatty()
    return tqdm(
        total=total,
        disable=not enabled,
        unit=unit,
        file=sys.stderr if tty else _Lines(sys.stderr),
        mininterval=0.25 if tty else 5.0,
        dynamic_ncols=tty,
        ascii=not tty,
        leave=False,
    )


def default_threads(store: RunStore | None) -> int:
    """Cores shared out between this run and the others training on this machine (the store's running
    runs, or the load average when it is higher), at most 4: five `explorer train` at 2 threads each on
    2 cores trained 7x slower together than at 1 thread each."""
    cores = os.cpu_count() or 1
    others = len(store.runs(status="running", host=HOST)) if store is not None else 0
    busy = max(others, int(os.getloadavg()[0]))
    return max(1, min(4, (cores - busy) if busy < cores else 1))


def describe_end(trainer: Trainer, last_event: dict | None) -> str:
    if trainer.stopped_reason == "diverged" and last_event:
        return f"diverged at step {last_event['step']}: {last_event['cause']} — {last_event['hint']}"
    best = (
        f"best validation loss {trainer.best_val_loss:.3f}{_readout(trainer, trainer.best_val_loss)} "
        f"at step {trainer.best_step}"
        if math.isfinite(trainer.best_val_loss)
        else f"no evaluation (--eval-every {trainer.config.eval_every} is more than the steps)"
    )
    if trainer.stopped_reason == "early_stop":
        return f"early stop at step {trainer.step_count}: {best}, whose weights were restored"
    return f"finished {trainer.step_count} steps; {best}"


def describe_test(trainer: Trainer) -> str:
    """The final model on the test split, held out from every choice made during the run."""
    score = trainer.test_score()
    loss = score["test_loss"]
    return f"test loss {loss:.3f}{_readout(trainer, loss)} on {plural(len(trainer.corpus.test), 'test token')}"


def _readout(trainer: Trainer, loss: float) -> str:
    return f" ({loss_readout(loss, trainer.corpus.level)})" if math.isfinite(loss) else ""


def branch_point(args: argparse.Namespace, store: RunStore | None) -> tuple[Config, dict, dict]:
    """`--branch-from RUN@STEP`: (the branch's config, the checkpoint, the store tags). The setup is the
    parent's; the live knobs given on the command line act from the step after STEP."""
    run_text, sep, step_text = args.branch_from.rpartition("@")
    if not sep or not step_text.isdigit():
        raise ConfigError(f"--branch-from takes RUN@STEP (e.g. 3f2a@300), got {args.branch_from!r}")
    if store is None:
        raise ConfigError("--branch-from reads the run store: drop --no-store")
    if args.preset:
        raise ConfigError("--branch-from starts from the parent's setup: drop --preset")
    parent = store.run(run_text)
    state = load_branch_point(store.path, parent["id"], int(step_text))
    base = Config.from_dict({**state["config"], **state["knobs"]})
    given = {name: value for name in KNOBS if (value := getattr(args, name)) is not None}
    changed = base.replace(**given)
    setup = [n for n in FIXED_KNOBS if n != "steps" and getattr(changed, n) != getattr(base, n)]
    if setup:
        raise ConfigError(f"a branch keeps its parent's setup; only live knobs can change, not {', '.join(setup)}")
    if changed.steps <= state["step"]:
        raise ConfigError(f"--steps must be more than the branch step {state['step']}, got {changed.steps}")
    return changed, state, {"parent_id": parent["id"], "branch_step": state["step"]}


def _branch_name(tags: dict) -> str | None:
    return f"branch of {tags['parent_id']} at step {tags['branch_step']}" if tags else None


def command_train(args: argparse.Namespace) -> int:
    schedule = parse_schedule(args.at)
    store = None if args.no_store else RunStore(args.store)
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be ≥ 1, got {args.threads}")
    state, tags = None, {}
    if args.branch_from:
        config, state, tags = branch_point(args, store)
    else:
        config = config_from_args(args)
    torch.set_num_threads(args.threads or default_threads(store))
    trainer = Trainer(config)
    if state is not None:
        trainer.restore(state)
        trainer.set_knobs(**{k: v for k, v in config.live().items() if v != trainer.knobs[k]})
    note = slower_cell_note(config.cell, config.recurrent_dropout, config.cell_norm)
    if note and not args.quiet:
        sys.stderr.write(note + "\n")
    last_event = None
    if args.metrics_out and args.metrics_out != "-":
        Path(args.metrics_out).parent.mkdir(parents=True, exist_ok=True)
    out = (
        nullcontext(sys.stdout)
        if args.metrics_out == "-"
        else open(args.metrics_out, "w", encoding="utf-8")
        if args.metrics_out
        else nullcontext(None)
    )
    with (
        recording(store, config.to_dict(), "cli", args.name or _branch_name(tags), **tags) as writer,
        out as sink,
        progress_bar(config.steps - trainer.step_count, not args.quiet) as bar,
    ):
        checkpoints = RunCheckpoints(store.path, writer.run_id) if writer is not None else None
        for record in trainer.run(schedule):
            if sink is not None:
                sink.write(json.dumps(record) + "\n")
            if writer is not None:
                writer.add(record)
                if record["kind"] == "step" and checkpoints.due(record["step"]):
                    checkpoints.save(trainer.checkpoint(copy_tensors=False))
            kind = record["kind"]
            if kind == "event" and record["event"] in ("diverged", "early_stop"):
                last_event = record
            elif kind == "step":
                bar.update(1)
            elif kind == "eval":
                bar.set_postfix(val=f"{record['val_loss']:.3f}", best=f"{record['best_val_loss']:.3f}", refresh=False)
    if not args.quiet:
        where = f" (run {writer.run_id} in {store.path})" if writer else ""
        sys.stderr.write(describe_end(trainer, last_event) + where + "\n")
        if trainer.stopped_reason != "diverged":
            sys.stderr.write(describe_test(trainer) + "\n")
    if args.save:
        save_checkpoint(args.save, trainer.model, trainer.corpus.vocab, config, trainer.step_count)
    return 0


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


def command_sample(args: argparse.Namespace) -> int:
    model, vocab, config, _ = load_checkpoint(args.checkpoint, args.device)
    print(generate(model, vocab, config.level, args.prompt, args.length, args.temperature, args.seed))
    return 0


def command_presets(_: argparse.Namespace) -> int:
    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.teaches}")
    return 0


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


def lan_address() -> str:
    """This machine's address on its network, for the students' link (no packet is sent: a UDP socket
    only picks the interface a route would use); the host name when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def command_class(args: argparse.Namespace) -> int:
    """The Streamlit app in class mode, as a child process (Ctrl-C or a SIGTERM ends the class; its runs stay in the
    store, interrupted). The teacher's token is made here, printed once, and handed to the app in its environment."""
    if args.max_runs is not None and args.max_runs < 1:
        raise ConfigError("--max-runs must be at least 1")
    if args.max_students is not None and args.max_students < 1:
        raise ConfigError("--max-students must be at least 1")
    if args.turn is not None and not 1 <= args.turn <= 86_400:
        raise ConfigError("--turn must be between 1 and 86400 seconds")
    name = args.name or time.strftime("class-%Y-%m-%d")
    token = secrets.token_urlsafe(16)
    host = lan_address() if args.address in ("0.0.0.0", "::") else args.address
    base = f"http://{host}:{args.port}/"
    print(f"Class {name}: at most {args.max_runs or default_max_runs()} runs train at once.")
    print(f"  students: {base}")
    print(f"\n  teacher:  {base}?teacher={token}")
    print("  (keep the teacher's link to yourself: whoever opens it can set the lesson)", flush=True)
    env = os.environ | {"EXPLORER_CLASS": name, "EXPLORER_CLASS_TOKEN": token}
    if args.max_runs:
        env["EXPLORER_MAX_RUNS"] = str(args.max_runs)
    if args.turn:
        env["EXPLORER_TURN_S"] = str(args.turn)
    if args.max_students:
        env["EXPLORER_MAX_STUDENTS"] = str(args.max_students)
    app = Path(__file__).resolve().parents[1] / "streamlit" / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address]
    command += ["--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    command += ["--server.maxUploadSize", str(MAX_UPLOAD_MIB)]  # refused by the server before it is held
    command += ["--client.showErrorDetails", "type"]  # a forged value's error shows no server paths to a student
    return serve_until_stopped(command, env)


def serve_until_stopped(command: list[str], env: dict) -> int:
    """Run the server as a child and pass on whatever signal ends this command (SIGTERM from `kill`, a
    service manager or `docker stop`; SIGINT; SIGHUP), so stopping the class stops its server and workers:
    with a plain `subprocess.call`, a SIGTERM to this process alone left the server serving the class,
    orphaned. The workers record their runs as interrupted (explorer.worker)."""
    server = subprocess.Popen(command, env=env)

    def pass_on(signum, frame) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, pass_on)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return server.wait()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "train": command_train,
        "sweep": command_sweep,
        "sample": command_sample,
        "presets": command_presets,
        "runs": command_runs,
        "class": command_class,
    }[args.command]
    try:
        return handler(args)
    except ExplorerError as err:
        sys.stderr.write(f"explorer: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nexplorer: interrupted\n")
        return 130
