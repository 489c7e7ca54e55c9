"""The `explorer` command: `app`, `class`, `lessons` and `dashboard` give a teacher the app and the lessons from an
installed wheel; `train | sample | presets | sweep | runs` are the headless twin of the app, for scripts, lessons and
tests. Each command lives in its own module; this one dispatches.

A user's mistake ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from explorer.faces.cli.lesson_commands import command_lessons
from explorer.faces.cli.parser import build_parser
from explorer.faces.cli.runs_commands import command_runs
from explorer.faces.cli.serve_commands import command_app, command_class, command_dashboard
from explorer.faces.cli.sweep_commands import command_sweep
from explorer.faces.cli.train_commands import command_presets, command_sample, command_train
from explorer.spec.errors import ExplorerError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {
        "app": command_app,
        "class": command_class,
        "lessons": command_lessons,
        "dashboard": command_dashboard,
        "train": command_train,
        "sweep": command_sweep,
        "sample": command_sample,
        "presets": command_presets,
        "runs": command_runs,
    }[args.command]
    try:
        return handler(args)
    except ExplorerError as err:
        sys.stderr.write(f"explorer: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nexplorer: interrupted\n")
        return 130
