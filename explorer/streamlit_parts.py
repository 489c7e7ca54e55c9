"""Streamlit drawing helpers shared by the app's pages (the student's page in streamlit_app.py and the
teacher's page): how a chart is handed to Streamlit, and how text a student typed is shown as itself."""

from __future__ import annotations

import re

MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")  # & too: "&#8238;" would be an entity


def markdown_text(text: str) -> str:
    """Text a student typed, shown as itself in Streamlit markdown (no links, emphasis or HTML from it)."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def vega(chart) -> dict:
    """An Altair chart as the page draws it. The charts are valid by construction (tests/test_charts.py):
    Altair's slow schema check is skipped."""
    spec = chart.to_dict(validate=False)
    if (
        not {"hconcat", "vconcat"} & spec.keys()
    ):  # a single view: stretch to the page's width only: Streamlit's default "fit" would squeeze
        spec["autosize"] = {"type": "fit-x", "contains": "padding"}  # title, legend and plot into one height
    return spec
