"""`explorer train | sample | presets | sweep | runs | class`: the headless twin of the app, for scripts,
lessons and tests (and `class`, which starts the app for a whole class).

A user's mistake ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

from explorer.faces.cli.parser import build_parser
from explorer.faces.cli.runs_commands import command_runs
from explorer.faces.cli.serve_commands import command_class
from explorer.faces.cli.sweep_commands import command_sweep
from explorer.faces.cli.train_commands import command_presets, command_sample, command_train
from explorer.spec.errors import ExplorerError


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
