"""`explorer lessons [DIR]`: the lesson notebooks and the dashboard written where a teacher opens them with Jupyter
or Voilà. Run again (after an upgrade), it updates the notebooks it wrote and nobody edited since, and keeps every
one a teacher changed: a manifest in DIR holds the hash of what it wrote. `--force` replaces edited ones too."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

from explorer.faces.cli.shipped import lessons_folder
from explorer.spec.errors import ExplorerError

MANIFEST = ".explorer-lessons.json"  # {"written": {file name: sha256 of the bytes explorer wrote}}


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _write(path: Path, content: bytes) -> None:
    """Whole or not at all: a notebook cut short by a full disk or a Ctrl-C would be a lesson lost."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _written_before(folder: Path) -> dict[str, str]:
    try:
        return dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["written"])
    except (OSError, ValueError, KeyError, TypeError):  # none yet, or damaged: every notebook there counts as edited
        return {}


def install_lessons(folder: Path, force: bool = False) -> tuple[dict[str, int], list[str]]:
    """Write the shipped notebooks into `folder`: (how many were new, updated, already current; the edited ones
    kept). A notebook counts as edited when its bytes are neither the shipped ones nor what explorer last wrote."""
    shipped = sorted(lessons_folder().glob("*.ipynb"))
    if not shipped:
        raise ExplorerError(f"no lessons in {lessons_folder()}: reinstall explorer")
    if folder.exists() and not folder.is_dir():
        raise ExplorerError(f"{folder} is a file: give a folder for the lessons")
    folder.mkdir(parents=True, exist_ok=True)
    written = _written_before(folder)
    counts, kept = {"new": 0, "updated": 0, "current": 0}, []
    for source in shipped:
        content, target = source.read_bytes(), folder / source.name
        if target.exists():
            there = _digest(target.read_bytes())
            if there == _digest(content):
                counts["current"] += 1
                written[source.name] = there
                continue
            if there != written.get(source.name) and not force:
                kept.append(source.name)
                continue
            counts["updated"] += 1
        else:
            counts["new"] += 1
        _write(target, content)
        written[source.name] = _digest(content)
    _write(folder / MANIFEST, json.dumps({"written": written}, indent=1, sort_keys=True).encode())
    return counts, kept


def command_lessons(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    try:
        counts, kept = install_lessons(folder, args.force)
    except OSError as err:  # a folder we may not write to, a full disk
        raise ExplorerError(f"cannot write the lessons to {folder}: {err.strerror or err}") from None
    done = [f"{counts[key]} {word}" for key, word in (("new", "new"), ("updated", "updated")) if counts[key]]
    done += [f"{counts['current']} already up to date"] if counts["current"] else []
    print(f"lessons in {folder}: {', '.join(done) or 'none written'}")
    print(f"  open them in Jupyter (jupyter lab {folder}) or as pages (voila {folder})")
    if kept:
        raise ExplorerError(
            f"kept {', '.join(kept)}: edited since explorer wrote {'it' if len(kept) == 1 else 'them'} "
            f"(`explorer lessons {folder} --force` replaces edited notebooks with the shipped ones)"
        )
    return 0
