"""The `explorer` command line, declared once: the commands run it (main.py) and the CLI reference in docs/ is
generated from it, so the two cannot drift."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from explorer.classroom.seats import MAX_SEATS, TURN_S
from explorer.runs.cpu import RUN_MB
from explorer.runs.sweep_plan import MAX_TRIALS
from explorer.spec.knobs import KNOBS, Config
from explorer.spec.wording import format_value


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line naming the problem (exit code 2, as argparse's own)."""

    def error(self, message: str):
        self.exit(2, f"explorer: error: {message} (see `{self.prog} --help`)\n")


def _knob_help(name: str) -> str:
    knob, default = KNOBS[name], getattr(Config(), name)
    choices = f" ({'|'.join(knob.choices)})" if knob.choices else ""
    return f"{knob.help}{choices}; default {format_value(default)}"


def _add_store_option(parser: argparse.ArgumentParser, default=None) -> None:
    """`default=argparse.SUPPRESS` on a sub-command: `explorer runs --store X show ID` keeps the X given
    before it (argparse would overwrite it with the sub-command's own default)."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        default=default,
        help="the run store (default: $EXPLORER_HOME/runs.sqlite, EXPLORER_HOME defaulting to ~/.explorer)",
    )


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """Every knob as a flag, --preset and --at: the run's configuration (train) or a sweep's base."""
    for name, knob in KNOBS.items():  # every knob is a flag; values are parsed and checked by Config
        flag = "--" + name.replace("_", "-")
        if knob.kind is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=_knob_help(name)
            )
        else:
            metavar = "PATIENCE" if name == "early_stop" else name.upper()
            parser.add_argument(
                flag,
                dest=name,
                default=None,
                metavar=metavar,
                help=_knob_help(name),
                choices=(*knob.choices, *knob.aliases) or None,  # an old name still works (Config renames it)
            )
    parser.add_argument("--preset", help="start from a preset (see `explorer presets`); other flags override it")
    parser.add_argument(
        "--at",
        nargs=2,
        action="append",
        default=[],
        metavar=("STEP", "KNOB=VALUE"),
        help="change a live knob from STEP on, in the same run (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: each command's options are declared by its own function below."""
    parser = Parser(prog="explorer", description="Train small RNN language models and watch regularisation work.")
    parser.add_argument("--version", action="version", version=f"explorer {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_app(commands)
    _add_class(commands)
    _add_lessons(commands)
    _add_dashboard(commands)
    _add_train(commands)
    _add_sample(commands)
    commands.add_parser("presets", help="list the presets, one lesson each")
    _add_sweep(commands)
    _add_runs(commands)
    return parser


def _version() -> str:
    try:
        return version("explorer")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _add_server_options(parser: argparse.ArgumentParser, default_port: int, default_address: str) -> None:
    parser.add_argument(
        "--port", type=int, metavar="N", help=f"the port to serve on (default: {default_port}, or the next free one)"
    )
    parser.add_argument("--address", help=f"where to listen (default: {default_address})")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser (on a server, over ssh)")


def _add_ray_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="train every live run in an actor on a Ray cluster, one CPU each (a share of a GPU where one is free): "
        "auto (the cluster this machine has joined) or HOST:PORT of its head; needs explorer[cluster]",
    )


def _add_app(commands) -> None:
    app = commands.add_parser("app", help="start the app: train live and move the knobs while it trains")
    _add_server_options(app, 8501, "every network interface")
    _add_ray_option(app)


def _add_lessons(commands) -> None:
    lessons = commands.add_parser(
        "lessons",
        help="write the lesson notebooks and the dashboard to a folder, for Jupyter or Voilà",
        description="Run it again after an upgrade: notebooks it wrote and nobody edited are updated, edited ones "
        "are kept.",
    )
    lessons.add_argument(
        "dir", nargs="?", default="explorer-lessons", metavar="DIR", help="where (default: ./explorer-lessons)"
    )
    lessons.add_argument("--force", action="store_true", help="also replace notebooks edited since they were written")


def _add_dashboard(commands) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="serve the live dashboard notebook with Voilà (needs explorer[notebooks])"
    )
    _add_server_options(dashboard, 8866, "this computer only")


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train",
        help="train headless; every run goes to the run store",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_config_options(train)
    train.add_argument(
        "--metrics-out", metavar="FILE.jsonl", help="also write every record as JSON Lines ('-' = stdout)"
    )
    train.add_argument("--save", metavar="CKPT", help="save the final model (the best one after early stopping)")
    train.add_argument("--name", help="a name for the run in the store")
    train.add_argument(
        "--branch-from",
        metavar="RUN@STEP",
        help="go on from a stored run's checkpoint at STEP (see `explorer runs show RUN`), with the live knobs "
        "given here; same weights, optimiser state and data position",
    )
    _add_store_option(train)
    train.add_argument("--no-store", action="store_true", help="do not write the run to the store")
    train.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads, fixed (default: this run's share of the cores among explorer's runs training on "
        "this machine, at most 4, adjusted while it trains as others start and end)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _add_sample(commands) -> None:
    sample = commands.add_parser("sample", help="generate text from a saved checkpoint")
    sample.add_argument("--checkpoint", required=True)
    sample.add_argument("--prompt", default="")
    sample.add_argument("--length", type=int, default=300)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="cpu")


