"""The `explorer` command: `app`, `class`, `lessons` and `dashboard` give a teacher the app and the lessons from an
installed wheel; `train | sample | presets | sweep | runs` are the headless twin of the app, for scripts, lessons and
tests. Each command lives in its own module; this one dispatches.

A user's mistake ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

from explorer.faces.cli.parser import build_parser
from explorer.spec.errors import ExplorerError

# Each command's module, imported only when it runs: `explorer --version`, `app` and `lessons` start without
# loading torch or Altair (seconds on a school laptop).
COMMANDS = {
    "app": "serve_commands",
    "class": "serve_commands",
    "dashboard": "serve_commands",
    "lessons": "lesson_commands",
    "train": "train_commands",
    "sample": "train_commands",
    "presets": "train_commands",
    "sweep": "sweep_commands",
    "runs": "runs_commands",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"explorer.faces.cli.{COMMANDS[args.command]}")
    handler = getattr(module, f"command_{args.command}")
    try:
        return handler(args)
    except ExplorerError as err:
        sys.stderr.write(f"explorer: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\nexplorer: interrupted\n")
        return 130
