"""Where the files that ship beside the code are: the lessons (with the dashboard notebook) and the app's Streamlit
settings. A checkout keeps them at its top level, where they are edited (notebooks/, .streamlit/); pyproject.toml
maps those folders into the package (package-dir), so the wheel has them at explorer/lessons and
explorer/faces/streamlit/settings and git holds one copy of each."""

from __future__ import annotations

from pathlib import Path

import explorer

PACKAGE = Path(explorer.__file__).resolve().parent
STREAMLIT_ENTRY = PACKAGE / "faces" / "streamlit" / "entry.py"  # `streamlit run` takes a file, not a module


def _shipped(in_package: str, in_checkout: str) -> Path:
    folder = PACKAGE / in_package
    return folder if folder.is_dir() else PACKAGE.parent / in_checkout


def lessons_folder() -> Path:
    """The lesson notebooks (.ipynb) and dashboard.ipynb."""
    return _shipped("lessons", "notebooks")


def streamlit_settings() -> Path:
    """The app's Streamlit config.toml (`streamlit run streamlit_app.py` in a checkout also reads it itself)."""
    return _shipped("faces/streamlit/settings", ".streamlit") / "config.toml"
