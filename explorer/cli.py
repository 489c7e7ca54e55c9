"""`explorer train | sample | presets`: the headless twin of the app, for scripts, lessons and tests.

A user's mistake ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from .checkpoint import load_checkpoint, save_checkpoint
from .config import KNOBS, Config, ConfigError, ExplorerError, parse_assignment
from .presets import PRESETS, preset_config
from .sample import generate
from .train import Trainer

class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line naming the problem (exit code 2, as argparse's own)."""

    def error(self, message: str):
        self.exit(2, f"explorer: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="explorer", description="Train small RNN language models and watch regularisation work.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train headless, write metrics as JSON Lines")
    for name, knob in KNOBS.items():  # every knob is a flag; values are parsed and checked by Config
        flag = "--" + name.replace("_", "-")
        if knob.kind is bool:
            train.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=knob.help)
        else:
            metavar = "PATIENCE" if name == "early_stop" else name.upper()
            train.add_argument(flag, dest=name, default=None, metavar=metavar, help=knob.help,
                               choices=knob.choices or None)
    train.add_argument("--preset", help="start from a preset (see `explorer presets`); other flags override it")
    train.add_argument("--at", nargs=2, action="append", default=[], metavar=("STEP", "KNOB=VALUE"),
                       help="change a live knob from STEP on, in the same run (repeatable)")
    train.add_argument("--metrics-out", metavar="FILE.jsonl", help="write every record as JSON Lines ('-' = stdout)")
    train.add_argument("--save", metavar="CKPT", help="save the final model (the best one after early stopping)")
    train.add_argument("--quiet", action="store_true", help="no progress line on stderr")

    sample = commands.add_parser("sample", help="generate text from a saved checkpoint")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--prompt", default="")
    sample.add_argument("--length", type=int, default=300)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="cpu")

    commands.add_parser("presets", help="list the presets, one lesson each")
    return parser


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


class Progress:
    """Step, losses and tokens/s on stderr: one rewritten line on a terminal, a line every few seconds
    in a log. Throttled so it never slows training."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.tty = sys.stderr.isatty()
        self.every_s = 0.25 if self.tty else 5.0
        self.last = time.monotonic()
        self.val = self.best = None
        self.best_step = 0

    def update(self, record: dict) -> None:
        if record["kind"] == "eval":
            self.val, self.best, self.best_step = record["val_loss"], record["best_val_loss"], record["best_step"]
        now = time.monotonic()
        if not self.enabled or record["kind"] != "step" or now - self.last < self.every_s:
            return
        self.last = now
        val = "–" if self.val is None else f"{self.val:.3f} (best {self.best:.3f} @ {self.best_step})"
        line = (f"step {record['step']}/{self.total} | train {record['train_loss']:.3f} | val {val} | "
                f"{record['tokens_per_s'] / 1000:.1f}k tok/s")
        sys.stderr.write(f"\r\033[K{line}" if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(("\r\033[K" if self.tty else "") + message + "\n")


def describe_end(trainer: Trainer, last_event: dict | None) -> str:
    if trainer.stopped_reason == "diverged" and last_event:
        return f"diverged at step {last_event['step']}: {last_event['cause']} — {last_event['hint']}"
    if trainer.stopped_reason == "early_stop":
        return (f"early stop at step {trainer.step_count}: best validation loss {trainer.best_val_loss:.3f} "
                f"at step {trainer.best_step}, whose weights were restored")
    return f"finished {trainer.step_count} steps; best validation loss {trainer.best_val_loss:.3f} at step {trainer.best_step}"


def command_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    schedule = parse_schedule(args.at)
    trainer = Trainer(config)
    progress = Progress(config.steps, not args.quiet)
    last_event = None
    if args.metrics_out and args.metrics_out != "-":
        Path(args.metrics_out).parent.mkdir(parents=True, exist_ok=True)
    out = (nullcontext(sys.stdout) if args.metrics_out == "-" else
           open(args.metrics_out, "w", encoding="utf-8") if args.metrics_out else nullcontext(None))
    with out as sink:
        for record in trainer.run(schedule):
            if sink is not None:
                sink.write(json.dumps(record) + "\n")
            if record["kind"] == "event" and record["event"] in ("diverged", "early_stop"):
                last_event = record
            progress.update(record)
    progress.close(describe_end(trainer, last_event))
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"train": command_train, "sample": command_sample, "presets": command_presets}[args.command]
    try:
        return handler(args)
    except ExplorerError as err:
        sys.stderr.write(f"explorer: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nexplorer: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