def _add_sweep(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="train a grid of knob values × seeds in parallel; every trial a run in the store",
        description="Every `explorer train` option sets the base configuration the grid varies. Running the "
        "same command again resumes: finished trials are skipped.",
    )
    _add_config_options(sweep)
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KNOB=V1,V2",
        help="values of one knob, live or setup (repeatable: the grid is every combination)",
    )
    sweep.add_argument("--seeds", default="3", help="a count from --seed (5) or a list (0,3,7); default 3")
    sweep.add_argument("--name", help="the sweep's name in the store (default: made from the preset and grid)")
    sweep.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    sweep.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the trials on Ray: auto (the running cluster), HOST:PORT, or local (start one here)",
    )
    sweep.add_argument(
        "--max-trials", type=int, default=MAX_TRIALS, help=f"refuse bigger sweeps (default {MAX_TRIALS})"
    )
    sweep.add_argument("--json", action="store_true", help="print the summary as JSON when done")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    sweep_actions = sweep.add_subparsers(dest="sweep_command", parser_class=Parser)
    sweep_show = sweep_actions.add_parser("show", help="a sweep's summary: per-arm intervals, paired comparisons")
    sweep_show.add_argument("sweep_name", metavar="NAME")
    sweep_show.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="an object with name, trials, arms, comparisons"
    )
    sweep_list = sweep_actions.add_parser("list", help="the sweeps in the store")
    sweep_rm = sweep_actions.add_parser("rm", help="remove a sweep's runs")
    sweep_rm.add_argument("sweep_name", metavar="NAME")
    _add_store_option(sweep)
    for sub in (sweep_show, sweep_list, sweep_rm):
        _add_store_option(sub, argparse.SUPPRESS)


def _add_class(commands) -> None:
    klass = commands.add_parser(
        "class",
        help="start the app for a class: prints the students' link and the teacher's (with a secret token)",
    )
    klass.add_argument("--name", help="the class's name (default: class-YYYY-MM-DD); its runs are tagged with it")
    klass.add_argument(
        "--max-runs",
        type=int,
        metavar="N",
        help="runs training at once, sharing the cores; more wait in a queue (default: what the memory available "
        f"holds, about {RUN_MB} MB a run; with --ray, the cluster's CPUs)",
    )
    klass.add_argument(
        "--max-students",
        type=int,
        metavar="N",
        help=f"seats in the class; beyond it a seat whose pages have all gone is freed (default {MAX_SEATS})",
    )
    klass.add_argument(
        "--turn",
        type=float,
        metavar="SECONDS",
        help=f"while students wait, a run that has trained this long yields its slot (default {TURN_S:g})",
    )
    klass.add_argument("--address", default="0.0.0.0", help="where to listen (default: every network interface)")
    klass.add_argument("--port", type=int, default=8501)
    _add_ray_option(klass)


def _add_runs(commands) -> None:
    runs = commands.add_parser("runs", help="list the runs in the store (CLI, app, notebooks alike)")
    _add_store_option(runs)
    runs.add_argument("--json", action="store_true", help="a JSON list, for scripts")
    runs.add_argument("--limit", type=int, default=50, help="newest N runs (0 = all; default 50)")
    actions = runs.add_subparsers(dest="runs_command", parser_class=Parser)
    show = actions.add_parser("show", help="one run: its summary and configuration")
    show.add_argument("id", help="a run id (a unique prefix is enough)")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    export = actions.add_parser("export", help="every record of a run, as CSV or JSON Lines")
    export.add_argument("id")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    remove = actions.add_parser("rm", help="remove runs and their records")
    remove.add_argument("ids", nargs="+", metavar="ID")
    prune = actions.add_parser(
        "prune", help="remove ended runs that did not finish (interrupted, stopped, error, diverged)"
    )
    prune.add_argument("--older-than", type=float, default=0.0, metavar="DAYS", help="only runs older than this")
    prune.add_argument("--all", action="store_true", help="also finished and early-stopped runs")
    for sub in (show, export, remove, prune):
        _add_store_option(sub, argparse.SUPPRESS)
