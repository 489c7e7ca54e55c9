"""`explorer train`, `sample` and `presets`: the headless twin of the app, for scripts, lessons and tests."""

from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from explorer.core.checkpoint import load_branch_point, load_checkpoint, save_checkpoint
from explorer.core.sample import generate
from explorer.core.train import Trainer
from explorer.runs.cpu import CoreShare
from explorer.runs.recording import recording
from explorer.runs.store import RunStore
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import FIXED_KNOBS, KNOBS, Config, parse_assignment, slower_cell_note
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import instruments_line, loss_readout, plural


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
        CoreShare(fixed=args.threads) as cores,  # its share of the cores, re-read between steps (explorer.runs.cpu)
        recording(store, config.to_dict(), "cli", args.name or _branch_name(tags), trainer, **tags) as writer,
        out as sink,
        progress_bar(config.steps - trainer.step_count, not args.quiet) as bar,
    ):
        for record in trainer.run(schedule, between_steps=cores.between_steps):
            if sink is not None:
                sink.write(json.dumps(record) + "\n")
            if writer is not None:
                writer.add(record)
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
        sys.stderr.write(f"instruments: {instruments_line(trainer.budget.cadence())}\n")  # spaced by their budget
        if trainer.stopped_reason != "diverged":
            sys.stderr.write(describe_test(trainer) + "\n")
    if args.save:
        save_checkpoint(args.save, trainer.model, trainer.corpus.vocab, config, trainer.step_count)
    return 0


def command_sample(args: argparse.Namespace) -> int:
    model, vocab, config, _ = load_checkpoint(args.checkpoint, args.device)
    print(generate(model, vocab, config.level, args.prompt, args.length, args.temperature, args.seed))
    return 0


def command_presets(_: argparse.Namespace) -> int:
    width = max(map(len, PRESETS))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.teaches}")
    return 0
