"""MkDocs hook: the knob reference, the CLI reference and the house's floors, written from the code at build time.

A page holds a marker (`<!-- knob-reference -->`, `<!-- cli-reference -->`, `<!-- layer-imports -->`) and the
hook replaces it, so a new knob, flag or import shows up in the docs without anyone editing them, and a page
that lost its marker fails the build instead of going quietly stale.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import html
from collections import defaultdict
from pathlib import Path

import tomllib
from mkdocs.exceptions import PluginError

from explorer.faces.cli.parser import build_parser
from explorer.spec.knobs import KNOBS, QUERY_NAMES, Config
from explorer.spec.wording import format_value

PACKAGE = Path(__file__).resolve().parents[2] / "explorer"
# Knob fields the knob table writes in its own columns (the default comes from Config()); any other field (a
# group, a widget…) gets a column of its own, so a field added to Knob shows up without editing this hook.
SHOWN_FIELDS = {"name", "kind", "live", "help", "default", "lo", "hi", "lo_open", "hi_open", "choices", "aliases"}


# Which page must hold which marker: a page that lost one fails the build instead of going quietly stale.
REQUIRED = {
    "reference/knobs.md": ["knob-reference"],
    "reference/cli.md": ["cli-reference"],
    "records.md": ["live-knob-names"],
    "architecture.md": ["layer-imports", "import-contract", "module-list"],
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace each marker a page holds with what it stands for, written from the code now."""
    renderers = {
        "knob-reference": knob_reference,
        "live-knob-names": live_knob_names,
        "cli-reference": cli_reference,
        "layer-imports": layer_imports,
        "import-contract": import_contract,
        "module-list": module_list,
    }
    for marker in REQUIRED.get(page.file.src_uri, []):
        if f"<!-- {marker} -->" not in markdown:
            raise PluginError(f"{page.file.src_uri} lost its <!-- {marker} --> marker")
    for marker, render in renderers.items():
        if f"<!-- {marker} -->" in markdown:
            markdown = markdown.replace(f"<!-- {marker} -->", render())
    return markdown


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table of text (escaped here, so help text with |, * or <unk> is shown as written)."""
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>\n" for row in rows)
    table = f"<table>\n<thead><tr>{cells}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"
    return f'<div class="reference">\n{table}\n</div>\n'


def _code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def _field_text(name: str, value) -> str:
    """A further Knob field in words ('' when unset): a set flag by its name, a widget by its label and kind."""
    if value is None or value is False or value == "" or value == ():
        return ""
    label = name.replace("_", " ")
    if value is True:
        return label
    if dataclasses.is_dataclass(value) and hasattr(value, "label"):
        kind = getattr(value, "kind", "")
        return f"{label}: {value.label} ({kind})" if kind else f"{label}: {value.label}"
    return f"{label}: {format_value(value)}"


def knob_values(knob) -> str:
    """What a knob may hold, in words: its choices (with old names still accepted), its range, or on/off."""
    if knob.choices:
        text = " | ".join(knob.choices)
        if knob.aliases:
            text += "; also accepted: " + ", ".join(f"{old} (= {new})" for old, new in knob.aliases.items())
        return html.escape(text)
    if knob.kind is bool:
        return "on | off"
    if knob.lo is None and knob.hi is None:
        return "text"
    return html.escape(f"{knob.kind.__name__} in {knob.range_text()}")


def knob_reference() -> str:
    """Two tables, live knobs then setup knobs, every Knob in KNOBS with its default from Config()."""
    defaults = Config()
    extra = [f.name for f in dataclasses.fields(next(iter(KNOBS.values()))) if f.name not in SHOWN_FIELDS]
    parts = []
    for live, title in ((True, "Live knobs: the running model takes them at its next step"), (False, "Setup knobs")):
        rows = []
        for name, knob in KNOBS.items():
            if knob.live != live:
                continue
            flag, link = "--" + name.replace("_", "-"), f"?{QUERY_NAMES.get(name, name)}="
            also = " · ".join(filter(None, (_field_text(field, getattr(knob, field)) for field in extra)))
            does = html.escape(knob.help) + (f"<br><small>{html.escape(also)}</small>" if also else "")
            knob_cell = f"<strong>{html.escape(name)}</strong><br>{_code(flag)}<br>{_code(link)}"
            rows.append([knob_cell, _code(format_value(getattr(defaults, name))), knob_values(knob), does])
        table = _table(["knob · flag · link", "default", "values", "what it does"], rows)
        parts.append(f"## {title}\n\n{len(rows)} knobs.\n\n{table}")
    return "\n".join(parts)


def live_knob_names() -> str:
    """The live knobs' names as code, comma-separated: every step record carries each one's value in force."""
    return ", ".join(f"`{name}`" for name, knob in KNOBS.items() if knob.live)


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command. argparse offers no public walk over them."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def _takes(action: argparse.Action) -> str:
    """What an option takes: its choices, its metavar, or nothing for a switch; how many, for a positional."""
    if not action.option_strings:
        return {"?": "optional", "+": "one or more", "*": "any number"}.get(action.nargs, "")
    if action.nargs == 0:
        return ""
    if action.choices and not isinstance(action, argparse.BooleanOptionalAction):
        return " | ".join(map(str, action.choices))
    metavar = action.metavar if isinstance(action.metavar, tuple) else (action.metavar or action.dest.upper(),)
    return " ".join(metavar)


def _option_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        joiner = " / " if isinstance(action, argparse.BooleanOptionalAction) else ", "
        names = joiner.join(action.option_strings) or action.metavar or action.dest
        help_text = action.help or ""
        if "%" in help_text:  # argparse's own expansion of %(default)s and friends
            help_text %= {**vars(action), "prog": parser.prog}
        unset = action.default is None or action.default is False or action.default in ([], "", argparse.SUPPRESS)
        default = "" if unset or "default" in help_text else f" (default {action.default})"
        rows.append([_code(names), html.escape(_takes(action)), html.escape((help_text + default).strip())])
    return rows


def cli_reference() -> str:
    """`explorer` and every command and sub-command under it: what it is for, its usage and its options (each also
    takes -h / --help, left out of the tables)."""
    root = build_parser()
    parts = ["Every command below also takes `-h` / `--help`.\n"]
    stack = [(root.prog, "", root)]
    while stack:
        path, text, parser = stack.pop(0)
        section = [f"## `{path}`\n", html.escape(text) + "\n" if text else ""]
        if parser.description:
            section.append(html.escape(parser.description) + "\n")
        section.append(f"```\n{parser.format_usage().strip()}\n```\n")
        rows = _option_rows(parser)
        if rows:
            section.append(_table(["option", "takes", "what it does"], rows))
        parts.append("\n".join(section))
        stack[0:0] = [(f"{path} {name}", sub_text, sub) for name, sub_text, sub in _subcommands(parser)]
    return "\n".join(parts)


def _folder(module: Path) -> str:
    """The floor a module lives on: explorer/<layer>/, and the faces by their own folder."""
    parts = module.relative_to(PACKAGE).parts
    if len(parts) == 1:
        return f"explorer/{parts[0]}"
    if parts[0] == "faces" and len(parts) > 2:
        return f"faces/{parts[1]}"
    return parts[0]


def _target(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "explorer" or len(parts) < 2:
        return None
    return f"faces/{parts[2]}" if parts[1] == "faces" and len(parts) > 2 else parts[1]


def folder_imports() -> dict[str, dict[str, int]]:
    """folder -> {folder it imports: how many of its modules do}, read from every import in the package."""
    imports: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for module in sorted(PACKAGE.rglob("*.py")):
        source = _folder(module)
        if module.name != "__init__.py":  # a package's marker alone makes no floor (explorer/, faces/)
            imports[source]  # a folder that imports nothing of explorer is still one
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for target in filter(None, map(_target, names)):
                if target != source and (PACKAGE / target.split("/")[0]).exists():
                    imports[source][target].add(module)
    return {source: {t: len(m) for t, m in targets.items()} for source, targets in imports.items()}


def floors(imports: dict[str, dict[str, int]]) -> dict[str, int]:
    """Each folder one floor above the highest folder it imports (spec, importing nothing, is floor 0). An import
    cycle between folders has no such order and fails the build."""
    found: dict[str, int] = {}
    visiting: set[str] = set()

    def floor(folder: str) -> int:
        if folder not in found:
            if folder in visiting:
                raise PluginError(f"the folders import each other in a circle through {folder}")
            visiting.add(folder)
            found[folder] = 1 + max((floor(t) for t in imports.get(folder, {})), default=-1)
        return found[folder]

    for folder in imports:
        floor(folder)
    return found


def layer_imports() -> str:
    """The floors, top to bottom, each folder with the folders it imports: every arrow points down."""
    imports = folder_imports()
    level = floors(imports)
    rows = []
    for folder in sorted(imports, key=lambda f: (-level[f], f)):
        below = sorted(imports[folder].items(), key=lambda item: (-level[item[0]], item[0]))
        arrows = ", ".join(f"↓ {_code(t)} ({n})" for t, n in below) or "nothing of explorer"
        rows.append([str(level[folder]), _code(folder), arrows])
    return _table(["floor", "folder", "imports (how many of its modules)"], rows)


def module_list() -> str:
    """Each folder's modules, bottom floor first, with the first paragraph of their docstring."""
    level = floors(folder_imports())
    by_folder: dict[str, list[str]] = defaultdict(list)
    for module in sorted(PACKAGE.rglob("*.py")):
        doc = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""
        if module.name == "__init__.py" and not doc:
            continue
        summary = " ".join(doc.split("\n\n")[0].split()).replace("|", "\\|") or "(no docstring)"
        by_folder[_folder(module)].append(f"| `{module.relative_to(PACKAGE.parent)}` | {summary} |")
    parts = []
    for folder in sorted(by_folder, key=lambda f: (level.get(f, 0), f)):
        rows = "\n".join(by_folder[folder])
        parts.append(f"### `{folder}`\n\n| module | what it is for |\n|---|---|\n{rows}\n")
    return "\n".join(parts)


def import_contract() -> str:
    """The import-linter contracts of pyproject.toml, each in one line: the rules `make test` enforces."""
    settings = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = settings["tool"]["importlinter"]["contracts"]

    def names(modules: list[str]) -> str:
        return ", ".join(f"`{m}`" for m in modules)

    lines = []
    for contract in contracts:
        kind = contract["type"]
        if kind == "layers":
            rule = "from the top: " + " → ".join(f"`{m}`" for m in contract["layers"]) + "; none imports one above it"
        elif kind == "forbidden":
            sources = contract["source_modules"]
            verb = "never imports" if len(sources) == 1 else "never import"
            rule = f"{names(sources)} {verb} {names(contract['forbidden_modules'])}"
        elif kind == "independence":
            rule = f"{names(contract['modules'])} never import each other"
        else:
            rule = f"an import-linter `{kind}` contract"
        lines.append(f"- **{contract['name']}**: {rule}.")
    return "\n".join(lines) + "\n"
